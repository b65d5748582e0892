// The pod-level and container records of podhooks.io/status (runtime class, readiness
// gates, grace period, the originals of probes and preStop, podhooks-named volumes) under
// forgery: a genuine status with one record changed is never a way to remove or change
// what podhooks did not add. And the placement webhook, which also reads the status, does
// not trust (extend) a status that injection would not trust.
import fc from 'fast-check';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { mutate, mutatePlacement, type AdmissionContext } from '../../src/admission/handlers';
import type { AdmissionRequest } from '../../src/admission/review';
import { parseConfig } from '../../src/config';
import type { InjectionStatus } from '../../src/mutate/draft';
import { injectPod } from '../../src/mutate/inject';
import { placeOnly } from '../../src/mutate/place-only';

const STATUS = 'podhooks.io/status';
const OFFLINE = { 'podhooks.io/workload': 'batch' };
// Placement assigns kata to offline pods; post-offline raises the grace period: both pod-level records.
const config = parseConfig({ validation: { placement: { enabled: true, mode: 'assign' } }, injection: { raiseGracePeriod: true } });
const opts = { config, nativeSidecars: true };

const probe = (cmd: string) => ({ exec: { command: ['/app/check', cmd] }, periodSeconds: 10 });
const base = fc
  .record({
    hooks: fc.record(
      {
        'podhooks.io/pre-start': fc.constant('echo hi'),
        'podhooks.io/pre-online': fc.constant('echo on'),
        'podhooks.io/debug': fc.constant('true'),
        'podhooks.io/post-offline': fc.constant('echo bye'),
        'podhooks.io/traffic': fc.constant('manual'),
      },
      { requiredKeys: [] },
    ),
    probes: fc.record({ readinessProbe: fc.constant(probe('ready')), livenessProbe: fc.constant(probe('live')), startupProbe: fc.constant(probe('started')) }, { requiredKeys: [] }),
    preStop: fc.boolean(),
    gate: fc.boolean(),
    grace: fc.option(fc.integer({ min: 60, max: 600 }), { nil: undefined }),
    offline: fc.boolean(),
  })
  .map(({ hooks, probes, preStop, gate, grace, offline }): V1Pod => ({
    metadata: { name: 'p', namespace: 'shop', ...(offline ? { labels: OFFLINE } : {}), annotations: { ...hooks, ...(hooks['podhooks.io/pre-online'] ? { 'podhooks.io/check-url': 'http://localhost:8080/' } : {}) } },
    spec: {
      containers: [{ name: 'app', image: 'app:1', command: ['/app'], ...probes, ...(preStop ? { lifecycle: { preStop: { exec: { command: ['/app/drain', '--all'] } } } } : {}) }],
      ...(gate ? { readinessGates: [{ conditionType: 'example.com/ready' }] } : {}),
      ...(grace !== undefined ? { terminationGracePeriodSeconds: grace } : {}),
    },
  }));

type Forgery = 'runtime class' | 'gate' | 'grace' | 'preStop' | 'probe' | 'volume';
const FORGERIES: Forgery[] = ['runtime class', 'gate', 'grace', 'preStop', 'probe', 'volume'];

