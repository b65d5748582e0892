// Answers worked out once per pod template. A Deployment's replicas, a Job's completions and
// a DaemonSet's pods reach /mutate identical but for their name, bookkeeping and token
// volume name, and podhooks' answer to a pod is a function of the pod, its namespace and
// the config. So the answer is kept with the pod it answered, and a later pod that equals
// it (all but the fields that differ between replicas: ./template-match.ts) gets it with its
// own request uid (and token volume name: ./token-volume.ts), without being injected again.
// An answer that consulted anything outside the pod (an image's ENTRYPOINT from its
// registry, RuntimeClasses, namespace labels) is never kept: those change. An authz start
// offset is per pod: it is a slot in the kept answer, taken afresh for each replica
// (./paced-patch.ts). The review a template is kept from is kept as bytes too, so that
// most replicas are recognised before they are even parsed (./kept-review.ts).
import type { V1Pod } from '@kubernetes/client-node';
import { deepFreeze } from '../freeze';
import { LruCache } from '../lru';
import { PREFIX } from '../mutate/annotations';
import { KeptReview, type Replica } from './kept-review';
import { PacedPatch } from './paced-patch';
import type { AdmissionRequest } from './review';
import { compileTemplate, jsonSize, matches, type Template } from './template-match';
import { RenameablePatch, renameable, tokenVolumeOf } from './token-volume';

/** What becomes of one review's lookup (the metric's `result` label). */
export type TemplateLookup = 'hit' | 'miss' | 'not-kept';

/** An entry larger than this (the pod's JSON and the patch, in characters) is not kept, so
 *  memory stays bounded for pods near the apiserver's size limit. Pods are a few KB. */
export const MAX_ENTRY_CHARS = 32 * 1024;

/** Templates kept per group (pods that share owner, generateName or name stem, pod-template-hash, image and podhooks annotations). */
export const GROUP_SIZE = 8;

interface Answer {
  response: { uid: string; patch?: string };
}

interface Entry<T> {
  /** The kept pod, compiled for comparisons. */
  template: Template;
  answer: T;
  /** The kept pod's token volume, when the answer can be given to a replica with another one. */
  token?: string;
  /** The patch, when a replica's differs: its token volume name, its authz start offset. */
  patch?: RenameablePatch | PacedPatch;
  /** The review's bytes, when replicas can be recognised by them. */
  review?: KeptReview;
}

/** A review recognised by its bytes: the kept request, the entry, the review's uid and token volume. */
export interface Recalled<T> extends Replica {
  request: AdmissionRequest;
  entry: Entry<T>;
}

export class TemplateCache<T extends Answer> {
  /** Least recently used group first (Map keeps insertion order). */
  private readonly groups = new Map<string, Entry<T>[]>();
  private entries = 0;
  /** Kept reviews by their length in bytes, newest first. */
  private readonly reviews = new Map<number, { review: KeptReview; entry: Entry<T> }[]>();
  /** Groups injected once and not kept yet (the last `capacity` of them): a template is kept
   *  from its second pod on, so one-off templates (an Indexed Job's pods) do not churn the
   *  cache: keeping a pod costs a walk to freeze it and a promotion to V8's old heap. */
  private readonly seen: LruCache<string, true>;

