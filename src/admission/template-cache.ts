// Answers worked out once per pod template. A Deployment's replicas, a Job's completions and
// a DaemonSet's pods reach /mutate identical but for their name, bookkeeping and token
// volume name, and podhooks' answer to a pod is a function of the pod, its namespace and
// the config. So the answer is kept with the pod it answered, and a later pod that equals
// it (all but the fields that differ between replicas) gets it with its own request uid
// (and token volume name), without being injected again. An answer that consulted anything outside the pod (an image's
// ENTRYPOINT from its registry, RuntimeClasses, namespace labels, an authz pacing token)
// is never kept: those change, or are per pod.
import type { V1Pod } from '@kubernetes/client-node';
import { LruCache } from '../lru';
import { PREFIX } from '../mutate/annotations';

/** What becomes of one review's lookup (the metric's `result` label). */
export type TemplateLookup = 'hit' | 'miss' | 'not-kept';

/** An entry larger than this (the pod's JSON and the patch, in characters) is not kept, so
 *  memory stays bounded for pods near the apiserver's size limit. Pods are a few KB. */
export const MAX_ENTRY_CHARS = 32 * 1024;

/** Templates kept per group (pods that share owner, generateName or name stem, pod-template-hash, image and podhooks annotations). */
export const GROUP_SIZE = 8;

/** Metadata that differs between replicas of one template and that injection never reads
 *  (a unit test varies them and compares answers with injecting each pod). */
const PER_REPLICA = new Set(['name', 'uid', 'resourceVersion', 'creationTimestamp', 'managedFields', 'generation']);

interface Answer {
  response: { uid: string; patch?: string };
}

interface Entry<T> {
  pod: V1Pod;
  answer: T;
  /** The kept pod's token volume, when the answer can be given to a replica with another one. */
  token?: string;
  /** The patch as JSON, to rename the token volume in. */
  patchJson?: string;
}

/**
 * The ServiceAccount admission plugin (before any webhook) gives each pod a token volume
 * of its own name, kube-api-access-<5 random characters>, mounted in every container: the
 * one part of a replica's spec that differs. A kept answer is given to a replica equal to
 * its pod but for that name, with the name renamed in the patch.
 */
const TOKEN_VOLUME = /^kube-api-access-[a-z0-9]{5}$/;

/** The pod's one token volume's name, or undefined (none, or more than one). */
export function tokenVolumeOf(pod: V1Pod): string | undefined {
  const volumes = pod.spec?.volumes;
  if (!Array.isArray(volumes)) return undefined;
  let found: string | undefined;
  for (const v of volumes) {
    const name = (v as { name?: unknown } | null)?.name;
    if (typeof name !== 'string' || !TOKEN_VOLUME.test(name)) continue;
    if (found !== undefined) return undefined;
    found = name;
  }
  return found;
}

type Rename = readonly [kept: string, incoming: string];

export class TemplateCache<T extends Answer> {
  /** Least recently used group first (Map keeps insertion order). */
  private readonly groups = new Map<string, Entry<T>[]>();
  private entries = 0;
  /** Groups injected once and not kept yet (the last `capacity` of them): a template is kept
   *  from its second pod on, so one-off templates (an Indexed Job's pods) do not churn the
   *  cache: keeping a pod costs a walk to freeze it and a promotion to V8's old heap. */
  private readonly seen: LruCache<string, true>;

  /** `capacity`: templates kept (0 keeps none: every pod is injected). `counted` sees every lookup's result. */
  constructor(
    readonly capacity: number,
    private readonly counted: (result: TemplateLookup) => void = () => {},
  ) {
    this.seen = new LruCache(capacity);
  }

  get enabled(): boolean {
    return this.capacity > 0;
  }

  get size(): number {
    return this.entries;
  }

  /**
   * Replicas of one template share their group: a few cheap fields, the pods compared in
   * full afterwards. Controllers' pods share a generateName; pods without one are grouped by
   * their name up to its last dash (web-1, web-2). podhooks' own annotations (short) tell
   * apart templates that differ in what is injected.
   */
  groupOf(pod: V1Pod, namespace: string | undefined, nativeSidecars: boolean): string {
    const meta = pod.metadata;
    const owner = Array.isArray(meta?.ownerReferences) ? meta.ownerReferences[0]?.uid : undefined;
    const first = Array.isArray(pod.spec?.containers) ? pod.spec.containers[0]?.image : undefined;
    let key = `${text(namespace)}\n${nativeSidecars}\n${text(meta?.generateName || stem(meta?.name))}\n${text(owner)}\n${text(meta?.labels?.['pod-template-hash'])}\n${text(first)}`;
    const annotations = meta?.annotations;
    if (isObject(annotations)) for (const k in annotations) if (k.startsWith(PREFIX)) key += `\n${k}=${text(annotations[k])}`;
    return key;
  }

  /** The answer kept for a pod of `group` equal to `pod` as a template, as the answer to the review `uid`. */
  answer(group: string, pod: V1Pod, uid: string): T | undefined {
    const entries = this.groups.get(group);
    if (!entries) return undefined;
    const token = tokenVolumeOf(pod);
    for (const e of entries) {
      const rename: Rename | undefined = e.token !== undefined && token !== undefined && e.token !== token ? [e.token, token] : undefined;
      if (!sameTemplate(e.pod, pod, rename)) continue;
      this.counted('hit');
      const patch = rename && e.patchJson !== undefined ? Buffer.from(renamed(e.patchJson, rename)).toString('base64') : e.answer.response.patch;
      return { ...e.answer, response: { ...e.answer.response, uid, ...(patch === undefined ? {} : { patch }) } };
    }
    return undefined;
  }

