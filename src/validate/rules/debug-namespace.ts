// Debug mode opens a JDWP port: whoever reaches it can run any code in the JVM. So it is
// allowed only in namespaces a cluster admin labelled for it (debug.namespaceLabel).
import { A, debugRequested } from '../../mutate/annotations';
import type { Rule, Violation } from '../policy';

/** "key=value" requires that value; a bare "key" only requires the label to exist. */
function parseLabel(spec: string): { key: string; value?: string } {
  const i = spec.indexOf('=');
  return i < 0 ? { key: spec } : { key: spec.slice(0, i), value: spec.slice(i + 1) };
}

export const debugNamespace: Rule = {
  id: 'debug-namespace',
  description: 'Pods with podhooks.io/debug: "true" are allowed only in namespaces carrying the debug label (debug.namespaceLabel, default podhooks.io/debug=allowed).',
  defaultAction: 'deny',
  needsNamespaceLabels: debugRequested,
  check({ pod, namespace, namespaceLabels, namespaceLabelsError, config }): Violation[] {
    if (!debugRequested(pod)) return [];
    const label = config.debug.namespaceLabel;
    const { key, value } = parseLabel(label);
    const field = `metadata.annotations[${A.debug}]`;
    const ns = namespace ? `namespace ${namespace}` : 'the pod\'s namespace';
    if (!namespaceLabels) {
      const why = namespaceLabelsError ?? (namespace ? 'they were not read' : 'the pod has no namespace');
      return [
        {
          field,
          message: `debug mode needs ${ns} to carry label ${label}, but its labels could not be read (${why}); retry, or remove annotation ${A.debug}`,
          summary: `debug mode: labels of ${ns} could not be read`,
        },
      ];
    }
    const actual = namespaceLabels[key];
    if (actual !== undefined && (value === undefined || actual === value)) return [];
    return [
      {
        field,
        message:
          `debug mode (${A.debug}="true") is allowed only in namespaces labelled ${label}; ${ns} ` +
          `${actual === undefined ? 'has no label ' + key : `has ${key}=${actual}`}. Fix: remove the annotation, or ask a cluster admin to run ` +
          `kubectl label namespace ${namespace ?? 'NAMESPACE'} ${value === undefined ? key : label}${actual === undefined ? '' : ' --overwrite'}`,
        summary: `debug mode needs namespace label ${label}`,
      },
    ];
  },
};
