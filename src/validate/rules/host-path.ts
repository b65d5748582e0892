// hostPath volumes on a sandboxed runtime: the sandbox sees a copy or a shared-fs view
// of the host path. Paths under /proc expose the guest's /proc, not the host's, except
// for the few files Kata passes through (validation.procMountAllowlist); those are denied.
// Other host paths work but weaken the isolation the sandbox was chosen for: a warning.
import { posix } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { Rule, Violation } from '../policy';

function hostPaths(pod: V1Pod): { field: string; name: string; path: string }[] {
  return (pod.spec?.volumes ?? [])
    .filter((v) => v.hostPath?.path)
    .map((v) => ({ field: `spec.volumes[${v.name}].hostPath.path`, name: v.name, path: posix.normalize(v.hostPath!.path) }));
}

const underProc = (path: string) => path === '/proc' || path.startsWith('/proc/');

export const sandboxProcMounts: Rule = {
  id: 'sandbox-proc-mounts',
  description: 'Pods on a sandboxed runtime class cannot mount hostPath volumes under /proc outside validation.procMountAllowlist.',
  defaultAction: 'deny',
  check({ pod, sandboxRuntimeClass, config }): Violation[] {
    if (!sandboxRuntimeClass) return [];
    const allowed = config.validation.procMountAllowlist;
    return hostPaths(pod)
      .filter(({ path }) => underProc(path) && !allowed.includes(path))
      .map(({ field, name, path }) => ({
        field,
        message:
          `runtimeClassName "${sandboxRuntimeClass}" exposes the sandbox's own /proc, not the host's ${path}: ` +
          `remove volume ${name}, use an allowed path (${allowed.join(', ') || 'none configured'}; validation.procMountAllowlist), or a non-sandboxed runtime class`,
        summary: `hostPath ${path} is not allowed on runtime class "${sandboxRuntimeClass}" (procMountAllowlist)`,
      }));
  },
};

export const sandboxHostPath: Rule = {
  id: 'sandbox-host-path',
  description: 'Pods on a sandboxed runtime class are warned about hostPath volumes (outside /proc) that weaken the isolation.',
  defaultAction: 'warn',
  check({ pod, sandboxRuntimeClass }): Violation[] {
    if (!sandboxRuntimeClass) return [];
    return hostPaths(pod)
      .filter(({ path }) => !underProc(path))
      .map(({ field, name, path }) => ({
        field,
        message: `runtimeClassName "${sandboxRuntimeClass}" with hostPath ${path} weakens the sandbox's isolation: use a PVC or emptyDir for volume ${name}`,
        summary: `hostPath ${path} weakens the "${sandboxRuntimeClass}" sandbox; use a PVC or emptyDir`,
      }));
  },
};
