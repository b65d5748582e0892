// preOnline on a real node: the pod takes no traffic (not Ready, its Service endpoint not
// ready) until the check URL passes and the hook succeeded; a failing hook keeps it
// unready, and the pod says why. The app image has no shell: the readiness gate's HTTP
// check and the runner's check URL go through the podhooks busybox wget, in the pod.
// The hook runs in the app's context (its image's files, its envFrom, its user), and an
// app that restarts goes unready until the hook has run again for the new start.
import type { V1Pod } from '@kubernetes/client-node';
import { DiscoveryV1Api } from '@kubernetes/client-node';
import { eventually } from '../e2e/harness/webhooks';
import { MARKER } from './images/images';
import { containerStatus, isReady, RESTRICTED, startCluster, type Cluster, staticAppPod } from './harness/cluster';
import { startHostServer, type HostServer } from './harness/host-server';

jest.setTimeout(300_000);

const NS = 'online';
let c: Cluster;
let host: HostServer;

const pod = (name: string, annotations: Record<string, string>): V1Pod => staticAppPod(c, name, annotations);

/** The `ready` condition of the pod's endpoint in its Service's EndpointSlices (undefined: not listed). */
async function endpointReady(service: string, podName: string): Promise<boolean | undefined> {
  const slices = await c.cp.kubeConfig().makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace: NS, labelSelector: `kubernetes.io/service-name=${service}` });
  const ep = slices.items.flatMap((s) => s.endpoints ?? []).find((e) => e.targetRef?.name === podName);
  return ep?.conditions?.ready;
}

async function withService(name: string): Promise<void> {
  await c.core.createNamespacedService({ namespace: NS, body: { metadata: { name }, spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 'http' }] } } });
}

beforeAll(async () => {
  c = await startCluster();
  host = await startHostServer();
  await c.namespace(NS);
});

afterAll(async () => {
  await host?.stop();
  await c?.stop();
});

const readyCondition = (p: V1Pod) => p.status?.conditions?.find((x) => x.type === 'Ready');
/** When the line containing `text` was written to the container's log (kubectl logs --timestamps). */
function loggedAt(pod: string, container: string, text: string): number {
  const r = c.node.kubectl(['-n', NS, 'logs', pod, '-c', container, '--timestamps']);
  const line = r.stdout.split('\n').find((l) => l.includes(text));
  if (!line) throw new Error(`${pod}/${container}: no log line with ${JSON.stringify(text)}:\n${r.stdout}${r.stderr}`);
  return Date.parse(line.split(' ')[0].replace(/(\.\d{3})\d*Z$/, '$1Z'));
}

test('the pod is not Ready and its endpoint not ready until the check URL passes and the hook succeeded', async () => {
  await withService('shop');
  await c.core.createNamespacedPod({
    namespace: NS,
    body: pod('shop', {
      'podhooks.io/pre-online': 'echo "preonline: warming"; wget -q -O - http://127.0.0.1:8080/healthz',
      'podhooks.io/check-url': 'http://127.0.0.1:8080/ready',
    }),
  });
  const running = await c.node.waitForPod(NS, 'shop', (p) => !!containerStatus(p, 'app')?.state?.running, 'the app running');
  // The app serves, but the gate holds: the reason is in the readiness events.
  await eventually('the gate to report its reason', async () =>
    (await c.node.events(NS, 'shop')).some((e) => e.startsWith('Unhealthy: Readiness probe failed: podhooks: not online yet: the pre-online hook has not succeeded since container app started')) ? true : undefined);
  expect((await fetch(`http://${running.status!.podIP}:8080/healthz`)).status).toBe(200);
  await eventually('the runner to poll the check URL', async () => (c.node.logs(NS, 'shop', 'podhooks-preonline').includes('pre-online: waiting for http://127.0.0.1:8080/ready') ? true : undefined));
  expect(isReady(await c.core.readNamespacedPod({ name: 'shop', namespace: NS }))).toBe(false);
  expect(await eventually('the endpoint to be listed', () => endpointReady('shop', 'shop').then((r) => (r === undefined ? undefined : r)))).toBe(false);

  // The check URL passes: the hook runs, the mark is written, the pod and its endpoint go ready.
  expect((await fetch(`http://${running.status!.podIP}:8080/admin/ready`, { method: 'POST' })).status).toBe(200);
  await c.node.waitForPod(NS, 'shop', isReady, 'Ready');
  expect(await eventually('the endpoint to be ready', () => endpointReady('shop', 'shop').then((r) => (r ? r : undefined)))).toBe(true);
  const log = c.node.logs(NS, 'shop', 'podhooks-preonline');
  expect(log).toContain('preonline: warming');
  expect(log).toContain('ok'); // the app's /healthz, fetched by the hook with busybox wget
  expect(log.indexOf('pre-online hook succeeded; pod is now online')).toBeGreaterThan(log.indexOf('pre-online: http://127.0.0.1:8080/ready passed'));
});

