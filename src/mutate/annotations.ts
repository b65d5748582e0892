// The podhooks.io/* annotation contract, parsed in exactly one place. Every bad value
// becomes an AnnotationError naming the annotation, the value and what is allowed;
// nothing is silently ignored (unknown podhooks.io/ keys included).
import type { V1Pod } from '@kubernetes/client-node';
import { durationSeconds } from '../duration';
import { containerRoles, defaultDebugContainer, selectTargets } from './targets';

export const PREFIX = 'podhooks.io/';
export const A = {
  inject: `${PREFIX}inject`,
  preStart: `${PREFIX}pre-start`,
  preStartTimeout: `${PREFIX}pre-start-timeout`,
  preOnline: `${PREFIX}pre-online`,
  checkUrl: `${PREFIX}check-url`,
  preOnlineTimeout: `${PREFIX}pre-online-timeout`,
  containers: `${PREFIX}containers`,
  entrypoint: `${PREFIX}entrypoint.`,
  logStream: `${PREFIX}log-stream`,
  debug: `${PREFIX}debug`,
  debugPort: `${PREFIX}debug-port`,
  debugContainer: `${PREFIX}debug-container`,
  debugSuspend: `${PREFIX}debug-suspend`,
  authz: `${PREFIX}authz`,
  authzPorts: `${PREFIX}authz-ports`,
  traffic: `${PREFIX}traffic`,
  /** Written by podhooks: what it injected, so re-injection can undo it first. */
  status: `${PREFIX}status`,
  /** Written by podhooks: the authorization start offset given at admission. */
  authzOffset: `${PREFIX}authz-start-offset-ms`,
} as const;

const KNOWN = new Set<string>(Object.values(A).filter((k) => !k.endsWith('.')));

export interface AnnotationError {
  annotation: string;
  value: string;
  message: string;
}

export function formatAnnotationError(e: AnnotationError): string {
  return `annotation ${e.annotation}=${JSON.stringify(e.value)}: ${e.message}`;
}

export interface HookSpec {
  /** Explicit pod-level opt-in/out; undefined when not set. */
  inject?: boolean;
  preStart?: string;
  /** How long the preStart hook may run before it is stopped and the container fails. */
  preStartTimeoutSeconds: number;
  preOnline?: { script: string; checkUrl: string; timeoutSeconds: number };
  /** Application containers that get the preStart wrapper and the preOnline readiness gate
   *  (default: the main container; see targets.ts). */
  containers: string[];
  /** The main container (kubectl.kubernetes.io/default-container, else the first application one). */
  main?: string;
  entrypoints: Record<string, string[]>;
  logStream: boolean;
  debug?: { port: number; container: string; suspend: boolean };
  authz?: { ports?: number[] };
  /** "manual": a readiness gate keeps the pod out of its Services until `podhooks online`. */
  traffic?: 'manual';
}

export interface ParseDefaults {
  preOnlineTimeoutSeconds: number;
  preStartTimeoutSeconds: number;
  /** injection.excludedContainers: names or globs podhooks never targets. */
  excludedContainers: string[];
  debugPort: number;
  authzByDefault: boolean;
}

export interface ParsedAnnotations {
  spec: HookSpec;
  errors: AnnotationError[];
  /** True when any hook (preStart, preOnline, debug, authz, manual traffic) is requested. */
  wantsInjection: boolean;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function parseBool(key: string, value: string, errors: AnnotationError[]): boolean | undefined {
  if (value === 'true') return true;
  if (value === 'false') return false;
  errors.push({ annotation: key, value, message: 'must be "true" or "false"' });
  return undefined;
}

function parsePort(key: string, value: string, errors: AnnotationError[]): number | undefined {
  const port = /^[0-9]{1,5}$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (port >= 1 && port <= 65535) return port;
  errors.push({ annotation: key, value, message: 'must be a port number from 1 to 65535' });
  return undefined;
}

/** Accepts "300", "300s", "5m", "1h". */
function parseDurationSeconds(key: string, value: string, errors: AnnotationError[]): number | undefined {
  const seconds = durationSeconds(value);
  if (seconds !== undefined && seconds >= 1 && seconds <= 86400) return seconds;
  errors.push({ annotation: key, value, message: 'must be a duration from 1s to 24h, such as "90", "90s", "5m" or "1h"' });
  return undefined;
}

function parseCheckUrl(key: string, value: string, errors: AnnotationError[]): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    errors.push({ annotation: key, value, message: 'must be an absolute http:// or https:// URL, e.g. http://localhost:8080/healthcheck.html' });
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    errors.push({ annotation: key, value, message: `scheme ${url.protocol} is not supported; use http:// or https://` });
    return undefined;
  }
  return value;
}

