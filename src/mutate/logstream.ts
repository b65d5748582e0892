// The log streamer follows the hooks' log files on the shared volume and prints them to
// its own stdout, so `kubectl logs POD -c podhooks-logs -f` shows hooks as they run.
import type { PodDraft } from './draft';
import { IMAGE_BIN, injectedContainerBase, NAMES, POD_LOGS } from './layout';
import type { Config } from '../config';

export function addLogStreamer(draft: PodDraft, files: string[], config: Config, logsVolume: string, native: boolean): string {
  return draft.addSidecar(
    NAMES.logs,
    {
      ...injectedContainerBase(config),
      command: [`${IMAGE_BIN}/busybox`, 'sh', `${IMAGE_BIN}/logstream.sh`, ...files],
      volumeMounts: [{ name: logsVolume, mountPath: POD_LOGS, readOnly: true }],
    },
    native,
    'before-user',
  );
}
