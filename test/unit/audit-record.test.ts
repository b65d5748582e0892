// The audit records made after an admission answer: log lines, counter, Event contents,
// and the bounded Event queue (drop + count when full, aggregation of repeats).
import type { CoreV1Event } from '@kubernetes/client-node';
import pino from 'pino';
import { Writable } from 'node:stream';
import { validate } from '../../src/admission/handlers';
import type { AdmissionRequest } from '../../src/admission/review';
import { createDecisionRecorder, eventFor, involvedObject } from '../../src/audit/record';
import { parseConfig } from '../../src/config';
import { EventQueue, type EventSink, type PodhooksEvent } from '../../src/kube/events';
import { silentLogger } from '../../src/log';
import { Metrics } from '../../src/metrics';

const config = parseConfig({});
const kataPod = (meta: Record<string, unknown> = { name: 'vm' }) => ({
  metadata: { namespace: 'shop', ...meta },
  spec: { runtimeClassName: 'kata', hostNetwork: true, containers: [{ name: 'a', image: 'x' }], volumes: [{ name: 'l', hostPath: { path: '/var/log' } }] },
});
const request = (object: any, extra: Partial<AdmissionRequest> = {}): AdmissionRequest => ({
  uid: 'req-1',
  kind: { group: '', version: 'v1', kind: 'Pod' },
  operation: 'CREATE',
  namespace: 'shop',
  name: object.metadata.name,
  userInfo: { username: 'alice@example.com' },
  object,
  ...extra,
});
const counter = async (m: Metrics, name: string) => (await m.registry.getSingleMetric(name)!.get()).values;

function capture() {
  const lines: any[] = [];
  const stream = new Writable({ write: (chunk, _e, cb) => (lines.push(JSON.parse(chunk.toString())), cb()) });
  return { logger: pino({ level: 'info' }, stream), lines };
}

class MemorySink implements EventSink {
  created: CoreV1Event[] = [];
  repeats: { name: string; count: number }[] = [];
  gate?: Promise<void>;
  fail?: Error;
  async create(_ns: string, e: CoreV1Event) {
    await this.gate;
    if (this.fail) throw this.fail;
    this.created.push(e);
  }
  async repeat(_ns: string, name: string, count: number) {
    this.repeats.push({ name, count });
  }
}

