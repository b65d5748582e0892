// What a rule is, and the builder every rule module uses. A rule states, side by side, its
// id, what it checks, the TypeScript predicate (webhook, CLI, audit) and the same check in
// CEL (the rendered ValidatingAdmissionPolicy), with one message template for both.
import type { V1Pod } from '@kubernetes/client-node';
import type { Action, Config } from '../config/schema';
import { celOf, type Cel, type Str } from './text';

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

/**
 * The CEL side's view of one pod (or pod template): expressions, as source text, for the
 * pod object, its runtimeClassName ('' when unset) and whether that class is sandboxed.
 * Config values are variables too (celConfig, admission-policy/values.ts).
 */
export interface CelPod {
  pod: string;
  rc: Cel;
  sandboxed: string;
}

export interface Rule {
  id: string;
  description: string;
  defaultAction: Exclude<Action, 'off'>;
  /**
   * Whether validation.exemptLabels can switch the rule off for a pod. Labels are chosen by
   * the pod's author, so a rule that guards the cluster from pod authors must say false.
   */
  labelExempt: boolean;
  /** Set when the rule reads namespace labels (the handler fetches them only then). */
  needsNamespaceLabels?: (pod: V1Pod) => boolean;
  check(ctx: RuleContext): Violation[];
  /**
   * The same check in CEL: an expression of type list(map(string, string)) with keys field,
   * message and summary, one entry per violation, in the order check() reports them. A rule
   * that CEL cannot express gives `unsupported` (the reason) instead.
   */
  cel: { violations(p: CelPod): string } | { unsupported: string };
}

interface RuleSpec {
  id: string;
  description: string;
  defaultAction: Exclude<Action, 'off'>;
  labelExempt?: boolean;
  needsNamespaceLabels?: (pod: V1Pod) => boolean;
}

/** Any rule: the predicate sees the whole context. */
export function rule(spec: RuleSpec & { check: Rule['check']; cel: Rule['cel'] }): Rule {
  return { labelExempt: true, ...spec };
}

/**
 * A rule about pods on a sandboxed runtime class: both sides are evaluated only for such
 * pods, and `rc` is the runtime class in the message.
 */
export function sandboxRule(spec: RuleSpec & { find(pod: V1Pod, rc: string, config: Config): Violation[]; cel(p: CelPod): string }): Rule {
  const { find, cel, ...rest } = spec;
  return rule({
    ...rest,
    check: (ctx) => (ctx.sandboxRuntimeClass ? find(ctx.pod, ctx.sandboxRuntimeClass, ctx.config) : []),
    cel: { violations: (p) => `!(${p.sandboxed}) ? [] : ${cel(p)}` },
  });
}

/** The fix every sandbox rule offers besides removing the field. */
export const NON_SANDBOXED = 'or use a non-sandboxed runtime class for this pod';

/** One violation as a CEL map literal; message and summary are CEL expressions (Template.cel). */
export function celViolation(v: { field: Str; message: string; summary: string }): string {
  return `{'field': ${celOf(v.field)}, 'message': ${v.message}, 'summary': ${v.summary}}`;
}

/** `cond ? [violation] : []`. */
export function celIf(cond: string, violation: string): string {
  return `(${cond} ? [${violation}] : [])`;
}

/** Concatenation of CEL lists; `[]` when there are none. */
export function celConcat(lists: string[]): string {
  return lists.length ? `(${lists.join(' + ')})` : '[]';
}

/** A config value in a rule's CEL: the policy carries it as a variable (admission-policy/values.ts). */
export function celConfig(key: string): string {
  return `variables.${key}`;
}

/**
 * Flattens a list of lists of violations. CEL before Kubernetes 1.34 has no flatten(), so
 * each violation is encoded as text, joined, split and decoded. Only for violations whose
 * texts hold names the apiserver validates (no control characters).
 */
export function celFlatten(listOfLists: string): string {
  const US = "'\\u001f'";
  const RS = "'\\u001e'";
  return (
    `${listOfLists}.map(l, l.map(v, v.field + ${US} + v.message + ${US} + v.summary).join(${RS}))` +
    `.filter(s, s != '').join(${RS}).split(${RS}).filter(s, s != '')` +
    `.map(e, {'field': e.split(${US})[0], 'message': e.split(${US})[1], 'summary': e.split(${US})[2]})`
  );
}
