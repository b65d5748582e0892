// `podhooks policy render`: the rules as ValidatingAdmissionPolicies, ready for kubectl
// apply, from the same config the webhook reads. Deterministic (no timestamps, no paths), so
// deploy/ and the Helm chart can render at build time and a test can check they are current.
// `podhooks policy check`: does the cluster hold exactly that?
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { parse as parseYaml, stringify } from 'yaml';
import { ConfigError, loadConfig, parseConfig, type Config } from '../config';
import { ClusterError, connectCluster } from '../kube/cluster';
import { policyDrift } from '../validate/admission-policy/drift';
import { renderPolicies, WEBHOOK_ONLY } from '../validate/admission-policy/render';
import { table } from '../audit/text';

/** Throws the CLI's exit error (message, exit code). */
export type Fail = (message: string, exitCode: number) => never;

/**
 * A podhooks config file, or a ConfigMap manifest that carries one under data."config.yaml"
 * (deploy/base/config.yaml), so deploy/ renders from the very file it installs.
 */
export function loadConfigOrConfigMap(path?: string): Config {
  if (!path) return loadConfig();
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch {
    return loadConfig(path); // reports the read or YAML error in its own words
  }
  const cm = doc as { kind?: unknown; metadata?: { name?: string }; data?: Record<string, unknown> };
  if (cm?.kind !== 'ConfigMap') return loadConfig(path);
  const text = cm.data?.['config.yaml'];
  if (typeof text !== 'string') throw new ConfigError(`${path}: ConfigMap ${cm.metadata?.name ?? ''} has no data."config.yaml" holding the podhooks config`);
  let inner: unknown;
  try {
    inner = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${path}: data."config.yaml" of ConfigMap ${cm.metadata?.name ?? ''} is not valid YAML: ${(err as Error).message}`);
  }
  return parseConfig(inner, `config.yaml of ConfigMap ${cm.metadata?.name ?? ''} in ${path}`);
}

export function renderText(config: Config, output: 'yaml' | 'json'): { out: string; notes: string[] } {
  const { objects, skipped } = renderPolicies(config);
  const notes = [
    ...skipped.map((s) => `not rendered: ${s.rule} (${s.reason})`),
    ...WEBHOOK_ONLY.map((w) => `webhook only: ${w}`),
  ];
  if (output === 'json') return { out: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2) + '\n', notes };
  const header = [
    '# podhooks validating policy as ValidatingAdmissionPolicies (admissionregistration.k8s.io/v1),',
    '# rendered by `podhooks policy render`: one policy and binding per rule, the config compiled',
    '# in. Apply with kubectl apply -f; re-render when the config changes (docs/policy.md).',
    ...notes.map((n) => `# ${n}`),
  ];
  const docs = objects.map((o) => stringify(o, { lineWidth: 0, aliasDuplicateObjects: false }));
  return { out: `${header.join('\n')}\n${docs.join('---\n')}`, notes };
}

export function registerPolicyCommands(program: Command, fail: Fail): void {
  const policy = program.command('policy').description('the validating policy as ValidatingAdmissionPolicies (docs/policy.md, "Engines")');
  policy
    .command('render')
    .description('print a ValidatingAdmissionPolicy and binding per rule, with the config compiled in, for kubectl apply')
    .option('-c, --config <file>', 'podhooks config file, or a ConfigMap manifest with data."config.yaml" (deploy/base/config.yaml); built-in defaults when omitted')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
    .action((opts) => {
      let rendered: ReturnType<typeof renderText>;
      try {
        rendered = renderText(loadConfigOrConfigMap(opts.config), opts.output);
      } catch (err) {
        if (err instanceof ConfigError) return fail(err.message, 2);
        throw err;
      }
      process.stdout.write(rendered.out);
      if (opts.output === 'json') for (const n of rendered.notes) process.stderr.write(`podhooks: ${n}\n`);
    });
  registerPolicyCheck(policy, fail);
}

export function registerPolicyCheck(policy: Command, fail: Fail): void {
  policy
    .command('check')
    .description('compare the cluster\'s podhooks ValidatingAdmissionPolicies and bindings with what the config renders; exit 1 on any difference')
    .option('-c, --config <file>', 'podhooks config file, or a ConfigMap manifest with data."config.yaml"; built-in defaults when omitted')
    .option('--kubeconfig <file>', 'kubeconfig to use (default: KUBECONFIG, ~/.kube/config, in-cluster)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (opts) => {
      const config = loadConfigOrConfigMap(opts.config);
      if (opts.kubeconfig) config.kubernetes.kubeconfig = opts.kubeconfig;
      config.kubernetes.enabled = 'auto';
      const cluster = await connectCluster(config);
      if (!cluster) throw new ClusterError('no cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a pod with a service account');
      const { AdmissionregistrationV1Api } = await import('@kubernetes/client-node');
      const drift = await policyDrift(cluster.kubeConfig.makeApiClient(AdmissionregistrationV1Api), config, Math.max(config.kubernetes.apiTimeoutMs, 10_000)).catch((err) => {
        throw new ClusterError(`reading admission policies: ${(err as { code?: number }).code ? `HTTP ${(err as { code: number }).code}: ` : ''}${(err as Error).message}`);
      });
      if (opts.output === 'json') process.stdout.write(JSON.stringify({ inSync: drift.length === 0, drift }, null, 2) + '\n');
      else if (!drift.length) process.stdout.write('the cluster\'s admission policies match this config\n');
      else process.stdout.write(table(['KIND', 'NAME', 'PROBLEM', 'FIX'], drift.map((d) => [d.kind, d.name, d.problem, d.detail])));
      if (drift.length) fail(`${drift.length} admission policy object(s) differ from this config`, 1);
    });
}
