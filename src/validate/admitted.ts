// A workload's pod template is judged as its pods will be admitted: after podhooks' own
// injection (and placement), which the mutating webhook applies to them later. Annotation
// errors it would refuse the pods for are reported on the template, so `kubectl apply`
// fails fast. And hook annotations the mutating webhook will never see (injection not
// enabled for the namespace, no podhooks.io/inject=true label) get a warning, not silence.
import type { V1Pod } from '@kubernetes/client-node';
import type { Config } from '../config';
import { A, PREFIX } from '../mutate/annotations';
import { injectPrepared, preparePod } from '../mutate/inject';
import { placeOnly } from '../mutate/place-only';
import { StatusError } from '../mutate/uninject';
import type { Finding } from './policy';
import { SYSTEM_NAMESPACES } from './policy';

/** The rule id recorded for podhooks.io/ annotations the mutating webhook refuses. */
export const ANNOTATIONS_RULE = 'injection-annotations';
/** The rule id of the warning for hook annotations in a namespace without injection. */
export const NOT_ENABLED_RULE = 'injection-not-enabled';
export const INJECTION_LABEL = `${PREFIX}injection`;

/** What podhooks knows of the pod's namespace: its labels, or why they could not be read. */
export interface NamespaceFacts {
  labels?: Record<string, string>;
  error?: string;
}

/** podhooks.io/ annotations that ask for something: not podhooks' own records, not the opt-in switch, not "false". */
export function hookAnnotations(pod: V1Pod): string[] {
  const own = new Set<string>([A.status, A.authzOffset, A.inject]);
  return Object.entries(pod.metadata?.annotations ?? {})
    .filter(([k, v]) => k.startsWith(PREFIX) && !own.has(k) && v !== 'false')
    .map(([k]) => k);
}

function optedOut(pod: V1Pod): boolean {
  return pod.metadata?.annotations?.[A.inject] === 'false' || pod.metadata?.labels?.[A.inject] === 'false';
}

function excludedFromInjection(namespace: string | undefined, config: Config): boolean {
  return !!namespace && (namespace === config.namespace || (SYSTEM_NAMESPACES as readonly string[]).includes(namespace) || config.injection.excludedNamespaces.includes(namespace));
}

/**
 * Whether deploy/'s mutating webhooks send this pod to podhooks: a podhooks.io/ annotation,
 * and either an enabled namespace without the inject=false label, or the inject=true label.
 * Unknown labels count as enabled: the author who wrote hook annotations most likely meant it.
 */
export function injectionSeesPod(pod: V1Pod, namespace: string | undefined, ns: NamespaceFacts, config: Config): boolean {
  if (excludedFromInjection(namespace, config)) return false;
  if (!Object.keys(pod.metadata?.annotations ?? {}).some((k) => k.startsWith(PREFIX))) return false;
  const label = pod.metadata?.labels?.[A.inject];
  const enabled = ns.labels ? ns.labels[INJECTION_LABEL] === 'enabled' : true;
  return enabled ? label !== 'false' : label === 'true';
}

/** The warning for hook annotations nobody will act on, if the pod has such annotations. */
export function notEnabledFinding(pod: V1Pod, namespace: string | undefined, ns: NamespaceFacts, config: Config, template: boolean): Finding | undefined {
  const keys = hookAnnotations(pod);
  if (!keys.length || optedOut(pod) || !ns.labels || injectionSeesPod(pod, namespace, ns, config)) return undefined;
  const where = excludedFromInjection(namespace, config)
    ? `namespace ${namespace} is excluded from injection (injection.excludedNamespaces)`
    : `namespace ${namespace} is not labelled ${INJECTION_LABEL}=enabled`;
  return {
    rule: NOT_ENABLED_RULE,
    action: 'warn',
    field: 'metadata.annotations',
    message: `${keys.join(', ')} ${keys.length > 1 ? 'are' : 'is'} ignored: ${where}. Fix: set label ${A.inject}: "true" on the ${template ? 'pod template' : 'pod'}, or label the namespace ${INJECTION_LABEL}=enabled`,
    summary: `set pod label ${A.inject}=true; namespace ${namespace} is not injection-enabled`,
  };
}

/**
 * The pod a template makes, as the mutating webhook will admit it, and the refusals it
 * would give. The registry is not asked: an ENTRYPOINT it would resolve is stood in for,
 * since no rule reads commands, and a pod whose lookup fails is refused at creation anyway.
 */
export function asAdmitted(pod: V1Pod, namespace: string | undefined, ns: NamespaceFacts, config: Config): { pod: V1Pod; findings: Finding[] } {
  // The placement webhook sees offline pods in every namespace; injection (which places
  // too) only the pods it is enabled for.
  if (!injectionSeesPod(pod, namespace, ns, config)) return { pod: placedOrAsIs(pod, namespace, config), findings: [] };
  const prepared = preparePod(pod, config, namespace);
  const imageCommands = Object.fromEntries(prepared.imageLookups.map((l) => [l.container, ['/podhooks-template-check']]));
  const result = injectPrepared(prepared, { config, nativeSidecars: config.injection.nativeSidecars !== 'false', namespace, imageCommands });
  const action = config.injection.invalidAnnotations === 'warn' ? 'warn' : 'deny';
  const findings: Finding[] = result.errors.map((error) => ({ rule: ANNOTATIONS_RULE, action, field: 'metadata.annotations', message: error, summary: `not injected: ${error}` }));
  return { pod: result.errors.length ? pod : result.pod, findings };
}

/** The pod after the placement webhook (validation.placement.mode assign), or as it is. */
function placedOrAsIs(pod: V1Pod, namespace: string | undefined, config: Config): V1Pod {
  try {
    return placeOnly(pod, namespace, config).pod;
  } catch (err) {
    // An unreadable podhooks.io/status: the placement webhook refuses the pods, judge as written.
    if (err instanceof StatusError) return pod;
    throw err;
  }
}
