// Each rule on its own: what it finds, what it leaves alone, and that its messages name
// the field, the runtime class and the fix.
import type { V1Pod } from '@kubernetes/client-node';
import { parseConfig } from '../../src/config';
import { evaluate, sandboxRuntimeClassOf, type Rule } from '../../src/validate/policy';
import { RULES } from '../../src/validate/rules';
import { sandboxProcMounts, sandboxHostPath } from '../../src/validate/rules/host-path';
import { placement } from '../../src/validate/rules/placement';
import { sandboxPrivileged } from '../../src/validate/rules/sandbox-privileged';
import { sandboxShareProcessNamespace } from '../../src/validate/rules/sandbox-share-process-namespace';
import { sandboxSubPath } from '../../src/validate/rules/sandbox-subpath';

const defaults = parseConfig({});
const pod = (spec: Partial<V1Pod['spec']>, labels?: Record<string, string>): V1Pod => ({
  metadata: { name: 'p', namespace: 'shop', labels },
  spec: { containers: [{ name: 'app', image: 'x' }], ...spec },
});
function run(rule: Rule, p: V1Pod, config = defaults) {
  return rule.check({ pod: p, namespace: 'shop', config, sandboxRuntimeClass: sandboxRuntimeClassOf(p, config) });
}

test('every rule id is unique, kebab-case, and has a description', () => {
  const ids = RULES.map((r) => r.id);
  expect(new Set(ids).size).toBe(ids.length);
  for (const r of RULES) {
    expect(r.id).toMatch(/^[a-z]+(-[a-z]+)*$/);
    expect(r.description.length).toBeGreaterThan(20);
  }
});

test('sandbox runtime classes: kata* globbing, gvisor and runsc exactly', () => {
  for (const rc of ['kata', 'kata-qemu', 'kata-fc', 'gvisor', 'runsc']) expect(sandboxRuntimeClassOf(pod({ runtimeClassName: rc }), defaults)).toBe(rc);
  for (const rc of ['runc', 'gvisor-2', 'mykata', undefined]) expect(sandboxRuntimeClassOf(pod({ runtimeClassName: rc }), defaults)).toBeUndefined();
});

describe('sandbox-share-process-namespace', () => {
  test('denies shareProcessNamespace on a sandbox, naming field, class and fix', () => {
    expect(run(sandboxShareProcessNamespace, pod({ runtimeClassName: 'kata-fc', shareProcessNamespace: true }))).toEqual([
      {
        field: 'spec.shareProcessNamespace',
        message: 'runtimeClassName "kata-fc" cannot share one process namespace between containers: remove spec.shareProcessNamespace, or use a non-sandboxed runtime class for this pod',
        summary: 'remove spec.shareProcessNamespace: runtime class "kata-fc" cannot share it',
      },
    ]);
  });
  test('leaves runc pods and false alone', () => {
    expect(run(sandboxShareProcessNamespace, pod({ shareProcessNamespace: true }))).toEqual([]);
    expect(run(sandboxShareProcessNamespace, pod({ runtimeClassName: 'kata', shareProcessNamespace: false }))).toEqual([]);
  });
});

describe('sandbox-privileged', () => {
  const priv = { securityContext: { privileged: true } };
  test('finds privileged app, init (incl. native sidecar) and ephemeral containers', () => {
    const p = pod({
      runtimeClassName: 'gvisor',
      containers: [{ name: 'app', image: 'x', ...priv }, { name: 'ok', image: 'x', securityContext: { privileged: false } }],
      initContainers: [{ name: 'setup', image: 'x', ...priv }, { name: 'side', image: 'x', restartPolicy: 'Always', ...priv }],
      ephemeralContainers: [{ name: 'debugger', image: 'x', ...priv }],
    });
    const found = run(sandboxPrivileged, p);
    expect(found.map((v) => v.field)).toEqual([
      'spec.containers[app].securityContext.privileged',
      'spec.initContainers[setup].securityContext.privileged',
      'spec.initContainers[side].securityContext.privileged',
      'spec.ephemeralContainers[debugger].securityContext.privileged',
    ]);
    expect(found[0].message).toBe(
      'runtimeClassName "gvisor" gives privileged containers only the sandbox\'s devices, not the host\'s: remove spec.containers[app].securityContext.privileged, or use a non-sandboxed runtime class for this pod',
    );
  });
  test('leaves runc pods alone', () => {
    expect(run(sandboxPrivileged, pod({ containers: [{ name: 'app', image: 'x', ...priv }] }))).toEqual([]);
  });
});

