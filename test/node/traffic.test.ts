// Manual traffic approval on a real kubelet (docs/traffic.md): a `podhooks.io/traffic:
// manual` pod runs and passes its own readiness probe, but the kubelet keeps it out of
// Ready (its readiness gate) and the EndpointSlice controller keeps its endpoint not
// ready, until `podhooks online`, run as the release pipeline's ServiceAccount bound to
// exactly deploy/examples/traffic-approver.yaml. The kubelet's own status writes (here
// after a container restart) keep the condition it does not own, and `podhooks offline`
// takes the same pod out of its Service without stopping or restarting it. The e2e tier
// checks the same commands against a simulated kubelet; this is the real one.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiscoveryV1Api, type V1Pod } from '@kubernetes/client-node';
import { runPodhooks, serviceAccountKubeconfig } from '../e2e/harness/accounts';
import { eventually } from '../e2e/harness/webhooks';
import { ROOT } from '../helpers/podhooks';
import { containerStatus, isReady, startCluster, type Cluster, staticAppPod } from './harness/cluster';

jest.setTimeout(300_000);

const NS = 'shop'; // the namespace deploy/examples/traffic-approver.yaml binds release-pipeline in
const PIPELINE = `system:serviceaccount:${NS}:release-pipeline`;
let c: Cluster;
let pipeline: string;
const dir = mkdtempSync(join(tmpdir(), 'podhooks-node-traffic-'));

const read = (name: string) => c.core.readNamespacedPod({ name, namespace: NS });
const cond = (p: V1Pod, type: string) => p.status?.conditions?.find((x) => x.type === type);

/** The pod's endpoint in Service checkout's EndpointSlices, as the real controller publishes it. */
async function endpointReady(podName: string): Promise<boolean | undefined> {
  const slices = await c.cp.kubeConfig().makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace: NS, labelSelector: 'kubernetes.io/service-name=checkout' });
  return slices.items.flatMap((s) => s.endpoints ?? []).find((e) => e.targetRef?.name === podName)?.conditions?.ready;
}
const endpointIs = (podName: string, ready: boolean) =>
  eventually(`the endpoint of ${podName} to be ${ready ? '' : 'not '}ready`, async () => ((await endpointReady(podName)) === ready ? true : undefined));

beforeAll(async () => {
  c = await startCluster();
  await c.namespace(NS);
  const apply = c.node.kubectl(['apply', '-n', NS, '-f', join(ROOT, 'deploy/examples/traffic-approver.yaml')]);
  expect([apply.code, apply.stderr]).toEqual([0, '']);
  pipeline = await serviceAccountKubeconfig(c.core, c.cp.server, NS, 'release-pipeline', dir);
  await c.core.createNamespacedService({ namespace: NS, body: { metadata: { name: 'checkout' }, spec: { selector: { app: 'checkout' }, ports: [{ port: 80, targetPort: 'http' }] } } });
});

afterAll(async () => {
  await c?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a manual-traffic pod runs and is ready itself, but takes traffic only between `podhooks online` and `podhooks offline`', async () => {
  await c.core.createNamespacedPod({
    namespace: NS,
    body: staticAppPod(c, 'checkout-1', { 'podhooks.io/traffic': 'manual' }, { app: 'checkout' }),
  });

  // Running, its containers ready, the pod not: the gate's condition is not there yet.
  const waiting = await c.node.waitForPod(NS, 'checkout-1', (p) => cond(p, 'ContainersReady')?.status === 'True', 'its containers ready');
  expect(waiting.spec!.readinessGates).toEqual([{ conditionType: 'podhooks.io/online' }]);
  expect(waiting.status!.phase).toBe('Running');
  expect(cond(waiting, 'Ready')).toMatchObject({ status: 'False', reason: 'ReadinessGatesNotReady' });
  expect(cond(waiting, 'podhooks.io/online')).toBeUndefined();
  expect(await endpointIs('checkout-1', false)).toBe(true);

  const online = await runPodhooks(['online', 'checkout-1', '--reason', 'smoke tests passed (build 812)'], pipeline);
  expect([online.code, online.stdout, online.stderr]).toEqual([0, 'pod/checkout-1 online\n', '']);
  const approved = await c.node.waitForPod(NS, 'checkout-1', isReady, 'Ready once approved');
  expect(cond(approved, 'podhooks.io/online')).toMatchObject({ status: 'True', reason: 'PodhooksOnline', message: `approved by ${PIPELINE}: smoke tests passed (build 812)` });
  expect(await endpointIs('checkout-1', true)).toBe(true);

  // A kubelet status write of its own: the container restarts (its readiness resets, so the
  // kubelet rewrites ContainersReady and Ready), and the condition it does not own stays.
  await c.node.killContainer(NS, 'checkout-1', 'app');
  const restarted = await c.node.waitForPod(NS, 'checkout-1', (p) => containerStatus(p, 'app')?.restartCount === 1 && isReady(p), 'Ready again after the restart');
  expect(cond(restarted, 'podhooks.io/online')).toEqual(cond(approved, 'podhooks.io/online'));
  expect(await endpointIs('checkout-1', true)).toBe(true);

  const offline = await runPodhooks(['offline', 'checkout-1', '--reason', 'investigating latency, INC-4411'], pipeline);
  expect([offline.code, offline.stdout, offline.stderr]).toEqual([0, 'pod/checkout-1 offline\n', '']);
  const out = await c.node.waitForPod(NS, 'checkout-1', (p) => cond(p, 'Ready')?.status === 'False', 'not Ready once offline');
  expect(cond(out, 'podhooks.io/online')).toMatchObject({ status: 'False', reason: 'PodhooksOffline', message: `taken offline by ${PIPELINE}: investigating latency, INC-4411` });
  expect(await endpointIs('checkout-1', false)).toBe(true);
  // The same pod, still running, not restarted: only its Service membership changed.
  const after = await read('checkout-1');
  expect([after.metadata!.uid, after.status!.phase, after.metadata!.deletionTimestamp, containerStatus(after, 'app')!.restartCount, containerStatus(after, 'app')!.ready])
    .toEqual([approved.metadata!.uid, 'Running', undefined, 1, true]);
  expect(cond(after, 'Ready')).toMatchObject({ status: 'False', reason: 'ReadinessGatesNotReady' });
  const events = (await c.node.events(NS, 'checkout-1')).filter((e) => e.startsWith('Podhooks'));
  expect(events.sort()).toEqual([
    `PodhooksOffline: traffic withdrawn by ${PIPELINE} (was online): investigating latency, INC-4411`,
    `PodhooksOnline: traffic approved by ${PIPELINE} (was offline): smoke tests passed (build 812)`,
  ]);
});
