// Plumbing for process tests of the scripts in sidecars/bin: run them under the provisioned
// busybox, with only PATH and the given env, and stop everything they started by PID.
// Servers listen on 127.0.0.1 only. Call `cleanup()` in afterEach and `removeDirs()` in afterAll.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { busybox } from './tools';

export const BB = busybox();
export const BIN = resolve(__dirname, '../../sidecars/bin');
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}
export interface Proc {
  pid: number;
  out(): string;
  err(): string;
  exited: Promise<Exit>;
  /** Date.now() when it exited (undefined while it runs). */
  exitedAt(): number | undefined;
}

const children = new Set<ChildProcess>();
const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();
const dirs: string[] = [];

const running = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;

/** `busybox sh sidecars/bin/SCRIPT ARGS` (or any argv with `raw`), with only PATH, PODHOOKS_BUSYBOX and `env`. */
export function start(script: string, args: string[], env: Record<string, string> = {}, raw = false): Proc {
  const argv = raw ? [script, ...args] : [BB, 'sh', join(BIN, script), ...args];
  const child = spawn(argv[0], argv.slice(1), {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PODHOOKS_BUSYBOX: BB, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${script}`);
  children.add(child);
  let out = '';
  let err = '';
  let at: number | undefined;
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.on('exit', () => (at = Date.now()));
  const exited = new Promise<Exit>((res) => child.on('close', (code, signal) => res({ code, signal })));
  return { pid: child.pid, out: () => out, err: () => err, exited, exitedAt: () => at };
}

export async function run(script: string, args: string[], env: Record<string, string> = {}): Promise<Exit & { out: string; err: string }> {
  const p = start(script, args, env);
  const e = await p.exited;
  return { ...e, out: p.out(), err: p.err() };
}

type Maybe<T> = T | undefined | null | false;
/** Polls `fn` until it returns (or resolves to) something truthy; fails after `ms`. */
export async function waitFor<T>(what: string, fn: () => Maybe<T> | Promise<Maybe<T>>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms}ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Resolves with the exit, or rejects if the process is still running after `ms`. */
export function exitWithin(p: Proc, ms: number): Promise<Exit> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`process ${p.pid} still running after ${ms}ms`)), ms);
  });
  return Promise.race([p.exited, late]).finally(() => clearTimeout(timer));
}

export function listen(server: net.Server): Promise<number> {
  servers.push(server);
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(0, '127.0.0.1', () => res((server.address() as net.AddressInfo).port));
  });
}

export function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'podhooks-scripts-'));
  dirs.push(dir);
  return dir;
}

/**
 * preonline.sh in a temp dir: its env (state and log dirs, a termination log, 0.2 s polling,
 * target container app, MARK for hooks to write) with `extra` on top, and where it writes.
 */
export function preOnlineSetup(extra: Record<string, string> = {}) {
  const dir = tmp();
  const termLog = join(dir, 'termination-log');
  writeFileSync(termLog, '');
  const env: Record<string, string> = {
    PODHOOKS_STATE_DIR: join(dir, 'state'),
    PODHOOKS_LOG_DIR: join(dir, 'logs'),
    PODHOOKS_TERMINATION_LOG: termLog,
    PODHOOKS_POLL_INTERVAL_SECONDS: '0.2',
    PODHOOKS_WATCH_INTERVAL_SECONDS: '0.2',
    PODHOOKS_TARGETS: 'app',
    MARK: join(dir, 'hook-ran'),
    ...extra,
  };
  return { dir, env, termLog, online: join(dir, 'state', 'online'), log: join(dir, 'logs', 'pre-online.log') };
}

export const read = (path: string): string => (existsSync(path) ? readFileSync(path, 'utf8') : '');

/** PIDs of the live (non-zombie) processes descending from `pid`, from /proc. */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state !== 'Z') parent.set(Number(name), Number(ppid));
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop()!;
    for (const [child, pp] of parent) if (pp === p) (found.push(child), todo.push(child));
  }
  return found;
}

/** PIDs of live processes whose command line contains `marker` (a unique string the test put there). */
export function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue;
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(marker)) found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** TERM every process started here (so the scripts stop what they started), then KILL; close the servers. */
export async function cleanup(): Promise<void> {
  for (const c of children) if (running(c)) process.kill(c.pid!, 'SIGTERM');
  const deadline = Date.now() + 2000;
  while ([...children].some(running) && Date.now() < deadline) await sleep(50);
  for (const c of children) if (running(c)) process.kill(c.pid!, 'SIGKILL');
  children.clear();
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise((res) => s.close(res))));
}

export function removeDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
