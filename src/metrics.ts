// Prometheus metrics, one registry per server instance (tests run several in a process).
import { Counter, Histogram, Registry, collectDefaultMetrics, Gauge } from 'prom-client';

/** server.webhookTimeoutSeconds' default: deploy/'s webhook configurations' timeoutSeconds. */
export const DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 5;

/** Latency buckets from 0.5 ms up to the apiserver's webhook timeout, with one at 80% of it,
 *  so "close to the timeout" (the alert) and "timed out" are both visible. */
export function durationBuckets(webhookTimeoutSeconds: number): number[] {
  const fine = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20];
  const near = Math.round(webhookTimeoutSeconds * 0.8 * 1000) / 1000;
  return [...new Set([...fine.filter((b) => b < near), near, webhookTimeoutSeconds])];
}

export class Metrics {
  readonly registry = new Registry();
  readonly requests = this.counter('podhooks_admission_requests_total', 'AdmissionReview requests answered, by webhook and decision (allowed, patched, denied, warned, error).', ['webhook', 'decision']);
  readonly duration: Histogram<'webhook' | 'decision'>;
  readonly badRequests = this.counter('podhooks_bad_requests_total', 'Requests answered with an HTTP 4xx (malformed review, body too large, wrong content type, unknown path).', ['reason']);
  readonly violations = this.counter('podhooks_policy_violations_total', 'Policy findings by rule and enforcement action (deny, warn, audit); dry-run requests included.', ['rule', 'action']);
  readonly placements = this.counter('podhooks_placement_assignments_total', 'Pods whose runtime class placement assigned (validation.placement.mode: assign), by runtime class; dry runs excluded.', ['runtime_class']);
  readonly eventsDropped = this.counter('podhooks_events_dropped_total', 'Kubernetes Events not emitted because the bounded queue was full or the API failed.', ['reason']);
  readonly eventsEmitted = this.counter('podhooks_events_emitted_total', 'Kubernetes Events created for denials and warnings.');
  readonly auditViolations = this.gauge('podhooks_audit_violations', 'Violations found in the cluster by the last periodic audit run on this replica, by rule and action.', ['rule', 'action']);
  readonly auditRuns = this.counter('podhooks_audit_runs_total', 'Periodic audit rounds, by result (completed, skipped: another replica holds the Lease, failed).', ['result']);
  readonly auditReportWrites = this.counter('podhooks_audit_report_writes_total', 'openreports.io Reports the periodic audit wrote, by operation (created, updated, unchanged, deleted, failed).', ['operation']);
  readonly policyDrift = this.gauge('podhooks_admission_policy_drift', 'Rendered ValidatingAdmissionPolicies and bindings the cluster lacks, holds in another version, or should not hold (validation.engine both | admission-policy); 0 when in sync.');
  readonly certReloads = this.counter('podhooks_certificate_reloads_total', 'Serving certificate reloads, by result.', ['result']);
  readonly connectionsDropped = this.counter('podhooks_connections_dropped_total', 'Connections closed at accept because server.maxConnections (webhook port) or the metrics port limit was reached.', ['port']);
  readonly templateCache = this.counter('podhooks_mutate_template_cache_total', '/mutate reviews by what the per-template answer cache did: hit (answered from it), miss (injected; a template\'s answer is kept from its second pod on), not-kept (the answer used a registry, RuntimeClass or namespace label lookup, or the pod was too large or deep, or its answer names the token volume or sets the authz start offset in a way that cannot be filled in per pod).', ['result']);
  readonly templateRecalled = this.counter('podhooks_mutate_template_cache_recalled_total', 'Of the template cache\'s hits, those recognised from the review\'s bytes before it was parsed (a kept review\'s replica: the same bytes but for the review uid, the token volume name and managedFields times).');
  readonly certExpiry = this.gauge('podhooks_certificate_expiry_timestamp_seconds', 'notAfter of the serving certificate in use.');

  private counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  /** withDefaults: Node's process_* and nodejs_* metrics, unprefixed as dashboards expect them. */
  constructor(
    withDefaults = true,
    readonly webhookTimeoutSeconds = DEFAULT_WEBHOOK_TIMEOUT_SECONDS,
  ) {
    this.duration = new Histogram({
      name: 'podhooks_admission_duration_seconds',
      help: 'Time from the full request body to the answer written, by webhook and decision.',
      labelNames: ['webhook', 'decision'] as const,
      buckets: durationBuckets(webhookTimeoutSeconds),
      registers: [this.registry],
    });
    if (withDefaults) collectDefaultMetrics({ register: this.registry });
  }
}
