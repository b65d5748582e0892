// preStart on a real node: the wrapper runs the hook inside the app container (an image
// with no shell or libc of its own), before the app, with the app's env; the hook's
// output is live in `kubectl logs -c podhooks-logs -f` and in the app's log; the app is
// PID 1 and gets SIGTERM; a failing hook stops the container with the hook's exit code
// and a termination message. An image-only container is resolved through a real
// registry, which containerd then pulls from. While the hook runs the pod is not ready
// (not in its Service), liveness does not kill it, and a hook past its timeout is stopped.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiscoveryV1Api, type V1Pod } from '@kubernetes/client-node';
import { eventually } from '../e2e/harness/webhooks';
import { startRegistry, stopRegistries, type Registry } from '../helpers/registry';
import { containerStatus, isReady, RESTRICTED, startCluster, type Cluster } from './harness/cluster';
import { startHostServer, type HostServer } from './harness/host-server';
import { pushBuiltImage } from './harness/push';

jest.setTimeout(300_000);

const NS = 'hooks';
let c: Cluster;
let host: HostServer;
let registry: Registry;
let registryDir: string;

function pod(name: string, annotations: Record<string, string>, spec: Partial<V1Pod['spec']> & { image?: string; command?: string[]; env?: Record<string, string> } = {}): V1Pod {
  const { image, command, env, ...rest } = spec;
  return {
    metadata: { name, annotations },
    spec: {
      terminationGracePeriodSeconds: 10,
      ...rest,
      containers: [{
        name: 'app',
        image: image ?? c.node.images.static.ref,
        ...(command ? { command } : {}),
        env: Object.entries({ NOTIFY_URL: `${host.url}/events`, ...env }).map(([n, value]) => ({ name: n, value })),
        securityContext: RESTRICTED,
      }],
    },
  };
}

/**
 * The app container's log once the app has logged that it serves. Ready does not imply
 * that line: the app prints it after the wrapper exec'd it, on its own schedule.
 */
function appLog(name: string): Promise<string> {
  return eventually(`pod ${name}: the app to log that it serves`, async () => {
    const log = c.node.logs(NS, name, 'app');
    return log.includes('app: pid 1 serving') ? log : undefined;
  });
}

beforeAll(async () => {
  registryDir = mkdtempSync(join(tmpdir(), 'podhooks-node-registry-'));
  registry = await startRegistry(registryDir, 'node');
  // A loopback registry is not public: podhooks reads from it only because it is listed.
  c = await startCluster({ registry: { insecureRegistries: [registry.host], allowedRegistries: [registry.host] } });
  c.node.trustRegistry(registry.host);
  host = await startHostServer();
  await c.namespace(NS);
});

afterAll(async () => {
  await host?.stop();
  await c?.stop();
  await stopRegistries();
  rmSync(registryDir, { recursive: true, force: true });
});

test('the hook runs in the app container before the app, with its env, live in kubectl logs -f; the app is PID 1 and gets SIGTERM', async () => {
  const hook = [
    'echo "hook: GREETING=$GREETING, pid $$"',
    'echo "hook: waiting for the go-ahead"',
    `until wget -q -O /dev/null ${host.url}/gate/prestart; do sleep 1; done`,
    'echo "hook: done"',
  ].join('\n');
  await c.core.createNamespacedPod({ namespace: NS, body: pod('web', { 'podhooks.io/pre-start': hook }, { command: ['/app', 'serve'], env: { GREETING: 'hello from the spec' } }) });

  // While the hook waits for the gate, its first lines are already in the streamer's log.
  await c.node.waitForPod(NS, 'web', (p) => !!containerStatus(p, 'podhooks-logs')?.state?.running, 'the log streamer running');
  const follow = c.node.kubectlSpawn(['-n', NS, 'logs', '-f', 'web', '-c', 'podhooks-logs']);
  let streamed = '';
  follow.stdout!.on('data', (d) => (streamed += d));
  await eventually('the hook output in kubectl logs -f', async () => (streamed.includes('[app pre-start] hook: waiting for the go-ahead') ? true : undefined));
  expect(streamed).toContain('[app pre-start] hook: GREETING=hello from the spec');
  expect(streamed).not.toContain('hook: done');

  host.open('prestart');
  await eventually('the rest of the hook in kubectl logs -f', async () => (streamed.includes('[app pre-start] hook: done') ? true : undefined));
  follow.kill();
  await c.node.waitForPod(NS, 'web', isReady, 'Ready');
  const lines = (await appLog('web')).split('\n');
  const at = (text: string) => lines.findIndex((l) => l.includes(text));
  // In order: the wrapper, the hook, the wrapper again, then the app as PID 1.
  expect([at('podhooks: pre-start hook for container app starting'), at('hook: GREETING=hello from the spec'), at('hook: done'), at('podhooks: pre-start hook for container app finished'), at('app: pid 1 serving')].every((v, i, a) => v >= 0 && (i === 0 || v > a[i - 1]))).toBe(true);

  await c.core.deleteNamespacedPod({ name: 'web', namespace: NS });
  const signal = await host.waitForEvent((e) => e.pod === 'web', 'the app to report its SIGTERM');
  expect(signal).toEqual({ event: 'signal terminated', pod: 'web', pid: '1' });
});

