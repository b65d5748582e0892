// Pod-create latency on a real kube-apiserver: 500 pods with podhooks' mutating and
// validating webhooks registered (the same manifests as deploy/, pointed at a local
// `podhooks serve`), 500 with the same webhook configurations pointed at a no-op server
// (what any webhook costs the apiserver), 500 of the pods podhooks would make through
// those same no-op webhooks (the bigger object and the webhooks without podhooks' work:
// what isolates podhooks' own share), 500 injected pods with no webhooks, and 500 with
// none. The no-op rows alternate pod by pod; the "none" pods are created half first and
// half last, so etcd growth during the run weighs on all sides alike.
// Run by `npm run bench`; writes PODHOOKS_BENCH_OUT.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { generateBundle, writeBundle } from '../src/certs';
import { parseConfig } from '../src/config';
import { injectPod } from '../src/mutate/inject';
import { freePort } from '../test/helpers/ports';
import { ROOT, startPodhooks, type Podhooks } from '../test/helpers/podhooks';
import { startControlPlane, type ControlPlane } from '../test/e2e/harness/controlplane';
import { createNamespace, registerWebhooks } from '../test/e2e/harness/webhooks';

jest.setTimeout(900_000);
const PODS = Number(process.env.PODHOOKS_BENCH_PODS ?? 500);
let cp: ControlPlane;
let ph: Podhooks;
let noop: ChildProcess | undefined;

afterAll(async () => {
  noop?.kill('SIGKILL');
  await ph?.stop();
  await cp?.stop();
});

const pod = (name: string): V1Pod => ({
  metadata: { name, labels: { app: 'web' }, annotations: { 'podhooks.io/pre-start': 'echo warming up', 'podhooks.io/log-stream': 'true' } },
  spec: { containers: [{ name: 'app', image: 'registry.example.com/web:1', command: ['/server'], ports: [{ containerPort: 8080 }] }] },
});