describe('sandbox-subpath', () => {
  test('finds subPath and subPathExpr in every container kind', () => {
    const p = pod({
      runtimeClassName: 'kata',
      containers: [{ name: 'app', image: 'x', volumeMounts: [{ name: 'data', mountPath: '/d', subPath: 'a' }, { name: 'whole', mountPath: '/w' }] }],
      initContainers: [{ name: 'init', image: 'x', volumeMounts: [{ name: 'data', mountPath: '/d', subPathExpr: '$(POD_NAME)' }] }],
    });
    const found = run(sandboxSubPath, p);
    expect(found.map((v) => v.field)).toEqual(['spec.containers[app].volumeMounts[data].subPath', 'spec.initContainers[init].volumeMounts[data].subPathExpr']);
    expect(found[0].message).toContain('mount the whole volume "data" instead');
    expect(found[0].message).toContain('"kata"');
  });
  test('an empty subPath is no subPath', () => {
    expect(run(sandboxSubPath, pod({ runtimeClassName: 'kata', containers: [{ name: 'a', image: 'x', volumeMounts: [{ name: 'd', mountPath: '/d', subPath: '' }] }] }))).toEqual([]);
  });
});

describe('hostPath rules', () => {
  const vols = (...paths: string[]) => paths.map((path, i) => ({ name: `v${i}`, hostPath: { path } }));
  test('/proc paths outside the allowlist are denied, normalised first', () => {
    const p = pod({ runtimeClassName: 'kata', volumes: [...vols('/proc/sys', '/proc/cpuinfo', '/proc/../proc/kcore', '/proc'), { name: 'e', emptyDir: {} }] });
    const found = run(sandboxProcMounts, p);
    expect(found.map((v) => v.field)).toEqual(['spec.volumes[v0].hostPath.path', 'spec.volumes[v2].hostPath.path', 'spec.volumes[v3].hostPath.path']);
    expect(found[0].message).toBe(
      'runtimeClassName "kata" exposes the sandbox\'s own /proc, not the host\'s /proc/sys: remove volume v0, use an allowed path (/proc/cpuinfo, /proc/meminfo, /proc/stat, /proc/uptime; validation.procMountAllowlist), or a non-sandboxed runtime class',
    );
  });
  test('the allowlist is configurable', () => {
    const config = parseConfig({ validation: { procMountAllowlist: ['/proc/sys'] } });
    expect(run(sandboxProcMounts, pod({ runtimeClassName: 'kata', volumes: vols('/proc/sys', '/proc/cpuinfo') }), config).map((v) => v.field)).toEqual(['spec.volumes[v1].hostPath.path']);
  });
  test('other host paths are warned about; /proc ones are left to sandbox-proc-mounts', () => {
    const found = run(sandboxHostPath, pod({ runtimeClassName: 'runsc', volumes: vols('/var/log', '/proc/sys', '/procfs') }));
    expect(found.map((v) => v.field)).toEqual(['spec.volumes[v0].hostPath.path', 'spec.volumes[v2].hostPath.path']);
    expect(found[0].summary).toBe('hostPath /var/log weakens the "runsc" sandbox; use a PVC or emptyDir');
  });
  test('runc pods may use any host path', () => {
    expect([...run(sandboxProcMounts, pod({ volumes: vols('/proc/sys') })), ...run(sandboxHostPath, pod({ volumes: vols('/var') }))]).toEqual([]);
  });
});

