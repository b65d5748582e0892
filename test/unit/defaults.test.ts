// sameAfterDefaulting walks both sides together; the reference below is what it replaced
// (normalise both sides: JSON copy, defaults and empties dropped, keys and mounts sorted,
// then deep-equal), with one fix: quantities are the fields of requests/limits (the old
// code only compared quantities one level deeper, so "0.5" and the apiserver's "500m"
// for resources.limits.cpu differed). Pairs are generated the way the apiserver changes what podhooks
// injected (defaults filled in, omitempty zeros and empties dropped, mounts reordered,
// quantities canonicalised), with and without a real difference.
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { sameAfterDefaulting } from '../../src/mutate/defaults';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
const REF_DEFAULTS: { key: string; value: Json; parent?: RegExp }[] = [
  { key: 'terminationMessagePath', value: '/dev/termination-log' },
  { key: 'terminationMessagePolicy', value: 'File' },
  { key: 'protocol', value: 'TCP', parent: /^ports$/ },
  { key: 'apiVersion', value: 'v1', parent: /^fieldRef$/ },
  { key: 'divisor', value: '0', parent: /^resourceFieldRef$/ },
  { key: 'initialDelaySeconds', value: 0, parent: /Probe$/ },
  { key: 'value', value: '', parent: /^env$/ },
  { key: 'timeoutSeconds', value: 1, parent: /Probe$/ },
  { key: 'periodSeconds', value: 10, parent: /Probe$/ },
  { key: 'successThreshold', value: 1, parent: /Probe$/ },
  { key: 'failureThreshold', value: 3, parent: /Probe$/ },
  { key: 'scheme', value: 'HTTP', parent: /^httpGet$/ },
  { key: 'service', value: '', parent: /^grpc$/ },
  { key: 'defaultMode', value: 420, parent: /^(configMap|secret|projected|downwardAPI)$/ },
];
const QUANTITY = /^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const SCALE: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const refQuantity = (v: Json): Json => {
  const m = typeof v === 'string' ? QUANTITY.exec(v) : null;
  return m ? Number(m[1]) * (m[2] ? SCALE[m[2]] : 1) : v;
};
function refStrip(value: Json, parent: string): Json | undefined {
  if (Array.isArray(value)) {
    const items = value.map((v) => refStrip(v, parent)).filter((v): v is Json => v !== undefined);
    if (parent === 'volumeMounts') items.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    return items.length ? items : undefined;
  }
  if (value === null || typeof value !== 'object') return parent === 'requests' || parent === 'limits' ? refQuantity(value) : value;
  const out: { [key: string]: Json } = {};
  for (const [key, v] of Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (REF_DEFAULTS.some((d) => d.key === key && (!d.parent || d.parent.test(parent)) && isDeepStrictEqual(d.value, v))) continue;
    // resources.limits.memory: the quantity is the value of a field of requests/limits.
    const s = (parent === 'requests' || parent === 'limits') && (v === null || typeof v !== 'object') ? refQuantity(v) : refStrip(v, key);
    if (s !== undefined) out[key] = s;
  }
  return Object.keys(out).length ? out : undefined;
}
const reference = (a: unknown, b: unknown) => {
  const norm = (v: unknown) => refStrip(JSON.parse(JSON.stringify(v ?? null)) as Json, '');
  return isDeepStrictEqual(norm(a), norm(b));
};

// Field names that matter to the comparison (defaults, their parents, quantities, mounts) and others.
const KEYS = ['name', 'image', 'ports', 'protocol', 'containerPort', 'fieldRef', 'apiVersion', 'fieldPath', 'resourceFieldRef', 'divisor', 'env', 'value', 'readinessProbe', 'startupProbe', 'initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold', 'httpGet', 'scheme', 'grpc', 'service', 'configMap', 'secret', 'defaultMode', 'requests', 'limits', 'cpu', 'memory', 'volumeMounts', 'mountPath', 'readOnly', 'terminationMessagePath', 'terminationMessagePolicy', 'emptyDir', 'command'];
const SCALARS: Json[] = ['/dev/termination-log', 'File', 'TCP', 'UDP', 'v1', 'v2', '0', '', 0, 1, 3, 10, 420, 'HTTP', 'HTTPS', '1Gi', '1024Mi', '500m', '0.5', '1', 1.5, true, false, null, 'x'];

const json: fc.Arbitrary<Json> = fc.letrec<{ value: Json; obj: Json; arr: Json }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, fc.constantFrom(...SCALARS), tie('obj'), tie('arr')),
  obj: fc.dictionary(fc.constantFrom(...KEYS), tie('value'), { maxKeys: 5 }),
  arr: fc.array(tie('value'), { maxLength: 3 }),
})).value;

