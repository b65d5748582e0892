// A real node for the harness's control plane: containerd (Debian's, with runc and the CNI
// plugins) and a kubelet built from the Go module proxy, both inside a private mount
// namespace whose /run, /var/lib and /var/log are directories of a temp dir, so nothing
// they write lands on the machine; plus kube-scheduler. Pods get addresses on a bridge
// the harness makes (no iptables, no kube-proxy). Every process runs in one cgroup tree,
// which is how teardown.js finds and stops them all by PID. One node per machine.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { binDir, type ControlPlane } from '../../e2e/harness/controlplane';
import { eventually } from '../../e2e/harness/webhooks';
import { freePort } from '../../helpers/ports';
import { DEBS_ROOT, socat, toolEnv } from '../../helpers/tools';
import { IMAGES, provisionImages, type BuiltImage, type ImageName } from '../images/images';
import { writeContainerdConfig, writeKubeletConfig } from './node-config';
import { BRIDGE, CGROUP, CGROUP_ROOT, hierarchies, leftovers, STATE_FILE, teardown } from './teardown';

export const BRIDGE_IP = '10.244.0.1';
const POD_SUBNET = '10.244.0.0/24';

export interface Node {
  /** The node's name: this machine's hostname, which resolves to 127.0.0.1 (the apiserver reaches the kubelet by it). */
  name: string;
  /** The host's address on the pod bridge: the only host address pods can reach. */
  bridgeIP: string;
  /**
   * Where pods reach the apiserver (no kube-proxy: the `kubernetes` Service's IP leads
   * nowhere): a TCP relay (socat) on the bridge address to its loopback port. Its serving
   * certificate covers this address when the control plane was started with
   * `apiserverIPs: [BRIDGE_IP]`. An in-cluster client needs KUBERNETES_SERVICE_HOST/PORT set to it.
   */
  apiserverForPods: { host: string; port: number };
  /** The node's files: logs/{containerd,kubelet,kube-scheduler}.log, var-log/pods/ (container logs), ... */
  dir: string;
  images: Record<ImageName, BuiltImage>;
  cp: ControlPlane;
  core: CoreV1Api;
  kubectl(args: string[], input?: string): { code: number | null; stdout: string; stderr: string };
  /** A long-running kubectl (logs -f, port-forward); stopped with the node. */
  kubectlSpawn(args: string[]): ChildProcess;
  /** Polls the pod until `pred` holds; on timeout the error shows the pod's status and events. */
  waitForPod(namespace: string, name: string, pred: (p: V1Pod) => boolean, what: string, timeoutMs?: number): Promise<V1Pod>;
  /** `kubectl logs` of one container (previous: the last terminated instance). */
  logs(namespace: string, pod: string, container: string, previous?: boolean): string;
  /** Events of a pod, one line each ("Reason: message"). */
  events(namespace: string, pod: string): Promise<string[]>;
  /** For a failure message: the pod's container states, events and the last lines of every container's log. */
  describePod(namespace: string, pod: string): Promise<string>;
  /** Lets containerd pull from a plain-HTTP registry (hosts.toml under its config_path). */
  trustRegistry(host: string): void;
  /** `ctr images import` of a docker archive, for images only some tests need. */
  importImage(tar: string): void;
  /** Sends `signal` to PID 1 of a running container (from the host, as an OOM kill or a crash would end it); returns its host PID. */
  killContainer(namespace: string, pod: string, container: string, signal?: NodeJS.Signals): Promise<number>;
  stop(): Promise<void>;
}

function need(path: string, what: string): string {
  if (!existsSync(path)) throw new Error(`${path} is missing (${what}): run npm run test:node, which provisions the node first`);
  return path;
}

