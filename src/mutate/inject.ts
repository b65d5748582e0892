// Injection as a pure function of (pod, options): undo any previous injection, parse the
// annotations, then let each capability add what it needs through a PodDraft. The HTTP
// handler and the `inject` CLI both call this; neither builds patches by hand.
import type { V1Pod } from '@kubernetes/client-node';
import type { Config } from '../config';
import { A, formatAnnotationError, parseAnnotations, type HookSpec } from './annotations';
import { PodDraft } from './draft';
import { IMAGE_BIN, injectedContainerBase, NAMES, perConfig, POD_BIN } from './layout';
import { addDebug, debugErrors, debugRewritesProbes, debugWarnings } from './debug';
import { addAuthz, previousOffset, type StartOffset } from './authz';
import { addLogStreamer } from './logstream';
import { addPreOnline, PRE_ONLINE_LOG } from './preonline';
import { preStartLogFile, wrapEntrypoint } from './prestart';
import { placementFor } from './placement';
import { addPostOffline, POST_OFFLINE_LOG, postOfflineErrors, streamerLifecycle } from './postoffline';
import { ProbeError } from './probes';
import { addTrafficGate } from './traffic';
import { appsToOutlive, endSidecarsWithApps } from './sidecar-end';
import { carriedInjection, intentHolds, intentOf, placementOnly, recordMismatch, undoPrevious, withIntent, withoutStatus } from './trust';
import { readStatus, StatusError } from './uninject';
import type { ImageLookup, InjectOptions, InjectResult, PreparedPod } from './inject-types';

export type { ImageLookup, InjectOptions, InjectResult, PreparedPod } from './inject-types';

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
  prepared.namespace = namespace;
  prepared.nativeSidecars = nativeSidecars;
  try {
    const undone = undoPrevious(pod, config, namespace);
    prepared.base = undone.pod;
    prepared.previous = undone.status;
    prepared.untrustedStatus = undone.untrusted;
    prepared.keptRuntimeClass = undone.keptRuntimeClass;
  } catch (err) {
    if (err instanceof StatusError) prepared.errors.push(err.message);
    else throw err;
    return prepared;
  }
  return planInjection(prepared, config);
}

