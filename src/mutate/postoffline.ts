// post-offline: a hook that runs when the pod is taken out of service, before the app gets
// SIGTERM ("post_offline" on the VMs). Kubernetes' only place for that is the container's
// preStop, which the kubelet runs before SIGTERM while the endpoints controller withdraws
// the pod from its Services. So the main target container's preStop becomes
// postoffline.sh (sidecars/bin): the drain delay (load balancers stop sending), the hook
// in the app's own container under the podhooks busybox, bounded by its timeout, then the
// container's own preStop as the kubelet would have run it. All of it must fit the pod's
// terminationGracePeriodSeconds, which also bounds the preStop: podhooks refuses a pod
// where it cannot, or (injection.raiseGracePeriod) adds its part to the grace period.
import type { V1Container, V1Lifecycle, V1Pod, V1Probe } from '@kubernetes/client-node';
import type { Config } from '../config';
import { A, type HookSpec } from './annotations';
import { addEnv, addMounts, type PodDraft } from './draft';
import { annotationEnv, BUSYBOX, IMAGE_BIN, POD_BIN, POD_LOGS } from './layout';
import { contextContainer } from './preonline';
import { probeCheckArgs, ProbeError } from './probes';
import { STOP_GRACE_SECONDS } from './prestart';

export const POST_OFFLINE_LOG = `${POD_LOGS}/post-offline.log`;
/** Kubernetes' default spec.terminationGracePeriodSeconds (the apiserver sets it when unset). */
export const DEFAULT_GRACE_SECONDS = 30;
/** How long the classic log streamer waits for this termination's run to start (postoffline.sh await). */
const AWAIT_START_SECONDS = 5;

type PostOffline = NonNullable<HookSpec['postOffline']>;

/** What podhooks puts in front of the container's own preStop: drain delay, hook timeout, the hook's stop grace. */
export function podhooksSeconds(p: PostOffline): number {
  return p.drainSeconds + p.timeoutSeconds + STOP_GRACE_SECONDS;
}

/**
 * The container's own preStop as postoffline.sh arguments after `--` ([] when it has none):
 * exec and sleep as they are; httpGet as a URL (an empty host is 127.0.0.1, as in rewritten
 * probes; the kubelet would use the pod IP), within the grace period.
 */
function userPreStop(c: V1Container, graceSeconds: number): string[] {
  const h = c.lifecycle?.preStop;
  if (!h) return [];
  if (h.exec?.command?.length) return ['exec', ...h.exec.command];
  if (h.sleep) return ['sleep', String(h.sleep.seconds)];
  if (h.httpGet) {
    const [, scheme, host, port, path, ...headers] = probeCheckArgs(h as V1Probe, c, 'lifecycle.preStop');
    const addr = host.includes(':') ? `[${host}]` : host || '127.0.0.1';
    return ['http-get', String(graceSeconds), `${scheme}://${addr}:${port}${path.startsWith('/') ? path : `/${path}`}`, ...headers];
  }
  if (h.tcpSocket) {
    throw new ProbeError(
      `container ${c.name}: lifecycle.preStop.tcpSocket is never run by the kubelet (it is deprecated and does nothing); remove it: ${A.postOffline} puts its own preStop handler there and runs an exec, httpGet or sleep preStop after the hook`,
    );
  }
  throw new ProbeError(`container ${c.name}: lifecycle.preStop has no handler (exec, httpGet or sleep)`);
}

function graceOf(pod: V1Pod): number {
  return pod.spec?.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
}

/** Why the pod's grace period cannot hold the drain delay, the hook and the container's own preStop sleep. */
export function postOfflineErrors(base: V1Pod, spec: HookSpec, config: Config): string[] {
  const p = spec.postOffline;
  if (!p || config.injection.raiseGracePeriod) return [];
  const name = contextContainer(spec);
  const c = base.spec!.containers.find((x) => x.name === name)!;
  const sleep = c.lifecycle?.preStop?.sleep?.seconds ?? 0;
  const grace = graceOf(base);
  const need = podhooksSeconds(p) + sleep;
  if (need <= grace) return [];
  const graceText = base.spec?.terminationGracePeriodSeconds === undefined ? `${grace}s, Kubernetes' default` : `${grace}s`;
  return [
    `annotation ${A.postOffline}: the pod's terminationGracePeriodSeconds (${graceText}) cannot hold what runs before container ${name} gets SIGTERM: ` +
      `drain delay ${p.drainSeconds}s (${A.drainDelay}) + post-offline timeout ${p.timeoutSeconds}s (${A.postOfflineTimeout}) + ${STOP_GRACE_SECONDS}s to stop a hook that overruns` +
      `${sleep ? ` + the container's own preStop sleep ${sleep}s` : ''} = ${need}s, so the kubelet could kill the container before the hook ended. ` +
      `Fix: set spec.terminationGracePeriodSeconds to at least ${need} plus what the app needs to shut down, or shorten ${A.postOfflineTimeout} or ${A.drainDelay} ` +
      `(or the operator sets injection.raiseGracePeriod, which adds podhooks' part to the grace period)`,
  ];
}

/** The main target container's preStop runs postoffline.sh; the pod's grace period grows if configured to. */
export function addPostOffline(draft: PodDraft, base: V1Pod, spec: HookSpec & { postOffline: PostOffline }, config: Config, volumes: { bin: string; logs: string }): void {
  const p = spec.postOffline;
  const name = contextContainer(spec);
  const grace = graceOf(base);
  draft.updateContainer(name, (c, record) => {
    const user = userPreStop(c, grace);
    record.lifecycle = c.lifecycle ?? null;
    const run = ['run', '--container', name, '--drain', String(p.drainSeconds), '--timeout', String(p.timeoutSeconds)];
    c.lifecycle = { ...c.lifecycle, preStop: { exec: { command: [BUSYBOX, 'sh', `${POD_BIN}/postoffline.sh`, ...run, ...(user.length ? ['--', ...user] : [])] } } };
    addEnv(c, record, [annotationEnv('PODHOOKS_POST_OFFLINE', A.postOffline)]);
    const mounts = c.volumeMounts ?? [];
    const needed = [
      { name: volumes.bin, mountPath: POD_BIN, readOnly: true },
      { name: volumes.logs, mountPath: POD_LOGS },
    ].filter((m) => !mounts.some((x) => x.name === m.name));
    addMounts(c, record, needed);
    return c;
  });
  if (config.injection.raiseGracePeriod) draft.setTerminationGracePeriod(grace + podhooksSeconds(p));
}

/**
 * The log streamer's preStop: it keeps printing until the run's last line is out. The
 * kubelet runs every container's preStop at once when the pod is deleted, a native
 * sidecar's too (only its SIGTERM waits for the app containers, and then comes at once),
 * so in both modes it waits for this termination's run to end.
 */
export function streamerLifecycle(p: PostOffline): V1Lifecycle {
  const within = String(podhooksSeconds(p) + AWAIT_START_SECONDS);
  return { preStop: { exec: { command: [`${IMAGE_BIN}/busybox`, 'sh', `${IMAGE_BIN}/postoffline.sh`, 'await', '--within', within] } } };
}
