// The validating policy on a real kube-apiserver, with podhooks running as its own
// ServiceAccount under deploy/'s RBAC (base + periodic-audit): denials with the exact message at
// `kubectl create` time, warnings the client prints, Events on the pod or its owning
// workload, `podhooks audit` finding what slipped in while no webhook was registered,
// `podhooks rejections`, and the periodic audit held by one replica through a Lease.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, AppsV1Api, CoordinationV1Api, CoreV1Api, NodeV1Api, type CoreV1Event, type V1Pod } from '@kubernetes/client-node';
import { CLI, metricsText, startPodhooks, type Podhooks } from '../helpers/podhooks';
import { startControlPlane, type ControlPlane } from './harness/controlplane';
import { serviceAccountKubeconfig } from './harness/serviceaccount';
import { apiMessage, createNamespace, eventually, registerWebhooks } from './harness/webhooks';

jest.setTimeout(240_000);

let cp: ControlPlane;
let ph: Podhooks;
let core: CoreV1Api;
let saKubeconfig: string;
const dir = mkdtempSync(join(tmpdir(), 'podhooks-e2e-policy-'));
const children = new Set<ChildProcess>();

const HOSTNET_DENIAL =
  'admission webhook "validate.podhooks.io" denied the request: podhooks sandbox-host-namespaces: runtimeClassName "kata" runs the pod in a sandbox that cannot share host networking: remove spec.hostNetwork, or use a non-sandboxed runtime class for this pod';

function kataPod(name: string, spec: Partial<V1Pod['spec']> = {}): V1Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { runtimeClassName: 'kata', containers: [{ name: 'app', image: 'registry.example.com/vm:1' }], ...spec } };
}

