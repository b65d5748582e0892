// The scripts that run inside users' pods (sidecars/bin), run for real under Debian's
// static busybox (Debian's busybox-static, from the cache scripts/provision-debs.sh fills): the preStart wrapper, the
// probe runner, the preOnline runner and the log streamer. Servers are node servers on
// 127.0.0.1; temp dirs stand in for the shared volumes and the termination log. Every
// process started here is stopped by PID in afterEach.
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';
import { BB, BIN, cleanup, descendants, exitWithin, listen, preOnlineSetup, read, removeDirs, run, sleep, start, tmp, waitFor } from '../helpers/scripts';

jest.setTimeout(20_000);

// ---------------------------------------------------------------------------------
// plumbing beyond test/helpers/scripts.ts: certificates, closed ports, /proc fixtures

/** A self-signed certificate for 127.0.0.1. */
function selfSigned(): { key: string; cert: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const key = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(key) as forge.pki.rsa.PrivateKey;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  const name = [{ name: 'commonName', value: '127.0.0.1' }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.sign(forgeKey, forge.md.sha256.create());
  return { key, cert: forge.pki.certificateToPem(cert) };
}

const run_ = run;

/** A port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  const port = await new Promise<number>((res) => s.listen(0, '127.0.0.1', () => res((s.address() as net.AddressInfo).port)));
  await new Promise((res) => s.close(res));
  return port;
}

/** Centiseconds since boot: the clock of /proc/uptime and of process start times (USER_HZ 100). */
function uptimeCs(): number {
  const [up] = readFileSync('/proc/uptime', 'utf8').split(' ');
  const [whole, frac] = up.split('.');
  return Number(whole + frac);
}
const BOOT_ID = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const startOf = (pid: number | string): number => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[19]);

/**
 * /proc as probe.sh sees it inside an app container (PODHOOKS_PROC): PID 1 started at
 * `start` (clock ticks since boot) running `argv`, and this machine's boot id. Calling it
 * again on the same dir is a container restart. The process name has ") " in it, as a
 * hostile or odd binary name may.
 */
function fakeProc(dir: string, start: number, argv: string[]): string {
  mkdirSync(join(dir, '1'), { recursive: true });
  mkdirSync(join(dir, 'sys/kernel/random'), { recursive: true });
  const fields = ['S', '0', '1', '1', '0', '-1', '4194560', ...Array(12).fill('0'), String(start), '1000', '100'];
  writeFileSync(join(dir, '1/stat'), `1 (my) app) ${fields.join(' ')}\n`);
  writeFileSync(join(dir, '1/cmdline'), argv.map((a) => `${a}\0`).join(''));
  writeFileSync(join(dir, 'sys/kernel/random/boot_id'), `${BOOT_ID}\n`);
  return dir;
}
const WRAPPER_ARGV = ['/podhooks/bin/busybox', 'sh', '/podhooks/bin/wrapper.sh', '--', '/app/bin/server'];

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

afterEach(cleanup);
afterAll(removeDirs);

beforeAll(() => {
  if (!existsSync(BB)) throw new Error(`${BB} is missing: install the Debian package busybox-static`);
});

// ---------------------------------------------------------------------------------
// wrapper.sh: preStart

