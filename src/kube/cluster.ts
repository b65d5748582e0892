// Cluster access is optional: with no kubeconfig and no in-cluster service account the
// webhook runs on its own (events, namespace lookups and cert bootstrap stay off).
// @kubernetes/client-node is loaded lazily so a cluster-less start stays fast.
import { existsSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import type { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { Config } from '../config';

const SA_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface Cluster {
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  source: string;
  /** e.g. { major: 1, minor: 37, gitVersion: 'v1.37.2' } */
  version(): Promise<{ major: number; minor: number; gitVersion: string }>;
}

export class ClusterError extends Error {}

function findKubeconfig(config: Config): { path?: string; inCluster: boolean } | undefined {
  const explicit = config.kubernetes.kubeconfig ?? process.env.KUBECONFIG;
  if (explicit) {
    if (!existsSync(explicit)) throw new ClusterError(`kubeconfig ${explicit} does not exist (kubernetes.kubeconfig or KUBECONFIG)`);
    return { path: explicit, inCluster: false };
  }
  if (process.env.KUBERNETES_SERVICE_HOST && existsSync(SA_TOKEN)) return { inCluster: true };
  const home = join(homedir(), '.kube', 'config');
  return existsSync(home) ? { path: home, inCluster: false } : undefined;
}

/** The cluster to use, or undefined when none is configured and enabled is auto. */
export async function connectCluster(config: Config): Promise<Cluster | undefined> {
  if (config.kubernetes.enabled === 'false') return undefined;
  const found = findKubeconfig(config);
  if (!found) {
    if (config.kubernetes.enabled === 'true') throw new ClusterError('kubernetes.enabled is true but no kubeconfig (kubernetes.kubeconfig, KUBECONFIG, ~/.kube/config) or in-cluster service account was found');
    return undefined;
  }
  const k8s = await import('@kubernetes/client-node');
  const kubeConfig = new k8s.KubeConfig();
  if (found.inCluster) kubeConfig.loadFromCluster();
  else kubeConfig.loadFromFile(found.path!);
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const versionApi = kubeConfig.makeApiClient(k8s.VersionApi);
  return {
    kubeConfig,
    core,
    source: found.inCluster ? 'in-cluster service account' : `kubeconfig ${found.path}`,
    async version() {
      const v = await versionApi.getCode();
      return { major: parseInt(v.major, 10), minor: parseInt(v.minor, 10), gitVersion: v.gitVersion };
    },
  };
}

/** Rejects after `ms` with a message naming what timed out; the promise itself runs on. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timedOut = () => new Error(`${what} timed out after ${ms} ms`);
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut()), ms);
  });
  // A request aborted by its own deadline (kube/deadline.ts) at the same bound may settle
  // first; it says "The user aborted a request", which tells the reader nothing.
  const settled = promise.catch((err: Error) => {
    throw err?.name === 'AbortError' || /aborted/i.test(err?.message ?? '') ? timedOut() : err;
  });
  return Promise.race([settled, timeout]).finally(() => clearTimeout(timer));
}

/** This replica's name for Events and Lease holders: the pod name (downward API), else the host. */
export function replicaName(): string {
  return process.env.POD_NAME ?? hostname();
}
