// Whether a pod's podhooks.io/status may be trusted. Uninjection removes what the status
// lists, and the status is an annotation anyone who writes the pod can forge (or copy
// from another cluster), so before any of it is undone:
//   1. it may only name what podhooks adds: its own container and volume names, its own
//      annotation keys and readiness gate (`ownershipProblem`);
//   2. injecting the uninjected pod again, with the same intent, must reproduce every
//      entry it lists, as the pod holds it after the apiserver's defaulting: containers,
//      the records of changed containers (command, env, mounts, probes, lifecycle),
//      volumes, annotations, readiness gates and the grace period (`recordMismatch`,
//      called by inject.ts with that re-injection).
// A status that fails is treated as absent, and the caller says so (warning + audit),
// unless the pod already carries a podhooks injection (`carriedInjection`): injecting
// it again would wrap the wrapper and mount /podhooks/bin twice (the apiserver refuses
// that with a message that names neither cause nor fix), so such a pod is denied, saying
// what to do. That is what `podhooks inject` output made with another configuration or
// tools version than the webhook's looks like.
//
// A runtime class has no podhooks shape (a user's "kata" looks like placement's), so its
// record is only undone when placement would assign that very class to this pod now
// (`runtimeClassProblem`); otherwise the class stays and only that record is dropped.
// Either way a runtime class is never removed for good: placement puts it back.
//
// The intent is the pod's podhooks.io/* annotations when it was injected, kept in the
// status so that turning a feature off (debug "false", a removed hook) still finds the
// entries to remove. Values that the injected containers only reference through the
// downward API (hook scripts) are kept as null, because nothing podhooks adds depends on them.
import type { V1Container, V1Pod, V1Volume } from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import type { Config } from '../config';
import { A } from './annotations';
import { sameAfterDefaulting } from './defaults';
import type { InjectionStatus } from './draft';
import { IMAGE_BIN, NAMES, POD_BIN } from './layout';
import { placementFor } from './placement';
import { ONLINE_CONDITION } from './traffic';
import { readStatus, uninject } from './uninject';

const PREFIX = 'podhooks.io/';
const OWN_NAME = new RegExp(`^(?:${[...new Set(Object.values(NAMES))].join('|')})(?:-[0-9]+)?$`);
/** Stands in for a referenced-only value (a hook script) when the status is checked. */
const REFERENCED_PLACEHOLDER = '# value not recorded in podhooks.io/status';

export class UntrustedStatus extends Error {}

/** Where the pod already runs podhooks' tools (a wrapped command, /podhooks/bin), or undefined. */
export function carriedInjection(pod: V1Pod): string | undefined {
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    const first = c?.command?.[0];
    if (typeof first === 'string' && (first.startsWith(`${POD_BIN}/`) || first.startsWith(`${IMAGE_BIN}/`))) return `container ${c.name} runs ${first}`;
    if ((c?.volumeMounts ?? []).some((m) => m?.mountPath === POD_BIN)) return `container ${c.name} mounts ${POD_BIN}`;
  }
  return undefined;
}

/** Names and keys podhooks never adds, or undefined when every listed entry could be podhooks'. */
export function ownershipProblem(status: InjectionStatus): string | undefined {
  for (const kind of ['initContainers', 'containers', 'volumes'] as const) {
    const list = status[kind] ?? [];
    if (!Array.isArray(list)) return `its ${kind} is not a list`;
    const foreign = list.filter((n) => typeof n !== 'string' || !OWN_NAME.test(n));
    if (foreign.length) return `it lists ${kind} ${foreign.map((n) => JSON.stringify(n)).join(', ')}, which podhooks never adds (its names start with podhooks-)`;
  }
  const gates = status.readinessGates ?? [];
  const foreignGates = gates.filter((g) => g !== ONLINE_CONDITION);
  if (foreignGates.length) return `it lists readinessGates ${foreignGates.map((g) => JSON.stringify(g)).join(', ')}, which podhooks never adds (its only gate is ${ONLINE_CONDITION})`;
  if (status.runtimeClassName !== undefined && typeof status.runtimeClassName !== 'string') return 'its runtimeClassName is not a name';
  const keys = status.annotations ?? [];
  if (!Array.isArray(keys)) return 'its annotations is not a list';
  const foreign = keys.filter((k) => typeof k !== 'string' || !k.startsWith(PREFIX) || k === A.status);
  if (foreign.length) return `it lists annotations ${foreign.map((k) => JSON.stringify(k)).join(', ')}, which podhooks never sets`;
  if (typeof status.changed !== 'object' || status.changed === null || Array.isArray(status.changed)) return 'its changed is not an object';
  if (status.targets !== undefined && !(Array.isArray(status.targets) && status.targets.every((t) => typeof t === 'string'))) return 'its targets is not a list of names';
  if (status.created !== undefined && !(Array.isArray(status.created) && status.created.every((k) => k === 'initContainers' || k === 'volumes' || k === 'readinessGates'))) {
    return 'its created is not a list of initContainers, volumes, readinessGates';
  }
  if (status.intent !== undefined && (typeof status.intent !== 'object' || status.intent === null || !Object.entries(status.intent).every(([k, v]) => k.startsWith(PREFIX) && (typeof v === 'string' || v === null)))) {
    return 'its intent is not a map of podhooks.io/ annotations';
  }
  return undefined;
}

