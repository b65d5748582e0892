// The Helm chart as platform teams install it: helm lint, helm template checked by the real
// apiserver (server-side dry run) for each certificate provider, monitoring on and off and
// custom images, with the published ServiceMonitor/PrometheusRule/cert-manager CRDs
// installed; and the chart's defaults render what kustomize builds from the same files.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { parseConfig } from '../../src/config';
import { ROOT } from '../helpers/podhooks';
import { APISERVER_METRICS, exportedMetricNames, promqlProblems } from '../helpers/promql';
import { startControlPlane, type ControlPlane } from './harness/controlplane';
import { eventually } from './harness/webhooks';
import { CHART, comparable, CRDS, helm, HELM_VERSION, template } from './harness/helm';

jest.setTimeout(180_000);
type Obj = Record<string, any>;
let cp: ControlPlane;

beforeAll(async () => {
  cp = await startControlPlane({ controllerManager: false });
  for (const f of readdirSync(CRDS)) {
    const r = cp.kubectl(['apply', '--server-side', '-f', join(CRDS, f)]);
    if (r.code !== 0) throw new Error(`installing CRDs from ${f}: ${r.stderr}`);
  }
  for (const ns of ['podhooks', 'platform']) cp.kubectl(['create', 'namespace', ns]);
  await eventually('the CRDs to be served', async () => (cp.kubectl(['get', 'servicemonitors,prometheusrules,certificates,issuers', '-A']).code === 0 ? true : undefined));
});
afterAll(async () => {
  await cp?.stop();
});

const docs = (yaml: string): Obj[] => parseAllDocuments(yaml).map((d) => d.toJS()).filter((o) => o && o.kind);
const find = (objects: Obj[], kind: string, name = 'podhooks'): Obj => objects.find((o) => o.kind === kind && o.metadata.name === name)!;
const webhooks = (objects: Obj[]) => objects.filter((o) => /WebhookConfiguration$/.test(o.kind)).flatMap((o) => o.webhooks);
const configOf = (objects: Obj[]) => parse(find(objects, 'ConfigMap', 'podhooks-config').data['config.yaml']);

function rendered(args: string[] = [], namespace = 'podhooks'): Obj[] {
  const r = template(args, namespace);
  if (r.code !== 0) throw new Error(`helm template ${args.join(' ')} failed:\n${r.stderr}`);
  expect(r.stderr).toBe('');
  return docs(r.stdout);
}

/** The apiserver's answer to creating every object (dry run): defaulted and validated. */
function serverDryRun(args: string[], input?: string, namespace = 'podhooks'): Obj[] {
  const r = cp.kubectl(['create', '--dry-run=server', '-o', 'yaml', '-n', namespace, ...args], input);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return docs(r.stdout).flatMap((o) => (o.kind === 'List' ? o.items : [o]));
}

test(`Helm is v${HELM_VERSION}, and helm lint --strict passes for every provider and with monitoring`, () => {
  expect(helm(['version', '--short']).stdout.trim()).toMatch(new RegExp(`^v${HELM_VERSION.replaceAll('.', '\\.')}`));
  for (const set of [[], ['--set', 'certificates.provider=cert-manager'], ['--set', 'certificates.provider=existing-secret'], ['--set', 'serviceMonitor.enabled=true,prometheusRule.enabled=true,grafanaDashboard.enabled=true']]) {
    const r = helm(['lint', '--strict', CHART, ...set]);
    expect([set, r.code, r.stdout]).toEqual([set, 0, expect.stringContaining('1 chart(s) linted, 0 chart(s) failed')]);
  }
});

