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
  readonly requests = new Counter({
    name: 'podhooks_admission_requests_total',
    help: 'AdmissionReview requests answered, by webhook and decision (allowed, patched, denied, warned, error).',
    labelNames: ['webhook', 'decision'] as const,
    registers: [this.registry],
  });
  readonly duration: Histogram<'webhook' | 'decision'>;
  readonly badRequests = new Counter({
    name: 'podhooks_bad_requests_total',
    help: 'Requests answered with an HTTP 4xx (malformed review, body too large, wrong content type, unknown path).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly violations = new Counter({
    name: 'podhooks_policy_violations_total',
    help: 'Policy findings by rule and enforcement action (deny, warn, audit); dry-run requests included.',
    labelNames: ['rule', 'action'] as const,
    registers: [this.registry],
  });
  readonly placements = new Counter({
    name: 'podhooks_placement_assignments_total',
    help: 'Pods whose runtime class placement assigned (validation.placement.mode: assign), by runtime class; dry runs excluded.',
    labelNames: ['runtime_class'] as const,
    registers: [this.registry],
  });
  readonly eventsDropped = new Counter({
    name: 'podhooks_events_dropped_total',
    help: 'Kubernetes Events not emitted because the bounded queue was full or the API failed.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly eventsEmitted = new Counter({
    name: 'podhooks_events_emitted_total',
    help: 'Kubernetes Events created for denials and warnings.',
    registers: [this.registry],
  });
  readonly auditViolations = new Gauge({
    name: 'podhooks_audit_violations',
    help: 'Violations found in the cluster by the last periodic audit run on this replica, by rule and action.',
    labelNames: ['rule', 'action'] as const,
    registers: [this.registry],
  });
  readonly auditRuns = new Counter({
    name: 'podhooks_audit_runs_total',
    help: 'Periodic audit rounds, by result (completed, skipped: another replica holds the Lease, failed).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly auditReportWrites = new Counter({
    name: 'podhooks_audit_report_writes_total',
    help: 'openreports.io Reports the periodic audit wrote, by operation (created, updated, unchanged, deleted, failed).',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });
  readonly policyDrift = new Gauge({
    name: 'podhooks_admission_policy_drift',
    help: 'Rendered ValidatingAdmissionPolicies and bindings the cluster lacks, holds in another version, or should not hold (validation.engine both | admission-policy); 0 when in sync.',
    registers: [this.registry],
  });
  readonly certReloads = new Counter({
    name: 'podhooks_certificate_reloads_total',
    help: 'Serving certificate reloads, by result.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly connectionsDropped = new Counter({
    name: 'podhooks_connections_dropped_total',
    help: 'Connections closed at accept because server.maxConnections (webhook port) or the metrics port limit was reached.',
    labelNames: ['port'] as const,
    registers: [this.registry],
  });
  readonly certExpiry = new Gauge({
    name: 'podhooks_certificate_expiry_timestamp_seconds',
    help: 'notAfter of the serving certificate in use.',
    registers: [this.registry],
  });

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
