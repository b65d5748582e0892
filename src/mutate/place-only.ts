// The placement webhook's change: for pods that did not opt into hooks, the sandbox
// runtime class (placement.ts decides which pods get it) and a status record, nothing
// else. A previous injection's record is kept only when injection would trust it
// (trust.ts); a forged or foreign one is replaced, and the caller says so.
import type { V1Pod } from '@kubernetes/client-node';
import type { Config } from '../config';
import { A } from './annotations';
import { emptyStatus } from './draft';
import { statusDistrust } from './inject';
import { placementFor, type PlacementPlan } from './placement';
import { readStatus } from './uninject';

/**
 * The pod with its runtime class placed, if placement assigns one. Hooks a trusted earlier
 * injection recorded stay recorded. Throws StatusError on an unreadable podhooks.io/status.
 */
export function placeOnly(pod: V1Pod, namespace: string | undefined, config: Config, nativeSidecars = config.injection.nativeSidecars !== 'false'): { pod: V1Pod; plan?: PlacementPlan; untrustedStatus?: string } {
  const plan = placementFor(pod, namespace, config);
  if (!plan) return { pod };
  const recorded = readStatus(pod);
  const untrustedStatus = recorded && statusDistrust(pod, { config, namespace, nativeSidecars });
  const status = { ...(recorded && !untrustedStatus ? recorded : emptyStatus()), runtimeClassName: plan.runtimeClass };
  return {
    pod: {
      ...pod,
      metadata: { ...pod.metadata, annotations: { ...pod.metadata?.annotations, [A.status]: JSON.stringify(status) } },
      spec: { ...pod.spec!, runtimeClassName: plan.runtimeClass },
    },
    plan,
    ...(untrustedStatus ? { untrustedStatus } : {}),
  };
}
