// Placement that assigns (validation.placement.mode: assign) on a real kube-apiserver,
// with podhooks running as its own ServiceAccount under deploy/base/rbac.yaml and the
// webhooks from deploy/base/webhooks.yaml: an offline pod that did not opt into hooks
// still reaches podhooks (placement.podhooks.io) and gets the sandbox RuntimeClass,
// whose overhead and scheduling the apiserver's RuntimeClass plugin then applies; a
// missing RuntimeClass is a clear denial; online pods on the sandbox are still refused.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, CoreV1Api, NodeV1Api, type V1Pod } from '@kubernetes/client-node';
import { metricsText, startPodhooks, type Podhooks } from '../helpers/podhooks';
import { startControlPlane, type ControlPlane } from './harness/controlplane';
import { serviceAccountKubeconfig } from './harness/serviceaccount';
import { apiMessage, createNamespace, eventually, registerWebhooks } from './harness/webhooks';

jest.setTimeout(240_000);

let cp: ControlPlane;
let ph: Podhooks;
let core: CoreV1Api;
let node: NodeV1Api;
const dir = mkdtempSync(join(tmpdir(), 'podhooks-e2e-placement-'));

function job(name: string, workload: string, extra: { annotations?: Record<string, string>; runtimeClassName?: string } = {}): V1Pod {
  return {
    metadata: { name, labels: { 'podhooks.io/workload': workload }, annotations: extra.annotations },
    spec: { runtimeClassName: extra.runtimeClassName, restartPolicy: 'Never', containers: [{ name: 'work', image: 'registry.example.com/media/transcode:1', command: ['/transcode'] }] },
  };
}
const create = (namespace: string, pod: V1Pod, dryRun = false) =>
  core.createNamespacedPod({ namespace, body: pod, ...(dryRun ? { dryRun: 'All' } : {}) }).then(
    (p) => ({ pod: p, error: undefined }),
    (err) => ({ pod: undefined, error: apiMessage(err) }),
  );

const metrics = (): Promise<string> => metricsText(ph);

const MISSING =
  'admission webhook "placement.podhooks.io" denied the request: podhooks: placement: RuntimeClass "kata" (validation.placement.sandboxRuntimeClass) does not exist, so the offline pod (metadata.labels[podhooks.io/workload]="batch") cannot be placed in the sandbox. Fix: create the RuntimeClass, or correct validation.placement.sandboxRuntimeClass';

beforeAll(async () => {
  cp = await startControlPlane();
  const kc = cp.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  node = kc.makeApiClient(NodeV1Api);
  await createNamespace(core, 'podhooks');
  await createNamespace(core, 'media');
  await createNamespace(core, 'shop', { 'podhooks.io/injection': 'enabled' });
  const kubeconfig = await serviceAccountKubeconfig(cp, dir);
  ph = await startPodhooks({
    server: { certDir: join(dir, 'certs') },
    kubernetes: { enabled: 'true', kubeconfig },
    validation: { placement: { enabled: true, mode: 'assign' } },
  });
  await registerWebhooks(kc.makeApiClient(AdmissionregistrationV1Api), ph.port, ph.ca);
  // No RuntimeClass kata yet: once the webhook is active, the offline pod is refused by podhooks.
  await eventually('the placement webhook to be active', async () => ((await create('media', job('probe', 'batch'), true)).error === MISSING ? true : undefined));
});

afterAll(async () => {
  await ph?.stop();
  await cp?.stop();
});

test('without the RuntimeClass, an offline pod is refused with the reason and the fix', async () => {
  const r = await create('media', job('too-early', 'batch'));
  expect(r.error).toBe(MISSING);
  // Recorded under the placement rule (the audit line; Events and the counter come from the same record).
  const line = await ph.waitForLog((l) => l.msg === 'policy decision' && l.name === 'too-early');
  expect(line).toMatchObject({ webhook: 'placement', rule: 'placement', action: 'deny', field: 'spec.runtimeClassName' });
});

