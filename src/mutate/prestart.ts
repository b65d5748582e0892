// preStart: the app container's command becomes the wrapper, which runs the hook inside
// the container (with the app's filesystem and env), tees its output to the shared log
// volume, then execs the original command so the app stays PID 1 of its container.
import type { V1Container } from '@kubernetes/client-node';
import { A } from './annotations';
import { addEnv, addMounts, type PodDraft } from './draft';
import { annotationEnv, BUSYBOX, POD_BIN, POD_LOGS, POD_RUN } from './layout';

export const WRAPPER_PREFIX = [BUSYBOX, 'sh', `${POD_BIN}/wrapper.sh`, '--'];

export interface SharedVolumes {
  bin: string;
  /** The hook logs; without it the wrapper runs no hook (it only holds the run FIFO). */
  logs?: string;
  /** The run FIFOs' volume, when classic sidecars must end with this container (sidecar-end.ts). */
  run?: string;
}

/**
 * `original` is the command the container would run: spec.command, or the image's
 * ENTRYPOINT (+CMD when the spec has no args) resolved by the caller.
 */
export function wrapEntrypoint(draft: PodDraft, container: string, original: { command: string[]; fromImage: boolean }, volumes: SharedVolumes): void {
  const { bin, logs, run } = volumes;
  draft.updateContainer(container, (c: V1Container, record) => {
    c.command = [...WRAPPER_PREFIX, ...original.command];
    record.commandPrefix = WRAPPER_PREFIX.length;
    record.hadCommand = !original.fromImage;
    if (original.fromImage) record.imageCommand = original.command;
    addEnv(c, record, [
      ...(logs ? [annotationEnv('PODHOOKS_PRE_START', A.preStart)] : []),
      { name: 'PODHOOKS_CONTAINER', value: container },
      ...(run ? [{ name: 'PODHOOKS_RUN_DIR', value: POD_RUN }] : []),
    ]);
    addMounts(c, record, [
      { name: bin, mountPath: POD_BIN, readOnly: true },
      ...(logs ? [{ name: logs, mountPath: POD_LOGS }] : []),
      ...(run ? [{ name: run, mountPath: POD_RUN }] : []),
    ]);
    return c;
  });
}

export function preStartLogFile(container: string): string {
  return `${POD_LOGS}/${container}.pre-start.log`;
}
