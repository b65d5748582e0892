// `podhooks rejections`: recent denials and warnings, read back from the Events the
// webhook created (reason PodhooksDenied / PodhooksWarned), newest first; and the current
// violations the audit keeps in openreports.io Reports, which outlive Events.
import type { CoreV1Event, CoreV1EventList } from '@kubernetes/client-node';
import type { Cluster } from '../kube/cluster';
import { deadline } from '../kube/deadline';
import { readReports } from './reports';

export const REJECTION_REASONS = ['PodhooksDenied', 'PodhooksWarned'] as const;

export interface Rejection {
  lastSeen: string;
  firstSeen: string;
  namespace: string;
  reason: string;
  /** Kind/name of the Event's object: the pod's controller, the pod, or its namespace. */
  object: string;
  pod: string;
  user: string;
  rules: string[];
  count: number;
  message: string;
}

function when(e: CoreV1Event): Date {
  const t = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp;
  return t ? new Date(t as unknown as string) : new Date(0);
}

export function toRejection(e: CoreV1Event): Rejection {
  const a = e.metadata?.annotations ?? {};
  const first = e.firstTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp;
  return {
    lastSeen: when(e).toISOString(),
    firstSeen: first ? new Date(first as unknown as string).toISOString() : when(e).toISOString(),
    namespace: e.metadata?.namespace ?? '',
    reason: e.reason ?? '',
    object: `${e.involvedObject.kind}/${e.involvedObject.name}`,
    pod: a['podhooks.io/pod'] ?? '',
    user: a['podhooks.io/user'] ?? '',
    rules: (a['podhooks.io/rules'] ?? '').split(',').filter(Boolean),
    count: e.count ?? 1,
    message: e.message ?? '',
  };
}

export async function listRejections(cluster: Cluster, opts: { namespace?: string; sinceMs: number; timeoutMs: number; now?: Date }): Promise<Rejection[]> {
  const cutoff = (opts.now ?? new Date()).getTime() - opts.sinceMs;
  const events: CoreV1Event[] = [];
  for (const reason of REJECTION_REASONS) {
    const fieldSelector = `reason=${reason}`;
    let token: string | undefined;
    do {
      const page: CoreV1EventList = opts.namespace
        ? await cluster.core.listNamespacedEvent({ namespace: opts.namespace, fieldSelector, limit: 500, _continue: token }, deadline(opts.timeoutMs))
        : await cluster.core.listEventForAllNamespaces({ fieldSelector, limit: 500, _continue: token }, deadline(opts.timeoutMs));
      events.push(...page.items.filter((e) => when(e).getTime() >= cutoff));
      token = page.metadata?._continue || undefined;
    } while (token);
  }
  return events.sort((a, b) => when(b).getTime() - when(a).getTime()).map(toRejection);
}

/** The reason shown for a violation read from a Report rather than an Event. */
export const REPORT_REASON = 'Report';

/** Every result of podhooks' Reports, as rows: current violations, whatever their age. */
export async function listReported(cluster: Cluster, opts: { namespace?: string; timeoutMs: number }): Promise<Rejection[]> {
  const { CustomObjectsApi } = await import('@kubernetes/client-node');
  const reports = await readReports(cluster.kubeConfig.makeApiClient(CustomObjectsApi), opts.timeoutMs, opts.namespace);
  const rows: Rejection[] = [];
  for (const report of reports.values()) {
    for (const r of report.results) {
      const at = new Date(r.timestamp.seconds * 1000).toISOString();
      const pod = r.resources[0];
      rows.push({
        lastSeen: at,
        firstSeen: at,
        namespace: report.metadata.namespace,
        reason: REPORT_REASON,
        object: `${pod?.kind ?? 'Pod'}/${pod?.name ?? ''}`,
        pod: pod?.name ?? '',
        user: '',
        rules: [`${r.properties?.action ?? r.result}:${r.rule}`],
        count: 1,
        message: r.message,
      });
    }
  }
  return rows.sort((a, b) => b.lastSeen.localeCompare(a.lastSeen));
}
