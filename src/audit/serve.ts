// What `podhooks serve` adds for policy auditing: the decision recorder behind the
// admission handler's onDecision hook (Events only with a cluster), the periodic audit
// when validation.auditIntervalSeconds is set, and the admission-policy drift check when
// validation.engine is not webhook.
import { ConfigError, type Config } from '../config';
import { replicaName, type Cluster } from '../kube/cluster';
import { EventQueue, kubeEventSink } from '../kube/events';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { PeriodicAudit } from './periodic';
import { createDecisionRecorder } from './record';

export interface PolicyAudit {
  onDecision: ReturnType<typeof createDecisionRecorder>;
  events?: EventQueue;
  stop(): Promise<void>;
}

export async function startPolicyAudit(config: Config, cluster: Cluster | undefined, logger: Logger, metrics: Metrics): Promise<PolicyAudit> {
  const events = cluster
    ? new EventQueue({ sink: kubeEventSink(cluster.core, config.kubernetes.apiTimeoutMs), size: config.kubernetes.eventQueueSize, metrics, logger, instance: replicaName() })
    : undefined;
  let periodic: PeriodicAudit | undefined;
  if (config.validation.auditIntervalSeconds > 0) {
    if (!cluster) throw new ConfigError('validation.auditIntervalSeconds is set but podhooks has no cluster access (kubernetes.kubeconfig, KUBECONFIG or an in-cluster service account)');
    // Lazily: the Lease code loads client-node, which a cluster-less start never needs.
    const { startPeriodicAudit } = await import('./periodic');
    periodic = await startPeriodicAudit({ cluster, config, logger, metrics, intervalMs: config.validation.auditIntervalSeconds * 1000, reports: config.validation.auditReports });
  }
  let drift: { stop(): void } | undefined;
  if (config.validation.engine !== 'webhook') {
    if (!cluster) throw new ConfigError(`validation.engine is ${config.validation.engine} but podhooks has no cluster access to compare the admission policies with its config (kubernetes.kubeconfig, KUBECONFIG or an in-cluster service account)`);
    const { startDriftCheck } = await import('./policy-drift');
    drift = await startDriftCheck(cluster, config, logger, metrics);
  }
  return {
    onDecision: createDecisionRecorder({ logger, metrics, events }),
    events,
    async stop() {
      drift?.stop();
      await periodic?.stop();
      // Let queued Events go out, but never hold shutdown hostage to a slow apiserver.
      if (events) await Promise.race([events.idle(), new Promise((r) => setTimeout(r, config.kubernetes.apiTimeoutMs).unref())]);
    },
  };
}
