// Lasting audit results on a real kube-apiserver, with podhooks running as its
// ServiceAccount under deploy/'s RBAC: `podhooks audit --report` and the periodic audit keep
// one openreports.io Report per namespace with violating pods (the CRD from
// deploy/components/reports-crd), leave it alone while nothing changes, update it when a
// pod is fixed and delete it when the namespace has no violations left; `podhooks
// rejections --source reports` reads them back.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, NodeV1Api, type V1Pod } from '@kubernetes/client-node';
import { CLI, ROOT, startPodhooks, type Podhooks } from '../helpers/podhooks';
import { startControlPlane, type ControlPlane } from './harness/controlplane';
import { serviceAccountKubeconfig } from './harness/serviceaccount';
import { createNamespace, eventually } from './harness/webhooks';

jest.setTimeout(240_000);

let cp: ControlPlane;
let ph: Podhooks | undefined;
let core: CoreV1Api;
let reports: CustomObjectsApi;
let sa: string;
const dir = mkdtempSync(join(tmpdir(), 'podhooks-e2e-reports-'));
const REPORTS = { group: 'openreports.io', version: 'v1alpha1', plural: 'reports' };

function kataPod(name: string, spec: Partial<NonNullable<V1Pod['spec']>> = {}): V1Pod {
  return { metadata: { name }, spec: { runtimeClassName: 'kata', containers: [{ name: 'app', image: 'registry.example.com/vm:1' }], ...spec } };
}
function cli(args: string[], kubeconfig = sa) {
  const r = spawnSync(process.execPath, [CLI, ...args, '--kubeconfig', kubeconfig], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
async function reportOf(namespace: string): Promise<any | undefined> {
  const list = (await reports.listNamespacedCustomObject({ ...REPORTS, namespace })) as { items: any[] };
  if (list.items.length > 1) throw new Error(`${list.items.length} Reports in ${namespace}: they pile up`);
  return list.items[0];
}
const summary = (r: any) => r.results.map((x: any) => `${x.resources[0].name} ${x.rule} ${x.result}/${x.severity}`);

beforeAll(async () => {
  cp = await startControlPlane();
  const kc = cp.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  reports = kc.makeApiClient(CustomObjectsApi);
  await kc.makeApiClient(NodeV1Api).createRuntimeClass({ body: { metadata: { name: 'kata' }, handler: 'kata' } });
  for (const ns of ['podhooks', 'shop', 'batch', 'clean']) await createNamespace(core, ns);
  await core.createNamespacedPod({ namespace: 'shop', body: kataPod('vm', { hostPID: true }) });
  await core.createNamespacedPod({ namespace: 'shop', body: kataPod('logs', { volumes: [{ name: 'l', hostPath: { path: '/var/log/app' } }] }) });
  await core.createNamespacedPod({ namespace: 'batch', body: kataPod('job', { containers: [{ name: 'app', image: 'x', securityContext: { privileged: true } }] }) });
  await core.createNamespacedPod({ namespace: 'clean', body: { metadata: { name: 'ok' }, spec: { containers: [{ name: 'app', image: 'x' }] } } });
  // Reports are written by the periodic audit: its RBAC comes with components/periodic-audit.
  sa = await serviceAccountKubeconfig(cp, dir, ['deploy/base/rbac.yaml', 'deploy/components/periodic-audit/rbac.yaml']);
});

afterAll(async () => {
  await ph?.stop();
  await cp?.stop();
});

test('without the Report CRD, podhooks audit --report says what to install', () => {
  const r = cli(['audit', '--report', '-o', 'json']);
  expect(r.code).toBe(2);
  expect(r.stderr).toBe('podhooks: the openreports.io Report CRD is not installed: install deploy/components/reports-crd (Kyverno installs it too), or set validation.auditReports: false\n');
});

test('podhooks audit --report writes one Report per namespace with violations, one result per pod and rule', async () => {
  const crd = cp.kubectl(['apply', '-f', join(ROOT, 'deploy/components/reports-crd/reports.openreports.io.yaml')]);
  expect(crd.stderr).toBe('');
  expect(cp.kubectl(['wait', '--for=condition=Established', 'crd/reports.openreports.io', '--timeout=60s']).code).toBe(0);
  const r = await eventually('the Report API to be served', async () => {
    const out = cli(['audit', '--report', '-o', 'json']);
    return out.code === 1 ? out : undefined;
  });
  expect(r.stderr).toBe('podhooks: reports: 2 created, 0 updated, 0 unchanged, 0 deleted\npodhooks: at least one pod violates a deny-level rule\n');
  const shop = await reportOf('shop');
  expect(shop).toMatchObject({ apiVersion: 'openreports.io/v1alpha1', kind: 'Report', metadata: { name: 'podhooks-policy', labels: { 'app.kubernetes.io/managed-by': 'podhooks' } }, source: 'podhooks', scope: { kind: 'Namespace', name: 'shop' }, summary: { fail: 1, warn: 1 } });
  expect(summary(shop)).toEqual(['vm sandbox-host-namespaces fail/high', 'logs sandbox-host-path warn/medium']);
  const vm = await core.readNamespacedPod({ name: 'vm', namespace: 'shop' });
  expect(shop.results[0]).toMatchObject({
    policy: 'podhooks-sandbox-host-namespaces',
    message: 'runtimeClassName "kata" runs the pod in a sandbox that cannot share the host PID namespace: remove spec.hostPID, or use a non-sandboxed runtime class for this pod',
    resources: [{ apiVersion: 'v1', kind: 'Pod', name: 'vm', namespace: 'shop', uid: vm.metadata!.uid }],
    properties: { action: 'deny', fields: 'spec.hostPID' },
  });
  expect(summary(await reportOf('batch'))).toEqual(['job sandbox-privileged fail/high']);
  expect(await reportOf('clean')).toBeUndefined();
});

test('the periodic audit keeps them: untouched while nothing changes, updated when a pod is fixed, deleted when none is left', async () => {
  const before = await reportOf('shop');
  ph = await startPodhooks({ server: { certDir: join(dir, 'certs') }, kubernetes: { enabled: 'true', kubeconfig: sa }, validation: { auditIntervalSeconds: 1, exemptLabels: { 'example.com/fixed': 'true' } } });
  const rounds = () => ph!.logs().filter((l) => l.msg === 'audit reports written');
  await eventually('two audit rounds with reports', async () => (rounds().length >= 2 ? true : undefined));
  expect(rounds()[0]).toMatchObject({ created: [], updated: [], deleted: [], unchanged: expect.arrayContaining(['shop', 'batch']) });
  const same = await reportOf('shop');
  expect(same.metadata.resourceVersion).toBe(before.metadata.resourceVersion);

  // "Fixed": the pod now carries an exempt label (pods' specs are immutable).
  await core.patchNamespacedPod({ name: 'logs', namespace: 'shop', body: [{ op: 'add', path: '/metadata/labels', value: { 'example.com/fixed': 'true' } }] });
  const updated = await eventually('the Report to drop the fixed pod', async () => {
    const r = await reportOf('shop');
    return r.results.length === 1 ? r : undefined;
  });
  expect(summary(updated)).toEqual(['vm sandbox-host-namespaces fail/high']);
  expect(updated.summary).toMatchObject({ fail: 1, warn: 0 });
  expect(updated.results[0].timestamp).toEqual(before.results[0].timestamp); // still the first-found time

  await core.deleteNamespacedPod({ name: 'job', namespace: 'batch', gracePeriodSeconds: 0 });
  await eventually('the Report of a namespace without violations to be deleted', async () => ((await reportOf('batch')) === undefined ? true : undefined));
  // Log lines reach stdout within 100 ms (batched writes, src/log.ts), maybe after the API saw the deletion.
  const deleted = (l: { msg?: string; deleted?: unknown }) => l.msg === 'audit reports written' && JSON.stringify(l.deleted) === '["batch"]';
  await ph!.waitForLog(deleted, 5_000);
});

test('podhooks rejections --source reports lists the current violations from the Reports', () => {
  // An operator command: it runs with the operator's credentials (events: list, reports: list).
  const r = cli(['rejections', '--source', 'reports', '-o', 'json'], cp.kubeconfigPath);
  expect(r.stderr).toBe('');
  expect(JSON.parse(r.stdout)).toEqual([
    expect.objectContaining({ namespace: 'shop', reason: 'Report', object: 'Pod/vm', pod: 'vm', rules: ['deny:sandbox-host-namespaces'], count: 1 }),
  ]);
  const table = cli(['rejections', '--source', 'all', '-n', 'shop'], cp.kubeconfigPath);
  expect(table.stderr).toBe('');
  expect(table.stdout).toMatch(/\s+shop\s+Report\s+Pod\/vm\s+vm\s+-\s+1\s+runtimeClassName "kata" runs the pod/);
});
