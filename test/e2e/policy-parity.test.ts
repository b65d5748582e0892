// The two engines agree, on a real kube-apiserver: every case of the policy corpus
// (test/golden/policy) gets the same verdict (allowed / denied / warned, and the rule ids
// and messages) from the rendered ValidatingAdmissionPolicies as from the webhook, as a
// Pod and, for the CREATE cases, as a Deployment's template. And with podhooks stopped,
// the policies alone still refuse a Kata pod with hostNetwork, with the rule's message.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, CoreV1Api, NodeV1Api, type V1Pod } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { validate } from '../../src/admission/handlers';
import { parseConfig } from '../../src/config';
import { renderPolicies, WEBHOOK_ONLY_RULES } from '../../src/validate/admission-policy/render';
import { WORKLOAD_GROUPS } from '../../src/workloads';
import { CLI, ROOT, startPodhooks } from '../helpers/podhooks';
import { api, type ApiAnswer } from './harness/api';
import { startControlPlane, type ControlPlane } from './harness/controlplane';
import { serviceAccountKubeconfig } from './harness/serviceaccount';
import { createNamespace, eventually, webhookManifests } from './harness/webhooks';

jest.setTimeout(900_000);

const CORPUS = join(ROOT, 'test/golden/policy');
const SIDE = ['.response.yaml', '.config.yaml', '.namespace.yaml', '.old.yaml'];
const read = (name: string, suffix: string) => (existsSync(join(CORPUS, name + suffix)) ? parse(readFileSync(join(CORPUS, name + suffix), 'utf8')) : undefined);

interface Case {
  name: string;
  object: any;
  kind: string;
  namespace: string;
  namespaceLabels?: Record<string, string>;
  config: Record<string, any>;
  old?: any;
}

const cases: Case[] = readdirSync(CORPUS)
  .filter((f) => f.endsWith('.yaml') && !SIDE.some((s) => f.endsWith(s)))
  .map((f) => f.slice(0, -5))
  .sort()
  .map((name) => {
    const object = read(name, '.yaml');
    const ns = read(name, '.namespace.yaml');
    // A case with its own namespace labels gets a namespace of its own, so no case waits
    // for another's labels to reach the apiserver's or podhooks' caches.
    return { name, object, kind: object.kind ?? 'Pod', namespace: ns ? name : object.metadata.namespace, namespaceLabels: ns?.metadata?.labels, config: read(name, '.config.yaml') ?? {}, old: read(name, '.old.yaml') };
  });

let cp: ControlPlane;
let core: CoreV1Api;
let admission: AdmissionregistrationV1Api;
const dir = mkdtempSync(join(tmpdir(), 'podhooks-e2e-parity-'));

// ---- verdicts -------------------------------------------------------------------------

interface Segment {
  rule: string;
  text: string;
}
interface Verdict {
  outcome: 'allowed' | 'denied' | 'warned';
  denials: Segment[];
  warnings: Segment[];
}

/** "podhooks r1: m1; podhooks r2: m2" into segments; the rules' own messages never contain "; podhooks ". */
function segments(text: string): Segment[] {
  return text
    .split(/; (?=podhooks [a-z]+(?:-[a-z]+)*: )/)
    .map((s) => /^podhooks ([a-z]+(?:-[a-z]+)*): ([\s\S]*)$/.exec(s))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ rule: m[1], text: m[2] }))
    .filter((s) => !WEBHOOK_ONLY_RULES.includes(s.rule));
}

