// /mutate answers kept per pod template (src/admission/template-cache.ts): a replica of a
// template gets exactly the answer injecting it would give, with its own uid; answers that
// consulted anything outside the pod are never reused; memory stays bounded.
import fc from 'fast-check';
import type { V1Pod } from '@kubernetes/client-node';
import { mutate, type AdmissionContext, type Outcome } from '../../src/admission/handlers';
import type { AdmissionRequest } from '../../src/admission/review';
import { MAX_ENTRY_CHARS, TemplateCache, type TemplateLookup } from '../../src/admission/template-cache';
import { jsonSize, MAX_DEPTH, sameTemplate } from '../../src/admission/template-match';
import { tokenVolumeOf } from '../../src/admission/token-volume';
import { parseConfig, type Config } from '../../src/config';
import { pod, withReplica } from './arbitrary-pods';

const json = <T>(x: T): T => JSON.parse(JSON.stringify(x));
const review = (object: V1Pod, uid: string, extra: Partial<AdmissionRequest> = {}): AdmissionRequest => ({ uid, kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: object.metadata?.namespace, object, ...extra });

function cachedContext(config: Config, nativeSidecars: boolean, extra: Partial<AdmissionContext> = {}, capacity = 512) {
  const lookups: TemplateLookup[] = [];
  const ctx: AdmissionContext = { config, nativeSidecars, templates: new TemplateCache<Outcome>(capacity, (r) => lookups.push(r)), ...extra };
  return { ctx, lookups };
}

/** What differs between replicas of one template as the apiserver sends them. */
const replicaOf = fc.record({
  name: fc.option(fc.stringMatching(/^[a-z0-9]{5}$/).map((s) => `web-7d4b9c6f5-${s}`), { nil: undefined }),
  uid: fc.option(fc.uuid(), { nil: undefined }),
  creationTimestamp: fc.option(fc.constant('2026-12-01T10:00:00Z'), { nil: undefined }),
  resourceVersion: fc.option(fc.constantFrom('1', '4711'), { nil: undefined }),
  generation: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
  token: fc.stringMatching(/^[a-z0-9]{5}$/),
  managedFields: fc.option(fc.date({ min: new Date('2026-01-01'), max: new Date('2027-01-01'), noInvalidDate: true }).map((t) => [{ manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time: t.toISOString(), fieldsType: 'FieldsV1', fieldsV1: {} }]), { nil: undefined }),
});

const setups: [string, Config, boolean][] = [
  ['defaults, native sidecars', parseConfig({}), true],
  ['defaults, classic sidecars', parseConfig({}), false],
  ['warn mode, excluded containers', parseConfig({ injection: { invalidAnnotations: 'warn', excludedContainers: ['agent*'] } }), true],
];

describe.each(setups)('a replica gets the answer injecting it gives (%s)', (_, config, native) => {
  test('over generated pods, from the kept answer of another replica', async () => {
    // Authz pacing: each pod's offset from its own token volume name, so both sides agree; the
    // tokens each side takes are counted.
    const taken = { cached: 0, uncached: 0 };
    const offsetOf = (side: keyof typeof taken) => (p: V1Pod) => (taken[side]++, parseInt(tokenVolumeOf(p)!.slice(-5), 36) / 7);
    const uncached: AdmissionContext = { config, nativeSidecars: native, authzOffset: offsetOf('uncached') };
    const { ctx, lookups } = cachedContext(config, native, { authzOffset: offsetOf('cached') });
    let n = 0;
    let paced = 0;
    await fc.assert(
      fc.asyncProperty(pod, replicaOf, replicaOf, async (generated, first, second) => {
        // A controller's pods: one generateName, the names the apiserver makes from it.
        const p = { ...generated, metadata: { ...generated.metadata, generateName: 'web-7d4b9c6f5-' } };
        const a = withReplica(p, first);
        const b = withReplica(p, second);
        // Kept from a template's second pod on.
        await mutate(review(a, `first-${++n}`), ctx);
        await mutate(review(withReplica(p, first), `again-${n}`), ctx);
        const before = lookups.length;
        const tokens = { ...taken };
        const kept = await mutate(review(b, `second-${n}`), ctx);
        expect(lookups[before]).toBe('hit');
        expect(kept).toEqual(await mutate(review(b, `second-${n}`), uncached));
        expect(taken.cached - tokens.cached).toBe(taken.uncached - tokens.uncached);
        paced += taken.cached - tokens.cached;
      }),
      { numRuns: 500 },
    );
    expect(lookups.filter((r) => r === 'hit').length).toBeGreaterThanOrEqual(500);
    expect(paced).toBeGreaterThanOrEqual(5); // replicas with authz were among them (about 25 a run)
  });
});

