// `podhooks serve` with validation.engine both | admission-policy: every minute, compare the
// cluster's ValidatingAdmissionPolicies with what this config renders, and say so (a warning
// log line naming each object and the gauge podhooks_admission_policy_drift) when they
// differ, so a config change that was not re-rendered does not go unnoticed.
import type { Config } from '../config';
import type { Cluster } from '../kube/cluster';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import { policyDrift } from '../validate/admission-policy/drift';

export const DRIFT_CHECK_INTERVAL_MS = 60_000;

export async function startDriftCheck(cluster: Cluster, config: Config, logger: Logger, metrics: Metrics, intervalMs = DRIFT_CHECK_INTERVAL_MS): Promise<{ stop(): void }> {
  const { AdmissionregistrationV1Api } = await import('@kubernetes/client-node');
  const api = cluster.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  let last = '';
  const check = async () => {
    try {
      const drift = await policyDrift(api, config, Math.max(config.kubernetes.apiTimeoutMs, 10_000));
      metrics.policyDrift.set(drift.length);
      const now = JSON.stringify(drift);
      // Said once per change, not every minute.
      if (now !== last) {
        if (drift.length) logger.warn({ engine: config.validation.engine, drift }, 'admission policies in the cluster differ from this config; run podhooks policy render and apply it');
        else logger.info({ engine: config.validation.engine }, 'admission policies in the cluster match this config');
      }
      last = now;
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'could not compare the admission policies with this config; retrying in a minute');
    }
  };
  void check(); // not awaited: a slow API must not hold up start-up
  const timer = setInterval(check, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
