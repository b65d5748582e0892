// A copy-on-write working copy of a pod. Capabilities add containers, volumes and
// container changes only through it, so (a) the caller's pod is never mutated and every
// value it changed is a new object, which is what the patch is read from (patch.ts), and (b) every
// change is recorded in the podhooks.io/status annotation, which `uninject` reverses.
import type { V1Container, V1EnvVar, V1Lifecycle, V1Pod, V1Probe, V1Volume } from '@kubernetes/client-node';
import { A } from './annotations';

/** What podhooks changed in one of the user's containers. */
export interface ContainerRecord {
  /** Entries prepended to `command`; `hadCommand` false means the spec had no command. */
  commandPrefix?: number;
  hadCommand?: boolean;
  /** The image ENTRYPOINT(+CMD) podhooks put into `command`, reused on re-injection. */
  imageCommand?: string[];
  env?: string[];
  /** Original values (or whole entries, e.g. with valueFrom) of env vars podhooks modified (null: the var did not exist). */
  envOriginal?: Record<string, string | V1EnvVar | null>;
  mounts?: string[];
  /** Original probes podhooks replaced (null: the container had none). */
  readinessProbe?: V1Probe | null;
  livenessProbe?: V1Probe | null;
  startupProbe?: V1Probe | null;
  /** Original lifecycle podhooks replaced (post-offline's preStop; null: the container had none). */
  lifecycle?: V1Lifecycle | null;
  /** Container arrays podhooks created (the user had none). */
  created?: ('env' | 'volumeMounts')[];
}

function noteCreated(c: V1Container, record: ContainerRecord, key: 'env' | 'volumeMounts'): void {
  if (c[key] === undefined && !record.created?.includes(key)) record.created = [...(record.created ?? []), key];
}

export interface InjectionStatus {
  version: 1;
  initContainers: string[];
  containers: string[];
  volumes: string[];
  annotations: string[];
  changed: Record<string, ContainerRecord>;
  /** The app containers the hooks were applied to; re-injection keeps to them, so
   *  containers that other webhooks add later (reinvocation) are left alone. */
  targets?: string[];
  /** spec.readinessGates condition types podhooks added (the user's own are never listed). */
  readinessGates?: string[];
  /** Pod arrays podhooks created (the user had none), removed again by uninject. */
  created?: ('initContainers' | 'volumes' | 'readinessGates')[];
  /** spec.runtimeClassName podhooks set (validation.placement.mode assign); the pod set none. */
  runtimeClassName?: string;
  /** The pod's own spec.terminationGracePeriodSeconds (null: unset) when podhooks raised it (post-offline). */
  terminationGracePeriodSeconds?: number | null;
  /** The podhooks.io/* annotations that drove the injection (trust.ts checks the status against them). */
  intent?: Record<string, string | null>;
}

export function emptyStatus(): InjectionStatus {
  return { version: 1, initContainers: [], containers: [], volumes: [], annotations: [], changed: {} };
}

export type Placement = 'first' | 'before-user' | 'last';

export class PodDraft {
  readonly pod: V1Pod;
  readonly status: InjectionStatus = emptyStatus();
  private readonly containerNames: Set<string>;
  private readonly volumeNames: Set<string>;
  /** How many podhooks init containers sit in front of the user's own. */
  private frontInits = 0;

  constructor(base: V1Pod) {
    const spec = base.spec!;
    this.pod = {
      ...base,
      metadata: { ...base.metadata, annotations: { ...base.metadata?.annotations } },
      spec: {
        ...spec,
        containers: [...spec.containers],
        initContainers: [...(spec.initContainers ?? [])],
        volumes: [...(spec.volumes ?? [])],
      },
    };
    this.containerNames = new Set([...spec.containers, ...(spec.initContainers ?? []), ...(spec.ephemeralContainers ?? [])].map((c) => c.name));
    this.volumeNames = new Set((spec.volumes ?? []).map((v) => v.name));
  }

  private unique(base: string, taken: Set<string>): string {
    let name = base;
    for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
    taken.add(name);
    return name;
  }

  addVolume(base: string, volume: Omit<V1Volume, 'name'>): string {
    const name = this.unique(base, this.volumeNames);
    this.pod.spec!.volumes!.push({ name, ...volume });
    this.status.volumes.push(name);
    return name;
  }

