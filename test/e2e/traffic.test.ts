// Manual traffic approval on a real kube-apiserver + kube-controller-manager: pods created
// with podhooks.io/traffic: manual get the readiness gate through the webhook, and
// `podhooks online|offline`, run as a ServiceAccount holding exactly the Role in
// deploy/examples/traffic-approver.yaml, switch the podhooks.io/online condition, record
// an Event with who and why, and leave every other condition alone. Callers without that
// RBAC get a message naming what is missing, and nothing changes.
// There is no kubelet in this tier: test/e2e/harness/kubelet-sim.ts SIMULATES one (binds
// pods to a Node object, marks them running, computes Ready from ContainersReady and the
// readiness gates as kubelet does). Ready, EndpointSlices and Deployment availability
// below therefore rest on that simulation plus the real controllers; the node tier checks
// the real kubelet.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, AppsV1Api, CoreV1Api, DiscoveryV1Api, KubeConfig, RbacAuthorizationV1Api, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { ROOT, startPodhooks, type Podhooks } from '../helpers/podhooks';
import { runPodhooks, serviceAccountKubeconfig } from './harness/accounts';
import { startControlPlane, type ControlPlane } from './harness/controlplane';
import { startSimulatedKubelet, type SimulatedKubelet } from './harness/kubelet-sim';
import { createNamespace, eventually, registerWebhooks } from './harness/webhooks';

jest.setTimeout(240_000);

const NS = 'shop'; // the namespace deploy/examples/traffic-approver.yaml binds release-pipeline in
const PIPELINE = `system:serviceaccount:${NS}:release-pipeline`;
let cp: ControlPlane;
let ph: Podhooks;
let core: CoreV1Api;
let apps: AppsV1Api;
let kubelet: SimulatedKubelet;
const dir = mkdtempSync(join(tmpdir(), 'podhooks-e2e-traffic-'));
const kubeconfigs: Record<string, string> = {};

const podhooks = (args: string[], as: string) => runPodhooks(args, kubeconfigs[as]);
const kubeconfigFor = (sa: string) => serviceAccountKubeconfig(core, cp.server, NS, sa, dir);

