// `podhooks explain -f pod.yaml [-n NS]` (kubectl podhooks explain), like istioctl's
// check-inject: would each webhook see this pod, what would injection do, and why not.
// Namespace labels and webhook configurations come from the cluster when one is configured,
// else from --namespace-label flags and deploy/base/webhooks.yaml (or --webhooks FILE).
import { join } from 'node:path';
import { Command, Option } from 'commander';
import type { V1Pod } from '@kubernetes/client-node';
import { table } from '../audit/text';
import { loadConfig, type Config } from '../config';
import { connectCluster, withTimeout, type Cluster } from '../kube/cluster';
import { explainPod, type Explanation } from '../explain/report';
import { webhooksOf, type Webhook } from '../explain/webhooks';
import { parseDocuments, podSlots } from '../workloads';
import { ExitError } from './exit';
import { parseLabels, readInput, repeatable } from './input';

/** The webhook configurations deploy/ registers (also in the webhook image). */
export const DEPLOYED_WEBHOOKS = join(__dirname, '..', '..', 'deploy', 'base', 'webhooks.yaml');

interface ExplainOpts {
  file: string;
  namespace?: string;
  namespaceLabel: string[];
  webhooks?: string;
  kubeconfig?: string;
  output: string;
  nativeSidecars: string;
  config?: string;
}

function webhooksFromFile(file: string): { webhooks: Webhook[]; from: string } {
  const { text, source } = readInput(file);
  const webhooks = webhooksOf(parseDocuments(text, source));
  if (!webhooks.length) throw new ExitError(`${source}: no MutatingWebhookConfiguration or ValidatingWebhookConfiguration with webhooks found`, 2);
  return { webhooks, from: source };
}

async function fromCluster(cluster: Cluster, config: Config, namespace: string): Promise<{ labels: Record<string, string>; webhooks?: Webhook[] }> {
  const k8s = await import('@kubernetes/client-node');
  const timeout = Math.max(config.kubernetes.apiTimeoutMs, 10_000);
  const notFound = (err: unknown) => (err as { code?: number }).code === 404;
  let labels: Record<string, string>;
  try {
    labels = (await withTimeout(cluster.core.readNamespace({ name: namespace }), timeout, `reading namespace ${namespace}`)).metadata?.labels ?? {};
  } catch (err) {
    if (notFound(err)) throw new ExitError(`namespace ${namespace} does not exist in the cluster (${cluster.source})`, 2);
    throw new ExitError(`reading namespace ${namespace}: ${(err as Error).message}`, 2);
  }
  const api = cluster.kubeConfig.makeApiClient(k8s.AdmissionregistrationV1Api);
  const read = async (fn: () => Promise<object>) => {
    try {
      return await withTimeout(fn(), timeout, 'reading the webhook configurations');
    } catch (err) {
      if (notFound(err)) return undefined;
      throw new ExitError(`reading the webhook configurations: ${(err as Error).message}`, 2);
    }
  };
  const mutating = await read(() => api.readMutatingWebhookConfiguration({ name: config.certificates.mutatingWebhookConfiguration }));
  const validating = await read(() => api.readValidatingWebhookConfiguration({ name: config.certificates.validatingWebhookConfiguration }));
  const objects = [mutating && { kind: 'MutatingWebhookConfiguration', ...mutating }, validating && { kind: 'ValidatingWebhookConfiguration', ...validating }].filter(Boolean) as Record<string, any>[];
  return { labels, webhooks: objects.length ? webhooksOf(objects) : undefined };
}

function formatText(e: Explanation): string {
  const labels = Object.entries(e.namespaceLabels).map(([k, v]) => `${k}=${v}`).join(', ');
  const lines = [`${e.pod} in namespace ${e.namespace}`, `  namespace labels (${e.namespaceLabelsFrom}): ${labels || 'none'}`, `  webhooks (${e.webhooksFrom}):`, ''];
  lines.push(table(['WEBHOOK', 'OUTCOME', 'FAILURE POLICY', 'WHY'], e.webhooks.map((w) => [w.webhook, w.outcome, w.failurePolicy, w.reasons.join('; ')])));
  const inj = e.injection;
  const detail = (label: string, list: string[]) => (list.length ? `  ${label}: ${list.join(', ')}` : '');
  lines.push(
    `Injection: ${inj.outcome}${inj.reason ? ` (${inj.reason})` : ''}`,
    detail('target containers', inj.targets),
    ...inj.notTargets.map((n) => `  not a target: ${n.container}: ${n.reason}`),
    ...inj.registryLookups.map((l) => `  registry lookup: ${l.container} (${l.image})`),
    detail('adds init containers', inj.added.initContainers),
    detail('adds containers', inj.added.containers),
    detail('adds volumes', inj.added.volumes),
    ...inj.errors.map((m) => `  error: ${m}`),
    ...inj.warnings.map((m) => `  warning: ${m}`),
  );
  const val = e.validation;
  lines.push(`Validation: ${val.outcome}${val.reason ? ` (${val.reason})` : ''}${val.outcome === 'evaluated' && !val.findings.length ? ': no findings' : ''}`);
  for (const f of val.findings) lines.push(`  ${f.action.toUpperCase()} ${f.rule} ${f.field}: ${f.message}`);
  return lines.filter((l) => l !== '').join('\n') + '\n';
}

