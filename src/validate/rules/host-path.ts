// hostPath volumes on a sandboxed runtime: the sandbox sees a copy or a shared-fs view
// of the host path. Paths under /proc expose the guest's /proc, not the host's, except
// for the few files Kata passes through (validation.procMountAllowlist); those are denied.
// Other host paths work but weaken the isolation the sandbox was chosen for: a warning.
import { posix } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { celConfig, celViolation, sandboxRule } from '../rule';
import { cel, t, template } from '../text';

/**
 * `//`, `.` and a trailing `/` removed, `..` resolved. The CEL side does the same except
 * for `..`, which the apiserver refuses in hostPath.path before any policy sees it.
 */
export function normalizeHostPath(path: string): string {
  const resolved = posix.normalize(path);
  return (resolved.startsWith('/') ? '/' : '') + resolved.split('/').filter((s) => s && s !== '.').join('/');
}

function hostPaths(pod: V1Pod): { field: string; name: string; path: string }[] {
  return (pod.spec?.volumes ?? [])
    .filter((v) => v.hostPath?.path)
    .map((v) => ({ field: `spec.volumes[${v.name}].hostPath.path`, name: v.name, path: normalizeHostPath(v.hostPath!.path) }));
}

const underProc = (path: string) => path === '/proc' || path.startsWith('/proc/');

/** CEL: the pod's hostPath volumes as {name, path} maps, path normalised like normalizeHostPath. */
function celHostPaths(pod: string): string {
  const raw = 'string(v.hostPath.path)';
  return (
    `${pod}.spec.?volumes.orValue([]).filter(v, v.?hostPath.?path.orValue('') != '')` +
    `.map(v, {'name': string(v.name), 'path': (${raw}.startsWith('/') ? '/' : '') + ${raw}.split('/').filter(s, s != '' && s != '.').join('/')})`
  );
}
const celUnderProc = "(h.path == '/proc' || h.path.startsWith('/proc/'))";
const field = cel("'spec.volumes[' + h.name + '].hostPath.path'");
const [hName, hPath] = [cel('h.name'), cel('h.path')];

const procMessage = template<'rc' | 'path' | 'name' | 'allowed'>(
  ({ rc, path, name, allowed }) =>
    t`runtimeClassName "${rc}" exposes the sandbox's own /proc, not the host's ${path}: remove volume ${name}, use an allowed path (${allowed}; validation.procMountAllowlist), or a non-sandboxed runtime class`,
);
const procSummary = template<'rc' | 'path'>(({ rc, path }) => t`hostPath ${path} is not allowed on runtime class "${rc}" (procMountAllowlist)`);
const ALLOWLIST = celConfig('procMountAllowlist');

export const sandboxProcMounts = sandboxRule({
  id: 'sandbox-proc-mounts',
  description: 'Pods on a sandboxed runtime class cannot mount hostPath volumes under /proc outside validation.procMountAllowlist.',
  defaultAction: 'deny',
  find(pod, rc, config) {
    const allowed = config.validation.procMountAllowlist;
    return hostPaths(pod)
      .filter(({ path }) => underProc(path) && !allowed.includes(path))
      .map(({ field, name, path }) => ({
        field,
        message: procMessage.text({ rc, path, name, allowed: allowed.join(', ') || 'none configured' }),
        summary: procSummary.text({ rc, path }),
      }));
  },
  cel: ({ pod, rc }) =>
    `${celHostPaths(pod)}.filter(h, ${celUnderProc} && !(h.path in ${ALLOWLIST}))` +
    `.map(h, ${celViolation({
      field,
      message: procMessage.cel({ rc, path: hPath, name: hName, allowed: cel(`size(${ALLOWLIST}) == 0 ? 'none configured' : ${ALLOWLIST}.join(', ')`) }),
      summary: procSummary.cel({ rc, path: hPath }),
    })})`,
});

const hostMessage = template<'rc' | 'path' | 'name'>(({ rc, path, name }) => t`runtimeClassName "${rc}" with hostPath ${path} weakens the sandbox's isolation: use a PVC or emptyDir for volume ${name}`);
const hostSummary = template<'rc' | 'path'>(({ rc, path }) => t`hostPath ${path} weakens the "${rc}" sandbox; use a PVC or emptyDir`);

export const sandboxHostPath = sandboxRule({
  id: 'sandbox-host-path',
  description: 'Pods on a sandboxed runtime class are warned about hostPath volumes (outside /proc) that weaken the isolation.',
  defaultAction: 'warn',
  find: (pod, rc) =>
    hostPaths(pod)
      .filter(({ path }) => !underProc(path))
      .map(({ field, name, path }) => ({ field, message: hostMessage.text({ rc, path, name }), summary: hostSummary.text({ rc, path }) })),
  cel: ({ pod, rc }) =>
    `${celHostPaths(pod)}.filter(h, !${celUnderProc})` +
    `.map(h, ${celViolation({ field, message: hostMessage.cel({ rc, path: hPath, name: hName }), summary: hostSummary.cel({ rc, path: hPath }) })})`,
});
