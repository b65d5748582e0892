// Adapts the registry client to the mutate handler: for each container that has no
// command, the command it would run (ENTRYPOINT, plus CMD when the spec sets no args),
// with credentials from the pod's imagePullSecrets when podhooks can read them.
import type { V1Pod } from '@kubernetes/client-node';
import type { ImageConfigSource } from '../admission/outside';
import type { Cluster } from '../kube/cluster';
import { withTimeout } from '../kube/cluster';
import { deadline } from '../kube/deadline';
import type { ImageLookup } from '../mutate/inject';
import { parseDockerConfigJson, type RegistryClient, type RegistryCredentials } from './oci';

/** Read in parallel, each bounded by the API timeout, so they cost at most one bound. */
async function pullSecretCredentials(pod: V1Pod, namespace: string | undefined, cluster: Cluster | undefined, timeoutMs: number): Promise<RegistryCredentials[]> {
  const names = [...new Set((pod.spec?.imagePullSecrets ?? []).map((s) => s.name).filter((n): n is string => !!n))];
  if (!names.length || !cluster || !namespace) return [];
  const read = async (name: string): Promise<RegistryCredentials[]> => {
    try {
      const secret = await withTimeout(cluster.core.readNamespacedSecret({ name, namespace }, deadline(timeoutMs)), timeoutMs, `reading imagePullSecret ${namespace}/${name}`);
      const data = secret.data?.['.dockerconfigjson'];
      return data ? parseDockerConfigJson(Buffer.from(data, 'base64').toString('utf8')) : [];
    } catch {
      // Unreadable (RBAC, timeout): fall through to anonymous access; the registry's
      // 401 then produces the message that tells the user what to do.
      return [];
    }
  };
  return (await Promise.all(names.map(read))).flat();
}

export function registryImageCommands(client: RegistryClient, cluster: Cluster | undefined, apiTimeoutMs: number): ImageConfigSource {
  return {
    async commands(pod: V1Pod, namespace: string | undefined, lookups: ImageLookup[], signal?: AbortSignal) {
      const creds = await pullSecretCredentials(pod, namespace, cluster, apiTimeoutMs);
      const answers: Record<string, string[] | Error> = {};
      await Promise.all(
        lookups.map(async (lookup) => {
          try {
            const config = await client.imageConfig(lookup.image, creds, signal);
            const command = [...(config.entrypoint ?? []), ...(lookup.hasArgs ? [] : (config.cmd ?? []))];
            answers[lookup.container] = command.length ? command : new Error(`image ${lookup.image} defines neither ENTRYPOINT nor ${lookup.hasArgs ? 'an ENTRYPOINT to run the args with' : 'CMD'}`);
          } catch (err) {
            answers[lookup.container] = err as Error;
          }
        }),
      );
      return answers;
    },
  };
}