/** A change that makes another template: anything injection may read. */
const templateEdit = fc.oneof(
  fc.record({ where: fc.constant('annotations'), key: fc.constantFrom('podhooks.io/pre-start', 'podhooks.io/pre-online', 'podhooks.io/inject', 'podhooks.io/containers', 'podhooks.io/status'), value: fc.constantFrom('true', 'false', 'echo again', '*', '{}') }),
  fc.record({ where: fc.constant('labels'), key: fc.constantFrom('podhooks.io/inject', 'podhooks.io/workload'), value: fc.constantFrom('false', 'batch', 'online') }),
  fc.record({ where: fc.constant('namespace'), key: fc.constant(''), value: fc.constantFrom('other', 'kube-system', 'podhooks') }),
  fc.record({ where: fc.constant('spec'), key: fc.constantFrom('terminationGracePeriodSeconds', 'restartPolicy'), value: fc.constantFrom('Never', '7') }),
);

function edited(p: V1Pod, { where, key, value }: { where: string; key: string; value: string }): V1Pod {
  const q = json(p);
  if (where === 'namespace') q.metadata!.namespace = value;
  else if (where === 'spec') (q.spec as unknown as Record<string, unknown>)[key] = key === 'restartPolicy' ? value : Number(value);
  else (q.metadata as Record<string, Record<string, string>>)[where] = { ...(q.metadata as Record<string, Record<string, string>>)[where], [key]: value };
  return q;
}

describe.each(setups)('another template is never answered from a kept answer (%s)', (_, config, native) => {
  test('over generated pods and edits of what injection reads', async () => {
    const uncached: AdmissionContext = { config, nativeSidecars: native };
    const { ctx } = cachedContext(config, native);
    await fc.assert(
      fc.asyncProperty(pod, templateEdit, async (p, edit) => {
        await mutate(review(p, 'template'), ctx);
        await mutate(review(json(p), 'template again'), ctx);
        const q = edited(p, edit);
        expect(await mutate(review(q, 'other'), ctx)).toEqual(await mutate(review(q, 'other'), uncached));
      }),
      { numRuns: 500 },
    );
  });
});

const hooked = (annotations: Record<string, string>, container: Partial<V1Pod['spec']> = {}): V1Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { generateName: 'web-5f6d7-', namespace: 'shop', labels: { app: 'web' }, annotations },
  spec: { containers: [{ name: 'app', image: 'registry.example.com/web:1', command: ['/app'], ports: [{ containerPort: 8443 }] }], ...container },
});

test('another template (an annotation, a label, the namespace) is not answered from the kept one', async () => {
  const { ctx, lookups } = cachedContext(parseConfig({}), true);
  const p = hooked({ 'podhooks.io/pre-start': 'echo one' });
  await mutate(review(p, 'a'), ctx);
  await mutate(review(p, 'a2'), ctx);
  const timeout = hooked({ 'podhooks.io/pre-start': 'echo one', 'podhooks.io/pre-start-timeout': '9' });
  const other = await mutate(review(timeout, 'b'), ctx);
  expect(other).toEqual(await mutate(review(timeout, 'b'), { config: ctx.config, nativeSidecars: true }));
  expect(Buffer.from(other.response.patch!, 'base64').toString()).toContain('"value":"9"');
  await mutate(review({ ...p, metadata: { ...p.metadata, labels: { app: 'web', tier: 'x' } } }, 'c'), ctx);
  await mutate(review(p, 'd', { namespace: 'other' }), ctx);
  expect(lookups).toEqual(['miss', 'miss', 'miss', 'miss', 'miss']);
  expect((await mutate(review(p, 'e'), ctx)).response.uid).toBe('e');
  expect(lookups[5]).toBe('hit');
});

