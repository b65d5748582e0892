// Authorization init container: registers the pod's IP and ports with the users'
// authorization service before anything else in the pod runs. It runs the static client
// straight from the tools image (no shared bin volume, no dependency on the tools copy),
// so an authz-only pod gets exactly one extra container and no volume.
import type { V1EnvVar, V1Pod } from '@kubernetes/client-node';
import type { Config } from '../config';
import { A, type HookSpec } from './annotations';
import type { InjectionStatus, PodDraft } from './draft';
import { annotationEnv, IMAGE_BIN, injectedContainerBase, NAMES } from './layout';

export const AUTHZ_CLIENT = `${IMAGE_BIN}/podhooks-authz`;

/** Start offset in ms, or a function giving it that is called only if the container is added. */
export type StartOffset = number | (() => number | undefined);

/** The ports to register: the annotation's, else every declared port of the app containers
 *  and the user's native sidecars; whitelisted ports need no ACL entry. Sorted, unique. */
export function authzPorts(pod: V1Pod, authz: NonNullable<HookSpec['authz']>, config: Config): number[] {
  const spec = pod.spec!;
  const serving = [...spec.containers, ...(spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always')];
  const declared = authz.ports ?? serving.flatMap((c) => (c.ports ?? []).map((p) => p.containerPort));
  const whitelist = new Set(config.authz.whitelistPorts);
  return [...new Set(declared)].filter((p) => !whitelist.has(p)).sort((a, b) => a - b);
}

/** The offset a previous injection of this pod was given (reinvocation keeps it: one token per pod). */
export function previousOffset(original: V1Pod, previous: InjectionStatus | undefined): number | undefined {
  if (!previous?.annotations?.includes(A.authzOffset)) return undefined;
  const raw = original.metadata?.annotations?.[A.authzOffset];
  return raw !== undefined && /^[0-9]{1,9}$/.test(raw) ? Number(raw) : undefined;
}

const field = (name: string, fieldPath: string): V1EnvVar => ({ name, valueFrom: { fieldRef: { fieldPath } } });

export function addAuthz(draft: PodDraft, base: V1Pod, authz: NonNullable<HookSpec['authz']>, config: Config, offset: StartOffset | undefined): void {
  const ports = authzPorts(base, authz, config);
  if (ports.length === 0) return;
  const c = config.authz;
  draft.addInitContainer(
    NAMES.authz,
    {
      ...injectedContainerBase(config),
      command: [AUTHZ_CLIENT],
      env: [
        { name: 'PODHOOKS_AUTHZ_URL', value: c.url },
        field('PODHOOKS_POD_IP', 'status.podIP'),
        field('PODHOOKS_POD_NAME', 'metadata.name'),
        field('PODHOOKS_POD_NAMESPACE', 'metadata.namespace'),
        field('PODHOOKS_POD_UID', 'metadata.uid'),
        { name: 'PODHOOKS_AUTHZ_PORTS', value: ports.join(',') },
        { name: 'PODHOOKS_AUTHZ_TIMEOUT_MS', value: String(c.timeoutMs) },
        { name: 'PODHOOKS_AUTHZ_MAX_ATTEMPTS', value: String(c.maxAttempts) },
        { name: 'PODHOOKS_AUTHZ_BASE_BACKOFF_MS', value: String(c.baseBackoffMs) },
        { name: 'PODHOOKS_AUTHZ_MAX_BACKOFF_MS', value: String(c.maxBackoffMs) },
        { name: 'PODHOOKS_AUTHZ_DEADLINE_SECONDS', value: String(c.deadlineSeconds) },
        { name: 'PODHOOKS_AUTHZ_FAIL_MODE', value: c.failMode },
        // Read from the pod's annotation so the container spec is the same for every pod of a
        // workload; absent (offline injection) resolves to "", which the client reads as 0.
        annotationEnv('PODHOOKS_AUTHZ_START_OFFSET_MS', A.authzOffset),
      ],
    },
    // Before the user's init containers: they may already need the ACL entry.
    'before-user',
  );
  const ms = typeof offset === 'function' ? offset() : offset;
  if (ms !== undefined) draft.setAnnotation(A.authzOffset, startOffsetValue(ms));
}

/** The podhooks.io/authz-start-offset-ms value for a start offset: whole ms, never negative. */
export function startOffsetValue(ms: number): string {
  return String(Math.max(0, Math.ceil(ms)));
}
