// npm run bench:slowclients: what thousands of slow clients cost `podhooks serve`, with
// the connection cap (server.maxConnections, default 1000) and without one, in one run.
// Each client completes the TLS handshake and starts a request whose headers never end
// (slowloris). Prints the server's resident memory before and with the clients, and how
// many connections it held. Everything on 127.0.0.1; servers stopped by PID.
const { spawn } = require('node:child_process');
const { mkdtempSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const { connect } = require('node:tls');

const ROOT = resolve(__dirname, '..');
const CLIENTS = Number(process.env.PODHOOKS_BENCH_CLIENTS ?? 3000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const rssMiB = (pid) => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

async function serve(server) {
  const dir = mkdtempSync(join(tmpdir(), 'podhooks-bench-slow-'));
  const config = { server: { address: '127.0.0.1', port: 0, metricsAddress: '127.0.0.1', metricsPort: 0, certDir: join(dir, 'certs'), ...server }, kubernetes: { enabled: 'false' } };
  writeFileSync(join(dir, 'config.yaml'), JSON.stringify(config));
  const child = spawn(process.execPath, [join(ROOT, 'bin/podhooks.js'), 'serve', '--config', join(dir, 'config.yaml')], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, KUBECONFIG: '' } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  for (let i = 0; i < 400; i++) {
    const m = /"msg":"podhooks serving"/.test(out) && /"port":(\d+)/.exec(out);
    if (m) return { child, dir, port: Number(m[1]) };
    await sleep(50);
  }
  throw new Error(`podhooks did not start: ${out}`);
}

/** Established TCP connections the process holds (its socket inodes in /proc/net/tcp{,6}). */
function establishedConnections(pid) {
  const { readdirSync, readlinkSync } = require('node:fs');
  const inodes = new Set();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      /* closed meanwhile */
    }
  }
  let n = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '01' && inodes.has(f[9])) n++;
    }
  }
  return n;
}

async function run(label, server) {
  const { child, dir, port } = await serve(server);
  await sleep(500);
  const before = rssMiB(child.pid);
  const ca = readFileSync(join(dir, 'certs', 'ca.crt'));
  let settled = 0;
  const sockets = [];
  for (let i = 0; i < CLIENTS; i++) {
    const s = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
    const done = () => {
      if (!s.settled_) settled++;
      s.settled_ = true;
    };
    s.on('secureConnect', () => {
      done();
      s.write('POST /mutate HTTP/1.1\r\nHost: podhooks\r\nContent-Type: application/json\r\n');
    });
    s.on('data', () => undefined);
    s.on('error', done);
    s.on('close', done);
    sockets.push(s);
    if (i % 100 === 99) await sleep(10);
  }
  for (let i = 0; i < 1200 && settled < CLIENTS; i++) await sleep(50);
  await sleep(1000);
  const withClients = rssMiB(child.pid);
  const held = establishedConnections(child.pid);
  for (const s of sockets) s.destroy();
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
  return { label, before, withClients, held };
}

(async () => {
  const rows = [
    // Timeouts long enough that every client is still connected when memory is sampled.
    await run('no cap', { maxConnections: 1e9, headersTimeoutMs: 120_000, requestTimeoutMs: 120_000 }),
    await run('maxConnections 1000 (the default)', { headersTimeoutMs: 120_000, requestTimeoutMs: 120_000 }),
  ];
  console.log(`${CLIENTS} slow TLS clients against podhooks serve (Node ${process.version})`);
  console.log('| server | RSS before | RSS with the clients | growth | connections held |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.label} | ${r.before.toFixed(0)} MiB | ${r.withClients.toFixed(0)} MiB | +${(r.withClients - r.before).toFixed(0)} MiB | ${r.held} |`);
  const [open, capped] = rows;
  console.log(`growth with the cap / growth without: ${((capped.withClients - capped.before) / (open.withClients - open.before)).toFixed(2)}`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
