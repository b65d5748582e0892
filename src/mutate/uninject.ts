// Reverses a previous injection using the podhooks.io/status record, so that injecting
// an injected pod equals injecting the original (reinvocation, `inject` run twice) and
// turning a feature off restores the pod as the user wrote it.
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { A } from './annotations';
import type { ContainerRecord, InjectionStatus } from './draft';

export class StatusError extends Error {}

export function readStatus(pod: V1Pod): InjectionStatus | undefined {
  const raw = pod.metadata?.annotations?.[A.status];
  if (raw === undefined) return undefined;
  let status: InjectionStatus;
  try {
    status = JSON.parse(raw) as InjectionStatus;
  } catch {
    throw new StatusError(`annotation ${A.status} is not valid JSON; it is written by podhooks only: remove it and re-apply the pod`);
  }
  const gatesOk = status?.readinessGates === undefined || (Array.isArray(status.readinessGates) && status.readinessGates.every((g) => typeof g === 'string'));
  const grace = status?.terminationGracePeriodSeconds;
  const graceOk = grace === undefined || grace === null || (Number.isSafeInteger(grace) && grace >= 0);
  if (status?.version !== 1 || !Array.isArray(status.containers) || !Array.isArray(status.initContainers) || typeof status.changed !== 'object' || !gatesOk || !graceOk) {
    throw new StatusError(`annotation ${A.status} has an unknown format; it is written by podhooks only: remove it and re-apply the pod`);
  }
  return status;
}

function restoreContainer(c: V1Container, r: ContainerRecord): V1Container {
  const out: V1Container = { ...c };
  if (r.commandPrefix !== undefined && out.command) {
    const rest = out.command.slice(r.commandPrefix);
    if (r.hadCommand) out.command = rest;
    else delete out.command;
  }
  if (r.env || r.envOriginal) {
    const added = new Set(r.env ?? []);
    const env = (out.env ?? []).filter((e) => !added.has(e.name)).flatMap((e) => {
      const original = r.envOriginal?.[e.name];
      if (original === undefined) return [e];
      if (original === null) return [];
      return [typeof original === 'string' ? { name: e.name, value: original } : original];
    });
    if (env.length || !r.created?.includes('env')) out.env = env;
    else delete out.env;
  }
  if (r.mounts) {
    const ours = new Set(r.mounts);
    const mounts = (out.volumeMounts ?? []).filter((m) => !ours.has(m.name));
    if (mounts.length || !r.created?.includes('volumeMounts')) out.volumeMounts = mounts;
    else delete out.volumeMounts;
  }
  for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe'] as const) {
    const original = r[probe];
    if (original === undefined) continue;
    if (original === null) delete out[probe];
    else out[probe] = original;
  }
  if (r.lifecycle === null) delete out.lifecycle;
  else if (r.lifecycle !== undefined) out.lifecycle = r.lifecycle;
  return out;
}

/**
 * The pod without podhooks' injection; the same object when it was never injected.
 * `status` is what to undo (trust.ts passes the part of the pod's record it trusts).
 */
export function uninject(pod: V1Pod, status = readStatus(pod)): { pod: V1Pod; status?: InjectionStatus } {
  if (!status) return { pod };
  const spec = pod.spec!;
  const inits = new Set(status.initContainers);
  const sidecars = new Set(status.containers);
  const volumes = new Set(status.volumes);
  const gates = new Set(status.readinessGates ?? []);
  const annotations = { ...pod.metadata?.annotations };
  delete annotations[A.status];
  for (const key of status.annotations ?? []) delete annotations[key];

  const out: V1Pod = {
    ...pod,
    metadata: { ...pod.metadata, annotations },
    spec: {
      ...spec,
      containers: spec.containers.filter((c) => !sidecars.has(c.name)).map((c) => (status.changed[c.name] ? restoreContainer(c, status.changed[c.name]) : c)),
      initContainers: (spec.initContainers ?? []).filter((c) => !inits.has(c.name)),
      volumes: (spec.volumes ?? []).filter((v) => !volumes.has(v.name)),
      ...(gates.size ? { readinessGates: (spec.readinessGates ?? []).filter((g) => !gates.has(g.conditionType)) } : {}),
    },
  };
  for (const key of status.created ?? []) if (!out.spec![key]?.length) delete out.spec![key];
  if (status.runtimeClassName !== undefined && spec.runtimeClassName === status.runtimeClassName) delete out.spec!.runtimeClassName;
  const grace = status.terminationGracePeriodSeconds;
  if (grace === null) delete out.spec!.terminationGracePeriodSeconds;
  else if (typeof grace === 'number') out.spec!.terminationGracePeriodSeconds = grace;
  if (!spec.initContainers) delete out.spec!.initContainers;
  if (!spec.volumes) delete out.spec!.volumes;
  if (Object.keys(annotations).length === 0) delete out.metadata!.annotations;
  return { pod: out, status };
}
