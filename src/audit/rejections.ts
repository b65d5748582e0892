// `podhooks rejections`: recent denials and warnings, read back from the Events the
// webhook created (reason PodhooksDenied / PodhooksWarned), newest first.
import type { CoreV1Event, CoreV1EventList } from '@kubernetes/client-node';
import type { Cluster } from '../kube/cluster';
import { deadline } from '../kube/deadline';

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
