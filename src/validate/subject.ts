// What a validating admission request is about: a pod (created, updated, or given an
// ephemeral container by `kubectl debug`), or the pod template of a workload, presented as
// the pod it makes so every rule reads one shape.
import type { V1Pod } from '@kubernetes/client-node';
import type { AdmissionRequest } from '../admission/review';
import { templatePod, WORKLOAD_GROUPS } from '../workloads';

export interface Subject {
  pod: V1Pod;
  /** The pod (or template) before an UPDATE. */
  oldPod?: V1Pod;
  namespace?: string;
  /** Set for a workload's template: its kind and name ("Deployment", "web"). */
  workload?: { kind: string; name: string };
  /**
   * Not admitted yet (a workload's template, a manifest checked offline): judged as the
   * mutating webhook will admit it, after podhooks' injection.
   */
  beforeInjection?: boolean;
}

/** Subresources that change a pod's containers (others, like status, never do). */
const CONTAINER_SUBRESOURCES = new Set(['ephemeralcontainers']);

/** The subject of a request, or why podhooks does not validate it. */
export function subjectOf(req: AdmissionRequest): Subject | { skip: string } {
  if (req.operation !== 'CREATE' && req.operation !== 'UPDATE') return { skip: `operation ${req.operation} is not validated` };
  const { kind, group } = { kind: req.kind.kind, group: req.kind.group ?? '' };
  const object = req.object as Record<string, any>;
  const namespace = req.namespace || object?.metadata?.namespace;
  if (kind === 'Pod' && group === '') {
    if (req.subResource && !CONTAINER_SUBRESOURCES.has(req.subResource)) return { skip: `subresource ${req.subResource} is not validated` };
    return { pod: object as V1Pod, oldPod: req.oldObject as V1Pod | undefined, namespace };
  }
  if (WORKLOAD_GROUPS[kind] === group && !req.subResource) {
    const pod = templatePod(object, kind, namespace);
    if (!pod) return { skip: `${kind} has no pod template` };
    const oldPod = req.oldObject ? templatePod(req.oldObject as Record<string, any>, kind, namespace) : undefined;
    return { pod, oldPod, namespace, workload: { kind, name: req.name || object?.metadata?.name || object?.metadata?.generateName || '' }, beforeInjection: true };
  }
  return { skip: `kind ${kind} is not validated` };
}
