// Which containers podhooks acts on: the main container by default, "*" for every
// application container, never what another injector added or the config excludes.
import type { V1Pod } from '@kubernetes/client-node';
import { parseConfig } from '../../src/config';
import { injectPod } from '../../src/mutate/inject';
import { containerRoles, globMatch, selectTargets } from '../../src/mutate/targets';

const config = parseConfig({});
function pod(containers: string[], annotations: Record<string, string> = {}): V1Pod {
  return { metadata: { name: 'p', namespace: 'shop', annotations }, spec: { containers: containers.map((name) => ({ name, image: `${name}:1`, command: [`/${name}`] })) } };
}
const ISTIO = { 'sidecar.istio.io/status': '{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["istio-envoy"],"imagePullSecrets":null,"revision":"default"}' };

describe('containerRoles', () => {
  test.each([
    ['Istio lists its containers in sidecar.istio.io/status', ['istio-proxy', 'app'], ISTIO, 'istio-proxy', 'was added by Istio (sidecar.istio.io/status)'],
    ['Istio status that is not JSON still marks its well-known names', ['app', 'istio-proxy'], { 'sidecar.istio.io/status': 'garbled' }, 'istio-proxy', 'was added by Istio (sidecar.istio.io/status)'],
    ['Linkerd', ['app', 'linkerd-proxy'], { 'linkerd.io/proxy-version': 'edge-24.1.1' }, 'linkerd-proxy', 'was added by Linkerd (linkerd.io/proxy-version)'],
    ['Vault agent', ['app', 'vault-agent'], { 'vault.hashicorp.com/agent-inject-status': 'injected' }, 'vault-agent', 'was added by Vault agent (vault.hashicorp.com/agent-inject-status)'],
    ['Dapr', ['app', 'daprd'], { 'dapr.io/enabled': 'true', 'dapr.io/app-id': 'shop' }, 'daprd', 'was added by Dapr (dapr.io/*)'],
  ])('%s', (_what, names, annotations, foreign, why) => {
    const roles = containerRoles(pod(names, annotations), []);
    expect(roles.foreign.get(foreign)).toBe(why);
    expect(roles.application).toEqual(['app']);
    expect(roles.main).toBe('app');
  });

  test('a well-known name without its injector\'s marker is the user\'s own container', () => {
    expect(containerRoles(pod(['istio-proxy', 'app']), []).application).toEqual(['istio-proxy', 'app']);
  });

  test('injection.excludedContainers takes names and globs', () => {
    const roles = containerRoles(pod(['app', 'metrics-agent', 'fluent-bit', 'log2']), ['metrics-*', 'log?', 'fluent-bit']);
    expect(roles.application).toEqual(['app']);
    expect(roles.foreign.get('log2')).toBe('is excluded by injection.excludedContainers');
    expect(globMatch('a.b*', 'a.bc')).toBe(true);
    expect(globMatch('a.b*', 'axbc')).toBe(false);
  });

  test('the main container is the default-container annotation, else the first application container', () => {
    expect(containerRoles(pod(['sidecar', 'app'], { 'kubectl.kubernetes.io/default-container': 'app' }), []).main).toBe('app');
    expect(containerRoles(pod(['istio-proxy', 'app', 'b'], ISTIO), []).main).toBe('app');
  });

  test('a default-container annotation podhooks cannot use is a problem to report, not a guess', () => {
    expect(containerRoles(pod(['app'], { 'kubectl.kubernetes.io/default-container': 'nope' }), []).mainProblem).toEqual({
      annotation: 'kubectl.kubernetes.io/default-container',
      value: 'nope',
      message: 'names no container of spec.containers (app); podhooks uses it to pick the container for the hooks. Fix it, or set podhooks.io/containers',
    });
    expect(containerRoles(pod(['app', 'istio-proxy'], { ...ISTIO, 'kubectl.kubernetes.io/default-container': 'istio-proxy' }), []).mainProblem?.message).toBe(
      'names container "istio-proxy", which was added by Istio (sidecar.istio.io/status); podhooks uses it to pick the container for the hooks. Fix it, or set podhooks.io/containers',
    );
  });
});

