// The admission HTTP layer (src/server/admission-http.ts) with stand-in decisions: an answer
// decided at once and one that waited are written alike, and a decision that fails (thrown
// or rejected) is a 500 naming the request, counted, never a crash or a hung request.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Outcome } from '../../src/admission/handlers';
import { parseConfig } from '../../src/config';
import { silentLogger } from '../../src/log';
import { Metrics } from '../../src/metrics';
import { createAdmissionHandler, webhookForPath, type Decide, type Recall } from '../../src/server/admission-http';

const allowed = (uid: string): Outcome => ({ response: { uid, allowed: true }, decision: 'allowed' });

let server: Server;
let port: number;
let metrics: Metrics;

beforeAll(async () => {
  metrics = new Metrics(false);
  const decide: Record<'mutate' | 'validate' | 'placement', Decide> = {
    // Decided at once (the common case: no lookups).
    mutate: (req) => allowed(req.uid),
    // Decided after waiting (a registry or API lookup), or failing either way.
    validate: (req) => {
      if (req.uid === 'throws') throw new Error('thrown at once');
      if (req.uid === 'rejects') return Promise.reject(new Error('rejected later'));
      return new Promise((resolve) => setTimeout(() => resolve(allowed(req.uid)), 5));
    },
    placement: (req) => allowed(req.uid),
  };
  // Recognised from the bytes before parsing: a review whose uid is "recalled"; one that makes the recall throw.
  const recall: Recall = (body) => {
    if (body.includes('"uid":"recall-throws"')) throw new Error('a bug in the recall');
    if (!body.includes('"uid":"recalled"')) return undefined;
    const request = { uid: 'recalled', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE' as const, object: {} };
    return { request, outcome: { response: { uid: 'recalled', allowed: true, warnings: ['from the bytes'] }, decision: 'allowed' } };
  };
  const handle = createAdmissionHandler({ ctx: { config: parseConfig({}), nativeSidecars: true }, decide, recall: { mutate: recall }, bodyLimitBytes: 1 << 20, logger: silentLogger, metrics, draining: () => false });
  server = createServer((req, res) => handle(webhookForPath(req.url)!, req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => {
  server.closeAllConnections();
  return new Promise<void>((r) => server.close(() => r()));
});

function post(path: string, uid: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const review = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', object: {} } });
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.setTimeout(3000, () => req.destroy(new Error(`no answer to ${uid} within 3 s`)));
    req.end(review);
  });
}

test('an answer decided at once and one that waited are both written as AdmissionReviews', async () => {
  for (const [path, uid] of [['/mutate', 'at-once'], ['/validate', 'waited']]) {
    const { status, body } = await post(path, uid);
    expect(status).toBe(200);
    expect(body).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } });
  }
});

test('a decision that throws or rejects is a 500 naming the request, and is counted as an error', async () => {
  const errors = async () => (await metrics.registry.getSingleMetric('podhooks_admission_requests_total')!.get()).values.filter((v) => v.labels.decision === 'error').reduce((n, v) => n + v.value, 0);
  const before = await errors();
  for (const [uid, message] of [['throws', 'thrown at once'], ['rejects', 'rejected later']]) {
    const { status, body } = await post('/validate', uid);
    expect(status).toBe(500);
    expect(body).toMatchObject({ kind: 'Status', code: 500, message: `podhooks internal error for request ${uid}: ${message}` });
  }
  expect(await errors()).toBe(before + 2);
  // The server still answers.
  expect((await post('/mutate', 'after')).status).toBe(200);
});

test('a review recalled from its bytes is answered and counted without a decision; a recall that throws costs only the parse', async () => {
  const count = async () => (await metrics.registry.getSingleMetric('podhooks_admission_requests_total')!.get()).values.find((v) => v.labels.webhook === 'mutate' && v.labels.decision === 'allowed')?.value ?? 0;
  const before = await count();
  const recalled = await post('/mutate', 'recalled');
  expect(recalled.body).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'recalled', allowed: true, warnings: ['from the bytes'] } });
  // Only /mutate recalls; the recall that throws falls back to the decision (no warnings).
  expect((await post('/validate', 'recalled')).body).toMatchObject({ response: { uid: 'recalled', allowed: true } });
  expect((await post('/validate', 'recalled')).body.response).not.toHaveProperty('warnings');
  expect((await post('/mutate', 'recall-throws')).body).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'recall-throws', allowed: true } });
  expect(await count()).toBe(before + 2);
});
