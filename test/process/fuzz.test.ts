// Fuzzing the running server over real HTTPS: generated reviews (fast-check) and
// byte-damaged valid ones. Every reply must be a valid AdmissionReview for the same uid
// (with a patch that applies) or a clear 4xx; never a 5xx, never a crash, never an
// error-level log line. The benchmark runs the same with 100k requests (npm run bench:fuzz).
import { Agent, request } from 'node:https';
import fc from 'fast-check';
import { mutateBytes, replyProblem, reviewArb } from '../helpers/fuzz';
import { post, review, startPodhooks, type Podhooks } from '../helpers/podhooks';

jest.setTimeout(300_000);
const COUNT = Number(process.env.PODHOOKS_FUZZ_COUNT ?? 1500);
let ph: Podhooks;

beforeAll(async () => {
  ph = await startPodhooks({ registry: { enabled: false } });
});
afterAll(async () => {
  expect(await ph.stop()).toBe(0);
});

function send(agent: Agent, path: string, body: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: '127.0.0.1', port: ph.port, path, method: 'POST', ca: ph.ca, servername: 'localhost', headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface Tally {
  problems: string[];
  /** Replies by kind, to show the generator reaches deep paths, not only the parser. */
  patched: number;
  denied: number;
  rejected: number;
}

async function fire(bodies: Buffer[]): Promise<Tally> {
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const tally: Tally = { problems: [], patched: 0, denied: 0, rejected: 0 };
  const problems = tally.problems;
  let next = 0;
  const worker = async () => {
    while (next < bodies.length * 2) {
      // Each body goes to both webhooks.
      const path = next % 2 ? '/validate' : '/mutate';
      const i = next++ >> 1;
      const reply = await send(agent, path, bodies[i]);
      if (reply.status !== 200) tally.rejected++;
      else if (reply.body.includes('"patch"')) tally.patched++;
      else if (reply.body.includes('"allowed":false')) tally.denied++;
      // A damaged body may still be valid JSON for a different request; judge it as sent.
      let problem: string | undefined;
      try {
        JSON.parse(bodies[i].toString('utf8'));
        problem = replyProblem(bodies[i], reply.status, reply.body);
      } catch {
        problem = reply.status >= 400 && reply.status < 500 && JSON.parse(reply.body).message ? undefined : `unparseable body got ${reply.status}: ${reply.body.slice(0, 200)}`;
      }
      if (problem) problems.push(`${path} #${i}: ${problem}\n  sent: ${bodies[i].toString('utf8').slice(0, 400)}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  agent.destroy();
  return tally;
}

test(`${COUNT} generated AdmissionReviews each get, from both webhooks, a valid review or a clear 4xx`, async () => {
  const bodies = fc.sample(reviewArb, { numRuns: COUNT, seed: 20261128 }).map((r) => Buffer.from(JSON.stringify(r)));
  const tally = await fire(bodies);
  expect(tally.problems).toEqual([]);
  expect(tally.patched).toBeGreaterThan(COUNT / 50);
  expect(tally.denied).toBeGreaterThan(COUNT / 50);
  expect(tally.rejected).toBeGreaterThan(COUNT / 50);
});

test(`${COUNT} byte-damaged reviews each get, from both webhooks, a valid review or a clear 4xx`, async () => {
  const valid = Buffer.from(JSON.stringify(review({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'shop', annotations: { 'podhooks.io/pre-start': 'echo hi', 'podhooks.io/log-stream': 'true' } }, spec: { runtimeClassName: 'kata', containers: [{ name: 'app', image: 'web:1', command: ['/server'], livenessProbe: { httpGet: { path: '/h', port: 8080 } } }] } })));
  const bodies = Array.from({ length: COUNT }, (_, i) => mutateBytes(valid, i + 1));
  const tally = await fire(bodies);
  expect(tally.problems).toEqual([]);
  expect(tally.rejected).toBeGreaterThan(COUNT / 10);
});

test('after the fuzzing the server is healthy and logged no errors', async () => {
  expect((await post(ph, '/healthz', '', {}, 'GET')).status).toBe(200);
  const errors = ph.logs().filter((l) => l.level >= 50);
  expect(errors).toEqual([]);
});
