// preOnline: a sidecar waits for the app's check URL, runs the hook once, then writes
// the online mark; each selected app container's readiness also requires the mark, so
// the pod takes no traffic before the hook succeeded ("release without traffic, then enable").
import { A, type HookSpec } from './annotations';
import { addMounts, type PodDraft } from './draft';
import { annotationEnv, IMAGE_BIN, injectedContainerBase, NAMES, ONLINE_MARK, POD_BIN, POD_LOGS, POD_STATE } from './layout';
import { wrapProbe } from './probes';
import type { Config } from '../config';

export const PRE_ONLINE_LOG = `${POD_LOGS}/pre-online.log`;

/** Readiness when the container had none: only the online mark. */
const GATE_DEFAULTS = { periodSeconds: 2, timeoutSeconds: 1, failureThreshold: 1, successThreshold: 1 };

export function addPreOnline(
  draft: PodDraft,
  spec: Required<Pick<HookSpec, 'preOnline'>> & HookSpec,
  config: Config,
  volumes: { bin: string; logs: string; state: string },
  native: boolean,
): void {
  const { checkUrl, timeoutSeconds } = spec.preOnline;
  draft.addSidecar(
    NAMES.preOnline,
    {
      ...injectedContainerBase(config),
      command: [`${IMAGE_BIN}/busybox`, 'sh', `${IMAGE_BIN}/preonline.sh`],
      env: [
        { name: 'PODHOOKS_CHECK_URL', value: checkUrl },
        annotationEnv('PODHOOKS_PRE_ONLINE', A.preOnline),
        { name: 'PODHOOKS_TIMEOUT_SECONDS', value: String(timeoutSeconds) },
        { name: 'PODHOOKS_BUSYBOX', value: `${IMAGE_BIN}/busybox` },
      ],
      volumeMounts: [
        { name: volumes.logs, mountPath: POD_LOGS },
        { name: volumes.state, mountPath: POD_STATE },
      ],
    },
    native,
    'last',
  );
  for (const name of spec.containers) {
    draft.updateContainer(name, (c, record) => {
      record.readinessProbe = c.readinessProbe ?? null;
      c.readinessProbe = wrapProbe(c.readinessProbe, c, 'readinessProbe', ['--require-file', ONLINE_MARK], GATE_DEFAULTS);
      const mounts = c.volumeMounts ?? [];
      const needed = [
        { name: volumes.bin, mountPath: POD_BIN, readOnly: true },
        { name: volumes.state, mountPath: POD_STATE, readOnly: true },
      ].filter((m) => !mounts.some((x) => x.name === m.name));
      addMounts(c, record, needed);
      return c;
    });
  }
}