describe.each([
  ['self-managed', [], 'overlays/self-managed'],
  ['cert-manager', ['--set', 'certificates.provider=cert-manager'], 'overlays/cert-manager'],
  ['existing-secret', ['--set', 'certificates.provider=existing-secret'], '.'],
])('certificates.provider %s', (provider, set, kustomization) => {
  test('helm template passes a server-side dry run', () => {
    const created = serverDryRun(['-f', '-'], template(set).stdout);
    const kinds = created.map((o) => o.kind);
    expect(kinds).toEqual(expect.arrayContaining(['Deployment', 'Service', 'PodDisruptionBudget', 'ConfigMap', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']));
    expect(kinds.includes('Certificate')).toBe(provider === 'cert-manager');
    // The base grants no Role: the Leases and Secrets RBAC comes with the self-managed overlay.
    expect(kinds.filter((k) => k === 'Role').length).toBe(provider === 'self-managed' ? 1 : 0);
  });

  test(`with the default values it renders what kustomize builds (deploy/${kustomization}), as the apiserver stores them`, () => {
    const normalise = (objects: Obj[]) => comparable(objects, (text) => parseConfig(parse(text)));
    const fromHelm = normalise(serverDryRun(['-f', '-'], template(set).stdout));
    // The Namespace exists already (Helm installs into it: --create-namespace or kubectl).
    const built = docs(cp.kubectl(['kustomize', join(ROOT, 'deploy', kustomization)]).stdout).filter((o) => o.kind !== 'Namespace');
    const fromKustomize = normalise(serverDryRun(['-f', '-'], built.map((o) => stringify(o)).join('---\n')));
    expect(fromHelm).toEqual(fromKustomize);
  });
});

test('cert-manager with an issuer of your own: only the serving Certificate, from that issuer', () => {
  const objects = rendered(['--set', 'certificates.provider=cert-manager,certificates.certManager.issuerRef.name=corp-ca,certificates.certManager.issuerRef.kind=ClusterIssuer']);
  expect(objects.filter((o) => o.kind === 'Certificate' || o.kind === 'Issuer').map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['Certificate/podhooks-serving']);
  expect(find(objects, 'Certificate', 'podhooks-serving').spec.issuerRef).toEqual({ name: 'corp-ca', kind: 'ClusterIssuer' });
  serverDryRun(['-f', '-'], template(['--set', 'certificates.provider=cert-manager,certificates.certManager.issuerRef.name=corp-ca,certificates.certManager.issuerRef.kind=ClusterIssuer']).stdout);
});

test('custom images, replicas, scheduling and an existing Secret with its caBundle, in another namespace', () => {
  const set = [
    '--set', 'image.registry=registry.example.com/platform,image.tag=1.2.3,image.pullPolicy=Always,replicaCount=3',
    '--set', 'certificates.provider=existing-secret,certificates.caBundle=Q0E=,config.certificates.secretName=webhook-tls',
    '--set', 'priorityClassName=system-cluster-critical,nodeSelector.pool=system,podDisruptionBudget.minAvailable=null,podDisruptionBudget.maxUnavailable=1',
    '--set-json', 'tolerations=[{"key":"dedicated","operator":"Equal","value":"system","effect":"NoSchedule"}]',
    '--set-json', 'topologySpreadConstraints=[{"maxSkew":1,"topologyKey":"topology.kubernetes.io/zone","whenUnsatisfiable":"ScheduleAnyway","labelSelector":{"matchLabels":{"app.kubernetes.io/name":"podhooks"}}}]',
  ];
  const objects = rendered(set, 'platform');
  serverDryRun(['-f', '-'], template(set, 'platform').stdout, 'platform');
  const deploy = find(objects, 'Deployment');
  const pod = deploy.spec.template.spec;
  expect([deploy.spec.replicas, pod.containers[0].image, pod.containers[0].imagePullPolicy]).toEqual([3, 'registry.example.com/platform/podhooks:1.2.3', 'Always']);
  expect([pod.priorityClassName, pod.nodeSelector, pod.tolerations[0].key, pod.topologySpreadConstraints[0].topologyKey]).toEqual(['system-cluster-critical', { pool: 'system' }, 'dedicated', 'topology.kubernetes.io/zone']);
  expect(pod.volumes).toContainEqual({ name: 'certs', secret: { secretName: 'webhook-tls' } });
  expect(find(objects, 'PodDisruptionBudget').spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: { 'app.kubernetes.io/name': 'podhooks' } } });
  const config = configOf(objects);
  expect(parseConfig(config)).toMatchObject({ namespace: 'platform', injection: { toolsImage: 'registry.example.com/platform/tools:1.2.3' }, authz: { replicas: 3 }, certificates: { secretName: 'webhook-tls' } });
  for (const o of objects.filter((x) => !/^Cluster|WebhookConfiguration$/.test(x.kind))) expect([o.kind, o.metadata.namespace]).toEqual([o.kind, 'platform']);
  for (const b of objects.filter((x) => /RoleBinding$/.test(x.kind))) expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: 'podhooks', namespace: 'platform' }]);
  for (const h of webhooks(objects)) {
    expect(h.clientConfig).toEqual({ service: expect.objectContaining({ name: 'podhooks', namespace: 'platform' }), caBundle: 'Q0E=' });
    const excluded = h.namespaceSelector.matchExpressions.find((e: Obj) => e.key === 'kubernetes.io/metadata.name').values;
    expect(excluded).toContain('platform');
    expect(excluded).not.toContain('podhooks');
  }
});

