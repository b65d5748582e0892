// `podhooks policy render`: every rule as its own ValidatingAdmissionPolicy and binding
// (admissionregistration.k8s.io/v1), so each keeps its own deny/warn/audit. The apiserver
// evaluates them itself: no network hop, no fail-open window while podhooks is down. Output
// is a pure function of the config (values compiled in, see values.ts); each object carries
// the digest of its own content, so a check can tell what in the cluster differs.
import { createHash } from 'node:crypto';
import type { V1ValidatingAdmissionPolicy, V1ValidatingAdmissionPolicyBinding, V1Variable } from '@kubernetes/client-node';
import type { Config } from '../../config';
import { ANNOTATIONS_RULE, NOT_ENABLED_RULE } from '../admitted';
import { actionFor, SYSTEM_NAMESPACES } from '../policy';
import { celConfig, type CelPod, type Rule } from '../rule';
import { RULES } from '../rules';
import { cel } from '../text';
import { celLiteral, policyValues } from './values';

export const LABELS = { 'app.kubernetes.io/name': 'podhooks', 'app.kubernetes.io/component': 'admission-policy' } as const;
export const DIGEST = 'podhooks.io/digest';

/** The workload kinds whose pod templates are checked, by API group (with pods and ephemeral containers). */
export const TEMPLATE_RESOURCES = [
  { apiGroups: [''], resources: ['replicationcontrollers'] },
  { apiGroups: ['apps'], resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'] },
  { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'] },
] as const;

/** Findings only the webhook makes (the policies have no rule for them). */
export const WEBHOOK_ONLY_RULES = [ANNOTATIONS_RULE, NOT_ENABLED_RULE];

/** What the webhook does that the policies cannot, said in the render output and docs/policy.md. */
export const WEBHOOK_ONLY = [
  'injection-annotations: a template whose podhooks.io/ annotations the mutating webhook would refuse (the annotation contract is parsed by podhooks itself)',
  'injection-not-enabled: the warning for hook annotations in a namespace where injection is off',
  'templates are judged as written; the webhook judges them as their pods will be admitted, after podhooks\' own injection',
  'Events, the podhooks_policy_violations_total metric and `podhooks rejections` (a policy records to the apiserver audit log and its metrics)',
];

export const policyName = (rule: Rule) => `podhooks-${rule.id}`;

/** The pod a request is about: the Pod itself, or the pod template of a workload. */
const podOf = (o: string) => `request.kind.kind == 'Pod' ? ${o} : request.kind.kind == 'CronJob' ? ${o}.spec.jobTemplate.spec.template : ${o}.spec.template`;
const templateOf = (o: string) => `(request.kind.kind == 'CronJob' ? ${o}.spec.jobTemplate.spec.template : ${o}.spec.template)`;

/** Only an update that changes a workload's template can add a violation to it (ReplicaSet scaling cannot). */
export const CHANGES_THE_POD = `request.operation != 'UPDATE' || request.kind.kind == 'Pod' || ${templateOf('object')} != ${templateOf('oldObject')}`;

function sandboxedCel(rc: string): string {
  return `${rc} != '' && ${celConfig('sandboxRuntimeClasses')}.exists(x, x.endsWith('*') ? ${rc}.startsWith(x.substring(0, size(x) - 1)) : ${rc} == x)`;
}

function namespaceExemptCel(): string {
  const system = SYSTEM_NAMESPACES.map((n) => `'${n}'`).join(', ');
  return `request.namespace in [${system}] || request.namespace == ${celConfig('podhooksNamespace')} || request.namespace in ${celConfig('exemptNamespaces')}`;
}

function labelExemptCel(): string {
  const labels = 'variables.pod.?metadata.?labels.orValue({})';
  return `${celConfig('exemptLabels')}.exists(l, l.split('=')[0] in ${labels} && string(${labels}[l.split('=')[0]]) == l.substring(l.indexOf('=') + 1))`;
}

function variables(rule: Rule, config: Config, violations: (p: CelPod) => string): V1Variable[] {
  return [
    ...Object.entries(policyValues(config)).map(([name, value]) => ({ name, expression: celLiteral(value) })),
    { name: 'pod', expression: podOf('object') },
    { name: 'oldPod', expression: `oldObject == null ? null : ${podOf('oldObject')}` },
    { name: 'rc', expression: "string(variables.pod.spec.?runtimeClassName.orValue(''))" },
    { name: 'sandboxed', expression: sandboxedCel('variables.rc') },
    { name: 'oldRc', expression: "variables.oldPod == null ? '' : string(variables.oldPod.spec.?runtimeClassName.orValue(''))" },
    { name: 'oldSandboxed', expression: sandboxedCel('variables.oldRc') },
    { name: 'exempt', expression: rule.labelExempt ? `${namespaceExemptCel()} || ${labelExemptCel()}` : namespaceExemptCel() },
    { name: 'found', expression: violations({ pod: 'variables.pod', rc: cel('variables.rc'), sandboxed: 'variables.sandboxed' }) },
    { name: 'oldFound', expression: `variables.oldPod == null ? [] : ${violations({ pod: 'variables.oldPod', rc: cel('variables.oldRc'), sandboxed: 'variables.oldSandboxed' })}` },
    // An update is refused only for what it adds, as in the webhook: old pods stay deletable and relabelable.
    { name: 'added', expression: 'variables.found.filter(v, !variables.oldFound.exists(o, o.field == v.field))' },
  ];
}

/** The webhook's wording: the message for denials and audit records, the short form (under 120 characters) for warnings. */
function messageExpression(rule: Rule, action: 'deny' | 'warn' | 'audit'): string {
  if (action !== 'warn') return `variables.added.map(v, 'podhooks ${rule.id}: ' + v.message).join('; ')`;
  const text = `('podhooks ${rule.id}: ' + v.summary)`;
  return `variables.added.map(v, ${text}.size() <= 120 ? ${text} : ${text}.substring(0, 117) + '...').join('; ')`;
}

const VALIDATION_ACTIONS = { deny: ['Deny', 'Audit'], warn: ['Warn', 'Audit'], audit: ['Audit'] } as const;

/** sha256 of an object's content, its own digest annotation left out. */
export function digestOf(object: { metadata?: { annotations?: Record<string, string> } }): string {
  const { [DIGEST]: _, ...annotations } = object.metadata?.annotations ?? {};
  const content = { ...object, metadata: { ...object.metadata, annotations } };
  return createHash('sha256').update(JSON.stringify(content)).digest('hex');
}

function withDigest<T extends { metadata?: { annotations?: Record<string, string> } }>(object: T): T {
  object.metadata!.annotations = { ...object.metadata!.annotations, [DIGEST]: digestOf(object) };
  return object;
}

export interface Rendered {
  objects: (V1ValidatingAdmissionPolicy | V1ValidatingAdmissionPolicyBinding)[];
  /** Rules with no policy, and why (action off, or not expressible in CEL). */
  skipped: { rule: string; reason: string }[];
}

export function renderPolicies(config: Config, rules: readonly Rule[] = RULES): Rendered {
  const objects: Rendered['objects'] = [];
  const skipped: Rendered['skipped'] = [];
  for (const rule of rules) {
    const action = actionFor(rule, config);
    if (action === 'off') {
      skipped.push({ rule: rule.id, reason: 'off in validation.rules' });
      continue;
    }
    if ('unsupported' in rule.cel) {
      skipped.push({ rule: rule.id, reason: `not expressible in CEL: ${rule.cel.unsupported}` });
      continue;
    }
    const name = policyName(rule);
    const metadata = { name, labels: { ...LABELS }, annotations: { 'podhooks.io/rule': rule.id, 'podhooks.io/description': rule.description } as Record<string, string> };
    const policy: V1ValidatingAdmissionPolicy = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata,
      spec: {
        // Fail closed: a policy that cannot be evaluated refuses.
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [
            { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['pods', 'pods/ephemeralcontainers'] },
            ...TEMPLATE_RESOURCES.map((r) => ({ apiGroups: [...r.apiGroups], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: [...r.resources] })),
          ],
        },
        matchConditions: [{ name: 'changes-the-pod', expression: CHANGES_THE_POD }],
        variables: variables(rule, config, rule.cel.violations),
        validations: [{ expression: 'variables.exempt || size(variables.added) == 0', messageExpression: messageExpression(rule, action), reason: 'Forbidden' }],
      },
    };
    const binding: V1ValidatingAdmissionPolicyBinding = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name, labels: { ...LABELS }, annotations: { 'podhooks.io/rule': rule.id, 'podhooks.io/action': action } as Record<string, string> },
      spec: {
        policyName: name,
        validationActions: [...VALIDATION_ACTIONS[action]],
        matchResources: {
          namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...SYSTEM_NAMESPACES, config.namespace] }] },
        },
      },
    };
    objects.push(withDigest(policy), withDigest(binding));
  }
  return { objects, skipped };
}
