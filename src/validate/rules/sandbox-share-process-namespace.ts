// A pod-wide PID namespace is a host-kernel feature the Kata agent does not offer across
// the VM boundary; its own id so ops can relax it separately from hostPID.
import type { Rule, Violation } from '../policy';

export const sandboxShareProcessNamespace: Rule = {
  id: 'sandbox-share-process-namespace',
  description: 'Pods on a sandboxed runtime class cannot set shareProcessNamespace.',
  defaultAction: 'deny',
  check({ pod, sandboxRuntimeClass }): Violation[] {
    if (!sandboxRuntimeClass || pod.spec?.shareProcessNamespace !== true) return [];
    return [
      {
        field: 'spec.shareProcessNamespace',
        message:
          `runtimeClassName "${sandboxRuntimeClass}" cannot share one process namespace between containers: ` +
          'remove spec.shareProcessNamespace, or use a non-sandboxed runtime class for this pod',
        summary: `remove spec.shareProcessNamespace: runtime class "${sandboxRuntimeClass}" cannot share it`,
      },
    ];
  },
};
