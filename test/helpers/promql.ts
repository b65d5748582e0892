// PromQL as Prometheus' own grammar (@prometheus-io/lezer-promql) reads it: syntax errors,
// and the metric names an expression selects, checked against what podhooks exports.
import { parser } from '@prometheus-io/lezer-promql';
import { Metrics } from '../../src/metrics';

/** The apiserver's webhook metrics the alerts and the dashboard read (kube-apiserver, not podhooks). */
export const APISERVER_METRICS = ['apiserver_admission_webhook_rejection_count', 'apiserver_admission_webhook_fail_open_count', 'up'];

export function promqlProblems(expr: string): { errors: string[]; metrics: string[] } {
  const errors: string[] = [];
  const metrics: string[] = [];
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError) errors.push(`syntax error at ${node.from}: ${JSON.stringify(expr.slice(Math.max(0, node.from - 20), node.to + 20))}`);
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') metrics.push(expr.slice(node.from, node.to));
    },
  });
  return { errors, metrics };
}

/** Every series name podhooks' /metrics can show (histograms with their _bucket/_sum/_count). */
export async function exportedMetricNames(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const m of await new Metrics(true).registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
  }
  return names;
}