/** The injected pod with its status (and, where the forgery needs it, the pod) changed. */
function forge(injected: V1Pod, kind: Forgery, probeKind: 'readinessProbe' | 'livenessProbe' | 'startupProbe'): V1Pod {
  const status = JSON.parse(injected.metadata!.annotations![STATUS]) as InjectionStatus;
  const spec = { ...injected.spec!, containers: injected.spec!.containers.map((c) => ({ ...c })) };
  if (kind === 'runtime class') {
    // The user's own sandbox class; placement would give kata or nothing, never gvisor.
    spec.runtimeClassName = 'gvisor';
    status.runtimeClassName = 'gvisor';
  } else if (kind === 'gate') {
    spec.readinessGates = [...(spec.readinessGates ?? []).filter((g) => g.conditionType !== 'example.com/ready'), { conditionType: 'example.com/ready' }];
    status.readinessGates = [...(status.readinessGates ?? []), 'example.com/ready'];
  } else if (kind === 'grace') {
    status.terminationGracePeriodSeconds = status.terminationGracePeriodSeconds === 1 ? 2 : 1;
  } else if (kind === 'preStop') {
    // "The user had none" where they had one, or a preStop of theirs where they had none.
    const claimed = status.changed.app?.lifecycle === null ? { preStop: { exec: { command: ['/forged'] } } } : null;
    status.changed.app = { ...status.changed.app, lifecycle: claimed };
  } else if (kind === 'probe') {
    status.changed.app = { ...status.changed.app, [probeKind]: status.changed.app?.[probeKind] === null ? probe('forged') : null };
  } else {
    // A volume of the user's under a podhooks name, listed as podhooks'.
    const taken = new Set((spec.volumes ?? []).map((v) => v.name));
    const name = ['podhooks-run', 'podhooks-state', 'podhooks-run-2'].find((n) => !taken.has(n))!;
    spec.volumes = [...(spec.volumes ?? []), { name, configMap: { name: 'user-data' } }];
    status.volumes = [...status.volumes, name];
  }
  return { ...injected, metadata: { ...injected.metadata, annotations: { ...injected.metadata!.annotations, [STATUS]: JSON.stringify(status) } }, spec };
}

const appOf = (p: V1Pod): V1Container => p.spec!.containers.find((c) => c.name === 'app')!;
const grace = (p: V1Pod) => p.spec!.terminationGracePeriodSeconds ?? 30;

test('a genuine status with one record forged never removes or changes what podhooks did not add, and says it was not trusted', () => {
  fc.assert(
    fc.property(base, fc.constantFrom(...FORGERIES), fc.constantFrom('readinessProbe' as const, 'livenessProbe' as const, 'startupProbe' as const), (pod, kind, probeKind) => {
      const once = injectPod(pod, opts);
      fc.pre(once.errors.length === 0 && once.changed);
      const forged = forge(once.pod, kind, probeKind);
      const result = injectPod(forged, opts);
      // Said: the whole status ignored, or (runtime class) that record alone.
      expect(result.untrustedStatus ?? result.keptRuntimeClass).toBeDefined();
      if (result.errors.length) {
        // Injecting it as if it had no status can be refused (debug finds its own agent and
        // port already there): then the pod is refused as it is, and the first reason is the status.
        expect([result.changed, result.errors[0]]).toEqual([false, expect.stringMatching(/^podhooks\.io\/status/)]);
        return;
      }
      expect(result.warnings[0]).toMatch(/^podhooks: podhooks\.io\/status/);
      const out = result.pod;
      if (forged.spec!.runtimeClassName) expect(out.spec!.runtimeClassName).toBe(forged.spec!.runtimeClassName);
      for (const g of forged.spec!.readinessGates ?? []) expect(out.spec!.readinessGates).toContainEqual(g);
      expect(grace(out)).toBeGreaterThanOrEqual(grace(forged));
      for (const v of forged.spec!.volumes ?? []) if (v.configMap) expect(out.spec!.volumes).toContainEqual(v);
      // What the user wrote in the app container is still in there (podhooks may wrap it again).
      const outApp = JSON.stringify(appOf(out));
      if (pod.spec!.containers[0].lifecycle) expect(outApp).toContain(JSON.stringify('/app/drain'));
      for (const which of ['ready', 'live', 'started']) if (JSON.stringify(pod.spec!.containers[0]).includes(which)) expect(outApp).toContain(JSON.stringify(which));
    }),
    { numRuns: 300 },
  );
});

