// What an answer may need from outside the pod, each lookup bounded in time by its source:
// an image's ENTRYPOINT from its registry, whether a RuntimeClass exists (placement), and a
// namespace's labels (debug exposure). An answer that used any of them is never kept.
import type { V1Pod } from '@kubernetes/client-node';
import type { Config } from '../config';
import { debugAllowFrom } from '../mutate/debug';
import type { PreparedPod } from '../mutate/inject';
import type { PlacementPlan } from '../mutate/placement';

export interface ImageConfigSource {
  /** ENTRYPOINT(+CMD) per container, each answer or an Error whose message says what failed.
   *  `signal` fires when the apiserver stops waiting: lookups stop too. */
  commands(pod: V1Pod, namespace: string | undefined, lookups: PreparedPod['imageLookups'], signal?: AbortSignal): Promise<Record<string, string[] | Error>>;
}

export interface RuntimeClassSource {
  /** Bounded in time; rejects with a message when the API cannot answer. */
  exists(name: string): Promise<boolean>;
}

export interface NamespaceLabelSource {
  /** Bounded in time; rejects with a message when the labels cannot be had. */
  labels(namespace: string): Promise<Record<string, string>>;
}

/** Whether the debug port's exposure depends on the namespace's labels (config allows the
 *  pod network only to labelled namespaces, and the pod asks for debug). */
export function debugNeedsLabels(prepared: PreparedPod, config: Config): boolean {
  const net = config.debug.network;
  return Boolean(prepared.parsed?.spec.debug && net.allowFrom && !net.allNamespaces);
}

/** Where the debug port listens when the namespace's labels do not matter (debugNeedsLabels false). */
export function debugExposureByConfig(config: Config): { allowFrom?: string } {
  return { allowFrom: debugAllowFrom(config, undefined) };
}

/**
 * Where the debug port listens: on 127.0.0.1 (kubectl port-forward), or on the pod network
 * from debug.network.allowFrom only when the config or the namespace's label allows it.
 * Labels that cannot be read keep it private, and the answer says so.
 */
export async function debugExposure(prepared: PreparedPod, config: Config, namespaces: NamespaceLabelSource | undefined, namespace: string | undefined): Promise<{ allowFrom?: string; warning?: string }> {
  if (!debugNeedsLabels(prepared, config)) return debugExposureByConfig(config);
  const privately = 'podhooks debug: port stays on 127.0.0.1 (kubectl port-forward);';
  if (!namespace || !namespaces) return { warning: `${privately} namespace labels cannot be read` };
  try {
    return { allowFrom: debugAllowFrom(config, await namespaces.labels(namespace)) };
  } catch (err) {
    return { warning: `${privately} ${(err as Error).message}` };
  }
}

/** Placement may only assign a RuntimeClass that exists; without cluster access it says it could not check. */
export async function checkRuntimeClass(plan: PlacementPlan | undefined, runtimeClasses: RuntimeClassSource | undefined): Promise<{ error?: string; warnings: string[] }> {
  if (!plan) return { warnings: [] };
  const what = `RuntimeClass "${plan.runtimeClass}" (validation.placement.sandboxRuntimeClass)`;
  if (!runtimeClasses) return { warnings: [`podhooks placement: could not check that RuntimeClass "${plan.runtimeClass}" exists (no cluster access)`] };
  try {
    if (await runtimeClasses.exists(plan.runtimeClass)) return { warnings: [] };
    return { error: `placement: ${what} does not exist, so the offline pod (metadata.labels[${plan.label}]="${plan.value}") cannot be placed in the sandbox. Fix: create the RuntimeClass, or correct validation.placement.sandboxRuntimeClass`, warnings: [] };
  } catch (err) {
    return { error: `placement: cannot check that ${what} exists: ${(err as Error).message}; the offline pod is not admitted without its sandbox`, warnings: [] };
  }
}
