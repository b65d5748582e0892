// `podhooks explain` against the real apiserver's own decisions: deploy/base/webhooks.yaml is
// registered with a recording webhook server, pods are created (dry run), and for each pod
// the webhooks the apiserver really called must be the ones explain says it calls, with
// explain reading the namespace labels and webhook configurations from the cluster. Run
// through kubectl as a plugin (kubectl-podhooks on PATH), as users run it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { generateBundle } from '../../src/certs';
import { CLI } from '../helpers/podhooks';
import { binDir, startControlPlane, type ControlPlane } from './harness/controlplane';
import { createNamespace, eventually, webhookManifests } from './harness/webhooks';

jest.setTimeout(180_000);
let cp: ControlPlane;
let core: CoreV1Api;
let recorder: Server;
/** Webhook names the apiserver called, in order, since the last reset. */
let calls: string[] = [];
const plugins = mkdtempSync(join(tmpdir(), 'podhooks-plugin-'));

beforeAll(async () => {
  cp = await startControlPlane();
  const kc = cp.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  const bundle = generateBundle(['localhost'], ['127.0.0.1']);
  recorder = createServer({ cert: bundle.cert, key: bundle.key }, (req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      calls.push(new URL(req.url!, 'https://x').pathname.slice(1));
      const uid = JSON.parse(body).request.uid;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } }));
    });
  });
  await new Promise<void>((r) => recorder.listen(0, '127.0.0.1', r));
  const port = (recorder.address() as AddressInfo).port;
  // Each webhook gets its own path, so a call says which webhook the apiserver chose.
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  for (const doc of webhookManifests(port, bundle.caCert)) {
    for (const hook of doc.webhooks) hook.clientConfig.url = `https://127.0.0.1:${port}/${hook.name}`;
    if (doc.kind === 'MutatingWebhookConfiguration') await admission.createMutatingWebhookConfiguration({ body: doc });
    else await admission.createValidatingWebhookConfiguration({ body: doc });
  }
  await createNamespace(core, 'optin', { 'podhooks.io/injection': 'enabled' });
  await createNamespace(core, 'plain');
  await eventually('the webhooks to be active', async () => {
    calls = [];
    await core.createNamespacedPod({ namespace: 'plain', body: { metadata: { name: 'probe' }, spec: { containers: [{ name: 'a', image: 'a' }] } }, dryRun: 'All' });
    return calls.length ? true : undefined;
  });
  symlinkSync(CLI, join(plugins, 'kubectl-podhooks'));
});
afterAll(async () => {
  await new Promise((r) => (recorder ? recorder.close(r) : r(undefined)));
  await cp?.stop();
});

function kubectlPodhooks(args: string[]) {
  const r = spawnSync(join(binDir(), 'kubectl'), ['podhooks', ...args], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${plugins}:${process.env.PATH}`, KUBECONFIG: cp.kubeconfigPath },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function pod(name: string, annotations: Record<string, string>, labels: Record<string, string> = {}): V1Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, annotations, labels }, spec: { containers: [{ name: 'app', image: 'web:1', command: ['/server'] }] } };
}

test('kubectl finds the plugin: kubectl podhooks --version and help say "kubectl podhooks"', () => {
  expect(kubectlPodhooks(['--version']).stdout).toBe(`${require('../../package.json').version}\n`);
  expect(kubectlPodhooks(['explain', '--help']).stdout).toContain('Usage: kubectl podhooks explain');
});

test.each([
  ['an annotated pod in an opted-in namespace', 'optin', pod('a', { 'podhooks.io/pre-start': 'echo hi' })],
  ['a pod without podhooks annotations', 'optin', pod('b', { other: 'x' })],
  ['an opted-out pod', 'optin', pod('c', { 'podhooks.io/pre-start': 'echo hi' }, { 'podhooks.io/inject': 'false' })],
  ['a pod outside opted-in namespaces', 'plain', pod('d', { 'podhooks.io/pre-start': 'echo hi' })],
  ['a pod labelled podhooks.io/inject=true outside opted-in namespaces', 'plain', pod('e', { 'podhooks.io/pre-start': 'echo hi' }, { 'podhooks.io/inject': 'true' })],
  ['a debug pod', 'plain', pod('f', { 'podhooks.io/debug': 'true' })],
  ['a debug pod with debug "false"', 'optin', pod('g', { 'podhooks.io/debug': 'false', 'podhooks.io/pre-start': 'echo hi' })],
  ['a pod in kube-system', 'kube-system', pod('h', { 'podhooks.io/pre-start': 'echo hi' })],
])('%s: explain names exactly the webhooks the apiserver calls', async (_what, namespace, body) => {
  calls = [];
  await core.createNamespacedPod({ namespace, body, dryRun: 'All' });
  const called = [...calls].sort();
  const file = join(plugins, `${body.metadata!.name}.yaml`);
  writeFileSync(file, stringify(body));
  const r = kubectlPodhooks(['explain', '-f', file, '-n', namespace, '-o', 'json']);
  expect([r.code, r.stderr]).toEqual([0, '']);
  const e = JSON.parse(r.stdout);
  expect(e.namespaceLabelsFrom).toContain('from the cluster');
  expect(e.webhooksFrom).toContain('registered in the cluster');
  expect(e.webhooks.filter((w: any) => w.outcome === 'called').map((w: any) => w.webhook).sort()).toEqual(called);
});
