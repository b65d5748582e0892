// A kubeconfig for system:serviceaccount:podhooks:podhooks, so podhooks runs in the e2e
// tier with exactly the RBAC deploy/ grants: a missing permission fails the tests.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { ROOT } from '../../helpers/podhooks';
import type { ControlPlane } from './controlplane';

export async function serviceAccountKubeconfig(cp: ControlPlane, dir: string, rbacFiles: string[] = ['deploy/base/rbac.yaml']): Promise<string> {
  for (const file of rbacFiles) {
    const apply = cp.kubectl(['apply', '-n', 'podhooks', '-f', join(ROOT, file)]);
    if (apply.code !== 0) throw new Error(`kubectl apply ${file}: ${apply.stderr}`);
  }
  const core = cp.kubeConfig().makeApiClient(CoreV1Api);
  const token = await core.createNamespacedServiceAccountToken({ name: 'podhooks', namespace: 'podhooks', body: { spec: { expirationSeconds: 3600, audiences: ['https://kubernetes.default.svc'] } } });
  const path = join(dir, 'sa.kubeconfig');
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server: cp.server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'podhooks', user: { token: token.status!.token } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'podhooks' } }],
      'current-context': 'test',
    }),
  );
  return path;
}
