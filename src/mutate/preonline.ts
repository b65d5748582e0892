// preOnline: a runner sidecar waits for the app's check URL, runs the hook, then writes
// the online mark; each target container's readiness also requires the mark, so the pod
// takes no traffic before the hook succeeded ("release without traffic, then enable").
// The runner runs in the app's context: the main target container's image, env, envFrom,
// working directory, user and security context, and its volumes read-only; only the
// podhooks busybox and scripts come from /podhooks/bin. When a target container
// restarts, the mark stops holding for it (probe.sh) and the runner runs the hook again.
// Warm-up requests (podhooks.io/warmup-urls) run in the same runner, between the check URL
// and the hook; warm-up without a hook is the runner with no script.
import type { V1Container, V1EnvVar, V1Pod, V1VolumeMount } from '@kubernetes/client-node';
import { A, type HookSpec } from './annotations';
import { addMounts, type PodDraft } from './draft';
import { annotationEnv, BUSYBOX, NAMES, POD_BIN, POD_LOGS, POD_STATE } from './layout';
import { addConditions, isPodhooksProbe, LOCAL_READINESS, startConditions, wrapProbe } from './probes';
import { warmupEnv } from './warmup';
import type { Config } from '../config';

export const PRE_ONLINE_LOG = `${POD_LOGS}/pre-online.log`;


/** The container whose context the runner takes: the main container when it is a target, else the first target. */
export function contextContainer(spec: HookSpec): string {
  return spec.main !== undefined && spec.containers.includes(spec.main) ? spec.main : spec.containers[0];
}

/** An env entry as the runner needs it: resource references must keep naming the app container. */
function forRunner(e: V1EnvVar, app: string): V1EnvVar {
  const ref = e.valueFrom?.resourceFieldRef;
  if (!ref || ref.containerName) return e;
  return { ...e, valueFrom: { ...e.valueFrom, resourceFieldRef: { ...ref, containerName: app } } };
}

/** The app's mounts, read-only (a read-only view needs no Bidirectional propagation). */
function readOnlyMounts(mounts: V1VolumeMount[] | undefined): V1VolumeMount[] {
  return (mounts ?? []).map((m) => {
    const ro: V1VolumeMount = { ...m, readOnly: true };
    if (ro.mountPropagation === 'Bidirectional') ro.mountPropagation = 'HostToContainer';
    return ro;
  });
}

function runner(app: V1Container, spec: Required<Pick<HookSpec, 'preOnline'>> & HookSpec, config: Config, volumes: { bin: string; logs: string; state: string }): Omit<V1Container, 'name'> {
  const { checkUrl, timeoutSeconds, script, warmup } = spec.preOnline;
  const ours: V1EnvVar[] = [
    { name: 'PODHOOKS_CHECK_URL', value: checkUrl },
    ...(script !== undefined ? [annotationEnv('PODHOOKS_PRE_ONLINE', A.preOnline)] : []),
    { name: 'PODHOOKS_TIMEOUT_SECONDS', value: String(timeoutSeconds) },
    ...(warmup
      ? [
          { name: 'PODHOOKS_WARMUP', value: warmupEnv(warmup.requests) },
          { name: 'PODHOOKS_WARMUP_TIMEOUT_SECONDS', value: String(warmup.timeoutSeconds) },
          { name: 'PODHOOKS_WARMUP_FAILURE', value: warmup.failure },
        ]
      : []),
    { name: 'PODHOOKS_TARGETS', value: spec.containers.join(',') },
    { name: 'PODHOOKS_BUSYBOX', value: BUSYBOX },
  ];
  const names = new Set(ours.map((e) => e.name));
  const container: Omit<V1Container, 'name'> = {
    image: app.image,
    ...(app.imagePullPolicy ? { imagePullPolicy: app.imagePullPolicy } : {}),
    command: [BUSYBOX, 'sh', `${POD_BIN}/preonline.sh`],
    ...(app.workingDir ? { workingDir: app.workingDir } : {}),
    env: [...(app.env ?? []).filter((e) => !names.has(e.name)).map((e) => forRunner(e, app.name)), ...ours],
    ...(app.envFrom ? { envFrom: app.envFrom } : {}),
    resources: { requests: { ...config.injection.resources.requests }, limits: { ...config.injection.resources.limits } },
    volumeMounts: [
      ...readOnlyMounts(app.volumeMounts),
      { name: volumes.bin, mountPath: POD_BIN, readOnly: true },
      { name: volumes.logs, mountPath: POD_LOGS },
      { name: volumes.state, mountPath: POD_STATE },
    ],
  };
  // Never more privilege than the container it serves: exactly its security context.
  if (app.securityContext) container.securityContext = app.securityContext;
  return container;
}

export function addPreOnline(
  draft: PodDraft,
  base: V1Pod,
  spec: Required<Pick<HookSpec, 'preOnline'>> & HookSpec,
  config: Config,
  volumes: { bin: string; logs: string; state: string },
  native: boolean,
): void {
  const app = base.spec!.containers.find((c) => c.name === contextContainer(spec))!;
  draft.addSidecar(NAMES.preOnline, runner(app, spec, config, volumes), native, 'last');
  for (const name of spec.containers) {
    draft.updateContainer(name, (c, record) => {
      if (record.readinessProbe === undefined) record.readinessProbe = c.readinessProbe ?? null;
      const gate = ['--require-online', POD_STATE, name, ...startConditions(base)];
      // Without a readiness probe of its own: the gate-only probe (LOCAL_READINESS), or
      // the one preStart already added, which then checks both.
      c.readinessProbe = isPodhooksProbe(c.readinessProbe)
        ? addConditions(c.readinessProbe!, gate)
        : wrapProbe(c.readinessProbe, c, 'readinessProbe', gate, c.readinessProbe ? {} : LOCAL_READINESS);
      const mounts = c.volumeMounts ?? [];
      const needed = [
        { name: volumes.bin, mountPath: POD_BIN, readOnly: true },
        // Read-write: the readiness probe publishes this container's start there.
        { name: volumes.state, mountPath: POD_STATE },
      ].filter((m) => !mounts.some((x) => x.name === m.name));
      addMounts(c, record, needed);
      return c;
    });
  }
}
