// Whether a pod is a replica of a kept one: equal as JSON text would be (same keys in the
// same order, same values), but for the metadata that differs between replicas. The kept
// pod is compiled once into its keys and leaves, so a comparison walks only the incoming
// pod (for...in, no key arrays made per object): a hit costs about a third less.
import type { V1Pod } from '@kubernetes/client-node';

/** Metadata that differs between replicas of one template and that injection never reads
 *  (a unit test varies them and compares answers with injecting each pod). */
export const PER_REPLICA = new Set(['name', 'uid', 'resourceVersion', 'creationTimestamp', 'managedFields', 'generation']);

/** Deeper pods are not kept, so compiling and comparing never recurse far (a Pod's schema
 *  nests about 15 levels; only a hand-made review goes deeper). */
export const MAX_DEPTH = 64;

/** A JSON object's keys in order and their values; `perReplica`: the pod's metadata, whose
 *  PER_REPLICA keys are left out on both sides. */
class Fields {
  constructor(
    readonly keys: readonly string[],
    readonly values: readonly Template[],
    readonly perReplica: boolean,
  ) {}
}

/** A kept pod as compared: a leaf, an array of templates, or an object's fields. */
export type Template = string | number | boolean | null | readonly Template[] | Fields;

/** The kept pod, compiled (JSON values only; depth checked by the caller with jsonSize). */
export function compileTemplate(pod: V1Pod): Template {
  return compile(pod, true);
}

function compile(value: unknown, top = false): Template {
  if (value === null || typeof value !== 'object') return value as Template;
  if (Array.isArray(value)) return value.map((v) => compile(v));
  const keys: string[] = [];
  const values: Template[] = [];
  for (const k in value) {
    // JSON makes no inherited keys; were any enumerable, the incoming side would see an
    // extra key and never match (the safe direction).
    if (!Object.hasOwn(value, k)) continue;
    const metadata = top && k === 'metadata' && isObject((value as Record<string, unknown>).metadata);
    if (metadata) {
      const m = (value as Record<string, unknown>).metadata as Record<string, unknown>;
      const mk: string[] = [];
      const mv: Template[] = [];
      for (const key in m) if (Object.hasOwn(m, key) && !PER_REPLICA.has(key)) mk.push(key), mv.push(compile(m[key]));
      keys.push(k), values.push(new Fields(mk, mv, true));
    } else keys.push(k), values.push(compile((value as Record<string, unknown>)[k]));
  }
  return new Fields(keys, values, false);
}

/**
 * `pod` equals the kept template. With `from`/`to` (the kept pod's token volume name and the
 * incoming pod's, when they differ), `from` in the template stands for `to` wherever it is
 * a whole string, and neither appears otherwise.
 */
export function matches(template: Template, pod: unknown, from?: string, to?: string): boolean {
  return same(template, pod, from, to);
}

function same(t: Template, b: unknown, from: string | undefined, to: string | undefined): boolean {
  if (t === null || typeof t !== 'object') {
    if (t === b) return from === undefined || (t !== from && t !== to);
    return from !== undefined && t === from && b === to;
  }
  if (b === null || typeof b !== 'object') return false;
  if (t instanceof Fields) {
    if (Array.isArray(b)) return false;
    const { keys, values, perReplica } = t;
    let i = 0;
    for (const k in b) {
      if (perReplica && PER_REPLICA.has(k)) continue;
      if (k !== keys[i] || !same(values[i], (b as Record<string, unknown>)[k], from, to)) return false;
      i++;
    }
    return i === keys.length;
  }
  const items = t as readonly Template[];
  if (!Array.isArray(b) || b.length !== items.length) return false;
  for (let i = 0; i < items.length; i++) if (!same(items[i], b[i], from, to)) return false;
  return true;
}

/** Two pods as the cache compares them (tests; the cache compiles the kept pod once). */
export function sameTemplate(a: V1Pod, b: V1Pod, rename?: readonly [string, string]): boolean {
  return matches(compileTemplate(a), b, rename?.[0], rename?.[1]);
}

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

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
