// Offline injection of whole manifests: what `podhooks inject` and the golden tests run.
import type { Config } from '../config';
import { parseDocuments, podSlots, toYaml } from '../workloads';
import { injectPod } from './inject';
import { describePlacement } from './placement';

export class InjectionFailed extends Error {
  constructor(readonly problems: string[]) {
    super(`not injected:\n  ${problems.join('\n  ')}`);
  }
}

/** Injects every pod and pod template in `text`; throws InjectionFailed listing each problem. */
export function injectManifests(text: string, source: string, config: Config, nativeSidecars = config.injection.nativeSidecars !== 'false', warn: Warn = () => undefined): string {
  return toYaml(injectDocuments(parseDocuments(text, source), source, config, nativeSidecars, warn));
}

type Warn = (text: string) => void;

/**
 * Injects the pods and pod templates of parsed documents in place, and returns them. What
 * the webhook would send as admission warnings goes to `warn`, including that a RuntimeClass
 * placement assigns could not be checked (no cluster offline).
 */
export function injectDocuments(docs: Record<string, any>[], source: string, config: Config, nativeSidecars = config.injection.nativeSidecars !== 'false', warn: Warn = () => undefined): Record<string, any>[] {
  const problems: string[] = [];
  for (const slot of podSlots(docs, source)) {
    const held = slot.pod.spec?.runtimeClassName; // a Pod slot's replace() changes slot.pod in place
    const result = injectPod(slot.pod, { config, nativeSidecars, namespace: slot.namespace });
    if (result.errors.length) problems.push(`${slot.where}: ${result.errors.join('; ')}`);
    else if (result.changed) slot.replace(result.pod);
    for (const w of result.warnings) warn(`${slot.where}: ${w}`);
    // Not again for a class a trusted earlier injection had set (inject run twice).
    if (result.placement && held !== result.placement.runtimeClass) {
      warn(`${slot.where}: podhooks placement: ${describePlacement(result.placement)}; could not check that RuntimeClass "${result.placement.runtimeClass}" exists (offline)`);
    }
  }
  if (problems.length) throw new InjectionFailed(problems);
  return docs;
}
