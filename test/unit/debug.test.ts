// Debug mode as a pure transformation: what it adds, the errors it refuses with, and
// that turning it off (uninject) gives back exactly the pod as written.
import { applyPatch, type Operation } from 'fast-json-patch';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { mutate } from '../../src/admission/handlers';
import { parseConfig } from '../../src/config';
import { jdwpAgent, socatCommand } from '../../src/mutate/debug';
import { injectPod } from '../../src/mutate/inject';
import { uninject } from '../../src/mutate/uninject';

const config = parseConfig({});

function pod(container: Partial<V1Container>, annotations: Record<string, string> = {}, extra: Partial<V1Pod['spec']> = {}): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'dev', annotations: { 'podhooks.io/debug': 'true', ...annotations } },
    spec: { containers: [{ name: 'app', image: 'java:17', ...container }], ...extra },
  };
}

function inject(p: V1Pod, native = true) {
  return injectPod(p, { config, nativeSidecars: native });
}

const app = (p: V1Pod) => p.spec!.containers.find((c) => c.name === 'app')!;
const env = (p: V1Pod, name: string) => app(p).env?.find((e) => e.name === name);
const AGENT = '-agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address=127.0.0.1:15005';

describe('what debug mode adds', () => {
  test('envFrom without an explicit JAVA_TOOL_OPTIONS gets a short warning, which the webhook returns', async () => {
    const fromEnvFrom = pod({ command: ['java'], envFrom: [{ configMapRef: { name: 'jvm' } }] });
    const r = inject(fromEnvFrom);
    expect(r.warnings).toEqual(['podhooks debug: container app uses envFrom; a JAVA_TOOL_OPTIONS from it is overridden, set it in env']);
    expect(r.warnings[0].length).toBeLessThanOrEqual(120);
    const answer = await mutate({ uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'dev', object: fromEnvFrom }, { config, nativeSidecars: true });
    expect([answer.decision, answer.response.warnings]).toEqual(['patched', r.warnings]);
    // An explicit env entry is appended to, so there is nothing to warn about.
    expect(inject(pod({ command: ['java'], envFrom: [{ configMapRef: { name: 'jvm' } }], env: [{ name: 'JAVA_TOOL_OPTIONS', value: '-Xmx1g' }] })).warnings).toEqual([]);
    expect(inject(pod({ command: ['java'] })).warnings).toEqual([]);
  });

  test('the JDWP agent listens on loopback only, at the configured JVM port', () => {
    const r = inject(pod({}));
    expect(r.errors).toEqual([]);
    expect(env(r.pod, 'JAVA_TOOL_OPTIONS')).toEqual({ name: 'JAVA_TOOL_OPTIONS', value: AGENT });
    expect(jdwpAgent(15005, true)).toContain('suspend=y');
    const custom = injectPod(pod({}), { config: parseConfig({ debug: { jvmPort: 16000 } }), nativeSidecars: true });
    expect(env(custom.pod, 'JAVA_TOOL_OPTIONS')!.value).toContain('address=127.0.0.1:16000');
  });

  test('debug-suspend=true makes the JVM wait for a debugger', () => {
    const r = inject(pod({}, { 'podhooks.io/debug-suspend': 'true' }));
    expect(env(r.pod, 'JAVA_TOOL_OPTIONS')!.value).toContain('suspend=y');
  });

  test('the socat sidecar forwards the debug port to the JVM and passes PSS restricted', () => {
    for (const native of [true, false]) {
      const r = inject(pod({}, { 'podhooks.io/debug-port': '7000' }), native);
      const list = native ? r.pod.spec!.initContainers! : r.pod.spec!.containers;
      const socat = list.find((c) => c.name === 'podhooks-debug')!;
      expect(socat.command).toEqual(socatCommand(7000, 15005));
      expect(socat.command).toEqual(['socat', '-d', '-d', 'TCP-LISTEN:7000,bind=127.0.0.1,fork,reuseaddr', 'TCP:127.0.0.1:15005']);
      expect(socat.ports).toEqual([{ name: 'jdwp', containerPort: 7000, protocol: 'TCP' }]);
      expect(socat.restartPolicy).toBe(native ? 'Always' : undefined);
      expect(socat.securityContext).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(socat.resources?.limits).toBeDefined();
    }
  });

  test('the debug port is private (127.0.0.1) unless the config or the namespace allows the network, then from one CIDR', async () => {
    expect(socatCommand(5005, 15005, '10.20.0.0/16')).toEqual(['socat', '-d', '-d', 'TCP-LISTEN:5005,fork,reuseaddr,range=10.20.0.0/16', 'TCP:127.0.0.1:15005']);
    expect(socatCommand(5005, 15005, 'fd00:10::/64')[3]).toBe('TCP6-LISTEN:5005,fork,reuseaddr,range=[fd00:10::]/64');
    const listen = (p: V1Pod) => p.spec!.initContainers!.find((c) => c.name === 'podhooks-debug')!.command![3];
    const review = (namespace: string) => ({ uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE' as const, namespace, object: pod({ command: ['java'] }) });
    const decide = async (cfg: ReturnType<typeof parseConfig>, labels: Record<string, Record<string, string>> | undefined, namespace = 'dev') => {
      const request = review(namespace);
      const answer = await mutate(request, {
        config: cfg,
        nativeSidecars: true,
        ...(labels ? { namespaces: { labels: async (ns: string) => (labels[ns] ? labels[ns] : Promise.reject(new Error(`reading labels of namespace ${ns} timed out after 1000 ms`))) } } : {}),
      });
      const patch = JSON.parse(Buffer.from(answer.response.patch!, 'base64').toString()) as Operation[];
      const injected = applyPatch(JSON.parse(JSON.stringify(request.object)), patch, true).newDocument as V1Pod;
      return { listen: listen(injected), warnings: answer.response.warnings };
    };
    const exposed = parseConfig({ debug: { network: { allowFrom: '10.20.0.0/16' } } });
    const labels = { dev: { 'podhooks.io/debug-network': 'allowed' }, qa: { 'podhooks.io/debug-network': 'no' } };
    // Default config: private everywhere, whatever the labels say.
    expect(await decide(config, labels)).toEqual({ listen: 'TCP-LISTEN:5005,bind=127.0.0.1,fork,reuseaddr', warnings: undefined });
    // allowFrom set: only the labelled namespace gets the network, from that CIDR.
    expect(await decide(exposed, labels)).toEqual({ listen: 'TCP-LISTEN:5005,fork,reuseaddr,range=10.20.0.0/16', warnings: undefined });
    expect(await decide(exposed, labels, 'qa')).toEqual({ listen: 'TCP-LISTEN:5005,bind=127.0.0.1,fork,reuseaddr', warnings: undefined });
    // Labels that cannot be read keep it private, and the answer says so.
    expect(await decide(exposed, labels, 'prod')).toEqual({
      listen: 'TCP-LISTEN:5005,bind=127.0.0.1,fork,reuseaddr',
      warnings: ['podhooks debug: port stays on 127.0.0.1 (kubectl port-forward); reading labels of namespace prod timed out after 1000 ms'],
    });
    expect((await decide(exposed, undefined)).warnings).toEqual(['podhooks debug: port stays on 127.0.0.1 (kubectl port-forward); namespace labels cannot be read']);
    // allNamespaces: no label needed.
    expect((await decide(parseConfig({ debug: { network: { allowFrom: '10.20.0.0/16', allNamespaces: true } } }), undefined)).listen).toBe('TCP-LISTEN:5005,fork,reuseaddr,range=10.20.0.0/16');
    expect(() => parseConfig({ debug: { network: { allNamespaces: true } } })).toThrow('debug.network.allNamespaces: needs debug.network.allowFrom, the CIDR debuggers connect from (got true)');
    expect(() => parseConfig({ debug: { network: { allowFrom: '0.0.0.0' } } })).toThrow(/debug\.network\.allowFrom: must be a CIDR/);
  });

  test('liveness and startup probes tolerate a debugger, keep their check and timing; readiness is untouched', () => {
    const readinessProbe = { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 3 };
    const r = inject(pod({
      ports: [{ name: 'http', containerPort: 8080 }],
      livenessProbe: { httpGet: { path: '/live', port: 'http', httpHeaders: [{ name: 'X-A', value: 'b:c' }] }, failureThreshold: 7, timeoutSeconds: 3 },
      startupProbe: { tcpSocket: { port: 8080 }, failureThreshold: 60 },
      readinessProbe,
    }));
    const c = app(r.pod);
    // Unset timing fields get Kubernetes' defaults, as the apiserver would fill them in.
    // The network check keeps the user's timeout; the exec probe around it gets a second
    // more, so that probe.sh reports the timeout before the kubelet cuts it off.
    expect(c.livenessProbe).toEqual({
      initialDelaySeconds: 0,
      periodSeconds: 10,
      successThreshold: 1,
      failureThreshold: 7,
      timeoutSeconds: 4,
      exec: { command: ['/podhooks/bin/busybox', 'sh', '/podhooks/bin/probe.sh', '--jdwp-port', '15005', '--timeout', '3', '--', 'http-get', 'http', '', '8080', '/live', 'X-A:b:c'] },
    });
    expect(c.startupProbe).toEqual({
      initialDelaySeconds: 0,
      periodSeconds: 10,
      successThreshold: 1,
      failureThreshold: 60,
      timeoutSeconds: 2,
      exec: { command: ['/podhooks/bin/busybox', 'sh', '/podhooks/bin/probe.sh', '--jdwp-port', '15005', '--timeout', '1', '--', 'tcp', '', '8080'] },
    });
    expect(c.readinessProbe).toBe(readinessProbe);
    expect(c.volumeMounts).toEqual([{ name: 'podhooks-bin', mountPath: '/podhooks/bin', readOnly: true }]);
  });

  test('a container without liveness or startup probe gets none, and no tools init container', () => {
    const r = inject(pod({}));
    expect(app(r.pod).livenessProbe).toBeUndefined();
    expect(app(r.pod).startupProbe).toBeUndefined();
    expect(r.pod.spec!.initContainers!.map((c) => c.name)).toEqual(['podhooks-debug']);
    expect(r.pod.spec!.volumes).toBeUndefined();
  });

  test('an existing JAVA_TOOL_OPTIONS keeps its value and position, the agent is appended', () => {
    const r = inject(pod({ env: [{ name: 'A', value: '1' }, { name: 'JAVA_TOOL_OPTIONS', value: '-Xmx1g' }, { name: 'B', value: '2' }] }));
    expect(app(r.pod).env).toEqual([{ name: 'A', value: '1' }, { name: 'JAVA_TOOL_OPTIONS', value: `-Xmx1g ${AGENT}` }, { name: 'B', value: '2' }]);
  });

  test('JAVA_TOOL_OPTIONS from valueFrom is kept under another name and referenced with $(...)', () => {
    const valueFrom = { configMapKeyRef: { name: 'jvm', key: 'opts' } };
    const r = inject(pod({ env: [{ name: 'JAVA_TOOL_OPTIONS', valueFrom }, { name: 'B', value: '2' }] }));
    expect(app(r.pod).env).toEqual([
      { name: 'PODHOOKS_USER_JAVA_TOOL_OPTIONS', valueFrom },
      { name: 'JAVA_TOOL_OPTIONS', value: `$(PODHOOKS_USER_JAVA_TOOL_OPTIONS) ${AGENT}` },
      { name: 'B', value: '2' },
    ]);
  });

  test('debug works together with preStart and preOnline on the same container', () => {
    const r = inject(pod(
      { command: ['java', '-jar', 'a.jar'], livenessProbe: { tcpSocket: { port: 8080 } }, readinessProbe: { tcpSocket: { port: 8080 } } },
      { 'podhooks.io/pre-start': 'echo hi', 'podhooks.io/pre-online': 'echo on', 'podhooks.io/check-url': 'http://localhost:8080/' },
    ));
    expect(r.errors).toEqual([]);
    const c = app(r.pod);
    expect(c.livenessProbe!.exec!.command).toContain('--jdwp-port');
    expect(c.readinessProbe!.exec!.command).toContain('--require-online');
    // preStart's startup probe (from the liveness check) also passes while a debugger is attached.
    expect(c.startupProbe!.exec!.command).toEqual([
      '/podhooks/bin/busybox', 'sh', '/podhooks/bin/probe.sh', '--jdwp-port', '15005', '--after-pre-start', '--timeout', '1', '--', 'tcp', '', '8080',
    ]);
    expect(c.volumeMounts!.filter((m) => m.name === 'podhooks-bin')).toHaveLength(1);
    expect(env(r.pod, 'JAVA_TOOL_OPTIONS')!.value).toBe(AGENT);
  });
});

describe('turning debug off restores the pod exactly', () => {
  const variants: [string, V1Pod][] = [
    ['no env, no probes', pod({})],
    ['literal JAVA_TOOL_OPTIONS in the middle', pod({ env: [{ name: 'A', value: '1' }, { name: 'JAVA_TOOL_OPTIONS', value: '-Xmx1g' }, { name: 'B', value: '2' }] })],
    ['empty JAVA_TOOL_OPTIONS entry without value', pod({ env: [{ name: 'JAVA_TOOL_OPTIONS' }] })],
    ['valueFrom JAVA_TOOL_OPTIONS', pod({ env: [{ name: 'JAVA_TOOL_OPTIONS', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] })],
    ['all probe kinds and mounts', pod({
      volumeMounts: [{ name: 'data', mountPath: '/data' }],
      livenessProbe: { grpc: { port: 9090, service: 'x' }, periodSeconds: 4 },
      startupProbe: { exec: { command: ['/bin/check'] } },
      readinessProbe: { tcpSocket: { port: 9090 } },
    })],
    ['classic sidecar with preStart', pod({ command: ['java'], livenessProbe: { tcpSocket: { port: 1 } } }, { 'podhooks.io/pre-start': 'echo hi' })],
  ];
  test.each(variants)('%s', (_label, original) => {
    for (const native of [true, false]) {
      const injected = inject(original, native);
      expect(injected.errors).toEqual([]);
      expect(injected.changed).toBe(true);
      expect(uninject(injected.pod).pod).toEqual(original);
      // Annotation "false" on the injected pod: the un-debugged pod (annotation kept as written).
      const off = structuredClone(injected.pod);
      off.metadata!.annotations!['podhooks.io/debug'] = 'false';
      const expected = structuredClone(original);
      expected.metadata!.annotations!['podhooks.io/debug'] = 'false';
      const result = inject(off, native);
      if (original.metadata!.annotations!['podhooks.io/pre-start']) {
        expect(app(result.pod).livenessProbe).toEqual(app(original).livenessProbe);
        expect(result.pod.spec!.initContainers?.some((c) => c.name === 'podhooks-debug')).toBeFalsy();
        expect(result.pod.spec!.containers.some((c) => c.name === 'podhooks-debug')).toBe(false);
      } else expect(result.pod).toEqual(expected);
    }
  });
});

describe('refusals name the annotation, the value and the fix', () => {
  const errors = (p: V1Pod, cfg = config) => injectPod(p, { config: cfg, nativeSidecars: true }).errors.join('\n');

  test('debug port colliding with a port of any container', () => {
    const p = pod({ ports: [{ name: 'http', containerPort: 8080 }] }, { 'podhooks.io/debug-port': '8080' });
    expect(errors(p)).toMatch(/annotation podhooks.io\/debug-port="8080": collides with containerPort 8080 \(http\) of container app; choose a port no container uses, e.g. 5005/);
    const side = pod({}, { 'podhooks.io/debug-container': 'app' });
    side.spec!.containers.push({ name: 'proxy', image: 'envoy', ports: [{ containerPort: 5005 }] });
    expect(errors(side)).toMatch(/annotation podhooks.io\/debug-port \(default 5005, config debug.defaultPort\)="5005": collides with containerPort 5005 of container proxy; choose a port no container uses, e.g. 5006/);
    const init = pod({}, {}, { initContainers: [{ name: 'sidecar', image: 'x', restartPolicy: 'Always', ports: [{ containerPort: 5005 }] }] });
    expect(errors(init)).toMatch(/collides with containerPort 5005 of container sidecar/);
  });

  test('debug port equal to the JVM port, and the JVM port taken by a container', () => {
    expect(errors(pod({}, { 'podhooks.io/debug-port': '15005' }))).toMatch(/debug-port="15005": is the JVM's own loopback JDWP port \(config debug.jvmPort\); choose another debug port/);
    expect(errors(pod({ ports: [{ containerPort: 15005 }] }))).toMatch(/config debug.jvmPort=15005: collides with containerPort 15005 of container app.*set debug.jvmPort in the podhooks config to a free port/);
  });

  test('unknown debug container, or several containers and none chosen', () => {
    expect(errors(pod({}, { 'podhooks.io/debug-container': 'nope' }))).toMatch(/podhooks.io\/debug-container="nope": must name one of the application containers \(app\)/);
    const two = pod({});
    two.spec!.containers.push({ name: 'b', image: 'x' });
    expect(errors(two)).toMatch(/the pod has 2 application containers; set podhooks.io\/debug-container to one of app, b/);
  });

  test('JAVA_TOOL_OPTIONS that cannot take the agent', () => {
    expect(errors(pod({ env: [{ name: 'JAVA_TOOL_OPTIONS', valueFrom: { configMapKeyRef: { name: 'jvm', key: 'o', optional: true } } }] }))).toMatch(
      /container app takes JAVA_TOOL_OPTIONS from an optional configMapKeyRef \(jvm\/o\), so podhooks cannot append the JDWP agent to it. Fix: make the reference non-optional/,
    );
    expect(errors(pod({ env: [{ name: 'JAVA_TOOL_OPTIONS', value: 'a' }, { name: 'JAVA_TOOL_OPTIONS', value: 'b' }] }))).toMatch(/sets JAVA_TOOL_OPTIONS 2 times in env; keep one/);
    expect(errors(pod({ env: [{ name: 'JAVA_TOOL_OPTIONS', value: '-agentlib:jdwp=transport=dt_socket,server=y,address=*:5005' }] }))).toMatch(/already loads a JDWP agent .*remove it/);
    expect(errors(pod({ env: [{ name: 'PODHOOKS_USER_JAVA_TOOL_OPTIONS', value: 'x' }] }))).toMatch(/a name podhooks reserves for debug mode; rename it/);
  });

  test('hostNetwork would open the debug and JDWP ports on the node', () => {
    expect(errors(pod({}, {}, { hostNetwork: true }))).toMatch(/podhooks.io\/debug="true": cannot be used with spec.hostNetwork/);
  });

  test('bad annotation values', () => {
    expect(errors(pod({}, { 'podhooks.io/debug-port': '70000' }))).toMatch(/debug-port="70000": must be a port number from 1 to 65535/);
    expect(errors(pod({}, { 'podhooks.io/debug-suspend': 'yes' }))).toMatch(/debug-suspend="yes": must be "true" or "false"/);
    expect(errors(pod({}, { 'podhooks.io/debug': 'on' }))).toMatch(/podhooks.io\/debug="on": must be "true" or "false"/);
  });
});