const ANNOTATION_REF = "metadata.annotations['";

function referencedAnnotations(pod: V1Pod): Set<string> {
  const keys = new Set<string>();
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    for (const e of c.env ?? []) {
      // metadata.annotations['<key>'], without a regex per env var of every container
      const path = e.valueFrom?.fieldRef?.fieldPath;
      if (path !== undefined && path.length > ANNOTATION_REF.length + 2 && path.startsWith(ANNOTATION_REF) && path.endsWith("']")) keys.add(path.slice(ANNOTATION_REF.length, -2));
    }
  }
  return keys;
}

/** The podhooks.io/* annotations that drove an injection (see the header). */
export function intentOf(base: V1Pod, injected: V1Pod, set: string[]): Record<string, string | null> {
  const referenced = referencedAnnotations(injected);
  const intent: Record<string, string | null> = {};
  for (const [key, value] of Object.entries(base.metadata?.annotations ?? {})) {
    if (!key.startsWith(PREFIX) || key === A.status || set.includes(key)) continue;
    intent[key] = referenced.has(key) ? null : value;
  }
  return intent;
}

/** True when `base` still asks for what `intent` recorded (then it is its own check). */
export function intentHolds(base: V1Pod, intent: Record<string, string | null>): boolean {
  if (base.metadata?.labels?.[A.inject] === 'false') return false;
  const current = Object.entries(base.metadata?.annotations ?? {}).filter(([k]) => k.startsWith(PREFIX));
  if (current.length !== Object.keys(intent).length) return false;
  return current.every(([k, v]) => intent[k] === v || (intent[k] === null && v.trim() !== ''));
}

/** `base` with its podhooks.io/* annotations as they were when it was injected. */
export function withIntent(base: V1Pod, intent: Record<string, string | null>): V1Pod {
  const current = base.metadata?.annotations ?? {};
  const annotations: Record<string, string> = {};
  for (const [key, value] of Object.entries(current)) if (!key.startsWith(PREFIX)) annotations[key] = value;
  for (const [key, value] of Object.entries(intent)) annotations[key] = value !== null ? value : current[key]?.trim() ? current[key] : REFERENCED_PLACEHOLDER;
  const metadata = { ...base.metadata, annotations };
  if (metadata.labels?.[A.inject] === 'false') {
    metadata.labels = { ...metadata.labels };
    delete metadata.labels[A.inject]; // it was not "false" when the pod was injected
  }
  return { ...base, metadata };
}

/**
 * `held` without the volumeMounts and env entries that `made` does not have: the apiserver's
 * ServiceAccount plugin (and other injectors) add those to every container, podhooks' too.
 */
function withoutAdditions<T extends V1Container | V1Volume>(held: T, made: T | undefined): T {
  if (!made || !('image' in held)) return held;
  const c = held as V1Container;
  const m = made as V1Container;
  const keep = <E extends { name: string }>(list: E[] | undefined, own: E[] | undefined) => {
    const names = new Set((own ?? []).map((e) => e.name));
    const kept = list?.filter((e) => names.has(e.name));
    return kept?.length ? kept : undefined;
  };
  return { ...c, volumeMounts: keep(c.volumeMounts, m.volumeMounts), env: keep(c.env, m.env) } as T;
}

/**
 * A status as compared: without the `created` notes (whether a list existed before depends
 * on what others added since, e.g. the ServiceAccount token volume and its mounts; they
 * only decide whether uninject drops an emptied list), without the runtime class (see the
 * header) and, for a status written before the intent was kept, without the intent.
 */
function comparable(status: InjectionStatus, recorded: InjectionStatus): unknown {
  const copy = JSON.parse(JSON.stringify(status)) as InjectionStatus;
  delete copy.created;
  // Checked on its own when undone (runtimeClassProblem); a class placement adds now is a new change.
  delete copy.runtimeClassName;
  for (const record of Object.values(copy.changed ?? {})) delete record.created;
  if (recorded.intent === undefined) delete copy.intent;
  return copy;
}

