// `podhooks audit`: the live cluster's pods against the same rules the webhook applies,
// like Gatekeeper's audit. Finds what slipped past (webhook down, failurePolicy Ignore,
// pods created before a rule existed). Pods are listed in pages so a large cluster never
// arrives as one response; namespace labels are read only when a rule needs them.
import type { V1Pod, V1PodList } from '@kubernetes/client-node';
import type { Config } from '../config';
import type { Cluster } from '../kube/cluster';
import { deadline } from '../kube/deadline';
import { namespaceLabelCache } from '../kube/namespaces';
import { judge, needsNamespaceFacts } from '../validate/judge';

export interface AuditViolation {
  namespace: string;
  pod: string;
  /** The pod's uid (Reports name the exact pod, not a later one of the same name). */
  uid?: string;
  /** Kind/name of the pod's controller, when it has one. */
  owner?: string;
  rule: string;
  action: 'deny' | 'warn' | 'audit';
  field: string;
  message: string;
}

export interface AuditReport {
  pods: number;
  exempt: number;
  violations: AuditViolation[];
  /** True when at least one violation is deny-level. */
  denied: boolean;
}

export interface ScanOptions {
  namespace?: string;
  pageSize: number;
  timeoutMs: number;
}

export function auditPods(pods: Iterable<V1Pod>, config: Config, labels: (ns: string) => { labels?: Record<string, string>; error?: string }): AuditReport {
  const report: AuditReport = { pods: 0, exempt: 0, violations: [], denied: false };
  for (const pod of pods) {
    report.pods++;
    const namespace = pod.metadata?.namespace ?? 'default';
    const subject = { pod, namespace };
    const { exempt, findings } = judge(subject, needsNamespaceFacts(subject, config) ? labels(namespace) : {}, config);
    if (exempt) {
      report.exempt++;
      continue;
    }
    const owner = pod.metadata?.ownerReferences?.find((o) => o.controller);
    for (const f of findings) {
      report.violations.push({
        namespace,
        pod: pod.metadata?.name ?? '',
        ...(pod.metadata?.uid ? { uid: pod.metadata.uid } : {}),
        ...(owner ? { owner: `${owner.kind}/${owner.name}` } : {}),
        rule: f.rule,
        action: f.action,
        field: f.field,
        message: f.message,
      });
    }
  }
  report.denied = report.violations.some((v) => v.action === 'deny');
  return report;
}

async function* listPods(cluster: Cluster, opts: ScanOptions): AsyncGenerator<V1Pod[]> {
  let token: string | undefined;
  do {
    const page: V1PodList = opts.namespace
      ? await cluster.core.listNamespacedPod({ namespace: opts.namespace, limit: opts.pageSize, _continue: token }, deadline(opts.timeoutMs))
      : await cluster.core.listPodForAllNamespaces({ limit: opts.pageSize, _continue: token }, deadline(opts.timeoutMs));
    yield page.items;
    token = page.metadata?._continue || undefined;
  } while (token);
}

export async function scanCluster(cluster: Cluster, config: Config, opts: ScanOptions): Promise<AuditReport> {
  const source = namespaceLabelCache(cluster, opts.timeoutMs);
  const total: AuditReport = { pods: 0, exempt: 0, violations: [], denied: false };
  for await (const pods of listPods(cluster, opts)) {
    // Labels for this page's namespaces first, so the pure evaluation below stays synchronous.
    const wanted = new Set(pods.filter((p) => needsNamespaceFacts({ pod: p, namespace: p.metadata?.namespace ?? 'default' }, config)).map((p) => p.metadata?.namespace ?? 'default'));
    const labels = new Map<string, { labels?: Record<string, string>; error?: string }>();
    await Promise.all(
      [...wanted].map((ns) =>
        source.labels(ns).then(
          (l) => labels.set(ns, { labels: l }),
          (err: Error) => labels.set(ns, { error: err.message }),
        ),
      ),
    );
    const page = auditPods(pods, config, (ns) => labels.get(ns) ?? {});
    total.pods += page.pods;
    total.exempt += page.exempt;
    total.violations.push(...page.violations);
  }
  total.denied = total.violations.some((v) => v.action === 'deny');
  return total;
}
