// Kata shares volumes into the VM per volume, not per sub-directory: subPath mounts
// fail on the node (or escape the intended directory) long after admission.
import type { Rule, Violation } from '../policy';
import { allVolumeMounts } from '../pod-fields';

export const sandboxSubPath: Rule = {
  id: 'sandbox-subpath',
  description: 'Pods on a sandboxed runtime class cannot use subPath or subPathExpr volume mounts.',
  defaultAction: 'deny',
  check({ pod, sandboxRuntimeClass }): Violation[] {
    if (!sandboxRuntimeClass) return [];
    const out: Violation[] = [];
    for (const { path, mount } of allVolumeMounts(pod)) {
      for (const key of ['subPath', 'subPathExpr'] as const) {
        if (!mount[key]) continue;
        out.push({
          field: `${path}.${key}`,
          message:
            `runtimeClassName "${sandboxRuntimeClass}" cannot mount part of a volume: ` +
            `remove ${path}.${key} (mount the whole volume "${mount.name}" instead), or use a non-sandboxed runtime class for this pod`,
          summary: `remove ${path}.${key} (runtime class "${sandboxRuntimeClass}")`,
        });
      }
    }
    return out;
  },
};
