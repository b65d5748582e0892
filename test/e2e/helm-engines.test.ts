// The chart's validation engines, Report CRD and periodic audit on the real apiserver:
// helm template checked by server-side dry run for each engine and equal to what kustomize
// builds with the engine components; the admission policies it installs are what
// `podhooks policy render` makes of the config the chart deploys (any config, any
// namespace), so podhooks' own drift check, run with the chart's RBAC, finds them in sync.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { parseConfig } from '../../src/config';
import { renderPolicies } from '../../src/validate/admission-policy/render';
import { RULES } from '../../src/validate/rules';
import { CLI, ROOT } from '../helpers/podhooks';
import { startControlPlane, type ControlPlane } from './harness/controlplane';
import { CHART, CHART_LABELS, comparable, helm, template } from './harness/helm';

jest.setTimeout(180_000);
type Obj = Record<string, any>;
let cp: ControlPlane;
let dir: string;

beforeAll(async () => {
  cp = await startControlPlane({ controllerManager: false });
  for (const ns of ['podhooks', 'platform']) cp.kubectl(['create', 'namespace', ns]);
  dir = mkdtempSync(join(tmpdir(), 'podhooks-helm-engines-'));
});
afterAll(async () => {
  await cp?.stop();
});

const docs = (yaml: string): Obj[] => parseAllDocuments(yaml).map((d) => d.toJS()).filter((o) => o && o.kind);
const byName = (a: Obj, b: Obj) => `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`);
const isPolicy = (o: Obj) => o.kind === 'ValidatingAdmissionPolicy' || o.kind === 'ValidatingAdmissionPolicyBinding';
const find = (objects: Obj[], kind: string, name = 'podhooks'): Obj => objects.find((o) => o.kind === kind && o.metadata.name === name)!;

function rendered(args: string[], namespace = 'podhooks'): { objects: Obj[]; text: string } {
  const r = template(args, namespace);
  if (r.code !== 0) throw new Error(`helm template ${args.join(' ')} failed:\n${r.stderr}`);
  expect(r.stderr).toBe('');
  return { objects: docs(r.stdout), text: r.stdout };
}

function serverDryRun(input: string, namespace = 'podhooks'): Obj[] {
  const r = cp.kubectl(['create', '--dry-run=server', '-o', 'yaml', '-n', namespace, '-f', '-'], input);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return docs(r.stdout).flatMap((o) => (o.kind === 'List' ? o.items : [o]));
}

const configYaml = (objects: Obj[]) => find(objects, 'ConfigMap', 'podhooks-config').data['config.yaml'];
const withoutChartLabels = (o: Obj) => ({ ...o, metadata: { ...o.metadata, labels: Object.fromEntries(Object.entries(o.metadata.labels).filter(([k]) => !CHART_LABELS.slice(1).includes(k))) } });

function withComponents(base: string, components: string[]): string {
  const kdir = mkdtempSync(join(dir, 'kustomize-'));
  const rel = (p: string) => relative(kdir, join(ROOT, p));
  writeFileSync(join(kdir, 'kustomization.yaml'), JSON.stringify({ resources: [rel(base)], components: components.map(rel) }));
  return kdir;
}

test('helm lint --strict passes for each engine and with the Report CRD', () => {
  for (const set of [['--set', 'validation.engine=both'], ['--set', 'validation.engine=admission-policy,reportsCRD.enabled=true,config.validation.auditIntervalSeconds=600']]) {
    const r = helm(['lint', '--strict', CHART, ...set]);
    expect([set, r.code, r.stdout]).toEqual([set, 0, expect.stringContaining('1 chart(s) linted, 0 chart(s) failed')]);
  }
});

