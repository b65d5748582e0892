// podhooks registered with a real kube-apiserver (same manifests as deploy/), called
// over TLS with the generated caBundle, exercised with real pods and Deployments.
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { mutate } from '../../src/admission/handlers';
import { parseConfig } from '../../src/config';
import { generateBundle } from '../../src/certs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, AppsV1Api, BatchV1Api, CoreV1Api, NodeV1Api, type V1Container, type V1Pod } from '@kubernetes/client-node';
import { metricsText, ROOT, startPodhooks, type Podhooks } from '../helpers/podhooks';
import { K8S_VERSION, startControlPlane, type ControlPlane } from './harness/controlplane';
import { apiMessage, createNamespace, eventually, registerWebhooks } from './harness/webhooks';

jest.setTimeout(180_000);

let cp: ControlPlane;
let ph: Podhooks;
let core: CoreV1Api;
let apps: AppsV1Api;
let admission: AdmissionregistrationV1Api;
let otherWebhook: Server | undefined;
const certDir = join(mkdtempSync(join(tmpdir(), 'podhooks-e2e-')), 'certs');

const namespace = (name: string, labels: Record<string, string> = {}) => createNamespace(core, name, labels);

function hookPod(name: string, extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}): V1Pod {
  return {
    metadata: { name, labels: extra.labels, annotations: { 'podhooks.io/pre-start': 'echo warming up', ...extra.annotations } },
    spec: { containers: [{ name: 'app', image: 'registry.example.com/web:1', command: ['/server'] }] },
  };
}
const injected = (pod: V1Pod) => pod.metadata?.annotations?.['podhooks.io/status'] !== undefined;

beforeAll(async () => {
  cp = await startControlPlane();
  const kc = cp.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
  admission = kc.makeApiClient(AdmissionregistrationV1Api);
  // Debug level: the reinvocation test reads the plain-allow decision lines.
  ph = await startPodhooks({ logLevel: 'debug', server: { certDir }, kubernetes: { enabled: 'true', kubeconfig: cp.kubeconfigPath } });
  await registerWebhooks(admission, ph.port, ph.ca);
  await kc.makeApiClient(NodeV1Api).createRuntimeClass({ body: { metadata: { name: 'kata-qemu' }, handler: 'kata-qemu' } });
  await namespace('hooks', { 'podhooks.io/injection': 'enabled' });
  await namespace('plain');
  // Webhook configurations reach the apiserver's admission chain asynchronously.
  await eventually('the mutating webhook to be active', async () => {
    const pod = await core.createNamespacedPod({ namespace: 'hooks', body: hookPod('probe'), dryRun: 'All' });
    return injected(pod) ? pod : undefined;
  });
});

afterAll(async () => {
  await new Promise((r) => (otherWebhook ? otherWebhook.close(r) : r(undefined)));
  await ph?.stop();
  await cp?.stop();
});

test(`the control plane is Kubernetes v${K8S_VERSION}`, () => {
  expect(cp.version).toBe(`v${K8S_VERSION}`);
});

test('a pod in an opted-in namespace is stored injected, with native sidecars', async () => {
  const pod = await core.createNamespacedPod({ namespace: 'hooks', body: hookPod('web') });
  const stored = await core.readNamespacedPod({ name: 'web', namespace: 'hooks' });
  expect(injected(stored)).toBe(true);
  expect(stored.spec!.containers[0].command).toEqual(['/podhooks/bin/busybox', 'sh', '/podhooks/bin/wrapper.sh', '--', '/server']);
  expect(stored.spec!.initContainers!.map((c) => [c.name, c.restartPolicy])).toEqual([
    ['podhooks-tools', undefined],
    ['podhooks-logs', 'Always'],
  ]);
  // The ServiceAccount plugin's token volume and podhooks' volumes coexist.
  expect(stored.spec!.volumes!.map((v) => v.name)).toEqual(expect.arrayContaining(['podhooks-bin', 'podhooks-logs']));
  expect(pod.metadata!.uid).toBe(stored.metadata!.uid);
  const line = await ph.waitForLog((l) => l.msg === 'admission decision' && l.webhook === 'mutate' && l.name === 'web');
  expect(line.decision).toBe('patched');
});

