// podhooks.io/traffic: manual at admission: the readiness gate, recorded in podhooks.io/status
// and reversed by uninject like every other change; bad values are refused by name.
import type { V1Pod } from '@kubernetes/client-node';
import { applyPatch } from 'fast-json-patch';
import { mutate } from '../../src/admission/handlers';
import { parseConfig } from '../../src/config';
import { formatAnnotationError, parseAnnotations } from '../../src/mutate/annotations';
import { injectPod } from '../../src/mutate/inject';
import { readStatus, StatusError, uninject } from '../../src/mutate/uninject';

const config = parseConfig({});
const defaults = { preOnlineTimeoutSeconds: 300, preStartTimeoutSeconds: 300, warmupTimeoutSeconds: 300, warmupFailure: 'fail' as const, postOfflineTimeoutSeconds: 15, drainDelaySeconds: 5, excludedContainers: [], debugPort: 5005, authzByDefault: false };

function pod(annotations: Record<string, string>, gates?: string[]): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'shop', annotations },
    spec: { containers: [{ name: 'app', image: 'x', command: ['/app'] }], ...(gates ? { readinessGates: gates.map((conditionType) => ({ conditionType })) } : {}) },
  };
}
const gatesOf = (p: V1Pod) => p.spec!.readinessGates?.map((g) => g.conditionType);
const inject = (p: V1Pod) => injectPod(p, { config, nativeSidecars: true });

test('annotation: "manual" asks for the gate, "auto" (the default) for nothing, anything else is refused by name', () => {
  expect(parseAnnotations(pod({ 'podhooks.io/traffic': 'manual' }), defaults)).toMatchObject({ spec: { traffic: 'manual' }, errors: [], wantsInjection: true });
  const auto = parseAnnotations(pod({ 'podhooks.io/traffic': 'auto' }), defaults);
  expect([auto.spec.traffic, auto.errors, auto.wantsInjection]).toEqual([undefined, [], false]);
  const { errors } = parseAnnotations(pod({ 'podhooks.io/traffic': 'Manual' }), defaults);
  expect(errors.map(formatAnnotationError)).toEqual(['annotation podhooks.io/traffic="Manual": must be "manual" (no Service traffic until `podhooks online`) or "auto" (traffic once ready, the default)']);
});

test('manual traffic alone adds only the readiness gate, recorded in podhooks.io/status', () => {
  const result = inject(pod({ 'podhooks.io/traffic': 'manual' }));
  expect(result.errors).toEqual([]);
  expect(gatesOf(result.pod)).toEqual(['podhooks.io/online']);
  expect(result.pod.spec!.initContainers).toBeUndefined();
  expect(result.pod.spec!.containers).toHaveLength(1);
  expect(readStatus(result.pod)).toMatchObject({ readinessGates: ['podhooks.io/online'], created: ['readinessGates'] });
});

test("the user's own gates stay, in order, and are never recorded as podhooks'", () => {
  const out = inject(pod({ 'podhooks.io/traffic': 'manual' }, ['example.com/lb'])).pod;
  expect(gatesOf(out)).toEqual(['example.com/lb', 'podhooks.io/online']);
  expect(readStatus(out)!.created).toBeUndefined();
});

test('a pod that already declares the gate itself keeps exactly one, and it stays the user\'s', () => {
  const original = pod({ 'podhooks.io/traffic': 'manual', 'podhooks.io/pre-start': 'echo' }, ['podhooks.io/online']);
  const out = inject(original).pod;
  expect(gatesOf(out)).toEqual(['podhooks.io/online']);
  expect(readStatus(out)!.readinessGates).toBeUndefined();
  expect(uninject(out).pod).toEqual(original);
});

test('uninject restores the pod exactly as written, with or without gates of its own', () => {
  for (const original of [pod({ 'podhooks.io/traffic': 'manual' }), pod({ 'podhooks.io/traffic': 'manual' }, ['example.com/lb']), pod({ 'podhooks.io/traffic': 'manual', 'podhooks.io/pre-start': 'echo' })]) {
    const out = inject(original).pod;
    expect(uninject(out).pod).toEqual(original);
    expect(inject(out).pod).toEqual(out);
  }
});

test('switching manual traffic off on re-injection removes the gate podhooks added', () => {
  const out = inject(pod({ 'podhooks.io/traffic': 'manual', 'podhooks.io/pre-start': 'echo' }, ['example.com/lb'])).pod;
  out.metadata!.annotations!['podhooks.io/traffic'] = 'auto';
  expect(gatesOf(inject(out).pod)).toEqual(['example.com/lb']);
});

test('a status record whose readinessGates is not a list of names is refused, not trusted', () => {
  const out = inject(pod({ 'podhooks.io/traffic': 'manual' })).pod;
  const status = JSON.parse(out.metadata!.annotations!['podhooks.io/status']);
  out.metadata!.annotations!['podhooks.io/status'] = JSON.stringify({ ...status, readinessGates: 7 });
  expect(() => uninject(out)).toThrow(StatusError);
});

test('admission: the patch adds the gate (creating spec.readinessGates) and applies to the request', async () => {
  const original = pod({ 'podhooks.io/traffic': 'manual' });
  const { response } = await mutate({ uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'shop', object: original }, { config, nativeSidecars: true });
  const patch = JSON.parse(Buffer.from(response.patch!, 'base64').toString());
  expect(patch).toContainEqual({ op: 'add', path: '/spec/readinessGates', value: [{ conditionType: 'podhooks.io/online' }] });
  expect(gatesOf(applyPatch(structuredClone(original), patch).newDocument)).toEqual(['podhooks.io/online']);
});

test('podhooks.io/inject: "false" wins over manual traffic', () => {
  const result = inject(pod({ 'podhooks.io/traffic': 'manual', 'podhooks.io/inject': 'false' }));
  expect([result.changed, gatesOf(result.pod)]).toEqual([false, undefined]);
});
