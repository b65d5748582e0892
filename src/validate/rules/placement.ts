// The seed's split: offline/batch work runs in the sandbox, online work on the default
// runtime. Which pods are which comes from one pod label (validation.placement.label).
// Off unless validation.placement.enabled, because it only fits clusters that use the split.
import type { Rule, Violation } from '../policy';
import { matchesRuntimeClass } from '../policy';

export const placement: Rule = {
  id: 'placement',
  description: 'With validation.placement.enabled: pods labelled offline/batch must use the sandbox runtime class, online pods must not.',
  defaultAction: 'deny',
  check({ pod, config }): Violation[] {
    const p = config.validation.placement;
    if (!p.enabled) return [];
    const value = pod.metadata?.labels?.[p.label];
    if (value === undefined) return [];
    const field = `metadata.labels[${p.label}]`;
    const rc = pod.spec?.runtimeClassName;
    if (p.offlineValues.includes(value)) {
      if (rc === p.sandboxRuntimeClass) return [];
      return [
        {
          field: 'spec.runtimeClassName',
          message:
            `${field}="${value}" marks an offline workload, which must run sandboxed, but runtimeClassName is ${rc ? `"${rc}"` : 'unset (default runtime)'}: ` +
            `set spec.runtimeClassName: ${p.sandboxRuntimeClass}`,
          summary: `offline pod (${p.label}=${value}) must set spec.runtimeClassName: ${p.sandboxRuntimeClass}`,
        },
      ];
    }
    if (p.onlineValues.includes(value)) {
      if (!rc || !matchesRuntimeClass(rc, [...config.validation.sandboxRuntimeClasses, p.sandboxRuntimeClass])) return [];
      return [
        {
          field: 'spec.runtimeClassName',
          message: `${field}="${value}" marks an online workload, which runs on the default runtime, but runtimeClassName is "${rc}": remove spec.runtimeClassName`,
          summary: `online pod (${p.label}=${value}): remove spec.runtimeClassName "${rc}"`,
        },
      ];
    }
    // A typo in the label would otherwise place the pod nowhere without anyone noticing.
    return [
      {
        field,
        message: `${field}="${value}" is neither offline (${p.offlineValues.join(', ')}) nor online (${p.onlineValues.join(', ')}): use one of those values or remove the label`,
        summary: `label ${p.label}="${value}" is not one of ${[...p.offlineValues, ...p.onlineValues].join(', ')}`,
      },
    ];
  },
};