test('pods outside opted-in namespaces, opted out, or in kube-system are not touched', async () => {
  const plain = await core.createNamespacedPod({ namespace: 'plain', body: hookPod('plain') });
  expect(injected(plain)).toBe(false);
  const optedOut = await core.createNamespacedPod({ namespace: 'hooks', body: hookPod('opted-out', { labels: { 'podhooks.io/inject': 'false' } }) });
  expect(injected(optedOut)).toBe(false);
  const annotatedOut = await core.createNamespacedPod({ namespace: 'hooks', body: hookPod('annotated-out', { annotations: { 'podhooks.io/inject': 'false' } }) });
  expect(injected(annotatedOut)).toBe(false);
  const system = await core.createNamespacedPod({ namespace: 'kube-system', body: hookPod('system', { labels: { 'podhooks.io/inject': 'true' } }) });
  expect(injected(system)).toBe(false);
  // podhooks' own namespace, even labelled for injection: it must never depend on itself.
  await namespace('podhooks', { 'podhooks.io/injection': 'enabled' });
  const own = await core.createNamespacedPod({ namespace: 'podhooks', body: hookPod('own', { labels: { 'podhooks.io/inject': 'true' } }) });
  expect(injected(own)).toBe(false);
  expect(ph.logs().some((l) => l.namespace === 'kube-system' || l.namespace === 'podhooks')).toBe(false);
});

test('a pod labelled podhooks.io/inject=true is injected in a namespace that did not opt in', async () => {
  const pod = await core.createNamespacedPod({ namespace: 'plain', body: hookPod('labelled', { labels: { 'podhooks.io/inject': 'true' } }) });
  expect(injected(pod)).toBe(true);
});

test('a denial reaches the client with the webhook message', async () => {
  const body: V1Pod = { metadata: { name: 'vm' }, spec: { runtimeClassName: 'kata-qemu', hostNetwork: true, containers: [{ name: 'app', image: 'busybox' }] } };
  const err = await core.createNamespacedPod({ namespace: 'plain', body }).then(
    () => undefined,
    (e) => e,
  );
  expect(err).toBeDefined();
  expect(apiMessage(err)).toBe(
    'admission webhook "validate.podhooks.io" denied the request: podhooks sandbox-host-namespaces: runtimeClassName "kata-qemu" runs the pod in a sandbox that cannot share host networking: remove spec.hostNetwork, or use a non-sandboxed runtime class for this pod',
  );
  const bad = await core.createNamespacedPod({ namespace: 'hooks', body: hookPod('bad', { annotations: { 'podhooks.io/log-stream': 'yes' } }) }).then(
    () => undefined,
    (e) => e,
  );
  expect(apiMessage(bad)).toBe('admission webhook "namespace.podhooks.io" denied the request: podhooks: annotation podhooks.io/log-stream="yes": must be "true" or "false"');
});

test('a server-side dry run is injected and stores nothing', async () => {
  const pod = await core.createNamespacedPod({ namespace: 'hooks', body: hookPod('dry'), dryRun: 'All' });
  expect(injected(pod)).toBe(true);
  await expect(core.readNamespacedPod({ name: 'dry', namespace: 'hooks' })).rejects.toMatchObject({ code: 404 });
  const line = await ph.waitForLog((l) => l.msg === 'admission decision' && l.webhook === 'mutate' && l.name === 'dry');
  expect(line.dryRun).toBe(true);
});

/** A Deployment of `replicas` pods labelled app=`name` in namespace hooks, and its pods once all exist. */
async function deployed(name: string, replicas: number, annotations: Record<string, string>, container: V1Container): Promise<V1Pod[]> {
  const labels = { app: name };
  await apps.createNamespacedDeployment({
    namespace: 'hooks',
    body: { metadata: { name }, spec: { replicas, selector: { matchLabels: labels }, template: { metadata: { labels, annotations }, spec: { containers: [container] } } } },
  });
  return eventually(
    `${replicas} ${name} pods`,
    async () => {
      const list = await core.listNamespacedPod({ namespace: 'hooks', labelSelector: `app=${name}` });
      return list.items.length >= replicas ? list.items : undefined;
    },
    150_000,
  );
}

