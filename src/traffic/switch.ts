// `podhooks online|offline` against the cluster: who the caller is (SelfSubjectReview),
// whether RBAC lets them do all of it (SelfSubjectAccessReview, before anything changes),
// which pods (names, -l, or a Deployment's newest ReplicaSet), then per pod a conditional
// status patch of podhooks.io/online and an Event that records who and why.
// Loaded lazily by src/cli/traffic.ts, like every other use of client-node.
import { randomBytes } from 'node:crypto';
import { AppsV1Api, AuthenticationV1Api, AuthorizationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Deployment, type V1Pod, type V1ReplicaSet } from '@kubernetes/client-node';
import { replicaName } from '../kube/cluster';
import { deadline } from '../kube/deadline';
import { newestReplicaSet, replicaSetPodSelector, RolloutError, rolloutState, selectorString } from './rollout';
import { alreadyThere, forbiddenMessage, PERMISSIONS, readinessNote, refusal, statusPatch, TrafficError, transitionEvent, translateApiError, type Actor, type ApiError, type Direction, type Permission } from './transition';

export type Target = { pods: string[] } | { selector: string } | { rollout: string; follow: boolean; timeoutMs: number; pollMs: number };

export interface SwitchOptions {
  direction: Direction;
  namespace: string;
  reason: string;
  target: Target;
  timeoutMs: number;
  /** One line per pod or rollout step, for stdout. */
  say(line: string): void;
  /** One line per pod that could not be switched, for stderr. */
  complain(line: string): void;
}


class Session {
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  actor: Actor = { user: 'unknown user', verified: false };

  constructor(
    readonly kc: KubeConfig,
    readonly opts: SwitchOptions,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.apps = kc.makeApiClient(AppsV1Api);
  }

  /** Runs one API call; a 403 becomes a message naming the verb and resource, a 401 the credentials. */
  async call<T>(permission: Permission, fn: (options: ReturnType<typeof deadline>) => Promise<T>): Promise<T> {
    try {
      return await fn(deadline(this.opts.timeoutMs));
    } catch (err) {
      throw translateApiError(err, permission, this.actor.user, this.opts.namespace);
    }
  }

