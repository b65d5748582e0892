// The authorization init container on a real kube-apiserver + kube-controller-manager:
// a Deployment's pods (created by the ReplicaSet controller) each get podhooks-authz,
// pass PSS "restricted" as enforced by the apiserver, and carry paced start offsets;
// server-side dry runs see an offset but take no token.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, AppsV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { startPodhooks, type Podhooks } from '../helpers/podhooks';
import { startControlPlane, type ControlPlane } from './harness/controlplane';
import { createNamespace, eventually, registerWebhooks } from './harness/webhooks';

jest.setTimeout(180_000);

const INTERVAL_MS = 10_000; // ratePerApp 0.1: one pod per 10 s, burst 1
let cp: ControlPlane;
let ph: Podhooks;
let core: CoreV1Api;

const restricted = { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' as const } };
const offsetOf = (p: V1Pod) => Number(p.metadata?.annotations?.['podhooks.io/authz-start-offset-ms']);

beforeAll(async () => {
  cp = await startControlPlane();
  const kc = cp.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  ph = await startPodhooks({
    server: { certDir: join(mkdtempSync(join(tmpdir(), 'podhooks-e2e-authz-')), 'certs') },
    kubernetes: { enabled: 'true', kubeconfig: cp.kubeconfigPath },
    authz: { ratePerApp: 1000 / INTERVAL_MS, burstPerApp: 1 },
  });
  await registerWebhooks(kc.makeApiClient(AdmissionregistrationV1Api), ph.port, ph.ca);
  await createNamespace(core, 'acl', { 'podhooks.io/injection': 'enabled', 'pod-security.kubernetes.io/enforce': 'restricted' });
  await eventually('the mutating webhook to be active', async () => {
    const pod = await core.createNamespacedPod({
      namespace: 'acl',
      dryRun: 'All',
      body: { metadata: { name: 'probe', annotations: { 'podhooks.io/pre-start': 'true' } }, spec: { containers: [{ name: 'a', image: 'x', command: ['/a'], securityContext: restricted }] } },
    });
    return pod.metadata?.annotations?.['podhooks.io/status'] ? pod : undefined;
  });
});

afterAll(async () => {
  await ph?.stop();
  await cp?.stop();
});

test('a dry run shows the offset a pod would get without taking the token', async () => {
  const body: V1Pod = {
    metadata: { name: 'preview', labels: { app: 'preview' }, annotations: { 'podhooks.io/authz': 'true' } },
    spec: { containers: [{ name: 'app', image: 'registry.example.com/acl:1', command: ['/app'], ports: [{ containerPort: 8443 }], securityContext: restricted }] },
  };
  const first = await core.createNamespacedPod({ namespace: 'acl', body, dryRun: 'All' });
  const second = await core.createNamespacedPod({ namespace: 'acl', body, dryRun: 'All' });
  expect(first.spec!.initContainers!.map((c) => c.name)).toEqual(['podhooks-authz']);
  expect([offsetOf(first), offsetOf(second)]).toEqual([0, 0]);
  const real = await core.createNamespacedPod({ namespace: 'acl', body });
  const after = await core.createNamespacedPod({ namespace: 'acl', body: { ...body, metadata: { ...body.metadata, name: 'preview-2' } } });
  expect([offsetOf(real), offsetOf(after) > INTERVAL_MS - 5000]).toEqual([0, true]);
});

test("a Deployment's pods each get the authz init container, paced one per interval", async () => {
  const labels = { 'app.kubernetes.io/name': 'ledger' };
  await cp.kubeConfig().makeApiClient(AppsV1Api).createNamespacedDeployment({
    namespace: 'acl',
    body: {
      metadata: { name: 'ledger' },
      spec: {
        replicas: 4,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels, annotations: { 'podhooks.io/authz': 'true' } },
          spec: { containers: [{ name: 'app', image: 'registry.example.com/ledger:1', command: ['/ledger'], ports: [{ containerPort: 8443 }, { containerPort: 9090 }], securityContext: restricted }] },
        },
      },
    },
  });
  const pods = await eventually('4 ledger pods', async () => {
    const list = await core.listNamespacedPod({ namespace: 'acl', labelSelector: 'app.kubernetes.io/name=ledger' });
    return list.items.length >= 4 ? list.items : undefined;
  });
  for (const pod of pods) {
    const init = pod.spec!.initContainers!.find((c) => c.name === 'podhooks-authz')!;
    expect(init.env!.find((e) => e.name === 'PODHOOKS_AUTHZ_PORTS')!.value).toBe('8443');
    // The apiserver defaulted and stored the downward API references.
    expect(init.env!.find((e) => e.name === 'PODHOOKS_POD_IP')!.valueFrom!.fieldRef!.fieldPath).toBe('status.podIP');
  }
  // The ReplicaSet controller creates the 4 pods within seconds: one starts now, the
  // others queue one interval apart (minus the time between their admissions).
  const offsets = pods.map(offsetOf).sort((a, b) => a - b);
  expect(offsets[0]).toBe(0);
  for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBeGreaterThan((i - 1) * INTERVAL_MS);
  expect(new Set(offsets).size).toBe(4);
});
