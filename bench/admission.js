#!/usr/bin/env node
// `npm run bench`: podhooks side by side with the platform's limit (a no-op node:https
// server) and Kubernetes' own e2e webhook (agnhost), in one run, on one machine:
//   - throughput and latency at saturation (wrk over HTTPS keep-alive, 5-10 KB reviews),
//   - latency at a fixed 1,000 req/s, peak RSS, start-to-ready time,
//   - pod-create latency on a real control plane: podhooks' webhooks, the same webhooks on a
//     no-op server, the injected pods created directly, and none (bench/podcreate.bench.ts).
// Each server gets CPU 0, the load generator CPU 1. Everything runs in a private network
// namespace, because agnhost binds all interfaces. Prints a markdown table and writes
// bench/RESULTS.md. Flags: --quick (short runs), --no-cluster (skip pod-create), --no-write,
// --only=<name part> (just those servers, for profiling).
'use strict';
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const { mkdtempSync, writeFileSync, readFileSync, rmSync, existsSync } = require('node:fs');
const { connect } = require('node:net');
const https = require('node:https');
const os = require('node:os');
const { join, resolve } = require('node:path');
const { reviewBodies } = require('./corpus');
const tools = require('../test/helpers/tools');

const ROOT = resolve(__dirname, '..');
const K8S_VERSION = process.env.PODHOOKS_K8S_VERSION ?? '1.37.2';
const K8S_BIN = join(process.env.PODHOOKS_K8S_CACHE ?? join(os.homedir(), '.cache/podhooks/k8s'), `v${K8S_VERSION}`, 'bin');
const args = new Set(process.argv.slice(2));
const QUICK = args.has('--quick');
const DURATION = QUICK ? 3 : 10;
// Rounds of wrk runs, interleaved across the servers; the median round counts. A shared
// VM's speed drifts by tens of percent within minutes; interleaving spreads that over all.
const ROUNDS = QUICK ? 1 : 3;
const PACED_SECONDS = QUICK ? 3 : 10;
const CONNECTIONS = 32;
// The Node.js that runs podhooks and the no-op server: the machine's by default; set
// PODHOOKS_BENCH_NODE to measure another (the Docker image runs Node 24).
const SERVER_NODE = process.env.PODHOOKS_BENCH_NODE || process.execPath;
const SERVER_NODE_VERSION = execFileSync(SERVER_NODE, ['--version'], { encoding: 'utf8' }).trim();

function fail(message) {
  console.error(`bench: ${message}`);
  process.exit(1);
}

// Re-run inside a private network namespace (root or user namespaces needed).
if (!process.env.PODHOOKS_BENCH_NETNS) {
  const r = spawnSync('unshare', ['--net', '--', process.execPath, __filename, ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, PODHOOKS_BENCH_NETNS: '1' } });
  if (r.error || r.status === null) fail(`could not enter a private network namespace with unshare --net (${r.error?.message ?? r.signal}); run as root`);
  process.exit(r.status);
}
execFileSync('ip', ['link', 'set', 'lo', 'up']);

const need = (path, what) => existsSync(path) || fail(`${what} is missing at ${path}: ${what.includes('agnhost') ? 'run `bash scripts/provision-k8s.sh`' : 'run `bash scripts/provision-debs.sh`'}`);
// --only=<substring> measures just the matching servers (for profiling; writes nothing).
const ONLY = [...args].find((a) => a.startsWith('--only='))?.slice('--only='.length);
if (ONLY) args.add('--no-write').add('--no-cluster');
if (!ONLY || 'agnhost'.includes(ONLY)) need(join(K8S_BIN, 'agnhost'), 'agnhost (built by scripts/provision-k8s.sh)');
need(join(tools.DEBS_ROOT, 'usr/bin/wrk'), 'wrk (Debian package wrk, fetched by scripts/provision-debs.sh)');
need(join(ROOT, 'dist/cli/main.js'), 'dist/ (npm run build)');

const work = mkdtempSync(join(os.tmpdir(), 'podhooks-bench-'));
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

