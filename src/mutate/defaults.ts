// Comparing what podhooks injects with what a pod holds after the apiserver has
// defaulted it. On reinvocation the apiserver sends podhooks its own additions back with
// defaults filled in (terminationMessagePath/Policy, probe thresholds, fieldRef
// apiVersion, port protocol, volume defaultMode, canonical quantities, empty fields and
// omitempty zeros dropped); `sameAfterDefaulting` treats those as equal and nothing else.
// Both sides are walked together, without copies: this runs for every container a status
// lists on every reinvocation (test/unit/defaults.test.ts proves it equal to normalising
// both sides and comparing).

/** Default values by field name, applied wherever the field's parent has `parent` (or any parent). */
const DEFAULTS = new Map<string, { value: unknown; parent?: RegExp }[]>();
for (const [key, value, parent] of [
  ['terminationMessagePath', '/dev/termination-log'],
  ['terminationMessagePolicy', 'File'],
  ['protocol', 'TCP', /^ports$/],
  ['apiVersion', 'v1', /^fieldRef$/],
  ['divisor', '0', /^resourceFieldRef$/],
  // Go's omitempty drops a zero int32 and an empty string: podhooks may write them explicitly.
  ['initialDelaySeconds', 0, /Probe$/],
  ['value', '', /^env$/],
  ['timeoutSeconds', 1, /Probe$/],
  ['periodSeconds', 10, /Probe$/],
  ['successThreshold', 1, /Probe$/],
  ['failureThreshold', 3, /Probe$/],
  ['scheme', 'HTTP', /^httpGet$/],
  ['service', '', /^grpc$/],
  ['defaultMode', 420, /^(configMap|secret|projected|downwardAPI)$/],
] as [string, unknown, RegExp?][]) {
  DEFAULTS.set(key, [...(DEFAULTS.get(key) ?? []), { value, parent }]);
}

const QUANTITY = /^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const SCALE: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };

/** "0.5" and "500m", "1Gi" and "1024Mi" are one quantity. */
function quantity(value: unknown): unknown {
  const m = typeof value === 'string' ? QUANTITY.exec(value) : null;
  return m ? Number(m[1]) * (m[2] ? SCALE[m[2]] : 1) : value;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** A field the apiserver would have set (or Go's omitempty dropped) with this value. */
function isDefault(key: string, value: unknown, parent: string): boolean {
  const defaults = DEFAULTS.get(key);
  return defaults !== undefined && defaults.some((d) => d.value === value && (!d.parent || d.parent.test(parent)));
}

/** Nothing once defaults and empties are set aside (Go's omitempty drops empty structs and lists). */
function vanishes(value: unknown, parent: string): boolean {
  if (value === undefined) return true;
  if (!isObject(value)) return false;
  if (Array.isArray(value)) return value.every((v) => vanishes(v, parent));
  for (const key in value) if (!isDefault(key, value[key], parent) && !vanishes(value[key], key)) return false;
  return true;
}

function same(a: unknown, b: unknown, parent: string): boolean {
  if (a === b) return true;
  const goneA = vanishes(a, parent);
  const goneB = vanishes(b, parent);
  return goneA || goneB ? goneA && goneB : sameKept(a, b, parent);
}

/** `same` for two values that both remain (callers have checked that). */
function sameKept(a: unknown, b: unknown, parent: string): boolean {
  if (a === b) return true;
  if (!isObject(a) || !isObject(b)) {
    if (isObject(a) || isObject(b)) return false;
    return parent === 'requests' || parent === 'limits' ? quantity(a) === quantity(b) : false;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b)) return false;
    const left = a.filter((v) => !vanishes(v, parent));
    const right = b.filter((v) => !vanishes(v, parent));
    if (left.length !== right.length) return false;
    // Mount order has no meaning (paths are unique); others append theirs anywhere.
    if (parent === 'volumeMounts') return sameInAnyOrder(left, right, parent);
    return left.every((v, i) => sameKept(v, right[i], parent));
  }
  return sameFields(a, b, parent) && sameFields(b, a, parent, true);
}

/** Every field of `a` that remains is in `b` and the same there (`presence`: only that it is there). */
function sameFields(a: Record<string, unknown>, b: Record<string, unknown>, parent: string, presence = false): boolean {
  for (const key in a) {
    const va = a[key];
    if (isDefault(key, va, parent) || vanishes(va, key)) continue;
    const vb = Object.hasOwn(b, key) ? b[key] : undefined;
    if (isDefault(key, vb, parent) || vanishes(vb, key)) return false;
    // Quantities sit one level below requests/limits (resources.limits.memory).
    if (!presence && !sameKept(va, vb, (parent === 'requests' || parent === 'limits') && !isObject(va) ? parent : key)) return false;
  }
  return true;
}

function sameInAnyOrder(left: unknown[], right: unknown[], parent: string): boolean {
  const used = new Array<boolean>(right.length).fill(false);
  return left.every((v) => {
    const i = right.findIndex((w, j) => !used[j] && sameKept(v, w, parent));
    return i >= 0 && (used[i] = true);
  });
}

/** Whether two containers (or volumes) are the same once the apiserver's defaults are set aside. */
export function sameAfterDefaulting(a: unknown, b: unknown): boolean {
  return same(a ?? null, b ?? null, '');
}
