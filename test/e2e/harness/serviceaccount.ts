// A kubeconfig for system:serviceaccount:podhooks:podhooks, so podhooks runs in the e2e
// tier with exactly the RBAC deploy/ grants: a missing permission fails the tests.
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { ROOT } from '../../helpers/podhooks';
import { tokenKubeconfig } from './accounts';
import type { ControlPlane } from './controlplane';

export async function serviceAccountKubeconfig(cp: ControlPlane, dir: string, rbacFiles: string[] = ['deploy/base/rbac.yaml']): Promise<string> {
  for (const file of rbacFiles) {
    const apply = cp.kubectl(['apply', '-n', 'podhooks', '-f', join(ROOT, file)]);
    if (apply.code !== 0) throw new Error(`kubectl apply ${file}: ${apply.stderr}`);
  }
  return tokenKubeconfig(cp.kubeConfig().makeApiClient(CoreV1Api), cp.server, { namespace: 'podhooks', name: 'podhooks' }, join(dir, 'sa.kubeconfig'));
}
