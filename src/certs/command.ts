// `podhooks certs`: files for development, or (--secret) the same upkeep the server does in
// certificates.mode secret, run once from a workstation or CI job against a cluster.
import { hostname } from 'node:os';
import { generateBundle, servingNames, writeBundle } from './issue';
import type { Config } from '../config';
import { ClusterError } from '../kube/cluster';

export interface CertsOptions {
  outDir?: string;
  days?: number;
  secret?: string;
  patchWebhooks?: boolean;
  force?: boolean;
  kubeconfig?: string;
}

export class CertsUsageError extends Error {}

function parseSecretRef(ref: string): { namespace: string; name: string } {
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(ref);
  if (!m) throw new CertsUsageError(`--secret ${JSON.stringify(ref)}: expected NAMESPACE/NAME, e.g. podhooks/podhooks-tls`);
  return { namespace: m[1], name: m[3] };
}

/** Runs the command; returns what to print. */
export async function certsCommand(opts: CertsOptions, config: Config): Promise<string> {
  if (opts.days !== undefined && !(Number.isInteger(opts.days) && opts.days > 0)) throw new CertsUsageError(`--days ${opts.days}: expected a whole number of days above 0`);
  if (!opts.secret) {
    if (opts.patchWebhooks || opts.force) throw new CertsUsageError('--patch-webhooks and --force need --secret NAMESPACE/NAME: the caBundle is patched from the CA stored there');
    const dir = opts.outDir ?? config.server.certDir;
    const { dnsNames, ips } = servingNames(config);
    writeBundle(dir, generateBundle(dnsNames, ips, opts.days ?? 365));
    return `wrote ca.crt, ca.key, tls.crt, tls.key to ${dir} for ${dnsNames.join(', ')}\n`;
  }

  const ref = parseSecretRef(opts.secret);
  const c = config.certificates;
  if (opts.days !== undefined) {
    const seconds = opts.days * 86400;
    if (seconds <= c.renewBefore) throw new CertsUsageError(`--days ${opts.days} must be longer than certificates.renewBefore (${c.renewBefore / 86400} days), or the certificate is due for renewal at once`);
    if (seconds > c.caValidity) throw new CertsUsageError(`--days ${opts.days} exceeds certificates.caValidity (${c.caValidity / 86400} days)`);
    c.validity = seconds;
  }
  if (opts.kubeconfig) config.kubernetes.kubeconfig = opts.kubeconfig;
  config.kubernetes.enabled = 'true';
  // Cluster code (and client-node) only for this path.
  const { connectCluster } = await import('../kube/cluster');
  const { CertStore } = await import('../kube/certstore');
  const { reconcileCertificates, certPolicy } = await import('../kube/cert-reconcile');
  const { leaseLock } = await import('../kube/lease');
  const { CoordinationV1Api } = await import('@kubernetes/client-node');
  const cluster = (await connectCluster(config))!;
  const store = new CertStore(cluster.kubeConfig, ref.namespace, ref.name, { mutating: c.mutatingWebhookConfiguration, validating: c.validatingWebhookConfiguration }, c.caSecretName);
  // The same Lease as the servers in certificates.mode secret: never two issuers at once.
  const lock = leaseLock(cluster.kubeConfig.makeApiClient(CoordinationV1Api), ref.namespace, c.leaseName, `podhooks-certs-cli_${hostname()}`, c.leaseDuration);
  const lines: string[] = [];
  const deadline = Date.now() + c.leaseDuration * 1000;
  for (;;) {
    let acquired: boolean;
    try {
      acquired = await lock.tryAcquire();
    } catch (err) {
      const code = (err as { code?: number }).code;
      throw new ClusterError(code === 404 ? `namespace ${ref.namespace} does not exist (apply deploy/ first)` : `taking Lease ${ref.namespace}/${c.leaseName}: ${(err as Error).message.split('\n')[0]}`);
    }
    if (acquired) break;
    if (Date.now() > deadline) throw new ClusterError(`Lease ${ref.namespace}/${c.leaseName} is held by ${await lock.holder()}; a podhooks replica is renewing certificates, run again shortly`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  try {
    const r = await reconcileCertificates(store, certPolicy(config, ref.namespace), {
      force: opts.force,
      patchWebhooks: !!opts.patchWebhooks,
      caPropagationMs: c.caPropagation * 1000,
      note: (msg, fields) => process.stderr.write(`${msg}${fields?.waitMs ? ` (${fields.waitMs} ms)` : ''}\n`),
    });
    lines.push(`Secret ${store.secretRef} ${r.secret}${r.reason ? ` (${r.reason})` : ''}${r.newCA ? ', new CA' : ''}${r.secret === 'unchanged' ? '' : `; the CA key is in Secret ${store.caSecretRef}`}`);
    if (opts.patchWebhooks) lines.push(r.patched.length ? `caBundle set on ${r.patched.join(', ')}` : 'caBundle already current on every webhook');
    if (opts.outDir) {
      writeBundle(opts.outDir, r.bundle);
      lines.push(`wrote ca.crt, ca.key, tls.crt, tls.key to ${opts.outDir}`);
    }
  } finally {
    await lock.release().catch(() => {});
  }
  return lines.join('\n') + '\n';
}
