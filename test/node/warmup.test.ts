// Warm-up URLs on a real node (docs/warmup.md). The app image has no shell: the check URL
// and every warm-up request go through the podhooks busybox wget in the preOnline runner,
// from inside the pod. The app counts the warm-up hits it serves and notes whether its
// /ready (the check URL) passed at that moment, so the test sees from the app's side that
// they arrive after the check URL passed and before the pod turns Ready. A failed warm-up
// with `fail` ends the runner with exit 3 and the pod never turns Ready; with `warn` the
// pod goes online and the log says what failed.
import type { V1Pod } from '@kubernetes/client-node';
import { DiscoveryV1Api } from '@kubernetes/client-node';
import { eventually } from '../e2e/harness/webhooks';
import { containerStatus, isReady, startCluster, type Cluster, staticAppPod } from './harness/cluster';

jest.setTimeout(300_000);

const NS = 'warm';
let c: Cluster;

const pod = (name: string, annotations: Record<string, string>): V1Pod => staticAppPod(c, name, annotations);

async function create(name: string, annotations: Record<string, string>): Promise<string> {
  await c.core.createNamespacedService({ namespace: NS, body: { metadata: { name }, spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 'http' }] } } });
  await c.core.createNamespacedPod({ namespace: NS, body: pod(name, annotations) });
  const running = await c.node.waitForPod(NS, name, (p) => !!containerStatus(p, 'app')?.state?.running, 'the app running');
  const ip = running.status!.podIP!;
  await eventually('the app to listen', async () => ((await fetch(`http://${ip}:8080/healthz`).catch(() => undefined))?.ok ? true : undefined));
  return ip;
}

/** The app's check URL (/ready) starts passing. */
async function appReady(ip: string): Promise<void> {
  expect((await fetch(`http://${ip}:8080/admin/ready`, { method: 'POST' })).status).toBe(200);
}

/** The log streamer's output once it shows `line`: tail -F polls once a second, so it trails the hook's own log. */
function streamedOnce(name: string, line: string): Promise<string> {
  return eventually(`the log streamer of ${name} to show "${line}"`, async () => {
    const text = c.node.logs(NS, name, 'podhooks-logs');
    return text.includes(line) ? text : undefined;
  });
}

/** The app's own count: [warm-up hits, hits while its /ready still failed]. */
async function warmCount(ip: string): Promise<[number, number]> {
  const text = await (await fetch(`http://${ip}:8080/warm-count`)).text();
  const [hits, early] = text.trim().split(' ').map(Number);
  return [hits, early];
}

async function endpointReady(service: string, podName: string): Promise<boolean | undefined> {
  const slices = await c.cp.kubeConfig().makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace: NS, labelSelector: `kubernetes.io/service-name=${service}` });
  return slices.items.flatMap((s) => s.endpoints ?? []).find((e) => e.targetRef?.name === podName)?.conditions?.ready;
}

/** kubectl logs --timestamps: when the first line containing `text` was written. */
function loggedAt(podName: string, container: string, text: string, last = false): number {
  const r = c.node.kubectl(['-n', NS, 'logs', podName, '-c', container, '--timestamps']);
  const lines = r.stdout.split('\n').filter((l) => l.includes(text));
  const line = last ? lines[lines.length - 1] : lines[0];
  if (!line) throw new Error(`${podName}/${container}: no log line with ${JSON.stringify(text)}:\n${r.stdout}${r.stderr}`);
  return Date.parse(line.split(' ')[0].replace(/(\.\d{3})\d*Z$/, '$1Z'));
}

beforeAll(async () => {
  c = await startCluster();
  await c.namespace(NS);
});

afterAll(async () => {
  await c?.stop();
});