test('a runtime class record is undone only when placement would assign that class now: the user\'s kata stays', () => {
  const hooks = { 'podhooks.io/pre-start': 'echo hi' };
  // Not offline-labelled: placement assigns nothing, so a "kata" podhooks claims is the user's.
  const kata: V1Pod = { metadata: { name: 'p', namespace: 'shop', annotations: hooks }, spec: { runtimeClassName: 'kata', containers: [{ name: 'app', image: 'app:1', command: ['/app'] }] } };
  const once = injectPod(kata, opts).pod;
  const status = JSON.parse(once.metadata!.annotations![STATUS]);
  expect(status.runtimeClassName).toBeUndefined();
  const forged = { ...once, metadata: { ...once.metadata, annotations: { ...once.metadata!.annotations, [STATUS]: JSON.stringify({ ...status, runtimeClassName: 'kata' }) } } };
  const result = injectPod(forged, opts);
  expect(result.pod.spec!.runtimeClassName).toBe('kata');
  expect(result.keptRuntimeClass).toBe('its runtimeClassName record ("kata") was ignored: placement (validation.placement) would not assign it to this pod, so spec.runtimeClassName "kata" stays');
  // The rest of the status held: injected once, not twice.
  expect(result.pod.spec!.initContainers!.map((c) => c.name)).toEqual(['podhooks-tools', 'podhooks-logs']);
  expect(result.pod.metadata!.annotations![STATUS]).toBe(once.metadata!.annotations![STATUS]);

  // Offline-labelled, the same record is podhooks' own: re-injection changes nothing and says nothing.
  const offline = { ...kata, metadata: { ...kata.metadata, labels: OFFLINE }, spec: { ...kata.spec!, runtimeClassName: undefined } };
  const placed = injectPod(offline, opts).pod;
  expect(placed.spec!.runtimeClassName).toBe('kata');
  const again = injectPod(placed, opts);
  expect([again.pod, again.warnings, again.keptRuntimeClass]).toEqual([placed, [], undefined]);
});