describe('selectTargets', () => {
  const p = pod(['app', 'worker', 'istio-proxy'], ISTIO);
  const roles = containerRoles(p, []);
  const all = ['app', 'worker', 'istio-proxy'];
  test.each([
    [undefined, { targets: ['app'] }],
    ['*', { targets: ['app', 'worker'] }],
    [' worker , app ', { targets: ['app', 'worker'] }],
    ['app,app', { targets: ['app'] }],
    ['istio-proxy', { message: 'names "istio-proxy", which was added by Istio (sidecar.istio.io/status); podhooks never touches containers that other injectors add or the config excludes' }],
    ['nope', { message: 'names "nope", not in spec.containers (app, worker, istio-proxy)' }],
    ['*,app', { message: 'must be "*" (every application container) or a comma list of them (app, worker)' }],
    [' , ', { message: 'must be "*" (every application container) or a comma list of them (app, worker)' }],
  ])('%j', (value, expected) => {
    expect(selectTargets(value, roles, all)).toEqual(expected);
  });
});

describe('injection', () => {
  test('a metrics agent with args only is not a target: offline inject succeeds on the main container', () => {
    const p = pod(['app']);
    p.metadata!.annotations = { 'podhooks.io/pre-start': 'test -f /app/app.jar' };
    p.spec!.containers.push({ name: 'metrics-agent', image: 'agent:1', args: ['--port=9100'] });
    const r = injectPod(p, { config, nativeSidecars: true });
    expect(r.errors).toEqual([]);
    const [app, agent] = r.pod.spec!.containers;
    expect(app.command!.slice(0, 3)).toEqual(['/podhooks/bin/busybox', 'sh', '/podhooks/bin/wrapper.sh']);
    expect(agent).toBe(p.spec!.containers[1]);
  });

  test('"*" still reaches the agent, and then needs its entrypoint', () => {
    const p = pod(['app'], { 'podhooks.io/pre-start': 'x', 'podhooks.io/containers': '*' });
    p.spec!.containers.push({ name: 'metrics-agent', image: 'agent:1', args: ['--port=9100'] });
    expect(injectPod(p, { config, nativeSidecars: true }).errors.join('\n')).toContain('container metrics-agent has no command');
  });

  test('an Istio-injected pod: istio-proxy is neither wrapped nor gated, not even with "*"', () => {
    const p = pod(['app', 'istio-proxy'], { ...ISTIO, 'podhooks.io/pre-start': 'x', 'podhooks.io/pre-online': 'y', 'podhooks.io/check-url': 'http://localhost:8080/', 'podhooks.io/containers': '*' });
    const r = injectPod(p, { config, nativeSidecars: true });
    expect(r.errors).toEqual([]);
    expect(r.pod.spec!.containers[1]).toBe(p.spec!.containers[1]);
    expect(r.pod.spec!.containers[0].readinessProbe).toBeDefined();
  });

  test('excludedContainers from config are never touched', () => {
    const p = pod(['app', 'agent'], { 'podhooks.io/pre-start': 'x', 'podhooks.io/containers': 'agent' });
    const excluding = parseConfig({ injection: { excludedContainers: ['agent'] } });
    expect(injectPod(p, { config: excluding, nativeSidecars: true }).errors).toEqual([
      'annotation podhooks.io/containers="agent": names "agent", which is excluded by injection.excludedContainers; podhooks never touches containers that other injectors add or the config excludes',
    ]);
  });

  test('a pod whose only container another injector added has no target for hooks', () => {
    const p = pod(['linkerd-proxy'], { 'linkerd.io/proxy-version': 'x', 'podhooks.io/pre-start': 'x' });
    expect(injectPod(p, { config, nativeSidecars: true }).errors).toEqual([
      'annotation podhooks.io/containers="": is unset, and no container is an application container (linkerd-proxy was added by Linkerd (linkerd.io/proxy-version)); podhooks has no container for the hooks',
    ]);
  });

  test('debug mode: "the only container" counts application containers; the default-container annotation picks among several', () => {
    const istio = pod(['app', 'istio-proxy'], { ...ISTIO, 'podhooks.io/debug': 'true' });
    expect(injectPod(istio, { config, nativeSidecars: true }).errors).toEqual([]);
    const two = pod(['web', 'jvm'], { 'podhooks.io/debug': 'true', 'kubectl.kubernetes.io/default-container': 'jvm' });
    const r = injectPod(two, { config, nativeSidecars: true });
    expect(r.errors).toEqual([]);
    expect(r.pod.spec!.containers[1].env?.map((e) => e.name)).toEqual(['JAVA_TOOL_OPTIONS']);
    const proxy = pod(['app', 'istio-proxy'], { ...ISTIO, 'podhooks.io/debug': 'true', 'podhooks.io/debug-container': 'istio-proxy' });
    expect(injectPod(proxy, { config, nativeSidecars: true }).errors).toEqual([
      'annotation podhooks.io/debug-container="istio-proxy": names a container that was added by Istio (sidecar.istio.io/status); debug mode only goes into application containers (app)',
    ]);
  });
});
