// The configuration the rendered policies read, compiled into each policy as CEL literals
// (spec.variables), from the same podhooks config the webhook reads.
//
// Not a paramKind ConfigMap, on purpose: kube-apiserver stops the informer of a built-in
// paramKind as soon as no binding uses it for a moment and never restarts it, after which
// policies evaluate against stale params, or refuse with "no params found", until the
// apiserver restarts (kubernetes/kubernetes#130887, #133827; seen in this repo's e2e tier on
// v1.37.2). A change of config therefore means re-rendering, and `podhooks policy check`
// and `podhooks serve` (validation.engine both | admission-policy) report objects in the
// cluster that differ from what the config renders.
import { ConfigError, type Config } from '../../config';
import { celQuote } from '../text';

/** Every config value a rule's CEL reads, by variable name (variables.<name>). */
export function policyValues(config: Config): Record<string, string | string[]> {
  const v = config.validation;
  for (const key of Object.keys(v.exemptLabels)) {
    if (key.includes('=')) throw new ConfigError(`validation.exemptLabels: key ${JSON.stringify(key)} contains "=", which is not a valid label key`);
  }
  return {
    podhooksNamespace: config.namespace,
    sandboxRuntimeClasses: v.sandboxRuntimeClasses,
    exemptNamespaces: v.exemptNamespaces,
    exemptLabels: Object.entries(v.exemptLabels).map(([k, value]) => `${k}=${value}`),
    procMountAllowlist: v.procMountAllowlist,
    placementEnabled: String(v.placement.enabled),
    placementMode: v.placement.mode,
    placementLabel: v.placement.label,
    placementOfflineValues: v.placement.offlineValues,
    placementOnlineValues: v.placement.onlineValues,
    placementSandboxRuntimeClass: v.placement.sandboxRuntimeClass,
    debugNamespaceLabel: config.debug.namespaceLabel,
  };
}

/** A value as a CEL literal: a string, or a list of strings. */
export function celLiteral(value: string | string[]): string {
  return Array.isArray(value) ? `[${value.map(celQuote).join(', ')}]` : celQuote(value);
}
