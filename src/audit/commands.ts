// `podhooks audit` and `podhooks rejections`: the ops side of the validating policy.
import { Command, Option } from 'commander';
import { loadConfig, type Config } from '../config';
import { ClusterError, connectCluster, type Cluster } from '../kube/cluster';
import { createLogger } from '../log';
import { listRejections, listReported, type Rejection } from './rejections';
import { ReportsUnavailable, writeReports } from './reports';
import { scanCluster, type AuditReport } from './scan';
import { age, parseDuration, table } from './text';

/** Throws the CLI's exit error (message, exit code); injected to keep cli.ts the only owner. */
export type Fail = (message: string, exitCode: number) => never;

interface ClusterOpts {
  config?: string;
  kubeconfig?: string;
}

async function clusterFor(opts: ClusterOpts): Promise<{ config: Config; cluster: Cluster }> {
  const config = loadConfig(opts.config);
  if (opts.kubeconfig) config.kubernetes.kubeconfig = opts.kubeconfig;
  // These commands exist to talk to a cluster, whatever the server's kubernetes.enabled says.
  config.kubernetes.enabled = 'auto';
  const cluster = await connectCluster(config);
  if (!cluster) throw new ClusterError('no cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a pod with a service account');
  return { config, cluster };
}

function duration(option: string, fail: Fail) {
  return (value: string) => {
    try {
      return parseDuration(option, value);
    } catch (err) {
      return fail((err as Error).message, 2);
    }
  };
}

export function formatReport(report: AuditReport, output: string): string {
  if (output === 'json') return JSON.stringify(report, null, 2) + '\n';
  const summary = `${report.pods} pods scanned (${report.exempt} exempt), ${report.violations.length} violations (${report.violations.filter((v) => v.action === 'deny').length} deny)\n`;
  if (!report.violations.length) return `no policy violations; ${summary}`;
  const rows = report.violations.map((v) => [v.namespace, v.pod, v.owner ?? '-', v.rule, v.action.toUpperCase(), v.field, v.message]);
  return table(['NAMESPACE', 'POD', 'OWNER', 'RULE', 'ACTION', 'FIELD', 'MESSAGE'], rows) + summary;
}

function apiError(err: unknown, what: string): Error {
  const e = err as { code?: number; body?: unknown; message?: string };
  let detail = e.message ?? String(err);
  try {
    detail = (typeof e.body === 'string' ? JSON.parse(e.body) : (e.body as { message: string })).message ?? detail;
  } catch {
    /* keep the message */
  }
  return new ClusterError(`${what}: ${e.code ? `HTTP ${e.code}: ` : ''}${detail}`);
}