const VAP_DENIAL = /^.*? ValidatingAdmissionPolicy '[^']+' with binding '[^']+' denied request: /;
const WEBHOOK_DENIAL = /^.*?admission webhook "[a-z.]+" denied the request: /;
const VAP_WARNING = /^Validation failed for ValidatingAdmissionPolicy '[^']+' with binding '[^']+': /;

function verdict(a: ApiAnswer, what: string): Verdict {
  let denials: Segment[] = [];
  if (a.status >= 300) {
    const m = a.message ?? '';
    if (!VAP_DENIAL.test(m) && !WEBHOOK_DENIAL.test(m)) throw new Error(`${what}: not an admission denial (HTTP ${a.status}): ${m}`);
    denials = segments(m.replace(VAP_DENIAL, '').replace(WEBHOOK_DENIAL, ''));
  }
  const warnings = a.warnings.flatMap((w) => segments(w.replace(VAP_WARNING, ''))).sort((x, y) => `${x.rule}${x.text}`.localeCompare(`${y.rule}${y.text}`));
  return { outcome: denials.length ? 'denied' : warnings.length ? 'warned' : 'allowed', denials, warnings };
}

/** The webhook's verdict is the reference; a policy shows only the first policy that denies. */
function expectSameVerdict(webhook: Verdict, policy: Verdict, what: string): void {
  expect({ what, outcome: policy.outcome, warnings: policy.warnings }).toEqual({ what, outcome: webhook.outcome, warnings: webhook.warnings });
  if (policy.outcome !== 'denied') return;
  const rules = new Set(policy.denials.map((d) => d.rule));
  expect({ what, rules: [...rules] }).toEqual({ what, rules: [policy.denials[0].rule] });
  expect({ what, denials: policy.denials }).toEqual({ what, denials: webhook.denials.filter((d) => rules.has(d.rule)) });
}

// ---- requests -------------------------------------------------------------------------

const collection = (kind: string, ns: string) => {
  const group = kind === 'Pod' ? '' : WORKLOAD_GROUPS[kind];
  return `${group ? `/apis/${group}/v1` : '/api/v1'}/namespaces/${ns}/${kind.toLowerCase()}s`;
};

function asCreated(c: Case): any {
  const object = structuredClone(c.object);
  object.metadata.namespace = c.namespace;
  // The apiserver refuses ephemeral containers at creation (they come through a subresource).
  if (object.kind === 'Pod') delete object.spec.ephemeralContainers;
  return object;
}

function asDeployment(c: Case): any {
  const pod = asCreated(c);
  const labels = { ...pod.metadata.labels, parity: c.name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: c.name, namespace: c.namespace },
    spec: { selector: { matchLabels: { parity: c.name } }, template: { metadata: { labels, annotations: pod.metadata.annotations }, spec: pod.spec } },
  };
}

/** Every request the corpus makes, each a dry run: nothing changes between engines. */
async function requests(): Promise<{ what: string; send: () => Promise<ApiAnswer> }[]> {
  const out: { what: string; send: () => Promise<ApiAnswer> }[] = [];
  for (const c of cases) {
    if (c.old) {
      const path = `/api/v1/namespaces/${c.namespace}/pods/${c.name}`;
      const adds = (c.object.spec.ephemeralContainers ?? []).length > 0;
      out.push({
        what: `${c.name} (${adds ? 'ephemeralcontainers subresource' : 'UPDATE'})`,
        send: async () => {
          const current = (await api(cp, 'GET', path)).body;
          if (adds) return api(cp, 'PUT', `${path}/ephemeralcontainers?dryRun=All`, { ...current, spec: { ...current.spec, ephemeralContainers: c.object.spec.ephemeralContainers } });
          return api(cp, 'PUT', `${path}?dryRun=All`, { ...current, metadata: { ...current.metadata, labels: c.object.metadata.labels } });
        },
      });
      continue;
    }
    out.push({ what: `${c.name} (${c.kind})`, send: () => api(cp, 'POST', `${collection(c.kind, c.namespace)}?dryRun=All`, asCreated(c)) });
    if (c.kind === 'Pod') out.push({ what: `${c.name} (as a Deployment)`, send: () => api(cp, 'POST', `${collection('Deployment', c.namespace)}?dryRun=All`, asDeployment(c)) });
  }
  return out;
}

// ---- engines on and off ---------------------------------------------------------------

