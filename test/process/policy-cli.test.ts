// The policy side of the CLI as users run it: config mistakes are refused up front, the
// sandbox rules apply to every pod template, and the cluster commands need a cluster.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../helpers/podhooks';

const tmp = mkdtempSync(join(tmpdir(), 'podhooks-policy-cli-'));
const run = (args: string[], input?: string) => {
  const r = spawnSync(process.execPath, [CLI, ...args], { input, encoding: 'utf8', env: { ...process.env, KUBECONFIG: '', HOME: tmp } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
const file = (name: string, text: string) => (writeFileSync(join(tmp, name), text), join(tmp, name));

const job = `apiVersion: batch/v1
kind: Job
metadata: {name: crunch, namespace: batch}
spec:
  template:
    spec:
      runtimeClassName: kata-qemu
      restartPolicy: Never
      shareProcessNamespace: true
      initContainers:
        - {name: prep, image: x, securityContext: {privileged: true}}
      containers:
        - name: main
          image: x
          volumeMounts: [{name: data, mountPath: /d, subPath: part}]
      volumes:
        - {name: data, emptyDir: {}}
        - {name: logs, hostPath: {path: /var/log}}
`;

test('podhooks validate reports every sandbox rule on a Job template and exits 1', () => {
  const r = run(['validate', '-f', '-', '-o', 'json'], job);
  expect(r.code).toBe(1);
  const out = JSON.parse(r.stdout);
  expect(out.findings.map((f: any) => [f.rule, f.action, f.field])).toEqual([
    ['sandbox-share-process-namespace', 'deny', 'spec.shareProcessNamespace'],
    ['sandbox-privileged', 'deny', 'spec.initContainers[prep].securityContext.privileged'],
    ['sandbox-subpath', 'deny', 'spec.containers[main].volumeMounts[data].subPath'],
    ['sandbox-host-path', 'warn', 'spec.volumes[logs].hostPath.path'],
  ]);
});

test('a misspelt rule id in the config is refused by validate and by serve', () => {
  const config = file('typo.yaml', 'validation:\n  rules:\n    sandbox-privilegd: warn\n');
  const v = run(['validate', '-c', config, '-f', '-'], job);
  expect(v.code).toBe(2);
  expect(v.stderr).toMatch(/^podhooks: invalid config file .*typo\.yaml:\n {2}- validation\.rules\.sandbox-privilegd: unknown rule id; known rules are sandbox-host-namespaces, /);
  // serve refuses before listening: it exits on its own, so a plain synchronous run suffices.
  const serveConfig = file('serve-typo.yaml', `validation:\n  rules:\n    sandbox-privilegd: warn\nkubernetes:\n  enabled: "false"\nserver:\n  address: 127.0.0.1\n  port: 0\n  metricsAddress: 127.0.0.1\n  metricsPort: 0\n  certDir: ${join(tmp, 'certs')}\n`);
  const s = run(['serve', '-c', serveConfig]);
  expect(s.code).toBe(2);
  expect(s.stderr).toMatch(/^podhooks: invalid config file .*serve-typo\.yaml:\n {2}- validation\.rules\.sandbox-privilegd: unknown rule id; known rules are /);
});

test('audit and rejections say how to point them at a cluster', () => {
  for (const cmd of ['audit', 'rejections']) {
    const r = run([cmd]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('podhooks: no cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a pod with a service account\n');
  }
  const bad = run(['rejections', '--since', 'yesterday']);
  expect(bad.stderr).toBe('podhooks: --since "yesterday": expected a positive duration such as 90s, 15m, 1h or 7d\n');
});

test('podhooks validate judges manifests as the webhook judges templates: after injection, annotation errors included', () => {
  const hooked = (annotations: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {${annotations}}
    spec:
      containers: [{name: app, image: x, command: [/web]}]
`;
  expect(run(['validate', '-f', '-'], hooked('podhooks.io/pre-start: ./warm.sh'))).toEqual({ code: 0, stdout: 'no policy violations\n', stderr: '' });
  const bad = run(['validate', '-f', '-', '-o', 'json'], hooked('podhooks.io/pre-online: ./warm.sh'));
  expect(bad.code).toBe(1);
  expect(JSON.parse(bad.stdout).findings).toEqual([
    expect.objectContaining({ where: 'document 1 (Deployment web)', rule: 'injection-annotations', action: 'deny', message: expect.stringContaining('annotation podhooks.io/pre-online="./warm.sh": needs podhooks.io/check-url') }),
  ]);
  // Injection is assumed on unless the namespace's labels say otherwise.
  const off = run(['validate', '-f', '-', '--namespace-label', 'podhooks.io/injection=disabled'], hooked('podhooks.io/pre-start: ./warm.sh'));
  expect(off.code).toBe(0);
  expect(off.stdout).toMatch(/^WARN\tdocument 1 \(Deployment web\)\tinjection-not-enabled\tmetadata\.annotations\tpodhooks\.io\/pre-start is ignored: namespace shop is not labelled podhooks\.io\/injection=enabled/);
});

test('podhooks policy render reads a config file or deploy/base/config.yaml; check needs a cluster', () => {
  const fromConfigMap = run(['policy', 'render', '-c', join(__dirname, '../../deploy/base/config.yaml')]);
  expect([fromConfigMap.code, fromConfigMap.stderr]).toEqual([0, '']);
  expect(fromConfigMap.stdout.match(/^kind: ValidatingAdmissionPolicy$/gm)).toHaveLength(8);
  const off = run(['policy', 'render', '-c', file('off.yaml', 'validation:\n  rules:\n    placement: "off"\n'), '-o', 'json']);
  expect(JSON.parse(off.stdout).items).toHaveLength(14);
  expect(off.stderr).toContain('podhooks: not rendered: placement (off in validation.rules)\n');
  const typo = run(['policy', 'render', '-c', file('bad.yaml', 'validation:\n  engine: policies\n')]);
  expect(typo.code).toBe(2);
  expect(typo.stderr).toMatch(/^podhooks: invalid config file .*bad\.yaml:\n {2}- validation\.engine: Invalid option: expected one of "webhook"\|"admission-policy"\|"both" \(got "policies"\)\n$/);
  const check = run(['policy', 'check']);
  expect([check.code, check.stderr]).toEqual([2, 'podhooks: no cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a pod with a service account\n']);
});
