// `--rollout deployment/NAME`, the pure part: the rollout's newest ReplicaSet (highest
// deployment.kubernetes.io/revision among those the Deployment controls), the selector of
// its pods (the Deployment's matchLabels plus pod-template-hash), and whether the rollout
// is complete, judged as `kubectl rollout status` judges it.
import type { V1Deployment, V1LabelSelector, V1ReplicaSet } from '@kubernetes/client-node';

export class RolloutError extends Error {}

export function parseRolloutRef(value: string): string {
  const m = /^(deployment|deployments|deploy|deployment\.apps)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(value);
  if (!m) throw new RolloutError(`--rollout ${JSON.stringify(value)}: expected deployment/NAME (only Deployments are supported)`);
  return m[2];
}

const revision = (rs: V1ReplicaSet) => Number(rs.metadata?.annotations?.['deployment.kubernetes.io/revision'] ?? NaN);

export function newestReplicaSet(deployment: V1Deployment, replicaSets: V1ReplicaSet[]): V1ReplicaSet {
  const uid = deployment.metadata?.uid;
  const owned = replicaSets.filter((rs) => rs.metadata?.ownerReferences?.some((o) => o.controller && o.uid === uid) && Number.isFinite(revision(rs)));
  const name = `deployment ${deployment.metadata?.namespace}/${deployment.metadata?.name}`;
  if (!owned.length) throw new RolloutError(`${name} has no ReplicaSet yet; wait for the Deployment controller, then try again`);
  return owned.reduce((a, b) => (revision(b) > revision(a) ? b : a));
}

/** A label selector string from matchLabels and In/NotIn/Exists/DoesNotExist expressions. */
export function selectorString(selector: V1LabelSelector | undefined): string {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector?.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
    else throw new RolloutError(`label selector operator ${JSON.stringify(e.operator)} is not understood`);
  }
  return parts.join(',');
}

/** The pods of this ReplicaSet: the Deployment's selector narrowed by pod-template-hash. */
export function replicaSetPodSelector(deployment: V1Deployment, rs: V1ReplicaSet): string {
  const hash = rs.metadata?.labels?.['pod-template-hash'];
  if (!hash) throw new RolloutError(`ReplicaSet ${rs.metadata?.name} has no pod-template-hash label`);
  return [selectorString(deployment.spec?.selector), `pod-template-hash=${hash}`].filter(Boolean).join(',');
}

export type RolloutState = { done: true; message: string } | { done: false; failed?: boolean; message: string };

export function rolloutState(d: V1Deployment): RolloutState {
  const name = `deployment ${d.metadata?.namespace}/${d.metadata?.name}`;
  const s = d.status ?? {};
  if ((d.metadata?.generation ?? 0) > (s.observedGeneration ?? 0)) return { done: false, message: `${name}: waiting for the controller to observe the new spec` };
  const progressing = s.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return { done: false, failed: true, message: `${name} exceeded its progress deadline (spec.progressDeadlineSeconds ${d.spec?.progressDeadlineSeconds ?? 600}): ${progressing.message ?? ''}` };
  }
  const want = d.spec?.replicas ?? 1;
  const updated = s.updatedReplicas ?? 0;
  if (updated < want) return { done: false, message: `${name}: ${updated} of ${want} new replicas created` };
  if ((s.replicas ?? 0) > updated) return { done: false, message: `${name}: ${(s.replicas ?? 0) - updated} old replicas pending termination` };
  if ((s.availableReplicas ?? 0) < updated) return { done: false, message: `${name}: ${s.availableReplicas ?? 0} of ${updated} updated replicas available` };
  return { done: true, message: `${name}: rollout complete, ${updated} of ${want} replicas updated and available` };
}