test('warm-up requests reach the app after the check URL passed and before the pod is Ready; the hook runs after them', async () => {
  const ip = await create('catalog', {
    'podhooks.io/check-url': 'http://127.0.0.1:8080/ready',
    'podhooks.io/warmup-urls': 'GET http://127.0.0.1:8080/warm x5 expect 200',
    // The hook sees the app's count: every warm-up request was answered before it ran.
    'podhooks.io/pre-online': 'echo "preonline: warm-count $(wget -q -O - http://127.0.0.1:8080/warm-count)"',
  });
  // Held at the check URL: the runner asks, nothing is warmed yet.
  await eventually('the runner to poll the check URL', async () => (c.node.logs(NS, 'catalog', 'podhooks-preonline').includes('pre-online: waiting for http://127.0.0.1:8080/ready') ? true : undefined));
  expect(await warmCount(ip)).toEqual([0, 0]);
  expect(isReady(await c.core.readNamespacedPod({ name: 'catalog', namespace: NS }))).toBe(false);

  // From the check URL's pass on: every look at the pod that sees it Ready sees all 5 hits served.
  const seen: { ready: boolean; hits: number }[] = [];
  let watching = true;
  // It looks until it has seen the pod Ready itself (Ready stays), so it always has that look.
  const watcher = (async () => {
    while (watching) {
      const p = await c.core.readNamespacedPod({ name: 'catalog', namespace: NS });
      seen.push({ ready: isReady(p), hits: (await warmCount(ip))[0] });
      if (seen[seen.length - 1].ready) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  let ready: V1Pod;
  try {
    await appReady(ip);
    ready = await c.node.waitForPod(NS, 'catalog', isReady, 'Ready');
  } catch (err) {
    watching = false;
    await watcher;
    throw err;
  }
  await watcher;
  expect(await warmCount(ip)).toEqual([5, 0]); // exactly x5, none before /ready passed
  expect(seen.filter((s) => s.ready && s.hits !== 5)).toEqual([]);
  expect(seen.some((s) => s.ready)).toBe(true);

  // The app's log: the hits, each after /ready passed.
  const app = c.node.logs(NS, 'catalog', 'app');
  expect(app.match(/app: warm-up hit \d+ \(\/ready passing: (true|false)\)/g)).toEqual([1, 2, 3, 4, 5].map((n) => `app: warm-up hit ${n} (/ready passing: true)`));
  // The runner's log: check URL, the 5 requests, the summary, the hook (which counted 5), online.
  const log = c.node.logs(NS, 'catalog', 'podhooks-preonline');
  const order = [
    'pre-online: http://127.0.0.1:8080/ready passed',
    'pre-online: warm-up: 5 requests (deadline 300s, on failure: fail)',
    ...[1, 2, 3, 4, 5].map((n) => `pre-online: warm-up GET http://127.0.0.1:8080/warm (${n}/5): HTTP 200 (`),
    'pre-online: warm-up finished in ',
    'preonline: warm-count 5 0',
    'pre-online hook succeeded; pod is now online',
  ].map((text) => log.indexOf(text));
  expect(order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1]))).toBe(true);
  expect(log).toMatch(/pre-online: warm-up finished in \d+\.\d\ds: 5 of 5 requests passed/);
  // The live hook log has the same lines.
  expect(await streamedOnce('catalog', 'warm-up GET http://127.0.0.1:8080/warm (5/5)')).toContain('[pre-online] podhooks: pre-online: warm-up GET http://127.0.0.1:8080/warm (5/5): HTTP 200');
  // Ready came after the last hit (the condition's time has whole seconds).
  const lastHit = loggedAt('catalog', 'app', 'app: warm-up hit 5');
  const readyAt = new Date(ready.status!.conditions!.find((x) => x.type === 'Ready')!.lastTransitionTime!).getTime();
  expect(readyAt).toBeGreaterThanOrEqual(Math.floor(lastHit / 1000) * 1000);
  expect(await eventually('the endpoint to be ready', () => endpointReady('catalog', 'catalog').then((r) => (r ? r : undefined)))).toBe(true);
});

