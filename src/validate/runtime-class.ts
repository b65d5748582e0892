// Which runtime classes are sandboxed (Kata, gVisor): one matcher for every policy rule,
// for placement (validating and assigning), for the audit and for the rendered
// ValidatingAdmissionPolicies, so `kata*` means the same everywhere.
import type { V1Pod } from '@kubernetes/client-node';
import type { Config } from '../config/schema';

/** Glob-lite: `kata*` matches kata, kata-qemu, kata-fc; anything else is an exact name. */
export function matchesRuntimeClass(name: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));
}

/** True when `runtimeClassName` is one of validation.sandboxRuntimeClasses. */
export function isSandboxRuntimeClass(runtimeClassName: string | undefined, config: Config): boolean {
  return !!runtimeClassName && matchesRuntimeClass(runtimeClassName, config.validation.sandboxRuntimeClasses);
}

/** The pod's runtimeClassName when it is sandboxed, else undefined. */
export function sandboxRuntimeClassOf(pod: V1Pod, config: Config): string | undefined {
  const rc = pod.spec?.runtimeClassName;
  return isSandboxRuntimeClass(rc, config) ? rc : undefined;
}
