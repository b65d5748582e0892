// Injection as a pure function of (pod, options): undo any previous injection, parse the
// annotations, then let each capability add what it needs through a PodDraft. The HTTP
// handler and the `inject` CLI both call this; neither builds patches by hand.
import type { V1Pod } from '@kubernetes/client-node';
import type { Config } from '../config';
import { A, formatAnnotationError, parseAnnotations, type HookSpec, type ParsedAnnotations } from './annotations';
import { PodDraft, type InjectionStatus } from './draft';
import { IMAGE_BIN, injectedContainerBase, NAMES, POD_BIN } from './layout';
import { addDebug, debugErrors, debugRewritesProbes, debugWarnings } from './debug';
import { addAuthz, previousOffset, type StartOffset } from './authz';
import { addLogStreamer } from './logstream';
import { addPreOnline, PRE_ONLINE_LOG } from './preonline';
import { preStartLogFile, wrapEntrypoint } from './prestart';
import { placementFor, type PlacementPlan } from './placement';
import { addPostOffline, POST_OFFLINE_LOG, postOfflineErrors, streamerLifecycle } from './postoffline';
import { ProbeError } from './probes';
import { addTrafficGate } from './traffic';
import { appsToOutlive, endSidecarsWithApps } from './sidecar-end';
import { StatusError, uninject } from './uninject';

export interface ImageLookup {
  container: string;
  image: string;
  /** With spec.args the image CMD is replaced, so only the ENTRYPOINT is wanted. */
  hasArgs: boolean;
}

export interface PreparedPod {
  original: V1Pod;
  /** The pod without any previous podhooks injection. */
  base: V1Pod;
  parsed?: ParsedAnnotations;
  previous?: InjectionStatus;
  /** Why nothing is injected (excluded namespace, opt-out, no hooks requested). */
  skip?: string;
  errors: string[];
  /** preStart containers with no command and no entrypoint annotation: ask the registry. */
  imageLookups: ImageLookup[];
  /** The runtime class placement assigns (validation.placement.mode assign), with or without hooks. */
  placement?: PlacementPlan;
}

export interface InjectOptions {
  config: Config;
  nativeSidecars: boolean;
  namespace?: string;
  /** ENTRYPOINT(+CMD) per container, from the registry, for `imageLookups`. */
  imageCommands?: Record<string, string[]>;
  /** Milliseconds the authorization client waits before its first call (per-app pacing); a
   *  function is called only when the authz container is really added (it may take a token). */
  authzStartOffsetMs?: StartOffset;
}

export interface InjectResult {
  pod: V1Pod;
  changed: boolean;
  skip?: string;
  errors: string[];
  warnings: string[];
  /** Set when placement assigned the pod's runtime class. */
  placement?: PlacementPlan;
}

