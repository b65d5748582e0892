// The podhooks command line (bin/podhooks.js runs main): serve, and the offline tools that
// share the webhook's code. Commands with more than a few lines have their own module here
// (and audit/commands.ts, certs/command.ts).
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Command, Option } from 'commander';
import type { V1Pod } from '@kubernetes/client-node';
import { ConfigError, loadConfig, type Config } from '../config';
import { ClusterError } from '../kube/cluster';
import { createLogger } from '../log';
import { startServer } from '../server';
import { INJECTION_LABEL } from '../validate/admitted';
import { judge } from '../validate/judge';
import { InputError, parseDocuments, podSlots } from '../workloads';
import { certsCommand, CertsUsageError } from '../certs/command';
import { registerAuditCommands } from '../audit/commands';
import { ExitError } from './exit';
import { parseLabels, readInput } from './input';
import { registerInjectCommand } from './inject';
import { registerExplainCommand } from './explain';
import { registerTrafficCommands } from './traffic';
import { registerPolicyCommands } from './policy';

export { ExitError };

function withConfigOption(cmd: Command): Command {
  return cmd.option('-c, --config <file>', 'podhooks config file (YAML); built-in defaults when omitted');
}

/** package.json's version: beside dist/ (and src/), also in the webhook image. */
export function version(): string {
  return JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')).version;
}

function validateCommand(opts: { file: string; namespaceLabel: string[]; output: string }, config: Config): { out: string; denied: boolean } {
  const { text, source } = readInput(opts.file);
  // Offline nobody knows the target namespace: injection is assumed on unless a label says otherwise.
  const namespaceLabels = { [INJECTION_LABEL]: 'enabled', ...parseLabels(opts.namespaceLabel) };
  const rows: { where: string; rule: string; action: string; field: string; message: string }[] = [];
  for (const slot of podSlots(parseDocuments(text, source), source)) {
    const pod = slot.pod as V1Pod;
    // A manifest is judged as the webhook judges a template: as its pods will be admitted.
    const workload = slot.kind === 'Pod' ? undefined : { kind: slot.kind, name: slot.where };
    for (const f of judge({ pod, namespace: slot.namespace, workload, beforeInjection: true }, { labels: namespaceLabels }, config).findings) rows.push({ where: slot.where, ...f });
  }
  const denied = rows.some((r) => r.action === 'deny');
  if (opts.output === 'json') return { out: JSON.stringify({ denied, findings: rows }, null, 2) + '\n', denied };
  const out = rows.length ? rows.map((r) => `${r.action.toUpperCase()}\t${r.where}\t${r.rule}\t${r.field}\t${r.message}`).join('\n') + '\n' : 'no policy violations\n';
  return { out, denied };
}

