// certificates.mode: secret. The serving certificate lives in a Secret, not in files:
// at start-up one replica (the Lease holder) issues it and patches caBundles while the
// others wait for it; afterwards every replica re-checks on an interval, the Lease holder
// re-issues before expiry (CA overlap, see kube/cert-reconcile.ts) and every replica
// switches to the stored certificate with setSecureContext, without a restart.
import { randomBytes } from 'node:crypto';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { checkPair, renewalReason, splitPem, type CertBundle } from '../certs';
import type { Config } from '../config';
import { reconcileCertificates, certPolicy } from '../kube/cert-reconcile';
import { CertStore } from '../kube/certstore';
import { ClusterError, replicaName, type Cluster } from '../kube/cluster';
import { leaseLock } from '../kube/lease';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';

export interface ServingPair {
  cert: string;
  key: string;
}

export interface ManagedCertificates {
  initial: ServingPair;
  /** Starts the renewal/reload loop; `use` installs each new pair. Returns a stop function. */
  start(use: (pair: ServingPair) => void): () => void;
}

/** A pair that can be served right now (matching, unexpired), even if due for renewal. */
function servable(bundle: CertBundle | undefined): ServingPair | undefined {
  if (!bundle) return undefined;
  try {
    const x509 = checkPair(bundle.cert, bundle.key);
    return Date.parse(x509.validTo) > Date.now() ? { cert: bundle.cert, key: bundle.key } : undefined;
  } catch {
    return undefined;
  }
}

const sameBundle = (a: string, b: string) => splitPem(a).join('') === splitPem(b).join('');

export async function bootstrapCertificates(cluster: Cluster | undefined, config: Config, logger: Logger, metrics: Metrics): Promise<ManagedCertificates> {
  if (!cluster) throw new ClusterError('certificates.mode is secret but no cluster is configured: set kubernetes.kubeconfig, KUBECONFIG or run in a pod with a service account (or use certificates.mode: files)');
  const c = config.certificates;
  const store = new CertStore(cluster.kubeConfig, config.namespace, c.secretName, { mutating: c.mutatingWebhookConfiguration, validating: c.validatingWebhookConfiguration }, c.caSecretName);
  const identity = `${replicaName()}_${randomBytes(4).toString('hex')}`;
  const lock = leaseLock(cluster.kubeConfig.makeApiClient(CoordinationV1Api), config.namespace, c.leaseName, identity, c.leaseDuration);
  const policy = certPolicy(config, config.namespace);
  const log = logger.child({ component: 'certificates', secret: store.secretRef });

  /** Upkeep under the Lease; undefined when another replica holds it. */
  const upkeep = async (): Promise<CertBundle | undefined> => {
    if (!(await lock.tryAcquire())) return undefined;
    try {
      const r = await reconcileCertificates(store, policy, { patchWebhooks: true, caPropagationMs: c.caPropagation * 1000, note: (msg, fields) => log.info(fields ?? {}, msg) });
      if (r.secret !== 'unchanged' || r.patched.length) log.info({ result: r.secret, reason: r.reason, newCA: r.newCA, patched: r.patched }, 'certificates reconciled');
      return r.bundle;
    } finally {
      await lock.release().catch((err) => log.warn({ err: (err as Error).message }, 'could not release the certificates Lease; it expires on its own'));
    }
  };

  /** The pair to serve after one check, doing upkeep when this replica can. */
  const check = async (): Promise<ServingPair | undefined> => {
    const stored = await store.readSecret();
    const due = stored?.problem ?? renewalReason(stored?.bundle, policy) ?? (stored?.caKeyInServingSecret ? 'the CA key is in the serving Secret' : undefined);
    const caStale = !due && (await store.caBundles()).some((b) => !sameBundle(b.caBundle, stored!.bundle!.caCert));
    if (due || caStale) {
      const issued = await upkeep();
      if (issued) return servable(issued);
    }
    return servable(stored?.bundle);
  };

  const deadline = Date.now() + c.waitTimeout * 1000;
  let initial: ServingPair | undefined;
  let lastError: string | undefined;
  while (!initial) {
    try {
      initial = await check();
      if (!initial) log.info({ holder: await lock.holder() }, 'waiting for the certificates Secret');
    } catch (err) {
      lastError = (err as Error).message;
      log.warn({ err: lastError }, 'certificate bootstrap failed; retrying');
    }
    if (initial) break;
    if (Date.now() > deadline) {
      throw new ClusterError(`no usable serving certificate in Secret ${store.secretRef} after ${c.waitTimeout}s (certificates.waitTimeout)${lastError ? `; last error: ${lastError}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  /** Records the new pair's expiry; returns it for the log line. */
  const noteLoaded = (pair: ServingPair): string => {
    const { validTo } = checkPair(pair.cert, pair.key);
    metrics.certExpiry.set(Date.parse(validTo) / 1000);
    return validTo;
  };
  log.info({ validTo: noteLoaded(initial) }, 'serving certificate loaded from Secret');

  return {
    initial,
    start(use) {
      let current = initial!.cert;
      let running = false;
      const timer = setInterval(async () => {
        if (running) return; // a rotation waits caPropagation; never overlap checks
        running = true;
        try {
          const pair = await check();
          if (pair && pair.cert !== current) {
            use(pair);
            current = pair.cert;
            metrics.certReloads.inc({ result: 'success' });
            log.info({ validTo: noteLoaded(pair) }, 'serving certificate reloaded');
          }
        } catch (err) {
          metrics.certReloads.inc({ result: 'error' });
          log.warn({ err: (err as Error).message }, 'certificate check failed; keeping the current certificate');
        } finally {
          running = false;
        }
      }, c.checkInterval * 1000);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}