test('a replica of an authz template takes its own pacing token and gets its own start offset', async () => {
  /** Pacing as a deterministic sequence of offsets (fractions too: the annotation rounds up). */
  const pacer = () => {
    const taken: boolean[] = [];
    return { taken, offset: (_: V1Pod, __: string | undefined, dryRun: boolean) => (taken.push(dryRun), taken.length * 250.5) };
  };
  const cached = pacer();
  const uncached = pacer();
  const { ctx, lookups } = cachedContext(parseConfig({}), true, { authzOffset: cached.offset });
  const plain: AdmissionContext = { config: ctx.config, nativeSidecars: true, authzOffset: uncached.offset };
  const p = (token: string) => withReplica(hooked({ 'podhooks.io/authz': 'true', 'podhooks.io/pre-start': 'echo hi' }), { token });
  const offsets: string[] = [];
  for (const [i, token] of ['aaaaa', 'bbbbb', 'ccccc', 'ddddd', 'eeeee'].entries()) {
    const dryRun = i === 3;
    const answer = await mutate(review(p(token), `u${i}`, { dryRun }), ctx);
    expect(answer).toEqual(await mutate(review(p(token), `u${i}`, { dryRun }), plain));
    offsets.push(/podhooks\.io~1authz-start-offset-ms","value":"(\d+)"/.exec(Buffer.from(answer.response.patch!, 'base64').toString())![1]);
  }
  expect(lookups).toEqual(['miss', 'miss', 'hit', 'hit', 'hit']);
  expect(offsets).toEqual(['251', '501', '752', '1002', '1253']);
  expect(cached.taken).toEqual([false, false, false, true, false]); // one per pod, a dry run only looks
  // A template whose answer sets no offset (ports all whitelisted) takes no token on a hit.
  const whitelisted = hooked({ 'podhooks.io/authz': 'true', 'podhooks.io/authz-ports': '8080', 'podhooks.io/pre-start': 'echo hi' });
  for (const uid of ['w1', 'w2', 'w3']) await mutate(review(whitelisted, uid), ctx);
  expect(lookups.slice(-1)).toEqual(['hit']);
  expect(cached.taken).toHaveLength(5);
});

test('answers that consulted a registry or namespace labels are worked out for every pod', async () => {
  let registryCalls = 0;
  const images = { commands: async () => (registryCalls++, { app: ['/from-registry'] }) };
  const registry = cachedContext(parseConfig({}), true, { images });
  const noCommand = hooked({ 'podhooks.io/pre-start': 'echo hi' });
  delete noCommand.spec!.containers[0].command;
  await mutate(review(noCommand, 'a'), registry.ctx);
  await mutate(review(noCommand, 'b'), registry.ctx);
  expect(registryCalls).toBe(2);
  expect(registry.lookups).toEqual(['not-kept', 'not-kept']);

  const asked: string[] = [];
  const network = parseConfig({ debug: { network: { allowFrom: '10.0.0.0/8' } } });
  const labels = cachedContext(network, true, { namespaces: { labels: async (ns) => (asked.push(ns), { 'podhooks.io/debug-network': 'allowed' }) } });
  await mutate(review(hooked({ 'podhooks.io/debug': 'true' }), 'a'), labels.ctx);
  await mutate(review(hooked({ 'podhooks.io/debug': 'true' }), 'b'), labels.ctx);
  expect(asked).toEqual(['shop', 'shop']);
});

test('a kept answer cannot be changed through the answer a review got', async () => {
  const { ctx } = cachedContext(parseConfig({}), true);
  const p = hooked({ 'podhooks.io/pre-start': 'echo hi', 'podhooks.io/unknown': 'x' });
  await mutate(review(p, 'a'), ctx);
  await mutate(review(p, 'a2'), ctx);
  const hit = await mutate(review(p, 'b'), ctx);
  expect(hit.response.uid).toBe('b');
  expect(() => hit.response.warnings!.push('more')).toThrow(TypeError);
  expect((await mutate(review(p, 'c'), ctx)).response.uid).toBe('c');
});

test('a template is kept from its second pod on: one-off pods (an Indexed Job\'s) never fill it', async () => {
  const { ctx, lookups } = cachedContext(parseConfig({}), true);
  for (let i = 0; i < 20; i++) await mutate(review(hooked({ 'podhooks.io/pre-start': 'echo hi' }, { containers: [{ name: 'app', image: `web:${i}`, command: ['/app'] }] }), `u${i}`), ctx);
  expect(ctx.templates!.size).toBe(0);
  const p = hooked({ 'podhooks.io/pre-start': 'echo hi' });
  for (const uid of ['a', 'b', 'c']) await mutate(review(p, uid), ctx);
  expect(ctx.templates!.size).toBe(1);
  expect(lookups.slice(-3)).toEqual(['miss', 'miss', 'hit']);
});

test('bounded: no more entries than its capacity, no entry above 32K characters, none at capacity 0', async () => {
  const { ctx, lookups } = cachedContext(parseConfig({}), true, {}, 3);
  for (let i = 0; i < 10; i++) for (const uid of [`u${i}`, `v${i}`]) await mutate(review(hooked({ 'podhooks.io/pre-start': `echo ${i}` }), uid), ctx);
  expect(ctx.templates!.size).toBe(3);
  await mutate(review(hooked({ 'podhooks.io/pre-start': 'echo 0' }), 'again'), ctx); // the least recent went first
  expect(lookups.at(-1)).toBe('miss');

  const big = hooked({ 'podhooks.io/pre-start': 'echo hi', note: 'x'.repeat(33_000) });
  await mutate(review(big, 'big'), ctx);
  await mutate(review(big, 'big again'), ctx);
  expect(lookups.at(-1)).toBe('not-kept');

  const off = cachedContext(parseConfig({}), true, {}, 0);
  await mutate(review(hooked({ 'podhooks.io/pre-start': 'echo hi' }), 'a'), off.ctx);
  await mutate(review(hooked({ 'podhooks.io/pre-start': 'echo hi' }), 'b'), off.ctx);
  expect(off.lookups).toEqual([]);
  expect(off.ctx.templates!.size).toBe(0);
});

test('the comparison is JSON text equality but for per-replica metadata: order, types and nesting count', () => {
  const base = { metadata: { name: 'a', labels: { x: '1' } }, spec: { containers: [{ name: 'app' }] } } as unknown as V1Pod;
  const same = (p: unknown) => sameTemplate(base, p as V1Pod);
  expect(same({ metadata: { labels: { x: '1' }, name: 'b', uid: 'u', managedFields: [] }, spec: { containers: [{ name: 'app' }] } })).toBe(true);
  expect(same({ spec: { containers: [{ name: 'app' }] }, metadata: { name: 'a', labels: { x: '1' } } })).toBe(false); // key order
  expect(same({ metadata: { name: 'a', labels: { x: 1 } }, spec: { containers: [{ name: 'app' }] } })).toBe(false);
  expect(same({ metadata: { name: 'a', labels: { x: '1' } }, spec: { containers: { 0: { name: 'app' } } } })).toBe(false);
  expect(same({ metadata: { name: 'a', labels: { x: '1' } }, spec: { containers: [{ name: 'other' }] } })).toBe(false); // name outside metadata counts
  expect(same({ metadata: { name: 'a', labels: { x: '1' }, annotations: {} }, spec: { containers: [{ name: 'app' }] } })).toBe(false);
  expect(sameTemplate({ metadata: ['a', 'b'] } as unknown as V1Pod, { metadata: { 0: 'a', 1: 'b' } } as unknown as V1Pod)).toBe(false);
  expect(sameTemplate({ metadata: 'ab' } as unknown as V1Pod, { metadata: 'ab' } as unknown as V1Pod)).toBe(true);
  // A nested object's extra key is not read as the enclosing object's next key.
  const outer = { spec: { a: 1 }, x: 'v' } as unknown as V1Pod;
  expect(sameTemplate(outer, { spec: { a: 1, x: 'v' } } as unknown as V1Pod)).toBe(false);
  expect(sameTemplate(outer, { spec: { a: 1 }, x: 'v', y: 1 } as unknown as V1Pod)).toBe(false);
  // An array's length counts: a shorter one's items are not compared with what follows it.
  expect(sameTemplate({ spec: [[], 'x'] } as unknown as V1Pod, { spec: [['x']] } as unknown as V1Pod)).toBe(false);
  // Per-replica keys are left out only in the pod's own metadata.
  expect(sameTemplate({ spec: { metadata: { name: 'a' } } } as unknown as V1Pod, { spec: { metadata: { name: 'b' } } } as unknown as V1Pod)).toBe(false);
});

test('over generated JSON, the comparison agrees with comparing the JSON text', () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.jsonValue(), fc.boolean(), (a, b, twin) => {
      const x = { metadata: { name: 'x' }, spec: a } as unknown as V1Pod;
      const y = { metadata: { name: 'y' }, spec: twin ? json(a) : b } as unknown as V1Pod;
      expect(sameTemplate(x, y)).toBe(JSON.stringify(x.spec) === JSON.stringify(y.spec));
    }),
    { numRuns: 2000 },
  );
});

