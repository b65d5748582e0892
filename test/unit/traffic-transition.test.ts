// The pure part of `podhooks online|offline`: which pods can be switched, the status patch
// (only our condition, conditional on the version read), the Event, the 403 message, and
// the rollout helpers (newest ReplicaSet, selectors, `kubectl rollout status` semantics).
import type { V1Deployment, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';
import { newestReplicaSet, parseRolloutRef, replicaSetPodSelector, RolloutError, rolloutState, selectorString } from '../../src/traffic/rollout';
import { alreadyThere, forbiddenMessage, PERMISSIONS, readinessNote, refusal, statusPatch, TrafficError, transitionEvent, translateApiError } from '../../src/traffic/transition';

const actor = { user: 'system:serviceaccount:shop:release-pipeline', verified: true };
const now = new Date('2026-03-01T12:00:00.000Z');

function pod(conditions: { type: string; status: string }[] = [], gated = true, extra: Partial<V1Pod['metadata']> = {}): V1Pod {
  return {
    metadata: { name: 'web-1', namespace: 'shop', uid: 'u1', resourceVersion: '42', ...extra },
    spec: { containers: [{ name: 'app' }], ...(gated ? { readinessGates: [{ conditionType: 'example.com/lb' }, { conditionType: 'podhooks.io/online' }] } : {}) },
    status: { conditions },
  };
}

test('a pod without the gate is refused with the reason and the fix, for either direction', () => {
  expect(refusal(pod([], false), 'online')).toBe(
    "pod shop/web-1 has no readiness gate podhooks.io/online, so it already takes traffic once ready: it was not created with annotation podhooks.io/traffic: manual through podhooks' webhook. " +
      'Readiness gates are set only when a pod is created: add the annotation to the pod template and roll out',
  );
  expect(refusal(pod([], false), 'offline')).toContain('so it cannot be taken out of its Services this way');
  expect(refusal(pod(), 'online')).toBeUndefined();
});

test('a terminating pod can be taken offline but not put online', () => {
  const dying = pod([], true, { deletionTimestamp: now });
  expect(refusal(dying, 'online')).toBe('pod shop/web-1 is terminating; it will not be put online');
  expect(refusal(dying, 'offline')).toBeUndefined();
});

test('an absent condition counts as offline', () => {
  expect([alreadyThere(pod(), 'online'), alreadyThere(pod(), 'offline')]).toEqual([false, true]);
  const online = pod([{ type: 'podhooks.io/online', status: 'True' }]);
  expect([alreadyThere(online, 'online'), alreadyThere(online, 'offline')]).toEqual([true, false]);
});

test('the status patch names only our condition (merged by type) and is conditional on the version read', () => {
  expect(statusPatch(pod(), 'online', actor, 'tests passed', now)).toEqual({
    metadata: { resourceVersion: '42' },
    status: {
      conditions: [
        { type: 'podhooks.io/online', status: 'True', reason: 'PodhooksOnline', message: 'approved by system:serviceaccount:shop:release-pipeline: tests passed', lastTransitionTime: '2026-03-01T12:00:00.000Z' },
      ],
    },
  });
  expect(statusPatch(pod(), 'offline', actor, 'drain', now)).toMatchObject({ status: { conditions: [{ status: 'False', reason: 'PodhooksOffline', message: 'taken offline by system:serviceaccount:shop:release-pipeline: drain' }] } });
});

test('the Event: on the pod by uid, who, why and the previous state; an unconfirmed user says so', () => {
  const e = transitionEvent(pod([{ type: 'podhooks.io/online', status: 'True' }]), 'offline', actor, 'drain', now, 'laptop', 'ab12');
  expect(e).toMatchObject({
    metadata: { name: `web-1.${now.getTime().toString(16)}ab12`, namespace: 'shop', annotations: { 'podhooks.io/user': actor.user, 'podhooks.io/reason': 'drain' } },
    involvedObject: { kind: 'Pod', name: 'web-1', namespace: 'shop', uid: 'u1' },
    reason: 'PodhooksOffline',
    type: 'Normal',
    message: `traffic withdrawn by ${actor.user} (was online): drain`,
    source: { component: 'podhooks-cli' },
    reportingInstance: 'laptop',
  });
  const unverified = transitionEvent(pod(), 'online', { user: 'alice', verified: false }, 'x'.repeat(2000), now, 'h', '0000');
  expect(unverified.message).toMatch(/^traffic approved by alice \(kubeconfig user; the apiserver did not confirm it\) \(was offline\): x+\.\.\.$/);
  expect(unverified.message).toHaveLength(1024);
});

test('approving a pod whose containers are not ready says it takes traffic once they are', () => {
  expect(readinessNote(pod(), 'online')).toBe('; its containers are not ready yet, it takes traffic once they are');
  expect(readinessNote(pod([{ type: 'ContainersReady', status: 'True' }]), 'online')).toBe('');
  expect(readinessNote(pod(), 'offline')).toBe('');
});

test('403 names the verb, resource and namespace and points at the Role; 401 at the credentials; others pass through', () => {
  const forbidden = translateApiError({ code: 403, body: JSON.stringify({ message: 'pods "web-1" is forbidden: User "bob" cannot patch resource "pods/status"' }) }, PERMISSIONS.patchStatus, 'bob', 'shop');
  expect(forbidden).toBeInstanceOf(TrafficError);
  expect((forbidden as Error).message).toBe(
    'forbidden: bob may not patch pods/status (to set the podhooks.io/online condition) in namespace shop (the apiserver said: pods "web-1" is forbidden: User "bob" cannot patch resource "pods/status"). ' +
      'A release pipeline needs the Role in deploy/examples/traffic-approver.yaml, bound in this namespace',
  );
  expect((translateApiError({ code: 401, body: { message: 'Unauthorized' } }, PERMISSIONS.getPods, 'x', 'shop') as Error).message).toBe(
    "the apiserver did not accept the credentials (HTTP 401: Unauthorized); check the kubeconfig's user",
  );
  const conflict = { code: 409 };
  expect(translateApiError(conflict, PERMISSIONS.patchStatus, 'x', 'shop')).toBe(conflict);
  expect(forbiddenMessage('bob', 'shop', [PERMISSIONS.getDeployments, PERMISSIONS.listReplicaSets])).toContain('get deployments.apps (to --rollout: read the Deployment), list replicasets.apps');
});

describe('--rollout', () => {
  const deployment: V1Deployment = {
    metadata: { name: 'web', namespace: 'shop', uid: 'd1', generation: 3 },
    spec: { replicas: 3, selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }, { key: 'canary', operator: 'DoesNotExist' }] }, template: {} },
    status: { observedGeneration: 3, replicas: 3, updatedReplicas: 3, availableReplicas: 3 },
  };
  const rs = (name: string, revision: string, owner = 'd1'): V1ReplicaSet => ({
    metadata: { name, uid: name, labels: { 'pod-template-hash': name.split('-')[1] }, annotations: { 'deployment.kubernetes.io/revision': revision }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: owner, controller: true }] },
  });

  test('deployment/NAME (and kubectl\'s other spellings) only', () => {
    expect(['deployment/web', 'deploy/web', 'deployments/web', 'deployment.apps/web'].map(parseRolloutRef)).toEqual(['web', 'web', 'web', 'web']);
    expect(() => parseRolloutRef('statefulset/db')).toThrow('--rollout "statefulset/db": expected deployment/NAME (only Deployments are supported)');
  });

  test('the newest ReplicaSet is the highest revision the Deployment controls (numerically, not as text)', () => {
    expect(newestReplicaSet(deployment, [rs('web-aaa', '9'), rs('web-bbb', '10'), rs('web-ccc', '11', 'other')]).metadata!.name).toBe('web-bbb');
    expect(() => newestReplicaSet(deployment, [rs('web-ccc', '11', 'other')])).toThrow(RolloutError);
  });

  test("its pods: the Deployment's selector (labels and expressions) plus pod-template-hash", () => {
    expect(selectorString(deployment.spec!.selector)).toBe('app=web,tier in (a,b),!canary');
    expect(replicaSetPodSelector(deployment, rs('web-bbb', '10'))).toBe('app=web,tier in (a,b),!canary,pod-template-hash=bbb');
  });

  test('complete as `kubectl rollout status` judges it; a passed progress deadline is a failure', () => {
    const at = (status: V1Deployment['status'], generation = 3) => rolloutState({ ...deployment, metadata: { ...deployment.metadata, generation }, status: { ...deployment.status, ...status } });
    expect(at({})).toEqual({ done: true, message: 'deployment shop/web: rollout complete, 3 of 3 replicas updated and available' });
    expect(at({}, 4).done).toBe(false);
    expect(at({ updatedReplicas: 1 }).message).toBe('deployment shop/web: 1 of 3 new replicas created');
    expect(at({ replicas: 4 }).message).toBe('deployment shop/web: 1 old replicas pending termination');
    expect(at({ availableReplicas: 2 }).message).toBe('deployment shop/web: 2 of 3 updated replicas available');
    expect(at({ conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "web-bbb" has timed out progressing.' }] })).toEqual({
      done: false,
      failed: true,
      message: 'deployment shop/web exceeded its progress deadline (spec.progressDeadlineSeconds 600): ReplicaSet "web-bbb" has timed out progressing.',
    });
  });
});
