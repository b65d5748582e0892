// Running the podhooks CLI as a ServiceAccount: a kubeconfig holding a bound token (the
// TokenRequest API), and the CLI as a child process that does not block the test's event
// loop (harness/kubelet-sim.ts, for one, keeps running meanwhile).
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CoreV1Api } from '@kubernetes/client-node';
import { CLI } from '../../helpers/podhooks';

/** Creates ServiceAccount namespace/name and writes a kubeconfig for it into dir (context namespace: its own). */
export async function serviceAccountKubeconfig(core: CoreV1Api, server: string, namespace: string, name: string, dir: string): Promise<string> {
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  return tokenKubeconfig(core, server, { namespace, name, contextNamespace: namespace }, join(dir, `${namespace}-${name}.kubeconfig`));
}

/** Writes to `path` a kubeconfig with a bound token of the existing ServiceAccount namespace/name. */
export async function tokenKubeconfig(core: CoreV1Api, server: string, sa: { namespace: string; name: string; contextNamespace?: string }, path: string): Promise<string> {
  const { namespace, name, contextNamespace } = sa;
  const token = await core.createNamespacedServiceAccountToken({ name, namespace, body: { spec: { expirationSeconds: 3600, audiences: ['https://kubernetes.default.svc'] } } });
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name, user: { token: token.status!.token } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: name, ...(contextNamespace ? { namespace: contextNamespace } : {}) } }],
      'current-context': 'test',
    }),
  );
  return path;
}

/** `podhooks ARGS` with KUBECONFIG=kubeconfig, as a separate process. */
export function runPodhooks(args: string[], kubeconfig: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, KUBECONFIG: kubeconfig } });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c) => (stdout += c));
    proc.stderr.on('data', (c) => (stderr += c));
    proc.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
