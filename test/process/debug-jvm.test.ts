// Debug mode end to end without a cluster, with the real programs: a small Java HTTP app
// started with exactly the JAVA_TOOL_OPTIONS the webhook injects, the injected socat
// command line, the rewritten liveness probe (sidecars/bin/probe.sh under busybox, exactly
// as injected), and jdb attached through socat. A JVM stopped at a breakpoint fails its
// original probe but passes the rewritten one; once the debugger is gone and the app is
// dead, the rewritten probe fails; a healthy app passes. Everything listens on 127.0.0.1;
// every process is stopped by PID in afterAll.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { parseConfig } from '../../src/config';
import { injectPod } from '../../src/mutate/inject';
import { probeCheckArgs } from '../../src/mutate/probes';
import { socatCommand } from '../../src/mutate/debug';
import { freePort } from '../helpers/ports';
import { busybox, socat as socatPath, toolEnv } from '../helpers/tools';

jest.setTimeout(180_000);

const BB = busybox();
const SIDECARS = resolve(__dirname, '../../sidecars/bin');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const APP = `
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.Executors;

public class App {
  static int work(int n) {
    int doubled = n * 2; // the debugger stops here (stop in App.work)
    return doubled;
  }

  static void reply(HttpExchange ex, String body) throws IOException {
    byte[] b = body.getBytes();
    ex.sendResponseHeaders(200, b.length);
    ex.getResponseBody().write(b);
    ex.close();
  }

  public static void main(String[] args) throws Exception {
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", Integer.parseInt(args[0])), 50);
    server.createContext("/health", ex -> reply(ex, "ok"));
    server.createContext("/work", ex -> reply(ex, String.valueOf(work(21))));
    // A pool: /health has its own threads, so only a VM-wide suspension stops it.
    server.setExecutor(Executors.newFixedThreadPool(4));
    server.start();
    System.out.println("app listening");
  }
}
`;

interface Proc {
  child: ChildProcess;
  out(): string;
}

const procs: Proc[] = [];
let dir = '';

function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, stdin = false): Proc {
  // Own process group, so socat's forked children go with it.
  const child = spawn(cmd, args, { env: { PATH: process.env.PATH, ...env }, stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], detached: true });
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const p = { child, out: () => out };
  procs.push(p);
  return p;
}

const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

function stop(p: Proc, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (!alive(p.child)) return Promise.resolve();
  const gone = new Promise<void>((r) => p.child.once('exit', () => r()));
  try {
    process.kill(-p.child.pid!, signal);
  } catch {
    /* already gone */
  }
  return gone;
}

