// Self-managed certificates on a real control plane: `podhooks certs --secret
// --patch-webhooks` creates the Secret and caBundles the apiserver then trusts; two
// replicas in certificates.mode secret share one certificate through a Lease and rotate
// it (new CA each time) while requests flow through the apiserver and directly over
// HTTPS, with no failed request.
import { spawn } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, CoordinationV1Api, CoreV1Api, NodeV1Api, type V1Pod } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { splitPem } from '../../src/certs';
import { CLI, ROOT, review, startPodhooks, type Podhooks } from '../helpers/podhooks';
import { freePort } from '../helpers/ports';
import { startControlPlane, type ControlPlane } from './harness/controlplane';
import { apiMessage, eventually, webhookManifests } from './harness/webhooks';

jest.setTimeout(300_000);

let cp: ControlPlane;
let core: CoreV1Api;
let admission: AdmissionregistrationV1Api;
const started: Podhooks[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'podhooks-certs-e2e-'));

/** deploy/base/webhooks.yaml without caBundle, pointed at local ports, failing closed (so a failed call shows). */
async function registerWebhooks(mutatePort: number, validatePort: number): Promise<void> {
  await admission.deleteMutatingWebhookConfiguration({ name: 'podhooks' }).catch(() => undefined);
  await admission.deleteValidatingWebhookConfiguration({ name: 'podhooks' }).catch(() => undefined);
  const docs = parseAllDocuments(readDeploy('webhooks.yaml')).map((d) => d.toJS());
  for (const doc of docs) {
    for (const hook of doc.webhooks) {
      const port = hook.clientConfig.service.path === '/mutate' ? mutatePort : validatePort;
      hook.clientConfig = { url: `https://127.0.0.1:${port}${hook.clientConfig.service.path}` };
      hook.failurePolicy = 'Fail';
    }
    if (doc.kind === 'MutatingWebhookConfiguration') await admission.createMutatingWebhookConfiguration({ body: doc });
    else await admission.createValidatingWebhookConfiguration({ body: doc });
  }
}

function readDeploy(file: string): string {
  return readFileSync(join(ROOT, 'deploy/base', file), 'utf8');
}

/** Runs `podhooks certs` without blocking the event loop (requests keep flowing meanwhile). */
function certsCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [CLI, 'certs', '--kubeconfig', cp.kubeconfigPath, ...args], { env: { ...process.env, KUBECONFIG: '' } });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c) => (stdout += c));
  proc.stderr.on('data', (c) => (stderr += c));
  return new Promise((resolve) => proc.once('close', (code) => resolve({ code, stdout, stderr })));
}

async function secretData(name: string): Promise<Record<string, string> & { resourceVersion: string; type: string }> {
  const s = await core.readNamespacedSecret({ name, namespace: 'podhooks' });
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
  return { ...out, resourceVersion: s.metadata!.resourceVersion!, type: s.type! };
}

/** caBundle (PEM) of every webhook, keyed config/webhook. */
/** The same CA bundle on every webhook deploy/ declares. */
const everyWebhook = (ca: string) => webhookManifests(0, '').flatMap((d) => d.webhooks).map(() => ca);

async function caBundles(): Promise<Record<string, string>> {
  const m = await admission.readMutatingWebhookConfiguration({ name: 'podhooks' });
  const v = await admission.readValidatingWebhookConfiguration({ name: 'podhooks' });
  const out: Record<string, string> = {};
  for (const h of m.webhooks ?? []) out[`mutating/${h.name}`] = Buffer.from(h.clientConfig.caBundle ?? '', 'base64').toString('utf8');
  for (const h of v.webhooks ?? []) out[`validating/${h.name}`] = Buffer.from(h.clientConfig.caBundle ?? '', 'base64').toString('utf8');
  return out;
}

/** What kubelet does for a Secret volume: the files change atomically, some time later. */
function writeVolume(dir: string, data: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const f of ['ca.crt', 'tls.key', 'tls.crt']) {
    writeFileSync(join(dir, `${f}.tmp`), data[f]);
    renameSync(join(dir, `${f}.tmp`), join(dir, f));
  }
}

