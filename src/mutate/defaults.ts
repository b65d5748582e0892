// Comparing what podhooks injects with what a pod holds after the apiserver has
// defaulted it. On reinvocation the apiserver sends podhooks its own additions back with
// defaults filled in (terminationMessagePath/Policy, probe thresholds, fieldRef
// apiVersion, port protocol, volume defaultMode, canonical quantities, empty fields and
// omitempty zeros dropped); `sameAfterDefaulting` treats those as equal and nothing else.
import { isDeepStrictEqual } from 'node:util';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Default values by field name, applied wherever the field's parent has `parent` (or any parent). */
const DEFAULTS: { key: string; value: Json; parent?: RegExp }[] = [
  { key: 'terminationMessagePath', value: '/dev/termination-log' },
  { key: 'terminationMessagePolicy', value: 'File' },
  { key: 'protocol', value: 'TCP', parent: /^ports$/ },
  { key: 'apiVersion', value: 'v1', parent: /^fieldRef$/ },
  { key: 'divisor', value: '0', parent: /^resourceFieldRef$/ },
  // Go's omitempty drops a zero int32 and an empty string: podhooks may write them explicitly.
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

/** "0.5" and "500m", "1Gi" and "1024Mi" are one quantity. */
function quantity(value: Json): Json {
  const m = typeof value === 'string' ? QUANTITY.exec(value) : null;
  return m ? Number(m[1]) * (m[2] ? SCALE[m[2]] : 1) : value;
}

function strip(value: Json, parent: string): Json | undefined {
  if (Array.isArray(value)) {
    const items = value.map((v) => strip(v, parent)).filter((v): v is Json => v !== undefined);
    // Mount order has no meaning (paths are unique); others append theirs anywhere.
    if (parent === 'volumeMounts') items.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    return items.length ? items : undefined;
  }
  if (value === null || typeof value !== 'object') return parent === 'requests' || parent === 'limits' ? quantity(value) : value;
  const out: { [key: string]: Json } = {};
  for (const [key, v] of Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (DEFAULTS.some((d) => d.key === key && (!d.parent || d.parent.test(parent)) && isDeepStrictEqual(d.value, v))) continue;
    const s = strip(v, key);
    if (s !== undefined) out[key] = s;
  }
  // Go's omitempty drops empty structs and lists; an emptyDir {} stays a key with no fields.
  return Object.keys(out).length ? out : undefined;
}

/** Whether two containers (or volumes) are the same once the apiserver's defaults are set aside. */
export function sameAfterDefaulting(a: unknown, b: unknown): boolean {
  const norm = (v: unknown) => strip(JSON.parse(JSON.stringify(v ?? null)) as Json, '');
  return isDeepStrictEqual(norm(a), norm(b));
}