describe('with the RuntimeClass', () => {
  beforeAll(async () => {
    await node.createRuntimeClass({
      body: { metadata: { name: 'kata' }, handler: 'kata', overhead: { podFixed: { cpu: '250m', memory: '160Mi' } }, scheduling: { nodeSelector: { 'sandbox.example.com/kata': 'true' } } },
    });
    // A missing class is remembered for a few seconds only.
    await eventually('podhooks to see the RuntimeClass', async () => ((await create('media', job('probe', 'batch'), true)).pod ? true : undefined));
  });

  test('an offline pod that did not opt in gets the sandbox class, with the RuntimeClass\'s overhead and scheduling', async () => {
    const { pod, error } = await create('media', job('transcode', 'batch'));
    expect(error).toBeUndefined();
    const stored = await core.readNamespacedPod({ name: 'transcode', namespace: 'media' });
    expect(stored.metadata!.uid).toBe(pod!.metadata!.uid);
    expect(stored.spec!.runtimeClassName).toBe('kata');
    // The apiserver's RuntimeClass plugin ran again after podhooks' change.
    expect(stored.spec!.overhead).toEqual({ cpu: '250m', memory: '160Mi' });
    expect(stored.spec!.nodeSelector).toEqual({ 'sandbox.example.com/kata': 'true' });
    expect(JSON.parse(stored.metadata!.annotations!['podhooks.io/status']).runtimeClassName).toBe('kata');
    const line = await ph.waitForLog((l) => l.msg === 'admission decision' && l.webhook === 'placement' && l.name === 'transcode');
    expect(line).toMatchObject({ decision: 'patched', reason: 'spec.runtimeClassName set to "kata": metadata.labels[podhooks.io/workload]="batch" marks an offline workload (validation.placement.mode: assign)' });
    expect(await metrics()).toMatch(/^podhooks_placement_assignments_total\{runtime_class="kata"\} [1-9]/m);
  });

  test('hook annotations in a namespace that did not opt in: placement only, no hooks', async () => {
    await create('media', job('nightly', 'offline', { annotations: { 'podhooks.io/pre-start': 'echo never here' } }));
    const stored = await core.readNamespacedPod({ name: 'nightly', namespace: 'media' });
    expect(stored.spec!.runtimeClassName).toBe('kata');
    expect(stored.spec!.initContainers).toBeUndefined();
    expect(stored.spec!.containers[0].command).toEqual(['/transcode']);
  });

  test('in an opted-in namespace, hooks and placement together', async () => {
    await create('shop', job('export', 'batch', { annotations: { 'podhooks.io/pre-start': 'echo exporting' } }));
    const stored = await core.readNamespacedPod({ name: 'export', namespace: 'shop' });
    expect(stored.spec!.runtimeClassName).toBe('kata');
    expect(stored.spec!.containers[0].command!.slice(0, 3)).toEqual(['/podhooks/bin/busybox', 'sh', '/podhooks/bin/wrapper.sh']);
    const status = JSON.parse(stored.metadata!.annotations!['podhooks.io/status']);
    expect(status).toMatchObject({ runtimeClassName: 'kata', targets: ['work'] });
  });

  test('a pod that chose its class and an online pod are not assigned; an online pod on the sandbox is refused', async () => {
    await node.createRuntimeClass({ body: { metadata: { name: 'runc' }, handler: 'runc' } });
    const chosen = await create('media', job('chosen', 'batch', { runtimeClassName: 'runc' }));
    // The validating placement rule judges what the pod chose itself.
    expect(chosen.error).toBe(
      'admission webhook "validate.podhooks.io" denied the request: podhooks placement: metadata.labels[podhooks.io/workload]="batch" marks an offline workload, which must run sandboxed, but runtimeClassName is "runc": set spec.runtimeClassName: kata',
    );
    const online = await create('media', job('web', 'online'));
    expect(online.error).toBeUndefined();
    expect(online.pod!.spec!.runtimeClassName).toBeUndefined();
    const misplaced = await create('media', job('web-kata', 'online', { runtimeClassName: 'kata' }));
    expect(misplaced.error).toBe(
      'admission webhook "validate.podhooks.io" denied the request: podhooks placement: metadata.labels[podhooks.io/workload]="online" marks an online workload, which runs on the default runtime, but runtimeClassName is "kata": remove spec.runtimeClassName',
    );
  });
});