test('components through the chart: the periodic audit\'s RBAC follows config.validation.auditIntervalSeconds, the NetworkPolicy is opt-in with the apiserver\'s CIDRs, RBAC by name follows the config\'s Secret and Lease names', () => {
  const kindsOf = (objects: Obj[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`);
  expect(kindsOf(rendered())).not.toEqual(expect.arrayContaining(['ClusterRole/podhooks-audit']));
  expect(kindsOf(rendered()).filter((k) => k.startsWith('NetworkPolicy/'))).toEqual([]);
  const set = [
    '--set', 'config.validation.auditIntervalSeconds=600,config.certificates.caSecretName=corp-ca,config.certificates.leaseName=corp-lease',
    '--set', 'networkPolicy.enabled=true', '--set-json', 'networkPolicy.apiserverCIDRs=["10.0.0.0/24","192.168.7.5/32"]',
  ];
  const objects = rendered(set, 'platform');
  const created = serverDryRun(['-f', '-'], template(set, 'platform').stdout, 'platform');
  expect(kindsOf(created)).toEqual(expect.arrayContaining(['ClusterRole/podhooks-audit', 'ClusterRoleBinding/podhooks-audit', 'Role/podhooks-audit', 'RoleBinding/podhooks-audit', 'NetworkPolicy/podhooks']));
  expect(find(objects, 'ClusterRole', 'podhooks-audit').rules.map((r: Obj) => r.resources)).toEqual([['pods'], ['reports']]);
  for (const name of ['podhooks-audit', 'podhooks-certificates']) expect(find(objects, 'Role', name).metadata.namespace).toBe('platform');
  const secrets = find(objects, 'Role', 'podhooks-certificates').rules.filter((r: Obj) => r.resourceNames);
  expect(secrets.map((r: Obj) => r.resourceNames)).toEqual([['podhooks-tls', 'corp-ca'], ['corp-lease']]);
  const policy = find(objects, 'NetworkPolicy');
  expect(policy.metadata.namespace).toBe('platform');
  expect(policy.spec.ingress).toEqual([
    { from: [{ ipBlock: { cidr: '10.0.0.0/24' } }, { ipBlock: { cidr: '192.168.7.5/32' } }], ports: [{ protocol: 'TCP', port: 8443 }] },
    { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } }], ports: [{ protocol: 'TCP', port: 9090 }] },
  ]);
  // Enabled without the apiserver's addresses would block it: refused, saying why.
  const r = template(['--set', 'networkPolicy.enabled=true']);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('networkPolicy.enabled needs networkPolicy.apiserverCIDRs');
});

test('webhooks.timeoutSeconds reaches every webhook and config.server.webhookTimeoutSeconds; a contradicting config value is refused', () => {
  const objects = rendered(['--set', 'webhooks.timeoutSeconds=8']);
  // Every webhook deploy/base registers (their number changes as webhooks are added).
  const all = webhooks(rendered()).map((h) => h.name);
  expect(all.length).toBeGreaterThanOrEqual(4);
  expect(webhooks(objects).map((h) => [h.name, h.timeoutSeconds])).toEqual(all.map((name) => [name, 8]));
  expect(configOf(objects).server.webhookTimeoutSeconds).toBe(8);
  const r = template(['--set', 'webhooks.timeoutSeconds=8,config.server.webhookTimeoutSeconds=5']);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('config.server.webhookTimeoutSeconds is 5, but the chart sets it to 8 from webhooks.timeoutSeconds');
});

test('config: false, 0 and empty lists override deploy/base/config.yaml and the defaults (no Helm merge drops them)', () => {
  const config = parseConfig(configOf(rendered(['--set', 'config.registry.enabled=false,config.server.shutdownDelaySeconds=0', '--set-json', 'config.validation.sandboxRuntimeClasses=[]'])));
  expect([config.registry.enabled, config.server.shutdownDelaySeconds, config.validation.sandboxRuntimeClasses]).toEqual([false, 0, []]);
  expect(parseConfig(configOf(rendered())).server.shutdownDelaySeconds).toBe(5);
});

test('values.schema.json refuses a bad config value before anything is rendered, naming it', () => {
  const r = template(['--set', 'config.logLevel=loud']);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/config\/logLevel|config\.logLevel/);
  const typo = template(['--set', 'config.authz.ratePerApps=3']);
  expect(typo.code).not.toBe(0);
  expect(typo.stderr).toContain('ratePerApps');
});

test('checksum/config changes with the config, so an edit rolls the pods, and only then', () => {
  const checksum = (args: string[]) => find(rendered(args), 'Deployment').spec.template.metadata.annotations['checksum/config'];
  expect(checksum([])).toBe(checksum([]));
  expect(checksum(['--set', 'config.logLevel=debug'])).not.toBe(checksum([]));
  expect(checksum(['--set', 'podAnnotations.team=a'])).toBe(checksum([]));
});

test('monitoring: ServiceMonitor, PrometheusRule (valid PromQL over exported metrics) and the dashboard ConfigMap pass a server-side dry run', async () => {
  const set = ['--set', 'serviceMonitor.enabled=true,prometheusRule.enabled=true,grafanaDashboard.enabled=true,webhooks.timeoutSeconds=10,serviceMonitor.labels.release=kps'];
  const created = serverDryRun(['-f', '-'], template(set).stdout);
  const monitor = find(created, 'ServiceMonitor');
  expect(monitor.metadata.labels.release).toBe('kps');
  expect(monitor.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '30s' }]);
  const rules = find(created, 'PrometheusRule').spec.groups[0].rules;
  expect(rules.map((r: Obj) => r.alert)).toEqual(['PodhooksDown', 'PodhooksCertificateExpiresSoon', 'PodhooksWebhookErrors', 'PodhooksWebhookLatencyNearTimeout', 'PodhooksWebhookCallsRejectPods', 'PodhooksWebhookFailOpen', 'PodhooksEventsDropped']);
  const exported = await exportedMetricNames();
  for (const rule of rules) {
    const { errors, metrics } = promqlProblems(rule.expr);
    expect([rule.alert, errors]).toEqual([rule.alert, []]);
    for (const m of metrics) expect([rule.alert, m, exported.has(m) || APISERVER_METRICS.includes(m)]).toEqual([rule.alert, m, true]);
  }
  expect(rules.find((r: Obj) => r.alert === 'PodhooksWebhookLatencyNearTimeout').expr).toContain('> 0.8 * 10');
  const dashboard = find(created, 'ConfigMap', 'podhooks-dashboard');
  expect(dashboard.metadata.labels.grafana_dashboard).toBe('1');
  expect(JSON.parse(dashboard.data['podhooks.json']).uid).toBe('podhooks');
  // Off by default: no CRD needed for a plain install.
  expect(rendered().map((o) => o.kind)).not.toEqual(expect.arrayContaining(['ServiceMonitor']));
  expect(rendered().map((o) => o.kind).filter((k) => k === 'PrometheusRule' || k === 'ServiceMonitor')).toEqual([]);
});

test('NOTES.txt tells the next step for each provider', () => {
  const notes = (set: string[]) => helm(['install', 'podhooks', CHART, '--dry-run=client', '--namespace', 'podhooks', ...set]).stdout;
  expect(notes(['--set', 'certificates.provider=existing-secret'])).toContain('podhooks certs --secret podhooks/podhooks-tls --patch-webhooks');
  expect(notes([])).toContain('kubectl label namespace <ns> podhooks.io/injection=enabled');
  expect(notes(['--set', 'certificates.provider=cert-manager'])).toContain('kubectl -n podhooks get certificate podhooks-serving');
});
