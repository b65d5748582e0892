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