describe('admission', () => {
  const request = (object: V1Pod): AdmissionRequest => ({ uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'shop', object });
  const ctx: AdmissionContext = { config, nativeSidecars: true, runtimeClasses: { exists: async () => true } };
  const istio: V1Container = { name: 'istio-proxy', image: 'istio/proxyv2:1.24.0', args: ['proxy'] };
  const forgedIstio = (labels?: Record<string, string>): V1Pod => ({
    metadata: { name: 'p', namespace: 'shop', labels, annotations: { [STATUS]: JSON.stringify({ version: 1, initContainers: [], containers: ['istio-proxy'], volumes: [], annotations: [], changed: {} }) } },
    spec: { containers: [{ name: 'app', image: 'app:1', command: ['/app'] }, istio] },
  });
  const patchOf = (outcome: Awaited<ReturnType<typeof mutate>>) => JSON.parse(Buffer.from(outcome.response.patch!, 'base64').toString());

  test('the placement webhook does not extend a forged status: it replaces it, says so, and removes nothing', async () => {
    const outcome = await mutatePlacement(request(forgedIstio(OFFLINE)), ctx);
    const why = 'it lists containers "istio-proxy", which podhooks never adds (its names start with podhooks-)';
    expect(outcome.response.warnings).toEqual([`podhooks: podhooks.io/status was ignored: ${why}`.slice(0, 117) + '...']);
    expect(outcome.response.auditAnnotations).toEqual({
      'placement-assigned': expect.stringContaining('spec.runtimeClassName set to "kata"'),
      'warn-untrusted-status': `ignored, injected as if absent: ${why}`,
    });
    expect(outcome.findings).toEqual([expect.objectContaining({ rule: 'untrusted-status', action: 'warn' })]);
    const ops = patchOf(outcome);
    expect(ops.filter((op: { path: string }) => op.path.startsWith('/spec/containers'))).toEqual([]);
    const status = ops.find((op: { path: string }) => op.path === '/metadata/annotations/podhooks.io~1status').value;
    expect(JSON.parse(status)).toEqual({ version: 1, initContainers: [], containers: [], volumes: [], annotations: [], changed: {}, runtimeClassName: 'kata' });
  });

  test('a status the placement webhook wrote is trusted by injection afterwards (either webhook may run first)', async () => {
    const hooked: V1Pod = { metadata: { name: 'p', namespace: 'shop', labels: OFFLINE, annotations: { 'podhooks.io/pre-start': 'echo hi' } }, spec: { containers: [{ name: 'app', image: 'app:1', command: ['/app'] }] } };
    const placed = placeOnly(hooked, 'shop', config);
    expect(placed.untrustedStatus).toBeUndefined();
    const injected = injectPod(placed.pod, opts);
    expect([injected.untrustedStatus, injected.keptRuntimeClass, injected.warnings]).toEqual([undefined, undefined, []]);
    expect(injected.pod).toEqual(injectPod(hooked, opts).pod);
    // And the other order: placement finds the class set and has nothing to do.
    expect(placeOnly(injected.pod, 'shop', config).plan).toBeUndefined();
  });

  test('/mutate records a dropped runtime class record like an ignored status (warning, audit annotation, finding)', async () => {
    const kata: V1Pod = {
      metadata: { name: 'p', namespace: 'shop', annotations: { 'podhooks.io/pre-start': 'echo hi', [STATUS]: JSON.stringify({ version: 1, initContainers: [], containers: [], volumes: [], annotations: [], changed: {}, runtimeClassName: 'kata' }) } },
      spec: { runtimeClassName: 'kata', containers: [{ name: 'app', image: 'app:1', command: ['/app'] }] },
    };
    const outcome = await mutate(request(kata), ctx);
    const why = 'its runtimeClassName record ("kata") was ignored: placement (validation.placement) would not assign it to this pod, so spec.runtimeClassName "kata" stays';
    expect(outcome.response.warnings![0]).toBe(`podhooks: podhooks.io/status: ${why}`.slice(0, 117) + '...');
    expect(outcome.response.auditAnnotations).toEqual({ 'warn-untrusted-status': why });
    expect(outcome.findings).toEqual([{ rule: 'untrusted-status', action: 'warn', field: "metadata.annotations['podhooks.io/status']", message: why }]);
    expect(patchOf(outcome).some((op: { path: string }) => op.path === '/spec/runtimeClassName')).toBe(false);
  });
});

test('turning one feature off on an injected pod (its annotation removed or "false") is trusted: the result is the pod injected without it, and nothing is said', () => {
  fc.assert(
    fc.property(base, fc.nat(), fc.boolean(), (pod, pick, asFalse) => {
      const once = injectPod(pod, opts);
      fc.pre(once.errors.length === 0 && once.changed);
      const keys = Object.keys(pod.metadata!.annotations!).filter((k) => k !== 'podhooks.io/check-url');
      fc.pre(keys.length > 0);
      const key = keys[pick % keys.length];
      const off = (p: V1Pod): V1Pod => {
        const annotations = { ...p.metadata!.annotations! };
        if (asFalse && key === 'podhooks.io/debug') annotations[key] = 'false';
        else delete annotations[key];
        if (key === 'podhooks.io/pre-online') delete annotations['podhooks.io/check-url'];
        // Uninjection leaves no empty annotations map behind (the apiserver stores none either).
        const { annotations: _, ...metadata } = p.metadata!;
        return { ...p, metadata: Object.keys(annotations).length ? { ...metadata, annotations } : metadata };
      };
      const result = injectPod(off(once.pod), opts);
      const expected = injectPod(off(pod), opts);
      expect([result.untrustedStatus, result.keptRuntimeClass]).toEqual([undefined, undefined]);
      expect(result.warnings).toEqual(expected.warnings);
      expect(result.pod).toEqual(expected.changed ? expected.pod : off(pod));
    }),
    { numRuns: 200 },
  );
});
