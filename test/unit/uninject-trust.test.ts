// podhooks.io/status is an annotation anyone who writes the pod can forge. Properties:
// injection never removes or changes a container, init container, volume, annotation,
// runtime class, readiness gate, grace period, lifecycle or probe podhooks did not add,
// whatever the status says; a genuine status survives the apiserver's
// defaulting (reinvocation); a distrusted status is said (warning, audit finding) and
// its authz offset is not reused.
import fc from 'fast-check';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { mutate, type AdmissionContext } from '../../src/admission/handlers';
import { parseConfig } from '../../src/config';
import { injectPod } from '../../src/mutate/inject';
import { NAMES } from '../../src/mutate/layout';

const config = parseConfig({});
const opts = { config, nativeSidecars: true };
// Placement assigns kata to offline pods, and post-offline raises the grace period: both
// are changes podhooks records at pod level, so a forgery may claim them.
const assignConfig = parseConfig({ validation: { placement: { enabled: true, mode: 'assign' } }, injection: { raiseGracePeriod: true } });
const STATUS = 'podhooks.io/status';
const podhooksName = (n: string) => Object.values(NAMES).some((own) => n === own || new RegExp(`^${own}-[0-9]+$`).test(n));

// Entries another injector (or the pod author) put into the pod.
const foreignContainer: fc.Arbitrary<V1Container> = fc.record({ name: fc.constantFrom('istio-proxy', 'vault-agent', 'linkerd-proxy'), image: fc.constant('proxy:1'), args: fc.constant(['run']) });
const foreignInit: fc.Arbitrary<V1Container> = fc.record({ name: fc.constantFrom('istio-init', 'vault-init'), image: fc.constant('init:1'), command: fc.constant(['/init']) });
const foreignVolume = fc.record({ name: fc.constantFrom('istio-envoy', 'vault-secrets', 'podhooks-bin-x'), emptyDir: fc.constant({}) });
// Mostly podhooks' own names, so that most forgeries get past the name check to the re-injection check.
const name = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('podhooks-logs', 'podhooks-bin', 'podhooks-tools', 'podhooks-debug-2', 'podhooks-run', 'podhooks-state', 'podhooks-preonline') },
  { weight: 1, arbitrary: fc.constantFrom('istio-proxy', 'istio-init', 'vault-agent', 'istio-envoy', 'app', 'web', 'podhooks-evil') },
);
const annotationKey = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('podhooks.io/pre-start', 'podhooks.io/authz-start-offset-ms') },
  { weight: 1, arbitrary: fc.constantFrom('sidecar.istio.io/status', 'vault.hashicorp.com/agent-inject', 'podhooks.io/status', 'example.com/x') },
);
const userProbe = fc.record({ exec: fc.record({ command: fc.constantFrom(['/app/healthy'], ['/app/ready', '--deep']) }), periodSeconds: fc.constantFrom(5, 10) });
const userLifecycle = fc.record({ preStop: fc.record({ exec: fc.record({ command: fc.constantFrom(['/app/drain'], ['/app/flush', '--all']) }) }) });
// What a forged record claims a container had before podhooks changed it (undefined: no claim, null: "had none").
const originalClaim = <T>(value: fc.Arbitrary<T>) => fc.option(fc.oneof(fc.constant(null), value), { nil: undefined });
const forgedStatus = fc.record(
  {
    version: fc.constant(1),
    initContainers: fc.array(name, { maxLength: 3 }),
    containers: fc.array(name, { maxLength: 3 }),
    volumes: fc.array(name, { maxLength: 3 }),
    annotations: fc.array(annotationKey, { maxLength: 2 }),
    changed: fc.dictionary(
      fc.constantFrom('app', 'web', 'istio-proxy'),
      fc.record(
        {
          env: fc.array(fc.constantFrom('ISTIO_META', 'VAULT_TOKEN', 'PODHOOKS_PRE_START'), { maxLength: 2 }),
          mounts: fc.array(fc.constantFrom('istio-envoy', 'vault-secrets', 'podhooks-bin'), { maxLength: 2 }),
          commandPrefix: fc.integer({ min: 0, max: 3 }),
          hadCommand: fc.boolean(),
          readinessProbe: originalClaim(userProbe),
          livenessProbe: originalClaim(userProbe),
          startupProbe: originalClaim(userProbe),
          lifecycle: originalClaim(userLifecycle),
        },
        { requiredKeys: [] },
      ),
      { maxKeys: 2 },
    ),
    targets: fc.array(fc.constantFrom('app', 'web', 'istio-proxy'), { maxLength: 2 }),
    created: fc.subarray(['initContainers', 'volumes', 'readinessGates'] as const),
    runtimeClassName: fc.constantFrom('kata', 'gvisor'),
    readinessGates: fc.oneof({ weight: 3, arbitrary: fc.constant(['podhooks.io/online']) }, { weight: 1, arbitrary: fc.subarray(['podhooks.io/online', 'example.com/ready', 'istio.io/ready']) }),
    terminationGracePeriodSeconds: fc.oneof(fc.constant(null), fc.integer({ min: 0, max: 120 })),
    intent: fc.dictionary(fc.constantFrom('podhooks.io/pre-start', 'podhooks.io/debug', 'podhooks.io/traffic', 'podhooks.io/post-offline'), fc.constantFrom('true', 'manual', 'echo bye'), { maxKeys: 2 }),
  },
  { requiredKeys: ['version', 'initContainers', 'containers', 'volumes', 'annotations', 'changed'] },
);
const hooks = fc.record(
  {
    'podhooks.io/pre-start': fc.constant('echo hi'),
    'podhooks.io/debug': fc.constantFrom('true', 'false'),
    'podhooks.io/authz': fc.constant('true'),
    'podhooks.io/containers': fc.constant('app'),
    'podhooks.io/traffic': fc.constant('manual'),
    'podhooks.io/post-offline': fc.constant('echo bye'),
  },
  { requiredKeys: [] },
);

