// deploy/ as a platform team applies it, on a fresh control plane of its own (the
// admission tests register the same webhook configurations with a URL instead).
import { join } from 'node:path';
import { ROOT } from '../helpers/podhooks';
import { startControlPlane, type ControlPlane } from './harness/controlplane';

jest.setTimeout(120_000);
let cp: ControlPlane;
beforeAll(async () => {
  cp = await startControlPlane({ controllerManager: false });
});
afterAll(async () => {
  await cp?.stop();
});

test('kubectl apply -k deploy/ --dry-run=server succeeds', () => {
  // Namespaced objects are dry-run into a namespace that must exist.
  expect(cp.kubectl(['apply', '-f', join(ROOT, 'deploy/base/namespace.yaml')]).code).toBe(0);
  const r = cp.kubectl(['apply', '-k', join(ROOT, 'deploy'), '--dry-run=server']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  for (const object of [
    'deployment.apps/podhooks',
    'poddisruptionbudget.policy/podhooks',
    'service/podhooks',
    'clusterrole.rbac.authorization.k8s.io/podhooks',
    'mutatingwebhookconfiguration.admissionregistration.k8s.io/podhooks',
    'validatingwebhookconfiguration.admissionregistration.k8s.io/podhooks',
  ]) {
    expect(r.stdout).toContain(`${object} created (server dry run)`);
  }
});
