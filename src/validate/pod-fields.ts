// Walks the parts of a pod spec that several rules inspect, naming each one by the
// field path the denial message and auditAnnotations show (spec.initContainers[setup]).
import type { V1Container, V1EphemeralContainer, V1Pod, V1VolumeMount } from '@kubernetes/client-node';

export type ContainerKind = 'containers' | 'initContainers' | 'ephemeralContainers';
/** In the order the rules report them (and their CEL walks them). */
export const CONTAINER_KINDS: readonly ContainerKind[] = ['containers', 'initContainers', 'ephemeralContainers'];

export interface ContainerRef {
  /** e.g. spec.containers[app] */
  path: string;
  container: V1Container | V1EphemeralContainer;
}

/** Every container of the pod: app, init (including native sidecars) and ephemeral (kubectl debug). */
export function allContainers(pod: V1Pod): ContainerRef[] {
  const out: ContainerRef[] = [];
  for (const kind of CONTAINER_KINDS) {
    for (const container of pod.spec?.[kind] ?? []) out.push({ path: `spec.${kind}[${container.name}]`, container });
  }
  return out;
}

export interface MountRef {
  /** e.g. spec.containers[app].volumeMounts[data] */
  path: string;
  mount: V1VolumeMount;
}

export function allVolumeMounts(pod: V1Pod): MountRef[] {
  return allContainers(pod).flatMap(({ path, container }) =>
    (container.volumeMounts ?? []).map((mount) => ({ path: `${path}.volumeMounts[${mount.name}]`, mount })),
  );
}