describe.each(['both', 'admission-policy'])('validation.engine %s', (engine) => {
  test(`helm template passes a server-side dry run and, with the other values at their defaults, is what kustomize builds from overlays/self-managed + components/engine-${engine}`, () => {
    const fromHelm = serverDryRun(rendered(['--set', `validation.engine=${engine}`]).text);
    const built = docs(cp.kubectl(['kustomize', withComponents('deploy/overlays/self-managed', [`deploy/components/engine-${engine}`])]).stdout).filter((o) => o.kind !== 'Namespace');
    const fromKustomize = serverDryRun(built.map((o) => stringify(o)).join('---\n'));
    const normalise = (objects: Obj[]) => comparable(objects, (text) => parseConfig(parse(text)));
    expect(normalise(fromHelm)).toEqual(normalise(fromKustomize));
    // So the chart's policies for this config are deploy/policies/policies.yaml, digests included.
    expect(fromHelm.filter(isPolicy).map((o) => o.metadata.annotations['podhooks.io/digest']).sort()).toEqual(
      docs(readFileSync(join(ROOT, 'deploy/policies/policies.yaml'), 'utf8')).map((o) => o.metadata.annotations['podhooks.io/digest']).sort(),
    );
    // The apiserver stores an emptied list as no list.
    const hooks = (kind: string) => (find(fromHelm, kind).webhooks ?? []).map((h: Obj) => h.name);
    expect(hooks('ValidatingWebhookConfiguration')).toEqual(engine === 'both' ? ['validate.podhooks.io', 'debug.podhooks.io'] : []);
    // Injection is untouched: every mutating webhook of the default install.
    expect(hooks('MutatingWebhookConfiguration')).toEqual(find(rendered([]).objects, 'MutatingWebhookConfiguration').webhooks.map((h: Obj) => h.name));
    expect(find(fromHelm, 'Deployment').spec.template.spec.containers[0].args).toContain(`--validation-engine=${engine}`);
    expect(find(fromHelm, 'ClusterRole', 'podhooks-admission-policies').rules[0].resourceNames).toEqual(RULES.map((r) => `podhooks-${r.id}`));
  });
});

test('validation.engine webhook (the default) installs no policy, no policy RBAC and registers the validating webhooks', () => {
  const { objects } = rendered([]);
  expect(objects.filter(isPolicy)).toEqual([]);
  expect(objects.filter((o) => o.metadata.name === 'podhooks-admission-policies')).toEqual([]);
  expect(find(objects, 'ValidatingWebhookConfiguration').webhooks.map((h: Obj) => h.name)).toEqual(['validate.podhooks.io', 'debug.podhooks.io']);
  expect(find(objects, 'Deployment').spec.template.spec.containers[0].args.join(' ')).not.toContain('--validation-engine');
});

const CONFIGS: [string, string[]][] = [
  ['defaults in another namespace', ['--set', 'validation.engine=admission-policy']],
  [
    'every action, a rule off, exemptions, placement and values that need escaping',
    [
      '--set', 'validation.engine=both,config.debug.namespaceLabel=debug.example.com/allowed=yes',
      '--set-json', 'config.validation.rules={"sandbox-privileged":"warn","sandbox-subpath":"audit","placement":"off","sandbox-host-path":"deny"}',
      '--set-json', 'config.validation.exemptNamespaces=["ci","batch-jobs"]',
      '--set-json', 'config.validation.exemptLabels={"team":"it\'s \\"ops\\"","10":"ten","9":"nine","example.com/x":"a\\\\b"}',
      '--set-json', 'config.validation.sandboxRuntimeClasses=["kata*","gvisor<&>é\\t\\u0001"]',
      '--set-json', 'config.validation.placement={"enabled":true,"mode":"assign","sandboxRuntimeClass":"kata-qemu","offlineValues":["offline"]}',
      '--set-json', 'config.validation.procMountAllowlist=[]',
    ],
  ],
];

test.each(CONFIGS)('the policies are what `podhooks policy render` makes of the config the chart deploys: %s', (_, set) => {
  const { objects, text } = rendered(set, 'platform');
  const config = parseConfig(parse(configYaml(objects)));
  expect(config.namespace).toBe('platform');
  const fromChart = objects.filter(isPolicy).map(withoutChartLabels).sort(byName);
  const fromRender = JSON.parse(JSON.stringify(renderPolicies(config).objects)).sort(byName);
  expect(fromChart.length).toBeGreaterThan(0);
  expect(fromChart).toEqual(fromRender);
  // The apiserver compiles every CEL expression with the values filled in.
  expect(serverDryRun(text, 'platform').filter(isPolicy).length).toBe(fromRender.length);
});