describe('wrapper.sh (preStart)', () => {
  function setup() {
    const dir = tmp();
    const termLog = join(dir, 'termination-log');
    writeFileSync(termLog, '');
    const env = {
      PODHOOKS_CONTAINER: 'app',
      PODHOOKS_LOG_DIR: join(dir, 'logs'),
      PODHOOKS_TERMINATION_LOG: termLog,
      ORDER: join(dir, 'order'),
      MARK: join(dir, 'mark'),
    };
    return { dir, termLog, env, log: join(dir, 'logs', 'app.pre-start.log') };
  }
  const app = (script: string) => ['--', BB, 'sh', '-c', script];

  test('runs the hook first, then execs the app, whose exit code is the container\'s', async () => {
    const { env, log } = setup();
    const p = start('wrapper.sh', app('echo app >> "$ORDER"; echo "app-pid $$"; exit 7'), {
      ...env,
      PODHOOKS_PRE_START: 'echo hook-out; echo hook-err >&2; echo hook >> "$ORDER"',
    });
    const { code } = await p.exited;
    expect(code).toBe(7);
    expect(read(env.ORDER)).toBe('hook\napp\n');

    const out = p.out();
    const at = (s: string) => out.indexOf(s);
    expect(at('podhooks: pre-start hook for container app starting')).toBe(0);
    expect(at('hook-out')).toBeGreaterThan(0);
    expect(at('hook-err')).toBeGreaterThan(at('hook-out'));
    expect(out).toMatch(/podhooks: pre-start hook for container app finished in \d+s\n/);
    expect(at('app-pid')).toBeGreaterThan(at('finished in'));
    // exec: the app is the very process that was started (PID 1 in the container).
    expect(out).toContain(`app-pid ${p.pid}\n`);

    const logged = read(log);
    expect(logged).toContain('pre-start hook for container app starting');
    expect(logged).toContain('hook-out\nhook-err\n');
    expect(logged).toMatch(/finished in \d+s/);
    expect(logged).not.toContain('app-pid');
    expect(p.err()).toBe('');
  });

  test('without PODHOOKS_PRE_START the app runs directly', async () => {
    const { env, log } = setup();
    const p = start('wrapper.sh', [...app('echo "app-pid $$ args $*"; exit 3'), 'argv0', 'a b', 'c'], env);
    const { code } = await p.exited;
    expect(code).toBe(3);
    expect(p.out()).toBe(`app-pid ${p.pid} args a b c\n`);
    expect(existsSync(log)).toBe(false);
  });

  test('SIGTERM to the container process reaches the app', async () => {
    const { env } = setup();
    const p = start(
      'wrapper.sh',
      app('trap \'echo got-term > "$MARK"; kill $s; exit 0\' TERM; "$PODHOOKS_BUSYBOX" sleep 30 & s=$!; echo ready; wait $s; exit 9'),
      { ...env, PODHOOKS_PRE_START: 'echo hook' },
    );
    await waitFor('the app to be ready', () => p.out().includes('ready\n'));
    process.kill(p.pid, 'SIGTERM');
    const { code } = await exitWithin(p, 5000);
    expect(code).toBe(0);
    expect(read(env.MARK)).toBe('got-term\n');
  });

  test.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)('%s while the hook runs stops the hook (and what it started) and the app never runs', async (signal, expected) => {
    const { env } = setup();
    const p = start('wrapper.sh', app('echo app >> "$ORDER"'), {
      ...env,
      PODHOOKS_PRE_START: 'trap \'echo hook-got-term >> "$MARK"; exit 1\' TERM; echo hook-waiting; "$PODHOOKS_BUSYBOX" sleep 30 & wait',
    });
    await waitFor('the hook to start', () => p.out().includes('hook-waiting\n'));
    const tree = descendants(p.pid);
    expect(tree.length).toBeGreaterThan(0);
    process.kill(p.pid, signal);
    const { code } = await exitWithin(p, 5000);
    expect(code).toBe(expected);
    expect(read(env.MARK)).toBe('hook-got-term\n');
    expect(existsSync(env.ORDER)).toBe(false);
    expect(p.out()).toContain('pre-start hook for container app interrupted by a signal');
    await waitFor('the hook\'s processes to be gone', () => tree.every((pid) => !alive(pid)));
  });

  test('a failing hook stops the container with its exit code and a termination message', async () => {
    const { env, termLog, log } = setup();
    const r = await run('wrapper.sh', app('echo app >> "$ORDER"'), { ...env, PODHOOKS_PRE_START: 'echo doing-things; exit 3' });
    const message = 'podhooks: pre-start hook for container app failed with exit code 3; the application was not started';
    expect(r.code).toBe(3);
    expect(r.out).toContain('doing-things');
    expect(r.out).not.toContain('finished in');
    expect(r.err).toBe(`${message}\n`);
    expect(read(termLog)).toBe(`${message}\n`);
    expect(read(log)).toContain(`doing-things\n${message}\n`);
    expect(existsSync(env.ORDER)).toBe(false);
  });

  test('a hook past podhooks.io/pre-start-timeout is stopped (with what it started) and the container fails saying so', async () => {
    const { env, termLog, log } = setup();
    const p = start('wrapper.sh', app('echo app >> "$ORDER"'), {
      ...env,
      PODHOOKS_PRE_START_TIMEOUT_SECONDS: '1',
      // The hook and its child ignore TERM: only the KILL after the stop grace ends them.
      PODHOOKS_PRE_START: 'trap "" TERM; echo slow-hook; "$PODHOOKS_BUSYBOX" sleep 30 & echo child $! >> "$MARK"; wait',
    });
    await waitFor('the hook to start its child', () => read(env.MARK).includes('child'));
    const tree = descendants(p.pid);
    const { code } = await exitWithin(p, 15_000);
    const message = 'podhooks: pre-start hook for container app did not finish within 1s (podhooks.io/pre-start-timeout) and was stopped; the application was not started';
    expect(code).toBe(124);
    expect(p.err()).toBe(`${message}\n`);
    expect(read(termLog)).toBe(`${message}\n`);
    expect(p.out()).toContain('slow-hook\npodhooks: pre-start hook for container app still running after 1s; stopping it\n');
    expect(read(log)).toContain(message);
    expect(existsSync(env.ORDER)).toBe(false);
    await waitFor('the hook\'s processes to be gone', () => tree.every((pid) => !alive(pid)));
  });

  test('a hook within its timeout: the app runs, and outlives the timeout untouched', async () => {
    const { env } = setup();
    const p = start('wrapper.sh', app('echo app-start; "$PODHOOKS_BUSYBOX" sleep 2; echo app-done; exit 5'), {
      ...env,
      PODHOOKS_PRE_START_TIMEOUT_SECONDS: '1',
      PODHOOKS_PRE_START: 'echo quick-hook',
    });
    await waitFor('the app', () => p.out().includes('app-start\n'));
    // Only the app's own child is left: the watchdog is gone before the exec.
    expect(descendants(p.pid).map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(1, 3))).toEqual([['sleep', '2']]);
    const { code, signal } = await exitWithin(p, 10_000);
    expect({ code, signal }).toEqual({ code: 5, signal: null });
    expect(p.out()).toContain('app-done\n');
  });

  test('a timeout that is not a number is a usage error', async () => {
    const { env } = setup();
    const r = await run('wrapper.sh', app('true'), { ...env, PODHOOKS_PRE_START: 'true', PODHOOKS_PRE_START_TIMEOUT_SECONDS: '5m' });
    expect(r.code).toBe(2);
    expect(r.err).toBe("podhooks: wrapper.sh: PODHOOKS_PRE_START_TIMEOUT_SECONDS='5m' is not a whole number of seconds (container app)\n");
  });

  test('usage errors and a missing command exit 127 with a message', async () => {
    const { env, termLog } = setup();
    const noDashes = await run('wrapper.sh', [BB, 'true'], env);
    expect(noDashes.code).toBe(127);
    expect(noDashes.err).toContain('missing --');
    const empty = await run('wrapper.sh', ['--'], env);
    expect(empty.code).toBe(127);
    expect(empty.err).toContain('no command to run after --');
    const missing = await run('wrapper.sh', ['--', 'podhooks-no-such-command', 'x'], { ...env, PODHOOKS_PRE_START: 'echo hook-ran' });
    expect(missing.code).toBe(127);
    expect(missing.out).toContain('hook-ran');
    expect(missing.err).toContain('command not found: podhooks-no-such-command');
    expect(read(termLog)).toContain('command not found: podhooks-no-such-command');
  });
});