test('entry sizes: about the JSON length, counted only up to the limit', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      const text = JSON.stringify(v).replace(/\\(u[0-9a-f]{4}|.)/g, '_'); // an escape is one character in memory
      expect(jsonSize(v, Infinity)).toBeGreaterThanOrEqual(text.length / 4); // a number counts 8, and its JSON has at most 25 characters
      expect(jsonSize(v, Infinity)).toBeLessThanOrEqual(text.length * 4 + 8);
    }),
    { numRuns: 2000 },
  );
  const huge = { a: 'x'.repeat(MAX_ENTRY_CHARS), b: Array.from({ length: 100_000 }, () => ({ k: 'v' })) };
  expect(jsonSize(huge, MAX_ENTRY_CHARS)).toBeGreaterThan(MAX_ENTRY_CHARS);
});

test('a pod nested deeper than a Pod\'s schema allows is not kept, so nothing recurses far on it', async () => {
  let deep: unknown = 'bottom';
  for (let i = 0; i < 5000; i++) deep = [deep];
  expect(jsonSize({ spec: deep }, MAX_ENTRY_CHARS)).toBe(Infinity);
  let shallow: unknown = 'bottom';
  for (let i = 0; i < MAX_DEPTH - 2; i++) shallow = [shallow];
  expect(jsonSize({ spec: shallow }, MAX_ENTRY_CHARS)).toBeLessThan(MAX_ENTRY_CHARS);
  const { ctx, lookups } = cachedContext(parseConfig({}), true);
  const p = { ...hooked({ 'podhooks.io/pre-start': 'echo hi' }), status: deep } as unknown as V1Pod;
  for (const uid of ['a', 'b', 'c']) await mutate(review(p, uid), ctx);
  expect(lookups).toEqual(['miss', 'not-kept', 'not-kept']);
});