export function buildProgram(invokedAs = 'podhooks'): Command {
  // As a kubectl plugin (kubectl-podhooks on PATH), help and errors say "kubectl podhooks".
  const program = new Command(invokedAs === 'kubectl-podhooks' ? 'kubectl podhooks' : 'podhooks')
    .description('Kubernetes admission webhooks for lifecycle hooks, live hook logs, JVM debug access and sandboxed-runtime policy')
    .version(version(), '-V, --version', 'print the podhooks version')
    .showHelpAfterError()
    .exitOverride();

  withConfigOption(program.command('serve'))
    .description('run the HTTPS admission server (POST /mutate, /validate; GET /healthz, /readyz) and the metrics server')
    .option('--port <port>', 'HTTPS port (overrides server.port)', (v) => Number(v))
    .option('--address <address>', 'listen address (overrides server.address)')
    .option('--metrics-port <port>', 'metrics port (overrides server.metricsPort)', (v) => Number(v))
    .option('--cert-dir <dir>', 'directory with tls.crt/tls.key (overrides server.certDir)')
    .addOption(new Option('--certificates-mode <mode>', 'files: certDir; secret: issue, store and renew in a Secret (overrides certificates.mode)').choices(['files', 'secret']))
    .addOption(new Option('--validation-engine <engine>', 'who enforces the validating rules (overrides validation.engine; docs/policy.md)').choices(['webhook', 'admission-policy', 'both']))
    .option('--audit-interval-seconds <seconds>', 'audit the cluster\'s pods this often (overrides validation.auditIntervalSeconds)', (v) => Number(v))
    .action(async (opts) => {
      const config = loadConfig(opts.config);
      if (opts.port !== undefined) config.server.port = opts.port;
      if (opts.address !== undefined) config.server.address = opts.address;
      if (opts.metricsPort !== undefined) config.server.metricsPort = opts.metricsPort;
      if (opts.certDir !== undefined) config.server.certDir = opts.certDir;
      if (opts.certificatesMode !== undefined) config.certificates.mode = opts.certificatesMode;
      if (opts.validationEngine !== undefined) config.validation.engine = opts.validationEngine;
      if (opts.auditIntervalSeconds !== undefined) {
        if (!(Number.isInteger(opts.auditIntervalSeconds) && opts.auditIntervalSeconds >= 0)) throw new ExitError(`--audit-interval-seconds ${opts.auditIntervalSeconds}: expected a whole number of seconds, 0 or more`, 2);
        config.validation.auditIntervalSeconds = opts.auditIntervalSeconds;
      }
      const logger = createLogger(config.logLevel);
      const running = await startServer(config, logger);
      let interrupts = 0;
      const stop = (signal: string) => {
        // A repeated SIGTERM must not cut a drain short; a second Ctrl-C means "now".
        if (signal === 'SIGINT' && ++interrupts > 1) process.exit(130);
        logger.info({ signal }, 'signal received');
        running.shutdown().then(() => {
          logger.flush();
          process.exit(0);
        });
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });

  registerInjectCommand(program);
  registerExplainCommand(program);

  withConfigOption(program.command('validate'))
    .description('check manifests against the validating policy offline; exit 1 when a rule denies, 2 on unusable input')
    .requiredOption('-f, --file <file>', 'input file, or - for stdin')
    .option('--namespace-label <key=value>', 'a label of the target namespace (repeatable), e.g. podhooks.io/debug=allowed; podhooks.io/injection=enabled is assumed unless given', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .action((opts) => {
      const { out, denied } = validateCommand(opts, loadConfig(opts.config));
      process.stdout.write(out);
      if (denied) throw new ExitError('a policy rule denies at least one pod', 1);
    });

  withConfigOption(program.command('certs'))
    .description('generate a CA and a serving certificate for the webhook service; with --secret, store them in the cluster (idempotent) and optionally patch caBundle')
    .option('--out-dir <dir>', 'where to write ca.crt, ca.key, tls.crt, tls.key (default without --secret: server.certDir)')
    .option('--days <days>', 'serving certificate lifetime in days (default 365)', (v) => Number(v))
    .option('--secret <namespace/name>', 'create or update this kubernetes.io/tls Secret; a valid one is kept')
    .option('--patch-webhooks', 'set caBundle on every webhook of certificates.mutatingWebhookConfiguration and validatingWebhookConfiguration')
    .option('--force', 'issue a new CA and certificate even if the stored ones are valid (the old CA stays trusted)')
    .option('--kubeconfig <file>', 'kubeconfig (default: KUBECONFIG, ~/.kube/config, in-cluster)')
    .action(async (opts) => {
      try {
        process.stdout.write(await certsCommand(opts, loadConfig(opts.config)));
      } catch (err) {
        if (err instanceof CertsUsageError) throw new ExitError(err.message, 2);
        throw err;
      }
    });

  registerAuditCommands(program, (message, code) => {
    throw new ExitError(message, code);
  });
  registerPolicyCommands(program, (message, code) => {
    throw new ExitError(message, code);
  });

  registerTrafficCommands(program, (message, code) => {
    throw new ExitError(message, code);
  });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram(basename(argv[1] ?? '').replace(/\.js$/, ''));
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof ExitError || err instanceof InputError || err instanceof ConfigError || err instanceof ClusterError) {
      process.stderr.write(`podhooks: ${err.message}\n`);
      process.exit(err instanceof ExitError ? err.exitCode : 2);
    }
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('commander.')) process.exit(code === 'commander.helpDisplayed' || code === 'commander.help' || code === 'commander.version' ? 0 : 2);
    process.stderr.write(`podhooks: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(2);
  }
}
