// Kata shares volumes into the VM per volume, not per sub-directory: subPath mounts
// fail on the node (or escape the intended directory) long after admission.
import type { Violation } from '../rule';
import { allVolumeMounts, CONTAINER_KINDS } from '../pod-fields';
import { celConcat, celFlatten, celViolation, NON_SANDBOXED, sandboxRule } from '../rule';
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
  // Per container, its mounts' violations; then one flat list in container order.
  cel: ({ pod, rc }) =>
    celFlatten(
      celConcat(
        CONTAINER_KINDS.map((kind) => {
          const path = cel(`'spec.${kind}[' + string(c.name) + '].volumeMounts[' + string(m.name) + ']'`);
          const volume = cel('string(m.name)');
          const perMount = celConcat(
            KEYS.map((key) => `(m.?${key}.orValue('') != '' ? [${celViolation({ field: t`${path}.${key}`, message: message.cel({ rc, path, key, volume }), summary: summary.cel({ rc, path, key }) })}] : [])`),
          );
          // A list (one per container) of lists (its mounts' violations): flattened below.
          return `${pod}.spec.?${kind}.orValue([]).map(c, ${celFlatten(`c.?volumeMounts.orValue([]).map(m, ${perMount})`)})`;
        }),
      ),
    ),
});
