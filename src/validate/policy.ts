// Validating policy: rules are small pure modules (validate/rules/*) with an id, a
// description, a default action and a check; config can change any rule's action.
import type { V1Pod } from '@kubernetes/client-node';
import type { Action, Config } from '../config';
import { RULES } from './rules';

export interface RuleContext {
  pod: V1Pod;
  namespace?: string;
  /** Labels of the pod's namespace when they were needed and could be read. */
  namespaceLabels?: Record<string, string>;
  /** Why namespaceLabels is missing (no cluster, timeout); rules that need labels say so. */
  namespaceLabelsError?: string;
  config: Config;
  /** The pod's runtimeClassName when it matches the configured sandbox list. */
  sandboxRuntimeClass?: string;
}

export interface Violation {
  /** JSON path of the offending field, e.g. spec.hostNetwork or spec.containers[app].securityContext.privileged. */
  field: string;
  /** Names the rule's reason, the field, the runtime class and the fix. */
  message: string;
  /** A short form for AdmissionResponse warnings, which must stay under 120 characters. */
  summary?: string;
}

export interface Rule {
  id: string;
  description: string;
  defaultAction: Exclude<Action, 'off'>;
  /** Set when the rule reads namespace labels (the handler fetches them only then). */
  needsNamespaceLabels?: (pod: V1Pod) => boolean;
  check(ctx: RuleContext): Violation[];
}

export interface Finding extends Violation {
  rule: string;
  action: Exclude<Action, 'off'>;
}

/** Glob-lite: `kata*` matches kata, kata-qemu, kata-fc; anything else is an exact name. */
export function matchesRuntimeClass(name: string, patterns: string[]): boolean {
  return patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));
}

export function sandboxRuntimeClassOf(pod: V1Pod, config: Config): string | undefined {
  const rc = pod.spec?.runtimeClassName;
  return rc && matchesRuntimeClass(rc, config.validation.sandboxRuntimeClasses) ? rc : undefined;
}

export function actionFor(rule: Rule, config: Config): Action {
  return config.validation.rules[rule.id] ?? rule.defaultAction;
}

export function needsNamespaceLabels(pod: V1Pod, config: Config): boolean {
  return RULES.some((r) => actionFor(r, config) !== 'off' && r.needsNamespaceLabels?.(pod));
}

/** Why the webhook does not evaluate this pod at all, if it does not. */
export function exemption(pod: V1Pod, namespace: string | undefined, config: Config): string | undefined {
  if (namespace === 'kube-system' || namespace === config.namespace) return `namespace ${namespace} is never evaluated`;
  if (namespace && config.validation.exemptNamespaces.includes(namespace)) return `namespace ${namespace} is exempt (validation.exemptNamespaces)`;
  const labels = pod.metadata?.labels ?? {};
  for (const [k, v] of Object.entries(config.validation.exemptLabels)) {
    if (labels[k] === v) return `label ${k}=${v} is exempt (validation.exemptLabels)`;
  }
  return undefined;
}

export function evaluate(ctx: Omit<RuleContext, 'sandboxRuntimeClass'>): Finding[] {
  const full: RuleContext = { ...ctx, sandboxRuntimeClass: sandboxRuntimeClassOf(ctx.pod, ctx.config) };
  const findings: Finding[] = [];
  for (const rule of RULES) {
    const action = actionFor(rule, ctx.config);
    if (action === 'off') continue;
    for (const v of rule.check(full)) findings.push({ rule: rule.id, action, ...v });
  }
  return findings;
}
