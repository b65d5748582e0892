// Validating policy: rules are small modules (validate/rules/*) with an id, a description,
// a default action, a check and the same check in CEL; config can change any rule's action.
import type { V1Pod } from '@kubernetes/client-node';
import type { Action, Config } from '../config';
import type { Rule, RuleContext, Violation } from './rule';
import { RULES } from './rules';
import { sandboxRuntimeClassOf } from './runtime-class';

export type { Rule, RuleContext, Violation } from './rule';
export { matchesRuntimeClass, sandboxRuntimeClassOf } from './runtime-class';

export interface Finding extends Violation {
  rule: string;
  action: Exclude<Action, 'off'>;
}

/** Namespaces podhooks never evaluates, whatever the config (README "Annotation reference"). */
export const SYSTEM_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease'] as const;

export function actionFor(rule: Rule, config: Config): Action {
  return config.validation.rules[rule.id] ?? rule.defaultAction;
}

export function needsNamespaceLabels(pod: V1Pod, config: Config): boolean {
  return RULES.some((r) => actionFor(r, config) !== 'off' && r.needsNamespaceLabels?.(pod));
}

/** Why no rule evaluates pods of this namespace, if none does. */
export function namespaceExemption(namespace: string | undefined, config: Config): string | undefined {
  if (namespace && ((SYSTEM_NAMESPACES as readonly string[]).includes(namespace) || namespace === config.namespace)) return `namespace ${namespace} is never evaluated`;
  if (namespace && config.validation.exemptNamespaces.includes(namespace)) return `namespace ${namespace} is exempt (validation.exemptNamespaces)`;
  return undefined;
}

/** Why the label-exemptable rules skip this pod, if they do (validation.exemptLabels). */
export function labelExemption(pod: V1Pod, config: Config): string | undefined {
  const labels = pod.metadata?.labels ?? {};
  for (const [k, v] of Object.entries(config.validation.exemptLabels)) {
    if (labels[k] === v) return `label ${k}=${v} is exempt (validation.exemptLabels)`;
  }
  return undefined;
}

/**
 * Why the webhook does not evaluate this pod at all, if it does not: its namespace is
 * exempt, or its labels are and every rule that is on lets labels exempt it.
 */
export function exemption(pod: V1Pod, namespace: string | undefined, config: Config): string | undefined {
  const byNamespace = namespaceExemption(namespace, config);
  if (byNamespace) return byNamespace;
  const byLabel = labelExemption(pod, config);
  if (byLabel && RULES.every((r) => r.labelExempt || actionFor(r, config) === 'off')) return byLabel;
  return undefined;
}

/** The rules' findings for one pod (namespace exemptions are the caller's, see exemption()). */
export function evaluate(ctx: Omit<RuleContext, 'sandboxRuntimeClass'>): Finding[] {
  const full: RuleContext = { ...ctx, sandboxRuntimeClass: sandboxRuntimeClassOf(ctx.pod, ctx.config) };
  const labelExempt = labelExemption(ctx.pod, ctx.config) !== undefined;
  const findings: Finding[] = [];
  for (const rule of RULES) {
    const action = actionFor(rule, ctx.config);
    if (action === 'off' || (labelExempt && rule.labelExempt)) continue;
    for (const v of rule.check(full)) findings.push({ rule: rule.id, action, ...v });
  }
  return findings;
}