describe('involvedObject', () => {
  test('the controlling owner when the pod has one', () => {
    const pod = { metadata: { generateName: 'web-7d9-', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9', uid: 'rs-uid', controller: true }] } };
    expect(involvedObject(pod, 'shop', 'web-7d9-abcde', false)).toEqual({ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9', uid: 'rs-uid', namespace: 'shop' });
  });
  test('the pod when it has a name (uid only when the pod will exist), else the namespace', () => {
    expect(involvedObject({ metadata: { name: 'vm', uid: 'u1' } }, 'shop', 'vm', false)).toEqual({ apiVersion: 'v1', kind: 'Pod', name: 'vm', namespace: 'shop' });
    expect(involvedObject({ metadata: { name: 'vm', uid: 'u1' } }, 'shop', 'vm', true)).toMatchObject({ uid: 'u1' });
    expect(involvedObject({ metadata: { generateName: 'x-' } }, 'shop', '', false)).toEqual({ apiVersion: 'v1', kind: 'Namespace', name: 'shop', namespace: 'shop' });
  });
});

test('eventFor a denial: reason, owner-level message without the pod name, structured annotations', async () => {
  const pod = kataPod({ name: 'web-7d9-abcde', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9', uid: 'rs', controller: true }] });
  const req = request(pod);
  const outcome = await validate(req, { config, nativeSidecars: true });
  const e = eventFor(req, outcome, outcome.findings!)!;
  expect(e.reason).toBe('PodhooksDenied');
  expect(e.message).toBe(
    'podhooks denied a pod of ReplicaSet web-7d9: sandbox-host-namespaces: runtimeClassName "kata" runs the pod in a sandbox that cannot share host networking: remove spec.hostNetwork, or use a non-sandboxed runtime class for this pod',
  );
  expect(e.annotations).toEqual({ 'podhooks.io/rules': 'deny:sandbox-host-namespaces,warn:sandbox-host-path', 'podhooks.io/pod': 'web-7d9-abcde', 'podhooks.io/user': 'alice@example.com' });
});

test('the recorder: one audit line and one counter increment per finding; an Event unless dryRun; nothing for plain allows', async () => {
  const metrics = new Metrics(false);
  const { logger, lines } = capture();
  const sink = new MemorySink();
  const events = new EventQueue({ sink, size: 10, metrics, logger: silentLogger, instance: 'test' });
  const record = createDecisionRecorder({ logger, metrics, events });
  const req = request(kataPod());
  record('validate', req, await validate(req, { config, nativeSidecars: true }));
  const dry = request(kataPod({ name: 'dry' }), { dryRun: true, uid: 'req-2' });
  record('validate', dry, await validate(dry, { config, nativeSidecars: true }));
  const fine = request({ metadata: { name: 'ok', namespace: 'shop' }, spec: { containers: [{ name: 'a', image: 'x' }] } });
  record('validate', fine, await validate(fine, { config, nativeSidecars: true }));
  await new Promise((r) => setImmediate(r));
  await events.idle();

  expect(lines.map((l) => [l.name, l.rule, l.action, l.user, l.uid, l.dryRun, l.namespace])).toEqual([
    ['vm', 'sandbox-host-namespaces', 'deny', 'alice@example.com', 'req-1', false, 'shop'],
    ['vm', 'sandbox-host-path', 'warn', 'alice@example.com', 'req-1', false, 'shop'],
    ['dry', 'sandbox-host-namespaces', 'deny', 'alice@example.com', 'req-2', true, 'shop'],
    ['dry', 'sandbox-host-path', 'warn', 'alice@example.com', 'req-2', true, 'shop'],
  ]);
  expect(lines.every((l) => l.audit === true && l.msg === 'policy decision')).toBe(true);
  expect((await counter(metrics, 'podhooks_policy_violations_total')).map((v) => [v.labels.rule, v.labels.action, v.value])).toEqual([
    ['sandbox-host-namespaces', 'deny', 2],
    ['sandbox-host-path', 'warn', 2],
  ]);
  expect(sink.created.map((e) => [e.reason, e.type, e.involvedObject.kind, e.involvedObject.name, e.count, e.source?.component])).toEqual([['PodhooksDenied', 'Warning', 'Pod', 'vm', 1, 'podhooks']]);
});

test('a mutating-webhook refusal is recorded under injection-annotations', async () => {
  const metrics = new Metrics(false);
  const { logger, lines } = capture();
  const record = createDecisionRecorder({ logger, metrics });
  const req = request({ metadata: { name: 'p', namespace: 'shop' }, spec: { containers: [] } });
  record('mutate', req, { decision: 'denied', reason: 'podhooks: annotation podhooks.io/log-stream="yes": must be "true" or "false"', response: { uid: 'req-1', allowed: false } });
  await new Promise((r) => setImmediate(r));
  expect(lines[0]).toMatchObject({ webhook: 'mutate', rule: 'injection-annotations', action: 'deny', field: 'metadata.annotations' });
});

describe('EventQueue', () => {
  const ev = (name: string, message = 'm'): PodhooksEvent => ({
    namespace: 'shop',
    involvedObject: { kind: 'Pod', name, namespace: 'shop' },
    reason: 'PodhooksDenied',
    message,
    annotations: {},
  });

  test('a full queue drops and counts instead of waiting; the rest are sent in order', async () => {
    const metrics = new Metrics(false);
    const sink = new MemorySink();
    let open!: () => void;
    sink.gate = new Promise((r) => (open = r));
    const q = new EventQueue({ sink, size: 2, metrics, logger: silentLogger, instance: 't' });
    // The first is taken by the worker at once; two more fill the queue; the fourth is dropped.
    expect([q.enqueue(ev('a')), q.enqueue(ev('b')), q.enqueue(ev('c')), q.enqueue(ev('d'))]).toEqual([true, true, true, false]);
    open();
    await q.idle();
    expect(sink.created.map((e) => e.involvedObject.name)).toEqual(['a', 'b', 'c']);
    expect((await counter(metrics, 'podhooks_events_dropped_total')).map((v) => [v.labels.reason, v.value])).toEqual([['queue-full', 1]]);
    expect((await counter(metrics, 'podhooks_events_emitted_total'))[0].value).toBe(3);
  });

  test('API failures are counted and logged, never thrown', async () => {
    const metrics = new Metrics(false);
    const sink = new MemorySink();
    sink.fail = new Error('connect ECONNREFUSED');
    const q = new EventQueue({ sink, size: 5, metrics, logger: silentLogger, instance: 't' });
    q.enqueue(ev('a'));
    await q.idle();
    expect((await counter(metrics, 'podhooks_events_dropped_total')).map((v) => [v.labels.reason, v.value])).toEqual([['api-error', 1]]);
  });

  test('a repeat of the same event bumps its count; a different message makes a new event', async () => {
    const sink = new MemorySink();
    const q = new EventQueue({ sink, size: 10, metrics: new Metrics(false), logger: silentLogger, instance: 't' });
    q.enqueue(ev('rs'));
    q.enqueue(ev('rs'));
    q.enqueue(ev('rs'));
    q.enqueue(ev('rs', 'other'));
    await q.idle();
    expect(sink.created).toHaveLength(2);
    expect(sink.created[0].metadata!.name).toMatch(/^rs\.[0-9a-f]+$/);
    expect(sink.repeats).toEqual([
      { name: sink.created[0].metadata!.name, count: 2 },
      { name: sink.created[0].metadata!.name, count: 3 },
    ]);
  });

  test('messages are capped at 1024 characters', async () => {
    const sink = new MemorySink();
    const q = new EventQueue({ sink, size: 10, metrics: new Metrics(false), logger: silentLogger, instance: 't' });
    q.enqueue(ev('x', 'y'.repeat(5000)));
    await q.idle();
    expect(sink.created[0].message).toHaveLength(1024);
  });
});