const pod: fc.Arbitrary<V1Pod> = fc
  .record({
    hooks,
    status: forgedStatus,
    foreignAnnotations: fc.dictionary(fc.constantFrom('sidecar.istio.io/status', 'vault.hashicorp.com/agent-inject', 'example.com/x'), fc.string({ maxLength: 8 }), { maxKeys: 2 }),
    containers: fc.uniqueArray(foreignContainer, { selector: (c) => c.name, maxLength: 2 }),
    inits: fc.uniqueArray(foreignInit, { selector: (c) => c.name, maxLength: 2 }),
    volumes: fc.uniqueArray(foreignVolume, { selector: (v) => v.name, maxLength: 2 }),
    appEnv: fc.subarray([{ name: 'ISTIO_META', value: 'x' }, { name: 'VAULT_TOKEN', value: 's.1' }]),
    appMounts: fc.boolean(),
    // The pod's own pod-level fields and the app container's own probes and preStop.
    runtimeClassName: fc.option(fc.constantFrom('kata', 'gvisor'), { nil: undefined }),
    offline: fc.boolean(),
    gates: fc.subarray(['example.com/ready', 'istio.io/ready']),
    grace: fc.option(fc.integer({ min: 0, max: 3600 }), { nil: undefined }),
    probes: fc.record({ readinessProbe: userProbe, livenessProbe: userProbe, startupProbe: userProbe }, { requiredKeys: [] }),
    lifecycle: fc.option(userLifecycle, { nil: undefined }),
  })
  .map(({ hooks, status, foreignAnnotations, containers, inits, volumes, appEnv, appMounts, runtimeClassName, offline, gates, grace, probes, lifecycle }) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'shop', ...(offline ? { labels: { 'podhooks.io/workload': 'batch' } } : {}), annotations: { ...foreignAnnotations, ...hooks, [STATUS]: JSON.stringify(status) } },
    spec: {
      containers: [
        { name: 'app', image: 'app:1', command: ['/app'], env: appEnv, ...probes, ...(lifecycle ? { lifecycle } : {}), ...(appMounts && volumes.length ? { volumeMounts: [{ name: volumes[0].name, mountPath: '/m' }] } : {}) } as V1Container,
        ...containers,
      ],
      initContainers: inits,
      volumes,
      ...(runtimeClassName ? { runtimeClassName } : {}),
      ...(gates.length ? { readinessGates: gates.map((conditionType) => ({ conditionType })) } : {}),
      ...(grace !== undefined ? { terminationGracePeriodSeconds: grace } : {}),
    },
  }));

