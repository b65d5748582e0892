// Namespace labels for policy (debug mode needs podhooks.io/debug=allowed), read through
// a small TTL cache so a burst of pods costs one API call, bounded in time and in size.
import type { NamespaceLabelSource } from '../admission/outside';
import { withTimeout, type Cluster } from './cluster';
import { deadline } from './deadline';

export function namespaceLabelCache(cluster: Cluster, timeoutMs: number, ttlMs = 30_000, maxEntries = 5000): NamespaceLabelSource {
  const cache = new Map<string, { labels: Record<string, string>; at: number }>();
  const inflight = new Map<string, Promise<Record<string, string>>>();
  return {
    async labels(namespace: string) {
      const hit = cache.get(namespace);
      if (hit && Date.now() - hit.at < ttlMs) return hit.labels;
      let pending = inflight.get(namespace);
      if (!pending) {
        pending = cluster.core
          // Aborted at the bound too: a hung read must not stay in `inflight` and hold every
          // later lookup of this namespace after the API recovers.
          .readNamespace({ name: namespace }, deadline(timeoutMs))
          .then((ns) => {
            const labels = ns.metadata?.labels ?? {};
            if (cache.size >= maxEntries) cache.delete(cache.keys().next().value!);
            cache.set(namespace, { labels, at: Date.now() });
            return labels;
          })
          .finally(() => inflight.delete(namespace));
        inflight.set(namespace, pending);
      }
      return withTimeout(pending, timeoutMs, `reading labels of namespace ${namespace}`);
    },
  };
}
