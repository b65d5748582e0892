// In a sandbox "privileged" reaches only the guest VM's devices, never the host's: a pod
// that needs host privileges would silently get less than it asked for.
import type { Rule, Violation } from '../policy';
import { allContainers } from '../pod-fields';

export const sandboxPrivileged: Rule = {
  id: 'sandbox-privileged',
  description: 'Containers (app, init, ephemeral) of a pod on a sandboxed runtime class cannot be privileged.',
  defaultAction: 'deny',
  check({ pod, sandboxRuntimeClass }): Violation[] {
    if (!sandboxRuntimeClass) return [];
    return allContainers(pod)
      .filter(({ container }) => container.securityContext?.privileged === true)
      .map(({ path }) => ({
        field: `${path}.securityContext.privileged`,
        message:
          `runtimeClassName "${sandboxRuntimeClass}" gives privileged containers only the sandbox's devices, not the host's: ` +
          `remove ${path}.securityContext.privileged, or use a non-sandboxed runtime class for this pod`,
        summary: `remove ${path}.securityContext.privileged (runtime class "${sandboxRuntimeClass}")`,
      }));
  },
};