// ---------------------------------------------------------------------------------
// probe.sh: the rewritten probes

describe('probe.sh', () => {
  const probe = (args: string[], env: Record<string, string> = {}) => run('probe.sh', args, env);
  let port: number;
  let seen: http.IncomingHttpHeaders[];

  beforeEach(async () => {
    seen = [];
    const server = http.createServer((req, res) => {
      seen.push(req.headers);
      const m = /^\/status\/(\d{3})$/.exec(req.url ?? '');
      if (m) {
        const status = Number(m[1]);
        // The redirect target refuses connections: the 302 alone decides, like the kubelet.
        if (status >= 300 && status < 400) res.setHeader('Location', 'http://127.0.0.1:1/elsewhere');
        res.writeHead(status).end(`status ${status}\n`);
      } else if (req.url === '/needs-header') {
        res.writeHead(req.headers['x-probe'] === 'yes please' ? 200 : 400).end();
      } else {
        res.writeHead(404).end();
      }
    });
    port = await listen(server);
  });

  test('http-get: 200 and 302 pass, 404 and 500 fail with the status', async () => {
    for (const status of [200, 302]) {
      const r = await probe(['--', 'http-get', 'http', '', String(port), `/status/${status}`]);
      expect({ status, code: r.code, out: r.out }).toEqual({ status, code: 0, out: '' });
    }
    for (const status of [404, 500]) {
      const r = await probe(['--', 'http-get', 'http', '127.0.0.1', String(port), `/status/${status}`]);
      expect(r.code).toBe(1);
      expect(r.out).toBe(`podhooks: HTTP probe failed with statuscode: ${status} (http://127.0.0.1:${port}/status/${status})\n`);
    }
    expect(seen[0]['user-agent']).toBe('kube-probe/podhooks');
  });

  test('http-get: headers are sent', async () => {
    expect((await probe(['--', 'http-get', 'http', '', String(port), '/needs-header'])).code).toBe(1);
    const r = await probe(['--', 'http-get', 'http', '', String(port), '/needs-header', 'X-Probe:yes please', 'X-Other:1']);
    expect(r.code).toBe(0);
    expect(seen[seen.length - 1]).toMatchObject({ 'x-probe': 'yes please', 'x-other': '1' });
  });

  test('http-get and tcp: a closed port fails with one line', async () => {
    const closed = String(await closedPort());
    const h = await probe(['--', 'http-get', 'http', '', closed, '/']);
    expect(h.code).toBe(1);
    expect(h.out).toMatch(new RegExp(`^podhooks: HTTP probe of http://127\\.0\\.0\\.1:${closed}/ failed: .*refused\\n$`, 'i'));
    const t = await probe(['--', 'tcp', '', closed]);
    expect(t.code).toBe(1);
    expect(t.out).toMatch(new RegExp(`^podhooks: TCP probe of 127\\.0\\.0\\.1:${closed} failed: .*refused\\n$`, 'i'));
  });

  test('http-get: a server that never answers fails after the timeout', async () => {
    const silent = await listen(net.createServer(() => undefined));
    const r = await probe(['--', 'http-get', 'http', '', String(silent), '/'], { PODHOOKS_PROBE_TIMEOUT: '1' });
    expect(r.code).toBe(1);
    expect(r.out).toBe(`podhooks: HTTP probe of http://127.0.0.1:${silent}/ timed out after 1s\n`);
    expect(r.err).toBe('');
  });

  test('http-get https without openssl in the image: busybox\'s own TLS 1.2 client, no certificate check', async () => {
    // With no `openssl` on PATH busybox wget uses its built-in TLS client. It does not
    // check the (self-signed) certificate, but OpenSSL 3 servers at their default
    // security level refuse its handshake; lenient ones (SECLEVEL=0) accept it.
    const noOpenssl = { PATH: tmp() };
    const tls = selfSigned();
    const handler = (_req: http.IncomingMessage, res: http.ServerResponse) => res.writeHead(204).end();
    const lenient = await listen(https.createServer({ ...tls, ciphers: 'DEFAULT:@SECLEVEL=0', maxVersion: 'TLSv1.2' }, handler));
    expect((await probe(['--', 'http-get', 'https', '', String(lenient), '/'], noOpenssl)).code).toBe(0);
    const strict = await listen(https.createServer(tls, handler));
    const r = await probe(['--', 'http-get', 'https', '', String(strict), '/'], noOpenssl);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^podhooks: HTTP probe of https:\/\/127\.0\.0\.1:\d+\/ failed: .*\(https: busybox wget uses openssl from the image if there is one, else its own TLS 1\.2 client\)\n$/);
  });

  test('tcp: an open port passes', async () => {
    const r = await probe(['--', 'tcp', '127.0.0.1', String(port)]);
    expect(r.code).toBe(0);
  });

  test('exec: the command\'s exit code decides', async () => {
    expect((await probe(['--', 'exec', BB, 'true'])).code).toBe(0);
    const r = await probe(['--', 'exec', BB, 'sh', '-c', 'echo not healthy; echo really >&2; exit 4']);
    expect(r.code).toBe(4);
    expect(r.out).toBe(`podhooks: exec probe '${BB}' failed with exit code 4: not healthy | really\n`);
    const missing = await probe(['--', 'exec', 'podhooks-no-such-command']);
    expect(missing.code).not.toBe(0);
    expect(missing.out).toContain('command not found: podhooks-no-such-command');
  });

  test('none passes; grpc without grpc_health_probe fails saying so; bad usage exits 2', async () => {
    expect(await probe(['--', 'none'])).toMatchObject({ code: 0, out: '' });
    const g = await probe(['--', 'grpc', '', String(port)]);
    expect(g.code).toBe(1);
    expect(g.out).toContain(`${BIN}/grpc_health_probe, which is missing`);
    expect((await probe(['--', 'ftp', 'x'])).code).toBe(2);
    expect((await probe(['--bogus', '--', 'none'])).code).toBe(2);
  });

  test('grpc: the connection and the call together get the timeout, and a timeout says so', async () => {
    // A grpc_health_probe that honours neither of its own timeouts (a connection that
    // takes all of -connect-timeout, then a call that takes all of -rpc-timeout).
    const dir = tmp();
    for (const f of ['probe.sh', 'hooklib.sh']) copyFileSync(join(BIN, f), join(dir, f));
    writeFileSync(join(dir, 'grpc_health_probe'), `#!${BB} sh\nexec ${BB} sleep 30\n`, { mode: 0o755 });
    const p = start(BB, ['sh', join(dir, 'probe.sh'), '--timeout', '1', '--', 'grpc', '', '50051'], { PATH: '/usr/bin:/bin' }, true);
    const { code } = await p.exited;
    // Without the bound the fake would pass after 30 s (exit 0).
    expect([code, p.out()]).toEqual([1, 'podhooks: gRPC probe of 127.0.0.1:50051 timed out after 1s\n']);
  });

  test('--require-file gates the probe on the preOnline mark', async () => {
    const mark = join(tmp(), 'online');
    const closedGate = await probe(['--require-file', mark, '--', 'http-get', 'http', '', String(port), '/status/200']);
    expect(closedGate.code).toBe(1);
    expect(closedGate.out).toBe(`podhooks: not online yet: ${mark} missing (pre-online hook has not succeeded)\n`);
    expect(seen).toHaveLength(0);
    writeFileSync(mark, '');
    expect((await probe(['--require-file', mark, '--', 'http-get', 'http', '', String(port), '/status/200'])).code).toBe(0);
    // Once the gate is open the original probe decides.
    expect((await probe(['--require-file', mark, '--', 'http-get', 'http', '', String(port), '/status/503'])).code).toBe(1);
  });

  test('--timeout is the network check\'s bound: a slow answer passes within it and fails past it', async () => {
    const slow = await listen(http.createServer((_req, res) => setTimeout(() => res.writeHead(200).end(), 1500)));
    const late = await probe(['--timeout', '1', '--', 'http-get', 'http', '', String(slow), '/']);
    expect(late.code).toBe(1);
    expect(late.out).toBe(`podhooks: HTTP probe of http://127.0.0.1:${slow}/ timed out after 1s\n`);
    expect((await probe(['--timeout', '5', '--', 'http-get', 'http', '', String(slow), '/'])).code).toBe(0);
    const tcpSilent = await probe(['--timeout', '5', '--', 'tcp', '', String(slow)]);
    expect(tcpSilent.code).toBe(0);
  });

  describe('--require-online (the preOnline gate)', () => {
    function gate(start: number) {
      const dir = tmp();
      const state = join(dir, 'state');
      mkdirSync(state);
      const proc = fakeProc(join(dir, 'proc'), start, ['/app/bin/server']);
      const check = (...extra: string[]) => probe(['--require-online', state, 'app', ...extra, '--', 'http-get', 'http', '', String(port), '/status/200'], { PODHOOKS_PROC: proc });
      return { state, proc, check, mark: (text: string) => writeFileSync(join(state, 'online'), text) };
    }
    const notOnline = 'podhooks: not online yet: the pre-online hook has not succeeded since container app started\n';

    test('without a mark it fails before asking the app, and publishes this container\'s start', async () => {
      const { state, check } = gate(4242);
      const r = await check();
      expect({ code: r.code, out: r.out }).toEqual({ code: 1, out: notOnline });
      expect(seen).toHaveLength(0);
      expect(read(join(state, 'started.app'))).toBe(`${BOOT_ID} 4242\n`);
    });

    test('a mark taken after this start opens the gate; then the original probe decides', async () => {
      const { check, mark, state } = gate(4242);
      mark(`${BOOT_ID} 4243\n`);
      expect(await check()).toMatchObject({ code: 0, out: '' });
      expect(seen).toHaveLength(1);
      const failing = await probe(['--require-online', state, 'app', '--', 'http-get', 'http', '', String(port), '/status/503'], { PODHOOKS_PROC: join(state, '../proc') });
      expect(failing.code).toBe(1);
    });

    test('a mark from before a restart never holds, however late it was written; nor one from another boot', async () => {
      const { check, mark, proc, state } = gate(4242);
      mark(`${BOOT_ID} 5000\n`);
      expect((await check()).code).toBe(0);
      fakeProc(proc, 5000, ['/app/bin/server']); // the container restarted at the mark's own tick
      expect(await check()).toMatchObject({ code: 1, out: notOnline });
      expect(read(join(state, 'started.app'))).toBe(`${BOOT_ID} 5000\n`);
      mark(`00000000-0000-0000-0000-000000000000 9999\n`);
      expect(await check()).toMatchObject({ code: 1, out: notOnline });
      mark('garbage');
      expect(await check()).toMatchObject({ code: 1, out: notOnline });
    });

    test('a runtime without a boot id still compares starts', async () => {
      const { check, mark, proc, state } = gate(4242);
      rmSync(join(proc, 'sys'), { recursive: true });
      mark('none 4243\n');
      expect((await check()).code).toBe(0);
      expect(read(join(state, 'started.app'))).toBe('none 4242\n');
    });

    test('a state directory it cannot write is named in the failure', async () => {
      const { check, state } = gate(4242);
      chmodSync(state, 0o555);
      // As root the mode does not stop the write; a missing directory always does.
      rmSync(state, { recursive: true, force: true });
      const r = await check();
      expect(r.code).toBe(1);
      expect(r.out).toBe(`podhooks: not online yet: the pre-online hook has not succeeded since container app started (and ${state}/started.app cannot be written, so podhooks-preonline cannot see this start)\n`);
    });

    test('--shared-pid: the start is that of the oldest process in this mount namespace, not PID 1\'s', async () => {
      const state = tmp();
      const r = await probe(['--require-online', state, 'app', '--shared-pid', '--', 'none']);
      expect(r.code).toBe(1);
      const mine = readlinkSync('/proc/self/ns/mnt');
      let oldest = Infinity;
      for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
        try {
          if (readlinkSync(`/proc/${pid}/ns/mnt`) === mine) oldest = Math.min(oldest, startOf(pid));
        } catch {
          // gone, or not ours to read
        }
      }
      expect(read(join(state, 'started.app'))).toBe(`${BOOT_ID} ${oldest}\n`);
    });
  });

  test('--after-pre-start fails while the container\'s first process is still the wrapper, then lets the check run', async () => {
    const proc = fakeProc(tmp(), 100, WRAPPER_ARGV);
    const running = await probe(['--after-pre-start', '--', 'http-get', 'http', '', String(port), '/status/200'], { PODHOOKS_PROC: proc });
    expect(running).toMatchObject({ code: 1, out: "podhooks: pre-start hook still running, so the app has not started; this probe runs the container's own HTTP check once the hook has finished (its failureThreshold allows for the hook's timeout)\n" });
    expect(seen).toHaveLength(0);
    // The readiness probe podhooks adds to a container that had none: no check of its own follows.
    expect(await probe(['--after-pre-start', '--', 'none'], { PODHOOKS_PROC: proc })).toMatchObject({
      code: 1,
      out: 'podhooks: pre-start hook still running; the container has no readiness probe of its own and is ready once the hook has finished and the app has started\n',
    });
    expect((await probe(['--after-pre-start', '--', 'tcp', '', String(port)], { PODHOOKS_PROC: proc })).out).toContain("this probe runs the container's own TCP check once the hook has finished");
    fakeProc(proc, 100, ['/app/bin/server', '--port', '8080']); // the wrapper exec'd the app
    expect((await probe(['--after-pre-start', '--', 'http-get', 'http', '', String(port), '/status/200'], { PODHOOKS_PROC: proc })).code).toBe(0);
    expect((await probe(['--after-pre-start', '--', 'http-get', 'http', '', String(port), '/status/500'], { PODHOOKS_PROC: proc })).code).toBe(1);
  });

  describe('--jdwp-port', () => {
    const header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
    const line = (local: string, remote: string, st: string) =>
      `   0: ${local} ${remote} ${st} 00000000:00000000 00:00000000 00000000  1000        0 12345 1 0000000000000000 20 4 30 10 -1\n`;
    // 5005 = 0x138D
    function procNet(tcp: string, tcp6 = header): string {
      const dir = tmp();
      writeFileSync(join(dir, 'tcp'), header + tcp);
      writeFileSync(join(dir, 'tcp6'), tcp6);
      return dir;
    }
    const failing = ['--', 'exec', BB, 'sh', '-c', 'echo app is paused; exit 1'];

    test('fixture: an ESTABLISHED socket on the local JDWP port passes before the probe', async () => {
      const dir = procNet(line('00000000:138D', '00000000:0000', '0A') + line('0100007F:138D', '0100007F:C350', '01'));
      const r = await probe(['--jdwp-port', '5005', ...failing], { PODHOOKS_PROC_NET: dir });
      expect(r.code).toBe(0);
      expect(r.out).toBe('podhooks: debugger attached on port 5005; liveness passes\n');
    });

    test('fixture: IPv6 sockets count too', async () => {
      const dir = procNet('', header + line('00000000000000000000000001000000:138D', '00000000000000000000000001000000:C350', '01'));
      expect((await probe(['--jdwp-port', '5005', ...failing], { PODHOOKS_PROC_NET: dir })).code).toBe(0);
    });

    test('fixture: LISTEN only, or 5005 as the remote port, falls through to the probe', async () => {
      const dir = procNet(line('00000000:138D', '00000000:0000', '0A') + line('0100007F:C350', '0100007F:138D', '01'));
      const r = await probe(['--jdwp-port', '5005', ...failing], { PODHOOKS_PROC_NET: dir });
      expect(r.code).toBe(1);
      expect(r.out).toContain('app is paused');
    });

    test('a real loopback connection passes; after the client leaves the probe decides', async () => {
      const jdwp = await listen(net.createServer(() => undefined));
      // cleanup() destroys the server's side, which ends this one if the test fails early.
      const client = net.connect(jdwp, '127.0.0.1');
      await new Promise((res) => client.once('connect', res));
      const attached = await probe(['--jdwp-port', String(jdwp), ...failing]);
      expect(attached.code).toBe(0);
      expect(attached.out).toBe(`podhooks: debugger attached on port ${jdwp}; liveness passes\n`);

      client.destroy();
      const r = await waitFor('the probe to fall through', async () => {
        const x = await probe(['--jdwp-port', String(jdwp), ...failing]);
        return x.code !== 0 && x;
      });
      expect(r.code).toBe(1);
      expect(r.out).toContain('app is paused');
    });
  });
});

