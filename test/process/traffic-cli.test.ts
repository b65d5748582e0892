// `podhooks online|offline` as users run it, for what needs no cluster: usage errors name
// the problem and exit 2; no cluster, or an apiserver that does not answer, is a clear
// one-line error, never a stack trace. The commands against a real apiserver are in
// test/e2e/traffic.test.ts.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../helpers/podhooks';
import { freePort } from '../helpers/ports';

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '', HOME: mkdtempSync(join(tmpdir(), 'podhooks-home-')), ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test.each([
  [['online', '--reason', 'x'], 'podhooks: online: name the pods in one way: POD..., -l SELECTOR or --rollout deployment/NAME (got none)'],
  [['online', 'web-1', '-l', 'app=web', '--reason', 'x'], 'podhooks: online: name the pods in one way: POD..., -l SELECTOR or --rollout deployment/NAME (got several)'],
  [['offline', '--rollout', 'deployment/web', '--follow', '--reason', 'x'], 'podhooks: offline: --follow only goes with `podhooks online --rollout deployment/NAME`'],
  [['online', '-l', 'app=web', '--follow', '--reason', 'x'], 'podhooks: online: --follow only goes with `podhooks online --rollout deployment/NAME`'],
  [['online', '--rollout', 'statefulset/db', '--reason', 'x'], 'podhooks: online: --rollout "statefulset/db": expected deployment/NAME (only Deployments are supported)'],
  [['online', '--rollout', 'deployment/web', '--follow', '--timeout', 'soon', '--reason', 'x'], 'podhooks: online: --timeout "soon": expected a positive duration such as 90s, 15m, 1h or 7d'],
  [['online', 'web-1', '--reason', '  '], "podhooks: online: --reason must say why (it is recorded in the pod's Event and condition)"],
  [['online', '-l', ' ', '--reason', 'x'], 'podhooks: online: -l needs a label selector, e.g. -l app=web; to switch every pod of a namespace, name them'],
])('%j: exit 2, %s', (args, message) => {
  const r = run(args);
  expect([r.code, r.stderr, r.stdout]).toEqual([2, `${message}\n`, '']);
});

test('--reason is required', () => {
  const r = run(['online', 'web-1']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("error: required option '--reason <text>' not specified");
});

test('without a cluster: says how to name one', () => {
  const r = run(['online', 'web-1', '--reason', 'x']);
  expect([r.code, r.stderr]).toEqual([2, 'podhooks: no cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a pod with a service account\n']);
});

test('an apiserver that does not answer: one line naming the request, exit 1', async () => {
  const port = await freePort();
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'podhooks-kc-')), 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: `https://127.0.0.1:${port}` } }],
      users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u', namespace: 'shop' } }],
      'current-context': 'c',
    }),
  );
  const r = run(['offline', 'web-1', '--reason', 'x', '--kubeconfig', kubeconfig]);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe(`podhooks: offline: talking to the apiserver failed: request to https://127.0.0.1:${port}/api/v1/namespaces/shop/pods/web-1 failed, reason: connect ECONNREFUSED 127.0.0.1:${port}\n`);
});
