// The webhook's JSON Patch is read off injection's copy-on-write trail (src/mutate/patch.ts).
// It must be exactly the difference between the request's pod and the injected pod: applied
// to the request's object (as JSON, as the apiserver holds it) it gives the injected pod,
// and fast-json-patch's `compare`, the reference, agrees. Over generated pods, every golden
// case, re-injection (reinvocation, changed intent) and forged statuses.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { applyPatch, compare } from 'fast-json-patch';
import type { V1Pod } from '@kubernetes/client-node';
import { mutate } from '../../src/admission/handlers';
import type { AdmissionRequest } from '../../src/admission/review';
import { loadConfig, parseConfig, type Config } from '../../src/config';
import { A } from '../../src/mutate/annotations';
import { injectPod, type InjectOptions } from '../../src/mutate/inject';
import { copyOnWritePatch } from '../../src/mutate/patch';
import { parseDocuments, podSlots } from '../../src/workloads';
import { deepFreeze, pod } from './arbitrary-pods';

const json = <T>(x: T): T => JSON.parse(JSON.stringify(x));

/** The emitted patch turns `original` into `injected`, and `compare`'s patch gives the same pod. */
function expectExact(original: V1Pod, injected: V1Pod): void {
  const patch = json(copyOnWritePatch(original, injected));
  const applied = applyPatch(json(original), patch, true, false).newDocument;
  expect(applied).toStrictEqual(json(injected));
  const reference = applyPatch(json(original), json(compare(original, injected)), true, false).newDocument;
  expect(applied).toStrictEqual(reference);
}

const defaults = parseConfig({});
const assigning = parseConfig({ validation: { placement: { enabled: true, mode: 'assign' } }, injection: { excludedContainers: ['agent*'], raiseGracePeriod: true } });
const setups: [string, InjectOptions][] = [
  ['defaults, native sidecars', { config: defaults, nativeSidecars: true }],
  ['defaults, classic sidecars', { config: defaults, nativeSidecars: false }],
  ['placement assign, excluded containers', { config: assigning, nativeSidecars: true }],
];

describe.each(setups)('generated pods (%s)', (_, opts) => {
  test('the patch is exactly the injection', () => {
    fc.assert(
      fc.property(pod, (p) => {
        const frozen = deepFreeze(json(p));
        expectExact(frozen, injectPod(frozen, opts).pod);
      }),
      { numRuns: 1000 },
    );
  });

  test('re-injection: the pod injected, then its podhooks annotations changed', () => {
    const edit = fc.record({ key: fc.constantFrom('podhooks.io/pre-online', 'podhooks.io/pre-start', 'podhooks.io/log-stream', 'podhooks.io/debug', 'podhooks.io/traffic', 'podhooks.io/inject'), value: fc.option(fc.constantFrom('true', 'false', 'echo again', 'auto'), { nil: undefined }) });
    fc.assert(
      fc.property(pod, edit, (p, { key, value }) => {
        const once = injectPod(p, opts);
        fc.pre(once.errors.length === 0 && once.changed);
        const annotations = { ...once.pod.metadata!.annotations };
        if (value === undefined) delete annotations[key];
        else annotations[key] = value;
        const edited = deepFreeze(json({ ...once.pod, metadata: { ...once.pod.metadata, annotations } }));
        expectExact(edited, injectPod(edited, opts).pod);
      }),
      { numRuns: 300 },
    );
  });

  test('forged statuses: another pod\'s record, or a record with entries removed or added', () => {
    const forge = fc.constantFrom('other-pod', 'drop-container', 'extra-volume', 'foreign-name');
    fc.assert(
      fc.property(pod, pod, forge, (p, other, how) => {
        const donor = injectPod(other, opts);
        fc.pre(donor.errors.length === 0 && donor.pod.metadata?.annotations?.[A.status] !== undefined);
        const status = JSON.parse(donor.pod.metadata!.annotations![A.status]);
        if (how === 'drop-container') status.initContainers = status.initContainers.slice(1);
        if (how === 'extra-volume') status.volumes.push('podhooks-state-2');
        if (how === 'foreign-name') status.containers.push('istio-proxy');
        const target = how === 'other-pod' ? p : donor.pod;
        const forged = deepFreeze(json({ ...target, metadata: { ...target.metadata, annotations: { ...target.metadata?.annotations, [A.status]: JSON.stringify(status) } } }));
        const result = injectPod(forged, opts);
        if (result.errors.length === 0) expectExact(forged, result.pod);
      }),
      { numRuns: 300 },
    );
  });
});