function podhooksCli(args: string[], kubeconfig = cp.kubeconfigPath) {
  const r = spawnSync(process.execPath, [CLI, ...args, '--kubeconfig', kubeconfig], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function events(namespace: string, fieldSelector: string): Promise<CoreV1Event[]> {
  return (await core.listNamespacedEvent({ namespace, fieldSelector })).items;
}

beforeAll(async () => {
  cp = await startControlPlane();
  const kc = cp.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  // Without the RuntimeClass the apiserver's RuntimeClass admission plugin rejects the pods first.
  await kc.makeApiClient(NodeV1Api).createRuntimeClass({ body: { metadata: { name: 'kata' }, handler: 'kata' } });
  await createNamespace(core, 'podhooks');
  await createNamespace(core, 'vms');
  // Slipped in before any webhook was registered: only `podhooks audit` can find it.
  await core.createNamespacedPod({ namespace: 'vms', body: kataPod('sneaky', { hostPID: true }) });
  // Also from before: a Deployment whose template breaks a rule, scaled to zero. The webhook
  // refuses such a Deployment at apply time (policy-workloads.test.ts); scaling it up later
  // leaves the template as it was, so its pods are what gets refused.
  const labels = { app: 'vm-fleet' };
  await cp.kubeConfig().makeApiClient(AppsV1Api).createNamespacedDeployment({
    namespace: 'vms',
    body: { metadata: { name: 'vm-fleet' }, spec: { replicas: 0, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: kataPod('x', { hostPID: true }).spec! } } },
  });
  // The base plus components/periodic-audit: this file's audits list pods and hold the audit Lease.
  saKubeconfig = await serviceAccountKubeconfig(cp, dir, ['deploy/base/rbac.yaml', 'deploy/components/periodic-audit/rbac.yaml']);
  ph = await startPodhooks({ server: { certDir: join(dir, 'certs') }, kubernetes: { enabled: 'true', kubeconfig: saKubeconfig }, validation: { auditIntervalSeconds: 2 } });
  await registerWebhooks(kc.makeApiClient(AdmissionregistrationV1Api), ph.port, ph.ca);
  await eventually('the validating webhook to be active', async () => {
    const denied = await core.createNamespacedPod({ namespace: 'vms', body: kataPod('probe', { hostNetwork: true }), dryRun: 'All' }).then(
      () => undefined,
      (err) => apiMessage(err),
    );
    return denied === HOSTNET_DENIAL ? true : undefined;
  });
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await ph?.stop();
  await cp?.stop();
});

test('kubectl create of a kata pod with hostNetwork is denied with the exact message', () => {
  const r = cp.kubectl(['create', '-n', 'vms', '-f', '-'], JSON.stringify(kataPod('vm-hostnet', { hostNetwork: true })));
  expect(r.code).toBe(1);
  expect(r.stderr.trim()).toBe(`Error from server (Forbidden): error when creating "STDIN": ${HOSTNET_DENIAL}`);
});

test('a warn rule admits the pod and kubectl prints the warning', async () => {
  const r = cp.kubectl(['create', '-n', 'vms', '-f', '-'], JSON.stringify(kataPod('vm-logs', { volumes: [{ name: 'logs', hostPath: { path: '/var/log/vm' } }] })));
  expect(r.code).toBe(0);
  expect(r.stdout.trim()).toBe('pod/vm-logs created');
  expect(r.stderr.trim()).toBe('Warning: podhooks sandbox-host-path: hostPath /var/log/vm weakens the "kata" sandbox; use a PVC or emptyDir');
  const stored = await core.readNamespacedPod({ name: 'vm-logs', namespace: 'vms' });
  const [warned] = await eventually('the PodhooksWarned Event', async () => {
    const list = await events('vms', 'reason=PodhooksWarned,involvedObject.name=vm-logs');
    return list.length ? list : undefined;
  });
  // The pod exists, so the Event points at it by uid (kubectl describe pod shows it).
  expect(warned.involvedObject).toMatchObject({ kind: 'Pod', name: 'vm-logs', uid: stored.metadata!.uid });
  expect(warned.type).toBe('Warning');
});

test('the denial is an Event visible through the API, with the user; a dry run makes none', async () => {
  // FIFO queue, one worker: once the later event exists, the dry run's would too.
  const dry = cp.kubectl(['create', '--dry-run=server', '-n', 'vms', '-f', '-'], JSON.stringify(kataPod('vm-dry', { hostNetwork: true })));
  expect(dry.stderr).toContain('denied the request');
  const line = await ph.waitForLog((l) => l.msg === 'policy decision' && l.name === 'vm-dry');
  expect(line).toMatchObject({ rule: 'sandbox-host-namespaces', action: 'deny', namespace: 'vms', user: 'admin', dryRun: true });
  cp.kubectl(['create', '-n', 'vms', '-f', '-'], JSON.stringify(kataPod('vm-after-dry', { hostIPC: true })));
  await eventually('the Event after the dry run', async () => ((await events('vms', 'involvedObject.name=vm-after-dry')).length ? true : undefined));
  expect(await events('vms', 'involvedObject.name=vm-dry')).toEqual([]);

  const [denied] = await events('vms', 'reason=PodhooksDenied,involvedObject.name=vm-hostnet');
  expect(denied).toMatchObject({
    type: 'Warning',
    reason: 'PodhooksDenied',
    involvedObject: { apiVersion: 'v1', kind: 'Pod', name: 'vm-hostnet', namespace: 'vms' },
    message: `podhooks denied pod vm-hostnet: sandbox-host-namespaces: ${HOSTNET_DENIAL.split('sandbox-host-namespaces: ')[1]}`,
    source: { component: 'podhooks' },
  });
  expect(denied.metadata!.annotations).toEqual({ 'podhooks.io/rules': 'deny:sandbox-host-namespaces', 'podhooks.io/pod': 'vm-hostnet', 'podhooks.io/user': 'admin' });

  const scrape = () => metricsText(ph);
  let metrics = '';
  const value = (re: RegExp) => Number(re.exec(metrics)?.[1] ?? 0);
  // The counter moves when the create call returns to podhooks, just after the Event is visible.
  await eventually('the third emitted Event to be counted', async () => ((metrics = await scrape()), value(/^podhooks_events_emitted_total (\d+)$/m) >= 3 ? true : undefined));
  // vm-hostnet, vm-dry, vm-after-dry and the readiness probes' dry runs.
  expect(value(/^podhooks_policy_violations_total\{rule="sandbox-host-namespaces",action="deny"\} (\d+)$/m)).toBeGreaterThanOrEqual(4);
  expect(value(/^podhooks_policy_violations_total\{rule="sandbox-host-path",action="warn"\} (\d+)$/m)).toBe(1);
  // vm-logs, vm-hostnet, vm-after-dry: dry runs make none.
  expect(value(/^podhooks_events_emitted_total (\d+)$/m)).toBe(3);
});

test("a Deployment's denied pods become one Event on its ReplicaSet, counting the retries", async () => {
  // Scaling changes no template: the Deployment and its ReplicaSet pass, the pods do not.
  const scaled = cp.kubectl(['scale', '-n', 'vms', 'deployment/vm-fleet', '--replicas=2']);
  expect(scaled.stderr).toBe('');
  const event = await eventually('a PodhooksDenied Event on the ReplicaSet counted at least twice', async () => {
    const list = await events('vms', 'reason=PodhooksDenied,involvedObject.kind=ReplicaSet');
    return list.find((e) => (e.count ?? 0) >= 2);
  });
  expect(event.involvedObject.name).toMatch(/^vm-fleet-[a-z0-9]+$/);
  expect(event.message).toBe(
    `podhooks denied a pod of ReplicaSet ${event.involvedObject.name}: sandbox-host-namespaces: runtimeClassName "kata" runs the pod in a sandbox that cannot share the host PID namespace: remove spec.hostPID, or use a non-sandboxed runtime class for this pod`,
  );
  expect(event.metadata!.annotations!['podhooks.io/user']).toMatch(/replicaset-controller|kube-controller-manager|admin/);
});

test('podhooks audit (as the podhooks ServiceAccount) finds the pod created while no webhook was registered', () => {
  const r = podhooksCli(['audit', '-o', 'json', '--page-size', '1'], saKubeconfig);
  expect(r.stderr).toBe('podhooks: at least one pod violates a deny-level rule\n');
  expect(r.code).toBe(1);
  const report = JSON.parse(r.stdout);
  expect(report.denied).toBe(true);
  expect(report.violations).toContainEqual({
    namespace: 'vms',
    pod: 'sneaky',
    uid: expect.any(String),
    rule: 'sandbox-host-namespaces',
    action: 'deny',
    field: 'spec.hostPID',
    message: 'runtimeClassName "kata" runs the pod in a sandbox that cannot share the host PID namespace: remove spec.hostPID, or use a non-sandboxed runtime class for this pod',
  });
  expect(report.violations).toContainEqual(expect.objectContaining({ pod: 'vm-logs', rule: 'sandbox-host-path', action: 'warn' }));
  const table = podhooksCli(['audit', '-n', 'vms'], saKubeconfig);
  expect(table.code).toBe(1);
  expect(table.stdout).toMatch(/^vms\s+sneaky\s+-\s+sandbox-host-namespaces\s+DENY\s+spec\.hostPID\s+runtimeClassName "kata"/m);
});

test('podhooks rejections lists the denial and the warning', () => {
  const r = podhooksCli(['rejections', '--since', '1h', '-n', 'vms', '-o', 'json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const rows = JSON.parse(r.stdout);
  expect(rows).toContainEqual(expect.objectContaining({ namespace: 'vms', reason: 'PodhooksDenied', object: 'Pod/vm-hostnet', pod: 'vm-hostnet', user: 'admin', rules: ['deny:sandbox-host-namespaces'], count: 1 }));
  expect(rows).toContainEqual(expect.objectContaining({ reason: 'PodhooksWarned', object: 'Pod/vm-logs', rules: ['warn:sandbox-host-path'] }));
  const table = podhooksCli(['rejections', '-n', 'vms']);
  expect(table.stdout.split('\n')[0]).toMatch(/^LAST SEEN\s+NAMESPACE\s+REASON\s+OBJECT\s+POD\s+USER\s+COUNT\s+MESSAGE$/);
  expect(table.stdout).toMatch(/\s+vms\s+PodhooksDenied\s+Pod\/vm-hostnet\s+vm-hostnet\s+admin\s+1\s+podhooks denied pod vm-hostnet: /);
});

test('the periodic audit runs on one replica at a time: serve holds the Lease, a second auditor takes over when it stops', async () => {
  const finished = () => ph.logs().filter((l) => l.msg === 'audit finished');
  await eventually('the server to finish an audit round', async () => (finished().length ? true : undefined));
  expect(finished()[0]).toMatchObject({ denied: true });
  expect(ph.logs()).toContainEqual(expect.objectContaining({ msg: 'audit violation', namespace: 'vms', pod: 'sneaky', rule: 'sandbox-host-namespaces', action: 'deny' }));
  const lease = await cp.kubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'podhooks-audit', namespace: 'podhooks' });
  expect(lease.spec!.holderIdentity).toMatch(new RegExp(`-${ph.proc.pid}$`));

  // Debug level: the second auditor logs each round it skips (log lines carry msg, reports do not).
  writeFileSync(join(dir, 'debug.yaml'), 'logLevel: debug\n');
  const b = spawn(process.execPath, [CLI, 'audit', '--interval', '1s', '-o', 'json', '-n', 'vms', '-c', join(dir, 'debug.yaml'), '--kubeconfig', saKubeconfig], { env: { ...process.env, KUBECONFIG: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(b);
  const reports: any[] = [];
  const logs: any[] = [];
  let buffered = '';
  b.stdout!.on('data', (c: Buffer) => {
    buffered += c.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines.filter(Boolean)) {
      const parsed = JSON.parse(line);
      (parsed.msg ? logs : reports).push(parsed);
    }
  });
  const skipped = () => logs.filter((l) => l.msg === 'audit skipped: another replica holds the lease');
  await eventually('the second auditor to be turned away by the lease', async () => (skipped().length ? true : undefined));
  expect(skipped()[0].holder).toBe(lease.spec!.holderIdentity);
  // Two more rounds by the holder while the second auditor, ticking every second, audits nothing.
  const seen = finished().length;
  await eventually('two more rounds by the server', async () => (finished().length >= seen + 2 ? true : undefined));
  expect(reports).toEqual([]);
  // A stopped holder releases the Lease at shutdown; the other auditor takes over.
  await ph.stop();
  const report = await eventually('the second auditor to take over', async () => reports[0], 30_000);
  expect(report.violations).toContainEqual(expect.objectContaining({ pod: 'sneaky', action: 'deny' }));
  b.kill('SIGTERM');
  await new Promise((r) => b.once('exit', r));
});
