// Jobs on a real node complete with podhooks' sidecars, native (init containers with
// restartPolicy Always, which the kubelet stops once the app has ended) and classic
// (injection.nativeSidecars "false": ordinary containers that end themselves once the
// app containers have ended, through the run FIFOs). Every injected container starts
// under PSS "restricted". A failing app fails its Job instead of leaving it running.
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { eventually } from '../e2e/harness/webhooks';
import { RESTRICTED, startCluster, type Cluster } from './harness/cluster';

jest.setTimeout(300_000);

const NS = 'batch';
const SIDECARS = ['podhooks-logs', 'podhooks-preonline', 'podhooks-debug'];

function job(c: Cluster, name: string, exitCode = 0): V1Job {
  return {
    metadata: { name },
    spec: {
      backoffLimit: 0,
      template: {
        metadata: {
          annotations: {
            'podhooks.io/pre-start': 'echo "hook: preparing the report"',
            // A batch app serves no check URL: the runner is still waiting when the app ends.
            'podhooks.io/pre-online': 'echo never',
            'podhooks.io/check-url': 'http://127.0.0.1:8080/healthz',
            'podhooks.io/debug': 'true',
          },
        },
        spec: {
          restartPolicy: 'Never',
          terminationGracePeriodSeconds: 5,
          containers: [{
            name: 'report',
            image: c.node.images.static.ref,
            command: ['/app', 'job'],
            env: [{ name: 'JOB_SECONDS', value: '3' }, { name: 'JOB_EXIT', value: String(exitCode) }, { name: 'JOB_MESSAGE', value: 'nightly report' }],
            securityContext: RESTRICTED,
          }],
        },
      },
    },
  };
}

async function jobPod(c: Cluster, name: string): Promise<V1Pod> {
  const pods = await c.core.listNamespacedPod({ namespace: NS, labelSelector: `job-name=${name}` });
  expect(pods.items).toHaveLength(1);
  return pods.items[0];
}

async function finished(c: Cluster, name: string): Promise<V1Job> {
  try {
    return await eventually(`job ${name} to finish`, async () => {
      const j = await c.batch.readNamespacedJob({ name, namespace: NS });
      return j.status?.conditions?.some((x) => (x.type === 'Complete' || x.type === 'Failed') && x.status === 'True') ? j : undefined;
    }, 120_000);
  } catch (err) {
    const pods = await c.core.listNamespacedPod({ namespace: NS, labelSelector: `job-name=${name}` });
    const described = await Promise.all(pods.items.map((p) => c.node.describePod(NS, p.metadata!.name!)));
    throw new Error(`${(err as Error).message}\n${described.join('\n')}`);
  }
}

describe.each([
  ['native sidecars', 'auto', true],
  ['classic sidecars (nativeSidecars "false")', 'false', false],
] as const)('with %s', (_label, nativeSidecars, native) => {
  let c: Cluster;

  beforeAll(async () => {
    c = await startCluster({ injection: { nativeSidecars } });
    await c.namespace(NS, { 'podhooks.io/debug': 'allowed' });
  });

  afterAll(async () => {
    await c?.stop();
  });

  test('a hooked Job completes; every container, injected ones included, ran under PSS restricted and ended with exit 0', async () => {
    await c.batch.createNamespacedJob({ namespace: NS, body: job(c, 'report') });
    const done = await finished(c, 'report');
    expect(done.status!.succeeded).toBe(1);
    const pod = await jobPod(c, 'report');
    expect(pod.status!.phase).toBe('Succeeded');
    const sidecars = (native ? pod.spec!.initContainers! : pod.spec!.containers).filter((x) => SIDECARS.includes(x.name));
    expect(sidecars.map((x) => [x.name, x.restartPolicy])).toEqual(SIDECARS.map((n) => [n, native ? 'Always' : undefined]));
    // The namespace enforces "restricted": the pod exists, so every container passed; and each one ran.
    const statuses = [...pod.status!.initContainerStatuses!, ...pod.status!.containerStatuses!];
    expect(statuses.map((s) => [s.name, s.state?.terminated?.exitCode ?? s.lastState?.terminated?.exitCode ?? 'not terminated']).sort()).toEqual(
      ['podhooks-tools', 'report', ...SIDECARS].map((n) => [n, native && SIDECARS.includes(n) ? expect.anything() : 0]).sort(),
    );
    const log = c.node.logs(NS, pod.metadata!.name!, 'report');
    expect(log.indexOf('hook: preparing the report')).toBeGreaterThanOrEqual(0);
    expect(log.indexOf('app: job pid 1: nightly report')).toBeGreaterThan(log.indexOf('hook: preparing the report'));
    if (!native) {
      expect(c.node.logs(NS, pod.metadata!.name!, 'podhooks-logs')).toContain('podhooks: logstream: the app containers have ended');
      expect(c.node.logs(NS, pod.metadata!.name!, 'podhooks-preonline')).toContain('pre-online: the app containers have ended; stopping');
      expect(c.node.logs(NS, pod.metadata!.name!, 'podhooks-debug')).toContain('podhooks: the app containers have ended; stopping socat');
    }
  });

  test('a Job whose app fails is marked Failed, not left running', async () => {
    await c.batch.createNamespacedJob({ namespace: NS, body: job(c, 'broken', 3) });
    const done = await finished(c, 'broken');
    expect(done.status!.failed).toBe(1);
    const pod = await jobPod(c, 'broken');
    expect(pod.status!.phase).toBe('Failed');
    expect(pod.status!.containerStatuses!.find((s) => s.name === 'report')!.state!.terminated!.exitCode).toBe(3);
  });
});
