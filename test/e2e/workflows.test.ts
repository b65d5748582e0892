// Warm-up URLs and post-offline on a real kube-apiserver + kube-controller-manager: the
// walkthrough's Deployment (docs/migrating.md, test/golden/migrating-vm-app.yaml), applied
// with kubectl into a namespace that enforces PSS "restricted", gets pods from the real
// ReplicaSet controller whose preStop, runner, log streamer and readiness gate are what
// podhooks injects, and which the apiserver's own validation accepts. Pods whose grace
// period cannot hold the post-offline hook, and bad warm-up entries, are refused with
// podhooks' message. There is no kubelet here: the node tier runs these pods for real.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, CoreV1Api, type V1Container, type V1Pod } from '@kubernetes/client-node';
import { ROOT, startPodhooks, type Podhooks } from '../helpers/podhooks';
import { startControlPlane, type ControlPlane } from './harness/controlplane';
import { apiMessage, createNamespace, eventually, registerWebhooks } from './harness/webhooks';

jest.setTimeout(180_000);

const NS = 'shop';
let cp: ControlPlane;
let ph: Podhooks;
let core: CoreV1Api;

const restricted = { runAsNonRoot: true, runAsUser: 10001, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' as const } };
const init = (p: V1Pod, name: string) => p.spec!.initContainers!.find((c) => c.name === name)!;
const env = (c: V1Container, name: string) => c.env?.find((e) => e.name === name);

function pod(name: string, annotations: Record<string, string>, app: Partial<V1Container> = {}, grace?: number): V1Pod {
  return {
    metadata: { name, annotations },
    spec: {
      ...(grace === undefined ? {} : { terminationGracePeriodSeconds: grace }),
      containers: [{ name: 'web', image: 'registry.example.com/shop/web:1', command: ['/web'], securityContext: restricted, ...app }],
    },
  };
}

async function refusal(body: V1Pod): Promise<string> {
  try {
    await core.createNamespacedPod({ namespace: NS, body });
  } catch (err) {
    return apiMessage(err);
  }
  throw new Error(`pod ${body.metadata!.name} was admitted`);
}

beforeAll(async () => {
  cp = await startControlPlane();
  const kc = cp.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  ph = await startPodhooks({ server: { certDir: join(mkdtempSync(join(tmpdir(), 'podhooks-e2e-workflows-')), 'certs') }, kubernetes: { enabled: 'true', kubeconfig: cp.kubeconfigPath } });
  await registerWebhooks(kc.makeApiClient(AdmissionregistrationV1Api), ph.port, ph.ca);
  await createNamespace(core, NS, { 'podhooks.io/injection': 'enabled', 'pod-security.kubernetes.io/enforce': 'restricted' });
  await eventually('the mutating webhook to be active', async () => {
    const p = await core.createNamespacedPod({ namespace: NS, dryRun: 'All', body: pod('probe', { 'podhooks.io/post-offline': 'true' }) });
    return p.metadata?.annotations?.['podhooks.io/status'] ? p : undefined;
  });
});

afterAll(async () => {
  await ph?.stop();
  await cp?.stop();
});

test("the walkthrough's Deployment: the ReplicaSet's pods carry the post-offline preStop, the warm-up runner and the gate, under PSS restricted", async () => {
  const apply = cp.kubectl(['apply', '-f', join(ROOT, 'test/golden/migrating-vm-app.yaml')]);
  expect([apply.code, apply.stderr]).toEqual([0, '']);
  const pods = await eventually('the ReplicaSet controller to create 4 pods', async () => {
    const list = await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=orders' });
    return list.items.length === 4 ? list.items : undefined;
  });
  for (const p of pods) {
    const orders = p.spec!.containers.find((c) => c.name === 'orders')!;
    expect(orders.lifecycle?.preStop?.exec?.command).toEqual([
      '/podhooks/bin/busybox', 'sh', '/podhooks/bin/postoffline.sh', 'run', '--container', 'orders', '--drain', '10', '--timeout', '45', '--', 'exec', '/app/bin/orders', '--graceful-stop',
    ]);
    expect(env(orders, 'PODHOOKS_POST_OFFLINE')?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.annotations['podhooks.io/post-offline']");
    expect(p.spec!.terminationGracePeriodSeconds).toBe(90);
    expect(p.spec!.readinessGates).toEqual([{ conditionType: 'podhooks.io/online' }]);
    const runner = init(p, 'podhooks-preonline');
    expect(env(runner, 'PODHOOKS_WARMUP')?.value).toBe(
      'GET 50 200 10 http://localhost:8080/api/products?page=1\nGET 10 2xx,3xx 10 http://localhost:8080/api/categories\nPOST 1 200,204 60 http://localhost:8080/internal/cache/prime',
    );
    expect(env(runner, 'PODHOOKS_WARMUP_TIMEOUT_SECONDS')?.value).toBe('180');
    const logs = init(p, 'podhooks-logs');
    expect(logs.command).toContain('/podhooks/logs/post-offline.log');
    expect(logs.lifecycle?.preStop?.exec?.command?.slice(3)).toEqual(['await', '--within', '65']);
    const status = JSON.parse(p.metadata!.annotations!['podhooks.io/status']);
    expect(status.changed.orders.lifecycle).toEqual({ preStop: { exec: { command: ['/app/bin/orders', '--graceful-stop'] } } });
  }
});

test('the apiserver accepts every composed preStop kind (exec, sleep, httpGet on a named port)', async () => {
  const hook = { 'podhooks.io/post-offline': '/app/bin/deregister', 'podhooks.io/drain-delay': '2s' };
  const kinds: Partial<V1Container>[] = [
    { lifecycle: { preStop: { sleep: { seconds: 3 } } } },
    { ports: [{ name: 'admin', containerPort: 9901 }], lifecycle: { preStop: { httpGet: { path: '/quit', port: 'admin' } } } },
    { lifecycle: { postStart: { exec: { command: ['/reg'] } }, preStop: { exec: { command: ['/quit'] } } } },
  ];
  const made = await Promise.all(kinds.map((c, i) => core.createNamespacedPod({ namespace: NS, body: pod(`kind-${i}`, hook, c) })));
  expect(made.map((p) => p.spec!.containers[0].lifecycle!.preStop!.exec!.command!.slice(10))).toEqual([
    ['--', 'sleep', '3'],
    ['--', 'http-get', '30', 'http://127.0.0.1:9901/quit'],
    ['--', 'exec', '/quit'],
  ]);
  expect(made[2].spec!.containers[0].lifecycle!.postStart).toEqual({ exec: { command: ['/reg'] } });
});

test('a grace period that cannot hold drain delay + hook timeout + 5 s is refused with the numbers; so is a bad warm-up entry', async () => {
  // The apiserver sets the default grace period (30 s) before the webhook sees the pod.
  expect(await refusal(pod('too-long', { 'podhooks.io/post-offline': '/x', 'podhooks.io/post-offline-timeout': '25s' }))).toContain(
    "annotation podhooks.io/post-offline: the pod's terminationGracePeriodSeconds (30s) cannot hold what runs before container web gets SIGTERM: drain delay 5s (podhooks.io/drain-delay) + post-offline timeout 25s (podhooks.io/post-offline-timeout) + 5s to stop a hook that overruns = 35s",
  );
  expect(await refusal(pod('bad-warmup', { 'podhooks.io/check-url': 'http://localhost:8080/', 'podhooks.io/warmup-urls': 'DELETE http://localhost:8080/cache' }))).toContain(
    'annotation podhooks.io/warmup-urls="DELETE http://localhost:8080/cache": entry 1 ("DELETE http://localhost:8080/cache"): method "DELETE" is not supported',
  );
});