const PROBE_NS = 'parity-probe';
const kata = (spec: Partial<NonNullable<V1Pod['spec']>> = {}, meta: Partial<NonNullable<V1Pod['metadata']>> = {}): V1Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'probe', namespace: PROBE_NS, ...meta },
  spec: { runtimeClassName: 'kata', containers: [{ name: 'app', image: 'registry.example.com/app:1' }], ...spec },
});
/** One pod per rule, each breaking only that rule. */
const PROBES: V1Pod[] = [
  kata({ hostNetwork: true }),
  kata({ shareProcessNamespace: true }),
  kata({ containers: [{ name: 'app', image: 'x', securityContext: { privileged: true } }] }),
  kata({ containers: [{ name: 'app', image: 'x', volumeMounts: [{ name: 'd', mountPath: '/d', subPath: 'x' }] }], volumes: [{ name: 'd', emptyDir: {} }] }),
  kata({ volumes: [{ name: 'p', hostPath: { path: '/proc/sys' } }] }),
  kata({ volumes: [{ name: 'h', hostPath: { path: '/var/log/probe' } }] }),
  kata({ runtimeClassName: undefined }, { labels: { 'podhooks.io/workload': 'bacth' } }),
  kata({ runtimeClassName: undefined }, { annotations: { 'podhooks.io/debug': 'true' } }),
];

async function expectedProbes(config: Record<string, any>): Promise<Verdict[]> {
  const parsed = parseConfig(config);
  const labels = { 'kubernetes.io/metadata.name': PROBE_NS };
  return Promise.all(
    PROBES.map(async (pod, i) => {
      const { response } = await validate(
        { uid: `probe-${i}`, kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: PROBE_NS, operation: 'CREATE', object: pod },
        { config: parsed, nativeSidecars: true, namespaces: { labels: async () => labels } },
      );
      const status = response.allowed ? 201 : 403;
      const message = response.allowed ? undefined : `pods "probe" is forbidden: admission webhook "validate.podhooks.io" denied the request: ${response.status!.message}`;
      return verdict({ status, body: {}, message, warnings: response.warnings ?? [] }, `probe ${i}`);
    }),
  );
}
const NO_ENGINE: Verdict[] = PROBES.map(() => ({ outcome: 'allowed', denials: [], warnings: [] }));

/**
 * Admission configuration reaches the apiserver asynchronously: wait until every probe
 * answers as expected. Between groups every engine is removed and seen gone first, so a
 * policy that answers is the new group's.
 */