test('a failing hook keeps the pod unready, with the hook exit code and a reason on the pod', async () => {
  await withService('stuck');
  await c.core.createNamespacedPod({
    namespace: NS,
    body: pod('stuck', { 'podhooks.io/pre-online': 'echo "preonline: backend unreachable"; exit 4', 'podhooks.io/check-url': 'http://127.0.0.1:8080/healthz' }),
  });
  const failed = await c.node.waitForPod(NS, 'stuck', (p) => {
    const s = containerStatus(p, 'podhooks-preonline');
    return !!(s?.lastState?.terminated ?? s?.state?.terminated);
  }, 'the pre-online runner to fail');
  const s = containerStatus(failed, 'podhooks-preonline')!;
  const terminated = (s.lastState?.terminated ?? s.state?.terminated)!;
  expect([terminated.exitCode, terminated.message]).toEqual([4, 'podhooks: pre-online hook failed with exit code 4; the pod stays unready\n']);
  expect(containerStatus(failed, 'app')!.state!.running).toBeDefined();
  expect(isReady(failed)).toBe(false);
  expect(await endpointReady('stuck', 'stuck')).not.toBe(true);
  // The kubelet records the probe's failure as an Event on its own schedule.
  await eventually('the gate to report its reason', async () =>
    (await c.node.events(NS, 'stuck')).some((e) => e.includes('not online yet: the pre-online hook has not succeeded since container app started')) ? true : undefined);
});

test("the hook runs in the app's context: its image's files, its envFrom, its user; the pod is Ready only after it", async () => {
  await c.core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'ledger-config' }, data: { APP_TOKEN: 'abc' } } });
  await withService('ledger');
  const app = {
    name: 'app',
    image: c.node.images.debian.ref,
    command: ['/usr/local/bin/app', 'serve'],
    ports: [{ name: 'http', containerPort: 8080 }],
    envFrom: [{ configMapRef: { name: 'ledger-config' } }],
    readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 },
    securityContext: RESTRICTED,
  };
  const created = await c.core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name: 'ledger', labels: { app: 'ledger' }, annotations: {
        // The token comes from the ConfigMap, the file from the app's image (the tools image has neither).
        'podhooks.io/pre-online': 'test "$APP_TOKEN" = abc || { echo "preonline: APP_TOKEN is \'$APP_TOKEN\'"; exit 3; }\necho "preonline: running as $(id -u)"\ncat /app/marker',
        'podhooks.io/check-url': 'http://127.0.0.1:8080/ready',
      } },
      spec: { terminationGracePeriodSeconds: 5, containers: [app] },
    },
  });
  const runner = [...created.spec!.containers, ...(created.spec!.initContainers ?? [])].find((x) => x.name === 'podhooks-preonline')!;
  expect(runner.image).toBe(c.node.images.debian.ref);
  expect(runner.securityContext).toEqual(RESTRICTED);
  expect(runner.envFrom).toEqual(app.envFrom);

  // Held at the check URL for a while: not Ready, whatever the app's own probe says.
  const running = await c.node.waitForPod(NS, 'ledger', (p) => !!containerStatus(p, 'app')?.state?.running, 'the app running');
  await eventually('the runner to wait for the check URL', async () => (c.node.logs(NS, 'ledger', 'podhooks-preonline').includes('pre-online: waiting for http://127.0.0.1:8080/ready') ? true : undefined));
  await eventually('the gate to report its reason', async () => ((await c.node.events(NS, 'ledger')).some((e) => e.includes('not online yet')) ? true : undefined));
  expect(isReady(await c.core.readNamespacedPod({ name: 'ledger', namespace: NS }))).toBe(false);

  expect((await fetch(`http://${running.status!.podIP}:8080/admin/ready`, { method: 'POST' })).status).toBe(200);
  const ready = await c.node.waitForPod(NS, 'ledger', isReady, 'Ready');
  // The streamer follows the hook's log file (tail -F polls it), so its copy may trail
  // the Ready transition by a poll: wait for the last line, then check all of them.
  const streamed = await eventually('the streamer to print the hook\'s last line', async () => {
    const text = c.node.logs(NS, 'ledger', 'podhooks-logs');
    return text.includes('pod is now online') ? text : undefined;
  });
  expect(streamed).toContain('[pre-online] preonline: running as 1000');
  expect(streamed).toContain(`[pre-online] ${MARKER.trim()}`);
  expect(streamed).toContain('[pre-online] podhooks: pre-online hook succeeded; pod is now online');
  // Ready came after the mark (its transition time has whole seconds).
  const online = loggedAt('ledger', 'podhooks-preonline', 'pod is now online');
  expect(new Date(readyCondition(ready)!.lastTransitionTime!).getTime()).toBeGreaterThanOrEqual(Math.floor(online / 1000) * 1000);
  expect(await eventually('the endpoint to be ready', () => endpointReady('ledger', 'ledger').then((r) => (r ? r : undefined)))).toBe(true);
});

