// `podhooks online|offline`, the pure part: whether a pod can be switched, the status patch
// that touches only the podhooks.io/online condition, the Event that records who and why,
// and the RBAC a caller needs (one list, used for the pre-flight check, the 403 message and
// deploy/examples/traffic-approver.yaml's documentation).
import type { CoreV1Event, V1Pod, V1PodCondition } from '@kubernetes/client-node';
import { ONLINE_CONDITION } from '../mutate/traffic';

export type Direction = 'online' | 'offline';

/** A failure of the whole command; exitCode 1: not done, 2: unusable input. */
export class TrafficError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** What client-node 1.x throws for an HTTP error: the status code and the apiserver's Status body. */
export interface ApiError {
  code?: number;
  body?: unknown;
  message?: string;
}

export function apiserverMessage(err: unknown): string {
  const e = err as ApiError;
  try {
    return (typeof e.body === 'string' ? JSON.parse(e.body) : (e.body as { message: string })).message ?? e.message ?? String(err);
  } catch {
    return e.message ?? String(err);
  }
}

export interface Permission {
  verb: string;
  resource: string;
  subresource?: string;
  group?: string;
  /** Why the command needs it. */
  why: string;
}

export const PERMISSIONS = {
  getPods: { verb: 'get', resource: 'pods', why: 'read the named pods' },
  listPods: { verb: 'list', resource: 'pods', why: 'select pods by -l or --rollout' },
  patchStatus: { verb: 'patch', resource: 'pods', subresource: 'status', why: 'set the podhooks.io/online condition' },
  createEvents: { verb: 'create', resource: 'events', why: 'record who switched the pod, and why' },
  getDeployments: { verb: 'get', resource: 'deployments', group: 'apps', why: '--rollout: read the Deployment' },
  listReplicaSets: { verb: 'list', resource: 'replicasets', group: 'apps', why: '--rollout: find its newest ReplicaSet' },
} satisfies Record<string, Permission>;

export const RBAC_EXAMPLE = 'deploy/examples/traffic-approver.yaml';

export function permissionName(p: Permission): string {
  const resource = p.subresource ? `${p.resource}/${p.subresource}` : p.resource;
  return `${p.verb} ${p.group ? `${resource}.${p.group}` : resource}`;
}

/** What a caller without `missing` is told: which verbs on which resources, and where the Role is. */
export function forbiddenMessage(user: string, namespace: string, missing: Permission[], apiserver?: string): string {
  const list = missing.map((p) => `${permissionName(p)} (to ${p.why})`).join(', ');
  return (
    `forbidden: ${user} may not ${list} in namespace ${namespace}` +
    (apiserver ? ` (the apiserver said: ${apiserver})` : '') +
    `. A release pipeline needs the Role in ${RBAC_EXAMPLE}, bound in this namespace`
  );
}

/** A 403 names the verb and resource the call needed; a 401 points at the credentials; the rest pass through. */
export function translateApiError(err: unknown, permission: Permission, user: string, namespace: string): unknown {
  const code = (err as ApiError).code;
  if (code === 403) return new TrafficError(forbiddenMessage(user, namespace, [permission], apiserverMessage(err)));
  if (code === 401) return new TrafficError(`the apiserver did not accept the credentials (HTTP 401: ${apiserverMessage(err)}); check the kubeconfig's user`);
  return err;
}

export function onlineCondition(pod: V1Pod): V1PodCondition | undefined {
  return pod.status?.conditions?.find((c) => c.type === ONLINE_CONDITION);
}

export function hasGate(pod: V1Pod): boolean {
  return !!pod.spec?.readinessGates?.some((g) => g.conditionType === ONLINE_CONDITION);
}

const podName = (pod: V1Pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`;

/** Why this pod cannot be switched, or undefined when it can. */
export function refusal(pod: V1Pod, direction: Direction): string | undefined {
  if (!hasGate(pod)) {
    return (
      `pod ${podName(pod)} has no readiness gate ${ONLINE_CONDITION}, so ${direction === 'online' ? 'it already takes traffic once ready' : 'it cannot be taken out of its Services this way'}: ` +
      `it was not created with annotation podhooks.io/traffic: manual through podhooks' webhook. Readiness gates are set only when a pod is created: ` +
      `add the annotation to the pod template and roll out`
    );
  }
  if (direction === 'online' && pod.metadata?.deletionTimestamp) return `pod ${podName(pod)} is terminating; it will not be put online`;
  return undefined;
}

/** True when the condition already says what `direction` wants (absent counts as offline). */
export function alreadyThere(pod: V1Pod, direction: Direction): boolean {
  const status = onlineCondition(pod)?.status;
  return direction === 'online' ? status === 'True' : status !== 'True';
}

export interface Actor {
  /** The authenticated user name (SelfSubjectReview), or the kubeconfig's user when that failed. */
  user: string;
  verified: boolean;
}

/**
 * The pods/status strategic-merge patch: `conditions` merges by `type`, so only ours changes.
 * The resourceVersion makes it conditional: if anything changed the pod since it was read,
 * the apiserver answers 409 and the caller re-reads, so a transition is judged on fresh state.
 */
export function statusPatch(pod: V1Pod, direction: Direction, actor: Actor, reason: string, now: Date): object {
  return {
    metadata: { resourceVersion: pod.metadata?.resourceVersion },
    status: {
      conditions: [
        {
          type: ONLINE_CONDITION,
          status: direction === 'online' ? 'True' : 'False',
          reason: direction === 'online' ? 'PodhooksOnline' : 'PodhooksOffline',
          message: `${direction === 'online' ? 'approved' : 'taken offline'} by ${actor.user}: ${reason}`,
          lastTransitionTime: now.toISOString(),
        },
      ],
    },
  };
}

export const EVENT_REASONS = { online: 'PodhooksOnline', offline: 'PodhooksOffline' } as const;

export function transitionEvent(pod: V1Pod, direction: Direction, actor: Actor, reason: string, now: Date, instance: string, rand: string): CoreV1Event {
  const was = onlineCondition(pod)?.status === 'True' ? 'online' : 'offline';
  const who = actor.verified ? actor.user : `${actor.user} (kubeconfig user; the apiserver did not confirm it)`;
  const message = direction === 'online' ? `traffic approved by ${who} (was ${was}): ${reason}` : `traffic withdrawn by ${who} (was ${was}): ${reason}`;
  return {
    metadata: {
      name: `${pod.metadata!.name}.${now.getTime().toString(16)}${rand}`,
      namespace: pod.metadata!.namespace,
      annotations: { 'podhooks.io/user': actor.user, 'podhooks.io/reason': reason },
    },
    involvedObject: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata!.name, namespace: pod.metadata!.namespace, uid: pod.metadata!.uid, resourceVersion: pod.metadata!.resourceVersion },
    reason: EVENT_REASONS[direction],
    message: message.length > 1024 ? `${message.slice(0, 1021)}...` : message,
    type: 'Normal',
    count: 1,
    firstTimestamp: now,
    lastTimestamp: now,
    source: { component: 'podhooks-cli' },
    reportingComponent: 'podhooks-cli',
    reportingInstance: instance,
  };
}

/** A short note for the output: an approved pod whose own containers are not ready yet. */
export function readinessNote(pod: V1Pod, direction: Direction): string {
  if (direction !== 'online') return '';
  const containersReady = pod.status?.conditions?.find((c) => c.type === 'ContainersReady')?.status === 'True';
  return containersReady ? '' : '; its containers are not ready yet, it takes traffic once they are';
}
