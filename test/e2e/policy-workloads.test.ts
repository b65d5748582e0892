// Everything that puts a container into a pod goes through the validating webhook, on a
// real kube-apiserver with deploy/'s webhook configurations: `kubectl apply` of a workload
// whose template breaks a rule fails at once with the rule's message (and an Event on the
// workload), `kubectl debug` cannot add a privileged container to a Kata pod, and hook
// annotations where injection is off draw a warning kubectl prints.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, CoreV1Api, NodeV1Api, type V1Pod } from '@kubernetes/client-node';
import { startPodhooks, type Podhooks } from '../helpers/podhooks';
import { startControlPlane, type ControlPlane } from './harness/controlplane';
import { apiMessage, createNamespace, eventually, registerWebhooks } from './harness/webhooks';

jest.setTimeout(180_000);

let cp: ControlPlane;
let ph: Podhooks;
let core: CoreV1Api;

const HOSTNET =
  'podhooks sandbox-host-namespaces: runtimeClassName "kata" runs the pod in a sandbox that cannot share host networking: remove spec.hostNetwork, or use a non-sandboxed runtime class for this pod';

function kataSpec(extra: Partial<NonNullable<V1Pod['spec']>> = {}): NonNullable<V1Pod['spec']> {
  return { runtimeClassName: 'kata', containers: [{ name: 'app', image: 'registry.example.com/vm:1', command: ['/vm'] }], ...extra };
}
function deployment(name: string, spec: NonNullable<V1Pod['spec']>, annotations?: Record<string, string>) {
  const labels = { app: name };
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name }, spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels, annotations }, spec } } };
}

beforeAll(async () => {
  cp = await startControlPlane();
  const kc = cp.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  await kc.makeApiClient(NodeV1Api).createRuntimeClass({ body: { metadata: { name: 'kata' }, handler: 'kata' } });
  await createNamespace(core, 'vms');
  await createNamespace(core, 'hooked', { 'podhooks.io/injection': 'enabled' });
  ph = await startPodhooks({ server: { certDir: join(mkdtempSync(join(tmpdir(), 'podhooks-e2e-workloads-')), 'certs') }, kubernetes: { enabled: 'true', kubeconfig: cp.kubeconfigPath } });
  await registerWebhooks(kc.makeApiClient(AdmissionregistrationV1Api), ph.port, ph.ca);
  await eventually('the validating webhook to see Deployments', async () => {
    const r = cp.kubectl(['apply', '--dry-run=server', '-n', 'vms', '-f', '-'], JSON.stringify(deployment('probe', kataSpec({ hostNetwork: true }))));
    return r.stderr.includes('denied the request') ? true : undefined;
  });
});

afterAll(async () => {
  await ph?.stop();
  await cp?.stop();
});

test('kubectl apply of a Deployment whose template breaks a sandbox rule fails with the rule\'s message, and an Event on the Deployment', async () => {
  const r = cp.kubectl(['apply', '-n', 'vms', '-f', '-'], JSON.stringify(deployment('vm-fleet', kataSpec({ hostNetwork: true }))));
  expect(r.code).toBe(1);
  expect(r.stderr.trim()).toBe(`Error from server (Forbidden): error when creating "STDIN": admission webhook "validate.podhooks.io" denied the request: ${HOSTNET}`);
  expect(cp.kubectl(['get', '-n', 'vms', 'deployment/vm-fleet']).code).toBe(1);
  const event = await eventually('the PodhooksDenied Event on the Deployment', async () => (await core.listNamespacedEvent({ namespace: 'vms', fieldSelector: 'reason=PodhooksDenied,involvedObject.kind=Deployment' })).items[0]);
  expect(event.involvedObject).toMatchObject({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'vm-fleet', namespace: 'vms' });
  expect(event.message).toBe(`podhooks denied the pod template of Deployment vm-fleet: sandbox-host-namespaces: ${HOSTNET.replace('podhooks sandbox-host-namespaces: ', '')}`);
  // A CronJob's template, two levels down, the same.
  const cron = { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'nightly' }, spec: { schedule: '0 2 * * *', jobTemplate: { spec: { template: { spec: { ...kataSpec({ hostPID: true }), restartPolicy: 'OnFailure' } } } } } };
  expect(cp.kubectl(['apply', '-n', 'vms', '-f', '-'], JSON.stringify(cron)).stderr).toContain('podhooks sandbox-host-namespaces: runtimeClassName "kata" runs the pod in a sandbox that cannot share the host PID namespace');
});

