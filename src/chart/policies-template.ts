// deploy/chart/templates/_policies.tpl: what `podhooks policy render` writes, as Helm
// template text, so the chart installs the ValidatingAdmissionPolicies of the very config
// it deploys (its namespace, validation.*, debug.namespaceLabel) instead of a copy rendered
// from another config, which `podhooks serve` would then report as drift.
//
// Generated (`npm run chart:schema`), not hand-written: each policy and binding is rendered
// here by renderPolicies() with a marker in place of every config value, and the markers
// become holes the chart fills from its config. The digest annotation is the sha256 of the
// object's JSON text (render.ts digestOf), so the template keeps that exact text and the
// chart hashes it after filling the holes: the same digest as `podhooks policy render`.
import { createHash } from 'node:crypto';
import { parseConfig, type Config } from '../config';
import { DIGEST, renderPolicies } from '../validate/admission-policy/render';
import { celLiteral, policyValues } from '../validate/admission-policy/values';
import { RULES } from '../validate/rules';

type Kind = 'string' | 'list' | 'bool' | 'labels';

/** Where each policy value (values.ts) comes from in the config, and what it is. */
const SOURCES: Record<string, { path: string[]; kind: Kind }> = {
  podhooksNamespace: { path: ['namespace'], kind: 'string' },
  sandboxRuntimeClasses: { path: ['validation', 'sandboxRuntimeClasses'], kind: 'list' },
  exemptNamespaces: { path: ['validation', 'exemptNamespaces'], kind: 'list' },
  exemptLabels: { path: ['validation', 'exemptLabels'], kind: 'labels' },
  procMountAllowlist: { path: ['validation', 'procMountAllowlist'], kind: 'list' },
  placementEnabled: { path: ['validation', 'placement', 'enabled'], kind: 'bool' },
  placementMode: { path: ['validation', 'placement', 'mode'], kind: 'string' },
  placementLabel: { path: ['validation', 'placement', 'label'], kind: 'string' },
  placementOfflineValues: { path: ['validation', 'placement', 'offlineValues'], kind: 'list' },
  placementOnlineValues: { path: ['validation', 'placement', 'onlineValues'], kind: 'list' },
  placementSandboxRuntimeClass: { path: ['validation', 'placement', 'sandboxRuntimeClass'], kind: 'string' },
  debugNamespaceLabel: { path: ['debug', 'namespaceLabel'], kind: 'string' },
};

const marker = (name: string) => `@@podhooks:${name}@@`;

function setPath(target: Record<string, any>, path: string[], value: unknown): void {
  let at = target;
  for (const key of path.slice(0, -1)) at = at[key];
  at[path[path.length - 1]] = value;
}

function getPath(source: Record<string, any>, path: string[]): unknown {
  return path.reduce((at, key) => at?.[key], source);
}

/** A config whose every policy value is its marker (a list of one marker, for lists). */
function markedConfig(action: 'deny' | 'warn' | 'audit'): Config {
  const config = structuredClone(parseConfig({}));
  for (const [name, { path, kind }] of Object.entries(SOURCES)) {
    setPath(config, path, kind === 'list' ? [marker(name)] : kind === 'labels' ? { [marker(name)]: 'v' } : marker(name));
  }
  config.validation.rules = Object.fromEntries(RULES.map((r) => [r.id, action]));
  const values = policyValues(config);
  const unknown = Object.keys(values).filter((k) => !(k in SOURCES));
  if (unknown.length) throw new Error(`policy values ${unknown.join(', ')} have no entry in SOURCES (src/chart/policies-template.ts): say where in the config each comes from`);
  return config;
}

/** The text render.ts hashes: the object as JSON, without its digest annotation. */
function digestText(object: { metadata?: { annotations?: Record<string, string> } }): string {
  const { [DIGEST]: digest, ...annotations } = object.metadata!.annotations!;
  const text = JSON.stringify({ ...object, metadata: { ...object.metadata, annotations } });
  if (createHash('sha256').update(text).digest('hex') !== digest) throw new Error('render.ts no longer hashes the JSON text of an object: update digestText (src/chart/policies-template.ts)');
  return text;
}

/** Replaces `from` (which must occur exactly `times` times) with `to`. */
function replaceExactly(text: string, from: string, to: string, times: number, what: string): string {
  const parts = text.split(from);
  if (parts.length - 1 !== times) throw new Error(`${what}: expected ${times} occurrence(s) of ${from}, found ${parts.length - 1}`);
  return parts.join(to);
}

const inJsonString = (s: string) => JSON.stringify(s).slice(1, -1);

/** Literal template text: every run of two or more braces quoted, so no "{{" or "}}" is left. */
const literal = (s: string) => s.replace(/[{}]{2,}/g, (m) => `{{ "${m}" }}`);

