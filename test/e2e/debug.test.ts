// Debug mode on a real kube-apiserver: the validating webhook denies a debug pod in a
// namespace without podhooks.io/debug=allowed (reading the label from the apiserver), and
// admits it in a labelled one, stored with the socat sidecar, the JDWP agent and the
// rewritten liveness probe, passing Pod Security Standards "restricted".
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { startPodhooks, type Podhooks } from '../helpers/podhooks';
import { startControlPlane, type ControlPlane } from './harness/controlplane';
import { apiMessage, createNamespace, eventually, registerWebhooks } from './harness/webhooks';

jest.setTimeout(180_000);

let cp: ControlPlane;
let ph: Podhooks;
let core: CoreV1Api;

const restricted = { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' as const } };

function debugPod(name: string): V1Pod {
  return {
    metadata: { name, annotations: { 'podhooks.io/debug': 'true' } },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'registry.example.com/shop/orders:2.1.0',
          command: ['java', '-jar', '/app/orders.jar'],
          ports: [{ name: 'http', containerPort: 8080 }],
          livenessProbe: { httpGet: { path: '/health', port: 'http' }, periodSeconds: 10 },
          securityContext: restricted,
        },
      ],
    },
  };
}

const DENIAL =
  'podhooks debug-namespace: debug mode (podhooks.io/debug="true") is allowed only in namespaces labelled podhooks.io/debug=allowed; ' +
  'namespace debug-closed has no label podhooks.io/debug. Fix: remove the annotation, or ask a cluster admin to run kubectl label namespace debug-closed podhooks.io/debug=allowed';

async function createError(namespace: string, body: V1Pod, dryRun?: 'All'): Promise<string | undefined> {
  return core.createNamespacedPod({ namespace, body, dryRun }).then(
    () => undefined,
    (err) => apiMessage(err),
  );
}

beforeAll(async () => {
  cp = await startControlPlane();
  const kc = cp.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  ph = await startPodhooks({ server: { certDir: join(mkdtempSync(join(tmpdir(), 'podhooks-e2e-debug-')), 'certs') }, kubernetes: { enabled: 'true', kubeconfig: cp.kubeconfigPath } });
  await registerWebhooks(kc.makeApiClient(AdmissionregistrationV1Api), ph.port, ph.ca);
  const strict = { 'podhooks.io/injection': 'enabled', 'pod-security.kubernetes.io/enforce': 'restricted' };
  await createNamespace(core, 'debug-closed', strict);
  await createNamespace(core, 'debug-open', { ...strict, 'podhooks.io/debug': 'allowed' });
  // Webhook configurations reach the apiserver's admission chain asynchronously.
  await eventually('the validating webhook to be active', async () => ((await createError('debug-closed', debugPod('probe'), 'All'))?.includes('debug-namespace') ? true : undefined));
});

afterAll(async () => {
  await ph?.stop();
  await cp?.stop();
});

test('a debug pod in a namespace without podhooks.io/debug=allowed is denied at create time, saying why', async () => {
  const message = await createError('debug-closed', debugPod('denied'));
  expect(message).toBe(`admission webhook "debug.podhooks.io" denied the request: ${DENIAL}`);
  await expect(core.readNamespacedPod({ name: 'denied', namespace: 'debug-closed' })).rejects.toMatchObject({ code: 404 });
  const line = await ph.waitForLog((l) => l.msg === 'admission decision' && l.webhook === 'validate' && l.name === 'denied');
  expect(line.decision).toBe('denied');
  // The same pod without debug mode is fine there.
  const plain = debugPod('plain');
  delete plain.metadata!.annotations;
  expect((await core.createNamespacedPod({ namespace: 'debug-closed', body: plain })).metadata!.name).toBe('plain');
});

test('in a labelled namespace the debug pod is admitted, stored with the socat sidecar, the JDWP agent and a debugger-tolerant liveness probe', async () => {
  await core.createNamespacedPod({ namespace: 'debug-open', body: debugPod('orders') });
  const stored = await core.readNamespacedPod({ name: 'orders', namespace: 'debug-open' });
  const socat = stored.spec!.initContainers!.find((c) => c.name === 'podhooks-debug')!;
  expect(socat.restartPolicy).toBe('Always');
  expect(socat.command).toEqual(['socat', '-d', '-d', 'TCP-LISTEN:5005,bind=127.0.0.1,fork,reuseaddr', 'TCP:127.0.0.1:15005']);
  expect(socat.ports).toEqual([{ name: 'jdwp', containerPort: 5005, protocol: 'TCP' }]);
  const app = stored.spec!.containers.find((c) => c.name === 'app')!;
  expect(app.env).toEqual([{ name: 'JAVA_TOOL_OPTIONS', value: '-agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address=127.0.0.1:15005' }]);
  // The apiserver defaults timeoutSeconds (1) before admission; the probe passes it on.
  expect(app.livenessProbe!.exec!.command).toEqual(['/podhooks/bin/busybox', 'sh', '/podhooks/bin/probe.sh', '--jdwp-port', '15005', '--timeout', '1', '--', 'http-get', 'http', '', '8080', '/health']);
  expect(app.livenessProbe!.periodSeconds).toBe(10);
});