test('installed for real, podhooks policy check finds the chart\'s policies in sync with its config, as the ServiceAccount under the chart\'s RBAC; another config is drift', async () => {
  const [, set] = CONFIGS[1];
  const { objects } = rendered(set, 'platform');
  const installed = objects.filter((o) => isPolicy(o) || ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind));
  const apply = cp.kubectl(['apply', '--server-side', '-n', 'platform', '-f', '-'], installed.map((o) => stringify(o)).join('---\n'));
  expect([apply.code, apply.stderr]).toEqual([0, '']);
  try {
    const core = cp.kubeConfig().makeApiClient(CoreV1Api);
    const token = await core.createNamespacedServiceAccountToken({ name: 'podhooks', namespace: 'platform', body: { spec: { expirationSeconds: 600, audiences: [] } } });
    const kubeconfig = join(dir, 'platform-sa.kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'sa',
      clusters: [{ name: 'c', cluster: { server: cp.server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'sa', user: { token: token.status!.token } }],
      contexts: [{ name: 'sa', context: { cluster: 'c', user: 'sa' } }],
    }));
    const check = (config: string) => {
      const file = join(dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(file, config);
      return spawnSync(process.execPath, [CLI, 'policy', 'check', '-c', file, '--kubeconfig', kubeconfig], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '' } });
    };
    const inSync = check(configYaml(objects));
    expect([inSync.status, inSync.stdout, inSync.stderr]).toEqual([0, "the cluster's admission policies match this config\n", '']);
    // The chart's own namespace is compiled in: the same config in another namespace is drift everywhere.
    const elsewhere = check(stringify({ ...parse(configYaml(objects)), namespace: 'podhooks' }));
    expect([elsewhere.status, elsewhere.stderr]).toEqual([1, `podhooks: ${2 * (RULES.length - 1)} admission policy object(s) differ from this config\n`]);
  } finally {
    const removed = cp.kubectl(['delete', '--wait', '-f', '-'], installed.map((o) => stringify(o)).join('---\n'));
    expect([removed.code, removed.stderr]).toEqual([0, '']);
  }
});

test('the engine is one value: config.validation.engine may repeat it but not contradict it; unknown engines are refused by name', () => {
  expect(parse(configYaml(rendered(['--set', 'validation.engine=both,config.validation.engine=both']).objects)).validation.engine).toBe('both');
  const contradicted = template(['--set', 'config.validation.engine=admission-policy']);
  expect(contradicted.code).not.toBe(0);
  expect(contradicted.stderr).toContain('config.validation.engine is "admission-policy", but the chart sets it to "webhook" from validation.engine');
  const old = template(['--set', 'validation.engine=policy']);
  expect(old.code).not.toBe(0);
  expect(old.stderr).toMatch(/validation\.engine|validation\/engine/);
  expect(old.stderr).toContain('admission-policy');
});

test('an exemptLabels key with "=" is refused, naming it, as podhooks policy render refuses it', () => {
  const r = template(['--set', 'validation.engine=both', '--set-json', 'config.validation.exemptLabels={"a=b":"c"}']);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('config.validation.exemptLabels: key "a=b" contains "=", which is not a valid label key');
});

test('reportsCRD: off by default; on, the openreports.io CRD of components/reports-crd, kept on uninstall unless keep=false', () => {
  expect(rendered([]).objects.filter((o) => o.kind === 'CustomResourceDefinition')).toEqual([]);
  const { objects, text } = rendered(['--set', 'reportsCRD.enabled=true']);
  const crd = find(objects, 'CustomResourceDefinition', 'reports.openreports.io');
  const component = docs(readFileSync(join(ROOT, 'deploy/components/reports-crd/reports.openreports.io.yaml'), 'utf8'))[0];
  expect(crd.spec).toEqual(component.spec);
  expect(crd.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
  expect(serverDryRun(text).filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name)).toEqual(['reports.openreports.io']);
  expect(find(rendered(['--set', 'reportsCRD.enabled=true,reportsCRD.keep=false']).objects, 'CustomResourceDefinition', 'reports.openreports.io').metadata.annotations).toBeUndefined();
});

