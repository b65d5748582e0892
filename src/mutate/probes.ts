// Kubernetes probes rewritten as exec probes that run sidecars/bin/probe.sh from the
// shared tools volume. probe.sh emulates the original probe exactly (same port, path,
// headers, host, timeoutSeconds) and adds podhooks' conditions in front: the preOnline
// mark for readiness, an attached debugger for liveness, a finished preStart hook for
// startup. Every timing field is the user's; unset ones get Kubernetes' own defaults, so
// `podhooks inject` (unset fields) and the webhook (fields the apiserver defaulted)
// produce the same probe.
import type { V1Container, V1Pod, V1Probe } from '@kubernetes/client-node';
import { BUSYBOX, POD_BIN } from './layout';

export class ProbeError extends Error {}

const PROBE = `${POD_BIN}/probe.sh`;
const PREFIX = [BUSYBOX, 'sh', PROBE];

/** The apiserver's defaults for a probe (pkg/apis/core/v1/defaults.go; initialDelaySeconds is 0 by omission). */
export const K8S_PROBE_DEFAULTS = { initialDelaySeconds: 0, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 } as const;

type Timing = Omit<V1Probe, 'httpGet' | 'tcpSocket' | 'grpc' | 'exec'>;

/** The timing of a readiness probe podhooks adds where the container had none (the
 *  preOnline gate, the end of the preStart hook): its conditions read local files, so it
 *  is asked often (ready soon after the hook) with a generous timeout and Kubernetes'
 *  failureThreshold (one slow run drops nothing). */
export const LOCAL_READINESS: Timing = { initialDelaySeconds: 0, periodSeconds: 2, timeoutSeconds: 5, successThreshold: 1, failureThreshold: 3 };

/** The probe's timing with every unset field at Kubernetes' default. */
export function probeTiming(probe: V1Probe | undefined): Required<Pick<V1Probe, keyof typeof K8S_PROBE_DEFAULTS>> & Timing {
  const { httpGet: _h, tcpSocket: _t, grpc: _g, exec: _e, ...timing } = probe ?? {};
  const filled = { ...K8S_PROBE_DEFAULTS, ...timing } as Required<Pick<V1Probe, keyof typeof K8S_PROBE_DEFAULTS>> & Timing;
  for (const key of Object.keys(K8S_PROBE_DEFAULTS) as (keyof typeof K8S_PROBE_DEFAULTS)[]) {
    if (filled[key] === undefined || filled[key] === null) (filled as Record<string, number>)[key] = K8S_PROBE_DEFAULTS[key];
  }
  return filled;
}

function resolvePort(port: number | string | undefined, container: V1Container, where: string): string {
  if (typeof port === 'number') return String(port);
  if (typeof port === 'string' && /^[0-9]+$/.test(port)) return port;
  const named = container.ports?.find((p) => p.name === port);
  if (!named) throw new ProbeError(`container ${container.name}: ${where} uses port ${JSON.stringify(port)}, which is not a named port of the container`);
  return String(named.containerPort);
}

/** probe.sh arguments after `--` that reproduce the original probe's check. */
export function probeCheckArgs(probe: V1Probe | undefined, container: V1Container, kind: string): string[] {
  if (!probe) return ['none'];
  if (probe.httpGet) {
    const h = probe.httpGet;
    const headers = (h.httpHeaders ?? []).map((x) => `${x.name}:${x.value}`);
    return ['http-get', (h.scheme ?? 'HTTP').toLowerCase(), h.host ?? '', resolvePort(h.port as number | string, container, `${kind}.httpGet`), h.path ?? '/', ...headers];
  }
  if (probe.tcpSocket) return ['tcp', probe.tcpSocket.host ?? '', resolvePort(probe.tcpSocket.port as number | string, container, `${kind}.tcpSocket`)];
  if (probe.grpc) return ['grpc', '', String(probe.grpc.port), ...(probe.grpc.service ? [probe.grpc.service] : [])];
  if (probe.exec?.command?.length) return ['exec', ...probe.exec.command];
  throw new ProbeError(`container ${container.name}: ${kind} has no handler (httpGet, tcpSocket, grpc or exec)`);
}

/** True when the probe is already one of podhooks' probe.sh exec probes. */
export function isPodhooksProbe(probe: V1Probe | undefined): boolean {
  const cmd = probe?.exec?.command;
  return !!cmd && PREFIX.every((part, i) => cmd[i] === part) && cmd.includes('--');
}

/** Checks that probe.sh bounds by --timeout itself (an exec check is bounded by the kubelet, as before). */
const NETWORK_CHECKS = new Set(['http-get', 'tcp', 'grpc']);
/**
 * What a rewritten network probe's exec timeout adds to the user's timeoutSeconds: the
 * kubelet kills an exec probe at its timeoutSeconds, so with the same number probe.sh's
 * own network timeout could never report ("HTTP probe of ... timed out after Ns") and the
 * event would show only the kubelet's "command timed out". One second covers starting
 * busybox, podhooks' conditions and reporting.
 */
export const EXEC_SLACK_SECONDS = 1;

/**
 * An exec probe running probe.sh with `conditions` before the original check, the
 * original's timing (Kubernetes' defaults where unset) overridden by `timing`. The
 * network check gets the probe's timeoutSeconds, as the kubelet gives it; the exec probe
 * around it EXEC_SLACK_SECONDS more.
 */
export function wrapProbe(original: V1Probe | undefined, container: V1Container, kind: string, conditions: string[], timing: Partial<Timing> = {}): V1Probe {
  const filled = { ...probeTiming(original), ...timing };
  const check = probeCheckArgs(original, container, kind);
  return {
    ...filled,
    ...(NETWORK_CHECKS.has(check[0]) ? { timeoutSeconds: filled.timeoutSeconds + EXEC_SLACK_SECONDS } : {}),
    exec: { command: [...PREFIX, ...conditions, '--timeout', String(filled.timeoutSeconds), '--', ...check] },
  };
}

/** Adds `conditions` to a probe podhooks already rewrote (one probe.sh run checks them all). */
export function addConditions(probe: V1Probe, conditions: string[]): V1Probe {
  const cmd = probe.exec!.command!;
  const rest = cmd.slice(PREFIX.length);
  // A flag the probe already has (--shared-pid) is not repeated.
  const added = conditions.filter((c) => !(c === '--shared-pid' && rest.slice(0, rest.indexOf('--')).includes(c)));
  return { ...probe, exec: { command: [...PREFIX, ...added, ...rest] } };
}

/** probe.sh options every start-aware condition needs: how it finds this container's first process. */
export function startConditions(pod: V1Pod): string[] {
  return pod.spec?.shareProcessNamespace ? ['--shared-pid'] : [];
}
