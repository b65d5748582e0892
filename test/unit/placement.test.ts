// Placement that assigns (validation.placement.mode: assign): which pods get the sandbox
// runtime class, that it is recorded and undone like every injection, and what the two
// mutating paths answer (RuntimeClass missing, API down, no cluster).
import type { V1Pod } from '@kubernetes/client-node';
import { applyPatch } from 'fast-json-patch';
import { mutate, mutatePlacement, type AdmissionContext } from '../../src/admission/handlers';
import type { AdmissionRequest } from '../../src/admission/review';
import { parseConfig } from '../../src/config';
import { injectPod } from '../../src/mutate/inject';
import { placeOnly } from '../../src/mutate/place-only';
import { placementFor } from '../../src/mutate/placement';

const assign = parseConfig({ validation: { placement: { enabled: true, mode: 'assign' }, exemptLabels: { team: 'infra' } } });
function pod(labels: Record<string, string>, extra: Partial<V1Pod['spec']> = {}, annotations?: Record<string, string>): V1Pod {
  return { metadata: { name: 'p', namespace: 'media', labels, annotations }, spec: { containers: [{ name: 'job', image: 'j', command: ['/job'] }], ...extra } };
}
const batch = pod({ 'podhooks.io/workload': 'batch' });

describe('placementFor', () => {
  test('an offline pod without a runtime class gets the sandbox class', () => {
    expect(placementFor(batch, 'media', assign)).toEqual({ runtimeClass: 'kata', label: 'podhooks.io/workload', value: 'batch' });
  });
  test.each([
    ['mode deny (the default)', batch, parseConfig({ validation: { placement: { enabled: true } } })],
    ['placement disabled', batch, parseConfig({ validation: { placement: { mode: 'assign' } } })],
    ['an online pod', pod({ 'podhooks.io/workload': 'online' }), assign],
    ['an unlabelled pod', pod({}), assign],
    ['a pod that chose its class', pod({ 'podhooks.io/workload': 'batch' }, { runtimeClassName: 'runc' }), assign],
    ['an exempt pod', pod({ 'podhooks.io/workload': 'batch', team: 'infra' }), assign],
  ])('nothing for %s', (_what, p, config) => {
    expect(placementFor(p, 'media', config)).toBeUndefined();
  });
});

describe('injection', () => {
  test('assigned, recorded in podhooks.io/status, undone on re-injection (twice = once)', () => {
    const once = injectPod(batch, { config: assign, nativeSidecars: true });
    expect(once.placement).toEqual({ runtimeClass: 'kata', label: 'podhooks.io/workload', value: 'batch' });
    expect(once.pod.spec!.runtimeClassName).toBe('kata');
    expect(JSON.parse(once.pod.metadata!.annotations!['podhooks.io/status']).runtimeClassName).toBe('kata');
    expect(injectPod(once.pod, { config: assign, nativeSidecars: true }).pod).toEqual(once.pod);
    // With placement off, the class stays: a runtime class looks the same whoever set it, so
    // its record is only undone when placement would assign it again (trust.ts); it is said.
    const off = injectPod(once.pod, { config: parseConfig({}), nativeSidecars: true });
    expect(off.pod).toEqual({ ...batch, metadata: { ...batch.metadata, annotations: undefined }, spec: { ...batch.spec, runtimeClassName: 'kata' } });
    expect(off.keptRuntimeClass).toBe('its runtimeClassName record ("kata") was ignored: placement (validation.placement) would not assign it to this pod, so spec.runtimeClassName "kata" stays');
    expect(off.warnings).toEqual([`podhooks: podhooks.io/status: ${off.keptRuntimeClass}`]);
  });

  test('a class the user set after podhooks recorded its own is the user\'s: uninject leaves it', () => {
    const once = injectPod(batch, { config: assign, nativeSidecars: true }).pod;
    const changed = { ...once, spec: { ...once.spec!, runtimeClassName: 'gvisor' } };
    expect(injectPod(changed, { config: parseConfig({}), nativeSidecars: true }).pod.spec!.runtimeClassName).toBe('gvisor');
  });

  test('placeOnly keeps the hooks an earlier injection recorded', () => {
    const hooked = injectPod(pod({ 'podhooks.io/workload': 'batch' }, {}, { 'podhooks.io/pre-start': 'x' }), { config: parseConfig({}), nativeSidecars: true }).pod;
    const placed = placeOnly(hooked, 'media', assign);
    expect(placed.pod.spec!.runtimeClassName).toBe('kata');
    expect(placed.pod.spec!.initContainers).toBe(hooked.spec!.initContainers);
    const status = JSON.parse(placed.pod.metadata!.annotations!['podhooks.io/status']);
    expect(status.runtimeClassName).toBe('kata');
    expect(status.targets).toEqual(['job']);
  });
});

