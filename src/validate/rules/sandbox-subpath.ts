// Kata shares volumes into the VM per volume, not per sub-directory: subPath mounts
// fail on the node (or escape the intended directory) long after admission.
import type { Violation } from '../rule';
import { allVolumeMounts, CONTAINER_KINDS } from '../pod-fields';
import { celFlatten, celViolation, NON_SANDBOXED, sandboxRule } from '../rule';
import { cel, t, template } from '../text';

const KEYS = ['subPath', 'subPathExpr'] as const;
const message = template<'rc' | 'path' | 'key' | 'volume'>(
  ({ rc, path, key, volume }) => t`runtimeClassName "${rc}" cannot mount part of a volume: remove ${path}.${key} (mount the whole volume "${volume}" instead), ${NON_SANDBOXED}`,
);
const summary = template<'rc' | 'path' | 'key'>(({ rc, path, key }) => t`remove ${path}.${key} (runtime class "${rc}")`);

export const sandboxSubPath = sandboxRule({
  id: 'sandbox-subpath',
  description: 'Pods on a sandboxed runtime class cannot use subPath or subPathExpr volume mounts.',
  defaultAction: 'deny',
  find(pod, rc) {
    const out: Violation[] = [];
    for (const { path, mount } of allVolumeMounts(pod)) {
      for (const key of KEYS) {
        if (mount[key]) out.push({ field: `${path}.${key}`, message: message.text({ rc, path, key, volume: mount.name }), summary: summary.text({ rc, path, key }) });
      }
    }
    return out;
  },
  // Kinds, containers, mounts, keys: four nested lists, flattened three times into one list
  // in the order check() reports them.
  cel: ({ pod, rc }) => {
    const path = cel("'spec.' + kind + '[' + string(c.name) + '].volumeMounts[' + string(m.name) + ']'");
    const key = cel('k');
    const violation = celViolation({ field: t`${path}.${key}`, message: message.cel({ rc, path, key, volume: cel('string(m.name)') }), summary: summary.cel({ rc, path, key }) });
    const keys = `[${KEYS.map((k) => `'${k}'`).join(', ')}].filter(k, m[?k].orValue('') != '').map(k, ${violation})`;
    const mounts = `c.?volumeMounts.orValue([]).map(m, ${keys})`;
    const containers = `${pod}.spec[?kind].orValue([]).map(c, ${celFlatten(mounts)})`;
    return celFlatten(`[${CONTAINER_KINDS.map((k) => `'${k}'`).join(', ')}].map(kind, ${celFlatten(containers)})`);
  },
});