async function createPod(core: CoreV1Api, body: V1Pod): Promise<number> {
  const t0 = process.hrtime.bigint();
  await core.createNamespacedPod({ namespace: 'bench', body });
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function createPods(core: CoreV1Api, prefix: string, count: number, make = pod): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < count; i++) ms.push(await createPod(core, make(`${prefix}-${i}`)));
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
  await createNamespace(core, 'bench', { 'podhooks.io/injection': 'enabled' });
  await createPods(core, 'warmup', 50);

  const unregister = async () => {
    await admission.deleteMutatingWebhookConfiguration({ name: 'podhooks' });
    await admission.deleteValidatingWebhookConfiguration({ name: 'podhooks' });
  };
  // Registration and removal reach the admission chain asynchronously: poll with dry runs.
  const until = async (what: string, done: (pod: V1Pod) => boolean) => {
    for (let i = 0; ; i++) {
      const probe = await core.createNamespacedPod({ namespace: 'bench', body: pod(`probe-${what}-${i}`), dryRun: 'All' }).catch(() => undefined);
      if (probe && done(probe)) return;
      if (i > 300) throw new Error(`${what}: the admission chain did not change`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  // A webhook in a cluster is long-running and warm: 200 dry runs first, for either server.
  const warmUp = async () => {
    for (let i = 0; i < 200; i++) await core.createNamespacedPod({ namespace: 'bench', body: pod(`warm-${i}`), dryRun: 'All' });
  };
  const injected = (p: V1Pod) => p.metadata?.annotations?.['podhooks.io/status'] !== undefined;

  const before = await createPods(core, 'none-a', PODS / 2);

  // The same webhook configurations, answered by the no-op server.
  const dir = mkdtempSync(join(tmpdir(), 'podhooks-bench-noop-'));
  const bundle = generateBundle(['localhost'], ['127.0.0.1']);
  writeBundle(dir, bundle);
  const noopPort = await freePort();
  noop = spawn(process.env.PODHOOKS_BENCH_NODE || process.execPath, [join(ROOT, 'bench/noop-server.js'), join(dir, 'tls.crt'), join(dir, 'tls.key'), String(noopPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  noop.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  const called = () => output.includes('first request');
  while (!output.includes('ready')) await new Promise((r) => setTimeout(r, 20));
  await registerWebhooks(admission, noopPort, bundle.caCert);
  await until('noop', called);
  await warmUp();
  // The pods as written and the pods podhooks makes of them, alternately, through the same no-op webhooks.
  const config = parseConfig({});
  const injectedPod = (name: string) => injectPod(pod(name), { config, nativeSidecars: true, namespace: 'bench' }).pod;
  const withNoop: number[] = [];
  const injectedWithNoop: number[] = [];
  for (let i = 0; i < PODS; i++) {
    withNoop.push(await createPod(core, pod(`noop-${i}`)));
    injectedWithNoop.push(await createPod(core, injectedPod(`noop-injected-${i}`)));
  }
  await unregister();

  await registerWebhooks(admission, ph.port, ph.ca);
  await until('podhooks', injected);
  await warmUp();
  const apiserverMetrics = () => cp.kubectl(['get', '--raw', '/metrics']).stdout;
  const webhookSeconds = (text: string) => {
    // Time the apiserver spent in each podhooks webhook (its own view, network included).
    const out: Record<string, { sum: number; count: number }> = {};
    for (const m of text.matchAll(/^apiserver_admission_webhook_admission_duration_seconds_(sum|count)\{[^}]*name="([^"]+)"[^}]*\} ([0-9.e+-]+)$/gm)) {
      out[m[2]] ??= { sum: 0, count: 0 };
      out[m[2]][m[1] as 'sum' | 'count'] += Number(m[3]);
    }
    return out;
  };
  const apiBefore = webhookSeconds(apiserverMetrics());
  const withHooks = await createPods(core, 'hooks', PODS);
  const apiAfter = webhookSeconds(apiserverMetrics());
  const perCall = Object.fromEntries(
    Object.entries(apiAfter).map(([name, v]) => [name, (1000 * (v.sum - (apiBefore[name]?.sum ?? 0))) / Math.max(1, v.count - (apiBefore[name]?.count ?? 0))]),
  );
  const own = await (await fetch(`http://127.0.0.1:${ph.metricsPort}/metrics`)).text();
  const ownMs = (webhook: string) => {
    const sum = [...own.matchAll(new RegExp(`^podhooks_admission_duration_seconds_sum\\{webhook="${webhook}"[^}]*\\} ([0-9.e+-]+)$`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0);
    const count = [...own.matchAll(new RegExp(`^podhooks_admission_duration_seconds_count\\{webhook="${webhook}"[^}]*\\} ([0-9.e+-]+)$`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0);
    return (1000 * sum) / Math.max(1, count);
  };
  const calls = { apiserverMsPerWebhookCall: perCall, podhooksHandlerMs: { mutate: ownMs('mutate'), validate: ownMs('validate') } };
  console.log(JSON.stringify(calls));
  const stored = await core.readNamespacedPod({ name: 'hooks-0', namespace: 'bench' });
  expect(injected(stored)).toBe(true);
  await unregister();
  await until('none', (p) => !injected(p));

  // The pod podhooks would produce, created directly: what the bigger object alone costs.
  const preInjected = await createPods(core, 'pre', PODS, injectedPod);
  const after = await createPods(core, 'none-b', PODS / 2);
  const unaffected = await core.readNamespacedPod({ name: 'none-b-0', namespace: 'bench' });
  expect(injected(unaffected)).toBe(false);

  const rows = [summary('no webhooks', [...before, ...after]), summary('the same webhooks on a no-op server', withNoop), summary('the injected pods through the same webhooks on a no-op server', injectedWithNoop), summary('podhooks mutating + validating', withHooks), summary('injected pods created directly, no webhooks', preInjected)];
  console.log(JSON.stringify(rows));
  if (process.env.PODHOOKS_BENCH_OUT) writeFileSync(process.env.PODHOOKS_BENCH_OUT, JSON.stringify({ rows, calls }));
});