describe('placement', () => {
  const on = parseConfig({ validation: { placement: { enabled: true } } });
  const labelled = (value: string, runtimeClassName?: string) => pod({ runtimeClassName }, { 'podhooks.io/workload': value });
  test('is off unless enabled', () => {
    expect(run(placement, labelled('batch'))).toEqual([]);
  });
  test('offline and batch pods must use the sandbox class', () => {
    expect(run(placement, labelled('batch'), on)).toEqual([
      {
        field: 'spec.runtimeClassName',
        message: 'metadata.labels[podhooks.io/workload]="batch" marks an offline workload, which must run sandboxed, but runtimeClassName is unset (default runtime): set spec.runtimeClassName: kata',
        summary: 'offline pod (podhooks.io/workload=batch) must set spec.runtimeClassName: kata',
      },
    ]);
    expect(run(placement, labelled('offline', 'runc'), on)[0].message).toContain('runtimeClassName is "runc"');
    expect(run(placement, labelled('offline', 'kata'), on)).toEqual([]);
  });
  test('"sandboxed" is the one matcher every rule uses: kata* covers kata-fc, gvisor and runsc count too', () => {
    for (const rc of ['kata-fc', 'kata-qemu', 'gvisor', 'runsc']) expect(run(placement, labelled('batch', rc), on)).toEqual([]);
    expect(run(placement, labelled('online', 'kata-fc'), on)[0].summary).toBe('online pod (podhooks.io/workload=online): remove spec.runtimeClassName "kata-fc"');
  });
  test('a placement class the sandbox list does not match is a config error', () => {
    expect(() => parseConfig({ validation: { placement: { enabled: true, sandboxRuntimeClass: 'firecracker' } } })).toThrow(
      'invalid config:\n  - validation.placement.sandboxRuntimeClass: is not matched by validation.sandboxRuntimeClasses (kata*, gvisor, runsc); add it there or choose a class they match (got "firecracker")',
    );
    expect(parseConfig({ validation: { sandboxRuntimeClasses: ['firecracker'], placement: { enabled: true, sandboxRuntimeClass: 'firecracker' } } }).validation.placement.sandboxRuntimeClass).toBe('firecracker');
  });
  test('online pods must not use a sandbox class', () => {
    expect(run(placement, labelled('online'), on)).toEqual([]);
    expect(run(placement, labelled('online', 'runc'), on)).toEqual([]);
    expect(run(placement, labelled('online', 'kata-qemu'), on)[0].message).toBe(
      'metadata.labels[podhooks.io/workload]="online" marks an online workload, which runs on the default runtime, but runtimeClassName is "kata-qemu": remove spec.runtimeClassName',
    );
  });
  test('an unknown label value is reported, unlabelled pods are not', () => {
    expect(run(placement, labelled('bacth'), on)[0].field).toBe('metadata.labels[podhooks.io/workload]');
    expect(run(placement, pod({}), on)).toEqual([]);
  });
});

test('every summary of a default-config finding fits a warning under 120 characters', () => {
  const everything = pod(
    {
      runtimeClassName: 'kata-qemu',
      hostNetwork: true,
      hostPID: true,
      hostIPC: true,
      shareProcessNamespace: true,
      containers: [{ name: 'app', image: 'x', securityContext: { privileged: true }, volumeMounts: [{ name: 'data', mountPath: '/d', subPath: 'x' }] }],
      volumes: [{ name: 'logs', hostPath: { path: '/var/log/app' } }, { name: 'sys', hostPath: { path: '/proc/sys' } }],
    },
    { 'podhooks.io/workload': 'online' },
  );
  const config = parseConfig({ validation: { placement: { enabled: true } } });
  const findings = evaluate({ pod: everything, namespace: 'shop', config });
  expect(new Set(findings.map((f) => f.rule))).toEqual(new Set(['sandbox-host-namespaces', 'sandbox-share-process-namespace', 'sandbox-privileged', 'sandbox-subpath', 'sandbox-proc-mounts', 'sandbox-host-path', 'placement']));
  for (const f of findings) expect(`podhooks ${f.rule}: ${f.summary}`).toMatch(/^.{20,119}$/);
});

test('a misspelt rule id in validation.rules is an error, not a silent no-op', () => {
  expect(parseConfig({ validation: { rules: { 'sandbox-privileged': 'warn' } } }).validation.rules).toEqual({ 'sandbox-privileged': 'warn' });
  expect(() => parseConfig({ validation: { rules: { 'sandbox-privilege': 'warn' } } })).toThrow(
    /^invalid config:\n {2}- validation\.rules\.sandbox-privilege: unknown rule id; known rules are sandbox-host-namespaces, /,
  );
});
