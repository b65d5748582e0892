// `podhooks explain`: for one pod and its namespace, which webhooks the apiserver would call
// and why (or why not), what injection would do and to which containers, and what the
// validating policy finds. Pure: the CLI supplies the namespace labels and configurations.
import type { V1Pod } from '@kubernetes/client-node';
import type { Config } from '../config';
import { A } from '../mutate/annotations';
import { injectPrepared, preparePod } from '../mutate/inject';
import { evaluate, exemption, type Finding } from '../validate/policy';
import { judgeWebhook, type Webhook, type WebhookVerdict } from './webhooks';

export interface InjectionExplanation {
  /** injected / not-injected (podhooks skips the pod, with the reason) / denied (errors) / not-called. */
  outcome: 'injected' | 'not-injected' | 'denied' | 'not-called';
  reason?: string;
  /** App containers that get the hooks (the injection core's own target selection). */
  targets: string[];
  notTargets: { container: string; reason: string }[];
  /** Containers whose ENTRYPOINT the webhook asks the image registry for (offline: not asked). */
  registryLookups: { container: string; image: string }[];
  added: { initContainers: string[]; containers: string[]; volumes: string[] };
  errors: string[];
  warnings: string[];
}

export interface Explanation {
  pod: string;
  namespace: string;
  namespaceLabels: Record<string, string>;
  namespaceLabelsFrom: string;
  webhooksFrom: string;
  webhooks: WebhookVerdict[];
  injection: InjectionExplanation;
  validation: { outcome: 'evaluated' | 'exempt' | 'not-called'; reason?: string; findings: Finding[] };
}

export interface ExplainInput {
  pod: V1Pod;
  where: string;
  namespace: string;
  namespaceLabels: Record<string, string>;
  namespaceLabelsFrom: string;
  webhooks: Webhook[];
  webhooksFrom: string;
  config: Config;
  nativeSidecars: boolean;
}

const isMutating = (v: WebhookVerdict) => v.configuration.startsWith('MutatingWebhookConfiguration/');

function explainInjection(input: ExplainInput, called: boolean): InjectionExplanation {
  const { pod, namespace, config } = input;
  const none = { initContainers: [], containers: [], volumes: [] };
  const base: InjectionExplanation = { outcome: 'not-called', targets: [], notTargets: [], registryLookups: [], added: none, errors: [], warnings: [] };
  const prepared = preparePod(pod, config, namespace);
  if (!called) return { ...base, reason: 'no mutating webhook is called for this pod, so podhooks never sees it' };
  if (prepared.errors.length) return { ...base, outcome: 'denied', reason: 'the mutating webhook denies the pod', errors: prepared.errors };
  if (prepared.skip || !prepared.parsed) return { ...base, outcome: 'not-injected', reason: prepared.skip };

  const targets = prepared.parsed.spec.containers;
  const listed = prepared.base.metadata?.annotations?.[A.containers];
  const notTargets = (prepared.base.spec?.containers ?? [])
    .filter((c) => !targets.includes(c.name))
    .map((c) => ({ container: c.name, reason: listed !== undefined ? `not listed in ${A.containers} (${listed})` : prepared.previous?.targets ? 'not a target of the earlier injection, which re-injection keeps' : 'not selected by default' }));
  const explanation = { ...base, targets, notTargets, registryLookups: prepared.imageLookups.map((l) => ({ container: l.container, image: l.image })) };
  if (prepared.imageLookups.length) {
    return { ...explanation, outcome: 'injected', reason: 'after the webhook reads the ENTRYPOINT of the images below from their registry (explain does not ask it); the pod is denied if the registry cannot answer' };
  }
  const result = injectPrepared(prepared, { config, nativeSidecars: input.nativeSidecars, namespace });
  if (result.errors.length) return { ...explanation, outcome: 'denied', reason: 'the mutating webhook denies the pod', errors: result.errors };
  if (!result.changed) return { ...explanation, outcome: 'not-injected', reason: result.skip ?? 'nothing to inject' };
  const status = JSON.parse(result.pod.metadata?.annotations?.[A.status] ?? '{}');
  return {
    ...explanation,
    outcome: 'injected',
    added: { initContainers: status.initContainers ?? [], containers: status.containers ?? [], volumes: status.volumes ?? [] },
    warnings: result.warnings,
  };
}

export function explainPod(input: ExplainInput): Explanation {
  const verdicts = input.webhooks.map((h) => judgeWebhook(h, input.pod, input.namespace, input.namespaceLabels));
  const mutated = verdicts.some((v) => isMutating(v) && v.outcome === 'called');
  const validated = verdicts.some((v) => !isMutating(v) && v.outcome === 'called');
  const exempt = exemption(input.pod, input.namespace, input.config);
  const validation: Explanation['validation'] = !validated
    ? { outcome: 'not-called', reason: 'no validating webhook is called for this pod', findings: [] }
    : exempt
      ? { outcome: 'exempt', reason: exempt, findings: [] }
      : { outcome: 'evaluated', findings: evaluate({ pod: input.pod, namespace: input.namespace, namespaceLabels: input.namespaceLabels, config: input.config }) };
  return {
    pod: input.where,
    namespace: input.namespace,
    namespaceLabels: input.namespaceLabels,
    namespaceLabelsFrom: input.namespaceLabelsFrom,
    webhooksFrom: input.webhooksFrom,
    webhooks: verdicts,
    injection: explainInjection(input, mutated),
    validation,
  };
}
