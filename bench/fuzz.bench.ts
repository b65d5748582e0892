// `npm run bench:fuzz`: the fuzz test's generator at scale, 100,000 requests over real
// HTTPS (half generated reviews, half byte-damaged valid ones, each to both webhooks),
// with the server's RSS sampled throughout to show memory stays flat.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { fire, mutateBytes, PATHS, reviewArb } from '../test/helpers/fuzz';
import { review, startPodhooks, type Podhooks } from '../test/helpers/podhooks';

jest.setTimeout(3_600_000);
const REQUESTS = Number(process.env.PODHOOKS_FUZZ_COUNT ?? 100_000);
let ph: Podhooks;

afterAll(async () => {
  await ph?.stop();
});

const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

test(`${REQUESTS} fuzzed requests: valid answers only, memory flat`, async () => {
  ph = await startPodhooks({ registry: { enabled: false }, validation: { placement: { enabled: true, mode: 'assign' } } });
  const pid = ph.proc.pid!;
  // Each body goes to every webhook path: REQUESTS / PATHS.length bodies, half generated, half damaged.
  const n = PATHS.length;
  const half = Math.floor(REQUESTS / (2 * n));
  const generated = fc.sample(reviewArb, { numRuns: half, seed: 1 }).map((r) => Buffer.from(JSON.stringify(r)));
  const valid = Buffer.from(JSON.stringify(review({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'shop', annotations: { 'podhooks.io/pre-start': 'echo hi', 'podhooks.io/debug': 'true' } }, spec: { runtimeClassName: 'kata', containers: [{ name: 'app', image: 'web:1', command: ['/server'], livenessProbe: { httpGet: { path: '/h', port: 8080 } } }] } })));
  const damaged = Array.from({ length: half }, (_, i) => mutateBytes(valid, i + 1));
  const samples: { requests: number; rssMiB: number }[] = [{ requests: 0, rssMiB: rssMiB(pid) }];
  const t0 = Date.now();
  const first = await fire(ph, generated, (n) => samples.push({ requests: n, rssMiB: rssMiB(pid) }));
  const second = await fire(ph, damaged, (done) => samples.push({ requests: half * n + done, rssMiB: rssMiB(pid) }));
  samples.push({ requests: half * 2 * n, rssMiB: rssMiB(pid) });
  const seconds = (Date.now() - t0) / 1000;
  const problems = [...first.problems, ...second.problems];
  const quarter = samples[Math.floor(samples.length / 4)].rssMiB;
  console.log(
    [
      `fuzz: ${half * 2 * n} requests in ${seconds.toFixed(1)} s, ${problems.length} invalid answers`,
      `fuzz: generated: ${first.patched} patched, ${first.denied} denied, ${first.rejected} 4xx; damaged: ${second.patched} patched, ${second.denied} denied, ${second.rejected} 4xx`,
      `fuzz: server RSS MiB by requests: ${samples.map((s) => `${s.requests}:${s.rssMiB.toFixed(0)}`).join(' ')}`,
      `fuzz: RSS growth after the first quarter: ${(samples[samples.length - 1].rssMiB - quarter).toFixed(1)} MiB`,
    ].join('\n'),
  );
  expect(problems.slice(0, 5)).toEqual([]);
  expect(ph.logs().filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
});
