// Whether a pod is a replica of a kept one: equal as JSON text would be (same keys in the
// same order, same values), but for the metadata that differs between replicas. The kept
// pod is compiled once into one flat array of its keys and leaves in document order, so a
// comparison walks the incoming pod and reads the kept one front to back. (A tree of small
// objects cost 4-5 times as much against a freshly parsed pod: each step chased a pointer
// to memory the parse had since pushed out of the CPU's caches.)
import type { V1Pod } from '@kubernetes/client-node';

/** Metadata that differs between replicas of one template and that injection never reads
 *  (a unit test varies them and compares answers with injecting each pod). */
export const PER_REPLICA = new Set(['name', 'uid', 'resourceVersion', 'creationTimestamp', 'managedFields', 'generation']);

/** Deeper pods are not kept, so compiling and comparing never recurse far (a Pod's schema
 *  nests about 15 levels; only a hand-made review goes deeper). */
export const MAX_DEPTH = 64;

// Markers in a compiled template. JSON leaves are never objects, so no leaf is mistaken for
// one. Each is followed by a count: an object's keys (then each key and its value), an
// array's items. METADATA is the pod's metadata, whose PER_REPLICA keys are left out on
// both sides.
const OBJECT = Object.freeze({ marker: 'object' });
const METADATA = Object.freeze({ marker: 'metadata' });
const ARRAY = Object.freeze({ marker: 'array' });

/** A kept pod as compared (JSON values only; depth checked by the caller with jsonSize). */
export type Template = readonly unknown[] & { readonly compiled: unique symbol };

export function compileTemplate(pod: V1Pod): Template {
  const out: unknown[] = [];
  compile(pod, out, 'pod');
  return out as unknown as Template;
}

function compile(value: unknown, out: unknown[], level?: 'pod' | 'metadata'): void {
  if (value === null || typeof value !== 'object') return void out.push(value);
  if (Array.isArray(value)) {
    out.push(ARRAY, value.length);
    for (const v of value) compile(v, out);
    return;
  }
  const at = out.length;
  out.push(level === 'metadata' ? METADATA : OBJECT, 0);
  let count = 0;
  for (const k in value) {
    // JSON makes no inherited keys; were any enumerable, the incoming side would see an
    // extra key and never match (the safe direction).
    if (!Object.hasOwn(value, k) || (level === 'metadata' && PER_REPLICA.has(k))) continue;
    const v = (value as Record<string, unknown>)[k];
    out.push(k);
    compile(v, out, level === 'pod' && k === 'metadata' && isObject(v) ? 'metadata' : undefined);
    count++;
  }
  out[at + 1] = count;
}

/**
 * `pod` equals the kept template. With `from`/`to` (the kept pod's token volume name and the
 * incoming pod's, when they differ), `from` in the template stands for `to` wherever it is
 * a whole string, and neither appears otherwise.
 */
export function matches(template: Template, pod: unknown, from?: string, to?: string): boolean {
  return same(template, 0, pod, from, to) === template.length;
}

/** Compares `b` with the value at `at` in the template: the position after it, or -1. */
function same(t: Template, at: number, b: unknown, from: string | undefined, to: string | undefined): number {
  const v = t[at];
  if (v === OBJECT || v === METADATA) {
    if (b === null || typeof b !== 'object' || Array.isArray(b)) return -1;
    const count = t[at + 1] as number;
    const perReplica = v === METADATA;
    let next = at + 2;
    let i = 0;
    for (const k in b) {
      if (perReplica && PER_REPLICA.has(k)) continue;
      // Past the last key, the next token is the enclosing object's: stop there.
      if (i === count || t[next] !== k) return -1;
      next = same(t, next + 1, (b as Record<string, unknown>)[k], from, to);
      if (next < 0) return -1;
      i++;
    }
    return i === count ? next : -1;
  }
  if (v === ARRAY) {
    if (!Array.isArray(b) || b.length !== t[at + 1]) return -1;
    let next = at + 2;
    for (let i = 0; i < b.length && next >= 0; i++) next = same(t, next, b[i], from, to);
    return next;
  }
  if (v === b) return from === undefined || (v !== from && v !== to) ? at + 1 : -1;
  return from !== undefined && v === from && b === to ? at + 1 : -1;
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
