// Shared by the process tests and `npm run bench:authz`: build the real authz client,
// start the reference service, and run one client process per injected pod with exactly
// the env the webhook wrote into its podhooks-authz init container (downward API fields
// resolved the way the kubelet would).
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const { createHash, randomUUID } = require('node:crypto');
const { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } = require('node:fs');
const os = require('node:os');
const { join, resolve } = require('node:path');

const ROOT = resolve(__dirname, '../..');
const CLIENT_DIR = join(ROOT, 'sidecars/authz-client');

/** go build into ~/.cache/podhooks/authz-client/<hash of sources>/, once per source change. */
function buildClient() {
  const hash = createHash('sha256');
  for (const f of readdirSync(CLIENT_DIR).sort()) hash.update(f).update(readFileSync(join(CLIENT_DIR, f)));
  const dir = join(process.env.PODHOOKS_CACHE ?? join(os.homedir(), '.cache/podhooks'), 'authz-client', hash.digest('hex').slice(0, 16));
  const bin = join(dir, 'podhooks-authz');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  execFileSync('go', ['build', '-trimpath', '-o', tmp, '.'], {
    cwd: CLIENT_DIR,
    env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '', GOWORK: 'off' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  renameSync(tmp, bin); // atomic: concurrent builders never see a half-written binary
  return bin;
}

/** Starts test/authz-service/server.js; resolves once it listens. */
function startService(args = []) {
  const host = args.includes('--host') ? args[args.indexOf('--host') + 1] : '127.0.0.1';
  return new Promise((resolvePromise, reject) => {
    const proc = spawn(process.execPath, [join(__dirname, 'server.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stderr.on('data', (c) => (err += c));
    proc.once('exit', (code) => reject(new Error(`authz service exited with ${code}: ${err}`)));
    proc.stdout.on('data', (c) => {
      out += c;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      const { port } = JSON.parse(out.slice(0, nl));
      const exited = new Promise((r) => proc.once('exit', r));
      resolvePromise({
        port,
        url: `http://${host}:${port}/v1/registrations`,
        pid: proc.pid,
        async stats() {
          const res = await fetch(`http://${host}:${port}/stats`);
          return res.json();
        },
        async stop() {
          if (proc.exitCode === null && proc.signalCode === null) process.kill(proc.pid, 'SIGTERM');
          await exited;
        },
      });
    });
  });
}

/** The podhooks-authz container of an injected pod, or undefined. */
function authzContainer(pod) {
  return (pod.spec.initContainers ?? []).find((c) => c.name === 'podhooks-authz');
}

/** Env as the kubelet would give it: fieldRefs resolved against the pod (an absent annotation is ""). */
function resolveEnv(pod, container, fields) {
  const env = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else {
      const path = e.valueFrom.fieldRef.fieldPath;
      const ann = /^metadata\.annotations\['(.+)'\]$/.exec(path);
      if (ann) env[e.name] = pod.metadata.annotations?.[ann[1]] ?? '';
      else if (path in fields) env[e.name] = fields[path];
      else throw new Error(`fieldRef ${path} is not resolved by this harness`);
    }
  }
  return env;
}

/** One client process with exactly `env` (plus PATH); resolves when it exits. */
function runClient(binary, env, termination) {
  const started = performance.now();
  return new Promise((done) => {
    const proc = spawn(binary, [], { env: { PATH: process.env.PATH, PODHOOKS_TERMINATION_LOG: termination, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c) => (stdout += c));
    proc.stderr.on('data', (c) => (stderr += c));
    proc.on('close', (code) => {
      const summary = /outcome=(\S+) attempts=(\d+)/.exec(stdout);
      done({
        uid: env.PODHOOKS_POD_UID,
        code,
        outcome: summary?.[1],
        attempts: summary ? Number(summary[2]) : undefined,
        offsetMs: Number(env.PODHOOKS_AUTHZ_START_OFFSET_MS || 0),
        maxAttempts: Number(env.PODHOOKS_AUTHZ_MAX_ATTEMPTS || 6),
        elapsedMs: performance.now() - started,
        stdout,
        stderr,
        termination: existsSync(termination) ? readFileSync(termination, 'utf8') : '',
      });
    });
  });
}

/**
 * Runs the client of every injected pod at once, as a rollout's init containers would.
 * Resolves with one result per pod: exit code, outcome and attempts (from its summary line).
 */
function runClients(binary, pods, { url, env: extra = {} } = {}) {
  const dir = mkdtempSync(join(os.tmpdir(), 'podhooks-authz-'));
  const runs = pods.map((pod, i) => {
    const container = authzContainer(pod);
    if (!container) throw new Error(`pod ${i} has no podhooks-authz init container`);
    const env = resolveEnv(pod, container, {
      'status.podIP': `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      'metadata.name': pod.metadata.name || `${pod.metadata.generateName ?? 'pod-'}${i}`,
      'metadata.namespace': pod.metadata.namespace ?? 'default',
      'metadata.uid': randomUUID(),
    });
    if (url) env.PODHOOKS_AUTHZ_URL = url;
    return runClient(binary, { ...env, ...extra }, join(dir, `termination-${i}`));
  });
  return Promise.all(runs).finally(() => rmSync(dir, { recursive: true, force: true }));
}

/** Pod i of the Deployment `app` ("web" by default), as its ReplicaSet controller creates it (port 9090 is whitelisted). */
function rolloutPod(i, app = 'web') {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${app}-7d9f8c6b5-`,
      namespace: 'shop',
      labels: { 'pod-template-hash': '7d9f8c6b5', tier: `t${i % 3}` },
      annotations: { 'podhooks.io/authz': 'true' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${app}-7d9f8c6b5`, uid: `rs-${app}`, controller: true }],
    },
    spec: { containers: [{ name: 'app', image: `registry.example.com/shop/${app}:1`, command: [`/${app}`], ports: [{ containerPort: 8443 }, { containerPort: 9090 }] }] },
  };
}

module.exports = { buildClient, startService, authzContainer, resolveEnv, runClient, runClients, rolloutPod };
