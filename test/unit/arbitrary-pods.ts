// Generated pods for property tests: hooks, probes, lifecycles, placement labels, user
// volumes and init containers whose names collide with podhooks' own.
import fc from 'fast-check';
import type { V1Container, V1Pod } from '@kubernetes/client-node';

const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}[a-z0-9]$/);
const probe = fc.oneof(
  fc.record({ httpGet: fc.record({ path: fc.constantFrom('/', '/healthz'), port: fc.integer({ min: 1, max: 65535 }) }), periodSeconds: fc.integer({ min: 1, max: 30 }) }),
  fc.record({ tcpSocket: fc.record({ port: fc.integer({ min: 1, max: 65535 }) }) }),
  fc.record({ exec: fc.record({ command: fc.array(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 3 }) }) }),
);
const container = (n: string) =>
  fc.record(
    {
      name: fc.constant(n),
      image: fc.constantFrom('nginx:1.27', 'registry.example.com/a/b@sha256:' + 'a'.repeat(64), 'busybox'),
      command: fc.array(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 3 }),
      args: fc.array(fc.string({ maxLength: 12 }), { maxLength: 3 }),
      ports: fc.array(fc.record({ containerPort: fc.integer({ min: 1, max: 65535 }) }), { maxLength: 2 }),
      readinessProbe: probe,
      livenessProbe: probe,
      startupProbe: probe,
      volumeMounts: fc.array(fc.record({ name: fc.constant('data'), mountPath: fc.constantFrom('/data', '/etc/app'), readOnly: fc.boolean() }), { maxLength: 1 }),
      securityContext: fc.record({ runAsUser: fc.integer({ min: 1, max: 70000 }), readOnlyRootFilesystem: fc.boolean() }),
      env: fc.array(fc.record({ name: fc.constantFrom('A', 'JAVA_TOOL_OPTIONS', 'PATH'), value: fc.string({ maxLength: 10 }) }), { maxLength: 2 }),
      lifecycle: fc.record(
        {
          postStart: fc.constant({ exec: { command: ['/app/register'] } }),
          preStop: fc.oneof(
            fc.record({ exec: fc.record({ command: fc.array(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 3 }) }) }),
            fc.record({ sleep: fc.record({ seconds: fc.integer({ min: 0, max: 20 }) }) }),
            fc.record({ httpGet: fc.record({ path: fc.constantFrom('/stop', 'quit'), port: fc.integer({ min: 1, max: 65535 }) }) }),
            fc.constant({ tcpSocket: { port: 8080 } }),
          ),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: ['name', 'image'] },
  ) as fc.Arbitrary<V1Container>;

const annotationValue = fc.oneof(
  fc.constantFrom('true', 'false', '5005', 'app', '*', 'echo hi', 'http://localhost:8080/', '30s', '0', '["/entry"]', '', '{"containers":["istio-proxy"]}', 'manual', 'auto', 'warn', 'POST http://l:8080/w x3 expect 2xx|204', 'http://l/a x2, GET http://l/b'),
  fc.string({ maxLength: 20 }),
);
const annotationKey = fc.constantFrom(
  'podhooks.io/pre-start',
  'podhooks.io/pre-start-timeout',
  'kubectl.kubernetes.io/default-container',
  'sidecar.istio.io/status',
  'podhooks.io/pre-online',
  'podhooks.io/check-url',
  'podhooks.io/pre-online-timeout',
  'podhooks.io/warmup-urls',
  'podhooks.io/warmup-timeout',
  'podhooks.io/warmup-failure',
  'podhooks.io/post-offline',
  'podhooks.io/post-offline-timeout',
  'podhooks.io/drain-delay',
  'podhooks.io/containers',
  'podhooks.io/log-stream',
  'podhooks.io/inject',
  'podhooks.io/entrypoint.app',
  'podhooks.io/debug',
  'podhooks.io/debug-port',
  'podhooks.io/authz',
  'podhooks.io/authz-ports',
  'podhooks.io/traffic',
  'podhooks.io/unknown',
  'example.com/other',
);
const hookAnnotations = fc.record(
  {
    'podhooks.io/pre-start': fc.constantFrom('echo hi', 'set -e; ./warm'),
    'podhooks.io/pre-online': fc.constant('echo online'),
    'podhooks.io/check-url': fc.constant('http://localhost:8080/health'),
    'podhooks.io/warmup-urls': fc.constantFrom('http://localhost:8080/warm x5', 'POST http://localhost:8080/a expect 200|204, http://localhost:8080/b'),
    'podhooks.io/post-offline': fc.constant('./deregister'),
    'podhooks.io/drain-delay': fc.constantFrom('0', '3s'),
    'podhooks.io/containers': fc.constant('*'),
    'podhooks.io/traffic': fc.constantFrom('manual', 'auto'),
    'podhooks.io/authz': fc.constantFrom('true', 'false'),
    'podhooks.io/authz-ports': fc.constantFrom('8443', '8080', '8443, 5432'),
  },
  { requiredKeys: [] },
);

