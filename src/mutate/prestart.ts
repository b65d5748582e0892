// preStart: the app container's command becomes the wrapper, which runs the hook inside
// the container (with the app's filesystem and env), tees its output to the shared log
// volume, then execs the original command so the app stays PID 1 of its container. The
// hook is stopped after its timeout, and while it runs a startup probe holds liveness
// back, so a slow hook fails with a message instead of being killed into a crash loop,
// and readiness waits for it, so the pod takes no traffic before the app runs.
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { A } from './annotations';
import { addEnv, addMounts, type ContainerRecord, type PodDraft } from './draft';
import { annotationEnv, BUSYBOX, POD_BIN, POD_LOGS, POD_RUN } from './layout';
import { LOCAL_READINESS, probeTiming, startConditions, wrapProbe } from './probes';

export const WRAPPER_PREFIX = [BUSYBOX, 'sh', `${POD_BIN}/wrapper.sh`, '--'];
/** wrapper.sh gives a timed-out hook this long between TERM and KILL. */
export const STOP_GRACE_SECONDS = 5;

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
export function wrapEntrypoint(
  draft: PodDraft,
  container: string,
  original: { command: string[]; fromImage: boolean },
  volumes: SharedVolumes,
  timeoutSeconds: number,
): void {
  const { bin, logs, run } = volumes;
  const pod = draft.pod;
  draft.updateContainer(container, (c: V1Container, record) => {
    c.command = [...WRAPPER_PREFIX, ...original.command];
    record.commandPrefix = WRAPPER_PREFIX.length;
    record.hadCommand = !original.fromImage;
    if (original.fromImage) record.imageCommand = original.command;
    addEnv(c, record, [
      ...(logs ? [annotationEnv('PODHOOKS_PRE_START', A.preStart), { name: 'PODHOOKS_PRE_START_TIMEOUT_SECONDS', value: String(timeoutSeconds) }] : []),
      { name: 'PODHOOKS_CONTAINER', value: container },
      ...(run ? [{ name: 'PODHOOKS_RUN_DIR', value: POD_RUN }] : []),
    ]);
    addMounts(c, record, [
      { name: bin, mountPath: POD_BIN, readOnly: true },
      ...(logs ? [{ name: logs, mountPath: POD_LOGS }] : []),
      ...(run ? [{ name: run, mountPath: POD_RUN }] : []),
    ]);
    if (logs) {
      holdLivenessDuringHook(c, record, timeoutSeconds, pod);
      readyOnlyAfterHook(c, record, pod);
    }
    return c;
  });
}

/**
 * The kubelet runs no liveness (or readiness) probe before the startup probe passed. So
 * the container gets a startup probe that fails while the hook runs and then runs the
 * original startup check, or without one the liveness check: liveness' initialDelaySeconds
 * counts from the container's start, so after a long hook it would be over at once. Its
 * budget is the original one (startup: failureThreshold x periodSeconds; liveness:
 * initialDelaySeconds + failureThreshold x periodSeconds) plus the hook's timeout and stop
 * grace. Without either probe nothing can kill the container while the hook runs.
 */
function holdLivenessDuringHook(c: V1Container, record: ContainerRecord, timeoutSeconds: number, pod: V1Pod): void {
  const source = c.startupProbe ?? c.livenessProbe;
  if (!source) return;
  const fromStartup = c.startupProbe !== undefined;
  const t = probeTiming(source);
  const hookBudget = timeoutSeconds + STOP_GRACE_SECONDS + (fromStartup ? 0 : t.initialDelaySeconds);
  if (record.startupProbe === undefined) record.startupProbe = c.startupProbe ?? null;
  c.startupProbe = wrapProbe(source, c, fromStartup ? 'startupProbe' : 'livenessProbe', ['--after-pre-start', ...startConditions(pod)], {
    initialDelaySeconds: fromStartup ? t.initialDelaySeconds : 0,
    successThreshold: 1,
    failureThreshold: t.failureThreshold + Math.ceil(hookBudget / t.periodSeconds),
  });
}

/**
 * Without a readiness probe the kubelet counts a container ready as soon as it started,
 * that is while the wrapper still runs the hook: the pod would take Service traffic
 * before the app exists. Such a container gets a readiness probe that passes once the
 * hook finished (its first process is the app, no longer the wrapper). A container with
 * a readiness probe of its own keeps it: the app answers it only once it runs.
 */
function readyOnlyAfterHook(c: V1Container, record: ContainerRecord, pod: V1Pod): void {
  if (c.readinessProbe) return;
  if (record.readinessProbe === undefined) record.readinessProbe = null;
  c.readinessProbe = wrapProbe(undefined, c, 'readinessProbe', ['--after-pre-start', ...startConditions(pod)], LOCAL_READINESS);
}

export function preStartLogFile(container: string): string {
  return `${POD_LOGS}/${container}.pre-start.log`;
}
