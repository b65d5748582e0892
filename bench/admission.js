#!/usr/bin/env node
// `npm run bench`: podhooks side by side with the platform's limit (a no-op node:https
// server) and Kubernetes' own e2e webhook (agnhost), in one run, on one machine, with the
// servers on Node 20 (the machine's) and on Node 24 (the image's):
//   - throughput and latency at saturation (wrk over HTTPS keep-alive), for the golden
//     corpus (5-10 KB reviews) and for the 6 KB two-hook pod (preStart + preOnline) as
//     replicas of one template and as one template per pod,
//   - latency at a fixed 1,000 req/s, peak RSS, start-to-ready time,
//   - pod-create latency on a real control plane: podhooks' webhooks, the same webhooks on a
//     no-op server (for the pods as written and for the injected pods, which isolates
//     podhooks' own share), the injected pods created directly, and none (bench/podcreate.bench.ts).
// Each server gets CPU 0, the load generator CPU 1. Everything runs in a private network
// namespace, because agnhost binds all interfaces. Prints a markdown table and writes
// bench/RESULTS.md. Flags: --quick (short runs), --no-cluster (skip pod-create), --no-write,
// --only=<name part> (just those servers, for profiling), --node=20|24 (one Node only).
'use strict';
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const { mkdtempSync, writeFileSync, readFileSync, rmSync, existsSync } = require('node:fs');
const { connect } = require('node:net');
const https = require('node:https');
const os = require('node:os');
const { join, resolve } = require('node:path');
const { reviewBodies, twoHookReplicaBodies, twoHookTemplateBodies } = require('./corpus');
const { report } = require('./report');
const { median } = require('./cpu');
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
/** Reviews of the two-hook pod per workload: more templates than server.templateCacheEntries (256). */
const REPLICAS = 2000;

/**
 * Node 24, the webhook image's runtime: the npm registry's `node` package, cached where
 * the node tier's image builder keeps it (test/node/images/images.js), installed the same way.
 */