const hookPod = (name: string): V1Pod => ({
  metadata: { name, annotations: { 'podhooks.io/pre-start': 'echo warming up' } },
  spec: { containers: [{ name: 'app', image: 'registry.example.com/web:1', command: ['/server'] }] },
});
const sandboxPod = (name: string): V1Pod => ({ metadata: { name }, spec: { runtimeClassName: 'kata-qemu', hostNetwork: true, containers: [{ name: 'app', image: 'busybox' }] } });
const injected = (pod: V1Pod) => pod.metadata?.annotations?.['podhooks.io/status'] !== undefined;

/** One round through the apiserver: a pod is mutated (/mutate) and a sandbox pod denied (/validate). */
async function throughApiserver(i: number): Promise<string | undefined> {
  try {
    const pod = await core.createNamespacedPod({ namespace: 'hooks', body: hookPod(`p${i}`), dryRun: 'All' });
    if (!injected(pod)) return `pod p${i} was not injected`;
  } catch (err) {
    return `mutating call: ${apiMessage(err)}`;
  }
  try {
    await core.createNamespacedPod({ namespace: 'hooks', body: sandboxPod(`s${i}`), dryRun: 'All' });
    return `sandbox pod s${i} was admitted`;
  } catch (err) {
    const msg = apiMessage(err);
    return msg.startsWith('admission webhook "validate.podhooks.io" denied the request: podhooks sandbox-host-namespaces') ? undefined : `validating call: ${msg}`;
  }
}

/** One direct request on a fresh TLS connection, trusting exactly what the apiserver trusts. */
function direct(port: number, path: string, ca: string): Promise<string | undefined> {
  const body = JSON.stringify(review(hookPod('direct'), { namespace: 'hooks' }));
  return new Promise((resolve) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, method: 'POST', ca, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve(res.statusCode === 200 && JSON.parse(text).response?.allowed === true ? undefined : `${path}: HTTP ${res.statusCode} ${text.slice(0, 200)}`));
    });
    req.on('error', (err) => resolve(`${path} on :${port}: ${err.message}`));
    req.end(body);
  });
}

/** The serving certificate a port presents right now. */
function servedCert(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false, agent: false }, (res) => {
      const raw = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().raw;
      res.resume();
      resolve(new X509Certificate(raw).fingerprint256);
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  cp = await startControlPlane({ controllerManager: false });
  const kc = cp.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  admission = kc.makeApiClient(AdmissionregistrationV1Api);
  for (const [name, labels] of [['podhooks', {}], ['hooks', { 'podhooks.io/injection': 'enabled' }]] as const) {
    await core.createNamespace({ body: { metadata: { name, labels } } });
    // No controller-manager here: the ServiceAccount admission plugin needs the default account.
    await core.createNamespacedServiceAccount({ namespace: name, body: { metadata: { name: 'default' } } });
  }
  await kc.makeApiClient(NodeV1Api).createRuntimeClass({ body: { metadata: { name: 'kata-qemu' }, handler: 'kata-qemu' } });
});