async function settle(what: string, expected: Verdict[]): Promise<void> {
  await eventually(
    what,
    async () => {
      for (const [i, pod] of PROBES.entries()) {
        const got = verdict(await api(cp, 'POST', `${collection('Pod', PROBE_NS)}?dryRun=All`, pod), `probe ${i}`);
        const want = expected[i];
        // Each probe breaks one rule, so even a policy (first denial only) shows the whole verdict.
        if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`probe ${i}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
      }
      return true;
    },
    60_000,
  );
}

// ---- the test -------------------------------------------------------------------------

beforeAll(async () => {
  cp = await startControlPlane();
  const kc = cp.kubeConfig();
  core = kc.makeApiClient(CoreV1Api);
  admission = kc.makeApiClient(AdmissionregistrationV1Api);
  for (const name of ['kata', 'kata-qemu', 'kata-fc', 'gvisor', 'runsc', 'runc']) await kc.makeApiClient(NodeV1Api).createRuntimeClass({ body: { metadata: { name }, handler: name } });
  const namespaces = new Map<string, Record<string, string>>([[PROBE_NS, {}], ['podhooks', {}]]);
  for (const c of cases) if (c.namespace !== 'kube-system') namespaces.set(c.namespace, c.namespaceLabels ?? {});
  for (const [name, labels] of namespaces) await createNamespace(core, name, labels);
  await eventually('serviceaccount kube-system/default', async () => (await core.readNamespacedServiceAccount({ name: 'default', namespace: 'kube-system' })) ?? undefined);
  // The pods the UPDATE cases change, created before any engine is active.
  for (const c of cases.filter((x) => x.old)) {
    const created = await api(cp, 'POST', collection('Pod', c.namespace), { ...c.old, metadata: { ...c.old.metadata, name: c.name, namespace: c.namespace } });
    expect(created.status).toBe(201);
  }
});

afterAll(async () => {
  await cp?.stop();
});

test('every corpus case gets the same verdict from the rendered policies as from the webhook', async () => {
  const groups = new Map<string, Case[]>();
  for (const c of cases) groups.set(JSON.stringify(c.config), [...(groups.get(JSON.stringify(c.config)) ?? []), c]);
  const reqs = await requests();
  let compared = 0;
  let group = 0;
  for (const [key, members] of groups) {
    group++;
    const config = JSON.parse(key);
    const names = new Set(members.map((m) => m.name));
    const mine = reqs.filter((r) => names.has(r.what.split(' ')[0]));
    const expected = await expectedProbes(config);

    // The webhook, as deploy/ registers it.
    const ph = await startPodhooks({ ...config, server: { certDir: join(dir, `certs-${group}`) }, kubernetes: { enabled: 'true', kubeconfig: cp.kubeconfigPath } });
    const vwc = webhookManifests(ph.port, ph.ca).find((d) => d.kind === 'ValidatingWebhookConfiguration');
    const fromWebhook: Verdict[] = [];
    try {
      await admission.createValidatingWebhookConfiguration({ body: vwc });
      await settle(`the webhook for ${[...names].join(', ')}`, expected);
      for (const r of mine) fromWebhook.push(verdict(await r.send(), `${r.what} through the webhook`));
      await admission.deleteValidatingWebhookConfiguration({ name: vwc.metadata.name });
      await settle('the webhook to be gone', NO_ENGINE);
    } finally {
      await ph.stop();
    }

    // The rendered policies, alone.
    const { objects } = renderPolicies(parseConfig(config));
    const applied = cp.kubectl(['apply', '-f', '-'], objects.map((o) => JSON.stringify(o)).join('\n---\n'));
    expect(applied.stderr).toBe('');
    await settle(`the policies for ${[...names].join(', ')}`, expected);
    for (const [i, r] of mine.entries()) {
      expectSameVerdict(fromWebhook[i], verdict(await r.send(), `${r.what} through the policies`), r.what);
      compared++;
    }
    expect(cp.kubectl(['delete', 'validatingadmissionpolicybindings,validatingadmissionpolicies', '-l', 'app.kubernetes.io/component=admission-policy']).code).toBe(0);
    await settle('the policies to be gone', NO_ENGINE);
  }
  // Every case once, the CREATE ones twice (Pod and Deployment).
  expect(compared).toBe(reqs.length);
  expect(reqs.length).toBeGreaterThan(cases.length);
});

test('with podhooks stopped, the rendered policies alone still refuse a Kata pod with hostNetwork', async () => {
  // deploy/'s webhooks registered against a podhooks that is no longer running.
  const ph = await startPodhooks({ server: { certDir: join(dir, 'certs-stopped') } });
  for (const doc of webhookManifests(ph.port, ph.ca)) {
    if (doc.kind === 'ValidatingWebhookConfiguration') await admission.createValidatingWebhookConfiguration({ body: doc });
    else await admission.createMutatingWebhookConfiguration({ body: doc });
  }
  await ph.stop();
  const rendered = spawnSync(process.execPath, [CLI, 'policy', 'render'], { encoding: 'utf8' });
  expect(rendered.status).toBe(0);
  expect(cp.kubectl(['apply', '-f', '-'], rendered.stdout).code).toBe(0);
  const pod = JSON.stringify(kata({ hostNetwork: true }, { name: 'vm', namespace: 'shop' }));
  const denial =
    `Error from server (Forbidden): error when creating "STDIN": pods "vm" is forbidden: ValidatingAdmissionPolicy 'podhooks-sandbox-host-namespaces' with binding 'podhooks-sandbox-host-namespaces' denied request: ` +
    'podhooks sandbox-host-namespaces: runtimeClassName "kata" runs the pod in a sandbox that cannot share host networking: remove spec.hostNetwork, or use a non-sandboxed runtime class for this pod';
  // The apiserver enforces new policies once its informers have them: wait with server
  // dry runs, which pass admission but store nothing (the webhook fails open meanwhile,
  // so a real create could slip through before the policies are in effect).
  await eventually('the policies to refuse the pod', async () => {
    const r = cp.kubectl(['create', '--dry-run=server', '-f', '-'], pod);
    return r.code === 1 && r.stderr.includes('ValidatingAdmissionPolicy') ? r : undefined;
  });
  const refused = cp.kubectl(['create', '-f', '-'], pod);
  expect(refused.code).toBe(1);
  expect(refused.stderr.trim()).toBe(denial);
  expect((await api(cp, 'GET', '/api/v1/namespaces/shop/pods/vm')).status).toBe(404);

  // `podhooks policy check` tells whether the cluster enforces what a config renders.
  const check = (args: string[]) => spawnSync(process.execPath, [CLI, 'policy', 'check', '--kubeconfig', cp.kubeconfigPath, ...args], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '' } });
  const inSync = check([]);
  expect([inSync.status, inSync.stdout, inSync.stderr]).toEqual([0, "the cluster's admission policies match this config\n", '']);
  const stricter = join(dir, 'stricter.yaml');
  writeFileSync(stricter, 'validation:\n  rules:\n    sandbox-host-path: deny\n    placement: "off"\n');
  const drifted = check(['-c', stricter, '-o', 'json']);
  expect(drifted.status).toBe(1);
  expect(drifted.stderr).toBe('podhooks: 4 admission policy object(s) differ from this config\n');
  expect(JSON.parse(drifted.stdout).drift).toEqual([
    { kind: 'ValidatingAdmissionPolicy', name: 'podhooks-sandbox-host-path', problem: 'differs', detail: 'rendered from another config or podhooks version: apply the output of `podhooks policy render` for this config' },
    { kind: 'ValidatingAdmissionPolicyBinding', name: 'podhooks-sandbox-host-path', problem: 'differs', detail: 'rendered from another config or podhooks version: apply the output of `podhooks policy render` for this config' },
    { kind: 'ValidatingAdmissionPolicy', name: 'podhooks-placement', problem: 'unexpected', detail: 'rule placement is off in this config: delete validatingadmissionpolicy podhooks-placement' },
    { kind: 'ValidatingAdmissionPolicyBinding', name: 'podhooks-placement', problem: 'unexpected', detail: 'rule placement is off in this config: delete validatingadmissionpolicybinding podhooks-placement' },
  ]);

  // podhooks serve with the policies as an engine says the same, as its ServiceAccount under deploy/'s RBAC.
  const sa = await serviceAccountKubeconfig(cp, dir, ['deploy/base/rbac.yaml', 'deploy/policies/rbac.yaml']);
  const serving = await startPodhooks({ server: { certDir: join(dir, 'certs-drift') }, kubernetes: { enabled: 'true', kubeconfig: sa }, validation: { engine: 'both', rules: { 'sandbox-host-path': 'deny', placement: 'off' } } });
  try {
    const warned = await serving.waitForLog((l) => l.msg?.startsWith('admission policies in the cluster'), 30_000);
    expect(warned).toMatchObject({ level: 'warn', engine: 'both', msg: 'admission policies in the cluster differ from this config; run podhooks policy render and apply it' });
    expect(warned.drift.map((d: any) => `${d.problem} ${d.kind}/${d.name}`)).toEqual([
      'differs ValidatingAdmissionPolicy/podhooks-sandbox-host-path',
      'differs ValidatingAdmissionPolicyBinding/podhooks-sandbox-host-path',
      'unexpected ValidatingAdmissionPolicy/podhooks-placement',
      'unexpected ValidatingAdmissionPolicyBinding/podhooks-placement',
    ]);
  } finally {
    await serving.stop();
  }
});
