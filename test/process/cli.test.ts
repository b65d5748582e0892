// The offline CLI, run as users run it: `node bin/podhooks.js ...`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { applyPatch } from 'diff';
import { parseDocuments, toYaml } from '../../src/workloads';
import { CLI } from '../helpers/podhooks';

const tmp = mkdtempSync(join(tmpdir(), 'podhooks-cli-'));
function run(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { input, encoding: 'utf8', env: { ...process.env, KUBECONFIG: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
function file(name: string, text: string): string {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {podhooks.io/pre-start: echo hi}
    spec:
      containers:
        - {name: app, image: web:1, command: [/server]}
`;

describe('podhooks inject', () => {
  test('a Deployment file comes out injected, as YAML', () => {
    const r = run(['inject', '-f', file('deploy.yaml', deployment)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = parse(r.stdout);
    expect(out.kind).toBe('Deployment');
    expect(out.spec.template.spec.containers[0].command.slice(0, 4)).toEqual(['/podhooks/bin/busybox', 'sh', '/podhooks/bin/wrapper.sh', '--']);
    expect(out.spec.template.metadata.annotations['podhooks.io/status']).toBeDefined();
    expect(out.spec.template.metadata.namespace).toBeUndefined();
  });

  test('JSON on stdin works, and injecting the output again changes nothing', () => {
    const json = JSON.stringify(parse(deployment));
    const once = run(['inject', '-f', '-'], json);
    expect(once.code).toBe(0);
    const twice = run(['inject', '-f', '-'], once.stdout);
    expect(twice.stdout).toBe(once.stdout);
  });

  test('--native-sidecars false puts the log streamer among the containers', () => {
    const out = parse(run(['inject', '--native-sidecars', 'false', '-f', file('d.yaml', deployment)]).stdout);
    expect(out.spec.template.spec.containers.map((c: any) => c.name)).toEqual(['app', 'podhooks-logs']);
  });

  test('a pod with an args-only metrics agent: only the main container is wrapped, and inject needs no registry', () => {
    const pod = `apiVersion: v1
kind: Pod
metadata: {name: shop, namespace: shop, annotations: {podhooks.io/pre-start: test -f /app/app.jar}}
spec:
  containers:
    - {name: app, image: app:2, command: [java, -jar, /app/app.jar]}
    - {name: metrics-agent, image: agent:5, args: ["--listen=:9100"]}
`;
    const r = run(['inject', '-f', file('agent.yaml', pod)]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const [app, agent] = parse(r.stdout).spec.containers;
    expect(app.command.slice(0, 3)).toEqual(['/podhooks/bin/busybox', 'sh', '/podhooks/bin/wrapper.sh']);
    expect(agent).toEqual({ name: 'metrics-agent', image: 'agent:5', args: ['--listen=:9100'] });
  });

  test('placement assign: the class is set, and stderr says the RuntimeClass could not be checked offline', () => {
    const config = file('placement.yaml', 'validation: {placement: {enabled: true, mode: assign}}\n');
    const pod = 'apiVersion: v1\nkind: Pod\nmetadata: {name: t, namespace: media, labels: {podhooks.io/workload: batch}}\nspec: {containers: [{name: c, image: c}]}\n';
    const r = run(['inject', '-c', config, '-f', file('batch.yaml', pod)]);
    expect(r.code).toBe(0);
    expect(parse(r.stdout).spec.runtimeClassName).toBe('kata');
    expect(r.stderr).toBe(
      'warning: document 1 (Pod t): podhooks placement: spec.runtimeClassName set to "kata": metadata.labels[podhooks.io/workload]="batch" marks an offline workload (validation.placement.mode: assign); could not check that RuntimeClass "kata" exists (offline)\n',
    );
  });

  test('unusable input exits 2 with the reason on stderr', () => {
    const bad = run(['inject', '-f', file('bad.yaml', 'kind: [unclosed')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^podhooks: .*bad.yaml: document 1 is not valid YAML\/JSON/);
    const missing = run(['inject', '-f', join(tmp, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read');
    const noKind = run(['inject', '-f', '-'], 'foo: bar\n');
    expect(noKind.code).toBe(2);
    expect(noKind.stderr).toContain('document 1 has no apiVersion/kind');
    const annotation = run(['inject', '-f', '-'], deployment.replace('echo hi}', 'echo hi, podhooks.io/debug: maybe}'));
    expect(annotation.code).toBe(2);
    expect(annotation.stderr).toContain('annotation podhooks.io/debug="maybe": must be "true" or "false"');
  });
});

describe('podhooks validate', () => {
  const kata = `apiVersion: v1
kind: Pod
metadata: {name: vm, namespace: shop}
spec:
  runtimeClassName: kata
  hostNetwork: true
  containers: [{name: app, image: busybox}]
`;
  test('exit 0 when nothing is denied', () => {
    const r = run(['validate', '-f', file('ok.yaml', deployment)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('no policy violations');
  });
  test('exit 1 on a denial, with the rule and field', () => {
    const r = run(['validate', '-f', file('kata.yaml', kata)]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('DENY\tdocument 1 (Pod vm)\tsandbox-host-namespaces\tspec.hostNetwork');
    expect(r.stderr).toContain('a policy rule denies');
    const json = JSON.parse(run(['validate', '-o', 'json', '-f', file('kata.yaml', kata)]).stdout);
    expect(json.denied).toBe(true);
    expect(json.findings[0]).toMatchObject({ rule: 'sandbox-host-namespaces', action: 'deny', field: 'spec.hostNetwork' });
  });
  test('a rule set to warn in config no longer fails the check', () => {
    const config = file('warn.yaml', 'validation:\n  rules:\n    sandbox-host-namespaces: warn\n');
    const r = run(['validate', '--config', config, '-f', file('kata.yaml', kata)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^WARN\t/);
  });
  test('exit 2 on unusable input', () => {
    expect(run(['validate', '-f', '-'], '{').code).toBe(2);
  });
});

describe('configuration errors', () => {
  test('name the field, the value and what is allowed', () => {
    const config = file('bad-config.yaml', 'server:\n  port: 99999\n  bodyLimit: 5\ninjection:\n  invalidAnnotations: ignore\n');
    const r = run(['inject', '--config', config, '-f', file('d2.yaml', deployment)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`invalid config file ${config}:`);
    expect(r.stderr).toContain('server: unknown field(s) "bodyLimit"');
    expect(r.stderr).toMatch(/server\.port: .*(got 99999)/);
    expect(r.stderr).toMatch(/injection\.invalidAnnotations: .*"deny".*"warn".*\(got "ignore"\)/);
  });
});

test('--help lists the commands', () => {
  const r = run(['--help']);
  expect(r.code).toBe(0);
  for (const cmd of ['serve', 'inject', 'validate', 'certs']) expect(r.stdout).toContain(cmd);
});

test('multi-document output keeps every document', () => {
  const r = run(['inject', '-f', '-'], `${deployment}---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n`);
  expect(parseAllDocuments(r.stdout).map((d) => d.toJS().kind)).toEqual(['Deployment', 'Service']);
});

test('--version prints package.json\'s version', () => {
  const r = run(['--version']);
  expect([r.code, r.stdout]).toEqual([0, `${require('../../package.json').version}\n`]);
});

describe('podhooks inject -o and --diff', () => {
  const service = 'apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n';

  test('-o json: one object as itself, several as a v1 List', () => {
    const one = JSON.parse(run(['inject', '-o', 'json', '-f', '-'], deployment).stdout);
    expect([one.kind, one.spec.template.spec.initContainers[0].name]).toEqual(['Deployment', 'podhooks-tools']);
    const many = JSON.parse(run(['inject', '-o', 'json', '-f', '-'], `${deployment}---\n${service}`).stdout);
    expect([many.kind, many.items.map((i: any) => i.kind)]).toEqual(['List', ['Deployment', 'Service']]);
  });

  test('--diff is a unified diff that turns the input into the injected output', () => {
    const path = file('web.yaml', deployment);
    const r = run(['inject', '--diff', '-f', path]);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').slice(0, 2)).toEqual([`--- ${path}\toriginal`, `+++ ${path}\tinjected`]);
    expect(r.stdout).toMatch(/^\+\s+- \/podhooks\/bin\/wrapper.sh$/m);
    // Applied to the input (as podhooks renders it), the diff gives exactly `inject`'s output.
    expect(applyPatch(toYaml(parseDocuments(deployment, 'web.yaml')), r.stdout)).toBe(run(['inject', '-f', path]).stdout);
  });

  test('--diff prints nothing when injection changes nothing; -o json diffs the JSON', () => {
    expect(run(['inject', '--diff', '-f', file('svc.yaml', service)])).toMatchObject({ code: 0, stdout: '' });
    expect(run(['inject', '--diff', '-o', 'json', '-f', '-'], deployment).stdout).toMatch(/^\+\s+"name": "podhooks-tools",$/m);
  });
});

describe('podhooks explain (offline)', () => {
  const pod = `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  annotations: {podhooks.io/pre-start: echo hi, podhooks.io/containers: app}
spec:
  containers:
    - {name: app, image: web:1, command: [/server]}
    - {name: side, image: side:1, command: [/side]}
`;

  test('without namespace labels: which webhooks skip the pod and why', () => {
    const r = run(['explain', '-f', file('pod.yaml', pod)]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/namespace\.podhooks\.io\s+skipped\s+Fail\s+namespaceSelector needs podhooks\.io\/injection In \[enabled\] \(label is not set\)/);
    expect(r.stdout).toContain('Injection: not-called');
  });

  test('--namespace-label opts the namespace in: targets, non-targets and what is added, also as JSON', () => {
    const r = run(['explain', '-f', file('pod.yaml', pod), '--namespace-label', 'podhooks.io/injection=enabled', '-o', 'json']);
    const e = JSON.parse(r.stdout);
    expect(e.webhooks.map((w: any) => [w.webhook, w.outcome])).toEqual([
      ['namespace.podhooks.io', 'called'],
      ['object.podhooks.io', 'skipped'],
      ['placement.podhooks.io', 'skipped'],
      ['validate.podhooks.io', 'called'],
      ['debug.podhooks.io', 'skipped'],
    ]);
    expect(e.injection).toMatchObject({ outcome: 'injected', targets: ['app'], notTargets: [{ container: 'side' }], added: { initContainers: ['podhooks-tools', 'podhooks-logs'] } });
    const text = run(['explain', '-f', file('pod.yaml', pod), '--namespace-label', 'podhooks.io/injection=enabled']).stdout;
    expect(text).toContain('  target containers: app\n  not a target: side: not listed in podhooks.io/containers (app)\n');
  });

  test('--webhooks judges against other configurations; -n contradicting the manifest is an error', () => {
    const hooks = file('hooks.yaml', `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: mine}
webhooks:
  - name: all.example.com
    admissionReviewVersions: [v1]
    sideEffects: None
    clientConfig: {url: "https://127.0.0.1/x"}
    rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}]
`);
    const e = JSON.parse(run(['explain', '-f', file('pod.yaml', pod), '--webhooks', hooks, '-o', 'json']).stdout);
    expect(e.webhooks.map((w: any) => [w.webhook, w.outcome])).toEqual([['all.example.com', 'called']]);
    expect(e.injection.outcome).toBe('injected');
    const wrong = run(['explain', '-f', file('pod.yaml', pod), '-n', 'other']);
    expect([wrong.code, wrong.stderr]).toEqual([2, 'podhooks: document 1 (Pod web) is in namespace shop, but -n says other\n']);
    expect(run(['explain', '-f', file('pod.yaml', pod), '--namespace-label', 'novalue']).stderr).toBe('podhooks: --namespace-label "novalue": expected key=value\n');
  });
});