/** What must survive injection: every entry podhooks does not own, as it was. */
function foreign(p: V1Pod) {
  const spec = p.spec!;
  return {
    containers: spec.containers.filter((c) => !podhooksName(c.name)).map((c) => c.name),
    initContainers: (spec.initContainers ?? []).filter((c) => !podhooksName(c.name)),
    volumes: (spec.volumes ?? []).filter((v) => !podhooksName(v.name)),
    annotations: Object.entries(p.metadata?.annotations ?? {}).filter(([k]) => !k.startsWith('podhooks.io/')),
    appEnv: (spec.containers[0].env ?? []).filter((e) => !e.name.startsWith('PODHOOKS_') && e.name !== 'JAVA_TOOL_OPTIONS'),
    appMounts: (spec.containers[0].volumeMounts ?? []).filter((m) => !podhooksName(m.name)),
    gates: (spec.readinessGates ?? []).filter((g) => g.conditionType !== 'podhooks.io/online'),
  };
}

test('inject never removes or changes a container, init container, volume, annotation, runtime class, readiness gate, grace period, lifecycle or probe podhooks did not add, whatever the status lists', () => {
  fc.assert(
    fc.property(pod, fc.boolean(), (p, assign) => {
      const cfg = assign ? assignConfig : config;
      const result = injectPod(p, { config: cfg, nativeSidecars: true });
      if (result.errors.length) return;
      const before = foreign(p);
      const after = foreign(result.pod);
      expect(after.containers).toEqual(expect.arrayContaining(before.containers));
      expect(after.initContainers).toEqual(expect.arrayContaining(before.initContainers));
      expect(after.volumes).toEqual(expect.arrayContaining(before.volumes));
      expect(after.annotations).toEqual(expect.arrayContaining(before.annotations));
      expect(after.appEnv).toEqual(expect.arrayContaining(before.appEnv));
      expect(after.appMounts).toEqual(expect.arrayContaining(before.appMounts));
      expect(after.gates).toEqual(expect.arrayContaining(before.gates));
      // A runtime class is never taken away: a sandboxed pod stays sandboxed.
      if (p.spec!.runtimeClassName) expect(result.pod.spec!.runtimeClassName).toBe(p.spec!.runtimeClassName);
      // The grace period only ever grows, and only by post-offline with raiseGracePeriod.
      const grace = (x: V1Pod) => x.spec!.terminationGracePeriodSeconds ?? 30;
      const raises = cfg.injection.raiseGracePeriod && p.metadata!.annotations!['podhooks.io/post-offline'] !== undefined;
      if (raises) expect(grace(result.pod)).toBeGreaterThanOrEqual(grace(p));
      else expect(result.pod.spec!.terminationGracePeriodSeconds).toBe(p.spec!.terminationGracePeriodSeconds);
      // The app's preStop and probes are the user's unless a hook that wraps them was asked for
      // (then the user's own command is still in there).
      const app = (x: V1Pod) => x.spec!.containers.find((c) => c.name === 'app')!;
      const asked = (key: string) => p.metadata!.annotations![`podhooks.io/${key}`] !== undefined && p.metadata!.annotations![`podhooks.io/${key}`] !== 'false';
      const userLifecycle = app(p).lifecycle;
      if (!asked('post-offline')) expect(app(result.pod).lifecycle).toEqual(userLifecycle);
      else if (userLifecycle) expect(app(result.pod).lifecycle!.preStop!.exec!.command).toEqual(expect.arrayContaining(userLifecycle.preStop!.exec!.command!));
      for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe'] as const) {
        const mine = app(p)[probe];
        if (!mine) continue;
        const wrapped = asked('pre-start') || asked('debug') || asked('pre-online');
        if (!wrapped) expect(app(result.pod)[probe]).toEqual(mine);
        else {
          const kept = [app(result.pod).readinessProbe, app(result.pod).livenessProbe, app(result.pod).startupProbe].map((x) => JSON.stringify(x?.exec?.command ?? []));
          expect(kept.some((k) => mine.exec!.command!.every((part) => k.includes(JSON.stringify(part))))).toBe(true);
        }
      }
    }),
    { numRuns: 400 },
  );
});