/** Cgroup v1 directory `sub` under the node's cgroup in every hierarchy (cpuset gets its parent's CPUs and memory nodes). */
function makeCgroups(sub: string): void {
  for (const h of hierarchies()) {
    for (const dir of [join(h, CGROUP), join(h, CGROUP, sub)]) {
      mkdirSync(dir, { recursive: true });
      if (h.endsWith('/cpuset') || h.includes('cpuset,')) {
        for (const f of ['cpuset.cpus', 'cpuset.mems']) {
          if (readFileSync(join(dir, f), 'utf8').trim() === '') writeFileSync(join(dir, f), readFileSync(join(h, f), 'utf8').trim());
        }
      }
    }
  }
}

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startNode(cp: ControlPlane): Promise<Node> {
  if (process.getuid?.() !== 0) throw new Error('the node tier runs containerd and the kubelet, which need root');
  if (!existsSync(join(CGROUP_ROOT, 'pids', 'cgroup.procs'))) throw new Error(`the node tier needs cgroup v1 hierarchies under ${CGROUP_ROOT} (found none with pids)`);
  const left = leftovers();
  if (left) {
    throw new Error(
      `a node from an earlier run is still on this machine (${left}). Only one node can run per machine: ` +
        'if no other test run is using it, stop it and remove its bridge, cgroups and files with `npm run node:cleanup`',
    );
  }
  teardown(); // a stale state file or empty cgroups from a run that was killed
  const bin = {
    kubelet: need(join(binDir(), 'kubelet'), 'scripts/provision-k8s.sh'),
    scheduler: need(join(binDir(), 'kube-scheduler'), 'scripts/provision-k8s.sh'),
    containerd: need(join(DEBS_ROOT, 'usr/bin/containerd'), 'scripts/provision-debs.sh'),
    ctr: need(join(DEBS_ROOT, 'usr/bin/ctr'), 'scripts/provision-debs.sh'),
    runc: need(join(DEBS_ROOT, 'usr/sbin/runc'), 'scripts/provision-debs.sh'),
    cni: need(join(DEBS_ROOT, 'usr/lib/cni'), 'scripts/provision-debs.sh'),
  };
  const t0 = Date.now();
  const timings: string[] = [];
  const phase = (what: string) => timings.push(`${what} ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  const images = provisionImages();
  phase('images');
  const kubeletClient = cp.kubeletClient;
  if (!kubeletClient) throw new Error('start the control plane with startControlPlane({ node: true }) so the apiserver has a kubelet client certificate');

  const dir = mkdtempSync(join(tmpdir(), 'podhooks-node-'));
  const logs = join(dir, 'logs');
  for (const d of ['run', 'var-lib', 'var-log', 'logs', 'cni/net.d', 'certs.d', 'containerd']) mkdirSync(join(dir, d), { recursive: true });
  const name = hostname();
  const procs: ChildProcess[] = [];
  const state = { owner: process.pid, startedAt: new Date().toISOString(), dir, pids: {} as Record<string, number> };
  const saveState = () => {
    mkdirSync(join(STATE_FILE, '..'), { recursive: true });
    writeFileSync(STATE_FILE, JSON.stringify(state, null, 2));
  };
  saveState();
  const cleanup = () => teardown({ keepDir: process.env.PODHOOKS_NODE_KEEP === '1' });
  process.once('exit', cleanup);

  const spawnLogged = (label: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess => {
    const out = openSync(join(logs, `${label}.log`), 'a');
    const proc = spawn(cmd, args, { stdio: ['ignore', out, out], env });
    if (proc.pid) state.pids[label] = proc.pid;
    saveState();
    procs.push(proc);
    return proc;
  };
  // Every node process starts in the cgroup <hierarchy>/podhooks-node/daemons, so that
  // it and everything it starts (shims, containers) can be found and stopped by PID.
  // podhooks-node is also the kubelet's cgroupRoot, which must exist in every hierarchy.
  makeCgroups('daemons');
  const daemonsCgroup = join(CGROUP_ROOT, 'pids', CGROUP, 'daemons', 'cgroup.procs');
  const inCgroup = `echo $$ > ${daemonsCgroup} && exec "$@"`;

  try {
    ip('link', 'add', BRIDGE, 'type', 'bridge');
    ip('addr', 'add', `${BRIDGE_IP}/24`, 'dev', BRIDGE);
    ip('link', 'set', BRIDGE, 'up');

    // The private mount namespace, held by a `sleep` whose PID the daemons join with nsenter.
    const covers = [['run', '/run'], ['var-lib', '/var/lib'], ['var-log', '/var/log']].map(([from, to]) => `mount --bind ${join(dir, from)} ${to}`).join(' && ');
    const holder = spawnLogged('namespace', 'sh', ['-c', inCgroup, 'sh', 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', `${covers} && exec sleep infinity`]);
    await eventually('the node mount namespace', async () => {
      if (holder.exitCode !== null) throw new Error(`the namespace holder exited with ${holder.exitCode}: ${tail(join(logs, 'namespace.log'))}`);
      return readFileSync(`/proc/${holder.pid}/comm`, 'utf8').trim() === 'sleep' ? true : undefined;
    }, 10_000);
    const inNode = (label: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv) =>
      spawnLogged(label, 'sh', ['-c', inCgroup, 'sh', 'nsenter', `--target=${holder.pid}`, '--mount', '--', cmd, ...args], env);

    // containerd: CRI with runc (cgroupfs), overlayfs, the bridge network, our pause image.
    const sock = join(dir, 'containerd', 'containerd.sock');
    const containerdConfig = writeContainerdConfig(dir, { sock, runc: bin.runc, cniBin: bin.cni, bridge: BRIDGE, bridgeIP: BRIDGE_IP, subnet: POD_SUBNET, sandboxImage: IMAGES.pause });
    const env = toolEnv();
    env.PATH = `${join(DEBS_ROOT, 'usr/bin')}:${join(DEBS_ROOT, 'usr/sbin')}:${env.PATH}`;
    const containerd = inNode('containerd', bin.containerd, ['--config', containerdConfig], env);
    const ctr = (...args: string[]) => spawnSync(bin.ctr, ['--address', sock, '--namespace', 'k8s.io', ...args], { encoding: 'utf8', env });
    await eventually('containerd to answer', async () => {
      if (containerd.exitCode !== null) throw new Error(`containerd exited with ${containerd.exitCode}:\n${tail(join(logs, 'containerd.log'))}`);
      return ctr('version').status === 0 ? true : undefined;
    }, 30_000);
    phase('containerd');
    for (const image of Object.values(images)) {
      const r = ctr('images', 'import', image.tar);
      if (r.status !== 0) throw new Error(`ctr images import ${image.tar}: ${r.stderr}`);
    }
    phase('imported');

    // kubelet: cgroupfs on cgroup v1, pods under <hierarchy>/podhooks-node/kubepods.
    const [kubeletPort, healthzPort, schedulerPort] = [await freePort(), await freePort(), await freePort()];
    writeFileSync(join(dir, 'kubelet-client-ca.crt'), kubeletClient.ca);
    const kubeletConfig = writeKubeletConfig(dir, { sock, port: kubeletPort, healthzPort, cgroupRoot: `/${CGROUP}` });
    const kubelet = inNode('kubelet', bin.kubelet, [
      '--config', kubeletConfig,
      '--kubeconfig', cp.kubeconfigPath,
      '--node-ip', BRIDGE_IP,
      '--v', '2',
    ], env);
    const scheduler = spawnLogged('kube-scheduler', 'sh', ['-c', inCgroup, 'sh', bin.scheduler,
      '--kubeconfig', cp.kubeconfigPath,
      '--authentication-kubeconfig', cp.kubeconfigPath,
      '--authorization-kubeconfig', cp.kubeconfigPath,
      '--leader-elect=false',
      '--bind-address', '127.0.0.1',
      '--secure-port', String(schedulerPort),
    ]);
    const kc = cp.kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    const started = Date.now();
    await eventually(`node ${name} to be Ready`, async () => {
      for (const [label, p] of [['kubelet', kubelet], ['kube-scheduler', scheduler], ['containerd', containerd]] as const) {
        if (p.exitCode !== null) throw new Error(`${label} exited with ${p.exitCode}:\n${tail(join(logs, `${label}.log`))}`);
      }
      const node = await core.readNode({ name });
      return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? node : undefined;
    }, 120_000).catch((err) => {
      throw new Error(`${(err as Error).message}\nkubelet log:\n${tail(join(logs, 'kubelet.log'))}`);
    });
    phase('Ready');

    // Pods reach the apiserver through the bridge address (a relay to its loopback port).
    const apiserverForPods = { host: BRIDGE_IP, port: await freePort(BRIDGE_IP) };
    const relay = spawnLogged('apiserver-relay', 'sh', ['-c', inCgroup, 'sh', socat(), '-d',
      `TCP-LISTEN:${apiserverForPods.port},bind=${BRIDGE_IP},fork,reuseaddr`, `TCP:127.0.0.1:${new URL(cp.server).port}`], toolEnv());
    await eventually('the apiserver relay on the bridge', async () => {
      if (relay.exitCode !== null) throw new Error(`socat exited with ${relay.exitCode}: ${tail(join(logs, 'apiserver-relay.log'))}`);
      return readFileSync('/proc/net/tcp', 'utf8').includes(`:${apiserverForPods.port.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A`) ? true : undefined;
    }, 10_000);
    console.log(`node: ${name} Ready ${((Date.now() - started) / 1000).toFixed(1)}s after the kubelet started (${timings.join(', ')}; files in ${dir})`);

    const kubectlArgs = (args: string[]) => ['--kubeconfig', cp.kubeconfigPath, ...args];
    const node: Node = {
      name,
      bridgeIP: BRIDGE_IP,
      apiserverForPods,
      dir,
      images,
      cp,
      core,
      kubectl: (args, input) => cp.kubectl(args, input),
      kubectlSpawn(args) {
        const p = spawn(join(binDir(), 'kubectl'), kubectlArgs(args), { stdio: ['ignore', 'pipe', 'pipe'] });
        procs.push(p);
        return p;
      },
      async waitForPod(namespace, pod, pred, what, timeoutMs = 90_000) {
        try {
          return await eventually(`pod ${namespace}/${pod}: ${what}`, async () => {
            const p = await core.readNamespacedPod({ name: pod, namespace });
            return pred(p) ? p : undefined;
          }, timeoutMs);
        } catch (err) {
          throw new Error(`${(err as Error).message}\n${await node.describePod(namespace, pod)}`);
        }
      },
      async describePod(namespace, pod) {
        try {
          const p = await core.readNamespacedPod({ name: pod, namespace });
          const statuses = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])];
          const lines = [`pod ${namespace}/${pod}: phase ${p.status?.phase}`];
          for (const s of statuses) {
            lines.push(`  ${s.name}: ${JSON.stringify(s.state)} restarts ${s.restartCount}${s.lastState?.terminated ? ` last ${JSON.stringify(s.lastState.terminated)}` : ''}`);
            const log = cp.kubectl(['-n', namespace, 'logs', pod, '-c', s.name, '--tail', '15']);
            lines.push(...(log.stdout || log.stderr).trimEnd().split('\n').map((l) => `    | ${l}`));
          }
          lines.push('events:', ...(await node.events(namespace, pod)).map((e) => `  ${e}`));
          return lines.join('\n');
        } catch (err) {
          return `pod ${namespace}/${pod}: ${(err as Error).message}`;
        }
      },
      logs(namespace, pod, container, previous = false) {
        const r = cp.kubectl(['-n', namespace, 'logs', pod, '-c', container, ...(previous ? ['--previous'] : [])]);
        if (r.code !== 0) throw new Error(`kubectl logs ${namespace}/${pod} -c ${container}: ${r.stderr}`);
        return r.stdout;
      },
      async events(namespace, pod) {
        const list = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${pod}` });
        return list.items.map((e) => `${e.reason}: ${e.message}`);
      },
      async killContainer(namespace, pod, container, signal = 'SIGKILL') {
        const p = await core.readNamespacedPod({ name: pod, namespace });
        const status = [...(p.status?.containerStatuses ?? []), ...(p.status?.initContainerStatuses ?? [])].find((s) => s.name === container);
        const id = status?.state?.running ? status.containerID?.replace(/^containerd:\/\//, '') : undefined;
        if (!id) throw new Error(`pod ${namespace}/${pod}: container ${container} is not running`);
        // `ctr tasks ls`: TASK PID STATUS, one task per running container.
        const r = ctr('tasks', 'ls');
        const line = r.stdout.split('\n').find((l) => l.startsWith(`${id} `));
        const pid = Number(line?.trim().split(/\s+/)[1]);
        if (!pid) throw new Error(`containerd has no task for container ${id} (${namespace}/${pod} ${container}): ${r.stdout}${r.stderr}`);
        process.kill(pid, signal);
        return pid;
      },
      importImage(tar) {
        const r = ctr('images', 'import', tar);
        if (r.status !== 0) throw new Error(`ctr images import ${tar}: ${r.stderr}`);
      },
      trustRegistry(host) {
        mkdirSync(join(dir, 'certs.d', host), { recursive: true });
        writeFileSync(join(dir, 'certs.d', host, 'hosts.toml'), `server = "http://${host}"\n\n[host."http://${host}"]\n  capabilities = ["pull", "resolve"]\n`);
      },
      async stop() {
        for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
        process.removeListener('exit', cleanup);
        const problems = cleanup();
        if (problems.length) throw new Error(`the node could not be removed completely (run npm run node:cleanup):\n${problems.join('\n')}`);
        await sleep(0);
      },
    };
    return node;
  } catch (err) {
    cleanup();
    process.removeListener('exit', cleanup);
    throw err;
  }
}