/** Why `pod` does not hold what `recorded` lists as `again` (its re-injection) has it, or undefined. */
export function recordMismatch(pod: V1Pod, recorded: InjectionStatus, again: V1Pod | undefined): string | undefined {
  const raw = again?.metadata?.annotations?.[A.status];
  if (!again || raw === undefined) return 'injecting the pod again from it adds nothing, so it does not describe a podhooks injection';
  if (!isDeepStrictEqual(comparable(recorded, recorded), comparable(JSON.parse(raw) as InjectionStatus, recorded))) return 'it does not list what podhooks injects into this pod';
  const lists: ['initContainers' | 'containers' | 'volumes', string][] = [
    ['initContainers', 'init container'],
    ['containers', 'container'],
    ['volumes', 'volume'],
  ];
  for (const [kind, what] of lists) {
    for (const name of recorded[kind]) {
      const held = (pod.spec?.[kind] as (V1Container | V1Volume)[] | undefined)?.find((x) => x.name === name);
      const made = (again.spec?.[kind] as (V1Container | V1Volume)[] | undefined)?.find((x) => x.name === name);
      if (!held) return `the ${what} ${name} it lists is not in the pod`;
      if (!sameAfterDefaulting(withoutAdditions(held, made), made)) return `the ${what} ${name} is not what podhooks injects`;
    }
  }
  for (const key of recorded.annotations) {
    if (pod.metadata?.annotations?.[key] !== again.metadata?.annotations?.[key]) return `annotation ${key} is not what podhooks sets`;
  }
  for (const name of Object.keys(recorded.changed)) {
    const held = pod.spec?.containers.find((c) => c.name === name);
    if (!held || !sameAfterDefaulting(held, again.spec?.containers.find((c) => c.name === name))) return `container ${name} does not hold what podhooks changes in it`;
  }
  // Others may add gates after podhooks' (order is not compared); podhooks' must be there.
  const gates = new Set((pod.spec?.readinessGates ?? []).map((g) => g.conditionType));
  for (const gate of recorded.readinessGates ?? []) if (!gates.has(gate)) return `the readiness gate ${gate} it lists is not in the pod`;
  if (recorded.terminationGracePeriodSeconds !== undefined && pod.spec?.terminationGracePeriodSeconds !== again.spec?.terminationGracePeriodSeconds) {
    return `spec.terminationGracePeriodSeconds (${pod.spec?.terminationGracePeriodSeconds ?? 'unset'}) is not what podhooks sets`;
  }
  return undefined;
}

/** Why the status' runtime class record may not be undone (see the header), or undefined. */
export function runtimeClassProblem(pod: V1Pod, status: InjectionStatus, config: Config, namespace: string | undefined): string | undefined {
  const claimed = status.runtimeClassName;
  if (claimed === undefined) return undefined;
  const held = pod.spec?.runtimeClassName;
  const kept = held === undefined ? 'the pod sets none' : `spec.runtimeClassName "${held}" stays`;
  if (held !== claimed) return `its runtimeClassName record ("${claimed}") was ignored: ${kept}`;
  const spec = { ...pod.spec!, runtimeClassName: undefined };
  if (placementFor({ ...pod, spec }, namespace, config)?.runtimeClass === claimed) return undefined;
  return `its runtimeClassName record ("${claimed}") was ignored: placement (validation.placement) would not assign it to this pod, so ${kept}`;
}

/** A status that records nothing but a runtime class (the placement webhook's, or injection's placement alone). */
export function placementOnly(status: InjectionStatus): boolean {
  const lists = [status.initContainers, status.containers, status.volumes, status.annotations, status.readinessGates ?? [], status.targets ?? []];
  return lists.every((l) => l.length === 0) && Object.keys(status.changed).length === 0 && status.terminationGracePeriodSeconds === undefined && status.intent === undefined;
}

/** The pod without its podhooks.io/status annotation (an untrusted status is not kept). */
export function withoutStatus(pod: V1Pod): V1Pod {
  const metadata = { ...pod.metadata, annotations: { ...pod.metadata?.annotations } };
  delete metadata.annotations[A.status];
  if (Object.keys(metadata.annotations).length === 0) delete (metadata as { annotations?: unknown }).annotations;
  return { ...pod, metadata };
}

export interface Undone {
  pod: V1Pod;
  /** What was undone: the pod's status, without a runtime class record that did not hold. */
  status?: InjectionStatus;
  /** Why the status was treated as absent. */
  untrusted?: string;
  /** Why its runtime class record was dropped (the class stays; the rest was undone). */
  keptRuntimeClass?: string;
}

/**
 * The pod with a previous injection undone, when its status passes the ownership check;
 * otherwise the pod as it is (without the status) and why. Throws StatusError when the
 * status is not JSON of the known format.
 */
export function undoPrevious(pod: V1Pod, config: Config, namespace: string | undefined): Undone {
  const recorded = readStatus(pod);
  if (!recorded) return { pod };
  const problem = ownershipProblem(recorded);
  if (problem) return { pod: withoutStatus(pod), untrusted: problem };
  const keptRuntimeClass = runtimeClassProblem(pod, recorded, config, namespace);
  const status = keptRuntimeClass ? { ...recorded, runtimeClassName: undefined } : recorded;
  if (keptRuntimeClass) delete status.runtimeClassName;
  try {
    return { ...uninject(pod, status), ...(keptRuntimeClass ? { keptRuntimeClass } : {}) };
  } catch {
    return { pod: withoutStatus(pod), untrusted: 'its records of changed containers are malformed' };
  }
}
