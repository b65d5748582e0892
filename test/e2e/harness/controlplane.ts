// A real control plane for tests, like controller-runtime's envtest: etcd,
// kube-apiserver and kube-controller-manager on 127.0.0.1 with free ports, a fresh data
// dir, a token-authenticated admin, always stopped by PID.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { freePort } from '../../helpers/ports';

export const K8S_VERSION = process.env.PODHOOKS_K8S_VERSION ?? '1.37.2';

export function binDir(): string {
  const cache = process.env.PODHOOKS_K8S_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'podhooks', 'k8s', `v${K8S_VERSION}`);
  return join(cache, 'bin');
}

export interface ControlPlane {
  server: string;
  token: string;
  kubeconfigPath: string;
  version: string;
  dir: string;
  /** With `node: true`: the CA a kubelet must trust for the apiserver's client certificate. */
  kubeletClient?: { ca: string };
  kubeConfig(): KubeConfig;
  kubectl(args: string[], input?: string): { code: number | null; stdout: string; stderr: string };
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

function start(dir: string, name: string, args: string[]): ChildProcess {
  const bin = join(binDir(), name);
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run scripts/provision-k8s.sh (npm run test:e2e does) to build the control plane`);
  const log = openSync(join(dir, `${name}.log`), 'a');
  const proc = spawn(bin, args, { stdio: ['ignore', log, log] });
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  return proc;
}

function tail(dir: string, name: string): string {
  try {
    return readFileSync(join(dir, `${name}.log`), 'utf8').split('\n').slice(-40).join('\n');
  } catch {
    return '(no log)';
  }
}

function get(url: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

async function waitReady(url: string, token: string, dir: string, proc: ChildProcess, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode}:\n${tail(dir, name)}`);
    try {
      if ((await get(url, token)).status === 200) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name} not ready within ${timeoutMs} ms:\n${tail(dir, name)}`);
}

async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const timer = setTimeout(() => p.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/**
 * A CA and the apiserver's client certificate for kubelets (logs, exec, port-forward), as
 * kubeadm makes them: the user is in system:masters, so the kubelet's webhook
 * authorization (a SubjectAccessReview) allows it.
 */
function kubeletClientCert(dir: string): { ca: string; cert: string; key: string } {
  const pki = join(dir, 'kubelet-pki');
  mkdirSync(pki);
  const openssl = (args: string[], input?: string) => {
    const r = spawnSync('openssl', args, { cwd: pki, input, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=podhooks-test-kubelet-client-ca']);
  openssl(['req', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/O=system:masters/CN=kube-apiserver-kubelet-client']);
  writeFileSync(join(pki, 'ext.cnf'), 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n');
  openssl(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'ext.cnf', '-out', 'client.crt']);
  return { ca: join(pki, 'ca.crt'), cert: join(pki, 'client.crt'), key: join(pki, 'client.key') };
}

/**
 * The apiserver's serving certificate, from a CA of its own, for its loopback address and
 * `ips` (another address where pods reach it), and the names in-cluster clients use.
 * The CA is what kube-controller-manager publishes as kube-root-ca.crt, so a pod's
 * service-account client verifies the apiserver at any of these addresses.
 */
function servingCert(dir: string, ips: string[]): { ca: string; cert: string; key: string } {
  const pki = join(dir, 'serving-pki');
  mkdirSync(pki);
  const openssl = (args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: pki, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=podhooks-test-apiserver-ca']);
  openssl(['req', ...ec, '-keyout', 'apiserver.key', '-out', 'apiserver.csr', '-subj', '/CN=kube-apiserver']);
  const sans = [...['127.0.0.1', SERVICE_IP, ...ips].map((ip) => `IP:${ip}`), ...['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'].map((n) => `DNS:${n}`)];
  writeFileSync(join(pki, 'ext.cnf'), `subjectAltName=${sans.join(',')}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n`);
  openssl(['x509', '-req', '-in', 'apiserver.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'ext.cnf', '-out', 'apiserver.crt']);
  return { ca: join(pki, 'ca.crt'), cert: join(pki, 'apiserver.crt'), key: join(pki, 'apiserver.key') };
}

/** The `kubernetes` Service's cluster IP (the first of --service-cluster-ip-range). */
const SERVICE_IP = '10.0.0.1';

/**
 * `node: true` prepares the apiserver for a kubelet (test/node/harness/node.ts): a kubelet
 * client certificate, and webhook Services resolved to their endpoints (there is no
 * kube-proxy, so the apiserver must call a webhook pod at its pod IP). `apiserverIPs`:
 * more addresses its serving certificate covers, for pods that reach it there.
 */
export async function startControlPlane(opts: { controllerManager?: boolean; node?: boolean; apiserverIPs?: string[] } = {}): Promise<ControlPlane> {
  const dir = mkdtempSync(join(tmpdir(), 'podhooks-k8s-'));
  const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const token = randomBytes(16).toString('hex');
  writeFileSync(join(dir, 'tokens.csv'), `${token},admin,admin-uid,"system:masters"\n`);
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  writeFileSync(join(dir, 'sa.key'), privateKey);
  writeFileSync(join(dir, 'sa.pub'), publicKey);
  const procs: ChildProcess[] = [];
  const stopAll = async () => {
    for (const p of procs.reverse()) await stopProcess(p);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const kubeletClient = opts.node ? kubeletClientCert(dir) : undefined;
    const serving = opts.apiserverIPs?.length ? servingCert(dir, opts.apiserverIPs) : undefined;
    const etcd = start(dir, 'etcd', [
      '--data-dir', join(dir, 'etcd'),
      '--listen-client-urls', `http://127.0.0.1:${etcdPort}`,
      '--advertise-client-urls', `http://127.0.0.1:${etcdPort}`,
      '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
      '--initial-cluster', `default=http://127.0.0.1:${peerPort}`,
      '--name', 'default',
      '--unsafe-no-fsync',
    ]);
    procs.push(etcd);
    const server = `https://127.0.0.1:${apiPort}`;
    const apiserver = start(dir, 'kube-apiserver', [
      '--etcd-servers', `http://127.0.0.1:${etcdPort}`,
      '--bind-address', '127.0.0.1',
      '--advertise-address', '127.0.0.1',
      '--secure-port', String(apiPort),
      '--cert-dir', join(dir, 'apiserver-certs'),
      '--token-auth-file', join(dir, 'tokens.csv'),
      '--authorization-mode', 'RBAC',
      '--service-account-issuer', 'https://kubernetes.default.svc',
      '--service-account-key-file', join(dir, 'sa.pub'),
      '--service-account-signing-key-file', join(dir, 'sa.key'),
      '--service-cluster-ip-range', `${SERVICE_IP.replace(/\.1$/, '.0')}/24`,
      '--endpoint-reconciler-type', 'none',
      '--allow-privileged=true',
      ...(kubeletClient ? ['--kubelet-client-certificate', kubeletClient.cert, '--kubelet-client-key', kubeletClient.key, '--enable-aggregator-routing=true'] : []),
      ...(serving ? ['--tls-cert-file', serving.cert, '--tls-private-key-file', serving.key] : []),
    ]);
    procs.push(apiserver);
    await waitReady(`${server}/readyz`, token, dir, apiserver, 'kube-apiserver', 60_000);

    const kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfigPath,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'test', cluster: { server, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'admin', user: { token } }],
        contexts: [{ name: 'test', context: { cluster: 'test', user: 'admin' } }],
        'current-context': 'test',
      }),
    );
    if (opts.controllerManager !== false) {
      const cm = start(dir, 'kube-controller-manager', [
        '--kubeconfig', kubeconfigPath,
        '--controllers', '*',
        '--service-account-private-key-file', join(dir, 'sa.key'),
        '--root-ca-file', serving?.ca ?? join(dir, 'apiserver-certs', 'apiserver.crt'),
        '--use-service-account-credentials=false',
        '--leader-elect=false',
        '--bind-address', '127.0.0.1',
        '--secure-port', String(await freePort()),
        '--concurrent-replicaset-syncs', '10',
        '--kube-api-qps', '200',
        '--kube-api-burst', '400',
      ]);
      procs.push(cm);
    }
    const version = JSON.parse((await get(`${server}/version`, token)).body).gitVersion as string;
    console.log(`e2e: control plane ${version} (etcd, kube-apiserver${opts.controllerManager !== false ? ', kube-controller-manager' : ''}) at ${server}`);
    return {
      server,
      token,
      kubeconfigPath,
      version,
      dir,
      ...(kubeletClient ? { kubeletClient: { ca: readFileSync(kubeletClient.ca, 'utf8') } } : {}),
      kubeConfig() {
        const kc = new KubeConfig();
        kc.loadFromFile(kubeconfigPath);
        return kc;
      },
      kubectl(args, input) {
        const r = spawnSync(join(binDir(), 'kubectl'), ['--kubeconfig', kubeconfigPath, ...args], { input, encoding: 'utf8' });
        return { code: r.status, stdout: r.stdout, stderr: r.stderr };
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
