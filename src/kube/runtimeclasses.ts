// Whether a RuntimeClass exists, for placement (it must not assign a class the cluster
// lacks). Found classes are cached for a minute, missing ones for a few seconds (so a
// class created after the first denial is seen soon, and a burst of offline pods still
// costs one call); every read is bounded by the API timeout.
import type { NodeV1Api } from '@kubernetes/client-node';
import type { RuntimeClassSource } from '../admission/outside';
import { withTimeout, type Cluster } from './cluster';
import { deadline } from './deadline';

export function runtimeClassCache(cluster: Cluster, timeoutMs: number, foundTtlMs = 60_000, missingTtlMs = 5_000): RuntimeClassSource {
  let api: Promise<NodeV1Api> | undefined;
  // client-node is loaded lazily (cluster.ts); NodeV1Api only when placement first asks.
  const nodeApi = () => (api ??= import('@kubernetes/client-node').then((k8s) => cluster.kubeConfig.makeApiClient(k8s.NodeV1Api)));
  const cache = new Map<string, { exists: boolean; at: number }>();
  const inflight = new Map<string, Promise<boolean>>();
  return {
    async exists(name: string) {
      const hit = cache.get(name);
      if (hit && Date.now() - hit.at < (hit.exists ? foundTtlMs : missingTtlMs)) return hit.exists;
      let pending = inflight.get(name);
      if (!pending) {
        pending = nodeApi()
          .then((node) => node.readRuntimeClass({ name }, deadline(timeoutMs)))
          .then(
            () => true,
            (err: { code?: number }) => {
              if (err?.code === 404) return false;
              throw err;
            },
          )
          .then((exists) => {
            cache.set(name, { exists, at: Date.now() });
            return exists;
          })
          .finally(() => inflight.delete(name));
        inflight.set(name, pending);
      }
      return withTimeout(pending, timeoutMs, `reading RuntimeClass ${name}`);
    },
  };
}
