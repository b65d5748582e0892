// `podhooks certs` usage errors and the cluster-less path (the cluster path is in
// test/e2e/certs.test.ts).
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../helpers/podhooks';

const dir = mkdtempSync(join(tmpdir(), 'podhooks-certs-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('without --secret: files for the service names, signed by the CA written next to them', () => {
  const r = run(['certs', '--out-dir', join(dir, 'out'), '--days', '2']);
  expect(r).toEqual({ code: 0, stderr: '', stdout: `wrote ca.crt, ca.key, tls.crt, tls.key to ${join(dir, 'out')} for localhost, podhooks, podhooks.podhooks, podhooks.podhooks.svc, podhooks.podhooks.svc.cluster.local\n` });
  const cert = new X509Certificate(readFileSync(join(dir, 'out/tls.crt')));
  expect(cert.verify(new X509Certificate(readFileSync(join(dir, 'out/ca.crt'))).publicKey)).toBe(true);
  expect(Date.parse(cert.validTo) - Date.now()).toBeLessThan(2 * 86400_000 + 60_000);
});

test.each([
  [['certs', '--patch-webhooks'], '--patch-webhooks and --force need --secret NAMESPACE/NAME: the caBundle is patched from the CA stored there'],
  [['certs', '--secret', 'podhooks'], '--secret "podhooks": expected NAMESPACE/NAME, e.g. podhooks/podhooks-tls'],
  [['certs', '--days', '0'], '--days 0: expected a whole number of days above 0'],
  [['certs', '--secret', 'podhooks/podhooks-tls', '--days', '10'], '--days 10 must be longer than certificates.renewBefore (30 days), or the certificate is due for renewal at once'],
  [['certs', '--secret', 'podhooks/podhooks-tls', '--kubeconfig', '/nonexistent/kubeconfig'], 'kubeconfig /nonexistent/kubeconfig does not exist (kubernetes.kubeconfig or KUBECONFIG)'],
])('podhooks %j fails with a specific message', (args, message) => {
  expect(run(args)).toEqual({ code: 2, stdout: '', stderr: `podhooks: ${message}\n` });
});

test('serve in certificates.mode secret without a cluster says what to configure', () => {
  writeFileSync(join(dir, 'config.yaml'), 'kubernetes: {enabled: "false"}\n');
  // The flag deploy/overlays/self-managed adds (the e2e tier sets certificates.mode in the file).
  const r = run(['serve', '--config', join(dir, 'config.yaml'), '--certificates-mode=secret']);
  expect(r.code).toBe(2);
  expect(r.stderr).toBe('podhooks: certificates.mode is secret but no cluster is configured: set kubernetes.kubeconfig, KUBECONFIG or run in a pod with a service account (or use certificates.mode: files)\n');
});
