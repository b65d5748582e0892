// The podhooks.io/* annotation contract, parsed in exactly one place. Every bad value
// becomes an AnnotationError naming the annotation, the value and what is allowed;
// nothing is silently ignored (unknown podhooks.io/ keys included).
import type { V1Pod } from '@kubernetes/client-node';
import { containerRoles, defaultDebugContainer, selectTargets } from './targets';
import { type AnnotationError, onlyWith, parseBool, parseCheckUrl, parseDurationSeconds, parseEntrypoint, parsePort } from './annotation-values';
import { parseWarmupUrls, type Warmup } from './warmup';

export const PREFIX = 'podhooks.io/';
export const A = {
  inject: `${PREFIX}inject`,
  preStart: `${PREFIX}pre-start`,
  preStartTimeout: `${PREFIX}pre-start-timeout`,
  preOnline: `${PREFIX}pre-online`,
  checkUrl: `${PREFIX}check-url`,
  preOnlineTimeout: `${PREFIX}pre-online-timeout`,
  warmupUrls: `${PREFIX}warmup-urls`,
  warmupTimeout: `${PREFIX}warmup-timeout`,
  warmupFailure: `${PREFIX}warmup-failure`,
  postOffline: `${PREFIX}post-offline`,
  postOfflineTimeout: `${PREFIX}post-offline-timeout`,
  drainDelay: `${PREFIX}drain-delay`,
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

export type { AnnotationError };

export function formatAnnotationError(e: AnnotationError): string {
  return `annotation ${e.annotation}=${JSON.stringify(e.value)}: ${e.message}`;
}

export interface HookSpec {
  /** Explicit pod-level opt-in/out; undefined when not set. */
  inject?: boolean;
  preStart?: string;
  /** How long the preStart hook may run before it is stopped and the container fails. */
  preStartTimeoutSeconds: number;
  /** The preOnline runner: wait for checkUrl, warm up, run the script (either may be
   *  absent, not both), then mark the pod online. */
  preOnline?: { script?: string; checkUrl: string; timeoutSeconds: number; warmup?: Warmup };
  /** A preStop in the main target container: drain delay, the post-offline hook, the user's preStop. */
  postOffline?: { timeoutSeconds: number; drainSeconds: number };
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
  warmupTimeoutSeconds: number;
  warmupFailure: Warmup['failure'];
  postOfflineTimeoutSeconds: number;
  drainDelaySeconds: number;
  /** injection.excludedContainers: names or globs podhooks never targets. */
  excludedContainers: string[];
  debugPort: number;
  authzByDefault: boolean;
}

export interface ParsedAnnotations {
  spec: HookSpec;
  errors: AnnotationError[];
  /** True when any hook (preStart, preOnline, warm-up, post-offline, debug, authz, manual traffic) is requested. */
  wantsInjection: boolean;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function parseWarmup(value: string, get: (key: string) => string | undefined, defaults: ParseDefaults, errors: AnnotationError[]): Warmup | undefined {
  const requests = parseWarmupUrls(value);
  if (typeof requests === 'string') errors.push({ annotation: A.warmupUrls, value, message: requests });
  const deadline = get(A.warmupTimeout);
  const timeoutSeconds = deadline === undefined ? defaults.warmupTimeoutSeconds : parseDurationSeconds(A.warmupTimeout, deadline, errors);
  const failure = get(A.warmupFailure) ?? defaults.warmupFailure;
  if (failure !== 'fail' && failure !== 'warn') {
    errors.push({ annotation: A.warmupFailure, value: failure, message: 'must be "fail" (a failed warm-up keeps the pod unready) or "warn" (it is logged and the pod goes online)' });
  }
  if (typeof requests === 'string' || !timeoutSeconds || (failure !== 'fail' && failure !== 'warn')) return undefined;
  return { requests, timeoutSeconds, failure };
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
  const warmupUrls = get(A.warmupUrls);
  const checkUrl = get(A.checkUrl);
  const timeout = get(A.preOnlineTimeout);
  if (preOnline !== undefined || warmupUrls !== undefined) {
    // Warm-up alone still needs the runner: it waits for the check URL and marks the pod online.
    const [key, value] = preOnline !== undefined ? [A.preOnline, preOnline] : [A.warmupUrls, warmupUrls!];
    if (preOnline?.trim() === '') errors.push({ annotation: A.preOnline, value: preOnline, message: 'is empty; give a shell script or remove the annotation' });
    if (checkUrl === undefined) {
      errors.push({ annotation: key, value, message: `needs ${A.checkUrl}, the URL that must pass before the ${preOnline !== undefined ? 'hook runs' : 'warm-up starts'} (e.g. http://localhost:8080/healthcheck.html)` });
    }
    const url = checkUrl === undefined ? undefined : parseCheckUrl(A.checkUrl, checkUrl, errors);
    const seconds = timeout === undefined ? defaults.preOnlineTimeoutSeconds : parseDurationSeconds(A.preOnlineTimeout, timeout, errors);
    const warmup = warmupUrls === undefined ? undefined : parseWarmup(warmupUrls, get, defaults, errors);
    if (url && seconds && preOnline?.trim() !== '' && (warmupUrls === undefined || warmup)) spec.preOnline = { script: preOnline, checkUrl: url, timeoutSeconds: seconds, warmup };
  } else {
    onlyWith(A.checkUrl, checkUrl, `${A.preOnline} or ${A.warmupUrls}`, errors);
    onlyWith(A.preOnlineTimeout, timeout, `${A.preOnline} or ${A.warmupUrls}`, errors);
  }
  if (warmupUrls === undefined) {
    onlyWith(A.warmupTimeout, get(A.warmupTimeout), A.warmupUrls, errors);
    onlyWith(A.warmupFailure, get(A.warmupFailure), A.warmupUrls, errors);
  }

  const postOffline = get(A.postOffline);
  const postOfflineTimeout = get(A.postOfflineTimeout);
  const drainDelay = get(A.drainDelay);
  if (postOffline !== undefined) {
    if (postOffline.trim() === '') errors.push({ annotation: A.postOffline, value: postOffline, message: 'is empty; give a shell script or remove the annotation' });
    const seconds = postOfflineTimeout === undefined ? defaults.postOfflineTimeoutSeconds : parseDurationSeconds(A.postOfflineTimeout, postOfflineTimeout, errors);
    const drain = drainDelay === undefined ? defaults.drainDelaySeconds : parseDurationSeconds(A.drainDelay, drainDelay, errors, 0);
    if (postOffline.trim() !== '' && seconds && drain !== undefined) spec.postOffline = { timeoutSeconds: seconds, drainSeconds: drain };
  } else {
    onlyWith(A.postOfflineTimeout, postOfflineTimeout, A.postOffline, errors);
    onlyWith(A.drainDelay, drainDelay, A.postOffline, errors);
  }

  const containers = get(A.containers);
  const hooksRequested = preStart !== undefined || preOnline !== undefined || warmupUrls !== undefined || postOffline !== undefined;
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

  const hooks = spec.preStart !== undefined || spec.preOnline !== undefined || spec.postOffline !== undefined;
  const logStream = get(A.logStream);
  spec.logStream = logStream === undefined ? hooks : parseBool(A.logStream, logStream, errors) === true;
  if (spec.logStream && !hooks && logStream !== undefined) {
    errors.push({ annotation: A.logStream, value: logStream, message: `streams hook output, but the pod has no ${A.preStart}, ${A.preOnline}, ${A.warmupUrls} or ${A.postOffline}` });
    spec.logStream = false;
  }

  const wantsInjection = hooks || spec.debug !== undefined || spec.authz !== undefined || spec.traffic !== undefined;
  return { spec, errors, wantsInjection };
}

/** Whether the pod asks for debug mode (for the validating policy; bad values are the mutating webhook's to deny). */
export function debugRequested(pod: V1Pod): boolean {
  return pod.metadata?.annotations?.[A.debug] === 'true';
}
