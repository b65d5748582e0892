// Replicas recognised from their bytes before parsing (src/admission/kept-review.ts): a
// recalled answer is always the answer parsing and injecting the review gives; a replica as
// the apiserver sends it (another uid, token volume name, managedFields time) is recalled;
// a review that differs anywhere else is parsed.
import fc from 'fast-check';
import type { V1Pod } from '@kubernetes/client-node';
import { mutate, mutateRecalled, type AdmissionContext, type Outcome } from '../../src/admission/handlers';
import { parseReview } from '../../src/admission/review';
import { TemplateCache } from '../../src/admission/template-cache';
import { parseConfig } from '../../src/config';
import { pod, withReplica } from './arbitrary-pods';

const config = parseConfig({});

/** The review as the apiserver writes it (its field order), as bytes. */
function body(p: V1Pod, uid: string, extra: Record<string, unknown> = {}): Buffer {
  const request = {
    uid,
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    requestKind: { group: '', version: 'v1', kind: 'Pod' },
    requestResource: { group: '', version: 'v1', resource: 'pods' },
    namespace: p.metadata?.namespace ?? 'shop',
    operation: 'CREATE',
    userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts', 'system:authenticated'] },
    object: p,
    oldObject: null,
    dryRun: false,
    options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    ...extra,
  };
  return Buffer.from(JSON.stringify({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request }));
}

function context(extra: Partial<AdmissionContext> = {}, capacity = 512) {
  const recalls: boolean[] = [];
  const ctx: AdmissionContext = { config, nativeSidecars: true, templates: new TemplateCache<Outcome>(capacity, (r, recalled) => r === 'hit' && recalls.push(recalled === true)), ...extra };
  return { ctx, recalls };
}

/** Reviewed as the server does: parsed, with its bytes (kept from a template's second pod on). */
const reviewed = (b: Buffer, ctx: AdmissionContext) => mutate(parseReview(b.toString('utf8')), ctx, undefined, b);
/** Parsed and injected with no cache: the reference answer. */
const injected = (b: Buffer, extra: Partial<AdmissionContext> = {}) => mutate(parseReview(b.toString('utf8')), { config, nativeSidecars: true, ...extra });

