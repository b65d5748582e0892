// Placement that assigns (validation.placement.mode: assign): an offline pod (its
// workload label has an offline value) that sets no runtime class gets the sandbox
// runtime class. The validating placement rule still refuses the rest (online pods on a
// sandbox class, offline pods on another class). The change is recorded in
// podhooks.io/status, so re-injection undoes it first, like every other change (once
// trust.ts has checked that placement would assign that class again). The placement
// webhook's own path is place-only.ts.
import type { V1Pod } from '@kubernetes/client-node';
import type { Config } from '../config';
import { labelExemption, namespaceExemption } from '../validate/policy';

export interface PlacementPlan {
  runtimeClass: string;
  label: string;
  value: string;
}

/** The runtime class assign mode gives this pod (as written, or with podhooks' changes undone), if any. */
export function placementFor(pod: V1Pod, namespace: string | undefined, config: Config): PlacementPlan | undefined {
  const p = config.validation.placement;
  if (!p.enabled || p.mode !== 'assign' || pod.spec?.runtimeClassName) return undefined;
  const value = pod.metadata?.labels?.[p.label];
  if (value === undefined || !p.offlineValues.includes(value)) return undefined;
  // Pods the policy does not evaluate are not placed either.
  if (namespaceExemption(namespace, config) ?? labelExemption(pod, config)) return undefined;
  return { runtimeClass: p.sandboxRuntimeClass, label: p.label, value };
}

/** One line for logs, warnings and audit annotations. */
export function describePlacement(plan: PlacementPlan): string {
  return `spec.runtimeClassName set to "${plan.runtimeClass}": metadata.labels[${plan.label}]="${plan.value}" marks an offline workload (validation.placement.mode: assign)`;
}
