// Debug mode opens a JDWP port: whoever reaches it can run any code in the JVM. So it is
// allowed only in namespaces a cluster admin labelled for it (debug.namespaceLabel). The
// pod's own labels (validation.exemptLabels) never exempt it: the pod's author chooses them.
import { A, debugRequested } from '../../mutate/annotations';
import { celConfig, celViolation, rule, type Violation } from '../rule';
import { celQuote, cel, t, template } from '../text';

/** "key=value" requires that value; a bare "key" only requires the label to exist. */
function parseLabel(spec: string): { key: string; value?: string } {
  const i = spec.indexOf('=');
  return i < 0 ? { key: spec } : { key: spec.slice(0, i), value: spec.slice(i + 1) };
}

const message = template<'label' | 'ns' | 'state' | 'namespace' | 'arg' | 'overwrite'>(
  ({ label, ns, state, namespace, arg, overwrite }) =>
    t`debug mode (${A.debug}="true") is allowed only in namespaces labelled ${label}; ${ns} ${state}. Fix: remove the annotation, or ask a cluster admin to run kubectl label namespace ${namespace} ${arg}${overwrite}`,
);
const summary = template<'label'>(({ label }) => t`debug mode needs namespace label ${label}`);
const FIELD = `metadata.annotations[${A.debug}]`;

function celDebugNamespace(pod: string): string {
  const spec = celConfig('debugNamespaceLabel');
  const key = `${spec}.split('=')[0]`;
  const hasValue = `${spec}.contains('=')`;
  const labels = 'namespaceObject.?metadata.?labels.orValue({})';
  const present = `${key} in ${labels}`;
  const actual = `string(${labels}[${key}])`;
  const label = cel(spec);
  return (
    `${pod}.?metadata.?annotations[?${celQuote(A.debug)}].orValue('') != 'true' || ` +
    `(${present} && (!${hasValue} || ${actual} == ${spec}.substring(${spec}.indexOf('=') + 1))) ? [] : [${celViolation({
      field: FIELD,
      message: message.cel({
        label,
        ns: cel("'namespace ' + request.namespace"),
        state: cel(`${present} ? 'has ' + ${key} + '=' + ${actual} : 'has no label ' + ${key}`),
        namespace: cel('request.namespace'),
        arg: cel(`${hasValue} ? ${spec} : ${key}`),
        overwrite: cel(`${present} ? ' --overwrite' : ''`),
      }),
      summary: summary.cel({ label }),
    })}]`
  );
}

export const debugNamespace = rule({
  id: 'debug-namespace',
  description: 'Pods with podhooks.io/debug: "true" are allowed only in namespaces carrying the debug label (debug.namespaceLabel, default podhooks.io/debug=allowed); validation.exemptLabels do not apply.',
  defaultAction: 'deny',
  labelExempt: false,
  needsNamespaceLabels: debugRequested,
  check({ pod, namespace, namespaceLabels, namespaceLabelsError, config }): Violation[] {
    if (!debugRequested(pod)) return [];
    const label = config.debug.namespaceLabel;
    const { key, value } = parseLabel(label);
    const ns = namespace ? `namespace ${namespace}` : "the pod's namespace";
    if (!namespaceLabels) {
      // Webhook only: the apiserver hands a policy the namespace itself (namespaceObject).
      const why = namespaceLabelsError ?? (namespace ? 'they were not read' : 'the pod has no namespace');
      return [
        {
          field: FIELD,
          message: `debug mode needs ${ns} to carry label ${label}, but its labels could not be read (${why}); retry, or remove annotation ${A.debug}`,
          summary: `debug mode: labels of ${ns} could not be read`,
        },
      ];
    }
    const actual = namespaceLabels[key];
    if (actual !== undefined && (value === undefined || actual === value)) return [];
    return [
      {
        field: FIELD,
        message: message.text({
          label,
          ns,
          state: actual === undefined ? `has no label ${key}` : `has ${key}=${actual}`,
          namespace: namespace ?? 'NAMESPACE',
          arg: value === undefined ? key : label,
          overwrite: actual === undefined ? '' : ' --overwrite',
        }),
        summary: summary.text({ label }),
      },
    ];
  },
  cel: { violations: ({ pod }) => celDebugNamespace(pod) },
});
