// preOnline on a real node: the pod takes no traffic (not Ready, its Service endpoint not
// ready) until the check URL passes and the hook succeeded; a failing hook keeps it
// unready, and the pod says why. The app image has no shell: the readiness gate's HTTP
// check and the runner's check URL go through the podhooks busybox wget, in the pod.
import type { V1Pod } from '@kubernetes/client-node';
import { DiscoveryV1Api } from '@kubernetes/client-node';
import { eventually } from '../e2e/harness/webhooks';
import { containerStatus, isReady, RESTRICTED, startCluster, type Cluster } from './harness/cluster';

jest.setTimeout(300_000);

const NS = 'online';
let c: Cluster;

function pod(name: string, annotations: Record<string, string>): V1Pod {
  return {
    metadata: { name, labels: { app: name }, annotations },
    spec: {
      terminationGracePeriodSeconds: 5,
      containers: [{
        name: 'app',
        image: c.node.images.static.ref,
        command: ['/app', 'serve'],
        ports: [{ name: 'http', containerPort: 8080 }],
        readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 },
        securityContext: RESTRICTED,
      }],
    },
  };
}

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
  await c.namespace(NS);
});

afterAll(async () => {
  await c?.stop();
});

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