afterAll(async () => {
  await Promise.all(procs.map((p) => stop(p)));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Polls `check` until it returns true; generous deadline, no timing asserted. */
async function until(what: string, check: () => boolean | Promise<boolean>, deadlineMs = 60_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await sleep(100);
  }
}

/** Runs a probe command as the kubelet would: exit code and output. */
function probe(command: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((res) => {
    const child = spawn(command[0], command.slice(1), { env: { PATH: process.env.PATH, PODHOOKS_BUSYBOX: BB }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => res({ code, out }));
  });
}

const listening = (port: number) =>
  new Promise<boolean>((res) => {
    const s = net.connect(port, '127.0.0.1', () => (s.destroy(), res(true)));
    s.on('error', () => res(false));
  });

/** Local addresses listening on `port` (state 0A in /proc/net/tcp{,6}); 0100007F is 127.0.0.1. */
function listeners(port: number): string[] {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return [...readFileSync('/proc/net/tcp', 'utf8').split('\n'), ...readFileSync('/proc/net/tcp6', 'utf8').split('\n')]
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[3] === '0A' && f[1]?.endsWith(`:${hex}`))
    .map((f) => f[1]);
}

/** Connects, sends a line, and returns what came back before the peer closed. */
function exchange(port: number): Promise<string> {
  return new Promise((res) => {
    let got = '';
    const s = net.connect(port, '127.0.0.1', () => s.write('ping\n'));
    s.on('data', (d) => {
      got += d.toString();
      if (got.includes('\n')) s.end();
    });
    s.on('close', () => res(got));
    s.on('error', () => res(got));
  });
}

test('network exposure (debug.network): socat admits only peers in the allowed CIDR', async () => {
  const echo = net.createServer((c) => c.on('data', (d) => c.write(`jdwp:${d}`)));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  const jvmPort = (echo.address() as net.AddressInfo).port;
  try {
    for (const [allowFrom, admitted] of [
      ['127.0.0.0/8', true],
      ['192.0.2.0/24', false],
    ] as const) {
      const debugPort = await freePort();
      const [bin, ...args] = socatCommand(debugPort, jvmPort, allowFrom);
      expect(args[2]).toBe(`TCP-LISTEN:${debugPort},fork,reuseaddr,range=${allowFrom}`);
      // In a pod it listens on every address; here only on loopback (test servers stay on 127.0.0.1).
      args[2] = args[2].replace('fork,', 'bind=127.0.0.1,fork,');
      expect(bin).toBe('socat');
      const proxy = start(socatPath(), args, toolEnv());
      await until('socat to listen', () => listening(debugPort));
      expect({ allowFrom, answer: await exchange(debugPort) }).toEqual({ allowFrom, answer: admitted ? 'jdwp:ping\n' : '' });
      if (!admitted) await until('socat to log the refusal', () => /refusing connection from AF=2 127\.0\.0\.1:\d+ .*due to range option/.test(proxy.out()));
      await stop(proxy);
    }
  } finally {
    await new Promise((r) => echo.close(r));
  }
});

test('a JVM at a breakpoint survives its rewritten liveness probe, and only while a debugger is attached', async () => {
  dir = mkdtempSync(join(tmpdir(), 'podhooks-debug-'));
  const [appPort, debugPort, jvmPort] = [await freePort(), await freePort(), await freePort()];

  // --- what the webhook injects, taken from the injection code itself
  const config = parseConfig({ debug: { jvmPort } });
  const livenessProbe = { httpGet: { path: '/health', port: 'http' }, timeoutSeconds: 1, periodSeconds: 10, failureThreshold: 3 };
  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'app', namespace: 'dev', annotations: { 'podhooks.io/debug': 'true', 'podhooks.io/debug-port': String(debugPort) } },
    spec: { containers: [{ name: 'app', image: 'java:17', command: ['java', '-cp', '/app', 'App'], ports: [{ name: 'http', containerPort: appPort }], livenessProbe }] },
  };
  const injected = injectPod(pod, { config, nativeSidecars: true });
  expect(injected.errors).toEqual([]);
  const app = injected.pod.spec!.containers.find((c) => c.name === 'app')!;
  const socatSidecar = injected.pod.spec!.initContainers!.find((c) => c.name === 'podhooks-debug')!;
  const javaToolOptions = app.env!.find((e) => e.name === 'JAVA_TOOL_OPTIONS')!.value!;
  // In the pod, /podhooks/bin holds the tools image's busybox and scripts; here the host's.
  const toHost = (arg: string) => (arg === '/podhooks/bin/busybox' ? BB : arg.startsWith('/podhooks/bin/') ? join(SIDECARS, arg.slice('/podhooks/bin/'.length)) : arg);
  const rewritten = app.livenessProbe!.exec!.command!.map(toHost);
  expect(rewritten).toContain('--jdwp-port');
  const original = [BB, 'sh', join(SIDECARS, 'probe.sh'), '--', ...probeCheckArgs(livenessProbe, pod.spec!.containers[0] as V1Container, 'livenessProbe')];
  expect(original.slice(4)).toEqual(['http-get', 'http', '', String(appPort), '/health']);

  // --- the app, with exactly the injected JVM options
  writeFileSync(join(dir, 'App.java'), APP);
  execFileSync('javac', ['-g', '-d', dir, join(dir, 'App.java')]);
  const java = start('java', ['-cp', dir, 'App', String(appPort)], { JAVA_TOOL_OPTIONS: javaToolOptions });
  await until('the app to listen', () => java.out().includes('app listening'));
  expect(java.out()).toContain(`Picked up JAVA_TOOL_OPTIONS: ${javaToolOptions}`);
  // The JDWP agent listens on loopback only: 0100007F is 127.0.0.1 in /proc/net/tcp.
  const hex = jvmPort.toString(16).toUpperCase().padStart(4, '0');
  expect(listeners(jvmPort)).toEqual([`0100007F:${hex}`]);

  // --- the injected socat command line, run by the provisioned Debian socat
  const [socatBin, ...socatArgs] = socatSidecar.command!;
  expect(socatBin).toBe('socat');
  const socat = start(socatPath(), socatArgs, toolEnv());
  await until('socat to listen on the debug port', () => listening(debugPort));
  // Private by default: the debug port, too, listens on 127.0.0.1 only (kubectl port-forward).
  expect(listeners(debugPort)).toEqual([`0100007F:${debugPort.toString(16).toUpperCase().padStart(4, '0')}`]);

  // --- healthy app: both probes pass; the rewritten one by the original check (no debugger yet)
  expect((await probe(original)).code).toBe(0);
  const healthy = await probe(rewritten);
  expect(healthy).toEqual({ code: 0, out: '' });

  // --- jdb through socat, stop at a breakpoint with the default suspend policy (all threads)
  const jdb = start('jdb', ['-connect', `com.sun.jdi.SocketAttach:hostname=127.0.0.1,port=${debugPort}`], {}, true);
  await until('jdb to attach', () => /Initializing jdb|VM Started|> $/m.test(jdb.out()));
  jdb.child.stdin!.write('stop in App.work\n');
  await until('the breakpoint to be set', () => /Set breakpoint App\.work/.test(jdb.out()));
  const work = http.get({ host: '127.0.0.1', port: appPort, path: '/work' });
  work.on('error', () => undefined);
  await until('the breakpoint to be hit', () => /Breakpoint hit: .*App\.work/.test(jdb.out()));

  const stoppedOriginal = await probe(original);
  expect(stoppedOriginal.code).not.toBe(0);
  expect(stoppedOriginal.out).toMatch(/HTTP probe of http:\/\/127\.0\.0\.1:\d+\/health timed out after 1s/);
  const stoppedRewritten = await probe(rewritten);
  expect(stoppedRewritten).toEqual({ code: 0, out: `podhooks: debugger attached on port ${jvmPort}; liveness passes\n` });

  // --- the debugger detaches (the VM resumes): the rewritten probe passes by the app's own answer
  jdb.child.stdin!.write('clear App.work\n');
  await until('the breakpoint to be cleared', () => /Removed: breakpoint App\.work/.test(jdb.out()));
  jdb.child.stdin!.write('exit\n');
  await new Promise<void>((r) => (alive(jdb.child) ? jdb.child.once('exit', () => r()) : r()));
  await until('the app to answer again without a debugger', async () => {
    const r = await probe(rewritten);
    return r.code === 0 && r.out === '';
  });

  // --- the app dies: the rewritten probe fails like the original one
  await stop(java);
  await until('the rewritten probe to fail', async () => (await probe(rewritten)).code !== 0);
  const dead = await probe(rewritten);
  expect(dead.code).toBe(1);
  expect(dead.out).toMatch(/^podhooks: HTTP probe of http:\/\/127\.0\.0\.1:\d+\/health failed: /);
  expect(alive(socat.child)).toBe(true);
});