test('a template is judged as its pods will be admitted: valid hooks pass, an annotation error the mutating webhook would refuse fails at apply', () => {
  const hooks = { 'podhooks.io/pre-start': './migrate.sh', 'podhooks.io/pre-online': './warm.sh', 'podhooks.io/check-url': 'http://localhost:8080/health' };
  const ok = cp.kubectl(['apply', '-n', 'hooked', '-f', '-'], JSON.stringify(deployment('orders', kataSpec(), hooks)));
  expect([ok.code, ok.stdout.trim(), ok.stderr]).toEqual([0, 'deployment.apps/orders created', '']);
  const bad = cp.kubectl(['apply', '-n', 'hooked', '-f', '-'], JSON.stringify(deployment('billing', kataSpec(), { 'podhooks.io/pre-online': './warm.sh' })));
  expect(bad.code).toBe(1);
  expect(bad.stderr.trim()).toBe(
    'Error from server (Forbidden): error when creating "STDIN": admission webhook "validate.podhooks.io" denied the request: podhooks injection-annotations: ' +
      'annotation podhooks.io/pre-online="./warm.sh": needs podhooks.io/check-url, the URL that must pass before the hook runs (e.g. http://localhost:8080/healthcheck.html)',
  );
});

test('a template asking for debug mode goes to the fail-closed debug webhook, like a pod', () => {
  const r = cp.kubectl(['apply', '-n', 'hooked', '-f', '-'], JSON.stringify(deployment('jvm', { containers: [{ name: 'app', image: 'x', command: ['java'] }] }, { 'podhooks.io/debug': 'true' })));
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('admission webhook "debug.podhooks.io" denied the request: podhooks debug-namespace: debug mode (podhooks.io/debug="true") is allowed only in namespaces labelled podhooks.io/debug=allowed; namespace hooked has no label podhooks.io/debug.');
});

test('hook annotations in a namespace without injection: admitted as written, with a warning naming the label to set', async () => {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', annotations: { 'podhooks.io/pre-start': './warm.sh' } }, spec: { containers: [{ name: 'app', image: 'registry.example.com/web:1', command: ['/web'] }] } };
  const r = cp.kubectl(['create', '-n', 'vms', '-f', '-'], JSON.stringify(pod));
  expect(r.code).toBe(0);
  expect(r.stderr.trim()).toBe('Warning: podhooks injection-not-enabled: set pod label podhooks.io/inject=true; namespace vms is not injection-enabled');
  const stored = await core.readNamespacedPod({ name: 'web', namespace: 'vms' });
  expect(stored.spec!.containers.map((c) => c.command)).toEqual([['/web']]);
  // With the label the pod is injected, and nothing is said.
  const labelled = cp.kubectl(['create', '-n', 'vms', '-f', '-'], JSON.stringify({ ...pod, metadata: { ...pod.metadata, name: 'web-2', labels: { 'podhooks.io/inject': 'true' } } }));
  expect([labelled.code, labelled.stderr]).toEqual([0, '']);
  expect((await core.readNamespacedPod({ name: 'web-2', namespace: 'vms' })).spec!.containers[0].command![0]).toBe('/podhooks/bin/busybox');
});

test('kubectl debug cannot add a privileged ephemeral container to a Kata pod; an unprivileged one is added', async () => {
  await core.createNamespacedPod({ namespace: 'vms', body: { metadata: { name: 'vm' }, spec: kataSpec() } });
  const privileged = cp.kubectl(['debug', '-n', 'vms', 'vm', '--image=busybox', '--profile=sysadmin', '--container=debugger']);
  expect(privileged.code).toBe(1);
  expect(privileged.stderr).toContain(
    'admission webhook "validate.podhooks.io" denied the request: podhooks sandbox-privileged: runtimeClassName "kata" gives privileged containers only the sandbox\'s devices, not the host\'s: remove spec.ephemeralContainers[debugger].securityContext.privileged, or use a non-sandboxed runtime class for this pod',
  );
  expect((await core.readNamespacedPod({ name: 'vm', namespace: 'vms' })).spec!.ephemeralContainers).toBeUndefined();
  const general = cp.kubectl(['debug', '-n', 'vms', 'vm', '--image=busybox', '--profile=general', '--container=shell']);
  expect(general.code).toBe(0);
  expect((await core.readNamespacedPod({ name: 'vm', namespace: 'vms' })).spec!.ephemeralContainers!.map((c) => c.name)).toEqual(['shell']);
  // Through the subresource itself too (what kubectl debug calls).
  const current = await core.readNamespacedPod({ name: 'vm', namespace: 'vms' });
  current.spec!.ephemeralContainers!.push({ name: 'root', image: 'busybox', securityContext: { privileged: true } });
  const err = await core.replaceNamespacedPodEphemeralcontainers({ name: 'vm', namespace: 'vms', body: current }).then(
    () => undefined,
    (e) => apiMessage(e),
  );
  expect(err).toContain('podhooks sandbox-privileged: runtimeClassName "kata" gives privileged containers only the sandbox\'s devices, not the host\'s: remove spec.ephemeralContainers[root].securityContext.privileged');
});
