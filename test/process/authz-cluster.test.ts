// A cluster-wide rollout: 10 apps x 10 pods admitted interleaved through the running
// webhook, then 100 real client processes against the reference authorization service
// (capacity C, 500 ms per registration). With the cluster budget the service's measured
// peak concurrency stays within C and it answers no 429; with per-app pacing alone the
// same rollout overloads it, because 10 apps each burst and each take their own rate.
// A budget that cannot fit the stated capacity stops `podhooks serve` at start-up.
// Durations are printed by `npm run bench:authz`, not asserted.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { applyPatch } from 'fast-json-patch';
import { stringify } from 'yaml';
import { buildClient, rolloutPod, runClients, startService, type ClientRun, type ServiceStats } from '../authz-service/harness';
import { CLI, post, review, startPodhooks, type Podhooks } from '../helpers/podhooks';

jest.setTimeout(240_000);

const C = 10;
const APPS = 10;
const PODS_PER_APP = 10;
const LATENCY_MS = 500;
const base = { url: 'http://authz.invalid/v1/registrations', maxAttempts: 6, baseBackoffMs: 100, maxBackoffMs: 2000, deadlineSeconds: 90, ratePerApp: 5, burstPerApp: 2 };
// In flight <= burstPerCluster + ceil(ratePerCluster x latency) = 2 + 4 = 6 <= C, with headroom for a loaded machine.
const clusterBudget = { ratePerCluster: 8, burstPerCluster: 2, serviceCapacity: C, expectedLatencyMs: LATENCY_MS };
// Per-app pacing alone: 10 apps x (burst 2 + 5/s x 0.5 s) = 45 offered at once.
const perAppOnly = { ratePerCluster: 10_000, burstPerCluster: 10_000 };

let bin: string;
const webhooks: Podhooks[] = [];

/** The injected pods, and how long their admissions took from the first to the last. */
async function rollout(authz: Record<string, unknown>): Promise<{ pods: V1Pod[]; admissionMs: number }> {
  const ph = await startPodhooks({ authz: { ...base, ...authz } });
  webhooks.push(ph);
  const pods: V1Pod[] = [];
  const started = performance.now();
  // Interleaved, as when many Deployments roll out (or a node drains) at once.
  for (let i = 0; i < PODS_PER_APP; i++) {
    for (let a = 0; a < APPS; a++) {
      const pod = rolloutPod(i, `app-${a}`);
      const answer = (await post(ph, '/mutate', JSON.stringify(review(pod)))).json().response;
      expect(answer.allowed).toBe(true);
      pods.push(applyPatch(structuredClone(pod), JSON.parse(Buffer.from(answer.patch, 'base64').toString())).newDocument);
    }
  }
  return { pods, admissionMs: performance.now() - started };
}

async function run(pods: V1Pod[]): Promise<{ runs: ClientRun[]; stats: ServiceStats }> {
  const service = await startService(['--capacity', String(C), '--latency-ms', String(LATENCY_MS), '--retry-after', '1']);
  try {
    const runs = await runClients(bin, pods, { url: service.url });
    return { runs, stats: await service.stats() };
  } finally {
    await service.stop();
  }
}

const offsetOf = (p: V1Pod) => Number(p.metadata!.annotations!['podhooks.io/authz-start-offset-ms']);

beforeAll(() => {
  bin = buildClient();
});
afterAll(async () => {
  for (const ph of webhooks) await ph.stop();
});

test('`podhooks serve` refuses a cluster budget that cannot fit the service, with the numbers (burst 5 against a capacity of 4)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'podhooks-authz-cluster-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, stringify({ server: { port: 0, metricsPort: 0, certDir: join(dir, 'certs') }, authz: { burstPerCluster: 5, ratePerCluster: 10, serviceCapacity: 4, expectedLatencyMs: 100 } }));
  const r = spawnSync(process.execPath, [CLI, 'serve', '--config', config], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '' }, timeout: 30_000 });
  expect(r.status).toBe(2);
  expect(r.stderr).toContain(
    'authz.burstPerCluster: the cluster-wide budget can put 6 registrations in flight at once, more than serviceCapacity 4: burstPerCluster 5 + ceil(ratePerCluster 10/s x expectedLatencyMs 100 ms) = 5 + 1. Fix: burstPerCluster at most 3',
  );
});

describe('a 10-app rollout with the cluster budget', () => {
  let admitted: { pods: V1Pod[]; admissionMs: number };
  let result: { runs: ClientRun[]; stats: ServiceStats };
  beforeAll(async () => {
    admitted = await rollout(clusterBudget);
    result = await run(admitted.pods);
  });

  test('the offsets follow the cluster budget, not 10 x the per-app rate', () => {
    const offsets = admitted.pods.map(offsetOf);
    expect(offsets.slice(0, 2)).toEqual([0, 0]);
    // 100 pods at 8/s after a burst of 2: the last start is at least (100 - 2) / 8 s after the
    // first admission, and the last pod was admitted at most admissionMs after it.
    expect(Math.max(...offsets) + admitted.admissionMs).toBeGreaterThanOrEqual(((APPS * PODS_PER_APP - 2) * 1000) / 8);
  });

  test(`stays within the service's capacity (C=${C}): measured peak concurrency <= C, no 429, every pod authorized at its first call`, () => {
    const { runs, stats } = result;
    expect(runs.filter((r) => r.outcome !== 'authorized').map((r) => r.stderr)).toEqual([]);
    expect(stats.registrations).toBe(APPS * PODS_PER_APP);
    expect(stats.peakConcurrency).toBeLessThanOrEqual(C);
    expect(stats.rejected429).toBe(0);
    expect(stats.requests).toBe(APPS * PODS_PER_APP);
  });
});

describe('the same rollout with per-app pacing alone', () => {
  let result: { runs: ClientRun[]; stats: ServiceStats };
  beforeAll(async () => {
    result = await run((await rollout(perAppOnly)).pods);
  });

  test('overloads the service: peak concurrency above C, and 429s', () => {
    expect(result.stats.peakConcurrency).toBeGreaterThan(C);
    expect(result.stats.rejected429).toBeGreaterThan(0);
  });
});