test('a failing hook stops the container with its exit code and a termination message; the app never starts', async () => {
  await c.core.createNamespacedPod({ namespace: NS, body: pod('broken', { 'podhooks.io/pre-start': 'echo "hook: cannot warm the cache"; exit 7' }, { command: ['/app', 'serve'], restartPolicy: 'Never' }) });
  const done = await c.node.waitForPod(NS, 'broken', (p) => !!containerStatus(p, 'app')?.state?.terminated, 'the app container to terminate');
  const terminated = containerStatus(done, 'app')!.state!.terminated!;
  expect(terminated.exitCode).toBe(7);
  expect(terminated.message).toBe('podhooks: pre-start hook for container app failed with exit code 7; the application was not started\n');
  const log = c.node.logs(NS, 'broken', 'app');
  expect(log).toContain('hook: cannot warm the cache');
  expect(log).not.toContain('app: pid');
});

test("in a Debian-like image the command's sh is the image's own shell, and the app it execs is PID 1", async () => {
  const script = 'echo "shell: $(ls -l /proc/$$/exe)"; exec /usr/local/bin/app serve';
  await c.core.createNamespacedPod({ namespace: NS, body: pod('slim', { 'podhooks.io/pre-start': 'echo "hook: in $(cat /etc/os-release | grep ^ID=)"' }, { image: c.node.images.debian.ref, command: ['sh', '-c', script] }) });
  await c.node.waitForPod(NS, 'slim', isReady, 'Ready');
  const log = await appLog('slim');
  expect(log).toContain('hook: in ID=debian');
  expect(log).toMatch(/shell: .* \/proc\/1\/exe -> \/bin\/dash/);
  expect(log).toContain('app: pid 1 serving');
});

test("an image-only container gets its ENTRYPOINT from the registry, and containerd pulls the image from it", async () => {
  const image = `${registry.host}/shop/static-app:1`;
  await pushBuiltImage({ base: registry.base }, 'shop/static-app', '1', c.node.images.static);
  const created = await c.core.createNamespacedPod({ namespace: NS, body: pod('pulled', { 'podhooks.io/pre-start': 'echo "hook: before the image entrypoint"' }, { image }) });
  expect(created.spec!.containers[0].command).toEqual(['/podhooks/bin/busybox', 'sh', '/podhooks/bin/wrapper.sh', '--', '/app', 'serve']);
  await c.node.waitForPod(NS, 'pulled', isReady, 'Ready');
  expect((await c.node.events(NS, 'pulled')).some((e) => e.startsWith('Pulled:') && e.includes(image))).toBe(true);
  const log = await appLog('pulled');
  expect(log.indexOf('hook: before the image entrypoint')).toBeGreaterThanOrEqual(0);
  expect(log.indexOf('app: pid 1 serving')).toBeGreaterThan(log.indexOf('hook: before the image entrypoint'));
});

/** The `ready` condition of the pod's endpoint in its Service's EndpointSlices (undefined: not listed). */
async function endpointReady(service: string, podName: string): Promise<boolean | undefined> {
  const slices = await c.cp.kubeConfig().makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace: NS, labelSelector: `kubernetes.io/service-name=${service}` });
  return slices.items.flatMap((s) => s.endpoints ?? []).find((e) => e.targetRef?.name === podName)?.conditions?.ready;
}

function served(p: V1Pod): V1Pod {
  const name = p.metadata!.name!;
  p.metadata!.labels = { app: name };
  p.spec!.containers[0].ports = [{ name: 'http', containerPort: 8080 }];
  return p;
}