const labels = { app: 'checkout' };
function manualPod(name: string, extra: Record<string, string> = {}): V1Pod {
  return {
    metadata: { name, labels: { ...labels, ...extra }, annotations: { 'podhooks.io/traffic': 'manual' } },
    spec: { containers: [{ name: 'app', image: 'registry.example.com/shop/checkout:7', command: ['/checkout'], ports: [{ containerPort: 8080 }] }] },
  };
}
const read = (name: string) => core.readNamespacedPod({ name, namespace: NS });
const cond = (p: V1Pod, type: string) => p.status?.conditions?.find((c) => c.type === type);
const readyIs = (name: string, status: string) => eventually(`pod ${name} Ready=${status} (simulated kubelet)`, async () => ((p) => (cond(p, 'Ready')?.status === status ? p : undefined))(await read(name)));
const running = (name: string) => eventually(`pod ${name} running (simulated kubelet)`, async () => ((p) => (p.status?.podIP && cond(p, 'ContainersReady')?.status === 'True' ? p : undefined))(await read(name)));
const eventsOf = async (name: string) => (await core.listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.name=${name}` })).items.filter((e) => e.reason?.startsWith('PodhooksO'));

/** The Service's endpoint for this pod IP as the real EndpointSlice controller publishes it. */
async function endpoint(ip: string) {
  const slices = await cp.kubeConfig().makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace: NS, labelSelector: 'kubernetes.io/service-name=checkout' });
  return slices.items.flatMap((s) => s.endpoints ?? []).find((e) => e.addresses.includes(ip));
}
const MERGE = setHeaderOptions('Content-Type', 'application/strategic-merge-patch+json');

beforeAll(async () => {
  cp = await startControlPlane();
  const kc = cp.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
  ph = await startPodhooks({ server: { certDir: join(dir, 'certs') }, kubernetes: { enabled: 'true', kubeconfig: cp.kubeconfigPath } });
  await registerWebhooks(kc.makeApiClient(AdmissionregistrationV1Api), ph.port, ph.ca);
  await createNamespace(core, NS, { 'podhooks.io/injection': 'enabled' });
  await eventually('the mutating webhook to add the gate', async () => {
    const pod = await core.createNamespacedPod({ namespace: NS, dryRun: 'All', body: manualPod('probe') });
    return pod.spec?.readinessGates?.length ? pod : undefined;
  });

  // The Role and RoleBinding exactly as shipped; its subject is release-pipeline in "shop".
  const apply = cp.kubectl(['apply', '-n', NS, '-f', join(ROOT, 'deploy/examples/traffic-approver.yaml')]);
  expect([apply.code, apply.stderr]).toEqual([0, '']);
  kubeconfigs.pipeline = await kubeconfigFor('release-pipeline');
  kubeconfigs.intruder = await kubeconfigFor('intruder');
  // Everything but events create: a transition could not be recorded.
  kubeconfigs.silent = await kubeconfigFor('silent');
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({
    namespace: NS,
    body: { metadata: { name: 'no-events' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }, { apiGroups: [''], resources: ['pods/status'], verbs: ['patch'] }] },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: NS,
    body: { metadata: { name: 'no-events' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'no-events' }, subjects: [{ kind: 'ServiceAccount', name: 'silent', namespace: NS }] },
  });

  // The optional policy, as shipped: every `podhooks online|offline` below runs under it.
  const policy = cp.kubectl(['apply', '-f', join(ROOT, 'deploy/examples/traffic-approver-policy.yaml')]);
  expect([policy.code, policy.stderr]).toEqual([0, '']);

  await core.createNamespacedService({ namespace: NS, body: { metadata: { name: 'checkout' }, spec: { selector: labels, ports: [{ port: 80, targetPort: 8080 as any }] } } });
  kubelet = await startSimulatedKubelet(kc, { node: 'sim-node', namespace: NS });
});

afterAll(async () => {
  await kubelet?.stop();
  await ph?.stop();
  await cp?.stop();
});

describe('one pod, by name, as the release pipeline (only the documented Role)', () => {
  let ip: string;
  beforeAll(async () => {
    await core.createNamespacedPod({ namespace: NS, body: manualPod('web-1') });
    ip = (await running('web-1')).status!.podIP!;
    // Another controller's condition, which no podhooks patch may disturb.
    await core.patchNamespacedPodStatus(
      { name: 'web-1', namespace: NS, body: { status: { conditions: [{ type: 'example.com/lb', status: 'True', reason: 'Registered', lastTransitionTime: new Date() }] } } },
      MERGE,
    );
  });

  test('created with the gate, it runs but is not Ready and its endpoint is not ready', async () => {
    const pod = await readyIs('web-1', 'False');
    expect(pod.spec!.readinessGates).toEqual([{ conditionType: 'podhooks.io/online' }]);
    expect(cond(pod, 'podhooks.io/online')).toBeUndefined();
    expect(cond(pod, 'Ready')).toMatchObject({ reason: 'ReadinessGatesNotReady' });
    expect(pod.status!.phase).toBe('Running');
    expect(await eventually('the endpoint of web-1', () => endpoint(ip))).toMatchObject({ conditions: { ready: false } });
  });

  test('`podhooks online` sets the condition True, records who and why, and the pod becomes Ready and serves', async () => {
    const r = await podhooks(['online', 'web-1', '--reason', 'smoke tests passed (build 42)'], 'pipeline');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('pod/web-1 online\n');
    expect(r.code).toBe(0);
    const pod = await read('web-1');
    expect(cond(pod, 'podhooks.io/online')).toMatchObject({ status: 'True', reason: 'PodhooksOnline', message: `approved by ${PIPELINE}: smoke tests passed (build 42)` });
    // Other conditions untouched: the simulated kubelet's and another controller's.
    expect(cond(pod, 'example.com/lb')).toMatchObject({ status: 'True', reason: 'Registered' });
    expect(cond(pod, 'ContainersReady')?.status).toBe('True');
    expect(cond(pod, 'PodScheduled')?.status).toBe('True');
    const [event] = await eventsOf('web-1');
    expect(event).toMatchObject({
      type: 'Normal',
      reason: 'PodhooksOnline',
      message: `traffic approved by ${PIPELINE} (was offline): smoke tests passed (build 42)`,
      involvedObject: { kind: 'Pod', name: 'web-1', uid: pod.metadata!.uid },
      source: { component: 'podhooks-cli' },
    });
    expect(event.metadata!.annotations).toEqual({ 'podhooks.io/user': PIPELINE, 'podhooks.io/reason': 'smoke tests passed (build 42)' });
    await readyIs('web-1', 'True');
    await eventually('the endpoint of web-1 to be ready', async () => ((await endpoint(ip))?.conditions?.ready ? true : undefined));
  });

  test('online again is a no-op that says so (no second Event)', async () => {
    const r = await podhooks(['online', 'web-1', '--reason', 'again'], 'pipeline');
    expect([r.code, r.stdout]).toEqual([0, 'pod/web-1 already online\n']);
    expect(await eventsOf('web-1')).toHaveLength(1);
  });

  test('`podhooks offline` withdraws traffic without stopping the pod', async () => {
    const before = await read('web-1');
    const r = await podhooks(['offline', 'web-1', '--reason', 'investigating latency'], 'pipeline');
    expect([r.code, r.stdout, r.stderr]).toEqual([0, 'pod/web-1 offline\n', '']);
    expect(cond(await read('web-1'), 'podhooks.io/online')).toMatchObject({ status: 'False', reason: 'PodhooksOffline', message: `taken offline by ${PIPELINE}: investigating latency` });
    const after = await readyIs('web-1', 'False');
    expect(cond(after, 'Ready')!.message).toBe('the status of pod readiness gate "podhooks.io/online" is not "True", but False');
    // Same pod, still running: only its Service membership changed.
    expect([after.metadata!.uid, after.status!.phase, after.metadata!.deletionTimestamp]).toEqual([before.metadata!.uid, 'Running', undefined]);
    await eventually('the endpoint of web-1 to be not ready', async () => ((await endpoint(ip))?.conditions?.ready === false ? true : undefined));
    const events = await eventsOf('web-1');
    expect(events.map((e) => e.reason).sort()).toEqual(['PodhooksOffline', 'PodhooksOnline']);
    expect(events.find((e) => e.reason === 'PodhooksOffline')!.message).toBe(`traffic withdrawn by ${PIPELINE} (was online): investigating latency`);
  });
});

describe('by label selector', () => {
  test('online -l switches every matching pod; a pod without the gate is a clear error, not a no-op', async () => {
    await core.createNamespacedPod({ namespace: NS, body: manualPod('batch-a', { batch: 'b1' }) });
    await core.createNamespacedPod({ namespace: NS, body: manualPod('batch-b', { batch: 'b1' }) });
    const plain = manualPod('batch-plain', { batch: 'b1' });
    plain.metadata!.annotations = {};
    await core.createNamespacedPod({ namespace: NS, body: plain });
    await Promise.all(['batch-a', 'batch-b', 'batch-plain'].map(running));

    const r = await podhooks(['online', '-l', 'batch=b1', '--reason', 'canary ok'], 'pipeline');
    expect(r.code).toBe(1);
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(['pod/batch-a online', 'pod/batch-b online']);
    expect(r.stderr).toContain(
      'podhooks: online: pod shop/batch-plain has no readiness gate podhooks.io/online, so it already takes traffic once ready: it was not created with annotation podhooks.io/traffic: manual',
    );
    expect(r.stderr).toContain('podhooks: online: 1 pod(s) could not be put online');
    await readyIs('batch-a', 'True');
    await readyIs('batch-b', 'True');
    expect(cond(await read('batch-plain'), 'podhooks.io/online')).toBeUndefined();
  });

  test('a selector that matches nothing is an error', async () => {
    const r = await podhooks(['online', '-l', 'batch=none', '--reason', 'x'], 'pipeline');
    expect([r.code, r.stderr]).toEqual([1, 'podhooks: online: no pods match -l "batch=none" in namespace shop\n']);
  });
});

describe('callers without the RBAC', () => {
  beforeAll(async () => {
    await core.createNamespacedPod({ namespace: NS, body: manualPod('guarded') });
    await running('guarded');
  });

  test('a ServiceAccount with no Role is told every verb and resource it lacks, and nothing changes', async () => {
    const r = await podhooks(['online', 'guarded', '--reason', 'let me in'], 'intruder');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `podhooks: online: forbidden: system:serviceaccount:shop:intruder may not get pods (to read the named pods), list pods (to select pods by -l or --rollout), ` +
        'patch pods/status (to set the podhooks.io/online condition), create events (to record who switched the pod, and why) in namespace shop. ' +
        'A release pipeline needs the Role in deploy/examples/traffic-approver.yaml, bound in this namespace\n',
    );
    expect(cond(await read('guarded'), 'podhooks.io/online')).toBeUndefined();
  });

  test('without events create, no transition is made that could not be recorded', async () => {
    const r = await podhooks(['online', 'guarded', '--reason', 'quietly'], 'silent');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('forbidden: system:serviceaccount:shop:silent may not create events (to record who switched the pod, and why) in namespace shop');
    expect(cond(await read('guarded'), 'podhooks.io/online')).toBeUndefined();
  });

  test('--rollout needs the extra Role, and says so', async () => {
    const r = await podhooks(['online', '--rollout', 'deployment/x', '--reason', 'x'], 'silent');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('may not create events (to record who switched the pod, and why), get deployments.apps (to --rollout: read the Deployment), list replicasets.apps (to --rollout: find its newest ReplicaSet)');
  });
});

describe('a Deployment rollout approved as a whole', () => {
  const name = 'storefront';
  const tmplLabels = { app: 'storefront' };
  const deploymentPods = async () => (await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=storefront' })).items.filter((p) => !p.metadata?.deletionTimestamp);

  beforeAll(async () => {
    await apps.createNamespacedDeployment({
      namespace: NS,
      body: {
        metadata: { name },
        spec: {
          replicas: 3,
          strategy: { rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
          selector: { matchLabels: tmplLabels },
          template: { metadata: { labels: tmplLabels, annotations: { 'podhooks.io/traffic': 'manual' } }, spec: { containers: [{ name: 'app', image: 'registry.example.com/shop/storefront:1', command: ['/storefront'] }] } },
        },
      },
    });
  });

  test('its pods run but are unavailable until approved', async () => {
    const pods = await eventually('3 running storefront pods', async () => {
      const list = await deploymentPods();
      return list.length === 3 && list.every((p) => p.status?.podIP && cond(p, 'Ready')?.reason === 'ReadinessGatesNotReady') ? list : undefined;
    });
    expect(pods.every((p) => p.spec!.readinessGates?.some((g) => g.conditionType === 'podhooks.io/online'))).toBe(true);
    const d = await apps.readNamespacedDeployment({ name, namespace: NS });
    expect(d.status?.availableReplicas ?? 0).toBe(0);
  });

  test('`online --rollout --follow` approves the first rollout until the Deployment is available', async () => {
    const r = await podhooks(['online', '--rollout', `deployment/${name}`, '--follow', '--reason', 'release 1', '--timeout', '3m'], 'pipeline');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`deployment shop/${name}: rollout complete, 3 of 3 replicas updated and available`);
    const d = await apps.readNamespacedDeployment({ name, namespace: NS });
    expect(d.status?.availableReplicas).toBe(3);
  });

  test('a new revision with maxUnavailable 0 keeps the old pods until --follow has approved every new one', async () => {
    const oldUids = new Set((await deploymentPods()).map((p) => p.metadata!.uid));
    await apps.patchNamespacedDeployment(
      { name, namespace: NS, body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'registry.example.com/shop/storefront:2' }] },
    );
    // Without approval the rollout stalls at one surge pod, with all old pods still available.
    const surge = await eventually('the surge pod to run, unapproved', async () => {
      const list = (await deploymentPods()).filter((p) => !oldUids.has(p.metadata!.uid));
      return list.length === 1 && list[0].status?.podIP ? list : undefined;
    });
    expect(cond(surge[0], 'Ready')?.status).toBe('False');
    expect((await apps.readNamespacedDeployment({ name, namespace: NS })).status?.availableReplicas).toBe(3);

    const r = await podhooks(['online', '--rollout', `deployment/${name}`, '--follow', '--reason', 'release 2', '--timeout', '3m'], 'pipeline');
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toContain('rollout complete, 3 of 3 replicas updated and available');
    const pods = await eventually('the old pods to be gone', async () => ((l) => (l.every((p) => !oldUids.has(p.metadata!.uid)) ? l : undefined))(await deploymentPods()));
    expect(pods).toHaveLength(3);
    for (const p of pods) {
      expect(p.spec!.containers[0].image).toBe('registry.example.com/shop/storefront:2');
      expect(cond(p, 'podhooks.io/online')).toMatchObject({ status: 'True', message: `approved by ${PIPELINE}: release 2` });
    }
  });
});

describe('deploy/examples/traffic-approver-policy.yaml: the pipeline may change nothing else through pods/status', () => {
  let pipeline: CoreV1Api;
  const denial = (patch: object, dryRun?: string, options = MERGE) =>
    pipeline.patchNamespacedPodStatus({ name: 'fenced', namespace: NS, body: patch, dryRun }, options).then(
      () => 'allowed',
      (err) => String(JSON.parse(err.body).message),
    );
  beforeAll(async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigs.pipeline);
    pipeline = kc.makeApiClient(CoreV1Api);
    await core.createNamespacedPod({ namespace: NS, body: manualPod('fenced') });
    await running('fenced');
    // Policies take effect once the apiserver has loaded them; a dry run shows when, changing nothing.
    await eventually('the policy to be in force', async () => ((await denial({ metadata: { labels: { app: 'x' } } }, 'All')) === 'allowed' ? undefined : true));
  });

  test('not the Ready condition', async () => {
    expect(await denial({ status: { conditions: [{ type: 'Ready', status: 'True' }] } })).toContain(
      "ValidatingAdmissionPolicy 'podhooks-traffic-approvers' with binding 'podhooks-traffic-approvers' denied request: traffic approvers may change only the podhooks.io/online condition (podhooks online|offline), not the pod's other conditions",
    );
  });

  test('not the labels that decide Service membership', async () => {
    expect(await denial({ metadata: { labels: { app: 'payments' } } })).toContain("denied request: traffic approvers may not change a pod's labels or annotations through pods/status");
  });

  test('not the pod IP the EndpointSlice publishes', async () => {
    // A merge patch replaces the podIPs list (a strategic merge would add to it).
    expect(await denial({ status: { podIP: '10.9.9.9', podIPs: [{ ip: '10.9.9.9' }] } }, undefined, setHeaderOptions('Content-Type', 'application/merge-patch+json'))).toContain("denied request: traffic approvers may change only the podhooks.io/online condition of a pod's status (not its IPs");
    const pod = await read('fenced');
    expect([pod.metadata!.labels!.app, cond(pod, 'Ready')!.status, pod.status!.podIP]).toEqual(['checkout', 'False', expect.stringMatching(/^10\.244\.0\./)]);
  });

  test('but podhooks online, under the same policy, does its job', async () => {
    const r = await podhooks(['online', 'fenced', '--reason', 'fenced but approved'], 'pipeline');
    expect([r.code, r.stdout, r.stderr]).toEqual([0, 'pod/fenced online\n', '']);
    await readyIs('fenced', 'True');
  });
});

test('the simulated node stayed healthy throughout (its Lease renewals all succeeded)', () => {
  expect(kubelet.renewals().length).toBeGreaterThan(0);
  expect(kubelet.renewals().filter((r) => r !== true)).toEqual([]);
});
