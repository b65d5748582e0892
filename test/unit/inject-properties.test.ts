// Properties of injection over generated pods: never throws, idempotent, the diff patch
// applies to the original, and the caller's object is never mutated (it is deep-frozen).
import fc from 'fast-check';
import { applyPatch, compare, deepClone } from 'fast-json-patch';
import type { V1Pod } from '@kubernetes/client-node';
import { parseConfig } from '../../src/config';
import { injectPod } from '../../src/mutate/inject';
import { deepFreeze, pod } from './arbitrary-pods';

const config = parseConfig({});
// Placement that assigns, and a container the config excludes, on top of the defaults.
const assigning = parseConfig({ validation: { placement: { enabled: true, mode: 'assign' } }, injection: { excludedContainers: ['agent*'], raiseGracePeriod: true } });

for (const [native, cfg, what] of [
  [true, config, 'defaults'],
  [false, config, 'defaults'],
  [true, assigning, 'placement assign, excluded containers'],
] as const) {
  describe(`inject (native sidecars: ${native}, ${what})`, () => {
    const opts = { config: cfg, nativeSidecars: native };

    test('never throws, never mutates its input, and its patch applies to the original', () => {
      fc.assert(
        fc.property(pod, (p) => {
          const frozen = deepFreeze(deepClone(p));
          const result = injectPod(frozen, opts);
          expect(result.errors.every((e) => typeof e === 'string' && e.length > 0)).toBe(true);
          if (result.errors.length) expect(result.pod).toBe(frozen);
          const patch = compare(frozen, result.pod);
          const patched = applyPatch(deepClone(p), deepClone(patch), true).newDocument;
          expect(patched).toEqual(JSON.parse(JSON.stringify(result.pod)));
        }),
        { numRuns: 300 },
      );
    });

    test('injecting an injected pod changes nothing', () => {
      fc.assert(
        fc.property(pod, (p) => {
          const once = injectPod(p, opts);
          fc.pre(once.errors.length === 0);
          const twice = injectPod(once.pod, opts);
          expect(twice.errors).toEqual([]);
          expect(twice.pod).toEqual(once.pod);
        }),
        { numRuns: 300 },
      );
    });

    test('opting out of an injected pod restores the pod as written', () => {
      fc.assert(
        fc.property(pod, (p) => {
          const once = injectPod(p, opts);
          fc.pre(once.errors.length === 0 && once.changed);
          const optedOut = { ...once.pod, metadata: { ...once.pod.metadata, annotations: { ...once.pod.metadata!.annotations, 'podhooks.io/inject': 'false' } } };
          // Opting out of hooks keeps placement, which is policy: compare with opting out before injection.
          const restored = injectPod(optedOut, opts).pod;
          const optedOutFirst = { ...p, metadata: { ...p.metadata, annotations: { ...p.metadata!.annotations, 'podhooks.io/inject': 'false' } } };
          const expected = injectPod(optedOutFirst, opts).pod;
          expect(JSON.parse(JSON.stringify(restored))).toEqual(JSON.parse(JSON.stringify(expected)));
        }),
        { numRuns: 200 },
      );
    });
  });
}

test('containers added after injection (another webhook, reinvocation) are left alone', () => {
  const pod: V1Pod = {
    metadata: { name: 'p', namespace: 'shop', annotations: { 'podhooks.io/pre-start': 'echo hi' } },
    spec: { containers: [{ name: 'app', image: 'a', command: ['/app'] }] },
  };
  const once = injectPod(pod, { config, nativeSidecars: true }).pod;
  const other = { name: 'other-sidecar', image: 'other:1' };
  const withOther = { ...once, spec: { ...once.spec!, containers: [...once.spec!.containers, other] } };
  const again = injectPod(withOther, { config, nativeSidecars: true });
  expect(again.errors).toEqual([]);
  expect(again.pod).toEqual(withOther);
});