/** podhooks_mutate_template_cache_total by result, and the hits recognised from the review's bytes. */
const templateLookups = async (): Promise<Record<string, number>> => {
  const text = await metricsText(ph);
  const recalled = Number(/^podhooks_mutate_template_cache_recalled_total (\d+)$/m.exec(text)?.[1] ?? 0);
  return { ...Object.fromEntries([...text.matchAll(/^podhooks_mutate_template_cache_total\{result="([a-z-]+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])])), recalled };
};

test('a Deployment scaled to 100 replicas yields 100 injected pods, injected once and answered from the template cache', async () => {
  const before = await templateLookups();
  // preOnline: its runner mounts the app's volumes, the token volume too (renamed per replica).
  const hooks = { 'podhooks.io/pre-start': 'echo fleet', 'podhooks.io/pre-online': 'echo online', 'podhooks.io/check-url': 'http://localhost:8080/' };
  const pods = await deployed('fleet', 100, hooks, { name: 'app', image: 'registry.example.com/fleet:1', command: ['/fleet'] });
  expect(pods).toHaveLength(100);
  expect(pods.filter(injected)).toHaveLength(100);
  // The ReplicaSet's pods as the apiserver sends them (generateName, managedFields times)
  // are one template: the first is remembered, the second kept, the rest answered from it.
  const after = await templateLookups();
  expect((after.hit ?? 0) - (before.hit ?? 0)).toBeGreaterThanOrEqual(98);
  // The apiserver's reviews of one ReplicaSet's pods differ in their bytes only where replicas
  // differ (review uid, token volume name, managedFields time): recognised before parsing.
  expect(after.recalled - before.recalled).toBeGreaterThanOrEqual(97);
  // Each with its own token volume (kube-api-access-<random>), renamed in the kept answer.
  for (const p of pods) {
    const token = p.spec!.volumes!.find((v) => v.name.startsWith('kube-api-access-'))!.name;
    const mounting = [...p.spec!.containers, ...p.spec!.initContainers!].filter((c) => c.volumeMounts?.some((m) => m.name.startsWith('kube-api-access-')));
    expect(mounting.map((c) => c.name)).toContain('podhooks-preonline');
    for (const c of mounting) for (const m of c.volumeMounts!) if (m.name.startsWith('kube-api-access-')) expect(m.name).toBe(token);
  }
  const injections = new Set(pods.map((p) => JSON.stringify([p.metadata!.annotations!['podhooks.io/status'], p.spec!.initContainers!.map((c) => [c.name, c.command]), p.spec!.containers.map((c) => c.command)])));
  expect(injections.size).toBe(1);
});

test('an authz Deployment is answered from the template cache, and each replica still gets its own paced start offset', async () => {
  const REPLICAS = 30;
  const BURST = 5; // authz.burstPerApp's default; then one start per 200 ms (ratePerApp 5)
  const before = await templateLookups();
  const pods = await deployed('ledger', REPLICAS, { 'podhooks.io/authz': 'true' }, { name: 'app', image: 'registry.example.com/ledger:1', command: ['/ledger'], ports: [{ containerPort: 8443 }] });
  expect(pods.map((p) => p.spec!.initContainers?.[0]?.name)).toEqual(pods.map(() => 'podhooks-authz'));
  const after = await templateLookups();
  expect((after.hit ?? 0) - (before.hit ?? 0)).toBeGreaterThanOrEqual(REPLICAS - 2);
  expect(after.recalled - before.recalled).toBeGreaterThanOrEqual(REPLICAS - 3);
  // One pacing token per pod, hit or not: offsets one interval apart after the burst.
  const offsets = pods.map((p) => Number(p.metadata!.annotations!['podhooks.io/authz-start-offset-ms']));
  expect(offsets.every(Number.isInteger)).toBe(true);
  expect(new Set(offsets).size).toBeGreaterThanOrEqual(REPLICAS - BURST + 1);
  expect(Math.max(...offsets)).toBeGreaterThan(1000);
});

test("a Job's pod gets native sidecars (apiserver >= 1.29), so the Job can complete", async () => {
  const batch = cp.kubeConfig().makeApiClient(BatchV1Api);
  await batch.createNamespacedJob({
    namespace: 'hooks',
    body: {
      metadata: { name: 'report' },
      spec: {
        template: {
          metadata: { annotations: { 'podhooks.io/pre-start': 'echo inputs' } },
          spec: { restartPolicy: 'Never', containers: [{ name: 'report', image: 'registry.example.com/report:1', command: ['/report'] }] },
        },
      },
    },
  });
  const [pod] = await eventually('the Job pod', async () => {
    const list = await core.listNamespacedPod({ namespace: 'hooks', labelSelector: 'job-name=report' });
    return list.items.length ? list.items : undefined;
  });
  expect(injected(pod)).toBe(true);
  expect(pod.spec!.containers.map((c) => c.name)).toEqual(['report']);
  expect(pod.spec!.initContainers!.find((c) => c.name === 'podhooks-logs')?.restartPolicy).toBe('Always');
  const line = ph.logs().find((l) => l.msg === 'sidecar mode from the apiserver version');
  expect(line).toMatchObject({ apiserver: cp.version, nativeSidecars: true });
});

test('injected pods pass Pod Security Standards "restricted", enforced by the apiserver', async () => {
  await namespace('strict', { 'podhooks.io/injection': 'enabled', 'pod-security.kubernetes.io/enforce': 'restricted' });
  const restricted = {
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
  const body: V1Pod = {
    metadata: {
      name: 'strict',
      annotations: { 'podhooks.io/pre-start': 'echo hi', 'podhooks.io/pre-online': 'echo on', 'podhooks.io/check-url': 'http://localhost:8080/' },
    },
    spec: { containers: [{ name: 'app', image: 'registry.example.com/web:1', command: ['/server'], securityContext: restricted }] },
  };
  const pod = await core.createNamespacedPod({ namespace: 'strict', body });
  expect(injected(pod)).toBe(true);
  expect(pod.spec!.initContainers!.map((c) => c.name)).toEqual(['podhooks-tools', 'podhooks-logs', 'podhooks-preonline']);
});

test('the preOnline runner gets the app\'s env by a JSON Patch copy, which the apiserver applies', async () => {
  const env = [
    { name: 'A', value: '1' },
    { name: 'EMPTY', value: '' },
    { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'C', value: '3' },
    { name: 'D', value: 'x y' },
    // Rewritten for the runner (the reference must keep naming the app): not shared.
    { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory' } } },
  ];
  const body: V1Pod = {
    metadata: { name: 'copied-env', annotations: { 'podhooks.io/pre-start': 'echo hi', 'podhooks.io/pre-online': 'echo on', 'podhooks.io/check-url': 'http://localhost:8080/' } },
    spec: { containers: [{ name: 'app', image: 'registry.example.com/web:1', command: ['/server'], env }] },
  };
  // The answer podhooks gives for this pod copies the env (the offline handler, same config).
  const offline = await mutate({ uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'hooks', object: JSON.parse(JSON.stringify(body)) }, { config: parseConfig({}), nativeSidecars: true });
  const ops = JSON.parse(Buffer.from(offline.response.patch!, 'base64').toString()) as { op: string; from?: string }[];
  expect(ops).toContainEqual(expect.objectContaining({ op: 'copy', from: '/spec/containers/0/env' }));

  const pod = await core.createNamespacedPod({ namespace: 'hooks', body });
  const runner = pod.spec!.initContainers!.find((c) => c.name === 'podhooks-preonline')!;
  const app = pod.spec!.containers[0];
  const names = (list: { name: string }[] | undefined) => (list ?? []).map((e) => e.name);
  expect(names(app.env)).toEqual(['A', 'EMPTY', 'POD', 'C', 'D', 'MEM', 'PODHOOKS_PRE_START', 'PODHOOKS_PRE_START_TIMEOUT_SECONDS', 'PODHOOKS_CONTAINER']);
  expect(names(runner.env)).toEqual(['A', 'EMPTY', 'POD', 'C', 'D', 'MEM', 'PODHOOKS_CHECK_URL', 'PODHOOKS_PRE_ONLINE', 'PODHOOKS_TIMEOUT_SECONDS', 'PODHOOKS_TARGETS', 'PODHOOKS_BUSYBOX']);
  expect(runner.env!.slice(0, 5)).toEqual(app.env!.slice(0, 5));
  expect(runner.env![5].valueFrom?.resourceFieldRef).toMatchObject({ containerName: 'app', resource: 'limits.memory' });
  expect(app.env![5].valueFrom?.resourceFieldRef?.containerName).toBeUndefined();
});

test('a forged podhooks.io/status does not strip another injector: kubectl shows the warning, the stored pod keeps it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'podhooks-forged-'));
  const file = join(dir, 'pod.json');
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'forged',
      namespace: 'hooks',
      annotations: {
        'podhooks.io/pre-start': 'echo hi',
        'podhooks.io/containers': 'app',
        'sidecar.istio.io/status': '{"containers":["istio-proxy"]}',
        'podhooks.io/status': JSON.stringify({ version: 1, initContainers: [], containers: ['istio-proxy'], volumes: [], annotations: ['sidecar.istio.io/status'], changed: {} }),
      },
    },
    spec: { containers: [{ name: 'app', image: 'registry.example.com/web:1', command: ['/server'] }, { name: 'istio-proxy', image: 'istio/proxyv2:1.24.0', args: ['proxy'] }] },
  };
  writeFileSync(file, JSON.stringify(pod));
  const r = cp.kubectl(['create', '--dry-run=server', '-o', 'json', '-f', file]);
  expect(r.code).toBe(0);
  expect(r.stderr).toContain('Warning: podhooks: podhooks.io/status was ignored: it lists containers "istio-proxy", which podhooks never adds');
  const stored = JSON.parse(r.stdout);
  expect(stored.spec.containers.map((c: { name: string }) => c.name)).toEqual(['app', 'istio-proxy']);
  expect(stored.metadata.annotations['sidecar.istio.io/status']).toBe('{"containers":["istio-proxy"]}');
  expect(JSON.parse(stored.metadata.annotations['podhooks.io/status']).initContainers).toEqual(['podhooks-tools', 'podhooks-logs']);
});

test('every golden output made with the default config is accepted by the apiserver and re-injected unchanged, without a warning (server-side dry run)', async () => {
  const dir = join(ROOT, 'test/golden');
  // A case with a config of its own was injected with other settings than this server's,
  // so this server does not trust its status (golden-defaulted.test.ts checks those cases
  // with their own config).
  const files = readdirSync(dir).filter((f) => f.endsWith('.injected.yaml') && !existsSync(join(dir, f.replace(/\.injected\.yaml$/, '.config.yaml'))));
  expect(files.length).toBeGreaterThan(5);
  const namespaces = new Set<string>();
  const runtimeClasses = new Set<string>();
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8');
    for (const m of text.matchAll(/namespace: ([a-z0-9-]+)/g)) namespaces.add(m[1]);
    for (const m of text.matchAll(/runtimeClassName: ([a-z0-9-]+)/g)) runtimeClasses.add(m[1]);
  }
  // The RuntimeClass admission plugin refuses pods whose class does not exist (placement goldens).
  const node = cp.kubeConfig().makeApiClient(NodeV1Api);
  for (const rc of runtimeClasses) await node.createRuntimeClass({ body: { metadata: { name: rc }, handler: rc } }).catch(() => undefined);
  // Labelled for injection (injected pods live where injection is on: elsewhere their hook
  // annotations draw a warning) and for debug mode: this checks injected pods against the
  // apiserver, not policy. Re-injecting an injected pod changes nothing.
  for (const ns of namespaces) if (!['hooks', 'plain'].includes(ns)) await namespace(ns, { 'podhooks.io/injection': 'enabled', 'podhooks.io/debug': 'allowed' }).catch(() => undefined);
  for (const f of files) {
    const r = cp.kubectl(['create', '--dry-run=server', '-o', 'name', '-f', join(dir, f)]);
    expect({ file: f, code: r.code, stderr: r.stderr }).toEqual({ file: f, code: 0, stderr: '' });
  }
});

test('with podhooks down, opted-in and debug pods fail (failurePolicy Fail), others pass (Ignore), and it recovers', async () => {
  const port = ph.port;
  await ph.stop();
  const err = await core.createNamespacedPod({ namespace: 'hooks', body: hookPod('while-down') }).then(
    () => undefined,
    (e) => e,
  );
  expect(apiMessage(err)).toMatch(/failed calling webhook "namespace\.podhooks\.io"/);
  const unaffected = await core.createNamespacedPod({ namespace: 'plain', body: { metadata: { name: 'while-down' }, spec: { containers: [{ name: 'a', image: 'busybox' }] } } });
  expect(unaffected.metadata!.name).toBe('while-down');
  // Debug mode fails closed: no remote-debug port slips past a down validator.
  const debugErr = await core
    .createNamespacedPod({ namespace: 'plain', body: { metadata: { name: 'debug-while-down', annotations: { 'podhooks.io/debug': 'true' } }, spec: { containers: [{ name: 'a', image: 'busybox' }] } } })
    .then(() => undefined, (e) => e);
  expect(apiMessage(debugErr)).toMatch(/failed calling webhook "debug\.podhooks\.io"/);

  ph = await startPodhooks({ logLevel: 'debug', server: { certDir, port }, kubernetes: { enabled: 'true', kubeconfig: cp.kubeconfigPath } });
  const pod = await eventually('pod creation to recover', async () => core.createNamespacedPod({ namespace: 'hooks', body: hookPod('after-recovery') }));
  expect(injected(pod)).toBe(true);
});

test('with a second webhook and reinvocation IfNeeded on both, each addition is there exactly once', async () => {
  // A test-only webhook that adds its own container; named zz-* so it runs after podhooks,
  // which makes the apiserver reinvoke podhooks on the pod the other webhook changed.
  const bundle = generateBundle(['localhost'], ['127.0.0.1']);
  otherWebhook = createHttpsServer({ cert: bundle.cert, key: bundle.key }, (req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const { request } = JSON.parse(body);
      const has = request.object.spec.containers.some((c: { name: string }) => c.name === 'other-sidecar');
      const patch = has ? undefined : Buffer.from(JSON.stringify([{ op: 'add', path: '/spec/containers/-', value: { name: 'other-sidecar', image: 'other:1' } }])).toString('base64');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: request.uid, allowed: true, ...(patch ? { patchType: 'JSONPatch', patch } : {}) } }));
    });
  });
  await new Promise<void>((r) => otherWebhook!.listen(0, '127.0.0.1', () => r()));
  const port = (otherWebhook.address() as { port: number }).port;
  await admission.createMutatingWebhookConfiguration({
    body: {
      metadata: { name: 'zz-other' },
      webhooks: [
        {
          name: 'other.example.com',
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          reinvocationPolicy: 'IfNeeded',
          clientConfig: { url: `https://127.0.0.1:${port}/`, caBundle: Buffer.from(bundle.caCert).toString('base64') },
          rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
          namespaceSelector: { matchLabels: { 'podhooks.io/injection': 'enabled' } },
        },
      ],
    },
  });
  const pod = await eventually('the second webhook to be active', async () => {
    const p = await core.createNamespacedPod({ namespace: 'hooks', body: hookPod('reinvoked-probe'), dryRun: 'All' });
    return p.spec!.containers.some((c) => c.name === 'other-sidecar') ? p : undefined;
  });
  const names = (list?: { name: string }[]) => (list ?? []).map((c) => c.name);
  expect(names(pod.spec!.containers)).toEqual(['app', 'other-sidecar']);
  expect(names(pod.spec!.initContainers)).toEqual(['podhooks-tools', 'podhooks-logs']);
  expect(pod.spec!.containers[0].command).toEqual(['/podhooks/bin/busybox', 'sh', '/podhooks/bin/wrapper.sh', '--', '/server']);
  // A fresh pod: podhooks is asked twice, once to inject, once on reinvocation, when the
  // injected pod plus the other container must need no change at all.
  const fresh = await core.createNamespacedPod({ namespace: 'hooks', body: hookPod('reinvoked'), dryRun: 'All' });
  expect(names(fresh.spec!.containers)).toEqual(['app', 'other-sidecar']);
  const decisions = await eventually('the reinvocation', async () => {
    const lines = ph.logs().filter((l) => l.webhook === 'mutate' && l.name === 'reinvoked');
    return lines.length >= 2 ? lines : undefined;
  }, 10_000);
  expect(decisions.map((l) => [l.decision, l.reason])).toEqual([
    ['patched', undefined],
    ['allowed', 'already injected'],
  ]);
  await admission.deleteMutatingWebhookConfiguration({ name: 'zz-other' });
});