  async whoAmI(): Promise<void> {
    try {
      const review = await this.kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } }, deadline(this.opts.timeoutMs));
      const user = review.status?.userInfo?.username;
      if (user) return void (this.actor = { user, verified: true });
    } catch (err) {
      if ((err as ApiError).code === 401) throw translateApiError(err, PERMISSIONS.getPods, 'unknown user', this.opts.namespace);
      /* an apiserver without SelfSubjectReview: fall back to the kubeconfig's name for the user */
    }
    this.actor = { user: this.kc.getCurrentUser()?.name ?? 'unknown user', verified: false };
  }

  /** Every permission the command will use, checked before anything changes, so a missing one
   *  (e.g. events create) cannot leave a transition without its Event. */
  async preflight(permissions: Permission[]): Promise<void> {
    const api = this.kc.makeApiClient(AuthorizationV1Api);
    const missing: Permission[] = [];
    for (const p of permissions) {
      try {
        const review = await api.createSelfSubjectAccessReview(
          { body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { namespace: this.opts.namespace, verb: p.verb, group: p.group ?? '', resource: p.resource, subresource: p.subresource } } } },
          deadline(this.opts.timeoutMs),
        );
        if (!review.status?.allowed) missing.push(p);
      } catch {
        return; // no SelfSubjectAccessReview here: each call's own 403 still says what is missing
      }
    }
    if (missing.length) throw new TrafficError(forbiddenMessage(this.actor.user, this.opts.namespace, missing));
  }

  getPod(name: string): Promise<V1Pod> {
    return this.call(PERMISSIONS.getPods, (o) => this.core.readNamespacedPod({ name, namespace: this.opts.namespace }, o));
  }

  async listPods(labelSelector: string): Promise<V1Pod[]> {
    return (await this.call(PERMISSIONS.listPods, (o) => this.core.listNamespacedPod({ namespace: this.opts.namespace, labelSelector }, o))).items;
  }

  /** The conditional status patch and its Event; re-reads and re-judges the pod after a 409. */
  async switchPod(initial: V1Pod): Promise<boolean> {
    const { direction, reason } = this.opts;
    let pod = initial;
    const name = `pod/${pod.metadata?.name}`;
    for (let attempt = 1; ; attempt++) {
      const why = refusal(pod, direction);
      if (why) return this.opts.complain(why), false;
      if (alreadyThere(pod, direction)) return this.opts.say(`${name} already ${direction}`), true;
      const body = statusPatch(pod, direction, this.actor, reason, new Date());
      try {
        await this.call(PERMISSIONS.patchStatus, (o) =>
          this.core.patchNamespacedPodStatus({ name: pod.metadata!.name!, namespace: this.opts.namespace, body }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch, o)),
        );
        break;
      } catch (err) {
        if ((err as ApiError).code === 409 && attempt < 5) pod = await this.getPod(pod.metadata!.name!);
        else if ((err as ApiError).code === 409) throw new TrafficError(`${name} changed under every one of 5 attempts to switch it; nothing was changed, try again`);
        else if ((err as ApiError).code === 404) return this.opts.complain(`pod ${this.opts.namespace}/${pod.metadata?.name} no longer exists`), false;
        else throw err;
      }
    }
    const event = transitionEvent(pod, direction, this.actor, reason, new Date(), replicaName(), randomBytes(2).toString('hex'));
    try {
      await this.call(PERMISSIONS.createEvents, (o) => this.core.createNamespacedEvent({ namespace: this.opts.namespace, body: event }, o));
    } catch (err) {
      throw new TrafficError(`${name} is now ${direction}, but its Event could not be recorded: ${(err as Error).message}`);
    }
    this.opts.say(`${name} ${direction}${readinessNote(pod, direction)}`);
    return true;
  }

  async switchAll(pods: V1Pod[]): Promise<number> {
    let failed = 0;
    for (const pod of pods) if (!(await this.switchPod(pod))) failed++;
    return failed;
  }

  async rolloutPods(name: string): Promise<{ deployment: V1Deployment; pods: V1Pod[] }> {
    const namespace = this.opts.namespace;
    let deployment: V1Deployment;
    try {
      deployment = await this.call(PERMISSIONS.getDeployments, (o) => this.apps.readNamespacedDeployment({ name, namespace }, o));
    } catch (err) {
      if ((err as ApiError).code === 404) throw new TrafficError(`deployment ${namespace}/${name} not found`);
      throw err;
    }
    const rs = newestReplicaSet(deployment, await this.listReplicaSets(deployment));
    const pods = (await this.listPods(replicaSetPodSelector(deployment, rs))).filter((p) => p.metadata?.ownerReferences?.some((o) => o.controller && o.uid === rs.metadata?.uid));
    return { deployment, pods };
  }

  private async listReplicaSets(d: V1Deployment): Promise<V1ReplicaSet[]> {
    const labelSelector = selectorString(d.spec?.selector);
    const list = await this.call(PERMISSIONS.listReplicaSets, (o) => this.apps.listNamespacedReplicaSet({ namespace: this.opts.namespace, labelSelector }, o));
    return list.items;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the command; resolves to the number of pods that could not be switched. */
export async function switchTraffic(kc: KubeConfig, opts: SwitchOptions): Promise<number> {
  const s = new Session(kc, opts);
  await s.whoAmI();
  const t = opts.target;
  const rollout = 'rollout' in t;
  await s.preflight([PERMISSIONS.getPods, PERMISSIONS.listPods, PERMISSIONS.patchStatus, PERMISSIONS.createEvents, ...(rollout ? [PERMISSIONS.getDeployments, PERMISSIONS.listReplicaSets] : [])]);

  if ('pods' in t) {
    let failed = 0;
    for (const name of t.pods) {
      let pod: V1Pod;
      try {
        pod = await s.getPod(name);
      } catch (err) {
        if ((err as ApiError).code !== 404) throw err;
        opts.complain(`pod ${opts.namespace}/${name} not found`);
        failed++;
        continue;
      }
      if (!(await s.switchPod(pod))) failed++;
    }
    return failed;
  }
  if ('selector' in t) {
    const pods = await s.listPods(t.selector);
    if (!pods.length) throw new TrafficError(`no pods match -l ${JSON.stringify(t.selector)} in namespace ${opts.namespace}`);
    return s.switchAll(pods);
  }

  // --rollout: the newest ReplicaSet's pods; with --follow, again as the Deployment creates more,
  // until the rollout is complete, has exceeded its progress deadline, or --timeout passes.
  const end = Date.now() + t.timeoutMs;
  let lastState = '';
  for (;;) {
    let deployment: V1Deployment, pods: V1Pod[];
    try {
      ({ deployment, pods } = await s.rolloutPods(t.rollout));
    } catch (err) {
      if (err instanceof RolloutError) throw new TrafficError(err.message);
      throw err;
    }
    // Terminating pods are being replaced; pods already where they should be need nothing.
    const failed = await s.switchAll(pods.filter((p) => !p.metadata?.deletionTimestamp && !(opts.direction === 'online' && alreadyThere(p, 'online'))));
    if (failed) return failed;
    const state = rolloutState(deployment);
    if (state.message !== lastState) opts.say((lastState = state.message));
    if (!t.follow || state.done) return 0;
    if ('failed' in state && state.failed) throw new TrafficError(state.message);
    if (Date.now() + t.pollMs > end) throw new TrafficError(`--timeout passed before the rollout completed: ${state.message}`);
    await sleep(t.pollMs);
  }
}