function node24() {
  const dir = join(tools.CACHE, 'node24');
  const bin = join(dir, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(bin)) {
    console.log(`bench: installing Node 24 (npm package node@24) into ${dir}`);
    execFileSync('npm', ['install', '--prefix', dir, '--no-save', '--no-audit', '--no-fund', 'node@24'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return bin;
}

// The Node.js versions that run podhooks and the no-op server: the machine's and 24, or
// the one PODHOOKS_BENCH_NODE names.
const NODE_ARG = [...args].find((a) => a.startsWith('--node='))?.slice('--node='.length);
const SERVER_NODES = (process.env.PODHOOKS_BENCH_NODE ? [process.env.PODHOOKS_BENCH_NODE] : [process.execPath, node24()])
  .map((path) => ({ path, version: execFileSync(path, ['--version'], { encoding: 'utf8' }).trim() }))
  .filter((n) => !NODE_ARG || n.version.startsWith(`v${NODE_ARG}.`));

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

function wrk(url, bodies) {
  const out = execFileSync('taskset', ['-c', '1', tools.wrk(), '-t1', `-c${CONNECTIONS}`, `-d${DURATION}s`, '--latency', '-s', join(__dirname, 'wrk-post.lua'), url], {
    env: { ...tools.toolEnv(), BENCH_BODIES: bodies },
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

function paced(url, bodies) {
  const out = execFileSync('taskset', ['-c', '1', process.execPath, join(__dirname, 'paced.js'), url, bodies, '1000', String(PACED_SECONDS)], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop());
}

async function startPeer(peer, node, sizes) {
  const port = nextPort++;
  const child = peer.start(port, node, sizes);
  await waitFor(() => peer.ready(port), peer.name);
  return { peer, child, url: `https://127.0.0.1:${port}${peer.path}`, rounds: [] };
}


/** All servers up at once (idle ones cost nothing); wrk rounds interleaved; then the paced run. */
async function measureAll(peers, node, bodies, sizes) {
  const running = [];
  for (const peer of peers) running.push(await startPeer(peer, node, sizes));
  for (const r of running) wrk(r.url, bodies); // warm-up (JIT, TLS sessions); its numbers are discarded
  for (let round = 0; round < ROUNDS; round++) {
    for (const r of running) {
      r.rounds.push(wrk(r.url, bodies));
      process.stdout.write(`bench: round ${round + 1}: ${r.peer.name} ${Math.round(r.rounds[round].rps)} req/s\n`);
    }
  }
  const results = [];
  for (const r of running) {
    const mid = r.rounds.find((x) => x.rps === median(r.rounds.map((y) => y.rps)));
    const fixed = paced(r.url, bodies);
    results.push({ name: r.peer.name, ...mid, errors: r.rounds.reduce((a, x) => a + x.errors, 0), spread: r.rounds.map((x) => Math.round(x.rps)), fixed, rss: peakRssMiB(r.child.pid) });
    await stop(r.child);
  }
  return results;
}

async function startToReady(cold, node) {
  const samples = [];
  for (let i = 0; i < 5; i++) {
    const dir = join(work, `ready-${cold ? 'cold' : 'warm'}`);
    if (cold) rmSync(dir, { recursive: true, force: true });
    const port = nextPort++;
    const t0 = process.hrtime.bigint();
    const child = start('podhooks (start-to-ready)', node, [join(ROOT, 'bin/podhooks.js'), 'serve', '-c', join(work, 'podhooks.yaml'), '--port', String(port), '--cert-dir', dir]);
    await waitFor(async () => (await get(port, '/readyz')) === 200, 'podhooks');
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await stop(child);
  }
  return samples.sort((a, b) => a - b)[2];
}

function podCreate(node) {
  const out = join(work, 'podcreate.json');
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/jest/bin/jest.js'), '--selectProjects', 'bench', '--', 'bench/podcreate.bench.ts'], { cwd: ROOT, stdio: 'inherit', env: { ...process.env, PODHOOKS_BENCH_OUT: out, PODHOOKS_BENCH_NODE: node } });
  if (r.status !== 0 || !existsSync(out)) fail('the pod-create benchmark failed (see its output above)');
  return JSON.parse(readFileSync(out, 'utf8'));
}

function listFile(name, bodies) {
  const files = bodies.map((b, i) => {
    const f = join(work, `${name}-${i}.json`);
    writeFileSync(f, b);
    return f;
  });
  const list = join(work, `${name}.txt`);
  writeFileSync(list, files.join('\n') + '\n');
  return list;
}

const SIZED = 'no-op node:https, answers sized as podhooks /mutate';

/** A file of uid → the length of podhooks /mutate's answer to that review (default config, as served here). */
async function answerSizes(name, bodies) {
  const { answer } = require('./handler').mutateHandler();
  const sizes = {};
  for (const b of bodies) sizes[JSON.parse(b).request.uid] = Buffer.byteLength(await answer(b.toString('utf8')));
  const file = join(work, `${name}-sizes.json`);
  writeFileSync(file, JSON.stringify(sizes));
  return file;
}

const range = (bodies) => `${Math.min(...bodies.map((b) => b.length))}-${Math.max(...bodies.map((b) => b.length))} bytes`;

async function main() {
  const corpus = reviewBodies();
  // The two-hook pod as a Deployment's replicas (one template: podhooks answers from its
  // per-template cache) and as an Indexed Job's completions (every pod its own template,
  // more of them than the cache holds: every review is injected).
  const twoHook = twoHookReplicaBodies(REPLICAS);
  const templates = twoHookTemplateBodies(REPLICAS);
  const lists = { corpus: listFile('review', corpus), twoHook: listFile('two-hook', twoHook), templates: listFile('template', templates) };
  const sizes = { corpus: await answerSizes('corpus', corpus), twoHook: await answerSizes('two-hook', twoHook), templates: await answerSizes('template', templates) };
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
    start: (port, node) => start('podhooks', node, [join(ROOT, 'bin/podhooks.js'), 'serve', '-c', podhooksConfig, '--port', String(port)]),
    ready: healthz,
  });
  const peers = [
    { name: 'no-op node:https', path: '/', start: (port, node) => start('no-op', node, [join(__dirname, 'noop-server.js'), cert, key, String(port)]), ready: tcpOpen },
    { name: `agnhost ${K8S_VERSION} (sidecar webhook)`, path: '/mutating-pods-sidecar', start: (port) => start('agnhost', join(K8S_BIN, 'agnhost'), ['webhook', '--tls-cert-file', cert, '--tls-private-key-file', key, '--port', String(port)]), ready: tcpOpen },
    // The no-op again, answering each review with as many bytes as podhooks /mutate does.
    { name: SIZED, path: '/', start: (port, node, sizes) => start('no-op (sized)', node, [join(__dirname, 'noop-server.js'), cert, key, String(port), sizes]), ready: tcpOpen },
    podhooks('/mutate'),
    podhooks('/validate'),
  ].filter((p) => !ONLY || p.name.includes(ONLY));
  console.log(`bench: ${corpus.length} corpus reviews of ${range(corpus)}, ${REPLICAS} two-hook pod reviews of ${range(twoHook)} (one template) and of ${range(templates)} (one template each); ${DURATION} s per run, ${CONNECTIONS} connections`);
  for (const node of SERVER_NODES) {
    console.log(`bench: servers on Node ${node.version}`);
    const results = await measureAll(peers, node.path, lists.corpus, sizes.corpus);
    // The issue's reference pod: /validate has nothing to say about it, so /mutate and its peers only.
    const mutating = peers.filter((p) => p.name !== 'podhooks /validate');
    const twoHookResults = await measureAll(mutating, node.path, lists.twoHook, sizes.twoHook);
    const templateResults = await measureAll(mutating, node.path, lists.templates, sizes.templates);
    if (ONLY) {
      [...results, ...twoHookResults, ...templateResults].forEach((r) => console.log(JSON.stringify(r)));
      continue;
    }
    const ready = { cold: await startToReady(true, node.path), warm: await startToReady(false, node.path) };
    const cluster = args.has('--no-cluster') ? undefined : podCreate(node.path);
    report(node.version, { corpus: results, twoHook: twoHookResults, templates: templateResults }, ready, cluster, { write: !args.has('--no-write') && !QUICK, rounds: ROUNDS, duration: DURATION, connections: CONNECTIONS, pacedSeconds: PACED_SECONDS, k8sVersion: K8S_VERSION });
  }
}

main().catch((err) => fail(err.stack ?? err.message));
