// The JSON Patch (RFC 6902) from the request's pod to the injected one, read off the
// copy-on-write trail PodDraft (and uninject, trust) leave: every object or array they
// changed is a new one, everything else is the request's own value, shared by reference.
// So the walk only descends where references differ and never looks inside untouched
// subtrees; a value podhooks built anew is added or replaced whole; an array podhooks
// extended (inserted containers, appended env) gets one `add` per new entry, no per-index
// churn. The patch is exactly the difference: applying it to the request's object gives
// the injected pod (test/unit/patch.test.ts proves it against fast-json-patch's `compare`).
// Nothing is copied: the patch's values are the injected pod's own.
//
// One more thing makes the patch smaller, not different: a container podhooks adds with
// the env of one of the pod's own (the preOnline runner takes the app's, often most of
// the patch) gets that list by a `copy` operation from the pod's container, at the end
// of the patch where every other change is made, then its own entries after it.

export type PatchOperation = { op: 'add' | 'replace'; path: string; value: unknown } | { op: 'remove'; path: string } | { op: 'copy'; from: string; path: string };

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An RFC 6901 reference token. */
function token(key: string): string {
  return key.includes('~') || key.includes('/') ? key.replace(/~/g, '~0').replace(/\//g, '~1') : key;
}

/**
 * True when `to` was derived from `from` copy-on-write: some of its values are `from`'s
 * own (or arrays copied with their entries), or it has the same keys (a map with values
 * changed, such as the annotations). A new object in the place of another is replaced whole.
 */
function sharesObject(from: Obj, to: Obj): boolean {
  let sameKeys = true;
  let keys = 0;
  for (const key in to) {
    const b = to[key];
    if (b === undefined) continue;
    keys++;
    const a = from[key];
    if (a === undefined) sameKeys = false;
    else if (a === b || (Array.isArray(a) && Array.isArray(b) && a.length > 0 && b.length > 0 && (a[0] === b[0] || a[a.length - 1] === b[b.length - 1]))) return true;
  }
  if (!sameKeys) return false;
  for (const key in from) if (from[key] !== undefined) keys--;
  return keys === 0;
}

/**
 * True when `to` was derived from `from`: it keeps some of its entries, or an entry in the
 * same place was derived from `from`'s (a container podhooks changed).
 */
function relatedArrays(from: unknown[], to: unknown[]): boolean {
  const n = Math.min(from.length, to.length);
  for (let i = 0; i < n; i++) {
    const a = from[i];
    const b = to[i];
    if (typeof b !== 'object' || b === null) continue;
    if (a === b || (isObject(a) && isObject(b) && sharesObject(a, b))) return true;
  }
  if (n === 0) return false;
  const entries = new Set(from);
  for (const v of to) if (typeof v === 'object' && v !== null && entries.has(v)) return true;
  return false;
}

function sameScalars(from: unknown[], to: unknown[]): boolean {
  if (from.length !== to.length) return false;
  for (let i = 0; i < from.length; i++) if (from[i] !== to[i]) return false;
  return true;
}

function diffValue(path: string, from: unknown, to: unknown, out: PatchOperation[]): void {
  if (from === to) return;
  if (Array.isArray(from) && Array.isArray(to)) {
    if (relatedArrays(from, to)) return diffArray(path, from, to, out);
    if (sameScalars(from, to)) return;
  } else if (isObject(from) && isObject(to) && sharesObject(from, to)) {
    return diffObject(path, from, to, out);
  }
  out.push({ op: 'replace', path, value: to });
}

function diffObject(path: string, from: Obj, to: Obj, out: PatchOperation[]): void {
  for (const key in from) {
    const a = from[key];
    if (a === undefined) continue; // JSON has no undefined: the key is absent
    const b = to[key];
    if (b === undefined) out.push({ op: 'remove', path: `${path}/${token(key)}` });
    else if (a !== b) diffValue(`${path}/${token(key)}`, a, b, out);
  }
  for (const key in to) {
    const b = to[key];
    if (b !== undefined && from[key] === undefined) out.push({ op: 'add', path: `${path}/${token(key)}`, value: b });
  }
}

/**
 * `from` → `to` where entries are kept (same reference), inserted, replaced (a new object
 * in the place of one `to` no longer holds: diffed), or removed. `j` is the index in the
 * array as patched so far, whose entries before `j` are already `to`'s.
 */
function diffArray(path: string, from: unknown[], to: unknown[], out: PatchOperation[]): void {
  const inTo = new Set(to);
  const inFrom = new Set(from);
  const start = out.length;
  let i = 0;
  let j = 0;
  while (i < from.length && j < to.length) {
    const a = from[i];
    const b = to[j];
    if (a === b) {
      i++;
      j++;
    } else if (!inFrom.has(b)) {
      if (inTo.has(a)) out.push({ op: 'add', path: `${path}/${j++}`, value: b });
      else diffValue(`${path}/${(i++, j++)}`, a, b, out);
    } else if (!inTo.has(a)) {
      out.push({ op: 'remove', path: `${path}/${j}` });
      i++;
    } else {
      // Reordered: not something podhooks does; the whole array then.
      out.length = start;
      out.push({ op: 'replace', path, value: to });
      return;
    }
  }
  for (; j < to.length; j++) out.push({ op: 'add', path: `${path}/${j}`, value: to[j] });
  for (; i < from.length; i++) out.push({ op: 'remove', path: `${path}/${j}` });
}

/** The patch that turns `from` (the request's object) into `to` (derived from it copy-on-write). */
export function copyOnWritePatch(from: object, to: object): PatchOperation[] {
  const out: PatchOperation[] = [];
  if (from !== to) diffObject('', from as Obj, to as Obj, out);
  if (out.length) copyEnvs(from as Obj, to as Obj, out);
  return out;
}

/** Shorter than this, a shared env is written out: the copy would not save much. */
const MIN_SHARED_ENV = 4;

type Located = { list: 'initContainers' | 'containers'; index: number; container: Obj; env: unknown[] };

const pathOf = (c: Located) => `/spec/${c.list}/${c.index}`;

/** The pod's containers (init and regular) with an env list of at least MIN_SHARED_ENV entries. */
function containersWithEnv(pod: Obj): Located[] {
  const spec = pod.spec as Obj | undefined;
  const found: Located[] = [];
  for (const list of ['initContainers', 'containers'] as const) {
    const containers = spec?.[list];
    if (!Array.isArray(containers)) continue;
    containers.forEach((c, index) => {
      if (isObject(c) && Array.isArray(c.env) && c.env.length >= MIN_SHARED_ENV) found.push({ list, index, container: c, env: c.env });
    });
  }
  return found;
}

function sharedPrefix(a: unknown[], b: unknown[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n] && typeof a[n] === 'object') n++;
  return n;
}

