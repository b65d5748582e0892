// Every admission decision other than a plain allow is recorded four ways: the response's
// auditAnnotations (set by the handler), and here, after the answer is written: one pino
// audit line per finding, the podhooks_policy_violations_total counter, and a Kubernetes
// Event on the owning workload (none for dry runs).
import type { V1ObjectReference, V1Pod } from '@kubernetes/client-node';
import type { Outcome } from '../admission/handlers';
import type { AdmissionRequest } from '../admission/review';
import type { EventQueue, PodhooksEvent } from '../kube/events';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { Finding } from '../validate/policy';

import { ANNOTATIONS_RULE } from '../validate/admitted';

/** The rule id recorded for a mutating-webhook refusal (bad podhooks.io/* annotations). */
export { ANNOTATIONS_RULE };

const REASONS = { denied: 'PodhooksDenied', warned: 'PodhooksWarned', audited: 'PodhooksAudited' } as const;

export function podName(req: AdmissionRequest): string {
  const meta = (req.object as V1Pod | undefined)?.metadata;
  return req.name || meta?.name || meta?.generateName || '';
}

/** What the decision was about: the findings, or the mutating webhook's refusal as one finding. */
export function findingsOf(outcome: Outcome): Finding[] {
  if (outcome.findings?.length) return outcome.findings;
  if ((outcome.decision === 'denied' || outcome.decision === 'warned') && outcome.reason) {
    return [{ rule: ANNOTATIONS_RULE, action: outcome.decision === 'denied' ? 'deny' : 'warn', field: 'metadata.annotations', message: outcome.reason }];
  }
  return [];
}

/**
 * The Event's object: the pod's controller (ReplicaSet, Job, StatefulSet, ...) when the
 * pod names one, else the pod itself when it has a name, else its namespace.
 */
export function involvedObject(pod: V1Pod | undefined, namespace: string, name: string, podExists: boolean): V1ObjectReference {
  const owner = pod?.metadata?.ownerReferences?.find((o) => o.controller) ?? pod?.metadata?.ownerReferences?.[0];
  if (owner) return { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid: owner.uid, namespace };
  if (pod?.metadata?.name || (name && !pod?.metadata?.generateName)) {
    return { apiVersion: 'v1', kind: 'Pod', name: pod?.metadata?.name || name, namespace, ...(podExists && pod?.metadata?.uid ? { uid: pod.metadata.uid } : {}) };
  }
  return { apiVersion: 'v1', kind: 'Namespace', name: namespace, namespace };
}

/** A workload whose pod template was judged: the Event is about the workload itself. */
function workloadObject(req: AdmissionRequest, namespace: string): V1ObjectReference | undefined {
  if (req.kind.kind === 'Pod' && !req.kind.group) return undefined;
  const meta = (req.object as { metadata?: { name?: string; uid?: string } } | undefined)?.metadata;
  const apiVersion = req.kind.group ? `${req.kind.group}/${req.kind.version}` : req.kind.version;
  return { apiVersion, kind: req.kind.kind, name: req.name || meta?.name || '', namespace, ...(req.operation === 'UPDATE' && meta?.uid ? { uid: meta.uid } : {}) };
}

export function eventFor(req: AdmissionRequest, outcome: Outcome, findings: Finding[]): PodhooksEvent | undefined {
  // A patched pod with a warning finding (an ignored podhooks.io/status) is a warning too.
  const reason = REASONS[outcome.decision as keyof typeof REASONS] ?? (findings.some((f) => f.action === 'warn') ? REASONS.warned : undefined);
  if (!reason) return undefined;
  const pod = req.object as V1Pod | undefined;
  const namespace = req.namespace || pod?.metadata?.namespace || 'default';
  const workload = workloadObject(req, namespace);
  const name = workload ? '' : podName(req);
  const involved = workload ?? involvedObject(pod, namespace, name, outcome.decision !== 'denied');
  const verb = outcome.decision;
  // For an owned pod the pod name stays out of the message, so a controller's retries
  // aggregate into one Event with a count; the pod name is in the annotation.
  const subject = workload
    ? `the pod template of ${workload.kind} ${workload.name}`
    : involved.kind === 'Pod'
      ? `pod ${name}`
      : involved.kind === 'Namespace'
        ? `pod ${name || '(unnamed)'}`
        : `a pod of ${involved.kind} ${involved.name}`;
  const shown = findings.filter((f) => (verb === 'denied' ? f.action === 'deny' : verb === 'warned' ? f.action === 'warn' : true));
  const message = `podhooks ${verb} ${subject}: ${shown.map((f) => `${f.rule}: ${f.message}`).join('; ')}`;
  return {
    namespace,
    involvedObject: involved,
    reason,
    message,
    annotations: {
      'podhooks.io/rules': [...new Set(findings.map((f) => `${f.action}:${f.rule}`))].join(','),
      'podhooks.io/pod': name,
      'podhooks.io/user': req.userInfo?.username ?? '',
    },
  };
}

export interface DecisionRecorderOptions {
  logger: Logger;
  metrics: Metrics;
  events?: EventQueue;
}

export function createDecisionRecorder(opts: DecisionRecorderOptions) {
  return function recordDecision(webhook: string, req: AdmissionRequest, outcome: Outcome): void {
    if ((outcome.decision === 'allowed' || outcome.decision === 'patched') && !outcome.findings?.length) return;
    // After the answer is on the wire; deferred once more so this request's own log
    // line and metrics come first and the next request is not queued behind us.
    setImmediate(() => {
      const findings = findingsOf(outcome);
      const dryRun = req.dryRun === true;
      const base = { audit: true, webhook, decision: outcome.decision, namespace: req.namespace, name: podName(req), user: req.userInfo?.username, uid: req.uid, dryRun };
      for (const f of findings) {
        opts.metrics.violations.inc({ rule: f.rule, action: f.action });
        opts.logger.info({ ...base, rule: f.rule, action: f.action, field: f.field, message: f.message }, 'policy decision');
      }
      if (dryRun || !opts.events) return;
      const event = eventFor(req, outcome, findings);
      if (event) opts.events.enqueue(event);
    });
  };
}
