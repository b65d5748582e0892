// The seed's split: offline/batch work runs in the sandbox, online work on the default
// runtime. Which pods are which comes from one pod label (validation.placement.label).
// Off unless validation.placement.enabled, because it only fits clusters that use the split.
// "Sandboxed" is the same matcher every sandbox rule uses (kata* covers kata-fc).
import { isSandboxRuntimeClass } from '../runtime-class';
import { celConfig, celViolation, rule, type Violation } from '../rule';
import { cel, t, template, type Cel } from '../text';

const offlineMessage = template<'field' | 'value' | 'rc' | 'target'>(
  ({ field, value, rc, target }) => t`${field}="${value}" marks an offline workload, which must run sandboxed, but runtimeClassName is ${rc}: set spec.runtimeClassName: ${target}`,
);
const offlineSummary = template<'label' | 'value' | 'target'>(({ label, value, target }) => t`offline pod (${label}=${value}) must set spec.runtimeClassName: ${target}`);
const onlineMessage = template<'field' | 'value' | 'rc'>(
  ({ field, value, rc }) => t`${field}="${value}" marks an online workload, which runs on the default runtime, but runtimeClassName is "${rc}": remove spec.runtimeClassName`,
);
const onlineSummary = template<'label' | 'value' | 'rc'>(({ label, value, rc }) => t`online pod (${label}=${value}): remove spec.runtimeClassName "${rc}"`);
const unknownMessage = template<'field' | 'value' | 'offline' | 'online'>(
  ({ field, value, offline, online }) => t`${field}="${value}" is neither offline (${offline}) nor online (${online}): use one of those values or remove the label`,
);
const unknownSummary = template<'label' | 'value' | 'all'>(({ label, value, all }) => t`label ${label}="${value}" is not one of ${all}`);

/** The CEL side: every config value comes from the params, so it follows the config. */
function celPlacement(pod: string, rc: Cel, sandboxed: string): string {
  const labels = `${pod}.?metadata.?labels.orValue({})`;
  const key = celConfig('placementLabel');
  const [label, value] = [cel(key), cel(`string(${labels}[${key}])`)];
  const field = t`metadata.labels[${label}]`;
  const target = cel(celConfig('placementSandboxRuntimeClass'));
  const [offline, online] = [celConfig('placementOfflineValues'), celConfig('placementOnlineValues')];
  const rcShown = cel(`${rc.expr} != '' ? '"' + ${rc.expr} + '"' : 'unset (default runtime)'`);
  const v = (violation: string) => `[${violation}]`;
  // In assign mode the mutating placement webhook gives a template's pods the class at
  // creation, so a template without one is judged as its pods will be (as the webhook does).
  const assignedLater = `(${celConfig('placementMode')} == 'assign' && ${rc.expr} == '' && request.kind.kind != 'Pod')`;
  return (
    `${celConfig('placementEnabled')} != 'true' || !(${key} in ${labels}) ? [] : ` +
    `${value.expr} in ${offline} ? (${sandboxed} || ${assignedLater} ? [] : ${v(celViolation({ field: 'spec.runtimeClassName', message: offlineMessage.cel({ field, value, rc: rcShown, target }), summary: offlineSummary.cel({ label, value, target }) }))}) : ` +
    `${value.expr} in ${online} ? (!(${sandboxed}) ? [] : ${v(celViolation({ field: 'spec.runtimeClassName', message: onlineMessage.cel({ field, value, rc }), summary: onlineSummary.cel({ label, value, rc }) }))}) : ` +
    v(
      celViolation({
        field,
        message: unknownMessage.cel({ field, value, offline: cel(`${offline}.join(', ')`), online: cel(`${online}.join(', ')`) }),
        summary: unknownSummary.cel({ label, value, all: cel(`(${offline} + ${online}).join(', ')`) }),
      }),
    )
  );
}

export const placement = rule({
  id: 'placement',
  description: 'With validation.placement.enabled: pods labelled offline/batch must use a sandboxed runtime class, online pods must not.',
  defaultAction: 'deny',
  check({ pod, config }): Violation[] {
    const p = config.validation.placement;
    if (!p.enabled) return [];
    const value = pod.metadata?.labels?.[p.label];
    if (value === undefined) return [];
    const field = `metadata.labels[${p.label}]`;
    const rc = pod.spec?.runtimeClassName;
    const sandboxed = isSandboxRuntimeClass(rc, config);
    if (p.offlineValues.includes(value)) {
      if (sandboxed) return [];
      const target = p.sandboxRuntimeClass;
      return [{ field: 'spec.runtimeClassName', message: offlineMessage.text({ field, value, rc: rc ? `"${rc}"` : 'unset (default runtime)', target }), summary: offlineSummary.text({ label: p.label, value, target }) }];
    }
    if (p.onlineValues.includes(value)) {
      if (!sandboxed) return [];
      return [{ field: 'spec.runtimeClassName', message: onlineMessage.text({ field, value, rc: rc! }), summary: onlineSummary.text({ label: p.label, value, rc: rc! }) }];
    }
    // A typo in the label would otherwise place the pod nowhere without anyone noticing.
    return [
      {
        field,
        message: unknownMessage.text({ field, value, offline: p.offlineValues.join(', '), online: p.onlineValues.join(', ') }),
        summary: unknownSummary.text({ label: p.label, value, all: [...p.offlineValues, ...p.onlineValues].join(', ') }),
      },
    ];
  },
  cel: { violations: ({ pod, rc, sandboxed }) => celPlacement(pod, rc, sandboxed) },
});
