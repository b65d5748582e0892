// The periodic audit (`podhooks serve` with validation.auditIntervalSeconds, or
// `podhooks audit --interval`): every replica ticks, but only the holder of the Lease
// <namespace>/podhooks-audit scans, so N replicas cost one scan per interval. The lease
// outlives two intervals, so a dead holder is replaced within about two intervals.
import type { Config } from '../config';
import { replicaName, type Cluster } from '../kube/cluster';
import { leaseLock } from '../kube/lease';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import { writeReports } from './reports';
import { scanCluster, type AuditReport } from './scan';

export const AUDIT_LEASE = 'podhooks-audit';

export interface PeriodicAuditOptions {
  cluster: Cluster;
  config: Config;
  logger: Logger;
  metrics?: Metrics;
  intervalMs: number;
  namespace?: string;
  pageSize?: number;
  identity?: string;
  /** Also keep the openreports.io Reports of the scanned namespaces (reports.ts). */
  reports?: boolean;
  /** Called with each report this replica produced. */
  onReport?(report: AuditReport): void;
}

export interface PeriodicAudit {
  stop(): Promise<void>;
}

export async function startPeriodicAudit(opts: PeriodicAuditOptions): Promise<PeriodicAudit> {
  const { CoordinationV1Api } = await import('@kubernetes/client-node');
  const identity = opts.identity ?? `${replicaName()}-${process.pid}`;
  const leaseSeconds = Math.max(15, Math.ceil((2 * opts.intervalMs) / 1000));
  const lock = leaseLock(opts.cluster.kubeConfig.makeApiClient(CoordinationV1Api), opts.config.namespace, AUDIT_LEASE, identity, leaseSeconds);
  const { logger, metrics } = opts;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let current: Promise<void> = Promise.resolve();

  const round = async () => {
    try {
      if (!(await lock.tryAcquire())) {
        metrics?.auditRuns.inc({ result: 'skipped' });
        logger.debug({ lease: `${opts.config.namespace}/${AUDIT_LEASE}`, holder: await lock.holder().catch(() => undefined) }, 'audit skipped: another replica holds the lease');
        return;
      }
      const report = await scanCluster(opts.cluster, opts.config, { namespace: opts.namespace, pageSize: opts.pageSize ?? 500, timeoutMs: Math.max(opts.config.kubernetes.apiTimeoutMs, 10_000) });
      for (const v of report.violations) logger.info({ audit: true, source: 'periodic-audit', ...v }, 'audit violation');
      if (metrics) {
        metrics.auditViolations.reset();
        for (const v of report.violations) metrics.auditViolations.inc({ rule: v.rule, action: v.action });
        metrics.auditRuns.inc({ result: 'completed' });
      }
      logger.info({ pods: report.pods, exempt: report.exempt, violations: report.violations.length, denied: report.denied, identity }, 'audit finished');
      if (opts.reports) await reportRound(report);
      opts.onReport?.(report);
    } catch (err) {
      metrics?.auditRuns.inc({ result: 'failed' });
      logger.warn({ err: (err as Error).message }, 'audit round failed; retrying at the next interval');
    }
  };
  const reportRound = async (report: AuditReport) => {
    try {
      const writes = await writeReports(opts.cluster, report, { timeoutMs: Math.max(opts.config.kubernetes.apiTimeoutMs, 10_000), namespace: opts.namespace });
      for (const [operation, namespaces] of Object.entries(writes)) metrics?.auditReportWrites.inc({ operation }, namespaces.length);
      logger.info({ ...writes, identity }, 'audit reports written');
    } catch (err) {
      metrics?.auditReportWrites.inc({ operation: 'failed' });
      logger.warn({ err: (err as Error).message }, 'audit reports not written; retrying at the next interval');
    }
  };
  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      current = round().finally(() => schedule(opts.intervalMs));
    }, ms);
  };
  schedule(0);
  logger.info({ intervalSeconds: opts.intervalMs / 1000, lease: `${opts.config.namespace}/${AUDIT_LEASE}`, identity }, 'periodic audit started');
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await current;
      await lock.release().catch(() => undefined);
    },
  };
}