export function registerAuditCommands(program: Command, fail: Fail): void {
  program
    .command('audit')
    .description('evaluate the live cluster\'s pods against the validating policy (like Gatekeeper\'s audit); exit 1 if any rule denies')
    .option('-c, --config <file>', 'podhooks config file (YAML); built-in defaults when omitted')
    .option('--kubeconfig <file>', 'kubeconfig to use (default: KUBECONFIG, ~/.kube/config, in-cluster)')
    .option('-n, --namespace <ns>', 'only this namespace (default: all namespaces)')
    .option('--page-size <n>', 'pods per list request', (v) => Number(v), 500)
    .option('--interval <duration>', 'audit again every interval (e.g. 10m) while holding the Lease <podhooks namespace>/podhooks-audit; runs until stopped', duration('--interval', fail))
    .option('--report', 'also write the results as openreports.io Reports, one per namespace, replacing earlier ones and deleting those of namespaces now without violations')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (opts) => {
      if (!Number.isInteger(opts.pageSize) || opts.pageSize < 1) fail(`--page-size ${JSON.stringify(String(opts.pageSize))}: expected a positive integer`, 2);
      const { config, cluster } = await clusterFor(opts);
      const timeoutMs = Math.max(config.kubernetes.apiTimeoutMs, 10_000);
      if (opts.interval === undefined) {
        const report = await scanCluster(cluster, config, { namespace: opts.namespace, pageSize: opts.pageSize, timeoutMs }).catch((err) => {
          throw apiError(err, 'listing pods');
        });
        process.stdout.write(formatReport(report, opts.output));
        if (opts.report) {
          const writes = await writeReports(cluster, report, { timeoutMs, namespace: opts.namespace }).catch((err) => {
            throw err instanceof ReportsUnavailable ? new ClusterError(err.message) : apiError(err, 'writing reports');
          });
          const said = Object.entries(writes).map(([op, namespaces]) => `${namespaces.length} ${op}`);
          process.stderr.write(`podhooks: reports: ${said.join(', ')}\n`);
        }
        if (report.denied) fail('at least one pod violates a deny-level rule', 1);
        return;
      }
      const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
      const { startPeriodicAudit } = await import('./periodic');
      const periodic = await startPeriodicAudit({
        cluster,
        config,
        logger,
        intervalMs: opts.interval,
        namespace: opts.namespace,
        pageSize: opts.pageSize,
        reports: opts.report === true,
        onReport: (report) => process.stdout.write(opts.output === 'json' ? JSON.stringify(report) + '\n' : `--- ${new Date().toISOString()}\n${formatReport(report, 'table')}`),
      });
      const stop = () => periodic.stop().then(() => process.exit(0));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      await new Promise(() => undefined);
    });

  program
    .command('rejections')
    .description('recent podhooks denials and warnings, from Kubernetes Events (reason PodhooksDenied / PodhooksWarned), and with --source reports|all the current violations in the audit\'s Reports; newest first')
    .option('-c, --config <file>', 'podhooks config file (YAML); built-in defaults when omitted')
    .option('--kubeconfig <file>', 'kubeconfig to use (default: KUBECONFIG, ~/.kube/config, in-cluster)')
    .option('-n, --namespace <ns>', 'only this namespace (default: all namespaces)')
    .option('--since <duration>', 'how far back for Events (e.g. 30m, 1h, 7d); Events expire after the apiserver\'s --event-ttl (1h by default). Reports list current violations, whatever their age', duration('--since', fail), 3_600_000)
    .addOption(new Option('--source <source>', 'events: denials and warnings at admission; reports: current violations from the audit\'s openreports.io Reports; all: both').choices(['events', 'reports', 'all']).default('events'))
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (opts) => {
      const { config, cluster } = await clusterFor(opts);
      const now = new Date();
      const timeoutMs = Math.max(config.kubernetes.apiTimeoutMs, 10_000);
      const rows: Rejection[] = [];
      if (opts.source !== 'reports') {
        rows.push(...(await listRejections(cluster, { namespace: opts.namespace, sinceMs: opts.since, timeoutMs, now }).catch((err) => {
          throw apiError(err, 'listing events');
        })));
      }
      if (opts.source !== 'events') {
        const reported = await listReported(cluster, { namespace: opts.namespace, timeoutMs }).catch((err) => {
          if (err instanceof ReportsUnavailable && opts.source === 'all') {
            process.stderr.write(`podhooks: no Reports read: ${err.message}\n`);
            return [];
          }
          throw err instanceof ReportsUnavailable ? new ClusterError(err.message) : apiError(err, 'listing reports');
        });
        rows.push(...reported);
        rows.sort((a, b) => b.lastSeen.localeCompare(a.lastSeen));
      }
      if (opts.output === 'json') return void process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      if (!rows.length) return void process.stdout.write(opts.source === 'events' ? 'no podhooks denials or warnings in that period\n' : 'no podhooks denials, warnings or reported violations\n');
      process.stdout.write(
        table(
          ['LAST SEEN', 'NAMESPACE', 'REASON', 'OBJECT', 'POD', 'USER', 'COUNT', 'MESSAGE'],
          rows.map((r) => [age(new Date(r.lastSeen), now), r.namespace, r.reason, r.object, r.pod || '-', r.user || '-', String(r.count), r.message]),
        ),
      );
    });
}