/** A ReplicaSet's pod at mutating admission: generateName, a token volume, a managedFields entry. */
const replica = (p: V1Pod, token: string, time: string): V1Pod =>
  withReplica({ ...p, metadata: { ...p.metadata, name: undefined, generateName: 'web-7d4b9c6f5-' } }, {
    token,
    managedFields: [{ manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time, fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:generateName': {} } } }],
  });

const suffix = fc.stringMatching(/^[a-z0-9]{5}$/);
const time = fc.date({ min: new Date('2026-01-01'), max: new Date('2027-01-01'), noInvalidDate: true }).map((t) => t.toISOString().replace(/\.\d+Z$/, 'Z'));

test('over generated pods, a replica is recalled from its bytes with the answer injecting it gives', async () => {
  // Authz pacing: a new offset per token taken; the reference injection gets the last one.
  let last = 0;
  const { ctx, recalls } = context({ authzOffset: () => (last += 250.5) });
  let recalled = 0;
  await fc.assert(
    fc.asyncProperty(pod, suffix, suffix, time, time, fc.uuid(), fc.uuid(), async (p, t1, t2, at1, at2, keptUid, uid) => {
      const kept = body(replica(p, t1, at1), keptUid);
      await reviewed(kept, ctx);
      await reviewed(kept, ctx);
      const b = body(replica(p, t2, at2), uid);
      const answer = mutateRecalled(b, ctx);
      const expected = answer && (await injected(b, { authzOffset: () => last }));
      // Parsed, the cache hits exactly when the bytes are recalled.
      const before = recalls.length;
      await reviewed(b, ctx);
      const hit = recalls.length > before;
      expect(answer !== undefined).toBe(hit);
      if (!answer) return;
      recalled++;
      expect(answer.outcome).toEqual(expected);
      expect(answer.request.uid).toBe(uid);
      expect(answer.request.namespace).toBe(parseReview(b.toString()).namespace);
    }),
    { numRuns: 400 },
  );
  expect(recalled).toBeGreaterThanOrEqual(300); // most generated templates are kept
});

/** Where a byte may change: anywhere, or in and around the holes (uid, token name, time). */
function positions(b: Buffer): fc.Arbitrary<number> {
  const near = ['"uid":"', 'kube-api-access-', '"time":"'].flatMap((s) => {
    const out: number[] = [];
    for (let p = b.indexOf(s); p >= 0; p = b.indexOf(s, p + 1)) for (let i = p - 2; i < p + s.length + 40 && i < b.length; i++) out.push(i);
    return out;
  });
  return fc.oneof(fc.nat(b.length - 1), fc.constantFrom(...near));
}

test('over every one-byte change of a kept review, a recalled answer is the answer parsing gives, and an unparseable one is never recalled', async () => {
  const template = replica(
    {
      metadata: { namespace: 'shop', labels: { app: 'web' }, annotations: { 'podhooks.io/pre-start': 'echo hi "there"', 'podhooks.io/pre-online': 'echo online', 'podhooks.io/check-url': 'http://localhost:8080/' } },
      spec: { containers: [{ name: 'app', image: 'web:1', command: ['/app'], env: [{ name: 'ESCAPED', value: 'tab\there \\ "quoted" é' }] }] },
    },
    'abcde',
    '2026-11-25T10:00:00Z',
  );
  const kept = body(template, '0d9e5c1a-7b2f-4c8e-9a31-5f6e7d8c9b0a');
  const { ctx } = context();
  await reviewed(kept, ctx);
  await reviewed(kept, ctx);
  expect(mutateRecalled(kept, ctx)).toBeDefined();
  let recalled = 0;
  await fc.assert(
    fc.asyncProperty(positions(kept), fc.integer({ min: 0, max: 255 }), async (at, byte) => {
      const b = Buffer.from(kept);
      b[at] = byte;
      const answer = mutateRecalled(b, ctx);
      if (!answer) return;
      recalled++;
      // Recalled: the bytes parse, to a review with this uid, and injecting it gives this answer.
      const parsed = parseReview(b.toString('utf8'));
      expect(answer.request.uid).toBe(parsed.uid);
      expect(answer.outcome).toEqual(await injected(b));
    }),
    { numRuns: 3000 },
  );
  expect(recalled).toBeGreaterThan(100); // changes inside the holes are replicas
});

describe('a review that is not a plain replica is parsed', () => {
  const p = (env = 'x') => replica({ metadata: { namespace: 'shop', labels: { app: 'web' }, annotations: { 'podhooks.io/pre-start': 'echo hi' } }, spec: { containers: [{ name: 'app', image: 'web:1', command: ['/app'], env: [{ name: 'E', value: env }] }] } }, 'aaaaa', '2026-11-25T10:00:00Z');
  const uid = '0d9e5c1a-7b2f-4c8e-9a31-5f6e7d8c9b0a';
  const kept = body(p(), uid);
  const { ctx } = context();
  beforeAll(async () => {
    await reviewed(kept, ctx);
    await reviewed(kept, ctx);
  });
  const edit = (from: string, to: string) => Buffer.from(kept.toString().replace(from, to));

  test.each([
    ['a uid with a quote', `"uid":"${uid}"`, `"uid":"${uid.slice(0, -1)}\\"`],
    ['a uid with a backslash', uid, `${uid.slice(0, -2)}\\n`],
    ['a uid with a control character', uid, `${uid.slice(0, -1)}\u0001`],
    ['a token name with capitals', '"kube-api-access-aaaaa"', '"kube-api-access-AAAAA"'],
    ['a managedFields time with a quote', '2026-11-25T10:00:00Z', '2026-11-25T10:00:00"'],
    ['another env value', '"value":"x"', '"value":"y"'],
    ['a dry run', '"dryRun":false', '"dryRun":true '],
  ])('%s', async (_, from, to) => {
    const b = edit(from, to);
    expect(b.length).toBe(kept.length);
    expect(b.equals(kept)).toBe(false);
    expect(mutateRecalled(b, ctx)).toBeUndefined();
  });

  test('a volume and its mount that name different token volumes', () => {
    const b = Buffer.from(kept);
    const last = b.lastIndexOf('kube-api-access-aaaaa');
    b.write('bbbbb', last + 'kube-api-access-'.length);
    expect(mutateRecalled(b, ctx)).toBeUndefined();
  });

  test('a replica whose token volume name is a string the kept pod has elsewhere', async () => {
    const other = { ctx: context().ctx };
    const named = body(p('kube-api-access-bbbbb'), uid);
    await reviewed(named, other.ctx);
    await reviewed(named, other.ctx);
    const b = Buffer.from(named.toString().replaceAll('"kube-api-access-aaaaa"', '"kube-api-access-bbbbb"'));
    expect(mutateRecalled(b, other.ctx)).toBeUndefined();
    expect(await reviewed(b, other.ctx)).toEqual(await injected(b));
  });

  test('a kept review with a "time" outside managedFields has no holes to trust: parsed every time', async () => {
    const timed = replica({ metadata: { namespace: 'shop', labels: { app: 'web', time: 'x' }, annotations: { 'podhooks.io/pre-start': 'echo hi', time: '2026-11-25T10:00:00Z' } }, spec: { containers: [{ name: 'app', image: 'web:1', command: ['/app'] }] } }, 'aaaaa', '2026-11-25T10:00:00Z');
    const { ctx: own, recalls } = context();
    const b = body(timed, uid);
    for (let i = 0; i < 3; i++) await reviewed(b, own);
    expect(recalls).toEqual([false]); // the parsed cache still hits
    expect(mutateRecalled(b, own)).toBeUndefined();
  });

  test('a "time" in the request outside the pod, or a uid before the request\'s, is not a hole', async () => {
    for (const [from, to] of [
      ['"options":{', '"options":{"time":"2026-11-25T10:00:00Z",'],
      ['"request":{', `"request":{"userInfo":{"uid":"${uid}"},`],
    ]) {
      const { ctx: own, recalls } = context();
      const b = Buffer.from(kept.toString().replace(from, to));
      for (let i = 0; i < 3; i++) await reviewed(b, own);
      expect(recalls).toEqual([false]); // the parsed cache still hits
      expect(mutateRecalled(b, own)).toBeUndefined();
    }
  });

  test('a request with the uid twice: the hole is the one parsing reads (the last)', async () => {
    const twice = (first: string, last: string) => Buffer.from(kept.toString().replace(`"uid":"${uid}"`, `"uid":"${first}"`).replace('"operation":"CREATE"', `"operation":"CREATE","uid":"${last}"`));
    const { ctx: own } = context();
    const a = twice(uid, 'f'.repeat(uid.length));
    for (let i = 0; i < 2; i++) await reviewed(a, own);
    const last = twice(uid, 'e'.repeat(uid.length));
    expect(mutateRecalled(last, own)?.request.uid).toBe(parseReview(last.toString()).uid);
    expect(mutateRecalled(last, own)?.outcome).toEqual(await injected(last));
    expect(mutateRecalled(twice('e'.repeat(uid.length), 'f'.repeat(uid.length)), own)).toBeUndefined();
  });
});

test('a recalled authz replica takes its own pacing token', async () => {
  const taken: boolean[] = [];
  const offset = (_: V1Pod, __: string | undefined, dryRun: boolean) => (taken.push(dryRun), 1000 + taken.length);
  const { ctx, recalls } = context({ authzOffset: offset });
  const authz = (token: string) => replica({ metadata: { namespace: 'shop', labels: { app: 'ledger' }, annotations: { 'podhooks.io/authz': 'true' } }, spec: { containers: [{ name: 'app', image: 'ledger:1', command: ['/ledger'], ports: [{ containerPort: 8443 }] }] } }, token, '2026-11-25T10:00:00Z');
  await reviewed(body(authz('aaaaa'), 'u1'), ctx);
  await reviewed(body(authz('aaaaa'), 'u2'), ctx);
  const offsets = ['bbbbb', 'ccccc'].map((t, i) => {
    const answer = mutateRecalled(body(authz(t), `r${i}`), ctx)!;
    expect(answer.outcome).toEqual({ ...answer.outcome, response: { ...answer.outcome.response, uid: `r${i}` } });
    return /authz-start-offset-ms","value":"(\d+)"/.exec(Buffer.from(answer.outcome.response.patch!, 'base64').toString())![1];
  });
  expect(offsets).toEqual(['1003', '1004']);
  // A dry run's review differs in its bytes: parsed, it looks at the pacer without taking a token.
  expect(mutateRecalled(body(authz('ddddd'), 'dry', { dryRun: true }), ctx)).toBeUndefined();
  await reviewed(body(authz('ddddd'), 'dry', { dryRun: true }), ctx);
  expect(taken).toEqual([false, false, false, false, true]);
  expect(recalls).toEqual([true, true, false]);
});

test('bounded: a kept review goes with its template when the cache drops it', async () => {
  const { ctx } = context({}, 3);
  const bodies = Array.from({ length: 6 }, (_, i) => body(replica({ metadata: { namespace: 'shop', annotations: { 'podhooks.io/pre-start': `echo ${i}` } }, spec: { containers: [{ name: 'app', image: 'web:1', command: ['/app'] }] } }, 'aaaaa', '2026-11-25T10:00:00Z'), `u${i}`));
  for (const b of bodies) for (let k = 0; k < 2; k++) await reviewed(b, ctx);
  expect(ctx.templates!.size).toBe(3);
  expect(bodies.map((b) => mutateRecalled(b, ctx) !== undefined)).toEqual([false, false, false, true, true, true]);
});
