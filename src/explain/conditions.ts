// A webhook's matchConditions, evaluated with a CEL implementation (@bufbuild/cel) on the
// variables the apiserver binds: object, oldObject and request.
import { run } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';

export interface MatchCondition {
  name: string;
  expression: string;
}

export interface ConditionResult {
  name: string;
  expression: string;
  /** true/false, or an error message: then failurePolicy decides (Fail rejects, Ignore skips). */
  result: boolean | string;
}

/** JSON to CEL values: objects as maps, whole numbers as CEL ints (Kubernetes' int64 fields). */
function toCel(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toCel);
  if (value && typeof value === 'object') return new Map(Object.entries(value).map(([k, v]) => [k, toCel(v)]));
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  return value;
}

export function evaluateConditions(conditions: MatchCondition[], bindings: { object: unknown; oldObject: unknown; request: unknown }): ConditionResult[] {
  const vars = { object: toCel(bindings.object), oldObject: toCel(bindings.oldObject), request: toCel(bindings.request) };
  return conditions.map(({ name, expression }) => {
    let result: unknown;
    try {
      result = run(expression, vars as never, { funcs: strings });
    } catch (err) {
      result = err;
    }
    if (typeof result === 'boolean') return { name, expression, result };
    const message = result instanceof Error ? result.message : `evaluates to ${String(result)}, not a bool`;
    return { name, expression, result: message };
  });
}
