// Manual traffic approval: a readiness gate keeps the pod out of its Services' endpoints
// until someone sets the gate's condition (`podhooks online`). Only a pod's creation can
// add a readiness gate, so this is decided here, at admission, and never later.
import type { HookSpec } from './annotations';
import type { PodDraft } from './draft';

/** The pod condition `podhooks online|offline` sets; kubelet counts the pod Ready only when it is True. */
export const ONLINE_CONDITION = 'podhooks.io/online';

export function addTrafficGate(draft: PodDraft, traffic: HookSpec['traffic']): void {
  if (traffic === 'manual') draft.addReadinessGate(ONLINE_CONDITION);
}
