// The validating decision's core, shared by the webhook, `podhooks validate` and the audit:
// which findings a subject (pod or template) gets, given what is known of its namespace.
// Pure: the caller reads namespace labels, and only when needsNamespaceFacts says so.
import { isDeepStrictEqual } from 'node:util';
import type { Config } from '../config';
import { asAdmitted, hookAnnotations, notEnabledFinding, ANNOTATIONS_RULE, type NamespaceFacts } from './admitted';
import { evaluate, labelExemption, namespaceExemption, needsNamespaceLabels, type Finding } from './policy';
import type { Subject } from './subject';

export interface Judgement {
  /** Why the subject is not evaluated at all. */
  exempt?: string;
  findings: Finding[];
}

/** Namespace labels matter for debug mode and for hook annotations (is injection on?). */
export function needsNamespaceFacts(subject: Subject, config: Config): boolean {
  if (namespaceExemption(subject.namespace, config)) return false;
  return needsNamespaceLabels(subject.pod, config) || hookAnnotations(subject.pod).length > 0;
}

const key = (f: Finding) => `${f.rule}\u0000${f.field}`;

function findingsFor(subject: Subject, pod: Subject['pod'], ns: NamespaceFacts, config: Config): Finding[] {
  const template = subject.workload !== undefined;
  const admitted = subject.beforeInjection ? asAdmitted(pod, subject.namespace, ns, config) : { pod, findings: [] };
  const out = [...admitted.findings, ...evaluate({ pod: admitted.pod, namespace: subject.namespace, namespaceLabels: ns.labels, namespaceLabelsError: ns.error, config })];
  if (!labelExemption(pod, config)) {
    const notEnabled = notEnabledFinding(pod, subject.namespace, ns, config, template);
    if (notEnabled) out.push(notEnabled);
  }
  return out;
}

export function judge(subject: Subject, ns: NamespaceFacts, config: Config): Judgement {
  const exempt = namespaceExemption(subject.namespace, config);
  if (exempt) return { exempt, findings: [] };
  // Scaling a ReplicaSet or relabelling a Deployment cannot add a violation to its pods.
  if (subject.workload && subject.oldPod && isDeepStrictEqual(subject.pod, subject.oldPod)) return { findings: [] };
  let findings = findingsFor(subject, subject.pod, ns, config);
  if (subject.oldPod && findings.length) {
    // Only what the update introduces: an old pod must stay deletable and relabelable.
    // Annotation errors are the exception: the new template's pods will be refused for them.
    const old = new Set(findingsFor(subject, subject.oldPod, ns, config).map(key));
    findings = findings.filter((f) => f.rule === ANNOTATIONS_RULE || !old.has(key(f)));
  }
  return { findings };
}