test('a failing warm-up with failure=fail ends the runner with exit 3 and its reason; the pod never turns Ready', async () => {
  const ip = await create('orders', {
    'podhooks.io/check-url': 'http://127.0.0.1:8080/ready',
    'podhooks.io/warmup-urls': 'GET http://127.0.0.1:8080/warm x2, GET http://127.0.0.1:8080/missing',
    'podhooks.io/pre-online': 'echo "preonline: this hook must not run"',
  });
  await appReady(ip);
  const seenReady: boolean[] = [];
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      seenReady.push(isReady(await c.core.readNamespacedPod({ name: 'orders', namespace: NS })));
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  let failed: V1Pod;
  try {
    // The kubelet restarts the runner (a native sidecar) with its back-off: it fails the same way twice.
    failed = await c.node.waitForPod(NS, 'orders', (p) => {
      const s = containerStatus(p, 'podhooks-preonline');
      // restartCount counts starts after the first: 1 and ended again is the second failure.
      return (s?.restartCount ?? 0) >= 1 && !!(s?.state?.terminated ?? (s?.state?.waiting?.reason === 'CrashLoopBackOff' ? s.lastState?.terminated : undefined));
    }, 'the pre-online runner to fail twice', 120_000);
  } finally {
    watching = false;
    await watcher;
  }
  const s = containerStatus(failed, 'podhooks-preonline')!;
  const terminated = (s.state?.terminated ?? s.lastState?.terminated)!;
  const reason = /^podhooks: pre-online: warm-up failed: GET http:\/\/127\.0\.0\.1:8080\/missing \(1\/1\): HTTP 404, expected 2xx,3xx \(\d+\.\d\ds\); the pod stays unready \(podhooks\.io\/warmup-failure: fail\)\n$/;
  expect(terminated.exitCode).toBe(3);
  expect(terminated.message).toMatch(reason);
  expect(seenReady.length).toBeGreaterThan(0);
  expect(seenReady.filter(Boolean)).toEqual([]);
  expect(isReady(await c.core.readNamespacedPod({ name: 'orders', namespace: NS }))).toBe(false);
  expect(await endpointReady('orders', 'orders')).not.toBe(true);
  expect(containerStatus(failed, 'app')!.state!.running).toBeDefined();
  // What `kubectl logs` shows: the requests that passed, the one that failed, and why.
  const streamed = await streamedOnce('orders', 'warm-up failed');
  expect(streamed).toContain('[pre-online] podhooks: pre-online: warm-up GET http://127.0.0.1:8080/warm (2/2): HTTP 200');
  expect(streamed).toMatch(/\[pre-online\] podhooks: pre-online: warm-up failed: GET http:\/\/127\.0\.0\.1:8080\/missing \(1\/1\): HTTP 404, expected 2xx,3xx/);
  expect(streamed).not.toContain('this hook must not run');
  // Each round sent both good requests before the failing one, after the check URL passed.
  const [hits, early] = await warmCount(ip);
  expect([hits % 2, hits >= 4, early]).toEqual([0, true, 0]);
});

test('with failure=warn a failing request is a warning: the rest are sent and the pod turns Ready', async () => {
  const ip = await create('search', {
    'podhooks.io/check-url': 'http://127.0.0.1:8080/ready',
    'podhooks.io/warmup-urls': 'GET http://127.0.0.1:8080/missing\nGET http://127.0.0.1:8080/warm x2',
    'podhooks.io/warmup-failure': 'warn',
  });
  await appReady(ip);
  const ready = await c.node.waitForPod(NS, 'search', isReady, 'Ready despite the failed request');
  expect(containerStatus(ready, 'podhooks-preonline')!.restartCount).toBe(0);
  expect(await warmCount(ip)).toEqual([2, 0]);
  const log = await streamedOnce('search', 'pod is now online');
  expect(log).toMatch(/\[pre-online\] podhooks: pre-online: warning: warm-up GET http:\/\/127\.0\.0\.1:8080\/missing \(1\/1\): HTTP 404, expected 2xx,3xx \(\d+\.\d\ds\)/);
  expect(log).toMatch(/\[pre-online\] podhooks: pre-online: warning: warm-up finished in \d+\.\d\ds: 2 of 3 requests passed, 1 failed; going on \(podhooks\.io\/warmup-failure: warn\)/);
  expect(log.indexOf('pod is now online')).toBeGreaterThan(log.indexOf('warm-up finished'));
  expect(await eventually('the endpoint to be ready', () => endpointReady('search', 'search').then((r) => (r ? r : undefined)))).toBe(true);
});