describe.each(setups)('a container podhooks adds with the env of the pod\'s own gets it by copy (%s)', (_, opts) => {
  // Long env lists, with names the preOnline runner sets itself (filtered from its copy)
  // and resource references it rewrites (so only a prefix, or nothing, is shared).
  const entry = fc.oneof(
    { weight: 8, arbitrary: fc.record({ name: fc.constantFrom('A', 'B', 'C', 'D', 'E', 'F', 'PATH'), value: fc.string({ maxLength: 8 }) }) },
    fc.record({ name: fc.constantFrom('PODHOOKS_CHECK_URL', 'PODHOOKS_TARGETS'), value: fc.string({ maxLength: 8 }) }),
    fc.constant({ name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }),
    fc.constant({ name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory' } } }),
  );
  const online = { 'podhooks.io/pre-online': 'echo on', 'podhooks.io/check-url': 'http://localhost:8080/' };
  test('the patch is exactly the injection, and the copy is used', () => {
    let copies = 0;
    fc.assert(
      fc.property(pod, fc.array(entry, { maxLength: 14 }), fc.boolean(), (p, env, hooked) => {
        const [first, ...rest] = p.spec!.containers;
        const annotations = hooked ? online : p.metadata!.annotations;
        const frozen = deepFreeze(json({ ...p, metadata: { ...p.metadata, annotations }, spec: { ...p.spec, containers: [{ ...first, env }, ...rest] } }));
        const injected = injectPod(frozen, opts).pod;
        expectExact(frozen, injected);
        if (copyOnWritePatch(frozen, injected).some((op) => op.op === 'copy')) copies++;
      }),
      { numRuns: 1000 },
    );
    expect(copies).toBeGreaterThan(100);
  });
});

describe('every golden case', () => {
  const dir = join(__dirname, '../golden');
  const cases = readdirSync(dir).filter((f) => f.endsWith('.yaml') && !/\.(injected|config)\.yaml$/.test(f));
  test.each(cases)('%s', (file) => {
    const name = file.slice(0, -'.yaml'.length);
    const configFile = join(dir, `${name}.config.yaml`);
    const config: Config = loadConfig(existsSync(configFile) ? configFile : undefined);
    const nativeSidecars = config.injection.nativeSidecars !== 'false';
    const slots = podSlots(parseDocuments(readFileSync(join(dir, file), 'utf8'), file), file);
    expect(slots.length).toBeGreaterThan(0);
    for (const slot of slots) {
      const original = deepFreeze(json(slot.pod));
      const result = injectPod(original, { config, nativeSidecars, namespace: slot.namespace });
      expectExact(original, result.pod);
      // And the injected pod sent back (reinvocation): re-injection's answer, too.
      if (result.changed && !result.errors.length) {
        const again = deepFreeze(json(result.pod));
        expectExact(again, injectPod(again, { config, nativeSidecars, namespace: slot.namespace }).pod);
      }
    }
  });
});

test('the webhook answers the benchmark corpus (apiserver-defaulted pods) with the exact patch', async () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { reviewBodies } = require('../../bench/corpus') as { reviewBodies(): Buffer[] };
  let patched = 0;
  for (const body of reviewBodies()) {
    const req = JSON.parse(body.toString()).request as AdmissionRequest;
    const original = json(req.object) as V1Pod;
    const outcome = await mutate(req, { config: defaults, nativeSidecars: true });
    if (outcome.decision !== 'patched') continue;
    patched++;
    const patch = JSON.parse(Buffer.from(outcome.response.patch!, 'base64').toString('utf8'));
    const applied = applyPatch(json(original), patch, true, false).newDocument;
    const expected = injectPod(json(original), { config: defaults, nativeSidecars: true, namespace: req.namespace }).pod;
    expect(applied).toStrictEqual(json(expected));
  }
  expect(patched).toBeGreaterThan(10);
});