function parseEntrypoint(key: string, value: string, errors: AnnotationError[]): string[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  if (Array.isArray(parsed) && parsed.length > 0 && parsed.every((s) => typeof s === 'string')) return parsed as string[];
  errors.push({ annotation: key, value, message: 'must be a non-empty JSON array of strings, e.g. ["/docker-entrypoint.sh","nginx","-g","daemon off;"]' });
  return undefined;
}

export function parseAnnotations(pod: V1Pod, defaults: ParseDefaults): ParsedAnnotations {
  const annotations = pod.metadata?.annotations ?? {};
  const labels = pod.metadata?.labels ?? {};
  const errors: AnnotationError[] = [];
  const allContainers = (pod.spec?.containers ?? []).map((c) => c.name);
  const roles = containerRoles(pod, defaults.excludedContainers);
  const appContainers = roles.application;
  const spec: HookSpec = { containers: [], main: roles.main, entrypoints: {}, logStream: false, preStartTimeoutSeconds: defaults.preStartTimeoutSeconds };
  const get = (key: string): string | undefined => annotations[key];

  // A label works too, because a webhook objectSelector can match labels but not annotations.
  const injectValue = get(A.inject) ?? labels[A.inject];
  if (injectValue !== undefined) spec.inject = parseBool(A.inject, injectValue, errors);

  for (const key of Object.keys(annotations)) {
    if (!key.startsWith(PREFIX) || KNOWN.has(key)) continue;
    if (key.startsWith(A.entrypoint)) {
      const container = key.slice(A.entrypoint.length);
      if (!allContainers.includes(container)) {
        errors.push({ annotation: key, value: annotations[key], message: `names container "${container}", which is not in spec.containers (${allContainers.join(', ') || 'none'})` });
        continue;
      }
      const ep = parseEntrypoint(key, annotations[key], errors);
      if (ep) spec.entrypoints[container] = ep;
      continue;
    }
    errors.push({
      annotation: key,
      value: annotations[key],
      message: `is not a podhooks annotation; known ones are ${[...KNOWN].filter((k) => k !== A.status && k !== A.authzOffset).join(', ')}, ${A.entrypoint}<container>`,
    });
  }

  const preStart = get(A.preStart);
  if (preStart !== undefined) {
    if (preStart.trim() === '') errors.push({ annotation: A.preStart, value: preStart, message: 'is empty; give a shell script or remove the annotation' });
    else spec.preStart = preStart;
  }
  const preStartTimeout = get(A.preStartTimeout);
  if (preStartTimeout !== undefined) {
    if (preStart === undefined) errors.push({ annotation: A.preStartTimeout, value: preStartTimeout, message: `only applies with ${A.preStart}; add the hook or remove this annotation` });
    else {
      const seconds = parseDurationSeconds(A.preStartTimeout, preStartTimeout, errors);
      if (seconds) spec.preStartTimeoutSeconds = seconds;
    }
  }

  const preOnline = get(A.preOnline);
  const checkUrl = get(A.checkUrl);
  const timeout = get(A.preOnlineTimeout);
  if (preOnline !== undefined) {
    if (preOnline.trim() === '') errors.push({ annotation: A.preOnline, value: preOnline, message: 'is empty; give a shell script or remove the annotation' });
    if (checkUrl === undefined) {
      errors.push({ annotation: A.preOnline, value: preOnline, message: `needs ${A.checkUrl}, the URL that must pass before the hook runs (e.g. http://localhost:8080/healthcheck.html)` });
    }
    const url = checkUrl === undefined ? undefined : parseCheckUrl(A.checkUrl, checkUrl, errors);
    const seconds = timeout === undefined ? defaults.preOnlineTimeoutSeconds : parseDurationSeconds(A.preOnlineTimeout, timeout, errors);
    if (url && seconds && preOnline.trim() !== '') spec.preOnline = { script: preOnline, checkUrl: url, timeoutSeconds: seconds };
  } else {
    if (checkUrl !== undefined) errors.push({ annotation: A.checkUrl, value: checkUrl, message: `only applies with ${A.preOnline}; add the hook or remove this annotation` });
    if (timeout !== undefined) errors.push({ annotation: A.preOnlineTimeout, value: timeout, message: `only applies with ${A.preOnline}; add the hook or remove this annotation` });
  }

  const containers = get(A.containers);
  const hooksRequested = preStart !== undefined || preOnline !== undefined;
  if (containers !== undefined || hooksRequested) {
    const selected = selectTargets(containers, roles, allContainers);
    if (selected.targets) spec.containers = selected.targets;
    else if (containers !== undefined) errors.push({ annotation: A.containers, value: containers, message: selected.message! });
    else if (roles.mainProblem) errors.push(roles.mainProblem);
  }

  const debug = get(A.debug);
  const debugOn = debug === undefined ? false : parseBool(A.debug, debug, errors) === true;
  const debugPort = get(A.debugPort);
  const debugContainer = get(A.debugContainer);
  const debugSuspend = get(A.debugSuspend);
  if (debugOn) {
    const port = debugPort === undefined ? defaults.debugPort : parsePort(A.debugPort, debugPort, errors);
    let container = debugContainer ?? defaultDebugContainer(roles, annotations) ?? '';
    if (debugContainer !== undefined && (!DNS_LABEL.test(debugContainer) || !appContainers.includes(debugContainer))) {
      const foreign = roles.foreign.get(debugContainer);
      errors.push({
        annotation: A.debugContainer,
        value: debugContainer,
        message: foreign ? `names a container that ${foreign}; debug mode only goes into application containers (${appContainers.join(', ')})` : `must name one of the application containers (${appContainers.join(', ')})`,
      });
      container = '';
    } else if (!container) {
      errors.push({
        annotation: A.debug,
        value: debug!,
        message: appContainers.length
          ? `the pod has ${appContainers.length} application containers; set ${A.debugContainer} to one of ${appContainers.join(', ')}`
          : `the pod has no application container to debug (${[...roles.foreign].map(([n, w]) => `${n} ${w}`).join(', ')})`,
      });
    }
    const suspend = debugSuspend === undefined ? false : parseBool(A.debugSuspend, debugSuspend, errors) === true;
    if (port && container) spec.debug = { port, container, suspend };
  }

  const authz = get(A.authz);
  const authzOn = authz === undefined ? defaults.authzByDefault : parseBool(A.authz, authz, errors) === true;
  const authzPorts = get(A.authzPorts);
  if (authzOn) {
    let ports: number[] | undefined;
    if (authzPorts !== undefined) {
      const parts = authzPorts.split(',').map((s) => s.trim()).filter(Boolean);
      ports = [];
      for (const p of parts) {
        const port = /^[0-9]{1,5}$/.test(p) ? Number(p) : NaN;
        if (port >= 1 && port <= 65535) ports.push(port);
        else {
          errors.push({ annotation: A.authzPorts, value: authzPorts, message: `"${p}" is not a port; give a comma-separated list of ports from 1 to 65535` });
          ports = undefined;
          break;
        }
      }
      if (ports && ports.length === 0) {
        errors.push({ annotation: A.authzPorts, value: authzPorts, message: 'is empty; list the ports to register, or remove the annotation to use the containers\' declared ports' });
        ports = undefined;
      }
    }
    spec.authz = { ports };
  }

  const traffic = get(A.traffic);
  if (traffic === 'manual') spec.traffic = 'manual';
  else if (traffic !== undefined && traffic !== 'auto') {
    errors.push({ annotation: A.traffic, value: traffic, message: 'must be "manual" (no Service traffic until `podhooks online`) or "auto" (traffic once ready, the default)' });
  }

  const hooks = spec.preStart !== undefined || spec.preOnline !== undefined;
  const logStream = get(A.logStream);
  spec.logStream = logStream === undefined ? hooks : parseBool(A.logStream, logStream, errors) === true;
  if (spec.logStream && !hooks && logStream !== undefined) {
    errors.push({ annotation: A.logStream, value: logStream, message: `streams hook output, but the pod has no ${A.preStart} or ${A.preOnline}` });
    spec.logStream = false;
  }

  const wantsInjection = hooks || spec.debug !== undefined || spec.authz !== undefined || spec.traffic !== undefined;
  return { spec, errors, wantsInjection };
}

/** Whether the pod asks for debug mode (for the validating policy; bad values are the mutating webhook's to deny). */
export function debugRequested(pod: V1Pod): boolean {
  return pod.metadata?.annotations?.[A.debug] === 'true';
}