function start(name, cmd, argv, env = {}) {
  const child = spawn('taskset', ['-c', '0', cmd, ...argv], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  child.on('exit', (code, signal) => {
    children.delete(child);
    if (!child.stopping) console.error(`bench: ${name} exited early (${code ?? signal}):\n${stderr}`);
  });
  children.add(child);
  return child;
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.stopping = true;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

function get(port, path) {
  return new Promise((resolve) => {
    const req = https.get({ host: '127.0.0.1', port, path, rejectUnauthorized: false, timeout: 500 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

function tcpOpen(port) {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

async function waitFor(check, what, ms = 15000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  fail(`${what} did not become ready within ${ms} ms`);
}

let nextPort = 18443;
function peakRssMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)[1]) / 1024;
}

function wrk(url) {
  const out = execFileSync('taskset', ['-c', '1', tools.wrk(), '-t1', `-c${CONNECTIONS}`, `-d${DURATION}s`, '--latency', '-s', join(__dirname, 'wrk-post.lua'), url], {
    env: { ...tools.toolEnv(), BENCH_BODIES: join(work, 'bodies.txt') },
    encoding: 'utf8',
  });
  const ms = (v, unit) => Number(v) * { us: 0.001, ms: 1, s: 1000 }[unit];
  const lat = (label) => {
    const m = new RegExp(`${label}\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return m ? ms(m[1], m[2]) : NaN;
  };
  const max = /Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const errors = /Socket errors: (.*)/.exec(out);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]),
    p50: lat(' 50%'),
    p99: lat(' 99%'),
    max: max ? ms(max[1], max[2]) : NaN,
    errors: (non2xx ? Number(non2xx[1]) : 0) + (errors ? errors[1].match(/\d+/g).reduce((a, b) => a + Number(b), 0) : 0),
  };
}

function paced(url) {
  const out = execFileSync('taskset', ['-c', '1', process.execPath, join(__dirname, 'paced.js'), url, join(work, 'bodies.txt'), '1000', String(PACED_SECONDS)], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop());
}

async function startPeer(peer) {
  const port = nextPort++;
  const child = peer.start(port);
  await waitFor(() => peer.ready(port), peer.name);
  return { peer, child, url: `https://127.0.0.1:${port}${peer.path}`, rounds: [] };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** All servers up at once (idle ones cost nothing); wrk rounds interleaved; then the paced run. */
async function measureAll(peers) {
  const running = [];
  for (const peer of peers) running.push(await startPeer(peer));
  for (const r of running) wrk(r.url); // warm-up (JIT, TLS sessions); its numbers are discarded
  for (let round = 0; round < ROUNDS; round++) {
    for (const r of running) {
      r.rounds.push(wrk(r.url));
      process.stdout.write(`bench: round ${round + 1}: ${r.peer.name} ${Math.round(r.rounds[round].rps)} req/s\n`);
    }
  }
  const results = [];
  for (const r of running) {
    const mid = r.rounds.find((x) => x.rps === median(r.rounds.map((y) => y.rps)));
    const fixed = paced(r.url);
    results.push({ name: r.peer.name, ...mid, errors: r.rounds.reduce((a, x) => a + x.errors, 0), spread: r.rounds.map((x) => Math.round(x.rps)), fixed, rss: peakRssMiB(r.child.pid) });
    await stop(r.child);
  }
  return results;
}

async function startToReady(cold) {
  const samples = [];
  for (let i = 0; i < 5; i++) {
    const dir = join(work, `ready-${cold ? 'cold' : 'warm'}`);
    if (cold) rmSync(dir, { recursive: true, force: true });
    const port = nextPort++;
    const t0 = process.hrtime.bigint();
    const child = start('podhooks (start-to-ready)', SERVER_NODE, [join(ROOT, 'bin/podhooks.js'), 'serve', '-c', join(work, 'podhooks.yaml'), '--port', String(port), '--cert-dir', dir]);
    await waitFor(async () => (await get(port, '/readyz')) === 200, 'podhooks');
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await stop(child);
  }
  return samples.sort((a, b) => a - b)[2];
}

function podCreate() {
  const out = join(work, 'podcreate.json');
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/jest/bin/jest.js'), '--selectProjects', 'bench', '--', 'bench/podcreate.bench.ts'], { cwd: ROOT, stdio: 'inherit', env: { ...process.env, PODHOOKS_BENCH_OUT: out } });
  if (r.status !== 0 || !existsSync(out)) fail('the pod-create benchmark failed (see its output above)');
  return JSON.parse(readFileSync(out, 'utf8'));
}

async function main() {
  const bodies = reviewBodies();
  const files = bodies.map((b, i) => {
    const f = join(work, `review-${i}.json`);
    writeFileSync(f, b);
    return f;
  });
  writeFileSync(join(work, 'bodies.txt'), files.join('\n') + '\n');
  const certs = join(work, 'certs');
  execFileSync(process.execPath, [join(ROOT, 'bin/podhooks.js'), 'certs', '--out-dir', certs], { stdio: 'ignore' });
  const cert = join(certs, 'tls.crt');
  const key = join(certs, 'tls.key');
  const podhooksConfig = join(work, 'podhooks.yaml');
  // logLevel info, as deployed; no cluster, no registry (the corpus needs neither).
  writeFileSync(podhooksConfig, `server:\n  address: 127.0.0.1\n  metricsAddress: 127.0.0.1\n  metricsPort: 0\n  certDir: ${certs}\nregistry:\n  enabled: false\nkubernetes:\n  enabled: "false"\n`);
  const healthz = (port) => get(port, '/healthz').then((s) => s === 200);

  const podhooks = (path) => ({
    name: `podhooks ${path}`,
    path,
    start: (port) => start('podhooks', SERVER_NODE, [join(ROOT, 'bin/podhooks.js'), 'serve', '-c', podhooksConfig, '--port', String(port)]),
    ready: healthz,
  });
  const peers = [
    { name: 'no-op node:https', path: '/', start: (port) => start('no-op', SERVER_NODE, [join(__dirname, 'noop-server.js'), cert, key, String(port)]), ready: tcpOpen },
    { name: `agnhost ${K8S_VERSION} (sidecar webhook)`, path: '/mutating-pods-sidecar', start: (port) => start('agnhost', join(K8S_BIN, 'agnhost'), ['webhook', '--tls-cert-file', cert, '--tls-private-key-file', key, '--port', String(port)]), ready: tcpOpen },
    podhooks('/mutate'),
    podhooks('/validate'),
  ];
  console.log(`bench: servers on Node ${SERVER_NODE_VERSION}`);
  console.log(`bench: ${bodies.length} reviews of ${Math.min(...bodies.map((b) => b.length))}-${Math.max(...bodies.map((b) => b.length))} bytes; ${DURATION} s per run, ${CONNECTIONS} connections`);
  const results = await measureAll(peers.filter((p) => !ONLY || p.name.includes(ONLY)));
  if (ONLY) return results.forEach((r) => console.log(JSON.stringify(r)));
  const ready = { cold: await startToReady(true), warm: await startToReady(false) };
  const cluster = args.has('--no-cluster') ? undefined : podCreate();
  report(results, ready, cluster);
}

function report(results, ready, cluster) {
  const noop = results[0].rps;
  const agn = results[1].rps;
  const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
  const lines = [
    '| server | req/s (median) | rounds | × no-op | × agnhost | p50 ms | p99 ms | max ms | errors | p50 @1k/s | p99 @1k/s | max @1k/s | peak RSS MiB |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map((r) =>
      `| ${r.name} | ${Math.round(r.rps)} | ${r.spread.join(' / ')} | ${f(r.rps / noop)} | ${f(r.rps / agn)} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.max)} | ${r.errors + r.fixed.failed} | ${f(r.fixed.p50)} | ${f(r.fixed.p99)} | ${f(r.fixed.max)} | ${f(r.rss, 0)} |`),
    '',
    `Start to ready (podhooks serve, median of 5): ${f(ready.cold, 0)} ms generating a dev CA and certificate, ${f(ready.warm, 0)} ms with existing certificates.`,
  ];
  if (cluster) {
    lines.push('', '| pod create (real kube-apiserver) | pods | p50 ms | p99 ms | mean ms | × none |', '|---|---:|---:|---:|---:|---:|');
    for (const row of cluster.rows) lines.push(`| ${row.name} | ${row.pods} | ${f(row.p50)} | ${f(row.p99)} | ${f(row.mean)} | ${f(row.mean / cluster.rows[0].mean)} |`);
    const api = Object.entries(cluster.calls.apiserverMsPerWebhookCall).map(([name, ms]) => `${name} ${f(ms)} ms`).join(', ');
    lines.push('', `Per webhook call while the podhooks pods were created: the apiserver measured ${api}; podhooks' own handler took ${f(cluster.calls.podhooksHandlerMs.mutate)} ms (mutate) and ${f(cluster.calls.podhooksHandlerMs.validate)} ms (validate).`);
  }
  const table = lines.join('\n');
  console.log('\n' + table + '\n');
  if (args.has('--no-write') || QUICK) return;
  const cpu = (readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) ?? [])[1] ?? 'unknown CPU';
  const wrkVersion = spawnSync(tools.wrk(), ['-v'], { encoding: 'utf8', env: tools.toolEnv() }).stdout.split(' ')[1] ?? '';
  const machine = `${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}, wrk ${wrkVersion}, agnhost and kube-apiserver v${K8S_VERSION}`;
  const major = SERVER_NODE_VERSION.split('.')[0];
  const section =
    `## Servers on Node ${major}\n\nWritten by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}. Machine: ${machine}; servers on Node ${SERVER_NODE_VERSION}.\n` +
    `Each server is pinned to CPU 0 and the load generator to CPU 1; after a warm-up run per server, wrk runs ${ROUNDS} rounds of ${DURATION} s with ${CONNECTIONS} keep-alive connections, interleaved across the servers (the median round is shown, every round under "rounds"), ` +
    `then a paced client sends 1,000 req/s for ${PACED_SECONDS} s over 16 warm connections (latency from each request's scheduled time). ` +
    `Reviews are the golden corpus's pods as the apiserver sends them (defaults, service-account volume, managedFields), 5-10 KB.\n\n${table}\n`;
  // One section per Node major, so runs under Node 20 (the machine) and 24 (the image) sit side by side.
  const file = join(__dirname, 'RESULTS.md');
  const header = '# Benchmark results\n\nRatios are what count: every row of a table comes from the same run on the same machine.\n';
  const sections = new Map();
  // Other sections (e.g. the fuzz benchmark's) are kept as they are.
  if (existsSync(file)) for (const part of readFileSync(file, 'utf8').split(/^(?=## )/m).slice(1)) sections.set(part.split('\n')[0], part.trimEnd() + '\n');
  sections.set(`## Servers on Node ${major}`, section);
  writeFileSync(file, header + [...sections.keys()].sort().map((k) => '\n' + sections.get(k)).join(''));
  console.log('bench: wrote bench/RESULTS.md');
}

main().catch((err) => fail(err.stack ?? err.message));