// ---------------------------------------------------------------------------------
// preonline.sh

describe('preonline.sh', () => {
  interface Health {
    port: number;
    /** /health requests answered, with their status. */
    answers: number[];
    /** For each request to /hook: had /health already answered 200? */
    hookAfterHealthy: boolean[];
  }
  async function healthServer(healthyAfterMs: number): Promise<Health> {
    const t0 = Date.now();
    const h: Health = { port: 0, answers: [], hookAfterHealthy: [] };
    h.port = await listen(
      http.createServer((req, res) => {
        if (req.url === '/health') {
          const status = Date.now() - t0 >= healthyAfterMs ? 200 : 503;
          h.answers.push(status);
          res.writeHead(status).end();
        } else {
          h.hookAfterHealthy.push(h.answers.includes(200));
          res.writeHead(200).end('ok\n');
        }
      }),
    );
    return h;
  }
  const setup = preOnlineSetup;

  test('waits for the check URL, runs the hook once, marks the pod online, exits 0 on TERM', async () => {
    const h = await healthServer(1500);
    const { env, online, log } = setup({
      PODHOOKS_CHECK_URL: `http://127.0.0.1:${h.port}/health`,
      PODHOOKS_PRE_ONLINE: `echo hook-output; "$PODHOOKS_BUSYBOX" wget -q -O /dev/null http://127.0.0.1:${h.port}/hook; echo ran >> "$MARK"`,
    });
    const before = uptimeCs();
    const p = start('preonline.sh', [], env);
    await waitFor('the online mark', () => existsSync(online), 10_000);
    await waitFor('the success line', () => p.out().includes('podhooks: pre-online hook succeeded; pod is now online\n'));
    // "BOOT_ID T": T is when the check that passed was asked, before the hook ran.
    const [boot, t] = read(online).trim().split(' ');
    expect(boot).toBe(BOOT_ID);
    expect(Number(t)).toBeGreaterThanOrEqual(before);
    expect(Number(t)).toBeLessThanOrEqual(uptimeCs());

    expect(h.answers.filter((s) => s === 503).length).toBeGreaterThan(0);
    expect(h.answers[h.answers.length - 1]).toBe(200);
    expect(h.hookAfterHealthy).toEqual([true]);
    expect(read(env.MARK)).toBe('ran\n');
    expect(p.out().indexOf('hook-output')).toBeLessThan(p.out().indexOf('pod is now online'));
    expect(read(log)).toContain('hook-output\n');
    expect(read(log)).toContain('pod is now online');

    process.kill(p.pid, 'SIGTERM');
    expect((await exitWithin(p, 5000)).code).toBe(0);
  });

  test('after a restart of the runner, with the mark holding for the app, the hook does not run again', async () => {
    const h = await healthServer(0);
    const { env, online } = setup({
      PODHOOKS_CHECK_URL: `http://127.0.0.1:${h.port}/health`,
      PODHOOKS_PRE_ONLINE: 'echo ran >> "$MARK"',
    });
    const first = start('preonline.sh', [], env);
    await waitFor('the online mark', () => existsSync(online));
    await waitFor('the success line', () => first.out().includes('pod is now online'));
    process.kill(first.pid, 'SIGINT');
    expect((await exitWithin(first, 5000)).code).toBe(0);

    const again = start('preonline.sh', [], env);
    await waitFor('the restart notice', () => again.out().includes('already succeeded'));
    process.kill(again.pid, 'SIGTERM');
    expect((await exitWithin(again, 5000)).code).toBe(0);
    expect(read(env.MARK)).toBe('ran\n');
  });

  test('an app restart closes the gate: the runner runs the hook again, and the probe passes only after it', async () => {
    const h = await healthServer(0);
    const { dir, env, online } = setup({
      PODHOOKS_CHECK_URL: `http://127.0.0.1:${h.port}/health`,
      PODHOOKS_PRE_ONLINE: 'echo ran >> "$MARK"',
    });
    // The app container: started a second ago; its readiness probe is probe.sh --require-online.
    const proc = fakeProc(join(dir, 'app-proc'), uptimeCs() - 100, ['/app/bin/server']);
    const readiness = () => run('probe.sh', ['--require-online', env.PODHOOKS_STATE_DIR, 'app', '--', 'none'], { PODHOOKS_PROC: proc });
    const p = start('preonline.sh', [], env);
    await waitFor('the online mark', () => existsSync(online));
    expect((await readiness()).code).toBe(0);
    expect(read(env.MARK)).toBe('ran\n');

    // The app container restarts (a new first process). Nothing clears the mark, but it
    // no longer holds: the probe fails and publishes the new start ...
    fakeProc(proc, uptimeCs(), ['/app/bin/server']);
    const closed = await readiness();
    expect(closed).toMatchObject({ code: 1, out: 'podhooks: not online yet: the pre-online hook has not succeeded since container app started\n' });
    // ... which the runner sees: the hook runs again, and then the gate opens.
    await waitFor('the second run', () => read(env.MARK) === 'ran\nran\n', 10_000);
    await waitFor('the gate to open again', async () => (await readiness()).code === 0, 10_000);
    expect(p.out()).toContain('podhooks: pre-online: container app restarted; running the pre-online hook again before it takes traffic\n');
    // The runner writes the mark, then says so: the gate can open before that line is read.
    await waitFor('the second success line', () => p.out().match(/pod is now online/g)?.length === 2);
    process.kill(p.pid, 'SIGTERM');
    expect((await exitWithin(p, 5000)).code).toBe(0);
  });

  test('without PODHOOKS_TARGETS it refuses to start', async () => {
    const { env } = setup({ PODHOOKS_CHECK_URL: 'http://127.0.0.1:1/', PODHOOKS_TARGETS: '' });
    const r = await run('preonline.sh', [], env);
    expect(r.code).toBe(2);
    expect(r.err).toBe('podhooks: pre-online: PODHOOKS_TARGETS (the gated containers) is not set\n');
  });

  test('a URL that never passes times out: exit 1, termination message, no hook, no mark', async () => {
    const closed = await closedPort();
    const url = `http://127.0.0.1:${closed}/health`;
    const { env, online, termLog, log } = setup({ PODHOOKS_CHECK_URL: url, PODHOOKS_TIMEOUT_SECONDS: '2', PODHOOKS_PRE_ONLINE: 'echo ran >> "$MARK"' });
    const r = await run('preonline.sh', [], env);
    const message = `podhooks: pre-online: ${url} did not pass within 2s; the pod stays unready\n`;
    expect(r.code).toBe(1);
    expect(r.err).toBe(message);
    expect(read(termLog)).toBe(message);
    expect(read(log)).toContain(message);
    expect(existsSync(online)).toBe(false);
    expect(existsSync(env.MARK)).toBe(false);
  });

  test('a failing hook exits with its code and leaves the pod unready', async () => {
    const h = await healthServer(0);
    const { env, online, termLog } = setup({ PODHOOKS_CHECK_URL: `http://127.0.0.1:${h.port}/health`, PODHOOKS_PRE_ONLINE: 'echo trying; exit 5' });
    const r = await run('preonline.sh', [], env);
    expect(r.code).toBe(5);
    expect(r.out).toContain('trying');
    expect(r.err).toBe('podhooks: pre-online hook failed with exit code 5; the pod stays unready\n');
    expect(read(termLog)).toContain('exit code 5');
    expect(existsSync(online)).toBe(false);
  });
});

