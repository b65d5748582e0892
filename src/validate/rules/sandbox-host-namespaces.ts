// Kata/gVisor run the pod in a VM or a user-space kernel: there is no host network, PID
// or IPC namespace to share. Kata with hostNetwork can even break the node's networking.
import { celConcat, celIf, celViolation, NON_SANDBOXED, sandboxRule } from '../rule';
import { t, template } from '../text';

const FIELDS = [
  { field: 'hostNetwork', what: 'host networking' },
  { field: 'hostPID', what: 'the host PID namespace' },
  { field: 'hostIPC', what: 'the host IPC namespace' },
] as const;

const message = template<'rc' | 'field' | 'what'>(({ rc, field, what }) => t`runtimeClassName "${rc}" runs the pod in a sandbox that cannot share ${what}: remove spec.${field}, ${NON_SANDBOXED}`);
const summary = template<'rc' | 'field' | 'what'>(({ rc, field, what }) => t`remove spec.${field}: runtime class "${rc}" cannot share ${what}`);

export const sandboxHostNamespaces = sandboxRule({
  id: 'sandbox-host-namespaces',
  description: 'Pods on a sandboxed runtime class (Kata, gVisor) cannot use hostNetwork, hostPID or hostIPC.',
  defaultAction: 'deny',
  find: (pod, rc) =>
    FIELDS.filter(({ field }) => pod.spec?.[field] === true).map(({ field, what }) => ({
      field: `spec.${field}`,
      message: message.text({ rc, field, what }),
      summary: summary.text({ rc, field, what }),
    })),
  cel: ({ pod, rc }) =>
    celConcat(
      FIELDS.map(({ field, what }) =>
        celIf(`${pod}.spec.?${field}.orValue(false) == true`, celViolation({ field: `spec.${field}`, message: message.cel({ rc, field, what }), summary: summary.cel({ rc, field, what }) })),
      ),
    ),
});