/** What the apiserver might send back for `v`: defaults added or dropped, empties, reordered mounts, other quantity spellings. */
function defaulted(v: Json, parent: string, rnd: () => number): Json | undefined {
  if (Array.isArray(v)) {
    const items = v.map((x) => defaulted(x, parent, rnd)).filter((x): x is Json => x !== undefined);
    if (parent === 'volumeMounts' && rnd() < 0.5) items.reverse();
    if (rnd() < 0.1) items.push({});
    return items;
  }
  if (v === null || typeof v !== 'object') {
    if ((parent === 'requests' || parent === 'limits') && rnd() < 0.5) return ({ '1Gi': '1024Mi', '1024Mi': '1Gi', '500m': '0.5', '0.5': '500m', '1': 1 } as Record<string, Json>)[String(v)] ?? v;
    return v;
  }
  const out: { [key: string]: Json } = {};
  for (const [k, x] of Object.entries(v)) {
    const d = REF_DEFAULTS.find((e) => e.key === k && (!e.parent || e.parent.test(parent)) && isDeepStrictEqual(e.value, x));
    if (d && rnd() < 0.5) continue; // omitempty or a default the reader drops
    const y = defaulted(x, k, rnd);
    if (y !== undefined) out[k] = y;
  }
  for (const d of REF_DEFAULTS) if (!(d.key in out) && (!d.parent || d.parent.test(parent)) && rnd() < 0.2) out[d.key] = d.value;
  if (rnd() < 0.1) out.emptyDir = {};
  return out;
}

/** One real change somewhere in `v`, or `v` itself when there is nothing to change. */
function changed(v: Json, rnd: () => number): Json {
  if (Array.isArray(v)) return v.length && rnd() < 0.7 ? v.map((x, i) => (i === 0 ? changed(x, rnd) : x)) : [...v, 'extra'];
  if (v === null || typeof v !== 'object') return v === 'x' ? 'y' : 'x';
  const keys = Object.keys(v);
  if (!keys.length || rnd() < 0.3) return { ...v, name: 'changed' };
  const k = keys[Math.floor(rnd() * keys.length)];
  return { ...v, [k]: changed(v[k], rnd) };
}

describe('sameAfterDefaulting', () => {
  test('agrees with normalising both sides, for apiserver-defaulted pairs with and without a real change', () => {
    let equal = 0;
    let unequal = 0;
    fc.assert(
      fc.property(json, fc.integer(), fc.boolean(), (v, seed, change) => {
        let s = seed;
        const rnd = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
        const back = defaulted(v, '', rnd);
        const other = change ? changed(back ?? {}, rnd) : back;
        const expected = reference(v, other);
        expected ? equal++ : unequal++;
        expect(sameAfterDefaulting(v, other)).toBe(expected);
        expect(sameAfterDefaulting(other, v)).toBe(expected);
      }),
      { numRuns: 5000 },
    );
    // Both answers were exercised in earnest.
    expect(equal).toBeGreaterThan(1000);
    expect(unequal).toBeGreaterThan(1000);
  });

  test('agrees with the reference on unrelated pairs and on keys with undefined values', () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        expect(sameAfterDefaulting(a, b)).toBe(reference(a, b));
        const withUndefined = a && typeof a === 'object' && !Array.isArray(a) ? { ...a, env: undefined } : a;
        expect(sameAfterDefaulting(withUndefined, a)).toBe(reference(withUndefined, a));
      }),
      { numRuns: 3000 },
    );
  });

  test('the cases the apiserver produces', () => {
    const made = { name: 'podhooks-tools', image: 'i', ports: [{ containerPort: 80 }], env: [{ name: 'A', value: '' }, { name: 'B', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }], readinessProbe: { initialDelaySeconds: 0, exec: { command: ['x'] } }, resources: { limits: { memory: '1Gi', cpu: '0.5' } }, volumeMounts: [{ name: 'a', mountPath: '/a' }, { name: 'b', mountPath: '/b' }] };
    const held = { name: 'podhooks-tools', image: 'i', terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', ports: [{ containerPort: 80, protocol: 'TCP' }], env: [{ name: 'A' }, { name: 'B', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } }], readinessProbe: { timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3, exec: { command: ['x'] } }, resources: { limits: { memory: '1024Mi', cpu: '500m' } }, volumeMounts: [{ name: 'b', mountPath: '/b' }, { name: 'a', mountPath: '/a' }] };
    expect(sameAfterDefaulting(made, held)).toBe(true);
    expect(sameAfterDefaulting(made, { ...held, image: 'j' })).toBe(false);
    expect(sameAfterDefaulting(made, { ...held, ports: [{ containerPort: 80, protocol: 'UDP' }] })).toBe(false);
    expect(sameAfterDefaulting(made, { ...held, volumeMounts: [{ name: 'b', mountPath: '/b' }, { name: 'b', mountPath: '/b' }] })).toBe(false);
    expect(sameAfterDefaulting({ constructor: 1, __proto__x: 2 }, { constructor: 1, __proto__x: 2 })).toBe(true);
  });
});
