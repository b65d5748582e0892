// What the hooks do to a pod beyond the golden files: probe timing that does not depend
// on where the pod comes from, the preOnline runner's context, and the startup probe
// that keeps a slow preStart hook from being killed.
import type { V1Container, V1Pod, V1Probe } from '@kubernetes/client-node';
import { parseConfig } from '../../src/config';
import { injectPod } from '../../src/mutate/inject';
import { uninject } from '../../src/mutate/uninject';
import { EXEC_SLACK_SECONDS, K8S_PROBE_DEFAULTS } from '../../src/mutate/probes';
import { STOP_GRACE_SECONDS } from '../../src/mutate/prestart';

const config = parseConfig({});
function pod(containers: V1Container[], annotations: Record<string, string>, spec: Partial<V1Pod['spec']> = {}): V1Pod {
  return { metadata: { name: 'p', namespace: 'shop', annotations }, spec: { containers, ...spec } };
}
const PRE_ONLINE = { 'podhooks.io/pre-online': './warm', 'podhooks.io/check-url': 'http://localhost:8080/health' };
const inject = (p: V1Pod) => {
  const r = injectPod(p, { config, nativeSidecars: true });
  expect(r.errors).toEqual([]);
  return r.pod;
};
const container = (p: V1Pod, name: string) => [...p.spec!.containers, ...(p.spec!.initContainers ?? [])].find((c) => c.name === name)!;

describe('probe timing is the user\'s', () => {
  const probes: [string, V1Probe][] = [
    ['httpGet', { httpGet: { path: '/health', port: 8080 } }],
    ['tcpSocket', { tcpSocket: { port: 8080 }, periodSeconds: 3 }],
    ['exec', { exec: { command: ['/bin/ready'] }, timeoutSeconds: 7, failureThreshold: 1 }],
  ];
  test.each(probes)('%s: `podhooks inject` (fields unset) and the webhook (fields the apiserver defaulted) give the same probe', (_kind, probe) => {
    const defaulted = { ...K8S_PROBE_DEFAULTS, ...probe };
    for (const kind of ['readinessProbe', 'livenessProbe'] as const) {
      const annotations = kind === 'readinessProbe' ? PRE_ONLINE : { 'podhooks.io/debug': 'true' };
      const offline = inject(pod([{ name: 'app', image: 'a', [kind]: probe }], annotations));
      const webhook = inject(pod([{ name: 'app', image: 'a', [kind]: defaulted }], annotations));
      expect(container(offline, 'app')[kind]).toEqual(container(webhook, 'app')[kind]);
      const { exec, ...timing } = container(offline, 'app')[kind]!;
      const { httpGet: _h, tcpSocket: _t, exec: _e, ...userTiming } = defaulted;
      // A network check keeps the user's timeout; the exec probe around it gets
      // EXEC_SLACK_SECONDS more, so that probe.sh, not the kubelet, reports a timeout.
      const slack = probe.exec ? 0 : EXEC_SLACK_SECONDS;
      expect(timing).toEqual({ ...userTiming, timeoutSeconds: userTiming.timeoutSeconds + slack });
      const cmd = exec!.command!;
      expect(cmd[cmd.indexOf('--timeout') + 1]).toBe(String(defaulted.timeoutSeconds));
    }
  });

  test('a target without a readiness probe gets the documented gate-only probe', () => {
    const p = inject(pod([{ name: 'app', image: 'a' }], PRE_ONLINE));
    expect(container(p, 'app').readinessProbe).toEqual({
      initialDelaySeconds: 0,
      periodSeconds: 2,
      timeoutSeconds: 5,
      successThreshold: 1,
      failureThreshold: 3,
      exec: { command: ['/podhooks/bin/busybox', 'sh', '/podhooks/bin/probe.sh', '--require-online', '/podhooks/state', 'app', '--timeout', '5', '--', 'none'] },
    });
  });
});

