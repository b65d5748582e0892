// Answers worked out once per pod template. A Deployment's replicas, a Job's completions and
// a DaemonSet's pods reach /mutate identical but for their name and bookkeeping, and
// podhooks' answer to a pod is a function of the pod, its namespace and the config. So
// the answer is kept, keyed by the pod without the fields that differ between replicas,
// and the next replica gets it with its own request uid, without being injected again.
// An answer that consulted anything outside the pod (an image's ENTRYPOINT from its
// registry, RuntimeClasses, namespace labels, an authz pacing token) is never kept: those
// change, or are per pod.
import type { V1ObjectMeta, V1Pod } from '@kubernetes/client-node';
import { LruCache } from '../lru';

/** What becomes of one review's lookup (the metric's `result` label). */
export type TemplateLookup = 'hit' | 'miss' | 'not-kept';

/** An entry larger than this (key and answer, in characters) is not kept: memory stays bounded
 *  at capacity × this even for pods near the apiserver's size limit. Pods are a few KB. */
export const MAX_ENTRY_CHARS = 64 * 1024;

interface Answer {
  response: { uid: string; patch?: string };
}

/**
 * The pod as a template: metadata without the fields that differ between replicas of one
 * template and that injection never reads (a unit test varies them and compares answers).
 */
export function templateOf(pod: V1Pod): V1Pod {
  const meta = pod.metadata as unknown;
  // A hostile metadata that is not a plain object stays as it is in the key.
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return pod;
  const { name, uid, resourceVersion, creationTimestamp, managedFields, generation, ...template } = meta as V1ObjectMeta;
  return { ...pod, metadata: template };
}

export class TemplateCache<T extends Answer> {
  private readonly answers: LruCache<string, T>;

  /** `capacity` 0 keeps nothing (every review is injected). `counted` sees every lookup's result. */
  constructor(
    capacity: number,
    private readonly counted: (result: TemplateLookup) => void = () => {},
  ) {
    this.answers = new LruCache(capacity);
  }

  get enabled(): boolean {
    return this.answers.capacity > 0;
  }

  get size(): number {
    return this.answers.size;
  }

  /** The key of a pod's answer: everything injection reads (the pod as a template, the
   *  namespace it is created in, native or classic sidecars). */
  keyOf(pod: V1Pod, namespace: string | undefined, nativeSidecars: boolean): string {
    return JSON.stringify([namespace ?? null, nativeSidecars, templateOf(pod)]);
  }

  /** The kept answer for `key`, as the answer to the review `uid`; undefined on a miss. */
  answer(key: string, uid: string): T | undefined {
    const kept = this.answers.get(key);
    if (kept === undefined) return undefined;
    this.counted('hit');
    return { ...kept, response: { ...kept.response, uid } };
  }

  /** Records a computed answer; kept only if it depended on nothing but the key. */
  settle(key: string, answer: T, consultedOutside: boolean): void {
    if (consultedOutside || key.length + (answer.response.patch?.length ?? 0) > MAX_ENTRY_CHARS) {
      this.counted('not-kept');
      return;
    }
    this.counted('miss');
    this.answers.set(key, deepFreeze(answer));
  }
}

/** Kept answers are shared by every replica's review: nothing may change them. */
function deepFreeze<V>(value: V): V {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
