// Debug mode on a real node: jdb on the host attaches through `kubectl port-forward` to the
// socat sidecar and stops the JVM (a jlinked JRE in a non-Debian image) at a breakpoint;
// the container is not restarted while the JVM is held longer than its original liveness
// budget. Without a debugger, a hung JVM is restarted as before.
import { spawn, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import type { V1Pod } from '@kubernetes/client-node';
import { eventually } from '../e2e/harness/webhooks';
import { freePort } from '../helpers/ports';
import { containerStatus, isRunning, RESTRICTED, startCluster, type Cluster } from './harness/cluster';

jest.setTimeout(300_000);

const NS = 'dev';
// The original liveness budget: a probe every 2 s, restart after 2 failures of 1 s each.
const LIVENESS = { httpGet: { path: '/health', port: 'http' }, periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 2 };
const STARTUP = { tcpSocket: { port: 'http' }, periodSeconds: 1, failureThreshold: 60 };
const BUDGET_MS = (LIVENESS.periodSeconds * LIVENESS.failureThreshold + LIVENESS.timeoutSeconds) * 1000;
let c: Cluster;
const children: ChildProcess[] = [];

function javaPod(name: string): V1Pod {
  return {
    metadata: { name, annotations: { 'podhooks.io/debug': 'true' } },
    spec: {
      terminationGracePeriodSeconds: 5,
      // The startup probe (a TCP check, rewritten like liveness) runs busybox nc in the pod.
      containers: [{ name: 'app', image: c.node.images.java.ref, ports: [{ name: 'http', containerPort: 8080 }], startupProbe: STARTUP, livenessProbe: LIVENESS, securityContext: RESTRICTED }],
    },
  };
}

/** GET on the pod IP from the host; resolves to the status, or 'timeout'. */
function get(url: string, timeoutMs = 1500): Promise<number | 'timeout' | 'error'> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => (res.resume(), resolve(res.statusCode!)));
    req.on('timeout', () => (req.destroy(), resolve('timeout')));
    req.on('error', () => resolve('error'));
  });
}

const restarts = async (name: string) => containerStatus(await c.core.readNamespacedPod({ name, namespace: NS }), 'app')?.restartCount;

beforeAll(async () => {
  c = await startCluster();
  await c.namespace(NS, { 'podhooks.io/debug': 'allowed' });
});

afterAll(async () => {
  for (const p of children) if (p.exitCode === null) p.kill('SIGKILL');
  await c?.stop();
});

test('jdb attaches through kubectl port-forward and holds the JVM at a breakpoint past its liveness budget without a restart', async () => {
  await c.core.createNamespacedPod({ namespace: NS, body: javaPod('orders') });
  const pod = await c.node.waitForPod(NS, 'orders', (p) => isRunning(p) && !!containerStatus(p, 'app')?.ready, 'the JVM running');
  const app = `http://${pod.status!.podIP}:8080`;
  await eventually('the JVM to answer', async () => ((await get(`${app}/health`)) === 200 ? true : undefined));
  expect(pod.spec!.containers[0].startupProbe!.exec!.command).toEqual(['/podhooks/bin/busybox', 'sh', '/podhooks/bin/probe.sh', '--jdwp-port', '15005', '--timeout', '1', '--', 'tcp', '', '8080']);
  expect([pod.spec!.containers[0].startupProbe!.timeoutSeconds, pod.spec!.containers[0].livenessProbe!.timeoutSeconds]).toEqual([2, 2]);
  await c.node.waitForPod(NS, 'orders', (p) => containerStatus(p, 'app')?.started === true, 'the rewritten TCP startup probe to pass');
  expect(c.node.logs(NS, 'orders', 'app')).toContain('Picked up JAVA_TOOL_OPTIONS: -agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address=127.0.0.1:15005');

  const local = await freePort();
  const forward = c.node.kubectlSpawn(['-n', NS, 'port-forward', 'pod/orders', `${local}:5005`]);
  let forwarded = '';
  forward.stdout!.on('data', (d) => (forwarded += d));
  await eventually('kubectl port-forward to listen', async () => (forwarded.includes(`Forwarding from 127.0.0.1:${local}`) ? true : undefined));

  const jdb = spawn('jdb', ['-connect', `com.sun.jdi.SocketAttach:hostname=127.0.0.1,port=${local}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(jdb);
  let out = '';
  jdb.stdout!.on('data', (d) => (out += d));
  jdb.stderr!.on('data', (d) => (out += d));
  await eventually('jdb to attach', async () => (/Initializing jdb|> $/m.test(out) ? true : undefined));
  jdb.stdin!.write('stop in App.work\n');
  await eventually('the breakpoint to be set', async () => (/Set breakpoint App\.work/.test(out) ? true : undefined));
  void get(`${app}/work`, 120_000);
  await eventually('the breakpoint to be hit', async () => (/Breakpoint hit: .*App\.work/.test(out) ? true : undefined));

  // Held: the JVM answers nothing (the original probe would fail), for three liveness budgets.
  const heldSince = Date.now();
  expect(await get(`${app}/health`)).toBe('timeout');
  await new Promise((r) => setTimeout(r, 3 * BUDGET_MS));
  expect(await get(`${app}/health`)).toBe('timeout');
  expect(Date.now() - heldSince).toBeGreaterThan(BUDGET_MS);
  expect(await restarts('orders')).toBe(0);

  jdb.stdin!.write('clear App.work\n');
  await eventually('the breakpoint to be cleared', async () => (/Removed: breakpoint App\.work/.test(out) ? true : undefined));
  jdb.stdin!.write('exit\n');
  await eventually('the JVM to answer again', async () => ((await get(`${app}/health`)) === 200 ? true : undefined));
  forward.kill();
  expect(await restarts('orders')).toBe(0);
  expect((await c.node.events(NS, 'orders')).filter((e) => e.startsWith('Killing'))).toEqual([]);
});

test('without a debugger, a hung JVM fails its liveness probe and is restarted', async () => {
  await c.core.createNamespacedPod({ namespace: NS, body: javaPod('hung') });
  const pod = await c.node.waitForPod(NS, 'hung', (p) => !!containerStatus(p, 'app')?.ready, 'the JVM running');
  const app = `http://${pod.status!.podIP}:8080`;
  await eventually('the JVM to answer', async () => ((await get(`${app}/health`)) === 200 ? true : undefined));
  expect(await get(`${app}/hang`)).toBe(200);
  await c.node.waitForPod(NS, 'hung', (p) => (containerStatus(p, 'app')?.restartCount ?? 0) >= 1, 'the hung JVM to be restarted');
  const events = await c.node.events(NS, 'hung');
  // podhooks' own message: the exec probe has a second more than the network check
  // inside it (the user's 1 s), so the kubelet does not cut it off first.
  const unhealthy = events.filter((e) => e.startsWith('Unhealthy: Liveness'));
  expect(unhealthy.length).toBeGreaterThan(0);
  for (const e of unhealthy) expect(e.trimEnd()).toBe('Unhealthy: Liveness probe failed: podhooks: HTTP probe of http://127.0.0.1:8080/health timed out after 1s');
});
