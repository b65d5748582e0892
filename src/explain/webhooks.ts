// Would the apiserver call this webhook for this pod's CREATE? The checks it makes, in its
// order: rules, namespaceSelector, objectSelector, matchConditions; each with its reason.
import { evaluateConditions, type ConditionResult, type MatchCondition } from './conditions';
import { matchSelector, type LabelSelector } from './selectors';

type Obj = Record<string, any>;

export interface Webhook {
  configuration: string;
  name: string;
  failurePolicy: string;
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
  matchConditions: MatchCondition[];
  rules: Obj[];
  path?: string;
}

export interface WebhookVerdict {
  configuration: string;
  webhook: string;
  failurePolicy: string;
  /** called: the apiserver sends the pod; skipped: it does not; rejected: a matchCondition
   *  errors under failurePolicy Fail, so the apiserver refuses the pod without calling. */
  outcome: 'called' | 'skipped' | 'rejected';
  reasons: string[];
  conditions: ConditionResult[];
}

/** The webhooks of every Mutating/ValidatingWebhookConfiguration among the objects. */
export function webhooksOf(objects: Obj[]): Webhook[] {
  return objects
    .filter((o) => o && (o.kind === 'MutatingWebhookConfiguration' || o.kind === 'ValidatingWebhookConfiguration'))
    .flatMap((o) =>
      (o.webhooks ?? []).map((h: Obj) => ({
        configuration: `${o.kind}/${o.metadata?.name}`,
        name: h.name,
        failurePolicy: h.failurePolicy ?? 'Fail',
        namespaceSelector: h.namespaceSelector,
        objectSelector: h.objectSelector,
        matchConditions: h.matchConditions ?? [],
        rules: h.rules ?? [],
        path: h.clientConfig?.service?.path ?? h.clientConfig?.url,
      })),
    );
}

const any = (list: string[] | undefined, ...wanted: string[]) => (list ?? []).some((v) => v === '*' || wanted.includes(v));

function rulesMatchPodCreate(rules: Obj[]): boolean {
  return rules.some((r) => any(r.operations, 'CREATE') && any(r.apiGroups, '') && any(r.apiVersions, 'v1') && any(r.resources, 'pods', '*/*') && (r.scope === undefined || r.scope === '*' || r.scope === 'Namespaced'));
}

export function judgeWebhook(hook: Webhook, pod: Obj, namespace: string, namespaceLabels: Record<string, string>, userInfo: Obj = {}): WebhookVerdict {
  const verdict = (outcome: WebhookVerdict['outcome'], reasons: string[], conditions: ConditionResult[] = []): WebhookVerdict => ({
    configuration: hook.configuration,
    webhook: hook.name,
    failurePolicy: hook.failurePolicy,
    outcome,
    reasons,
    conditions,
  });
  if (!rulesMatchPodCreate(hook.rules)) return verdict('skipped', ['its rules do not cover CREATE of pods']);
  const ns = matchSelector(hook.namespaceSelector, namespaceLabels);
  if (!ns.matches) return verdict('skipped', ns.reasons.map((r) => `namespaceSelector ${r}`));
  const obj = matchSelector(hook.objectSelector, pod.metadata?.labels ?? {});
  if (!obj.matches) return verdict('skipped', obj.reasons.map((r) => `objectSelector ${r} on the pod`));
  const reasons = [...ns.reasons.map((r) => `namespaceSelector ${r}`), ...obj.reasons.map((r) => `objectSelector ${r}`)];
  const request = { operation: 'CREATE', namespace, name: pod.metadata?.name ?? '', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, userInfo, dryRun: false };
  const conditions = evaluateConditions(hook.matchConditions, { object: pod, oldObject: null, request });
  const falses = conditions.filter((c) => c.result === false);
  const errors = conditions.filter((c) => typeof c.result === 'string');
  // The apiserver: any false skips the webhook; otherwise an error is up to failurePolicy.
  if (falses.length) return verdict('skipped', falses.map((c) => `matchCondition ${c.name} is false`), conditions);
  if (errors.length) {
    const why = errors.map((c) => `matchCondition ${c.name} fails: ${c.result}`);
    return hook.failurePolicy === 'Ignore' ? verdict('skipped', [...why, 'failurePolicy Ignore skips the webhook']) : verdict('rejected', [...why, 'failurePolicy Fail rejects the pod'], conditions);
  }
  return verdict('called', [...reasons, ...conditions.map((c) => `matchCondition ${c.name} is true`)], conditions);
}