/** Parses the base's annotations and decides placement, the targets and which images to look up. */
function planInjection(prepared: PreparedPod, config: Config): PreparedPod {
  const { namespace, nativeSidecars = config.injection.nativeSidecars !== 'false' } = prepared;
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
    // Only for a container the previous injection really wrapped (it has a command now).
    const hadWrapper = prepared.original.spec?.containers.find((x) => x.name === name)?.command?.length;
    const known = hadWrapper ? prepared.previous?.changed[name]?.imageCommand : undefined;
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

/**
 * Re-injects the uninjected pod with the intent the status recorded (and the offset it
 * was given) and compares: `untrusted` says why the status does not hold; `result` is
 * that re-injection when the intent is still the pod's, so it is the answer.
 */
function checkPrevious(prepared: PreparedPod, options: InjectOptions): { untrusted?: string; result?: InjectResult } {
  const previous = prepared.previous!;
  const sameIntent = !previous.intent || intentHolds(prepared.base, previous.intent);
  const base = sameIntent ? prepared.base : withIntent(prepared.base, previous.intent!);
  const { original, namespace } = prepared;
  const check = planInjection({ original, base, previous, errors: [], imageLookups: [], namespace, nativeSidecars: options.nativeSidecars }, options.config);
  if (check.errors.length || check.imageLookups.length) return { untrusted: 'injecting the pod again from it fails, so it does not describe a podhooks injection' };
  const again = build(check, { ...options, imageCommands: {} }, previousOffset(original, previous));
  const untrusted = again.errors.length ? 'injecting the pod again from it fails' : recordMismatch(original, previous, again.changed ? again.pod : undefined);
  if (untrusted) return { untrusted };
  return sameIntent ? { result: again } : {};
}

/**
 * The result, saying that an untrusted podhooks.io/status (or its runtime class record)
 * was ignored; or a denial when it would inject a pod that already carries an injection
 * no trusted status describes (see trust.ts: the hooks would run twice).
 */
function noticed(result: InjectResult, prepared: PreparedPod): InjectResult {
  const { untrustedStatus, keptRuntimeClass } = prepared;
  const notice = untrustedStatus ? `${A.status} was ignored: ${untrustedStatus}` : `${A.status}: ${keptRuntimeClass}`;
  const carried = !prepared.previous && addsContainers(result, prepared.original) ? carriedInjection(prepared.original) : undefined;
  if (carried) {
    const errors = untrustedStatus ? [notice, doubleInjection(carried, `that its ${A.status} does not describe`)] : [doubleInjection(carried, `but no ${A.status} that says so`)];
    return { pod: prepared.original, changed: false, errors, warnings: [], ...(untrustedStatus ? { untrustedStatus } : {}) };
  }
  if (!untrustedStatus && !keptRuntimeClass) return result;
  const said = result.errors.length ? { ...result, errors: [notice, ...result.errors] } : { ...result, warnings: [`podhooks: ${notice}`, ...result.warnings] };
  return untrustedStatus ? { ...said, untrustedStatus } : { ...said, keptRuntimeClass };
}

/** Whether the injection adds containers (hooks, sidecars), not only a runtime class. */
function addsContainers(result: InjectResult, original: V1Pod): boolean {
  const count = (p: V1Pod) => (p.spec?.initContainers?.length ?? 0) + (p.spec?.containers?.length ?? 0);
  return result.changed && count(result.pod) > count(original);
}

function doubleInjection(carried: string, status: string): string {
  return (
    `the pod already carries a podhooks injection (${carried}) ${status}, so injecting it again would run its hooks twice ` +
    `(or be refused by the apiserver for the duplicate /podhooks/bin mount). This happens when \`podhooks inject\` ran with another configuration or tools image than this webhook's, or its ${A.status} was removed. ` +
    `Fix: inject it with the webhook's configuration (\`podhooks inject --config <the webhook's config.yaml>\`), or apply the pod as it was before injection and let the webhook inject it`
  );
}

/**
 * Why the pod's podhooks.io/status would not be trusted by injection, or undefined (also
 * when it has none). Throws StatusError when it is not JSON of the known format.
 */
export function statusDistrust(pod: V1Pod, options: InjectOptions): string | undefined {
  const prepared = preparePod(pod, options.config, options.namespace ?? pod.metadata?.namespace, options.nativeSidecars);
  if (prepared.untrustedStatus) return prepared.untrustedStatus;
  if (!prepared.previous) {
    if (!readStatus(pod)) return undefined;
    return `it cannot be checked: ${prepared.skip ?? prepared.errors.join('; ')}`;
  }
  return placementOnly(prepared.previous) ? undefined : checkPrevious(prepared, options).untrusted;
}

export function injectPrepared(prepared: PreparedPod, options: InjectOptions): InjectResult {
  if (prepared.errors.length) return noticed({ pod: prepared.original, changed: false, errors: prepared.errors, warnings: [] }, prepared);
  let offset = options.authzStartOffsetMs;
  // A status that records only a runtime class (placement) was checked when it was undone;
  // there is no hook injection to compare.
  if (prepared.previous && !placementOnly(prepared.previous)) {
    const checked = checkPrevious(prepared, options);
    if (checked.result) return noticed(checked.result, prepared);
    if (checked.untrusted) {
      const { original, namespace, nativeSidecars } = prepared;
      return injectPrepared(planInjection({ original, base: withoutStatus(original), errors: [], imageLookups: [], namespace, nativeSidecars, untrustedStatus: checked.untrusted }, options.config), options);
    }
    // The offset is only reused from a status that passed the check: one pacing token per pod.
    offset = previousOffset(prepared.original, prepared.previous) ?? offset;
  }
  return noticed(build(prepared, options, offset), prepared);
}

function build(prepared: PreparedPod, options: InjectOptions, offset: StartOffset | undefined): InjectResult {
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
      const tools = perConfig(config, `tools ${bin}`, () => ({
        ...injectedContainerBase(config),
        command: [`${IMAGE_BIN}/busybox`, 'cp', '-R', `${IMAGE_BIN}/.`, `${POD_BIN}/`],
        volumeMounts: [{ name: bin, mountPath: POD_BIN }],
      }));
      draft.addInitContainer(NAMES.toolsInit, tools, 'before-user');
    }
    if (spec.logStream) {
      const files = [
        ...(wrapsEntrypoint ? spec.containers.map(preStartLogFile) : []),
        ...(spec.preOnline ? [PRE_ONLINE_LOG] : []),
        ...(spec.postOffline ? [POST_OFFLINE_LOG] : []),
      ];
      addLogStreamer(draft, files, config, logs, native, spec.postOffline && streamerLifecycle(spec.postOffline));
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
    if (spec.debug) addDebug(draft, spec.debug, config, bin, native, options.debugAllowFrom);
    if (prepared.placement) draft.setRuntimeClass(prepared.placement.runtimeClass);
    addTrafficGate(draft, spec.traffic);
    if (run) endSidecarsWithApps(draft, outlive, { bin, run });
    // Last, so the pacing token is only taken once nothing else can fail.
    if (spec.authz) addAuthz(draft, base, spec.authz, config, offset);
  } catch (err) {
    if (err instanceof ProbeError) return { pod: original, changed: false, errors: [err.message], warnings: [] };
    throw err;
  }
  if (draft.isEmpty()) return unchanged('nothing to inject');
  if (hooks) draft.status.targets = spec.containers;
  draft.status.intent = intentOf(base, draft.pod, draft.status.annotations);
  const warnings = spec.debug ? debugWarnings(base, spec.debug) : [];
  return { pod: draft.finish(base), changed: true, errors: [], warnings, placement: prepared.placement };
}

/** Offline injection (CLI, tests): no registry, so containers without a command need the entrypoint annotation. */
export function injectPod(pod: V1Pod, options: InjectOptions): InjectResult {
  return injectPrepared(preparePod(pod, options.config, options.namespace ?? pod.metadata?.namespace, options.nativeSidecars), options);
}
