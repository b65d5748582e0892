// Kubernetes probes rewritten as exec probes that run sidecars/bin/probe.sh from the
// shared tools volume. probe.sh emulates the original probe exactly (same port, path,
// headers, host) and adds podhooks' conditions in front: the preOnline mark for
// readiness, an attached debugger for liveness. Timings and thresholds are kept.
import type { V1Container, V1Probe } from '@kubernetes/client-node';
import { BUSYBOX, POD_BIN } from './layout';

export class ProbeError extends Error {}

const PROBE = `${POD_BIN}/probe.sh`;

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
  const where = `${kind}`;
  if (probe.httpGet) {
    const h = probe.httpGet;
    const headers = (h.httpHeaders ?? []).map((x) => `${x.name}:${x.value}`);
    return ['http-get', (h.scheme ?? 'HTTP').toLowerCase(), h.host ?? '', resolvePort(h.port as number | string, container, `${where}.httpGet`), h.path ?? '/', ...headers];
  }
  if (probe.tcpSocket) return ['tcp', probe.tcpSocket.host ?? '', resolvePort(probe.tcpSocket.port as number | string, container, `${where}.tcpSocket`)];
  if (probe.grpc) return ['grpc', '', String(probe.grpc.port), ...(probe.grpc.service ? [probe.grpc.service] : [])];
  if (probe.exec?.command?.length) return ['exec', ...probe.exec.command];
  throw new ProbeError(`container ${container.name}: ${kind} has no handler (httpGet, tcpSocket, grpc or exec)`);
}

/** An exec probe running probe.sh with `conditions` before the original check. */
export function wrapProbe(original: V1Probe | undefined, container: V1Container, kind: string, conditions: string[], defaults: Partial<V1Probe>): V1Probe {
  const { httpGet: _h, tcpSocket: _t, grpc: _g, exec: _e, ...timing } = original ?? {};
  return {
    ...defaults,
    ...timing,
    exec: { command: [BUSYBOX, 'sh', PROBE, ...conditions, '--', ...probeCheckArgs(original, container, kind)] },
  };
}
