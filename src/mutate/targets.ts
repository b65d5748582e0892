// Which of the pod's containers podhooks may act on, decided in one place. "Application
// containers" are spec.containers minus those another injector added (Istio, Linkerd,
// Vault agent, Dapr) and minus injection.excludedContainers; podhooks never targets or
// touches the others. The "main" container is the one kubectl picks by default: the
// kubectl.kubernetes.io/default-container annotation, else the first application container.
import type { V1Pod } from '@kubernetes/client-node';

export const DEFAULT_CONTAINER = 'kubectl.kubernetes.io/default-container';

interface Injector {
  name: string;
  /** The annotation the injector writes (or reads) on pods it injected. */
  marker: string;
  present(annotations: Record<string, string>): boolean;
  /** Container names it adds. */
  names: string[];
}

const INJECTORS: Injector[] = [
  { name: 'Istio', marker: 'sidecar.istio.io/status', present: (a) => 'sidecar.istio.io/status' in a, names: ['istio-proxy', 'istio-init', 'istio-validation'] },
  { name: 'Linkerd', marker: 'linkerd.io/proxy-version', present: (a) => 'linkerd.io/proxy-version' in a, names: ['linkerd-proxy', 'linkerd-init', 'linkerd-network-validator'] },
  { name: 'Vault agent', marker: 'vault.hashicorp.com/agent-inject-status', present: (a) => 'vault.hashicorp.com/agent-inject-status' in a, names: ['vault-agent', 'vault-agent-init'] },
  { name: 'Dapr', marker: 'dapr.io/*', present: (a) => Object.keys(a).some((k) => k.startsWith('dapr.io/')), names: ['daprd'] },
];

/** Istio lists what it added: {"initContainers":[...],"containers":[...],...}. */
function istioListed(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  try {
    const status = JSON.parse(raw) as { containers?: unknown; initContainers?: unknown };
    return [status?.containers, status?.initContainers].flatMap((l) => (Array.isArray(l) ? l.filter((n): n is string => typeof n === 'string') : []));
  } catch {
    return [];
  }
}

/** `*` matches any run of characters, `?` one; everything else literally. */
export function globMatch(pattern: string, name: string): boolean {
  return globRegExp(pattern).test(name);
}

function globRegExp(pattern: string): RegExp {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`);
}

/** injection.excludedContainers as one test, compiled once per config (the list is the config's own). */
const EXCLUDED = new WeakMap<string[], (name: string) => boolean>();

function excludedBy(patterns: string[]): (name: string) => boolean {
  let test = EXCLUDED.get(patterns);
  if (!test) {
    const globs = patterns.map(globRegExp);
    EXCLUDED.set(patterns, (test = (name) => globs.some((g) => g.test(name))));
  }
  return test;
}

export interface ContainerRoles {
  /** spec.containers that podhooks may target, in spec order. */
  application: string[];
  /** Containers podhooks never touches, with why (who added or excluded them). */
  foreign: Map<string, string>;
  /** The main container, or why there is none. */
  main?: string;
  mainProblem?: { annotation: string; value: string; message: string };
}

export function containerRoles(pod: V1Pod, excludedContainers: string[]): ContainerRoles {
  const annotations = pod.metadata?.annotations ?? {};
  const all = (pod.spec?.containers ?? []).map((c) => c.name);
  const foreign = new Map<string, string>();
  const excluded = excludedBy(excludedContainers);
  const istio = new Set(istioListed(annotations['sidecar.istio.io/status']));
  for (const name of all) {
    if (istio.has(name)) {
      foreign.set(name, 'was added by Istio (sidecar.istio.io/status)');
      continue;
    }
    const injector = INJECTORS.find((i) => i.names.includes(name) && i.present(annotations));
    if (injector) foreign.set(name, `was added by ${injector.name} (${injector.marker})`);
    else if (excluded(name)) foreign.set(name, 'is excluded by injection.excludedContainers');
  }
  const application = all.filter((n) => !foreign.has(n));
  const roles: ContainerRoles = { application, foreign };
  const chosen = annotations[DEFAULT_CONTAINER];
  if (chosen !== undefined) {
    if (application.includes(chosen)) roles.main = chosen;
    else {
      const why = foreign.has(chosen) ? `names container "${chosen}", which ${foreign.get(chosen)}` : `names no container of spec.containers (${all.join(', ')})`;
      roles.mainProblem = { annotation: DEFAULT_CONTAINER, value: chosen, message: `${why}; podhooks uses it to pick the container for the hooks. Fix it, or set podhooks.io/containers` };
    }
  } else if (application.length) roles.main = application[0];
  else {
    roles.mainProblem = {
      annotation: 'podhooks.io/containers',
      value: '',
      message: `is unset, and no container is an application container (${[...foreign].map(([n, w]) => `${n} ${w}`).join(', ')}); podhooks has no container for the hooks`,
    };
  }
  return roles;
}

const NEVER = 'podhooks never touches containers that other injectors add or the config excludes';

/**
 * The containers `podhooks.io/containers` selects: "*" = every application container,
 * else a comma list of application containers. Undefined value = the main container.
 */
export function selectTargets(value: string | undefined, roles: ContainerRoles, all: string[]): { targets?: string[]; message?: string } {
  if (value === undefined) return roles.main ? { targets: [roles.main] } : {};
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  const app = roles.application;
  if (names.length === 1 && names[0] === '*') {
    return app.length ? { targets: app } : { message: `selects every application container, but there is none (${[...roles.foreign].map(([n, w]) => `${n} ${w}`).join(', ')})` };
  }
  if (names.length === 0 || names.includes('*')) {
    return { message: `must be "*" (every application container) or a comma list of them (${app.join(', ')})` };
  }
  const unknown = names.filter((n) => !all.includes(n));
  if (unknown.length) return { message: `names ${unknown.map((n) => JSON.stringify(n)).join(', ')}, not in spec.containers (${all.join(', ')})` };
  const foreign = names.filter((n) => roles.foreign.has(n));
  if (foreign.length) return { message: `${foreign.map((n) => `names "${n}", which ${roles.foreign.get(n)}`).join('; ')}; ${NEVER}` };
  return { targets: app.filter((n) => names.includes(n)) };
}

/**
 * Debug mode's JVM when podhooks.io/debug-container is unset: the only application
 * container; with several, the one kubectl.kubernetes.io/default-container names.
 */
export function defaultDebugContainer(roles: ContainerRoles, annotations: Record<string, string>): string | undefined {
  if (roles.application.length === 1) return roles.application[0];
  return annotations[DEFAULT_CONTAINER] !== undefined ? roles.main : undefined;
}