/**
 * Where a container the request did not have (by name) starts its env with the entries of
 * one it had (by reference, as injection shares them), the op that adds it carries it
 * without env, and the end of the patch copies the env over and adjusts its tail.
 */
function copyEnvs(from: Obj, to: Obj, out: PatchOperation[]): void {
  const all = containersWithEnv(to);
  // Cheaply first: most pods have no two containers whose env starts with the same entry.
  if (new Set(all.map((c) => c.env[0])).size === all.length) return;
  const spec = from.spec as Obj | undefined;
  const before = new Set([spec?.initContainers, spec?.containers].flatMap((l) => (Array.isArray(l) ? l.map((c) => (isObject(c) ? c.name : undefined)) : [])));
  const sources = all.filter((c) => before.has(c.container.name));
  for (const target of all) {
    if (before.has(target.container.name)) continue;
    let best: Located | undefined;
    let shared = 0;
    for (const source of sources) {
      const n = sharedPrefix(source.env, target.env);
      if (n > shared) (best = source), (shared = n);
    }
    const path = pathOf(target);
    if (!best || shared < MIN_SHARED_ENV || !withoutEnv(path, target.container, out)) continue;
    out.push({ op: 'copy', from: `${pathOf(best)}/env`, path: `${path}/env` });
    for (let i = best.env.length - 1; i >= shared; i--) out.push({ op: 'remove', path: `${path}/env/${i}` });
    for (let i = shared; i < target.env.length; i++) out.push({ op: 'add', path: `${path}/env/${i}`, value: target.env[i] });
  }
}

/** The op that adds the container at `path` (alone, or in a value around it) now adds it without env; false when none does. */
function withoutEnv(path: string, container: Obj, out: PatchOperation[]): boolean {
  for (const op of out) {
    if (op.op === 'remove' || op.op === 'copy' || !(path === op.path || path.startsWith(`${op.path}/`))) continue;
    const value = rebuilt(op.value, path.slice(op.path.length + 1), container);
    if (value !== undefined) return (op.value = value), true;
  }
  return false;
}

/** `value` with `container` (at `path` inside it) copied without env; undefined when it is not there. */
function rebuilt(value: unknown, path: string, container: Obj): unknown {
  if (path === '') {
    if (value !== container) return undefined;
    const bare = { ...container };
    delete bare.env;
    return bare;
  }
  const slash = path.indexOf('/');
  const key = slash < 0 ? path : path.slice(0, slash);
  const rest = slash < 0 ? '' : path.slice(slash + 1);
  if (Array.isArray(value)) {
    const index = Number(key);
    const inner = rebuilt(value[index], rest, container);
    return inner === undefined ? undefined : value.map((v, i) => (i === index ? inner : v));
  }
  if (!isObject(value)) return undefined;
  const inner = rebuilt(value[key], rest, container);
  return inner === undefined ? undefined : { ...value, [key]: inner };
}
