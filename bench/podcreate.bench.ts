// Pod-create latency on a real kube-apiserver: 500 pods with podhooks' mutating and
// validating webhooks registered (the same manifests as deploy/, pointed at a local
// `podhooks serve`) against 500 with none. The "none" pods are created half before the
// webhooks are registered and half after they are removed, so etcd growth during the
// run weighs on both sides equally. Run by `npm run bench`; writes PODHOOKS_BENCH_OUT.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { ROOT, startPodhooks, type Podhooks } from '../test/helpers/podhooks';
import { startControlPlane, type ControlPlane } from '../test/e2e/harness/controlplane';

jest.setTimeout(900_000);
const PODS = Number(process.env.PODHOOKS_BENCH_PODS ?? 500);
let cp: ControlPlane;
let ph: Podhooks;

afterAll(async () => {
  await ph?.stop();
  await cp?.stop();
});

const pod = (name: string): V1Pod => ({
  metadata: { name, labels: { app: 'web' }, annotations: { 'podhooks.io/pre-start': 'echo warming up', 'podhooks.io/log-stream': 'true' } },
  spec: { containers: [{ name: 'app', image: 'registry.example.com/web:1', command: ['/server'], ports: [{ containerPort: 8080 }] }] },
});

async function createPods(core: CoreV1Api, prefix: string, count: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    await core.createNamespacedPod({ namespace: 'bench', body: pod(`${prefix}-${i}`) });
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return ms;
}

function summary(name: string, ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  return { name, pods: s.length, p50: s[Math.floor(s.length * 0.5)], p99: s[Math.min(s.length - 1, Math.floor(s.length * 0.99))], mean: s.reduce((a, b) => a + b, 0) / s.length };
}

test(`pod-create latency for ${PODS} pods, with podhooks' webhooks and without`, async () => {
  cp = await startControlPlane();
  const kc = cp.kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  ph = await startPodhooks({ kubernetes: { enabled: 'true', kubeconfig: cp.kubeconfigPath }, registry: { enabled: false } });
  await core.createNamespace({ body: { metadata: { name: 'bench', labels: { 'podhooks.io/injection': 'enabled' } } } });
  for (let i = 0; ; i++) {
    try {
      await core.readNamespacedServiceAccount({ name: 'default', namespace: 'bench' });
      break;
    } catch (err) {
      if (i > 600) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await createPods(core, 'warmup', 50);

  const before = await createPods(core, 'none-a', PODS / 2);
  const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy/base/webhooks.yaml'), 'utf8')).map((d) => d.toJS());
  for (const doc of docs) {
    for (const hook of doc.webhooks) hook.clientConfig = { url: `https://127.0.0.1:${ph.port}${hook.clientConfig.service.path}`, caBundle: Buffer.from(ph.ca).toString('base64') };
    if (doc.kind === 'MutatingWebhookConfiguration') await admission.createMutatingWebhookConfiguration({ body: doc });
    else await admission.createValidatingWebhookConfiguration({ body: doc });
  }
  // Registration reaches the admission chain asynchronously: wait until pods come back injected.
  for (let i = 0; ; i++) {
    const probe = await core.createNamespacedPod({ namespace: 'bench', body: pod(`probe-${i}`), dryRun: 'All' });
    if (probe.metadata?.annotations?.['podhooks.io/status']) break;
    if (i > 300) throw new Error('the webhooks never became active');
    await new Promise((r) => setTimeout(r, 100));
  }
  const withHooks = await createPods(core, 'hooks', PODS);
  const stored = await core.readNamespacedPod({ name: 'hooks-0', namespace: 'bench' });
  expect(stored.metadata?.annotations?.['podhooks.io/status']).toBeDefined();

  await admission.deleteMutatingWebhookConfiguration({ name: 'podhooks' });
  await admission.deleteValidatingWebhookConfiguration({ name: 'podhooks' });
  for (let i = 0; ; i++) {
    const probe = await core.createNamespacedPod({ namespace: 'bench', body: pod(`gone-${i}`), dryRun: 'All' });
    if (!probe.metadata?.annotations?.['podhooks.io/status']) break;
    if (i > 300) throw new Error('the webhooks were never removed from the admission chain');
    await new Promise((r) => setTimeout(r, 100));
  }
  const after = await createPods(core, 'none-b', PODS / 2);
  const unaffected = await core.readNamespacedPod({ name: 'none-b-0', namespace: 'bench' });
  expect(unaffected.metadata?.annotations?.['podhooks.io/status']).toBeUndefined();

  const rows = [summary('no webhooks', [...before, ...after]), summary('podhooks mutating + validating', withHooks)];
  console.log(JSON.stringify(rows));
  if (process.env.PODHOOKS_BENCH_OUT) writeFileSync(process.env.PODHOOKS_BENCH_OUT, JSON.stringify({ rows }));
});