// ---------------------------------------------------------------------------------
// logstream.sh

describe('logstream.sh', () => {
  test('streams lines from files created after it started, prefixed, and exits 0 on TERM', async () => {
    const dir = tmp();
    const preStart = join(dir, 'app.pre-start.log');
    const preOnline = join(dir, 'pre-online.log');
    const p = start('logstream.sh', [preStart, preOnline]);
    await waitFor('the streamer to start', () => p.out().includes('podhooks: streaming hook logs'));
    await waitFor('one tail per file', () => descendants(p.pid).length >= 4);
    await sleep(300);

    writeFileSync(preStart, 'one\ntwo\n');
    await waitFor('the first lines', () => p.out().includes('[app pre-start] one\n[app pre-start] two\n'));
    writeFileSync(preOnline, 'three\n', { flag: 'a' });
    writeFileSync(preStart, 'four\n', { flag: 'a' });
    await waitFor('the later lines', () => p.out().includes('[pre-online] three\n') && p.out().includes('[app pre-start] four\n'));

    const tree = descendants(p.pid);
    process.kill(p.pid, 'SIGTERM');
    expect((await exitWithin(p, 5000)).code).toBe(0);
    await waitFor('the tails to be gone', () => tree.every((pid) => !alive(pid)));
  });

  test('without files it is a usage error', async () => {
    const r = await run('logstream.sh', []);
    expect(r.code).toBe(2);
    expect(r.err).toContain('usage');
  });
});

