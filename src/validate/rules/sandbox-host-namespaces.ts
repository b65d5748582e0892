// Kata/gVisor run the pod in a VM or a user-space kernel: there is no host network, PID
// or IPC namespace to share. Kata with hostNetwork can even break the node's networking.
import type { Rule, Violation } from '../policy';

const FIELDS = [
  { field: 'hostNetwork', what: 'host networking' },
  { field: 'hostPID', what: 'the host PID namespace' },
  { field: 'hostIPC', what: 'the host IPC namespace' },
] as const;

export const sandboxHostNamespaces: Rule = {
  id: 'sandbox-host-namespaces',
  description: 'Pods on a sandboxed runtime class (Kata, gVisor) cannot use hostNetwork, hostPID or hostIPC.',
  defaultAction: 'deny',
  check({ pod, sandboxRuntimeClass }): Violation[] {
    if (!sandboxRuntimeClass) return [];
    return FIELDS.filter(({ field }) => pod.spec?.[field] === true).map(({ field, what }) => ({
      field: `spec.${field}`,
      message:
        `runtimeClassName "${sandboxRuntimeClass}" runs the pod in a sandbox that cannot share ${what}: ` +
        `remove spec.${field}, or use a non-sandboxed runtime class for this pod`,
      summary: `remove spec.${field}: runtime class "${sandboxRuntimeClass}" cannot share ${what}`,
    }));
  },
};
