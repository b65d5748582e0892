// The authorization init container on a real node: a 20-replica Deployment registers
// every pod with the reference authorization service, which listens on the node bridge's
// address (the only host address pods reach). No pod is lost, every registration carries
// the pod's real IP, and the service's capacity is never exceeded.
import { startService, type Service } from '../authz-service/harness';
import { containerStatus, isReady, RESTRICTED, startCluster, type Cluster } from './harness/cluster';
import { eventually } from '../e2e/harness/webhooks';
import { BRIDGE_IP } from './harness/node';

jest.setTimeout(600_000);

const NS = 'acl';
const REPLICAS = 20;
const RATE = 2; // pods per second per app (authz.ratePerApp)
const BURST = 2;
const CAPACITY = 4; // concurrent requests the service takes before it answers 429
let c: Cluster;
let service: Service;

beforeAll(async () => {
  c = await startCluster(async () => {
    service = await startService(['--host', BRIDGE_IP, '--capacity', String(CAPACITY), '--latency-ms', '100']);
    return { authz: { url: service.url, ratePerApp: RATE, burstPerApp: BURST } };
  });
  await c.namespace(NS);
});

afterAll(async () => {
  await c?.stop();
  await service?.stop();
});

test(`a ${REPLICAS}-replica Deployment registers every pod, paced, within the service's capacity`, async () => {
  const labels = { 'app.kubernetes.io/name': 'ledger' };
  await c.apps.createNamespacedDeployment({
    namespace: NS,
    body: {
      metadata: { name: 'ledger' },
      spec: {
        replicas: REPLICAS,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels, annotations: { 'podhooks.io/authz': 'true' } },
          spec: {
            terminationGracePeriodSeconds: 5,
            containers: [{
              name: 'app',
              image: c.node.images.static.ref,
              ports: [{ containerPort: 8080 }, { containerPort: 8443 }],
              readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 1 },
              resources: { requests: { cpu: '1m', memory: '8Mi' } },
              securityContext: RESTRICTED,
            }],
          },
        },
      },
    },
  });
  const pods = await eventually(`${REPLICAS} ledger pods Ready`, async () => {
    const list = await c.core.listNamespacedPod({ namespace: NS, labelSelector: 'app.kubernetes.io/name=ledger' });
    return list.items.length === REPLICAS && list.items.every(isReady) ? list.items : undefined;
  }, 300_000);

  const stats = await service.stats();
  // No pod lost: each registered once, with its real pod IP and the non-whitelisted port.
  expect(stats.registrations).toBe(REPLICAS);
  const registered = Object.entries(stats.pods).map(([uid, p]) => [uid, p.registered]);
  expect(registered.sort()).toEqual(pods.map((p) => [p.metadata!.uid, { podIP: p.status!.podIP, ports: [8443] }]).sort());
  for (const p of pods) {
    const init = containerStatus(p, 'podhooks-authz')!;
    expect([init.restartCount, init.state?.terminated?.exitCode]).toEqual([0, 0]);
  }
  // The service's limit held: never more requests at once than it takes, so no 429.
  expect([stats.rejected429, stats.peakConcurrency <= CAPACITY]).toEqual([0, true]);
  // Pacing at admission: offsets one interval apart (after the burst).
  const offsets = pods.map((p) => Number(p.metadata!.annotations!['podhooks.io/authz-start-offset-ms'])).sort((a, b) => a - b);
  expect(new Set(offsets).size).toBeGreaterThanOrEqual(REPLICAS - BURST + 1);
  const firstArrivals = Object.values(stats.pods).map((p) => p.arrivalsMs[0]).sort((a, b) => a - b);
  const perSecond = Math.max(...firstArrivals.map((t) => firstArrivals.filter((u) => u >= t && u < t + 1000).length));
  console.log(`authz on the node: offsets ${offsets.join(' ')} ms; first arrivals ${firstArrivals.join(' ')} ms; at most ${perSecond} in any second; peak concurrency ${stats.peakConcurrency}`);
});
