// Lasting audit results: the periodic audit and `podhooks audit --report` write one
// openreports.io/v1alpha1 Report per namespace (the format Kyverno and policy-reporter
// read), one result per pod and rule, with severity, message and the time it was first
// found. A round replaces what the last one wrote (unchanged reports are not written at
// all, results keep their first-found time) and deletes the reports of namespaces that no
// longer have violations, so reports describe the cluster now instead of piling up.
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import type { Cluster } from '../kube/cluster';
import { deadline } from '../kube/deadline';
import type { AuditReport, AuditViolation } from './scan';

export const REPORTS = { group: 'openreports.io', version: 'v1alpha1', plural: 'reports' } as const;
export const REPORT_NAME = 'podhooks-policy';
export const MANAGED = { key: 'app.kubernetes.io/managed-by', value: 'podhooks' } as const;
/** A Report must fit etcd's object size; results beyond this are counted, not listed. */
export const MAX_RESULTS = 1000;

type Action = AuditViolation['action'];
const RESULT: Record<Action, 'fail' | 'warn'> = { deny: 'fail', warn: 'warn', audit: 'warn' };
const SEVERITY: Record<Action, 'high' | 'medium' | 'low'> = { deny: 'high', warn: 'medium', audit: 'low' };

export interface ReportResult {
  source: string;
  policy: string;
  rule: string;
  result: 'fail' | 'warn';
  severity: 'high' | 'medium' | 'low';
  scored: boolean;
  timestamp: { seconds: number; nanos: number };
  message: string;
  resources: { apiVersion: string; kind: string; name: string; namespace: string; uid?: string }[];
  properties: Record<string, string>;
}

export interface Report {
  apiVersion: string;
  kind: 'Report';
  metadata: { name: string; namespace: string; labels: Record<string, string>; annotations?: Record<string, string>; resourceVersion?: string };
  source: string;
  scope: { apiVersion: string; kind: string; name: string };
  summary: { pass: number; fail: number; warn: number; error: number; skip: number };
  results: ReportResult[];
}

const resultKey = (r: Pick<ReportResult, 'rule' | 'resources'>) => `${r.resources[0]?.uid ?? r.resources[0]?.name}\u0000${r.rule}`;

/**
 * The Report of each namespace that has violations. `previous` results keep their time when
 * the same pod still breaks the same rule with the same message.
 */
export function buildReports(audit: AuditReport, now: Date, previous: Map<string, Report> = new Map()): Map<string, Report> {
  const byPodRule = new Map<string, AuditViolation[]>();
  for (const v of audit.violations) {
    const key = `${v.namespace}\u0000${v.uid ?? v.pod}\u0000${v.rule}`;
    byPodRule.set(key, [...(byPodRule.get(key) ?? []), v]);
  }
  const reports = new Map<string, Report>();
  for (const vs of byPodRule.values()) {
    const v = vs[0];
    const earlier = new Map((previous.get(v.namespace)?.results ?? []).map((r) => [resultKey(r), r]));
    const result: ReportResult = {
      source: 'podhooks',
      policy: `podhooks-${v.rule}`,
      rule: v.rule,
      result: RESULT[v.action],
      severity: SEVERITY[v.action],
      scored: v.action === 'deny',
      timestamp: { seconds: Math.floor(now.getTime() / 1000), nanos: 0 },
      message: vs.map((x) => x.message).join('; '),
      resources: [{ apiVersion: 'v1', kind: 'Pod', name: v.pod, namespace: v.namespace, ...(v.uid ? { uid: v.uid } : {}) }],
      properties: { action: v.action, fields: vs.map((x) => x.field).join(', '), ...(v.owner ? { owner: v.owner } : {}) },
    };
    const before = earlier.get(resultKey(result));
    if (before && before.message === result.message) result.timestamp = before.timestamp;
    const report = reports.get(v.namespace) ?? newReport(v.namespace);
    report.results.push(result);
    reports.set(v.namespace, report);
  }
  for (const report of reports.values()) {
    const order = { fail: 0, warn: 1 };
    report.results.sort((a, b) => order[a.result] - order[b.result] || a.resources[0].name.localeCompare(b.resources[0].name) || a.rule.localeCompare(b.rule));
    report.summary.fail = report.results.filter((r) => r.result === 'fail').length;
    report.summary.warn = report.results.length - report.summary.fail;
    if (report.results.length > MAX_RESULTS) {
      report.metadata.annotations = { 'podhooks.io/results-not-listed': String(report.results.length - MAX_RESULTS) };
      report.results = report.results.slice(0, MAX_RESULTS);
    }
  }
  return reports;
}

