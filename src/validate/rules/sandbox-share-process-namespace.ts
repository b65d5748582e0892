// A pod-wide PID namespace is a host-kernel feature the Kata agent does not offer across
// the VM boundary; its own id so ops can relax it separately from hostPID.
import { celIf, celViolation, NON_SANDBOXED, sandboxRule } from '../rule';
import { t, template } from '../text';

const FIELD = 'spec.shareProcessNamespace';
const message = template<'rc'>(({ rc }) => t`runtimeClassName "${rc}" cannot share one process namespace between containers: remove ${FIELD}, ${NON_SANDBOXED}`);
const summary = template<'rc'>(({ rc }) => t`remove ${FIELD}: runtime class "${rc}" cannot share it`);

export const sandboxShareProcessNamespace = sandboxRule({
  id: 'sandbox-share-process-namespace',
  description: 'Pods on a sandboxed runtime class cannot set shareProcessNamespace.',
  defaultAction: 'deny',
  find: (pod, rc) => (pod.spec?.shareProcessNamespace === true ? [{ field: FIELD, message: message.text({ rc }), summary: summary.text({ rc }) }] : []),
  cel: ({ pod, rc }) => celIf(`${pod}.spec.?shareProcessNamespace.orValue(false) == true`, celViolation({ field: FIELD, message: message.cel({ rc }), summary: summary.cel({ rc }) })),
});
