// A 200-pod rollout against the reference authorization service (capacity C), end to end:
// 200 admissions through the running webhook give 200 start offsets; 200 real client
// processes then run with exactly the env the webhook wrote. With pacing, every pod is
// authorized, the service never sees more than C requests at once and answers no 429;
// the same pods without their offsets overload it (429s), and every client that got a
// 429 waited its Retry-After. Durations are printed by `npm run bench:authz`, not asserted.
import type { V1Pod } from '@kubernetes/client-node';
import { applyPatch } from 'fast-json-patch';
import { freePort } from '../helpers/ports';
import { buildClient, rolloutPod, runClients, startService, type ClientRun, type Service } from '../authz-service/harness';
import { post, review, startPodhooks, type Podhooks } from '../helpers/podhooks';

jest.setTimeout(180_000);

// Expected offered concurrency with pacing: burst + rate x latency = 2 + 10 x 0.1 = 3, well under C:
// on a starved machine the service's own latency grows and stalls bunch clients together.
const C = 10;
const PODS = 200;
const RATE = 10;
const BURST = 2;
const MAX_ATTEMPTS = 6;
const LATENCY_MS = 100;
/** Without pacing, a slower service makes the overload certain however fast clients spawn. */
const UNPACED_LATENCY_MS = 1000;
const authz = { url: 'http://authz.invalid/v1/registrations', ratePerApp: RATE, burstPerApp: BURST, maxAttempts: MAX_ATTEMPTS, baseBackoffMs: 100, maxBackoffMs: 2000, deadlineSeconds: 60 };

let bin: string;
let webhook: Podhooks | undefined;
let openWebhook: Podhooks | undefined;
let service: Service | undefined;
let pods: V1Pod[] = [];

async function admit(ph: Podhooks, pod: V1Pod): Promise<V1Pod> {
  const answer = (await post(ph, '/mutate', JSON.stringify(review(pod)))).json().response;
  expect(answer.allowed).toBe(true);
  return applyPatch(structuredClone(pod), JSON.parse(Buffer.from(answer.patch, 'base64').toString())).newDocument;
}

const offsetOf = (p: V1Pod) => Number(p.metadata!.annotations!['podhooks.io/authz-start-offset-ms']);

beforeAll(async () => {
  bin = buildClient();
  webhook = await startPodhooks({ authz });
  openWebhook = await startPodhooks({ authz: { ...authz, failMode: 'open', maxAttempts: 2 } });
  for (let i = 0; i < PODS; i++) pods.push(await admit(webhook, rolloutPod(i)));
});
afterAll(async () => {
  await service?.stop();
  await webhook?.stop();
  await openWebhook?.stop();
});

test('200 admissions of one app get paced offsets within the pacing bound', () => {
  const offsets = pods.map(offsetOf);
  expect(offsets.every((o) => Number.isInteger(o) && o >= 0)).toBe(true);
  expect(offsets.slice(0, BURST)).toEqual(Array(BURST).fill(0));
  // Pod i may start (i - BURST + 1) / RATE s after the first at the earliest, and no later.
  expect(Math.max(...offsets)).toBeLessThanOrEqual(Math.ceil(((PODS - BURST) * 1000) / RATE));
  expect(Math.max(...offsets)).toBeGreaterThan(0);
});

describe('with pacing', () => {
  let runs: ClientRun[];
  beforeAll(async () => {
    service = await startService(['--capacity', String(C), '--latency-ms', String(LATENCY_MS), '--retry-after', '1']);
    runs = await runClients(bin, pods, { url: service.url });
  });

  test('every pod is authorized within its attempt budget', () => {
    const failed = runs.filter((r) => r.code !== 0 || r.outcome !== 'authorized');
    expect(failed.map((r) => r.stderr)).toEqual([]);
    for (const r of runs) expect(r.attempts!).toBeLessThanOrEqual(MAX_ATTEMPTS);
  });

  test(`the service never sees more than C=${C} requests at once, and sends no 429`, async () => {
    const stats = await service!.stats();
    expect(stats.registrations).toBe(PODS);
    expect(new Set(runs.map((r) => r.uid)).size).toBe(PODS);
    expect(stats.peakConcurrency).toBeLessThanOrEqual(C);
    expect(stats.rejected429).toBe(0);
  });

  afterAll(async () => {
    await service?.stop();
    service = undefined;
  });
});

describe('the same pods without their offsets', () => {
  let runs: ClientRun[];
  let unpaced: V1Pod[];
  beforeAll(async () => {
    unpaced = pods.map((p) => {
      const copy = structuredClone(p);
      delete copy.metadata!.annotations!['podhooks.io/authz-start-offset-ms'];
      return copy;
    });
    service = await startService(['--capacity', String(C), '--latency-ms', String(UNPACED_LATENCY_MS), '--retry-after', '1']);
    runs = await runClients(bin, unpaced, { url: service.url });
  });

  test('overload the service (429s), and every client that got one waited its Retry-After', async () => {
    const stats = await service!.stats();
    expect(stats.rejected429).toBeGreaterThan(0);
    for (const r of runs) expect(r.attempts!).toBeLessThanOrEqual(MAX_ATTEMPTS);
    for (const pod of Object.values(stats.pods)) {
      pod.statuses.forEach((status, i) => {
        if (status === 429 && i + 1 < pod.arrivalsMs.length) expect(pod.arrivalsMs[i + 1] - pod.arrivalsMs[i]).toBeGreaterThanOrEqual(1000);
      });
    }
  });

  afterAll(async () => {
    await service?.stop();
    service = undefined;
  });
});

describe('when the service is down', () => {
  let url: string;
  beforeAll(async () => {
    url = `http://127.0.0.1:${await freePort()}/v1/registrations`;
  });

  test('fail closed (the default): exit 2 after the attempt budget, a clear termination message', async () => {
    const runs = await runClients(bin, pods.slice(0, 3), { url });
    for (const r of runs) {
      expect([r.code, r.outcome, r.attempts]).toEqual([2, 'failed-closed', MAX_ATTEMPTS]);
      expect(r.termination).toMatch(/NOT authorized, staying in Init/);
    }
  });

  test('fail open (authz.failMode: open): exit 0 with a warning', async () => {
    const pod = await admit(openWebhook!, rolloutPod(0));
    const [r] = await runClients(bin, [pod], { url });
    expect([r.code, r.outcome, r.attempts]).toEqual([0, 'failed-open', 2]);
    expect(r.termination).toMatch(/^WARNING: .* starts WITHOUT authorization/);
  });
});