function newReport(namespace: string): Report {
  return {
    apiVersion: `${REPORTS.group}/${REPORTS.version}`,
    kind: 'Report',
    metadata: { name: REPORT_NAME, namespace, labels: { [MANAGED.key]: MANAGED.value, 'app.kubernetes.io/name': 'podhooks' } },
    source: 'podhooks',
    scope: { apiVersion: 'v1', kind: 'Namespace', name: namespace },
    summary: { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 },
    results: [],
  };
}

const notListed = (r: Report) => r.metadata.annotations?.['podhooks.io/results-not-listed'];

/** What a write round did, for the log line and the metric. */
export interface ReportWrites {
  created: string[];
  updated: string[];
  unchanged: string[];
  deleted: string[];
}

export class ReportsUnavailable extends Error {}

function status(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

/** The Reports podhooks wrote earlier, by namespace (only `namespace` when given). */
export async function readReports(api: CustomObjectsApi, timeoutMs: number, namespace?: string): Promise<Map<string, Report>> {
  const labelSelector = `${MANAGED.key}=${MANAGED.value}`;
  let list: { items?: Report[] };
  try {
    list = (namespace
      ? await api.listNamespacedCustomObject({ ...REPORTS, namespace, labelSelector }, deadline(timeoutMs))
      : await api.listClusterCustomObject({ ...REPORTS, labelSelector }, deadline(timeoutMs))) as { items?: Report[] };
  } catch (err) {
    if (status(err) === 404) {
      throw new ReportsUnavailable('the openreports.io Report CRD is not installed: install deploy/components/reports-crd (Kyverno installs it too), or set validation.auditReports: false');
    }
    throw err;
  }
  return new Map((list.items ?? []).filter((r) => r.metadata.name === REPORT_NAME).map((r) => [r.metadata.namespace, r]));
}

/**
 * Makes the cluster's podhooks Reports match `audit`: written where there are violations,
 * deleted where there are none (within `namespace` when the audit covered only that one).
 */
export async function writeReports(cluster: Cluster, audit: AuditReport, opts: { timeoutMs: number; namespace?: string; now?: Date }): Promise<ReportWrites> {
  const { CustomObjectsApi } = await import('@kubernetes/client-node');
  const api = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
  const previous = await readReports(api, opts.timeoutMs, opts.namespace);
  const wanted = buildReports(audit, opts.now ?? new Date(), previous);
  const done: ReportWrites = { created: [], updated: [], unchanged: [], deleted: [] };
  for (const [namespace, report] of wanted) {
    const before = previous.get(namespace);
    if (!before) {
      await api.createNamespacedCustomObject({ ...REPORTS, namespace, body: report }, deadline(opts.timeoutMs));
      done.created.push(namespace);
    } else if (isDeepStrictEqual([before.results, before.summary, notListed(before)], [report.results, report.summary, notListed(report)])) {
      done.unchanged.push(namespace);
    } else {
      // resourceVersion: a concurrent writer makes this fail (409) rather than be overwritten.
      const body = { ...report, metadata: { ...report.metadata, resourceVersion: before.metadata.resourceVersion } };
      await api.replaceNamespacedCustomObject({ ...REPORTS, namespace, name: REPORT_NAME, body }, deadline(opts.timeoutMs));
      done.updated.push(namespace);
    }
  }
  for (const namespace of previous.keys()) {
    if (wanted.has(namespace)) continue;
    try {
      await api.deleteNamespacedCustomObject({ ...REPORTS, namespace, name: REPORT_NAME }, deadline(opts.timeoutMs));
    } catch (err) {
      if (status(err) !== 404) throw err;
    }
    done.deleted.push(namespace);
  }
  return done;
}