  /** Records a computed answer; kept only if it depended on nothing but the pod, its namespace and the config. */
  settle(group: string, pod: V1Pod, answer: T, consultedOutside: boolean): void {
    if (consultedOutside) return this.counted('not-kept');
    const before = this.groups.get(group);
    if (!before && !this.seen.has(group)) {
      this.seen.set(group, true);
      return this.counted('miss');
    }
    const patchSize = answer.response.patch?.length ?? 0;
    if (patchSize + jsonSize(pod, MAX_ENTRY_CHARS - patchSize) > MAX_ENTRY_CHARS) return this.counted('not-kept');
    const token = tokenVolumeOf(pod);
    const patchJson = token === undefined || answer.response.patch === undefined ? undefined : Buffer.from(answer.response.patch, 'base64').toString();
    // Replicas differ in the token volume's name: an answer that names it otherwise than as a
    // whole JSON string (or one in an annotation's JSON) could not be renamed, so it is not kept.
    if (token !== undefined && !renameable(answer, patchJson, token)) return this.counted('not-kept');
    this.counted('miss');
    this.seen.delete(group);
    // Both are shared by later reviews of the template: nothing may change them.
    const entry: Entry<T> = { pod: deepFreeze(pod), answer: deepFreeze(answer), token, patchJson };
    const kept = [entry, ...(before ?? []).filter((e) => !sameTemplate(e.pod, pod))].slice(0, Math.min(GROUP_SIZE, this.capacity));
    this.entries += kept.length - (before?.length ?? 0);
    this.groups.delete(group);
    this.groups.set(group, kept);
    for (const [oldest, entries] of this.groups) {
      if (this.entries <= this.capacity) break;
      this.groups.delete(oldest);
      this.entries -= entries.length;
    }
  }
}

/** Deeper pods are not kept, so comparing with and freezing a kept pod never recurses far
 *  (a Pod's schema nests about 15 levels; only a hand-made review goes deeper). */
export const MAX_DEPTH = 64;

/** About the length of `value`'s JSON (keys, strings, punctuation; escapes count once, as they
 *  are held in memory), counted until it passes `limit`; Infinity past MAX_DEPTH. */
export function jsonSize(value: unknown, limit: number): number {
  let size = 0;
  const values: unknown[] = [value];
  const depths: number[] = [0];
  while (values.length && size <= limit) {
    const v = values.pop();
    const depth = depths.pop()!;
    if (typeof v === 'string') size += v.length + 2;
    else if (v === null || typeof v !== 'object') size += 8;
    else if (depth >= MAX_DEPTH) return Infinity;
    else if (Array.isArray(v)) {
      size += 1 + v.length;
      for (const x of v) values.push(x), depths.push(depth + 1);
    } else {
      for (const k in v) {
        size += k.length + 4;
        values.push((v as Record<string, unknown>)[k]);
        depths.push(depth + 1);
      }
      size += 2;
    }
  }
  return size;
}

const text = (v: unknown): string => (typeof v === 'string' ? v : typeof v);

function stem(name: unknown): unknown {
  if (typeof name !== 'string') return name;
  const dash = name.lastIndexOf('-');
  return dash > 0 ? name.slice(0, dash) : name;
}

/** The patch JSON with the token volume renamed: whole strings, and strings in an annotation's JSON. */
function renamed(patchJson: string, [from, to]: Rename): string {
  return patchJson.split(`"${from}"`).join(`"${to}"`).split(`\\"${from}\\"`).join(`\\"${to}\\"`);
}

function renameable(answer: Answer, patchJson: string | undefined, token: string): boolean {
  const count = (text: string, part: string) => text.split(part).length - 1;
  const { patch, ...rest } = answer.response;
  if (JSON.stringify({ ...answer, response: rest }).includes(token)) return false;
  return patchJson === undefined || count(patchJson, token) === count(patchJson, `"${token}"`) + count(patchJson, `\\"${token}\\"`);
}

/**
 * Equal as JSON text would be (same keys in the same order, same values), but for
 * PER_REPLICA metadata; with `rename`, the kept pod's token volume name stands for the
 * incoming pod's wherever it is a whole string (and neither appears otherwise).
 */
export function sameTemplate(a: V1Pod, b: V1Pod, rename?: Rename): boolean {
  if (!isObject(a) || !isObject(b)) return sameJson(a, b, rename);
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i];
    if (k !== kb[i]) return false;
    const same = k === 'metadata' ? sameMetadata : sameJson;
    if (!same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], rename)) return false;
  }
  return true;
}

function sameMetadata(a: unknown, b: unknown, rename?: Rename): boolean {
  if (!isObject(a) || !isObject(b)) return sameJson(a, b, rename);
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  let i = 0;
  let j = 0;
  for (;;) {
    while (i < ka.length && PER_REPLICA.has(ka[i])) i++;
    while (j < kb.length && PER_REPLICA.has(kb[j])) j++;
    if (i === ka.length || j === kb.length) return i === ka.length && j === kb.length;
    if (ka[i] !== kb[j] || !sameJson(a[ka[i]], b[kb[j]], rename)) return false;
    i++;
    j++;
  }
}

function sameJson(a: unknown, b: unknown, rename?: Rename): boolean {
  if (a === b) return rename === undefined || (a !== rename[0] && a !== rename[1]);
  if (rename !== undefined && a === rename[0] && b === rename[1]) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i], rename)) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i];
    if (k !== kb[i] || !sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], rename)) return false;
  }
  return true;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function deepFreeze<V>(value: V): V {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
