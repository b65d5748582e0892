// Offline input for `inject` and `validate`: YAML or JSON, one or many documents, Lists,
// and every workload kind that carries a pod template. Pods inside are presented as Pods
// so the CLI runs exactly the webhook's code.
import type { V1Pod, V1PodTemplateSpec } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';

export class InputError extends Error {}

type Obj = Record<string, any>;

const TEMPLATE_PATHS: Record<string, string[]> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

/** The API group of each workload kind podhooks reads pod templates from. */
export const WORKLOAD_GROUPS: Record<string, string> = {
  Deployment: 'apps',
  StatefulSet: 'apps',
  DaemonSet: 'apps',
  ReplicaSet: 'apps',
  ReplicationController: '',
  Job: 'batch',
  CronJob: 'batch',
};

/** A workload's pod template presented as the pod it makes, or undefined when it has none. */
export function templatePod(obj: Obj, kind: string, namespace?: string): V1Pod | undefined {
  const path = TEMPLATE_PATHS[kind];
  if (!path) return undefined;
  let template: any = obj;
  for (const key of path) template = template?.[key];
  if (!template || typeof template !== 'object' || !template.spec) return undefined;
  const t = template as V1PodTemplateSpec;
  return { apiVersion: 'v1', kind: 'Pod', metadata: { ...t.metadata, namespace }, spec: t.spec };
}

export interface PodSlot {
  /** Human-readable location: "document 2 (Deployment web)". */
  where: string;
  kind: string;
  namespace?: string;
  pod: V1Pod;
  /** Writes the (mutated) pod back into the document. */
  replace(pod: V1Pod): void;
}

export function parseDocuments(text: string, source: string): Obj[] {
  const docs = parseAllDocuments(text);
  const out: Obj[] = [];
  docs.forEach((doc, i) => {
    if (doc.errors.length) {
      const e = doc.errors[0];
      throw new InputError(`${source}: document ${i + 1} is not valid YAML/JSON: ${e.message.split('\n')[0]}`);
    }
    const value = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    if (typeof value !== 'object' || Array.isArray(value)) throw new InputError(`${source}: document ${i + 1} is not a Kubernetes object (expected a mapping with apiVersion and kind)`);
    out.push(value);
  });
  if (out.length === 0) throw new InputError(`${source}: no Kubernetes objects found`);
  return out;
}

function describe(obj: Obj, index: string): string {
  return `${index} (${obj.kind ?? 'unknown kind'} ${obj.metadata?.name ?? obj.metadata?.generateName ?? '<unnamed>'})`;
}

/** Every pod (or pod template presented as a pod) in the documents, in order. */
export function podSlots(docs: Obj[], source: string): PodSlot[] {
  const slots: PodSlot[] = [];
  const visit = (obj: Obj, index: string, parentNamespace?: string) => {
    if (!obj || typeof obj !== 'object') throw new InputError(`${source}: ${index} is not an object`);
    if (typeof obj.kind !== 'string' || typeof obj.apiVersion !== 'string') throw new InputError(`${source}: ${index} has no apiVersion/kind; is this a Kubernetes manifest?`);
    const namespace = obj.metadata?.namespace ?? parentNamespace;
    if (obj.kind === 'List' || (obj.kind.endsWith('List') && Array.isArray(obj.items))) {
      if (!Array.isArray(obj.items)) throw new InputError(`${source}: ${describe(obj, index)} has no items array`);
      obj.items.forEach((item: Obj, j: number) => visit(item, `${index} item ${j + 1}`, parentNamespace));
      return;
    }
    if (obj.kind === 'Pod') {
      slots.push({
        where: describe(obj, index),
        kind: 'Pod',
        namespace,
        pod: obj as V1Pod,
        replace: (pod) => {
          for (const k of Object.keys(obj)) delete obj[k];
          Object.assign(obj, pod);
        },
      });
      return;
    }
    const path = TEMPLATE_PATHS[obj.kind];
    if (!path) return; // Services, ConfigMaps, ... pass through untouched, as with kubectl apply.
    let parent: Obj = obj;
    for (const key of path.slice(0, -1)) {
      if (!parent[key] || typeof parent[key] !== 'object') throw new InputError(`${source}: ${describe(obj, index)} has no ${path.join('.')}`);
      parent = parent[key];
    }
    const last = path[path.length - 1];
    const template = parent[last] as V1PodTemplateSpec | undefined;
    if (!template || typeof template !== 'object' || !template.spec) throw new InputError(`${source}: ${describe(obj, index)} has no ${path.join('.')}.spec`);
    slots.push({
      where: describe(obj, index),
      kind: obj.kind,
      namespace,
      pod: templatePod(obj, obj.kind, namespace)!,
      replace: (pod) => {
        const { namespace: _ns, ...metadata } = pod.metadata ?? {};
        parent[last] = { ...template, metadata: Object.keys(metadata).length ? metadata : undefined, spec: pod.spec };
        if (parent[last].metadata === undefined) delete parent[last].metadata;
      },
    });
  };
  docs.forEach((doc, i) => visit(doc, `document ${i + 1}`));
  return slots;
}

export function toYaml(docs: Obj[]): string {
  return docs.map((d) => stringify(d, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');
}