describe('the preOnline runner works in the app\'s context', () => {
  const app: V1Container = {
    name: 'app',
    image: 'registry.example.com/app:1',
    env: [
      { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'requests.cpu', divisor: '1m' } } },
      { name: 'OTHER_CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', containerName: 'side' } } },
      { name: 'PODHOOKS_CHECK_URL', value: 'mine' },
    ],
    volumeMounts: [{ name: 'data', mountPath: '/data', mountPropagation: 'Bidirectional' }],
    securityContext: { privileged: true },
  };

  test('resource references keep naming the app container; mounts are read-only; the security context is the app\'s own', () => {
    const runner = container(inject(pod([app, { name: 'side', image: 's' }], PRE_ONLINE)), 'podhooks-preonline');
    expect(runner.image).toBe('registry.example.com/app:1');
    expect(runner.env!.slice(0, 2)).toEqual([
      { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'requests.cpu', divisor: '1m', containerName: 'app' } } },
      { name: 'OTHER_CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', containerName: 'side' } } },
    ]);
    expect(runner.env!.filter((e) => e.name === 'PODHOOKS_CHECK_URL')).toEqual([{ name: 'PODHOOKS_CHECK_URL', value: 'http://localhost:8080/health' }]);
    expect(runner.volumeMounts![0]).toEqual({ name: 'data', mountPath: '/data', mountPropagation: 'HostToContainer', readOnly: true });
    // Never more than the container it serves, and never less: exactly its context.
    expect(runner.securityContext).toEqual({ privileged: true });
    expect(runner.command).toEqual(['/podhooks/bin/busybox', 'sh', '/podhooks/bin/preonline.sh']);
  });

  test('an app without a security context gives the runner none (the pod\'s applies, as to the app)', () => {
    const runner = container(inject(pod([{ name: 'app', image: 'a' }], PRE_ONLINE)), 'podhooks-preonline');
    expect(runner.securityContext).toBeUndefined();
  });

  test('several targets: the main container\'s context; a list without the main: the first target\'s', () => {
    const three = [{ name: 'a', image: 'img-a' }, { name: 'b', image: 'img-b' }, { name: 'c', image: 'img-c' }];
    expect(container(inject(pod(three, { ...PRE_ONLINE, 'podhooks.io/containers': '*', 'kubectl.kubernetes.io/default-container': 'b' })), 'podhooks-preonline').image).toBe('img-b');
    const runner = container(inject(pod(three, { ...PRE_ONLINE, 'podhooks.io/containers': 'c,b' })), 'podhooks-preonline');
    expect(runner.image).toBe('img-b');
    expect(runner.env!.find((e) => e.name === 'PODHOOKS_TARGETS')!.value).toBe('b,c');
  });

  test('each target\'s readiness publishes its start in the state volume, which it mounts read-write', () => {
    const p = inject(pod([{ name: 'app', image: 'a' }], PRE_ONLINE));
    expect(container(p, 'app').volumeMounts).toEqual([
      { name: 'podhooks-bin', mountPath: '/podhooks/bin', readOnly: true },
      { name: 'podhooks-state', mountPath: '/podhooks/state' },
    ]);
  });
});

describe('a preStart target takes no traffic before the hook finished', () => {
  const PRE_START = { 'podhooks.io/pre-start': 'x' };
  const afterHook = (...conditions: string[]) => ({
    initialDelaySeconds: 0,
    periodSeconds: 2,
    timeoutSeconds: 5,
    successThreshold: 1,
    failureThreshold: 3,
    exec: { command: ['/podhooks/bin/busybox', 'sh', '/podhooks/bin/probe.sh', ...conditions, '--timeout', '5', '--', 'none'] },
  });

  test('without a readiness probe it gets one that passes once the app replaced the wrapper; uninject removes it', () => {
    const original = pod([{ name: 'app', image: 'a', command: ['/app'] }], PRE_START);
    const p = inject(original);
    expect(container(p, 'app').readinessProbe).toEqual(afterHook('--after-pre-start'));
    expect(container(uninject(p).pod, 'app')).toEqual(original.spec!.containers[0]);
  });

  test('with shareProcessNamespace it looks for the container\'s own first process', () => {
    const p = inject(pod([{ name: 'app', image: 'a', command: ['/app'] }], PRE_START, { shareProcessNamespace: true }));
    expect(container(p, 'app').readinessProbe).toEqual(afterHook('--after-pre-start', '--shared-pid'));
  });

  test('with preOnline too, one probe checks the gate and the hook\'s end', () => {
    const p = inject(pod([{ name: 'app', image: 'a', command: ['/app'] }], { ...PRE_START, ...PRE_ONLINE }, { shareProcessNamespace: true }));
    expect(container(p, 'app').readinessProbe).toEqual(afterHook('--require-online', '/podhooks/state', 'app', '--after-pre-start', '--shared-pid'));
    expect(JSON.parse(p.metadata!.annotations!['podhooks.io/status']).changed.app.readinessProbe).toBeNull();
  });

  test('a readiness probe of its own is kept: only the running app can answer it', () => {
    const readinessProbe: V1Probe = { httpGet: { path: '/ready', port: 8080 } };
    const p = inject(pod([{ name: 'app', image: 'a', command: ['/app'], readinessProbe }], PRE_START));
    expect(container(p, 'app').readinessProbe).toBe(readinessProbe);
  });

  test('a container that is only wrapped so that classic sidecars end with it gets no probe', () => {
    const classic = { config: parseConfig({ injection: { nativeSidecars: 'false' } }), nativeSidecars: false };
    const annotations = { ...PRE_START, 'podhooks.io/debug': 'true', 'podhooks.io/debug-container': 'side' };
    const r = injectPod(pod([{ name: 'app', image: 'a', command: ['/app'] }, { name: 'side', image: 's', command: ['/s'] }], annotations, { restartPolicy: 'Never' }), classic);
    expect(r.errors).toEqual([]);
    expect(container(r.pod, 'app').readinessProbe).toBeDefined();
    expect(container(r.pod, 'side').command![0]).toBe('/podhooks/bin/busybox');
    expect(container(r.pod, 'side').readinessProbe).toBeUndefined();
  });
});

