// Fuzzing the running server over real HTTPS: generated reviews (fast-check) and
// byte-damaged valid ones. Every reply must be a valid AdmissionReview for the same uid
// (with a patch that applies) or a clear 4xx; never a 5xx, never a crash, never an
// error-level log line. The benchmark runs the same with 100k requests (npm run bench:fuzz).
import fc from 'fast-check';
import { fire, mutateBytes, reviewArb } from '../helpers/fuzz';
import { post, review, startPodhooks, type Podhooks } from '../helpers/podhooks';

jest.setTimeout(300_000);
const COUNT = Number(process.env.PODHOOKS_FUZZ_COUNT ?? 1500);
let ph: Podhooks;

beforeAll(async () => {
  // Placement assigns, so /mutate/placement (and placement in /mutate) act on the offline pods.
  ph = await startPodhooks({ registry: { enabled: false }, validation: { placement: { enabled: true, mode: 'assign' } } });
});
afterAll(async () => {
  expect(await ph.stop()).toBe(0);
});

test(`${COUNT} generated AdmissionReviews each get, from every webhook, a valid review or a clear 4xx`, async () => {
  const bodies = fc.sample(reviewArb, { numRuns: COUNT, seed: 20261128 }).map((r) => Buffer.from(JSON.stringify(r)));
  const tally = await fire(ph, bodies);
  expect(tally.problems).toEqual([]);
  expect(tally.patched).toBeGreaterThan(COUNT / 50);
  expect(tally.denied).toBeGreaterThan(COUNT / 50);
  expect(tally.rejected).toBeGreaterThan(COUNT / 50);
});

test(`${COUNT} byte-damaged reviews each get, from every webhook, a valid review or a clear 4xx`, async () => {
  const valid = Buffer.from(JSON.stringify(review({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'shop', annotations: { 'podhooks.io/pre-start': 'echo hi', 'podhooks.io/log-stream': 'true' } }, spec: { runtimeClassName: 'kata', containers: [{ name: 'app', image: 'web:1', command: ['/server'], livenessProbe: { httpGet: { path: '/h', port: 8080 } } }] } })));
  const bodies = Array.from({ length: COUNT }, (_, i) => mutateBytes(valid, i + 1));
  const tally = await fire(ph, bodies);
  expect(tally.problems).toEqual([]);
  expect(tally.rejected).toBeGreaterThan(COUNT / 10);
});

test('after the fuzzing the server is healthy and logged no errors', async () => {
  expect((await post(ph, '/healthz', '', {}, 'GET')).status).toBe(200);
  const errors = ph.logs().filter((l) => l.level === 'error' || l.level === 'fatal');
  expect(errors).toEqual([]);
});