export const pod: fc.Arbitrary<V1Pod> = fc
  .uniqueArray(name, { minLength: 1, maxLength: 3 })
  .chain((names) =>
    fc.record({
      apiVersion: fc.constant('v1'),
      kind: fc.constant('Pod'),
      metadata: fc.record(
        {
          name: name,
          namespace: fc.constantFrom('shop', 'default'),
          annotations: fc.oneof(hookAnnotations, fc.dictionary(annotationKey, annotationValue, { maxKeys: 5 })),
          labels: fc.record({ 'podhooks.io/workload': fc.constantFrom('batch', 'online') }, { requiredKeys: [] }),
        },
        { requiredKeys: ['name', 'namespace', 'annotations'] },
      ),
      spec: fc.record(
        {
          shareProcessNamespace: fc.boolean(),
          terminationGracePeriodSeconds: fc.integer({ min: 0, max: 120 }),
          containers: fc.tuple(...names.map((n) => container(n === 'podhooks-logs' ? 'x' + n : n))),
          initContainers: fc.array(container('init-user'), { maxLength: 1 }),
          readinessGates: fc.uniqueArray(fc.constantFrom('podhooks.io/online', 'example.com/lb'), { maxLength: 2 }).map((types) => types.map((conditionType) => ({ conditionType }))),
          // Never/OnFailure with classic sidecars: the app containers are wrapped so the sidecars end with them.
          restartPolicy: fc.constantFrom('Always', 'OnFailure', 'Never'),
          volumes: fc.array(fc.record({ name: fc.constantFrom('podhooks-bin', 'data', 'podhooks-logs'), emptyDir: fc.constant({}) }), { maxLength: 2 }).map((vs) => vs.filter((v, i) => vs.findIndex((w) => w.name === v.name) === i)),
        },
        { requiredKeys: ['containers'] },
      ),
    }),
  ) as fc.Arbitrary<V1Pod>;

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** The replica `r` of `p`: its metadata, and the token volume the ServiceAccount admission plugin adds (its own name, mounted in every container). */
export const withReplica = (p: V1Pod, { token, ...r }: Record<string, unknown>): V1Pod => {
  const metadata: Record<string, unknown> = { ...p.metadata };
  for (const [k, v] of Object.entries(r)) {
    if (v === undefined) delete metadata[k];
    else metadata[k] = v;
  }
  const name = `kube-api-access-${token}`;
  const mounted = (cs: V1Container[] | undefined) => cs?.map((c) => ({ ...c, volumeMounts: [...(c.volumeMounts ?? []), { name, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }] }));
  const spec = { ...p.spec!, containers: mounted(p.spec!.containers)!, initContainers: mounted(p.spec!.initContainers), volumes: [...(p.spec!.volumes ?? []), { name, projected: { defaultMode: 420, sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }] } }] };
  if (!spec.initContainers) delete spec.initContainers;
  return JSON.parse(JSON.stringify({ ...p, metadata, spec }));
};
