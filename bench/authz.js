#!/usr/bin/env node
// `npm run bench:authz`: a 200-pod rollout of one app against the reference authorization
// service (test/authz-service/server.js, capacity C concurrent requests, 429 + Retry-After
// above it), twice: with podhooks' per-app pacing (offsets from 200 admissions through the
// real mutate path, dist/) and without (every init container calls at once). Each pod's
// init container is the real client (sidecars/authz-client) as a process, with the env
// the webhook wrote. Prints peak concurrency, 429s, completion time and the pacing bound.
// Flags: --pods N --capacity C --rate R --burst B --latency-ms L. Needs `npm run build`.
'use strict';
const { existsSync } = require('node:fs');
const { join, resolve } = require('node:path');
const { buildClient, rolloutPod, runClients, startService } = require('../test/authz-service/harness');

const ROOT = resolve(__dirname, '..');
const args = process.argv.slice(2);
function flag(name, def) {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = Number(args[i + 1]);
  if (!(v > 0)) {
    console.error(`bench:authz: --${name} ${args[i + 1]}: want a positive number`);
    process.exit(64);
  }
  return v;
}
const PODS = flag('pods', 200);
const C = flag('capacity', 8);
const RATE = flag('rate', 20);
const BURST = flag('burst', 4);
const LATENCY = flag('latency-ms', 100);
const MAX_ATTEMPTS = 6;

if (!existsSync(join(ROOT, 'dist/admission/handlers.js'))) {
  console.error('bench:authz: dist/ is missing; run `npm run build` first');
  process.exit(1);
}
const { mutate } = require('../dist/admission/handlers');
const { authzPacing } = require('../dist/authz/pacing');
const { parseConfig } = require('../dist/config');
const { applyPatch } = require('fast-json-patch');

async function admitAll(paced) {
  const config = parseConfig({ authz: { ratePerApp: RATE, burstPerApp: BURST, maxAttempts: MAX_ATTEMPTS, baseBackoffMs: 100, maxBackoffMs: 2000, deadlineSeconds: 60 } });
  const ctx = { config, nativeSidecars: true, authzOffset: paced ? authzPacing(config).offset : undefined };
  const pods = [];
  for (let i = 0; i < PODS; i++) {
    const pod = rolloutPod(i);
    const req = { uid: `r${i}`, kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'shop', object: pod };
    const { response } = await mutate(req, ctx);
    if (!response.patch) throw new Error(`pod ${i} was not injected: ${JSON.stringify(response)}`);
    pods.push(applyPatch(structuredClone(pod), JSON.parse(Buffer.from(response.patch, 'base64').toString())).newDocument);
  }
  return pods;
}

async function run(name, paced, bin) {
  const pods = await admitAll(paced);
  const service = await startService(['--capacity', String(C), '--latency-ms', String(LATENCY), '--retry-after', '1']);
  try {
    const t0 = performance.now();
    const runs = await runClients(bin, pods, { url: service.url });
    const seconds = (performance.now() - t0) / 1000;
    const stats = await service.stats();
    const offsets = pods.map((p) => Number(p.metadata.annotations['podhooks.io/authz-start-offset-ms'] ?? 0));
    return {
      run: name,
      'peak concurrency': stats.peakConcurrency,
      '429s': stats.rejected429,
      requests: stats.requests,
      authorized: runs.filter((r) => r.outcome === 'authorized').length,
      'failed closed': runs.filter((r) => r.outcome === 'failed-closed').length,
      'max attempts': Math.max(...runs.map((r) => r.attempts ?? 0)),
      'max offset s': (Math.max(...offsets) / 1000).toFixed(2),
      'completion s': seconds.toFixed(2),
    };
  } finally {
    await service.stop();
  }
}

(async () => {
  const bin = buildClient();
  const results = [await run('paced', true, bin), await run('unpaced', false, bin)];
  const boundSeconds = (PODS - BURST) / RATE + LATENCY / 1000;
  const boundConcurrency = BURST + Math.ceil((RATE * LATENCY) / 1000);
  console.log(`authz rollout: ${PODS} pods of one app, service capacity C=${C} concurrent, ${LATENCY} ms per registration, Retry-After 1 s, ${MAX_ATTEMPTS} attempts per client`);
  console.log(`pacing: ${RATE} pods/s per app, burst ${BURST}; bound: last start >= (${PODS}-${BURST})/${RATE} s, so completion >= ${boundSeconds.toFixed(2)} s; offered concurrency <= burst + rate*latency = ${boundConcurrency}${boundConcurrency <= C ? ` <= C` : ` > C: expect some 429s`}`);
  const cols = Object.keys(results[0]);
  console.log(`| ${cols.join(' | ')} |`);
  console.log(`|${cols.map(() => '---').join('|')}|`);
  for (const r of results) console.log(`| ${cols.map((c) => r[c]).join(' | ')} |`);
  console.log(`machine: ${require('node:os').cpus().length} cores (${require('node:os').cpus()[0]?.model ?? 'unknown'}), node ${process.version}`);
})().catch((err) => {
  console.error(`bench:authz: ${err.stack ?? err.message}`);
  process.exit(1);
});
