// Whether the pacing budgets fit the authorization service (docs/authz.md, "Capacity").
// A call started at s is in flight until s + latency, so the calls in flight at any moment
// are the starts of the last `latency` ms: at most burst + ceil(rate x latency) for a token
// bucket. With N replicas each takes rate/N and max(1, floor(burst/N)); the replicas'
// bursts can coincide, so the cluster-wide burst is N x that share. Every pod draws from
// the cluster budget, so it bounds all apps rolling out together; without it, K apps
// starting at once could offer K x (burstPerApp + ratePerApp x latency).

export interface CapacityInputs {
  ratePerCluster: number;
  burstPerCluster: number;
  replicas: number;
  serviceCapacity: number;
  expectedLatencyMs: number;
}

/** Starts that can happen at the same instant across all replicas. */
export function clusterBurst(burst: number, replicas: number): number {
  return replicas * Math.max(1, Math.floor(burst / replicas));
}

export interface InFlight {
  burst: number;
  /** ceil(rate x latency): calls started during one call's latency. */
  flow: number;
  total: number;
}

export function inFlightBound(a: Pick<CapacityInputs, 'ratePerCluster' | 'burstPerCluster' | 'replicas' | 'expectedLatencyMs'>): InFlight {
  const burst = clusterBurst(a.burstPerCluster, a.replicas);
  const flow = Math.ceil((a.ratePerCluster * a.expectedLatencyMs) / 1000 - 1e-9);
  return { burst, flow, total: burst + flow };
}

/** Why these budgets cannot fit the service, with the numbers; empty when they fit. */
export function capacityProblem(a: CapacityInputs): string | undefined {
  const f = inFlightBound(a);
  if (f.total <= a.serviceCapacity) return undefined;
  const share = Math.max(1, Math.floor(a.burstPerCluster / a.replicas));
  const burstText =
    a.replicas === 1
      ? `burstPerCluster ${a.burstPerCluster}`
      : `burstPerCluster ${a.burstPerCluster} over ${a.replicas} replicas, ${share} each${share * a.replicas > a.burstPerCluster ? ' (at least 1 per replica)' : ''}, so ${f.burst} at once`;
  const fixes: string[] = [];
  const maxBurst = a.serviceCapacity - f.flow;
  if (maxBurst >= a.replicas) fixes.push(`burstPerCluster at most ${maxBurst}`);
  if (a.serviceCapacity > f.burst) fixes.push(`ratePerCluster at most ${Math.floor((((a.serviceCapacity - f.burst) * 1000) / a.expectedLatencyMs) * 100) / 100}/s`);
  const fix =
    (fixes.length === 2
      ? `${fixes[0]} or ${fixes[1]} (either one, the other unchanged)`
      : (fixes[0] ?? `run fewer webhook replicas (the ${a.replicas} can start ${f.burst} calls at the same moment), then lower ratePerCluster until burst + ceil(rate x latency) <= ${a.serviceCapacity}`)) +
    '; or a larger serviceCapacity if the service really takes more';
  return (
    `the cluster-wide budget can put ${f.total} registrations in flight at once, more than serviceCapacity ${a.serviceCapacity}: ` +
    `${burstText} + ceil(ratePerCluster ${a.ratePerCluster}/s x expectedLatencyMs ${a.expectedLatencyMs} ms) = ${f.burst} + ${f.flow}. ` +
    `Fix: ${fix}`
  );
}