test('a replica with another token volume gets the answer renamed, unless the old name is also used elsewhere', async () => {
  const { ctx, lookups } = cachedContext(parseConfig({}), true);
  const uncached: AdmissionContext = { config: ctx.config, nativeSidecars: true };
  const app = (env: string) => ({ ...hooked({ 'podhooks.io/pre-online': 'echo ready', 'podhooks.io/check-url': 'http://localhost:8080/' }), spec: { containers: [{ name: 'app', image: 'web:1', command: ['/app'], env: [{ name: 'SEEN', value: env }] }] } });
  const replica = (env: string, token: string) => withReplica(app(env), { token });
  for (const uid of ['a', 'b']) await mutate(review(replica('x', 'aaaaa'), uid), ctx);
  const renamed = await mutate(review(replica('x', 'bbbbb'), 'c'), ctx);
  expect(lookups.at(-1)).toBe('hit');
  expect(renamed).toEqual(await mutate(review(replica('x', 'bbbbb'), 'c'), uncached));
  expect(Buffer.from(renamed.response.patch!, 'base64').toString()).toContain('"kube-api-access-bbbbb"');

  for (const uid of ['d', 'e']) await mutate(review(replica('kube-api-access-ccccc', 'ccccc'), uid), ctx);
  const mixed = replica('kube-api-access-ccccc', 'ddddd'); // the kept pod's token name is also an env value
  expect(await mutate(review(mixed, 'f'), ctx)).toEqual(await mutate(review(mixed, 'f'), uncached));
  expect(lookups.at(-1)).not.toBe('hit');
});