test('while the hook runs the pod is not ready and not in its Service, though it has no readiness probe', async () => {
  await c.core.createNamespacedService({ namespace: NS, body: { metadata: { name: 'held' }, spec: { selector: { app: 'held' }, ports: [{ port: 80, targetPort: 'http' }] } } });
  const hook = `echo "hook: holding"; until wget -q -O /dev/null ${host.url}/gate/held; do sleep 1; done; echo "hook: done"`;
  await c.core.createNamespacedPod({ namespace: NS, body: served(pod('held', { 'podhooks.io/pre-start': hook }, { command: ['/app', 'serve'] })) });
  // The status that first shows the container running: the hook is running (its gate is
  // closed), and a container without a readiness probe would be ready in this very status.
  const running = await c.node.waitForPod(NS, 'held', (p) => !!containerStatus(p, 'app')?.state?.running, 'the container running (the hook)');
  expect(containerStatus(running, 'app')!.ready).toBe(false);
  expect(isReady(running)).toBe(false);
  expect(await eventually('the endpoint to be listed', () => endpointReady('held', 'held').then((r) => (r === undefined ? undefined : r)))).toBe(false);
  await eventually('the gate to say why', async () => ((await c.node.events(NS, 'held')).some((e) => e.includes('Readiness probe failed: podhooks: pre-start hook still running; the container has no readiness probe of its own and is ready once the hook has finished and the app has started')) ? true : undefined));
  expect(isReady(await c.core.readNamespacedPod({ name: 'held', namespace: NS }))).toBe(false);
  expect(c.node.logs(NS, 'held', 'app')).not.toContain('hook: done');

  host.open('held');
  await c.node.waitForPod(NS, 'held', isReady, 'Ready');
  expect(await eventually('the endpoint to be ready', () => endpointReady('held', 'held').then((r) => (r ? r : undefined)))).toBe(true);
  expect(await appLog('held')).toContain('hook: done');
});

test('a hook that outlasts the liveness budget many times over does not restart the container', async () => {
  // Liveness alone would kill the container 3 s after it started: a 1 s period, 2 failures.
  const liveness = { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 2 };
  const p = served(pod('slow', { 'podhooks.io/pre-start': 'echo "hook: migrating"; sleep 20; echo "hook: done"', 'podhooks.io/pre-start-timeout': '60s' }, { command: ['/app', 'serve'] }));
  p.spec!.containers[0].livenessProbe = liveness;
  await c.core.createNamespacedPod({ namespace: NS, body: p });
  const ready = await c.node.waitForPod(NS, 'slow', isReady, 'Ready after the hook', 120_000);
  expect(containerStatus(ready, 'app')!.restartCount).toBe(0);
  const log = await appLog('slow');
  expect(log.indexOf('app: pid 1 serving')).toBeGreaterThan(log.indexOf('hook: done'));
  const events = await c.node.events(NS, 'slow');
  // The startup probe held liveness back, saying why, and nothing was killed.
  expect(events.some((e) => e.startsWith("Unhealthy: Startup probe failed: podhooks: pre-start hook still running, so the app has not started; this probe runs the container's own HTTP check once the hook has finished (its failureThreshold allows for the hook's timeout)"))).toBe(true);
  expect(events.filter((e) => e.startsWith('Killing') || e.includes('Liveness probe failed'))).toEqual([]);
  // The original liveness probe applies from then on: the app answers it, still no restart.
  expect(ready.spec!.containers[0].livenessProbe).toMatchObject(liveness);
});

test('a hook past podhooks.io/pre-start-timeout is stopped; the container fails with exit code 124, saying so', async () => {
  await c.core.createNamespacedPod({ namespace: NS, body: pod('stalled', { 'podhooks.io/pre-start': 'echo "hook: waiting forever"; sleep 600', 'podhooks.io/pre-start-timeout': '5s' }, { command: ['/app', 'serve'] }) });
  const failed = await c.node.waitForPod(NS, 'stalled', (p) => !!containerStatus(p, 'app')?.lastState?.terminated, 'the hook to time out', 120_000);
  const terminated = containerStatus(failed, 'app')!.lastState!.terminated!;
  expect([terminated.exitCode, terminated.message]).toEqual([
    124,
    'podhooks: pre-start hook for container app did not finish within 5s (podhooks.io/pre-start-timeout) and was stopped; the application was not started\n',
  ]);
  const previous = c.node.logs(NS, 'stalled', 'app', true);
  expect(previous).toContain('hook: waiting forever');
  expect(previous).not.toContain('app: pid');
});