export async function explainCommand(opts: ExplainOpts): Promise<string> {
  const config = loadConfig(opts.config);
  const { text, source } = readInput(opts.file);
  const slots = podSlots(parseDocuments(text, source), source);
  if (!slots.length) throw new ExitError(`${source}: no Pod or pod template found`, 2);
  const flagLabels = parseLabels(opts.namespaceLabel);
  if (opts.kubeconfig) config.kubernetes.kubeconfig = opts.kubeconfig;
  const cluster = await connectCluster(config);
  if (cluster && opts.namespaceLabel.length) throw new ExitError(`--namespace-label is for offline use; the labels come from the cluster (${cluster.source}). Set KUBECONFIG= (empty) to explain offline`, 2);
  const fileHooks = opts.webhooks ? webhooksFromFile(opts.webhooks) : undefined;

  const explanations: Explanation[] = [];
  for (const slot of slots) {
    if (opts.namespace && slot.namespace && slot.namespace !== opts.namespace) {
      throw new ExitError(`${slot.where} is in namespace ${slot.namespace}, but -n says ${opts.namespace}`, 2);
    }
    const namespace = opts.namespace ?? slot.namespace ?? 'default';
    const pod = { ...slot.pod, metadata: { ...slot.pod.metadata, namespace } } as V1Pod;
    let labels: Record<string, string>;
    let labelsFrom: string;
    let hooks = fileHooks;
    if (cluster) {
      const live = await fromCluster(cluster, config, namespace);
      labels = live.labels;
      labelsFrom = `from the cluster, ${cluster.source}`;
      if (!hooks && live.webhooks) hooks = { webhooks: live.webhooks, from: `registered in the cluster: ${config.certificates.mutatingWebhookConfiguration}, ${config.certificates.validatingWebhookConfiguration}` };
      if (!hooks) hooks = { ...webhooksFromFile(DEPLOYED_WEBHOOKS), from: 'deploy/base/webhooks.yaml: none registered in the cluster' };
    } else {
      // The apiserver sets this label on every namespace.
      labels = { ...flagLabels, 'kubernetes.io/metadata.name': namespace };
      labelsFrom = opts.namespaceLabel.length ? 'from --namespace-label, offline' : 'offline: none given (--namespace-label)';
      hooks ??= { ...webhooksFromFile(DEPLOYED_WEBHOOKS), from: 'deploy/base/webhooks.yaml' };
    }
    const native = opts.nativeSidecars === 'auto' ? config.injection.nativeSidecars !== 'false' : opts.nativeSidecars === 'true';
    explanations.push(
      explainPod({ pod, where: slot.where, namespace, namespaceLabels: labels, namespaceLabelsFrom: labelsFrom, webhooks: hooks.webhooks, webhooksFrom: hooks.from, config, nativeSidecars: native }),
    );
  }
  if (opts.output === 'json') return JSON.stringify(explanations.length === 1 ? explanations[0] : explanations, null, 2) + '\n';
  return explanations.map(formatText).join('\n');
}

export function registerExplainCommand(program: Command): void {
  program
    .command('explain')
    .description('for each pod (or pod template) in a file: which podhooks webhooks the apiserver would call and why not, which containers injection targets, and what the policy finds')
    .option('-c, --config <file>', 'podhooks config file (YAML); built-in defaults when omitted')
    .requiredOption('-f, --file <file>', 'input file, or - for stdin')
    .option('-n, --namespace <ns>', "the pod's namespace (default: its metadata.namespace, else default)")
    .option('--namespace-label <key=value>', 'offline: a label of the namespace (repeatable), e.g. podhooks.io/injection=enabled', repeatable, [] as string[])
    .option('--webhooks <file>', 'webhook configurations to judge against (e.g. helm template output); default: the cluster\'s, else deploy/base/webhooks.yaml')
    .option('--kubeconfig <file>', 'kubeconfig (default: KUBECONFIG, ~/.kube/config, in-cluster)')
    .addOption(new Option('--native-sidecars <mode>', 'sidecar style; auto follows injection.nativeSidecars').choices(['auto', 'true', 'false']).default('auto'))
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (opts) => {
      process.stdout.write(await explainCommand(opts));
    });
}