/** `nativeSidecars`: as InjectOptions' (it decides whether classic sidecars need the app's ENTRYPOINT). */
export function preparePod(pod: V1Pod, config: Config, namespace = pod.metadata?.namespace, nativeSidecars = config.injection.nativeSidecars !== 'false'): PreparedPod {
  const prepared: PreparedPod = { original: pod, base: pod, errors: [], imageLookups: [] };
  if (!pod?.spec || !Array.isArray(pod.spec.containers) || pod.spec.containers.length === 0) {
    prepared.errors.push('spec.containers is missing or empty; a pod needs at least one container');
    return prepared;
  }
  // The apiserver validates names only after admission; podhooks picks containers by name.
  const unnamed = pod.spec.containers.findIndex((c) => typeof c?.name !== 'string' || c.name === '');
  if (unnamed >= 0) {
    prepared.errors.push(`spec.containers[${unnamed}] has no name; every container needs one`);
    return prepared;
  }
  if (namespace && (namespace === config.namespace || config.injection.excludedNamespaces.includes(namespace))) {
    prepared.skip = `namespace ${namespace} is excluded from injection`;
    return prepared;
  }
  try {
    const undone = uninject(pod);
    prepared.base = undone.pod;
    prepared.previous = undone.status;
  } catch (err) {
    if (err instanceof StatusError) prepared.errors.push(err.message);
    else throw err;
    return prepared;
  }
  prepared.placement = placementFor(prepared.base, namespace, config);
  const parsed = parseAnnotations(prepared.base, {
    preOnlineTimeoutSeconds: config.injection.preOnlineTimeoutSeconds,
    preStartTimeoutSeconds: config.injection.preStartTimeoutSeconds,
    warmupTimeoutSeconds: config.injection.warmupTimeoutSeconds,
    warmupFailure: config.injection.warmupFailure,
    postOfflineTimeoutSeconds: config.injection.postOfflineTimeoutSeconds,
    drainDelaySeconds: config.injection.drainDelaySeconds,
    excludedContainers: config.injection.excludedContainers,
    debugPort: config.debug.defaultPort,
    authzByDefault: namespace !== undefined && config.authz.namespaceDefault.includes(namespace),
  });
  prepared.parsed = parsed;
  prepared.errors.push(...parsed.errors.map(formatAnnotationError));
  if (parsed.spec.inject === false) prepared.skip = `${A.inject} is "false"`;
  else if (!parsed.wantsInjection) prepared.skip = 'no podhooks hook, debug, authz or traffic annotation';
  if (prepared.skip || prepared.errors.length) return prepared;

  const previousTargets = prepared.previous?.targets;
  if (previousTargets && prepared.base.metadata?.annotations?.[A.containers] === undefined) {
    const kept = parsed.spec.containers.filter((c) => previousTargets.includes(c));
    if (kept.length) parsed.spec.containers = kept;
  }
  // The wrapper becomes the command of the preStart targets and of the containers that
  // classic sidecars must outlive; for both the original command must be known.
  const wrapped = new Set([...(parsed.spec.preStart !== undefined ? parsed.spec.containers : []), ...appsToOutlive(prepared.base, parsed.spec, nativeSidecars)]);
  for (const name of wrapped) {
    const c = prepared.base.spec!.containers.find((x) => x.name === name)!;
    if (c.command?.length || parsed.spec.entrypoints[name]) continue;
    const known = prepared.previous?.changed[name]?.imageCommand;
    if (known) parsed.spec.entrypoints[name] = known;
    else prepared.imageLookups.push({ container: name, image: c.image ?? '', hasArgs: !!c.args?.length });
  }
  return prepared;
}

function entrypointError(lookup: ImageLookup, reason: string, hook: boolean): string {
  const why = hook ? 'to run the pre-start hook before it' : 'to wrap it so that the classic sidecars (injection.nativeSidecars "false") end when it ends';
  return (
    `container ${lookup.container} has no command, so podhooks must know the image's ENTRYPOINT ${why}, ` +
    `and ${reason}. Fix: add command (and args) to the container, or set annotation ${A.entrypoint}${lookup.container} ` +
    `to the image's ENTRYPOINT${lookup.hasArgs ? '' : '+CMD'} as a JSON array`
  );
}

