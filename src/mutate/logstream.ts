// The log streamer follows the hooks' log files on the shared volume and prints them to
// its own stdout, so `kubectl logs POD -c podhooks-logs -f` shows hooks as they run.
import type { V1Lifecycle } from '@kubernetes/client-node';
import type { PodDraft } from './draft';
import { IMAGE_BIN, injectedContainerBase, NAMES, perConfig, POD_LOGS } from './layout';
import type { Config } from '../config';

/** `lifecycle`: the post-offline preStop that keeps it streaming until the hook's output is out. */
export function addLogStreamer(draft: PodDraft, files: string[], config: Config, logsVolume: string, native: boolean, lifecycle?: V1Lifecycle): string {
  const make = () => ({
    ...injectedContainerBase(config),
    command: [`${IMAGE_BIN}/busybox`, 'sh', `${IMAGE_BIN}/logstream.sh`, ...files],
    volumeMounts: [{ name: logsVolume, mountPath: POD_LOGS, readOnly: true }],
    ...(lifecycle ? { lifecycle } : {}),
  });
  // Without post-offline's lifecycle it depends only on the config, the volume and the files.
  const container = lifecycle ? make() : perConfig(config, `logs ${logsVolume} ${files.join(' ')}`, make);
  return draft.addSidecar(NAMES.logs, container, native, 'before-user');
}
