// The tables `npm run bench` prints and writes to bench/RESULTS.md (one section per Node
// major; other sections, e.g. the fuzz benchmark's and the hot-path rounds, are kept).
'use strict';
const { readFileSync, writeFileSync, existsSync } = require('node:fs');
const { spawnSync } = require('node:child_process');
const os = require('node:os');
const { join } = require('node:path');
const tools = require('../test/helpers/tools');

const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

function serverTable(results) {
  const noop = results[0];
  const agn = results[1];
  return [
    '| server | req/s (median) | rounds | × no-op | × agnhost | p50 ms | p99 ms | max ms | errors | p50 @1k/s | p99 @1k/s | p99 @1k/s × no-op | max @1k/s | peak RSS MiB |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map((r) =>
      `| ${r.name} | ${Math.round(r.rps)} | ${r.spread.join(' / ')} | ${f(r.rps / noop.rps)} | ${f(r.rps / agn.rps)} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.max)} | ${r.errors + r.fixed.failed} | ${f(r.fixed.p50)} | ${f(r.fixed.p99)} | ${f(r.fixed.p99 / noop.fixed.p99)} | ${f(r.fixed.max)} | ${f(r.rss, 0)} |`),
  ];
}

/** Issue 18's targets for /mutate, as measured in this run. */
function targets(results) {
  const [noop, agn] = results;
  const m = results.find((r) => r.name === 'podhooks /mutate');
  if (!m) return '';
  const check = (ok) => (ok ? 'met' : 'NOT met');
  const vsNoop = m.rps / noop.rps;
  const vsAgn = m.rps / agn.rps;
  const p99 = m.fixed.p99 / noop.fixed.p99;
  const sized = results.find((r) => r.name.startsWith('no-op node:https, answers sized'));
  const ceiling = sized ? ` The no-op server answering with as many bytes as podhooks does reaches ${f(sized.rps / noop.rps)}× the no-op server: that is the ceiling for a webhook with that much to say, and /mutate is ${f(m.rps / sized.rps)}× it.` : '';
  return `Targets for /mutate: ${f(vsNoop)}× the no-op server (≥ 0.70: ${check(vsNoop >= 0.7)}), ${f(vsAgn)}× agnhost (≥ 1.20: ${check(vsAgn >= 1.2)}), p99 at 1,000 req/s ${f(p99)}× the no-op server's (≤ 1.20: ${check(p99 <= 1.2)}).${ceiling}`;
}

/** Prints the tables and, with `run.write`, puts them into bench/RESULTS.md as this Node's section. */
function report(version, results, ready, cluster, run) {
  const lines = [
    'Golden corpus (the pods of test/golden as the apiserver sends them: defaults, service-account volume, managedFields; 5-10 KB):',
    '',
    ...serverTable(results.corpus),
    '',
    targets(results.corpus),
    '',
    'The 6 KB two-hook pod (one app container with preStart, preOnline and the hook log stream) as 2,000 replicas of one template, each with its own token volume name, managedFields time and uid (bench/corpus.js `twoHookReplicaBodies`; podhooks answers them from its per-template cache):',
    '',
    ...serverTable(results.twoHook),
    '',
    targets(results.twoHook),
    '',
    'The same pod as 2,000 pods of one template each (an Indexed Job\'s completion index; bench/corpus.js `twoHookTemplateBodies`): more templates than server.templateCacheEntries, so every review is injected. This is the cost of a pod podhooks has not seen:',
    '',
    ...serverTable(results.templates),
    '',
    targets(results.templates),
    '',
    `Start to ready (podhooks serve, median of 5): ${f(ready.cold, 0)} ms generating a dev CA and certificate, ${f(ready.warm, 0)} ms with existing certificates.`,
  ];
  if (cluster) {
    const none = cluster.rows[0].mean;
    const isolating = cluster.rows.find((r) => r.name.startsWith('the injected pods through'));
    const podhooksRow = cluster.rows.find((r) => r.name.startsWith('podhooks'));
    lines.push('', '| pod create (real kube-apiserver) | pods | p50 ms | p99 ms | mean ms | × none |', '|---|---:|---:|---:|---:|---:|');
    for (const row of cluster.rows) lines.push(`| ${row.name} | ${row.pods} | ${f(row.p50)} | ${f(row.p99)} | ${f(row.mean)} | ${f(row.mean / none)} |`);
    if (isolating && podhooksRow) lines.push('', `podhooks' own share: its webhooks take ${f(podhooksRow.mean / isolating.mean)}× the mean of the same injected pods through the same webhook configurations on the no-op server (goal ≤ 1.05).`);
    const api = Object.entries(cluster.calls.apiserverMsPerWebhookCall).map(([name, ms]) => `${name} ${f(ms)} ms`).join(', ');
    lines.push('', `Per webhook call while the podhooks pods were created: the apiserver measured ${api}; podhooks' own handler took ${f(cluster.calls.podhooksHandlerMs.mutate)} ms (mutate) and ${f(cluster.calls.podhooksHandlerMs.validate)} ms (validate).`);
  }
  const table = lines.join('\n');
  console.log('\n' + table + '\n');
  if (!run.write) return;
  const cpu = (readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) ?? [])[1] ?? 'unknown CPU';
  const wrkVersion = spawnSync(tools.wrk(), ['-v'], { encoding: 'utf8', env: tools.toolEnv() }).stdout.split(' ')[1] ?? '';
  const machine = `${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}, wrk ${wrkVersion}, agnhost and kube-apiserver v${run.k8sVersion}`;
  const major = version.split('.')[0];
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  const section =
    `## Servers on Node ${major}\n\nWritten by \`npm run bench\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC (load average when written: ${load}). Machine: ${machine}; servers on Node ${version}.\n` +
    `Each server is pinned to CPU 0 and the load generator to CPU 1; after a warm-up run per server, wrk runs ${run.rounds} rounds of ${run.duration} s with ${run.connections} keep-alive connections, interleaved across the servers (the median round is shown, every round under "rounds"), ` +
    `then a paced client sends 1,000 req/s for ${run.pacedSeconds} s over 16 warm connections (latency from each request's scheduled time).\n\n${table}\n`;
  // One section per Node major, so runs under Node 20 (the machine) and 24 (the image) sit side by side.
  const file = join(__dirname, 'RESULTS.md');
  const header = '# Benchmark results\n\nRatios are what count: every row of a table comes from the same run on the same machine.\n';
  const sections = new Map();
  // Other sections (e.g. the fuzz benchmark's) are kept as they are.
  if (existsSync(file)) for (const part of readFileSync(file, 'utf8').split(/^(?=## )/m).slice(1)) sections.set(part.split('\n')[0], part.trimEnd() + '\n');
  sections.set(`## Servers on Node ${major}`, section);
  writeFileSync(file, header + [...sections.keys()].sort().map((k) => '\n' + sections.get(k)).join(''));
  console.log(`bench: wrote bench/RESULTS.md (Node ${major})`);
}

module.exports = { report };