afterAll(async () => {
  for (const ph of started) await ph.stop();
  await cp?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test('podhooks certs stores the Secret and caBundles; the apiserver calls podhooks with them; --force rotates without a failed call', async () => {
  const port = await freePort();
  await registerWebhooks(port, port);
  const first = await certsCli(['--secret', 'podhooks/podhooks-tls', '--patch-webhooks']);
  expect(first.stderr).toContain('issuing certificates');
  expect(first.code).toBe(0);
  expect(first.stdout).toBe(
    'Secret podhooks/podhooks-tls created (no certificate stored), new CA; the CA key is in Secret podhooks/podhooks-ca\n' +
      'caBundle set on mutatingwebhookconfiguration/podhooks:namespace.podhooks.io, mutatingwebhookconfiguration/podhooks:object.podhooks.io, mutatingwebhookconfiguration/podhooks:placement.podhooks.io, validatingwebhookconfiguration/podhooks:validate.podhooks.io, validatingwebhookconfiguration/podhooks:debug.podhooks.io\n',
  );
  const secret = await secretData('podhooks-tls');
  expect(secret.type).toBe('kubernetes.io/tls');
  // The CA key is not in the Secret the webhook pods mount: it has its own.
  expect(Object.keys(secret).sort()).toEqual(['ca.crt', 'resourceVersion', 'tls.crt', 'tls.key', 'type']);
  const caSecret = await secretData('podhooks-ca');
  expect(Object.keys(caSecret).sort()).toEqual(['resourceVersion', 'tls.crt', 'tls.key', 'type']);
  expect(caSecret['tls.crt']).toBe(splitPem(secret['ca.crt'])[0]);
  expect(new X509Certificate(caSecret['tls.crt']).checkPrivateKey(createPrivateKey(caSecret['tls.key']))).toBe(true);
  expect(new X509Certificate(secret['tls.crt']).subjectAltName).toContain('DNS:podhooks.podhooks.svc');
  expect(Object.values(await caBundles())).toEqual(everyWebhook(secret['ca.crt']));

  // Idempotent: a valid Secret is kept, nothing is written.
  const again = await certsCli(['--secret', 'podhooks/podhooks-tls', '--patch-webhooks']);
  expect(again.stdout).toBe('Secret podhooks/podhooks-tls unchanged\ncaBundle already current on every webhook\n');
  expect((await secretData('podhooks-tls')).resourceVersion).toBe(secret.resourceVersion);

  // podhooks serving the Secret's files, as the base Deployment mounts them.
  const certDir = join(tmp, 'volume');
  writeVolume(certDir, secret);
  const ph = await startPodhooks({ server: { port, certDir, certReloadIntervalMs: 200 } });
  started.push(ph);
  expect(await eventually('the apiserver to call podhooks', async () => ((await throughApiserver(0)) === undefined ? true : undefined))).toBe(true);
  expect(await throughApiserver(1)).toBeUndefined();

  // Rotation with a new CA while requests flow: caBundle widens first, the files follow.
  const failures: string[] = [];
  let calls = 0;
  let flowing = true;
  const flow = (async () => {
    for (let i = 2; flowing; i++) {
      const bundle = (await caBundles())['mutating/namespace.podhooks.io'];
      for (const f of await Promise.all([throughApiserver(i), direct(port, '/mutate', bundle), direct(port, '/validate', bundle)])) if (f) failures.push(f);
      calls += 3;
    }
  })();
  const forced = await certsCli(['--secret', 'podhooks/podhooks-tls', '--patch-webhooks', '--force']);
  expect(forced.code).toBe(0);
  expect(forced.stdout).toMatch(/^Secret podhooks\/podhooks-tls updated \(forced rotation\), new CA; the CA key is in Secret podhooks\/podhooks-ca\n/);
  const rotated = await secretData('podhooks-tls');
  expect(splitPem(rotated['ca.crt'])).toEqual([expect.any(String), splitPem(secret['ca.crt'])[0]]);
  expect(Object.values(await caBundles())).toEqual(everyWebhook(rotated['ca.crt']));
  const callsBeforeSwitch = calls;
  writeVolume(certDir, rotated); // kubelet catches up
  const newCert = new X509Certificate(rotated['tls.crt']).fingerprint256;
  await eventually('podhooks to serve the rotated certificate', async () => ((await servedCert(port)) === newCert ? true : undefined));
  const switchedAt = calls;
  await eventually('requests on the new certificate', async () => (calls > switchedAt + 30 ? true : undefined));
  flowing = false;
  await flow;
  console.log(`certs e2e (CLI rotation): ${calls} requests, ${callsBeforeSwitch} before the files changed, ${failures.length} failed`);
  expect(failures).toEqual([]);
  expect(callsBeforeSwitch).toBeGreaterThan(0);
  await ph.stop();
  started.splice(started.indexOf(ph), 1);
});

test('a Secret written before the CA key had its own Secret: the key is moved out, nothing re-issued', async () => {
  const current = await secretData('podhooks-tls');
  const caKey = (await secretData('podhooks-ca'))['tls.key'];
  const legacy = { 'tls.crt': current['tls.crt'], 'tls.key': current['tls.key'], 'ca.crt': current['ca.crt'], 'ca.key': caKey };
  await core.createNamespacedSecret({
    namespace: 'podhooks',
    body: { metadata: { name: 'podhooks-old' }, type: 'kubernetes.io/tls', data: Object.fromEntries(Object.entries(legacy).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) },
  });
  const config = join(tmp, 'old.yaml');
  writeFileSync(config, 'certificates: {caSecretName: podhooks-old-ca}\n');
  const moved = await certsCli(['--config', config, '--secret', 'podhooks/podhooks-old']);
  expect(moved).toEqual({ code: 0, stderr: '', stdout: 'Secret podhooks/podhooks-old updated (moved the CA key to Secret podhooks/podhooks-old-ca); the CA key is in Secret podhooks/podhooks-old-ca\n' });
  const serving = await secretData('podhooks-old');
  expect(Object.keys(serving).sort()).toEqual(['ca.crt', 'resourceVersion', 'tls.crt', 'tls.key', 'type']);
  expect(serving['tls.crt']).toBe(current['tls.crt']);
  expect((await secretData('podhooks-old-ca'))['tls.key']).toBe(caKey);
  expect((await certsCli(['--config', config, '--secret', 'podhooks/podhooks-old'])).stdout).toBe('Secret podhooks/podhooks-old unchanged\n');
});

test('two replicas in certificates.mode secret: one issues behind the Lease, both serve it, rotation under load fails no request', async () => {
  const [portA, portB] = [await freePort(), await freePort()];
  await registerWebhooks(portA, portB);
  const certificates = {
    mode: 'secret',
    secretName: 'podhooks-managed',
    caSecretName: 'podhooks-managed-ca',
    leaseName: 'podhooks-managed',
    caValidity: '45s',
    validity: '45s',
    renewBefore: '30s',
    checkInterval: '1s',
    caPropagation: '3s',
    leaseDuration: '15s',
  };
  const replica = (port: number, name: string) =>
    startPodhooks({ server: { port, certDir: join(tmp, name) }, certificates, kubernetes: { enabled: 'true', kubeconfig: cp.kubeconfigPath } }, { POD_NAME: name });
  const [a, b] = await Promise.all([replica(portA, 'replica-a'), replica(portB, 'replica-b')]);
  started.push(a, b);

  // Exactly one replica issued; both serve the stored certificate.
  const issuers = [a, b].filter((r) => r.logs().some((l) => l.msg === 'issuing certificates'));
  expect(issuers).toHaveLength(1);
  const lease = await cp.kubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'podhooks-managed', namespace: 'podhooks' });
  expect(lease.spec!.holderIdentity).toBeUndefined(); // released after issuing
  const stored = await secretData('podhooks-managed');
  const storedCert = new X509Certificate(stored['tls.crt']).fingerprint256;
  expect([await servedCert(portA), await servedCert(portB)]).toEqual([storedCert, storedCert]);
  expect(Object.values(await caBundles())).toEqual(everyWebhook(stored['ca.crt']));

  // Requests flow while the certificate is re-issued (new CA each time, validity 45 s).
  const failures: string[] = [];
  let calls = 0;
  let flowing = true;
  const cas = new Set<string>([splitPem(stored['ca.crt'])[0]]);
  const served = new Set<string>([storedCert]);
  const flow = async (worker: number) => {
    for (let i = 0; flowing; i++) {
      const bundle = (await caBundles())['mutating/namespace.podhooks.io'];
      const results = await Promise.all([throughApiserver(worker * 1_000_000 + i), direct(portA, '/mutate', bundle), direct(portB, '/validate', bundle)]);
      for (const f of results) if (f) failures.push(f);
      calls += 4; // the apiserver round is two webhook calls
    }
  };
  const workers = [flow(1), flow(2)];
  await eventually(
    'two rotations served by both replicas',
    async () => {
      const s = await secretData('podhooks-managed');
      cas.add(splitPem(s['ca.crt'])[0]);
      const current = new X509Certificate(s['tls.crt']).fingerprint256;
      const [fa, fb] = [await servedCert(portA), await servedCert(portB)];
      served.add(fa).add(fb);
      return cas.size >= 3 && fa === current && fb === current ? true : undefined;
    },
    120_000,
  );
  flowing = false;
  await Promise.all(workers);
  const reloadsOf = () => [a, b].map((r) => r.logs().filter((l) => l.msg === 'serving certificate reloaded').length);
  // Both serve the current certificate; their log lines reach stdout within 100 ms (batched writes, src/log.ts).
  const reloads = (await eventually('both replicas to log their reloads', async () => (reloadsOf().every((n) => n >= 2) ? reloadsOf() : undefined), 5_000).catch(() => undefined)) ?? reloadsOf();
  console.log(`certs e2e (replica rotation): ${calls} webhook calls, ${cas.size - 1} rotations, ${served.size} certificates served, reloads per replica ${reloads.join('/')}, ${failures.length} failed`);
  expect(failures).toEqual([]);
  expect(reloads.every((n) => n >= 2)).toBe(true);
});