test('the periodic audit through config.validation.auditIntervalSeconds: its RBAC, its interval in the config, and NOTES that say where its Reports go', () => {
  const set = ['--set', 'config.validation.auditIntervalSeconds=600'];
  const { objects, text } = rendered(set, 'platform');
  expect(parseConfig(parse(configYaml(objects))).validation).toMatchObject({ auditIntervalSeconds: 600, auditReports: true });
  const created = serverDryRun(text, 'platform');
  expect(find(created, 'ClusterRole', 'podhooks-audit').rules).toEqual([
    { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
    { apiGroups: ['openreports.io'], resources: ['reports'], verbs: ['list', 'create', 'update', 'delete'] },
  ]);
  expect(find(created, 'Role', 'podhooks-audit').metadata.namespace).toBe('platform');
  const notes = (args: string[]) => helm(['install', 'podhooks', CHART, '--dry-run=client', '--namespace', 'platform', ...args]).stdout;
  expect(notes(set)).toContain('That needs the Report CRD (reports.openreports.io)');
  expect(notes([...set, '--set', 'reportsCRD.enabled=true'])).not.toContain('That needs the Report CRD');
  expect(notes([])).not.toContain('periodic audit');
  expect(notes(['--set', 'validation.engine=admission-policy'])).toContain('no validating webhook is registered');
});

test('helm install and upgrade across engines on the real apiserver: the policies follow the engine and the config, in sync after every step, and leave with the webhook engine', () => {
  const ns = 'engines';
  const run = (verb: string, set: string[]) => {
    const r = helm([verb, 'podhooks', CHART, '--namespace', ns, '--kubeconfig', cp.kubeconfigPath, ...set]);
    expect([verb, set, r.code, r.stderr]).toEqual([verb, set, 0, '']);
  };
  const names = (kind: string) => docs(cp.kubectl(['get', kind, '-o', 'yaml']).stdout).flatMap((l) => l.items).map((o) => o.metadata.name).filter((n) => n.startsWith('podhooks')).sort();
  const validating = () => docs(cp.kubectl(['get', 'validatingwebhookconfiguration', 'podhooks', '-o', 'yaml']).stdout)[0].webhooks ?? [];
  const inSync = () => {
    const file = join(dir, 'engines-configmap.yaml');
    writeFileSync(file, cp.kubectl(['-n', ns, 'get', 'configmap', 'podhooks-config', '-o', 'yaml']).stdout);
    const r = spawnSync(process.execPath, [CLI, 'policy', 'check', '-c', file, '--kubeconfig', cp.kubeconfigPath], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '' } });
    return [r.status, r.stdout, r.stderr];
  };
  const policies = (rules: string[]) => rules.map((id) => `podhooks-${id}`).sort();
  const all = RULES.map((r) => r.id);
  expect(cp.kubectl(['create', 'namespace', ns]).code).toBe(0);
  try {
    run('install', ['--set', 'validation.engine=both']);
    expect([names('validatingadmissionpolicies'), names('validatingadmissionpolicybindings')]).toEqual([policies(all), policies(all)]);
    expect(validating().length).toBe(2);
    expect(inSync()).toEqual([0, "the cluster's admission policies match this config\n", '']);

    // One upgrade changes the engine and the config: the placement rule's policy goes, the rest are re-rendered.
    run('upgrade', ['--set', 'validation.engine=admission-policy,config.validation.rules.placement=off', '--set-json', 'config.validation.exemptNamespaces=["ci"]']);
    expect([names('validatingadmissionpolicies'), names('validatingadmissionpolicybindings')]).toEqual([policies(all.filter((id) => id !== 'placement')), policies(all.filter((id) => id !== 'placement'))]);
    expect(validating()).toEqual([]);
    expect(inSync()).toEqual([0, "the cluster's admission policies match this config\n", '']);

    run('upgrade', ['--set', 'validation.engine=webhook']);
    expect([names('validatingadmissionpolicies'), names('validatingadmissionpolicybindings'), names('clusterroles')]).toEqual([[], [], ['podhooks', 'podhooks-certificates']]);
    expect(validating().map((h: Obj) => h.name)).toEqual(['validate.podhooks.io', 'debug.podhooks.io']);
  } finally {
    const r = helm(['uninstall', 'podhooks', '--namespace', ns, '--kubeconfig', cp.kubeconfigPath]);
    expect([r.code, r.stderr]).toEqual([0, '']);
  }
});