export function injectPrepared(prepared: PreparedPod, options: InjectOptions): InjectResult {
  const { original, base, parsed } = prepared;
  const unchanged = (skip?: string): InjectResult => ({ pod: base, changed: base !== original, skip, errors: [], warnings: [] });
  if (prepared.errors.length) return { pod: original, changed: false, errors: prepared.errors, warnings: [] };
  if (prepared.skip || !parsed) {
    if (!prepared.placement) return unchanged(prepared.skip);
    const draft = new PodDraft(base);
    draft.setRuntimeClass(prepared.placement.runtimeClass);
    return { pod: draft.finish(base), changed: true, skip: prepared.skip, errors: [], warnings: [], placement: prepared.placement };
  }

  const errors: string[] = [];
  const spec: HookSpec = parsed.spec;
  for (const lookup of prepared.imageLookups) {
    const command = options.imageCommands?.[lookup.container];
    if (command?.length) spec.entrypoints[lookup.container] = command;
    else errors.push(entrypointError(lookup, command ? 'the image defines neither ENTRYPOINT nor CMD' : 'the image registry was not asked (offline) or could not answer', spec.preStart !== undefined && spec.containers.includes(lookup.container)));
  }
  if (spec.debug) errors.push(...debugErrors(base, spec.debug, options.config, base.metadata?.annotations ?? {}));
  errors.push(...postOfflineErrors(base, spec, options.config));
  if (errors.length) return { pod: original, changed: false, errors, warnings: [] };

  const { config, nativeSidecars: native } = options;
  const draft = new PodDraft(base);
  const wrapsEntrypoint = spec.preStart !== undefined;
  const hooks = wrapsEntrypoint || spec.preOnline !== undefined || spec.postOffline !== undefined;
  const outlive = appsToOutlive(base, spec, native);
  const usesBin = hooks || outlive.length > 0 || (spec.debug !== undefined && debugRewritesProbes(base, spec.debug));
  const hookLogs = hooks;

  try {
    const bin = usesBin ? draft.addVolume(NAMES.binVolume, { emptyDir: {} }) : '';
    const logs = hookLogs ? draft.addVolume(NAMES.logsVolume, { emptyDir: {} }) : '';
    if (usesBin) {
      draft.addInitContainer(
        NAMES.toolsInit,
        {
          ...injectedContainerBase(config),
          command: [`${IMAGE_BIN}/busybox`, 'cp', '-R', `${IMAGE_BIN}/.`, `${POD_BIN}/`],
          volumeMounts: [{ name: bin, mountPath: POD_BIN }],
        },
        'before-user',
      );
    }
    if (spec.logStream) {
      const files = [
        ...(wrapsEntrypoint ? spec.containers.map(preStartLogFile) : []),
        ...(spec.preOnline ? [PRE_ONLINE_LOG] : []),
        ...(spec.postOffline ? [POST_OFFLINE_LOG] : []),
      ];
      addLogStreamer(draft, files, config, logs, native, spec.postOffline && streamerLifecycle(spec.postOffline, native));
    }
    const run = outlive.length ? draft.addVolume(NAMES.runVolume, { emptyDir: {} }) : undefined;
    const hooked = wrapsEntrypoint ? spec.containers : [];
    for (const name of new Set([...hooked, ...outlive])) {
      const c = base.spec!.containers.find((x) => x.name === name)!;
      const fromImage = !c.command?.length;
      const command = fromImage ? spec.entrypoints[name] : c.command!;
      wrapEntrypoint(draft, name, { command, fromImage }, { bin, logs: hooked.includes(name) ? logs : undefined, run }, spec.preStartTimeoutSeconds);
    }
    if (spec.preOnline) {
      const state = draft.addVolume(NAMES.stateVolume, { emptyDir: {} });
      addPreOnline(draft, base, { ...spec, preOnline: spec.preOnline }, config, { bin, logs, state }, native);
    }
    if (spec.postOffline) addPostOffline(draft, base, { ...spec, postOffline: spec.postOffline }, config, { bin, logs });
    if (spec.debug) addDebug(draft, spec.debug, config, bin, native);
    if (prepared.placement) draft.setRuntimeClass(prepared.placement.runtimeClass);
    addTrafficGate(draft, spec.traffic);
    if (run) endSidecarsWithApps(draft, outlive, { bin, run });
    // Last, so the pacing token is only taken once nothing else can fail.
    if (spec.authz) addAuthz(draft, base, spec.authz, config, previousOffset(original, prepared.previous) ?? options.authzStartOffsetMs);
  } catch (err) {
    if (err instanceof ProbeError) return { pod: original, changed: false, errors: [err.message], warnings: [] };
    throw err;
  }
  if (draft.isEmpty()) return unchanged('nothing to inject');
  if (hooks) draft.status.targets = spec.containers;
  const warnings = spec.debug ? debugWarnings(base, spec.debug) : [];
  return { pod: draft.finish(base), changed: true, errors: [], warnings, placement: prepared.placement };
}

/** Offline injection (CLI, tests): no registry, so containers without a command need the entrypoint annotation. */
export function injectPod(pod: V1Pod, options: InjectOptions): InjectResult {
  return injectPrepared(preparePod(pod, options.config, options.namespace ?? pod.metadata?.namespace, options.nativeSidecars), options);
}