/** The template holes: every marker, the message (deny and audit vs. warn) and the binding's action. */
function withHoles(text: string, rule: string, kind: 'policy' | 'binding', texts: Record<'deny' | 'warn' | 'audit', string>, objects: Record<'deny' | 'warn' | 'audit', any>): string {
  const what = `${kind} of rule ${rule}`;
  let out = literal(text);
  if (kind === 'policy') {
    for (const action of ['warn', 'audit'] as const) {
      const other = JSON.stringify(objects[action].spec.validations[0].messageExpression);
      const mine = JSON.stringify(objects.deny.spec.validations[0].messageExpression);
      if (texts[action].replace(other, '') !== texts.deny.replace(mine, '')) throw new Error(`${what}: the ${action} policy differs from the deny one in more than its messageExpression`);
    }
    out = replaceExactly(out, literal(JSON.stringify(objects.deny.spec.validations[0].messageExpression)), '{{ .message }}', 1, what);
    for (const [name, { kind: k }] of Object.entries(SOURCES)) {
      const value = k === 'list' ? [marker(name)] : k === 'labels' ? [`${marker(name)}=v`] : marker(name);
      out = replaceExactly(out, inJsonString(celLiteral(value)), `{{ index .values "${name}" }}`, 1, what);
    }
  } else {
    const variable = (o: any) => `"validationActions":${JSON.stringify(o.spec.validationActions)}`;
    const annotation = (o: any) => `"podhooks.io/action":${JSON.stringify(o.metadata.annotations['podhooks.io/action'])}`;
    for (const action of ['warn', 'audit'] as const) {
      if (texts[action].replace(variable(objects[action]), '').replace(annotation(objects[action]), '') !== texts.deny.replace(variable(objects.deny), '').replace(annotation(objects.deny), '')) {
        throw new Error(`${what}: the ${action} binding differs from the deny one in more than its validationActions and action`);
      }
    }
    out = replaceExactly(out, variable(objects.deny), '"validationActions":{{ .validationActions }}', 1, what);
    out = replaceExactly(out, annotation(objects.deny), '"podhooks.io/action":"{{ .action }}"', 1, what);
    out = replaceExactly(out, `"${marker('podhooksNamespace')}"`, '"{{ index .values "namespaceJson" }}"', 1, what);
  }
  if (out.includes('@@podhooks:')) throw new Error(`${what}: a config value reaches the object somewhere the template has no hole for: ${out.slice(out.indexOf('@@podhooks:'), out.indexOf('@@podhooks:') + 80)}`);
  return out;
}

export function policiesTemplateText(): string {
  const actions = ['deny', 'warn', 'audit'] as const;
  const rendered = Object.fromEntries(actions.map((a) => [a, renderPolicies(markedConfig(a)).objects])) as Record<(typeof actions)[number], any[]>;
  const defaults = parseConfig({});
  const policyOf = (a: (typeof actions)[number], id: string) => rendered[a].find((o) => o.kind === 'ValidatingAdmissionPolicy' && o.metadata.annotations['podhooks.io/rule'] === id);
  const bindingOf = (a: (typeof actions)[number]) => rendered[a].find((o) => o.kind === 'ValidatingAdmissionPolicyBinding');
  const meta = {
    // The rules in render order, with their default action and their messageExpression (as JSON text) per action.
    rules: RULES.filter((r) => policyOf('deny', r.id)).map((r) => ({
      id: r.id,
      defaultAction: r.defaultAction,
      messages: Object.fromEntries(actions.map((a) => [a, JSON.stringify(policyOf(a, r.id).spec.validations[0].messageExpression)])),
    })),
    // A binding's validationActions per action, as JSON text.
    validationActions: Object.fromEntries(actions.map((a) => [a, JSON.stringify(bindingOf(a).spec.validationActions)])),
    // Where each policy value comes from in the config, what it is, and its default.
    sources: Object.entries(SOURCES).map(([name, { path, kind }]) => ({ name, path, kind, default: getPath(defaults, path) })),
  };
  const out: string[] = [
    '{{- /*',
    'GENERATED by `npm run chart:schema` from src/chart/policies-template.ts: do not edit.',
    'Each ValidatingAdmissionPolicy and binding of `podhooks policy render` as JSON text with',
    'holes for the config values; templates/admission-policies.yaml fills them and hashes the',
    'text for the podhooks.io/digest annotation, as the renderer does.',
    '*/ -}}',
    '',
    '{{- define "podhooks.policyMeta" -}}',
    literal(JSON.stringify(meta)),
    '{{- end }}',
  ];
  for (const rule of RULES) {
    const of = (a: (typeof actions)[number], kind: string) => rendered[a].find((o) => o.kind === kind && o.metadata.annotations['podhooks.io/rule'] === rule.id);
    if (!of('deny', 'ValidatingAdmissionPolicy')) continue; // not expressible in CEL: no policy
    for (const [kind, name] of [['ValidatingAdmissionPolicy', 'policy'], ['ValidatingAdmissionPolicyBinding', 'binding']] as const) {
      const objects = Object.fromEntries(actions.map((a) => [a, of(a, kind)])) as Record<(typeof actions)[number], any>;
      const texts = Object.fromEntries(actions.map((a) => [a, digestText(objects[a])])) as Record<(typeof actions)[number], string>;
      out.push('', `{{- define "podhooks.${name}.${rule.id}" -}}`, withHoles(texts.deny, rule.id, name, texts, objects), '{{- end }}');
    }
  }
  return out.join('\n') + '\n';
}