test('an app restart closes the gate: unready until the hook has run again for the new start', async () => {
  await withService('cart');
  const hook = `wget -q -O /dev/null --post-data "event=pre-online&pod=cart" ${host.url}/events && echo "preonline: counted"`;
  await c.core.createNamespacedPod({ namespace: NS, body: pod('cart', { 'podhooks.io/pre-online': hook, 'podhooks.io/check-url': 'http://127.0.0.1:8080/ready' }) });
  const runs = () => host.events.filter((e) => e.pod === 'cart' && e.event === 'pre-online').length;
  const first = await c.node.waitForPod(NS, 'cart', (p) => !!containerStatus(p, 'app')?.state?.running, 'the app running');
  const ip = first.status!.podIP!;
  await eventually('the app to listen', async () => ((await fetch(`http://${ip}:8080/healthz`)).ok ? true : undefined));
  expect((await fetch(`http://${ip}:8080/admin/ready`, { method: 'POST' })).status).toBe(200);
  const online = await c.node.waitForPod(NS, 'cart', isReady, 'Ready');
  expect(runs()).toBe(1);

  // Every look at the pod from the kill on: Ready is never True while the hook has run only once.
  const seen: { ready: boolean; runs: number }[] = [];
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const p = await c.core.readNamespacedPod({ name: 'cart', namespace: NS });
      seen.push({ ready: isReady(p), runs: runs() });
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  try {
    await c.node.killContainer(NS, 'cart', 'app');
    const restarted = await c.node.waitForPod(NS, 'cart', (p) => containerStatus(p, 'app')?.restartCount === 1 && !!containerStatus(p, 'app')?.state?.running, 'the app restarted');
    expect(restarted.metadata!.uid).toBe(online.metadata!.uid);
    await eventually('the runner to see the restart', async () => (c.node.logs(NS, 'cart', 'podhooks-preonline').includes('pre-online: container app restarted; running the pre-online hook again before it takes traffic') ? true : undefined));
    // The new app process's /ready fails until told otherwise: the runner waits, the pod stays out.
    await eventually('the runner to wait for the check URL again', async () => (c.node.logs(NS, 'cart', 'podhooks-preonline').split('pre-online: waiting for http://127.0.0.1:8080/ready').length === 3 ? true : undefined));
    await eventually('the restarted pod to be unready', async () => (!isReady(await c.core.readNamespacedPod({ name: 'cart', namespace: NS })) ? true : undefined));
    expect(await eventually('the endpoint to be not ready', () => endpointReady('cart', 'cart').then((r) => (r === false ? true : undefined)))).toBe(true);
    expect(runs()).toBe(1);

    await eventually('the new app to listen', async () => ((await fetch(`http://${ip}:8080/healthz`)).ok ? true : undefined));
    expect((await fetch(`http://${ip}:8080/admin/ready`, { method: 'POST' })).status).toBe(200);
    await c.node.waitForPod(NS, 'cart', isReady, 'Ready again');
    expect(runs()).toBe(2);
  } finally {
    watching = false;
    await watcher;
  }
  // Before the first unready look the kubelet had not noticed the kill yet; from then on,
  // Ready only with the second run counted.
  const unready = seen.findIndex((s) => !s.ready);
  expect(unready).toBeGreaterThanOrEqual(0);
  expect(seen.slice(unready).filter((s) => s.ready && s.runs < 2)).toEqual([]);
  const log = c.node.logs(NS, 'cart', 'podhooks-preonline');
  expect(log.split('pre-online hook succeeded; pod is now online').length).toBe(3);
  expect(log.lastIndexOf('pod is now online')).toBeGreaterThan(log.indexOf('container app restarted'));
  expect(await eventually('the endpoint to be ready again', () => endpointReady('cart', 'cart').then((r) => (r ? r : undefined)))).toBe(true);
});
