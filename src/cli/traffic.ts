// `podhooks online` and `podhooks offline`: approve or withdraw Service traffic for pods
// created with podhooks.io/traffic: manual (docs/traffic.md). Commander wiring only; the
// work is in src/traffic/.
import { Command } from 'commander';
import { loadConfig } from '../config';
import { ClusterError, connectCluster } from '../kube/cluster';
import { parseDuration } from '../audit/text';
import { parseRolloutRef, RolloutError } from '../traffic/rollout';
import { apiserverMessage, RBAC_EXAMPLE, TrafficError, type Direction } from '../traffic/transition';
import type { Target } from '../traffic/switch';

/** Throws the CLI's exit error (message, exit code). */
export type Fail = (message: string, exitCode: number) => never;

interface TrafficOpts {
  config?: string;
  kubeconfig?: string;
  namespace?: string;
  selector?: string;
  rollout?: string;
  follow?: boolean;
  timeout: string;
  reason: string;
}

function target(pods: string[], opts: TrafficOpts, direction: Direction, fail: Fail): Target {
  const ways = [pods.length > 0, opts.selector !== undefined, opts.rollout !== undefined].filter(Boolean).length;
  if (ways !== 1) fail(`name the pods in one way: POD..., -l SELECTOR or --rollout deployment/NAME (got ${ways === 0 ? 'none' : 'several'})`, 2);
  if (opts.follow && (opts.rollout === undefined || direction === 'offline')) fail('--follow only goes with `podhooks online --rollout deployment/NAME`', 2);
  if (opts.selector !== undefined) {
    if (!opts.selector.trim()) fail('-l needs a label selector, e.g. -l app=web; to switch every pod of a namespace, name them', 2);
    return { selector: opts.selector };
  }
  if (opts.rollout !== undefined) {
    let name = '';
    try {
      name = parseRolloutRef(opts.rollout);
    } catch (err) {
      if (err instanceof RolloutError) fail(err.message, 2);
      throw err;
    }
    let timeoutMs = 0;
    try {
      timeoutMs = parseDuration('--timeout', opts.timeout);
    } catch (err) {
      fail((err as Error).message, 2);
    }
    return { rollout: name, follow: !!opts.follow, timeoutMs, pollMs: 2000 };
  }
  return { pods };
}

async function run(direction: Direction, pods: string[], opts: TrafficOpts, failCli: Fail): Promise<void> {
  const fail: Fail = (message, code) => failCli(`${direction}: ${message}`, code);
  if (!opts.reason.trim()) fail('--reason must say why (it is recorded in the pod\'s Event and condition)', 2);
  const t = target(pods, opts, direction, fail);
  const config = loadConfig(opts.config);
  if (opts.kubeconfig) config.kubernetes.kubeconfig = opts.kubeconfig;
  config.kubernetes.enabled = 'auto';
  const cluster = await connectCluster(config);
  if (!cluster) throw new ClusterError('no cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a pod with a service account');
  const kc = cluster.kubeConfig;
  const namespace = opts.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  const { switchTraffic } = await import('../traffic/switch');
  let failed = 0;
  try {
    failed = await switchTraffic(kc, {
      direction,
      namespace,
      reason: opts.reason.trim(),
      target: t,
      timeoutMs: Math.max(config.kubernetes.apiTimeoutMs, 10_000),
      say: (line) => process.stdout.write(`${line}\n`),
      complain: (line) => process.stderr.write(`podhooks: ${direction}: ${line}\n`),
    });
  } catch (err) {
    if (err instanceof TrafficError) fail(err.message, err.exitCode);
    // An apiserver answer or a connection error: say what it said, not a stack trace.
    const code = (err as { code?: unknown }).code;
    fail(`talking to the apiserver failed${typeof code === 'number' ? ` (HTTP ${code})` : ''}: ${apiserverMessage(err)}`, 1);
  }
  if (failed) fail(`${failed} pod(s) could not be put ${direction}`, 1);
}

function trafficCommand(program: Command, direction: Direction, fail: Fail): void {
  const what =
    direction === 'online'
      ? 'approve Service traffic: set condition podhooks.io/online True on pods created with podhooks.io/traffic: manual'
      : 'withdraw Service traffic without stopping the pods: set condition podhooks.io/online False';
  program
    .command(`${direction} [pods...]`)
    .description(`${what}; records an Event on each pod with who and why. RBAC: ${RBAC_EXAMPLE}`)
    .requiredOption('--reason <text>', 'why (recorded in the Event and the condition message), e.g. "smoke tests passed"')
    .option('-n, --namespace <ns>', 'the pods\' namespace (default: the kubeconfig context\'s, else "default")')
    .option('-l, --selector <selector>', 'every pod matching this label selector, e.g. app=web')
    .option('--rollout <deployment/NAME>', 'the pods of the Deployment\'s newest ReplicaSet')
    .option('--follow', 'with online --rollout: keep approving the rollout\'s new pods until it completes (or --timeout, or its progress deadline)')
    .option('--timeout <duration>', 'how long --follow may take', '15m')
    .option('--kubeconfig <file>', 'kubeconfig to use (default: KUBECONFIG, ~/.kube/config, in-cluster)')
    .option('-c, --config <file>', 'podhooks config file (YAML); for kubernetes.kubeconfig and apiTimeoutMs')
    .action((pods: string[], opts: TrafficOpts) => run(direction, pods, opts, fail));
}

export function registerTrafficCommands(program: Command, fail: Fail): void {
  trafficCommand(program, 'online', fail);
  trafficCommand(program, 'offline', fail);
}
