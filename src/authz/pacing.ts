// Pacing of authorization calls, decided at admission. Each (namespace, app) has a token
// bucket (rate r/s, burst B) kept as a single number, its theoretical arrival time (GCRA),
// plus its last start so that an app's starts never go backwards. Every pod also draws
// from one cluster-wide budget (authz/calendar.ts), so the service sees at most
// ratePerCluster calls per second whatever the number of apps rolling out. A pod admitted
// at t gets the earliest start s >= t that both allow; its start offset is s - t. Over any
// window of W ms: at most B + floor(W*r/1000) starts per app, and Bc + floor(W*rc/1000) in
// all. An app entry whose arrival time has passed is a full bucket, so dropping it loses
// nothing; memory is bounded by evicting the least recently used entry.
import type { V1Pod } from '@kubernetes/client-node';
import type { Config } from '../config';
import { StartCalendar } from './calendar';

export interface PacingOptions {
  /** Starts per second per app. */
  ratePerSecond: number;
  burst: number;
  maxTracked: number;
  /** The budget all apps share; none: apps are paced only on their own. */
  cluster?: { ratePerSecond: number; burst: number };
}

interface AppState {
  /** Theoretical arrival time (ms). */
  tat: number;
  /** The app's latest start (ms): the next one is never earlier. */
  last: number;
}

export class Pacer {
  private readonly intervalMs: number;
  private readonly toleranceMs: number;
  /** key -> bucket state; Map order is least recently used first. */
  private readonly apps = new Map<string, AppState>();
  private readonly cluster?: StartCalendar;
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
    if (options.cluster) this.cluster = new StartCalendar(options.cluster.ratePerSecond, options.cluster.burst);
  }

  get size(): number {
    return this.apps.size;
  }

  /** Starts the cluster budget has given out that are still ahead. */
  get clusterPending(): number {
    return this.cluster?.pending ?? 0;
  }

  /** Start offset in whole ms for the next pod of `key`. A dry run only looks: no token is taken. */
  offset(key: string, dryRun = false): number {
    // Whole milliseconds: the start actually used is what the buckets record.
    const t = Math.ceil(this.now());
    const previous = this.apps.get(key);
    const tat = previous === undefined ? t : Math.max(previous.tat, t);
    const lower = Math.max(t, Math.ceil(tat - this.toleranceMs), previous?.last ?? t);
    const start = this.cluster ? this.cluster.earliest(lower, t, dryRun) : lower;
    if (dryRun) return start - t;
    if (previous !== undefined) this.apps.delete(key);
    else this.makeRoom(t);
    this.apps.set(key, { tat: Math.max(tat, start) + this.intervalMs, last: start });
    return start - t;
  }

  private makeRoom(t: number): void {
    // Idle entries (full buckets) first, from the least recently used end.
    for (const [key, state] of this.apps) {
      if (this.apps.size < this.options.maxTracked && state.tat > t) break;
      if (state.tat <= t) this.apps.delete(key);
      else if (this.apps.size >= this.options.maxTracked) {
        this.apps.delete(key);
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

/** One replica's share of a budget: rate/N and burst/N (at least 1) for N replicas. */
export function replicaShare(rate: number, burst: number, replicas: number): { ratePerSecond: number; burst: number } {
  return { ratePerSecond: rate / replicas, burst: Math.max(1, Math.floor(burst / replicas)) };
}

/** This replica's share: with N replicas behind one Service each paces at rate/N and burst/N
 *  (at least 1), so the cluster-wide rate holds however the apiserver spreads requests. */
export function pacingOptions(config: Config): PacingOptions {
  const { ratePerApp, burstPerApp, ratePerCluster, burstPerCluster, replicas, maxTrackedApps } = config.authz;
  return { ...replicaShare(ratePerApp, burstPerApp, replicas), maxTracked: maxTrackedApps, cluster: replicaShare(ratePerCluster, burstPerCluster, replicas) };
}

/** The admission context's authzOffset: one pacer per server. */
export function authzPacing(config: Config, now?: () => number): { pacer: Pacer; offset(pod: V1Pod, namespace: string | undefined, dryRun: boolean): number } {
  const pacer = new Pacer(pacingOptions(config), now);
  return { pacer, offset: (pod, namespace, dryRun) => pacer.offset(pacingKey(pod, namespace), dryRun) };
}