// ---------------------------------------------------------------------------------
// classic sidecars that end with the app (injection.nativeSidecars "false", Jobs)

describe('classic sidecars end with the app containers (run FIFOs)', () => {
  test('logstream.sh, preonline.sh and sidecar.sh end with exit 0 once every watched app has ended: one before they started, one killed', async () => {
    const dir = tmp();
    const run = join(dir, 'run');
    const logs = join(dir, 'logs');
    const appEnv = (name: string, hook = '') => ({ PODHOOKS_RUN_DIR: run, PODHOOKS_CONTAINER: name, PODHOOKS_LOG_DIR: logs, PODHOOKS_PRE_START: hook, PODHOOKS_TERMINATION_LOG: join(dir, `${name}.term`) });
    mkdirSync(run);
    // "quick" runs and ends before any sidecar starts; "slow" runs until it is killed.
    const quick = await run_('wrapper.sh', ['--', BB, 'true'], appEnv('quick', 'echo quick-hook'));
    expect(quick.code).toBe(0);
    const slow = start('wrapper.sh', ['--', BB, 'sleep', '60'], appEnv('slow'));
    await waitFor('slow to hold its FIFO', () => existsSync(join(run, 'slow.started')));

    const watch = { PODHOOKS_END_WITH: `${join(run, 'quick')} ${join(run, 'slow')}` };
    const streamer = start('logstream.sh', [join(logs, 'quick.pre-start.log')], watch);
    const runner = start('preonline.sh', [], { ...watch, PODHOOKS_TARGETS: 'slow', PODHOOKS_CHECK_URL: `http://127.0.0.1:${await closedPort()}/`, PODHOOKS_STATE_DIR: join(dir, 'state'), PODHOOKS_LOG_DIR: logs });
    const proxy = start('sidecar.sh', ['--', BB, 'sleep', '60'], watch);
    await waitFor('the streamer to print the hook log', () => streamer.out().includes('[quick pre-start] quick-hook'));
    await waitFor('the runner to poll', () => runner.out().includes('pre-online: waiting for'));
    // slow is alive: nobody ends yet (its FIFO has a holder), across several checks.
    await sleep(2500);
    const proxied = descendants(proxy.pid);
    expect([streamer, runner, proxy].every((p) => alive(p.pid))).toBe(true);

    process.kill(slow.pid, 'SIGKILL');
    for (const p of [streamer, runner, proxy]) expect((await p.exited).code).toBe(0);
    expect(streamer.out()).toContain('podhooks: logstream: the app containers have ended');
    expect(runner.out()).toContain('pre-online: the app containers have ended; stopping');
    expect(proxy.out()).toContain(`podhooks: the app containers have ended; stopping ${BB}`);
    await waitFor('the proxied command to be stopped', () => proxied.every((pid) => !alive(pid)));
  });

  test('a failing hook ends them too, while what the hook left running holds nothing', async () => {
    const dir = tmp();
    const run = join(dir, 'run');
    mkdirSync(run);
    const proxy = start('sidecar.sh', ['--', BB, 'sleep', '60'], { PODHOOKS_END_WITH: join(run, 'app') });
    const app = await run_('wrapper.sh', ['--', BB, 'sleep', '60'], {
      PODHOOKS_RUN_DIR: run,
      PODHOOKS_CONTAINER: 'app',
      PODHOOKS_LOG_DIR: join(dir, 'logs'),
      PODHOOKS_PRE_START: `"$PODHOOKS_BUSYBOX" sleep 60 >/dev/null 2>&1 & exit 3`,
      PODHOOKS_TERMINATION_LOG: join(dir, 'term'),
    });
    expect(app.code).toBe(3);
    expect((await proxy.exited).code).toBe(0);
  });
});