test('a genuine status extended with another injector\'s entries is ignored, and those entries stay', () => {
  fc.assert(
    fc.property(pod, foreignContainer, foreignInit, (p, c, i) => {
      const clean = { ...p, metadata: { ...p.metadata, annotations: { ...p.metadata!.annotations } } };
      delete clean.metadata.annotations[STATUS];
      const once = injectPod(clean, opts);
      fc.pre(once.errors.length === 0 && once.changed);
      const status = JSON.parse(once.pod.metadata!.annotations![STATUS]);
      const forged: V1Pod = {
        ...once.pod,
        metadata: { ...once.pod.metadata, annotations: { ...once.pod.metadata!.annotations, [STATUS]: JSON.stringify({ ...status, containers: [...status.containers, c.name], initContainers: [...status.initContainers, i.name] }) } },
        spec: { ...once.pod.spec!, containers: [...once.pod.spec!.containers.filter((x) => x.name !== c.name), c], initContainers: [...(once.pod.spec!.initContainers ?? []).filter((x) => x.name !== i.name), i] },
      };
      const result = injectPod(forged, opts);
      expect(result.untrustedStatus).toMatch(/which podhooks never adds/);
      expect(result.errors.length ? result.errors[0] : result.warnings[0]).toMatch(/^(podhooks: )?podhooks\.io\/status was ignored: it lists/);
      expect(result.pod.spec!.containers).toContainEqual(c);
      expect(result.pod.spec!.initContainers).toContainEqual(i);
    }),
    { numRuns: 150 },
  );
});

/** What kube-apiserver's defaulting adds to a pod (the fields a reinvocation sends back). */
function defaulted(p: V1Pod): V1Pod {
  // Go's omitempty: a zero initialDelaySeconds is not sent back.
  const omitZero = ({ initialDelaySeconds, ...rest }: any) => (initialDelaySeconds ? { initialDelaySeconds, ...rest } : rest);
  const probe = (pr: any) =>
    pr && omitZero({ timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3, ...pr, ...(pr.httpGet ? { httpGet: { scheme: 'HTTP', ...pr.httpGet } } : {}) });
  const container = (c: V1Container): V1Container => ({
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    imagePullPolicy: 'IfNotPresent',
    resources: {},
    ...c,
    ...(c.ports ? { ports: c.ports.map((x) => ({ protocol: 'TCP', ...x })) } : {}),
    ...(c.env ? { env: c.env.map((e) => (e.valueFrom?.fieldRef ? { ...e, valueFrom: { fieldRef: { apiVersion: 'v1', ...e.valueFrom.fieldRef } } } : e)) } : {}),
    ...(c.livenessProbe ? { livenessProbe: probe(c.livenessProbe) } : {}),
    ...(c.readinessProbe ? { readinessProbe: probe(c.readinessProbe) } : {}),
    ...(c.startupProbe ? { startupProbe: probe(c.startupProbe) } : {}),
  });
  return JSON.parse(
    JSON.stringify({
      ...p,
      spec: { terminationGracePeriodSeconds: 30, ...p.spec!, containers: p.spec!.containers.map(container), ...(p.spec!.initContainers ? { initContainers: p.spec!.initContainers.map(container) } : {}) },
    }),
  );
}