  /** `capacity`: templates kept (0 keeps none: every pod is injected). `counted` sees every
   *  lookup's result, and whether a hit was recognised by its bytes (`recalled`). */
  constructor(
    readonly capacity: number,
    private readonly counted: (result: TemplateLookup, recalled?: boolean) => void = () => {},
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

  /** The answer kept for a pod of `group` equal to `pod` as a template, as the answer to the
   *  review `uid`. `startOffset` takes the pod's authz start offset (called only when the kept
   *  answer set one, as injecting the pod would). */
  answer(group: string, pod: V1Pod, uid: string, startOffset?: () => string): T | undefined {
    const entries = this.groups.get(group);
    if (!entries) return undefined;
    const token = tokenVolumeOf(pod);
    for (const e of entries) {
      // The incoming pod's token volume name, where it differs from the kept pod's.
      const renamed = e.token !== undefined && e.token !== token ? token : undefined;
      if (matches(e.template, pod, renamed && e.token, renamed)) return this.give(e, uid, token, startOffset);
    }
    return undefined;
  }

  /** A review that is a kept review's replica byte for byte (./kept-review.ts), before it is
   *  parsed: the kept request (the pod's metadata only) and what this review has of its own. */
  recall(body: Buffer): Recalled<T> | undefined {
    const reviews = this.reviews.get(body.length);
    if (!reviews) return undefined;
    for (const { review, entry } of reviews) {
      const replica = review.replica(body);
      if (replica) return { request: review.request, entry, ...replica };
    }
    return undefined;
  }

  /** The answer to a recalled review, as `answer` gives it. */
  answerRecalled(r: Recalled<T>, startOffset?: () => string): T | undefined {
    return this.give(r.entry, r.uid, r.token, startOffset, true);
  }

  private give(e: Entry<T>, uid: string, token: string | undefined, startOffset: (() => string) | undefined, recalled = false): T | undefined {
    const kept = e.patch;
    if (kept instanceof PacedPatch && !startOffset) return undefined;
    this.counted('hit', recalled);
    const patch = kept instanceof PacedPatch ? kept.with(token, startOffset!) : kept ? kept.with(token) : e.answer.response.patch;
    return { ...e.answer, response: { ...e.answer.response, uid, ...(patch === undefined ? {} : { patch }) } };
  }

  /** Records a computed answer; kept only if it depended on nothing but the pod, its namespace
   *  and the config, and the authz start offset it set (`startOffset`, the annotation's value).
   *  `body`: the review's bytes, kept too so that replicas are recognised before parsing. */
  settle(group: string, pod: V1Pod, answer: T, consultedOutside: boolean, startOffset?: string, body?: Buffer): void {
    if (consultedOutside) return this.counted('not-kept');
    const before = this.groups.get(group);
    if (!before && !this.seen.has(group)) {
      this.seen.set(group, true);
      return this.counted('miss');
    }
    const patchSize = answer.response.patch?.length ?? 0;
    if (patchSize + jsonSize(pod, MAX_ENTRY_CHARS - patchSize) > MAX_ENTRY_CHARS) return this.counted('not-kept');
    const token = tokenVolumeOf(pod);
    const { patch, ...rest } = answer.response;
    // Replicas differ in the token volume's name: an answer that names it otherwise than as a
    // whole JSON string (or one in an annotation's JSON) could not be renamed, so it is not kept.
    const patchBytes = patch !== undefined && (token !== undefined || startOffset !== undefined) ? Buffer.from(patch, 'base64') : undefined;
    const patchJson = patchBytes?.toString();
    if (token !== undefined && !renameable(JSON.stringify({ ...answer, response: rest }), patchJson, token)) return this.counted('not-kept');
    const paced = startOffset === undefined || patchJson === undefined ? undefined : PacedPatch.of(patchJson, startOffset, token);
    if (startOffset !== undefined && !paced) return this.counted('not-kept');
    this.counted('miss');
    this.seen.delete(group);
    // The answer is shared by later reviews of the template: nothing may change it.
    const template = compileTemplate(pod);
    const entry: Entry<T> = { template, answer: deepFreeze(answer), token, patch: paced ?? (token !== undefined && patch !== undefined ? new RenameablePatch(patch, token, patchBytes) : undefined) };
    const kept = [entry, ...(before ?? []).filter((e) => !matches(e.template, pod))].slice(0, Math.min(GROUP_SIZE, this.capacity));
    for (const e of before ?? []) if (!kept.includes(e)) this.forget(e);
    this.entries += kept.length - (before?.length ?? 0);
    this.groups.delete(group);
    this.groups.set(group, kept);
    for (const [oldest, entries] of this.groups) {
      if (this.entries <= this.capacity) break;
      this.groups.delete(oldest);
      this.entries -= entries.length;
      for (const e of entries) this.forget(e);
    }
    const review = body && KeptReview.of(body, template, token);
    if (review) this.remember(review, entry);
  }

  /** Indexed by length: a replica's review has its template's (every hole keeps its length). */
  private remember(review: KeptReview, entry: Entry<T>): void {
    entry.review = review;
    const same = this.reviews.get(review.length) ?? [];
    same.unshift({ review, entry });
    // Many templates of one length: the oldest are then only found by parsing.
    for (const dropped of same.splice(GROUP_SIZE)) dropped.entry.review = undefined;
    this.reviews.set(review.length, same);
  }

  private forget(entry: Entry<T>): void {
    const review = entry.review;
    if (!review) return;
    const same = this.reviews.get(review.length)!.filter((r) => r.entry !== entry);
    if (same.length) this.reviews.set(review.length, same);
    else this.reviews.delete(review.length);
  }
}

const text = (v: unknown): string => (typeof v === 'string' ? v : typeof v);

function stem(name: unknown): unknown {
  if (typeof name !== 'string') return name;
  const dash = name.lastIndexOf('-');
  return dash > 0 ? name.slice(0, dash) : name;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