  /** Adds an init container (or, with restartPolicy Always, a native sidecar). */
  addInitContainer(base: string, container: Omit<V1Container, 'name'>, placement: Placement): string {
    const name = this.unique(base, this.containerNames);
    const inits = this.pod.spec!.initContainers!;
    const entry = { name, ...container };
    if (placement === 'last') inits.push(entry);
    else if (placement === 'first') {
      inits.unshift(entry);
      this.frontInits++;
    } else inits.splice(this.frontInits++, 0, entry);
    this.status.initContainers.push(name);
    return name;
  }

  addContainer(base: string, container: Omit<V1Container, 'name'>): string {
    const name = this.unique(base, this.containerNames);
    this.pod.spec!.containers.push({ name, ...container });
    this.status.containers.push(name);
    return name;
  }

  /** A sidecar: native (init container that keeps running) or classic (extra container). */
  addSidecar(base: string, container: Omit<V1Container, 'name'>, native: boolean, placement: Placement = 'before-user'): string {
    return native ? this.addInitContainer(base, { ...container, restartPolicy: 'Always' }, placement) : this.addContainer(base, container);
  }

  /** Replaces one of the user's app containers by `fn(copy)`; the record notes what changed. */
  updateContainer(name: string, fn: (c: V1Container, record: ContainerRecord) => V1Container): void {
    const containers = this.pod.spec!.containers;
    const i = containers.findIndex((c) => c.name === name);
    if (i < 0) throw new Error(`container ${name} not found`);
    const record = (this.status.changed[name] ??= {});
    containers[i] = fn({ ...containers[i] }, record);
  }

  /** Adds a readiness gate unless the pod already has one for this condition type. */
  addReadinessGate(conditionType: string): void {
    const spec = this.pod.spec!;
    if (spec.readinessGates?.some((g) => g.conditionType === conditionType)) return;
    spec.readinessGates = [...(spec.readinessGates ?? []), { conditionType }];
    this.status.readinessGates = [...(this.status.readinessGates ?? []), conditionType];
  }

  setAnnotation(key: string, value: string): void {
    this.pod.metadata!.annotations![key] = value;
    if (!this.status.annotations.includes(key)) this.status.annotations.push(key);
  }

  /** Sets spec.runtimeClassName on a pod that has none (placement). */
  setRuntimeClass(name: string): void {
    this.pod.spec!.runtimeClassName = name;
    this.status.runtimeClassName = name;
  }

  /** Sets spec.terminationGracePeriodSeconds, keeping the pod's own value for uninject. */
  setTerminationGracePeriod(seconds: number): void {
    const spec = this.pod.spec!;
    if (this.status.terminationGracePeriodSeconds === undefined) this.status.terminationGracePeriodSeconds = spec.terminationGracePeriodSeconds ?? null;
    spec.terminationGracePeriodSeconds = seconds;
  }

  /** True when no capability added or changed anything. */
  isEmpty(): boolean {
    const s = this.status;
    return !s.initContainers.length && !s.containers.length && !s.volumes.length && !s.annotations.length && !Object.keys(s.changed).length && s.runtimeClassName === undefined && !s.readinessGates?.length;
  }

  /** The finished pod with its status annotation; arrays the user did not have are only kept when used. */
  finish(base: V1Pod): V1Pod {
    const spec = this.pod.spec!;
    const created: InjectionStatus['created'] = [];
    for (const key of ['initContainers', 'volumes'] as const) {
      if (base.spec![key]) continue;
      if (spec[key]!.length === 0) delete spec[key];
      else created.push(key);
    }
    if (this.status.readinessGates && !base.spec!.readinessGates) created.push('readinessGates');
    if (created.length) this.status.created = created;
    this.pod.metadata!.annotations![A.status] = JSON.stringify(this.status);
    return this.pod;
  }
}

export function addEnv(c: V1Container, record: ContainerRecord, vars: V1EnvVar[]): void {
  noteCreated(c, record, 'env');
  const names = new Set(vars.map((v) => v.name));
  c.env = [...(c.env ?? []).filter((e) => !names.has(e.name)), ...vars];
  record.env = [...(record.env ?? []), ...vars.map((v) => v.name)];
}

export function addMounts(c: V1Container, record: ContainerRecord, mounts: { name: string; mountPath: string; readOnly?: boolean }[]): void {
  noteCreated(c, record, 'volumeMounts');
  c.volumeMounts = [...(c.volumeMounts ?? []), ...mounts];
  record.mounts = [...(record.mounts ?? []), ...mounts.map((m) => m.name)];
}
