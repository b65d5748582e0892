// Offline injection of whole manifests: what `podhooks inject` and the golden tests run.
import type { Config } from '../config';
import { parseDocuments, podSlots, toYaml } from '../workloads';
import { injectPod } from './inject';

export class InjectionFailed extends Error {
  constructor(readonly problems: string[]) {
    super(`not injected:\n  ${problems.join('\n  ')}`);
  }
}

/** Injects every pod and pod template in `text`; throws InjectionFailed listing each problem.
 *  `warn` gets what the webhook would answer as warnings (e.g. an ignored podhooks.io/status). */
export function injectManifests(text: string, source: string, config: Config, nativeSidecars = config.injection.nativeSidecars !== 'false', warn?: (message: string) => void): string {
  const docs = parseDocuments(text, source);
  const problems: string[] = [];
  for (const slot of podSlots(docs, source)) {
    const result = injectPod(slot.pod, { config, nativeSidecars, namespace: slot.namespace });
    if (result.errors.length) problems.push(`${slot.where}: ${result.errors.join('; ')}`);
    else if (result.changed) slot.replace(result.pod);
    for (const w of result.errors.length ? [] : result.warnings) warn?.(`${slot.where}: ${w}`);
  }
  if (problems.length) throw new InjectionFailed(problems);
  return toYaml(docs);
}
