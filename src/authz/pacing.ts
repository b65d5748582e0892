// Per-app pacing of authorization calls, decided at admission. Each (namespace, app) has
// a token bucket (rate r/s, burst B) kept as a single number, its theoretical arrival
// time (GCRA): a pod admitted at t gets the earliest start s >= t its bucket allows, and
// its start offset is s - t. Over any window of W ms, at most B + floor(W*r/1000) starts
// per app. An entry whose arrival time has passed is a full bucket, so dropping it loses
// nothing; memory is bounded by evicting the least recently used entry.
import type { V1Pod } from '@kubernetes/client-node';
import type { Config } from '../config';

export interface PacingOptions {
  /** Starts per second per app. */
  ratePerSecond: number;
  burst: number;
  maxTracked: number;
}

export class Pacer {
  private readonly intervalMs: number;
  private readonly toleranceMs: number;
  /** key -> theoretical arrival time (ms); Map order is least recently used first. */
  private readonly tat = new Map<string, number>();
  /** Entries dropped while their bucket was not yet full (pacing for them restarts). */
  evictedActive = 0;

  constructor(
    readonly options: PacingOptions,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(options.ratePerSecond > 0) || !(options.burst >= 1) || !(options.maxTracked >= 1)) {
      throw new Error(`pacing needs ratePerSecond > 0, burst >= 1 and maxTracked >= 1 (got ${JSON.stringify(options)})`);
    }
    this.intervalMs = 1000 / options.ratePerSecond;
    this.toleranceMs = (options.burst - 1) * this.intervalMs;
  }

  get size(): number {
    return this.tat.size;
  }

  /** Start offset in whole ms for the next pod of `key`. A dry run only looks: no token is taken. */
  offset(key: string, dryRun = false): number {
    const t = this.now();
    const previous = this.tat.get(key);
    const tat = previous === undefined ? t : Math.max(previous, t);
    // Whole milliseconds, rounded up: the start actually used is what the bucket records.
    const start = t + Math.ceil(Math.max(0, tat - this.toleranceMs - t));
    if (dryRun) return start - t;
    if (previous !== undefined) this.tat.delete(key);
    else this.makeRoom(t);
    this.tat.set(key, Math.max(tat, start) + this.intervalMs);
    return start - t;
  }

  private makeRoom(t: number): void {
    // Idle entries (full buckets) first, from the least recently used end.
    for (const [key, tat] of this.tat) {
      if (this.tat.size < this.options.maxTracked && tat > t) break;
      if (tat <= t) this.tat.delete(key);
      else if (this.tat.size >= this.options.maxTracked) {
        this.tat.delete(key);
        this.evictedActive++;
      }
    }
  }
}

/** The app a pod belongs to: app.kubernetes.io/name or app label, else its owner
 *  (a ReplicaSet's pod-template-hash suffix removed, so all rollouts of a Deployment
 *  share one bucket), else its generateName or name. */
export function appOf(pod: V1Pod): string {
  const meta = pod.metadata ?? {};
  const labels = meta.labels ?? {};
  const label = labels['app.kubernetes.io/name'] ?? labels.app;
  if (label) return label;
  const owners = meta.ownerReferences ?? [];
  const owner = owners.find((o) => o.controller) ?? owners[0];
  if (owner?.name) {
    const hash = labels['pod-template-hash'];
    if (owner.kind === 'ReplicaSet' && hash && owner.name.endsWith(`-${hash}`)) return owner.name.slice(0, -hash.length - 1);
    return owner.name;
  }
  if (meta.generateName) return meta.generateName.replace(/-$/, '');
  return meta.name ?? '';
}

export function pacingKey(pod: V1Pod, namespace: string | undefined): string {
  return `${namespace ?? pod.metadata?.namespace ?? ''}/${appOf(pod)}`;
}

/** This replica's share: with N replicas behind one Service each paces at rate/N and burst/N
 *  (at least 1), so the cluster-wide rate holds however the apiserver spreads requests. */
export function pacingOptions(config: Config): PacingOptions {
  const { ratePerApp, burstPerApp, replicas, maxTrackedApps } = config.authz;
  return { ratePerSecond: ratePerApp / replicas, burst: Math.max(1, Math.floor(burstPerApp / replicas)), maxTracked: maxTrackedApps };
}

/** The admission context's authzOffset: one pacer per server. */
export function authzPacing(config: Config, now?: () => number): { pacer: Pacer; offset(pod: V1Pod, namespace: string | undefined, dryRun: boolean): number } {
  const pacer = new Pacer(pacingOptions(config), now);
  return { pacer, offset: (pod, namespace, dryRun) => pacer.offset(pacingKey(pod, namespace), dryRun) };
}