describe('admission', () => {
  const request = (object: V1Pod, extra: Partial<AdmissionRequest> = {}): AdmissionRequest => ({ uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'media', object, ...extra });
  const ctx = (exists: (name: string) => Promise<boolean>): AdmissionContext => ({ config: assign, nativeSidecars: true, runtimeClasses: { exists } });
  // The patched pod, loosely typed so the assertions can reach into it.
  const patched = (p: V1Pod, patch: string): any => applyPatch(structuredClone(p), JSON.parse(Buffer.from(patch, 'base64').toString())).newDocument;

  test('the placement webhook sets the class, says so in the audit annotations and the log reason, and nothing else', async () => {
    const asked: string[] = [];
    const hooks = pod({ 'podhooks.io/workload': 'offline' }, {}, { 'podhooks.io/pre-start': 'never for a pod that did not opt in' });
    const outcome = await mutatePlacement(request(hooks), ctx(async (name) => (asked.push(name), true)));
    expect(asked).toEqual(['kata']);
    expect(outcome.decision).toBe('patched');
    expect(outcome.placement).toBe('kata');
    const note = 'spec.runtimeClassName set to "kata": metadata.labels[podhooks.io/workload]="offline" marks an offline workload (validation.placement.mode: assign)';
    expect(outcome.response.auditAnnotations).toEqual({ 'placement-assigned': note });
    expect(outcome.reason).toBe(note);
    const result = patched(hooks, outcome.response.patch!);
    expect(result.spec.runtimeClassName).toBe('kata');
    expect(result.spec.containers).toEqual(hooks.spec!.containers);
    expect(result.spec.initContainers).toBeUndefined();
  });

  test('a RuntimeClass that does not exist is a clear denial, on both paths', async () => {
    const missing = ctx(async () => false);
    const message =
      'podhooks: placement: RuntimeClass "kata" (validation.placement.sandboxRuntimeClass) does not exist, so the offline pod (metadata.labels[podhooks.io/workload]="batch") cannot be placed in the sandbox. Fix: create the RuntimeClass, or correct validation.placement.sandboxRuntimeClass';
    for (const outcome of [await mutatePlacement(request(batch), missing), await mutate(request(batch), missing)]) {
      expect(outcome.response).toEqual({ uid: 'u', allowed: false, status: { code: 400, reason: 'BadRequest', message } });
      // Recorded (log line, metric, Event) under the placement rule.
      expect(outcome.findings).toEqual([{ rule: 'placement', action: 'deny', field: 'spec.runtimeClassName', message: message.slice('podhooks: '.length) }]);
    }
  });

  test('an API that cannot answer fails closed, saying so', async () => {
    const outcome = await mutatePlacement(request(batch), ctx(async () => Promise.reject(new Error('reading RuntimeClass kata timed out after 1000 ms'))));
    expect(outcome.response.status?.message).toBe(
      'podhooks: placement: cannot check that RuntimeClass "kata" (validation.placement.sandboxRuntimeClass) exists: reading RuntimeClass kata timed out after 1000 ms; the offline pod is not admitted without its sandbox',
    );
  });

  test('without cluster access the class is assigned with a warning that it could not be checked', async () => {
    const outcome = await mutatePlacement(request(batch), { config: assign, nativeSidecars: true });
    expect(outcome.decision).toBe('patched');
    expect(outcome.response.warnings).toEqual(['podhooks placement: could not check that RuntimeClass "kata" exists (no cluster access)']);
  });

  test('nothing to assign: allowed without a patch and without asking the API', async () => {
    const never = ctx(async () => {
      throw new Error('must not be asked');
    });
    for (const p of [pod({ 'podhooks.io/workload': 'online' }), pod({ 'podhooks.io/workload': 'batch' }, { runtimeClassName: 'kata' })]) {
      expect((await mutatePlacement(request(p), never)).response).toEqual({ uid: 'u', allowed: true });
    }
    expect((await mutatePlacement(request(batch, { namespace: 'podhooks' }), never)).response).toEqual({ uid: 'u', allowed: true });
    expect((await mutatePlacement(request(batch, { operation: 'UPDATE' }), never)).response).toEqual({ uid: 'u', allowed: true });
  });

  test('/mutate places a pod that asked for hooks, and one that opted out of them', async () => {
    const exists = ctx(async () => true);
    const hooked = pod({ 'podhooks.io/workload': 'batch' }, {}, { 'podhooks.io/pre-start': 'x' });
    const r = patched(hooked, (await mutate(request(hooked), exists)).response.patch!);
    expect(r.spec.runtimeClassName).toBe('kata');
    expect(r.spec.initContainers.map((c: { name: string }) => c.name)).toEqual(['podhooks-tools', 'podhooks-logs']);
    const optedOut = pod({ 'podhooks.io/workload': 'batch' }, {}, { 'podhooks.io/inject': 'false', 'podhooks.io/pre-start': 'x' });
    const o = patched(optedOut, (await mutate(request(optedOut), exists)).response.patch!);
    expect(o.spec.runtimeClassName).toBe('kata');
    expect(o.spec.initContainers).toBeUndefined();
  });
});