test('a genuine status, defaulted by the apiserver, is trusted: reinvocation changes nothing and warns of nothing', () => {
  const genuine = fc.record({
    hooks: fc.record(
      {
        'podhooks.io/pre-start': fc.constant('echo hi'),
        'podhooks.io/debug': fc.constant('true'),
        'podhooks.io/pre-online': fc.constant('echo on'),
        'podhooks.io/warmup-urls': fc.constant('GET http://localhost:8080/warm x2'),
        'podhooks.io/authz': fc.constant('true'),
        'podhooks.io/post-offline': fc.constant('echo bye'),
        'podhooks.io/traffic': fc.constant('manual'),
      },
      { requiredKeys: [] },
    ),
    probe: fc.boolean(),
    offline: fc.boolean(),
    assign: fc.boolean(),
  });
  fc.assert(
    fc.property(genuine, ({ hooks, probe, offline, assign }) => {
      const online = hooks['podhooks.io/pre-online'] || hooks['podhooks.io/warmup-urls'];
      const input: V1Pod = {
        metadata: { name: 'p', namespace: 'shop', ...(offline ? { labels: { 'podhooks.io/workload': 'batch' } } : {}), annotations: { ...hooks, ...(online ? { 'podhooks.io/check-url': 'http://localhost:8080/' } : {}) } },
        spec: { containers: [{ name: 'app', image: 'app:1', command: ['/app'], ports: [{ containerPort: 8443 }], ...(probe ? { livenessProbe: { httpGet: { path: '/', port: 8443 } } } : {}) }] },
      };
      const o = { config: assign ? assignConfig : config, nativeSidecars: true };
      const once = injectPod(defaulted(input), o);
      fc.pre(once.errors.length === 0 && once.changed);
      const reinvoked = defaulted(once.pod);
      const again = injectPod(reinvoked, o);
      expect({ untrusted: again.untrustedStatus, warnings: again.warnings.filter((w) => w.includes(STATUS)) }).toEqual({ untrusted: undefined, warnings: [] });
      expect(again.pod.metadata!.annotations![STATUS]).toBe(reinvoked.metadata!.annotations![STATUS]);
    }),
    { numRuns: 100 },
  );
});

describe('admission with a forged status', () => {
  const forged: V1Pod = {
    metadata: {
      name: 'web',
      namespace: 'shop',
      annotations: {
        'podhooks.io/authz': 'true',
        'podhooks.io/authz-start-offset-ms': '0',
        [STATUS]: JSON.stringify({ version: 1, initContainers: ['podhooks-authz'], containers: [], volumes: [], annotations: ['podhooks.io/authz-start-offset-ms'], changed: {} }),
      },
    },
    spec: {
      initContainers: [{ name: 'podhooks-authz', image: 'busybox', command: ['true'] }],
      containers: [{ name: 'app', image: 'app:1', command: ['/app'], ports: [{ containerPort: 8443 }] }],
    },
  };

  test('the offset it claims is not reused: a pacing token is taken; warning, audit annotation and finding say why', async () => {
    const calls: number[] = [];
    const ctx: AdmissionContext = { config, nativeSidecars: true, authzOffset: () => (calls.push(1), 700) };
    const out = await mutate({ uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'shop', object: forged }, ctx);
    expect(out.decision).toBe('patched');
    expect(calls).toEqual([1]);
    const why = 'the init container podhooks-authz is not what podhooks injects';
    expect(out.response.warnings).toEqual([`podhooks: podhooks.io/status was ignored: ${why}`]);
    expect(out.response.auditAnnotations).toEqual({ 'warn-untrusted-status': `ignored, injected as if absent: ${why}` });
    expect(out.findings).toEqual([{ rule: 'untrusted-status', action: 'warn', field: "metadata.annotations['podhooks.io/status']", message: `ignored, injected as if absent: ${why}` }]);
  });
});