describe('a slow preStart hook is never killed by liveness', () => {
  const budget = (p: V1Probe) => (p.initialDelaySeconds ?? 0) + p.failureThreshold! * p.periodSeconds!;

  test('liveness only: a startup probe runs the liveness check once the hook finished, with room for the hook first', () => {
    const liveness: V1Probe = { httpGet: { path: '/live', port: 8080 }, initialDelaySeconds: 45, periodSeconds: 7, failureThreshold: 2 };
    const p = inject(pod([{ name: 'app', image: 'a', command: ['/app'], livenessProbe: liveness }], { 'podhooks.io/pre-start': 'x', 'podhooks.io/pre-start-timeout': '100s' }));
    const c = container(p, 'app');
    expect(c.livenessProbe).toBe(liveness);
    const startup = c.startupProbe!;
    expect(startup.exec!.command).toEqual(['/podhooks/bin/busybox', 'sh', '/podhooks/bin/probe.sh', '--after-pre-start', '--timeout', '1', '--', 'http-get', 'http', '', '8080', '/live']);
    expect(startup).toMatchObject({ initialDelaySeconds: 0, periodSeconds: 7, successThreshold: 1 });
    expect(budget(startup)).toBeGreaterThanOrEqual(100 + STOP_GRACE_SECONDS + 45 + 2 * 7);
    expect(budget(startup)).toBeLessThan(100 + STOP_GRACE_SECONDS + 45 + 2 * 7 + 7);
  });

  test('an existing startup probe keeps its check and timing, its budget extended by the hook timeout', () => {
    const startupProbe: V1Probe = { exec: { command: ['/started'] }, initialDelaySeconds: 3, periodSeconds: 4, failureThreshold: 10, timeoutSeconds: 2 };
    const p = inject(pod([{ name: 'app', image: 'a', command: ['/app'], startupProbe }], { 'podhooks.io/pre-start': 'x' }));
    const startup = container(p, 'app').startupProbe!;
    expect(startup).toMatchObject({ initialDelaySeconds: 3, periodSeconds: 4, timeoutSeconds: 2, failureThreshold: 10 + Math.ceil((300 + STOP_GRACE_SECONDS) / 4) });
    expect(startup.exec!.command).toEqual(['/podhooks/bin/busybox', 'sh', '/podhooks/bin/probe.sh', '--after-pre-start', '--timeout', '2', '--', 'exec', '/started']);
  });

  test('with shareProcessNamespace the probe looks for the container\'s own first process', () => {
    const p = inject(pod([{ name: 'app', image: 'a', command: ['/app'], livenessProbe: { tcpSocket: { port: 1 } } }], { 'podhooks.io/pre-start': 'x' }, { shareProcessNamespace: true }));
    expect(container(p, 'app').startupProbe!.exec!.command).toContain('--shared-pid');
  });

  test('no liveness or startup probe: nothing can kill the container during the hook, so none is added', () => {
    const p = inject(pod([{ name: 'app', image: 'a', command: ['/app'], readinessProbe: { tcpSocket: { port: 1 } } }], { 'podhooks.io/pre-start': 'x' }));
    expect(container(p, 'app').startupProbe).toBeUndefined();
    expect(container(p, 'app').readinessProbe).toEqual({ tcpSocket: { port: 1 } });
  });

  test('the hook timeout reaches the wrapper', () => {
    const p = inject(pod([{ name: 'app', image: 'a', command: ['/app'] }], { 'podhooks.io/pre-start': 'x', 'podhooks.io/pre-start-timeout': '2m' }));
    expect(container(p, 'app').env).toContainEqual({ name: 'PODHOOKS_PRE_START_TIMEOUT_SECONDS', value: '120' });
  });
});
