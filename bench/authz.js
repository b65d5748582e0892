#!/usr/bin/env node
// `npm run bench:authz`: a cluster-wide rollout, K apps x N/K pods admitted interleaved,
// against the reference authorization service (test/authz-service/server.js, capacity C
// concurrent requests, 429 + Retry-After above it), three times:
//   cluster budget: podhooks' per-app pacing and the cluster-wide budget (the default),
//   per-app only:   per-app pacing with the cluster budget out of the way,
//   unpaced:        no offsets, every init container calls at once.
// Offsets come from admissions through the real mutate path (dist/); each pod's init
// container is the real client (sidecars/authz-client) as a process, with the env the
// webhook wrote. Prints peak concurrency against C, 429s, completion time and the bounds.
// Flags: --pods N --apps K --capacity C --latency-ms L --rate R --burst B (per app)
//        --cluster-rate RC --cluster-burst BC. Needs `npm run build`.
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
const APPS = flag('apps', 10);
const C = flag('capacity', 8);
const LATENCY = flag('latency-ms', 250);
const RATE = flag('rate', 5);
const BURST = flag('burst', 2);
const CLUSTER_RATE = flag('cluster-rate', 16);
const CLUSTER_BURST = flag('cluster-burst', 3);
const MAX_ATTEMPTS = 6;

if (!existsSync(join(ROOT, 'dist/admission/handlers.js'))) {
  console.error('bench:authz: dist/ is missing; run `npm run build` first');
  process.exit(1);
}
const { mutate } = require('../dist/admission/handlers');
const { authzPacing } = require('../dist/authz/pacing');
const { inFlightBound } = require('../dist/authz/capacity');
const { StartCalendar } = require('../dist/authz/calendar');
const { parseConfig } = require('../dist/config');
const { applyPatch } = require('fast-json-patch');

const client = { maxAttempts: MAX_ATTEMPTS, baseBackoffMs: 100, maxBackoffMs: 2000, deadlineSeconds: 120 };
const budgets = {
  'cluster budget': { ratePerApp: RATE, burstPerApp: BURST, ratePerCluster: CLUSTER_RATE, burstPerCluster: CLUSTER_BURST },
  'per-app only': { ratePerApp: RATE, burstPerApp: BURST, ratePerCluster: 1e6, burstPerCluster: 1e6 },
  unpaced: undefined,
};

/** podhooks' own start-up check of the cluster budget against the capacity: undefined when it fits. */
function startupCheck() {
  try {
    parseConfig({ authz: { ...client, ...budgets['cluster budget'], serviceCapacity: C, expectedLatencyMs: LATENCY } });
    return undefined;
  } catch (err) {
    return err.message.replace(/^invalid config:\n\s*- /, '');
  }
}

async function admitAll(budget) {
  const config = parseConfig({ authz: { ...client, ...(budget ?? {}) } });
  const ctx = { config, nativeSidecars: true, authzOffset: budget ? authzPacing(config).offset : undefined };
  const pods = [];
  // Interleaved across apps, as when many Deployments roll out (or a node drains) at once.
  for (let i = 0; i < PODS; i++) {
    const pod = rolloutPod(Math.floor(i / APPS), `app-${i % APPS}`);
    const req = { uid: `r${i}`, kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'shop', object: pod };
    const { response } = await mutate(req, ctx);
    if (!response.patch) throw new Error(`pod ${i} was not injected: ${JSON.stringify(response)}`);
    pods.push(applyPatch(structuredClone(pod), JSON.parse(Buffer.from(response.patch, 'base64').toString())).newDocument);
  }
  return pods;
}

async function run(name, bin) {
  const pods = await admitAll(budgets[name]);
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
      'peak / C': (stats.peakConcurrency / C).toFixed(2),
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

/** What the cluster budget adds to one admission, with `pending` starts still ahead (a big rollout). */
function calendarCost(pending) {
  const calendar = new StartCalendar(CLUSTER_RATE, CLUSTER_BURST);
  for (let i = 0; i < pending; i++) calendar.earliest(0, 0);
  const asks = 500;
  const t0 = performance.now();
  for (let i = 0; i < asks; i++) calendar.earliest(0, 0, true);
  return ((performance.now() - t0) / asks) * 1000;
}

(async () => {
  const bin = buildClient();
  const refused = startupCheck();
  const results = [];
  for (const name of Object.keys(budgets)) results.push(await run(name, bin));
  const cluster = inFlightBound({ ratePerCluster: CLUSTER_RATE, burstPerCluster: CLUSTER_BURST, replicas: 1, expectedLatencyMs: LATENCY });
  const perApp = APPS * (BURST + Math.ceil((RATE * LATENCY) / 1000));
  console.log(`authz rollout: ${PODS} pods of ${APPS} apps admitted interleaved, service capacity C=${C} concurrent, ${LATENCY} ms per registration, Retry-After 1 s, ${MAX_ATTEMPTS} attempts per client`);
  console.log(`per app: ${RATE} pods/s, burst ${BURST}; cluster: ${CLUSTER_RATE} pods/s, burst ${CLUSTER_BURST}`);
  console.log(`offered concurrency <= cluster burst + ceil(cluster rate x latency) = ${cluster.burst} + ${cluster.flow} = ${cluster.total}${cluster.total <= C ? ' <= C' : ' > C'}; per-app pacing alone: ${APPS} apps x (${BURST} + ${Math.ceil((RATE * LATENCY) / 1000)}) = ${perApp}`);
  console.log(`completion >= (${PODS} - ${CLUSTER_BURST}) / ${CLUSTER_RATE} s = ${((PODS - CLUSTER_BURST) / CLUSTER_RATE).toFixed(2)} s with the cluster budget`);
  console.log(refused ? `podhooks serve would refuse these numbers with serviceCapacity ${C}, expectedLatencyMs ${LATENCY}: ${refused}` : `podhooks serve accepts these numbers with serviceCapacity ${C}, expectedLatencyMs ${LATENCY}`);
  const cols = Object.keys(results[0]);
  console.log(`| ${cols.join(' | ')} |`);
  console.log(`|${cols.map(() => '---').join('|')}|`);
  for (const r of results) console.log(`| ${cols.map((c) => r[c]).join(' | ')} |`);
  calendarCost(2000); // warm-up: the first calls also pay for compiling
  console.log(`cluster budget per admission: ${[100, 1000, 10000].map((n) => `${calendarCost(n).toFixed(1)} us with ${n} starts pending`).join(', ')}`);
  console.log(`machine: ${require('node:os').cpus().length} cores (${require('node:os').cpus()[0]?.model ?? 'unknown'}), node ${process.version}`);
})().catch((err) => {
  console.error(`bench:authz: ${err.stack ?? err.message}`);
  process.exit(1);
});
