// Kubernetes label selectors (metav1.LabelSelector) as the apiserver evaluates a webhook's
// namespaceSelector and objectSelector, with the reason each requirement passes or fails.
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface SelectorResult {
  matches: boolean;
  /** One line per requirement that fails, or a summary when all pass. */
  reasons: string[];
}

function shown(labels: Record<string, string>, key: string): string {
  return key in labels ? `is ${JSON.stringify(labels[key])}` : 'is not set';
}

/** An absent or empty selector matches everything, as for admission webhooks. */
export function matchSelector(selector: LabelSelector | undefined, labels: Record<string, string>): SelectorResult {
  const failed: string[] = [];
  const passed: string[] = [];
  for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) {
    (labels[key] === value ? passed : failed).push(`${key}=${value} (label ${shown(labels, key)})`);
  }
  for (const { key, operator, values = [] } of selector?.matchExpressions ?? []) {
    const has = key in labels;
    let ok: boolean;
    switch (operator) {
      case 'In':
        ok = has && values.includes(labels[key]);
        break;
      case 'NotIn':
        ok = !has || !values.includes(labels[key]);
        break;
      case 'Exists':
        ok = has;
        break;
      case 'DoesNotExist':
        ok = !has;
        break;
      default:
        // The apiserver refuses such a selector when the configuration is written.
        throw new Error(`unknown label selector operator ${JSON.stringify(operator)} for key ${key}`);
    }
    const text = `${key} ${operator}${values.length ? ` [${values.join(', ')}]` : ''} (label ${shown(labels, key)})`;
    (ok ? passed : failed).push(text);
  }
  if (failed.length) return { matches: false, reasons: failed.map((f) => `needs ${f}`) };
  return { matches: true, reasons: passed.length ? passed.map((p) => `has ${p}`) : ['matches everything'] };
}
