// The documented install path, onto the real node: `helm install` from deploy/chart with
// the webhook image built from this checkout as the repo's Dockerfile describes it (Node
// 24, production node_modules, dist/, user 65532) and the locally built tools image,
// certificates managed by the replica itself (certificates.provider self-managed). The
// webhook runs in the cluster behind its Service: the apiserver calls it through the
// Service's EndpointSlice (--enable-aggregator-routing, as there is no kube-proxy), and it
// reaches the apiserver through the node bridge (extraEnv KUBERNETES_SERVICE_HOST/PORT),
// where the apiserver's certificate is valid. A pod in an injection-enabled namespace is
// then injected by it and runs; `helm uninstall` removes the webhooks.
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, AppsV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from '../e2e/harness/controlplane';
import { CHART, helm } from '../e2e/harness/helm';
import { createNamespace, eventually } from '../e2e/harness/webhooks';
import { IMAGES, webhookImage, WEBHOOK_IMAGE } from './images/images';
import { containerStatus, isReady, RESTRICTED } from './harness/cluster';
import { BRIDGE_IP, startNode, type Node } from './harness/node';

jest.setTimeout(600_000);

const PH = 'podhooks';
const NS = 'apps';
let cp: ControlPlane;
let node: Node;
let core: CoreV1Api;
const dir = mkdtempSync(join(tmpdir(), 'podhooks-node-helm-'));

beforeAll(async () => {
  cp = await startControlPlane({ node: true, apiserverIPs: [BRIDGE_IP] });
  node = await startNode(cp);
  node.importImage(webhookImage().tar);
  core = cp.kubeConfig().makeApiClient(CoreV1Api);
});

afterAll(async () => {
  await node?.stop();
  await cp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function hooked(name: string): V1Pod {
  return {
    metadata: { name, annotations: { 'podhooks.io/pre-start': 'echo "hook: run by the in-cluster webhook\'s wrapper"' } },
    spec: { terminationGracePeriodSeconds: 5, containers: [{ name: 'app', image: IMAGES.static, command: ['/app', 'serve'], securityContext: RESTRICTED }] },
  };
}

test('helm install runs the webhook in the cluster, which injects a pod end to end; helm uninstall removes its webhooks', async () => {
  // The namespace as docs/install.md has it: the webhook itself passes PSS restricted.
  await createNamespace(core, PH, { 'pod-security.kubernetes.io/enforce': 'restricted' });
  const values = {
    replicaCount: 1,
    image: { registry: 'ghcr.io/podhooks', tag: '0.1.0', pullPolicy: 'Never' },
    certificates: { provider: 'self-managed' },
    // A plain injection's decision line is at debug: the chart's config passes the level through.
    config: { logLevel: 'debug' },
    extraEnv: [
      { name: 'KUBERNETES_SERVICE_HOST', value: node.apiserverForPods.host },
      { name: 'KUBERNETES_SERVICE_PORT', value: String(node.apiserverForPods.port) },
    ],
  };
  writeFileSync(join(dir, 'values.yaml'), JSON.stringify(values));
  const install = helm(['install', 'podhooks', CHART, '--namespace', PH, '--values', join(dir, 'values.yaml'), '--kubeconfig', cp.kubeconfigPath]);
  expect([install.code, install.stderr]).toEqual([0, '']);
  expect(install.stdout).toContain('STATUS: deployed');

  const deployment = await cp.kubeConfig().makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'podhooks', namespace: PH });
  expect(deployment.spec!.template.spec!.containers[0].image).toBe(WEBHOOK_IMAGE);
  const [replica] = (await eventually('the webhook pod', async () => {
    const pods = await core.listNamespacedPod({ namespace: PH, labelSelector: 'app.kubernetes.io/name=podhooks' });
    return pods.items.length ? pods.items : undefined;
  })).map((p) => p.metadata!.name!);
  // Ready: it read or issued its certificate through the API (at the bridge address) and serves.
  const ready = await node.waitForPod(PH, replica, isReady, 'the webhook Ready', 180_000);
  expect(containerStatus(ready, 'podhooks')!.restartCount).toBe(0);

  // Self-managed: the replica stored the certificate and patched every webhook's caBundle.
  const tls = await core.readNamespacedSecret({ name: 'podhooks-tls', namespace: PH });
  expect(Object.keys(tls.data ?? {}).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
  // The CA's key is kept apart, in a Secret the serving pods' mounts never see.
  const ca = await core.readNamespacedSecret({ name: 'podhooks-ca', namespace: PH });
  expect(Object.keys(ca.data ?? {}).sort()).toEqual(['tls.crt', 'tls.key']);
  const admission = cp.kubeConfig().makeApiClient(AdmissionregistrationV1Api);
  await eventually('every webhook to have its caBundle', async () => {
    const hooks = [...(await admission.readMutatingWebhookConfiguration({ name: 'podhooks' })).webhooks!, ...(await admission.readValidatingWebhookConfiguration({ name: 'podhooks' })).webhooks!];
    return hooks.every((h) => h.clientConfig.caBundle && h.clientConfig.service?.namespace === PH) ? true : undefined;
  });

  // A pod in an injection-enabled namespace: the apiserver calls the webhook at its pod IP
  // (the Service's endpoint), the pod is injected and runs its hook before the app.
  await createNamespace(core, NS, { 'podhooks.io/injection': 'enabled', 'pod-security.kubernetes.io/enforce': 'restricted' });
  await eventually('the in-cluster webhook to inject', async () => {
    const dry = await core.createNamespacedPod({ namespace: NS, body: hooked('dry-run'), dryRun: 'All' });
    return dry.metadata?.annotations?.['podhooks.io/status'] ? true : undefined;
  }, 120_000);
  const created = await core.createNamespacedPod({ namespace: NS, body: hooked('web') });
  expect(created.spec!.initContainers!.map((c) => [c.name, c.image])).toEqual([
    ['podhooks-tools', IMAGES.tools],
    ['podhooks-logs', IMAGES.tools],
  ]);
  expect(created.spec!.containers[0].command!.slice(0, 3)).toEqual(['/podhooks/bin/busybox', 'sh', '/podhooks/bin/wrapper.sh']);
  await node.waitForPod(NS, 'web', isReady, 'the injected pod Ready');
  const log = await eventually('the app to log that it serves', async () => ((l) => (l.includes('app: pid 1 serving') ? l : undefined))(node.logs(NS, 'web', 'app')));
  expect(log.indexOf('app: pid 1 serving')).toBeGreaterThan(log.indexOf("hook: run by the in-cluster webhook's wrapper"));
  // The in-cluster replica made that decision (its decision line), not some other server.
  expect(node.logs(PH, replica, 'podhooks')).toMatch(/"webhook":"mutate".*"namespace":"apps","name":"web","operation":"CREATE","decision":"patched"/);

  const uninstall = helm(['uninstall', 'podhooks', '--namespace', PH, '--kubeconfig', cp.kubeconfigPath]);
  expect([uninstall.code, uninstall.stderr]).toEqual([0, '']);
  expect((await admission.listMutatingWebhookConfiguration()).items.map((w) => w.metadata!.name)).toEqual([]);
  expect((await admission.listValidatingWebhookConfiguration()).items.map((w) => w.metadata!.name)).toEqual([]);
  // No webhook any more: the next pod is created as written, not refused.
  const after = await core.createNamespacedPod({ namespace: NS, body: hooked('after'), dryRun: 'All' });
  expect(after.metadata!.annotations!['podhooks.io/status']).toBeUndefined();
});
