// Starts the real `podhooks serve` (compiled CLI) on 127.0.0.1 with ephemeral ports and
// a temp cert dir; stops it by PID. Used by the process and e2e tiers.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { request as httpsRequest, type Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';

export const ROOT = resolve(__dirname, '../..');
export const CLI = join(ROOT, 'bin/podhooks.js');

export interface Podhooks {
  port: number;
  metricsPort: number;
  dir: string;
  ca: string;
  proc: ChildProcess;
  /** Every JSON log line so far. */
  logs(): Record<string, any>[];
  waitForLog(pred: (l: Record<string, any>) => boolean, timeoutMs?: number): Promise<Record<string, any>>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startPodhooks(config: Record<string, any> = {}, env: NodeJS.ProcessEnv = {}): Promise<Podhooks> {
  const dir = mkdtempSync(join(tmpdir(), 'podhooks-'));
  const full = {
    ...config,
    server: { address: '127.0.0.1', port: 0, metricsAddress: '127.0.0.1', metricsPort: 0, certDir: join(dir, 'certs'), ...config.server },
    kubernetes: { enabled: 'false', ...config.kubernetes },
  };
  writeFileSync(join(dir, 'config.yaml'), stringify(full));
  // PODHOOKS_BENCH_NODE: the benchmarks run the server under another Node.js (e.g. 24).
  const proc = spawn(process.env.PODHOOKS_BENCH_NODE || process.execPath, [CLI, 'serve', '--config', join(dir, 'config.yaml')], {
    env: { ...process.env, KUBECONFIG: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, any>[] = [];
  let stderr = '';
  let buffered = '';
  const waiters: { pred: (l: Record<string, any>) => boolean; resolve: (l: Record<string, any>) => void }[] = [];
  proc.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        const parsed = JSON.parse(line);
        lines.push(parsed);
        for (const w of [...waiters]) if (w.pred(parsed)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(parsed));
      } catch {
        /* not a log line */
      }
    }
  });
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));

  const waitForLog = (pred: (l: Record<string, any>) => boolean, timeoutMs = 10_000) => {
    const found = lines.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise<Record<string, any>>((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`log line not seen within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
      waiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolvePromise(l)) });
      exited.then((code) => reject(new Error(`podhooks exited with ${code}: ${stderr}`)));
    });
  };
  // Generous: certificates.mode secret may wait for another replica to issue the certificate.
  const serving = await waitForLog((l) => l.msg === 'podhooks serving', 60_000);
  return {
    port: serving.port,
    metricsPort: serving.metricsPort,
    dir,
    // certificates.mode secret keeps no files; such callers read the CA from the Secret.
    ca: existsSync(join(full.server.certDir, 'ca.crt')) ? readFileSync(join(full.server.certDir, 'ca.crt'), 'utf8') : '',
    proc,
    logs: () => lines,
    waitForLog,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null && !proc.killed) proc.kill(signal);
      const code = await exited;
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): any;
}

/** One HTTPS request to podhooks; pass a keep-alive `agent` to reuse connections under load. */
export function post(ph: Pick<Podhooks, 'port' | 'ca'>, path: string, body: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }, method = 'POST', agent?: Agent): Promise<HttpAnswer> {
  return new Promise((resolvePromise, reject) => {
    const req = httpsRequest({ agent, host: '127.0.0.1', port: ph.port, path, method, ca: ph.ca, servername: 'localhost', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolvePromise({ status: res.statusCode!, headers: res.headers, body: text, json: () => JSON.parse(text) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The metrics port's /metrics text (plain HTTP on 127.0.0.1). */
export function metricsText(ph: Pick<Podhooks, 'metricsPort'>): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    httpGet({ host: '127.0.0.1', port: ph.metricsPort, path: '/metrics' }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolvePromise(text));
    }).on('error', reject);
  });
}

export function review(object: unknown, extra: Record<string, unknown> = {}): Record<string, any> {
  const o = object as { kind?: string; metadata?: { namespace?: string; name?: string } };
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `uid-${Math.random().toString(16).slice(2)}`,
      kind: { group: '', version: 'v1', kind: o.kind ?? 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: o.metadata?.namespace ?? 'default',
      name: o.metadata?.name,
      operation: 'CREATE',
      userInfo: { username: 'alice@example.com', groups: ['system:authenticated'] },
      object,
      dryRun: false,
      ...extra,
    },
  };
}
