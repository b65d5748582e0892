// The two admission decisions, each one small function from request to response. No
// HTTP here: the server, the CLI and tests call these directly.
import type { V1Pod } from '@kubernetes/client-node';
import { compare } from 'fast-json-patch';
import type { Config } from '../config';
import { A } from '../mutate/annotations';
import { debugAllowFrom } from '../mutate/debug';
import { injectPrepared, preparePod, type PreparedPod } from '../mutate/inject';
import { evaluate, exemption, needsNamespaceLabels, type Finding } from '../validate/policy';
import type { AdmissionRequest, AdmissionResponse } from './review';

export type Decision = 'allowed' | 'patched' | 'denied' | 'warned' | 'audited';

export interface Outcome {
  response: AdmissionResponse;
  decision: Decision;
  findings?: Finding[];
  /** Why nothing was done, for the decision log line. */
  reason?: string;
}

export interface ImageConfigSource {
  /** ENTRYPOINT(+CMD) per container, each answer or an Error whose message says what failed.
   *  `signal` fires when the apiserver stops waiting: lookups stop too. */
  commands(pod: V1Pod, namespace: string | undefined, lookups: PreparedPod['imageLookups'], signal?: AbortSignal): Promise<Record<string, string[] | Error>>;
}

export interface NamespaceLabelSource {
  /** Bounded in time; rejects with a message when the labels cannot be had. */
  labels(namespace: string): Promise<Record<string, string>>;
}

export interface AdmissionContext {
  config: Config;
  nativeSidecars: boolean;
  images?: ImageConfigSource;
  namespaces?: NamespaceLabelSource;
  /** Per-app pacing of authorization calls: start offset for this pod, in ms. A dry run
   *  must not take a token (the pod will not exist). */
  authzOffset?(pod: V1Pod, namespace: string | undefined, dryRun: boolean): number;
}

const allow = (uid: string, reason?: string): Outcome => ({ response: { uid, allowed: true }, decision: 'allowed', reason });

function isPod(req: AdmissionRequest): boolean {
  return req.kind.kind === 'Pod' && (req.kind.group ?? '') === '' && !req.subResource;
}

/** `signal` fires when the apiserver gives up on this review (its timeout, or it closed the connection). */
export async function mutate(req: AdmissionRequest, ctx: AdmissionContext, signal?: AbortSignal): Promise<Outcome> {
  if (!isPod(req)) return allow(req.uid, `kind ${req.kind.kind} is not mutated`);
  if (req.operation !== 'CREATE') return allow(req.uid, `operation ${req.operation} is not mutated`);
  const pod = req.object as V1Pod;
  const namespace = req.namespace || pod.metadata?.namespace;
  const prepared = preparePod(pod, ctx.config, namespace);

  let imageCommands: Record<string, string[]> | undefined;
  if (prepared.imageLookups.length && ctx.images && ctx.config.registry.enabled) {
    const answers = await ctx.images.commands(pod, namespace, prepared.imageLookups, signal);
    imageCommands = {};
    for (const [container, answer] of Object.entries(answers)) {
      if (answer instanceof Error) prepared.errors.push(`container ${container}: ${answer.message}; set annotation podhooks.io/entrypoint.${container} or add command to the container`);
      else imageCommands[container] = answer;
    }
  }
  const debugNetwork = await debugExposure(prepared, ctx, namespace);
  const result = injectPrepared(prepared, {
    config: ctx.config,
    nativeSidecars: ctx.nativeSidecars,
    namespace,
    imageCommands,
    debugAllowFrom: debugNetwork.allowFrom,
    // Called by injection only when it really adds the authz container (not for whitelisted-only
    // ports, denials, or a reinvocation that keeps the offset the pod already has).
    authzStartOffsetMs: ctx.authzOffset ? () => ctx.authzOffset!(pod, namespace, req.dryRun === true) : undefined,
  });

  if (result.errors.length) {
    const message = `podhooks: ${result.errors.join('; ')}`;
    if (ctx.config.injection.invalidAnnotations === 'warn') {
      return { response: { uid: req.uid, allowed: true, warnings: result.errors.map((e) => `podhooks: not injected: ${e}`) }, decision: 'warned', reason: message };
    }
    return { response: { uid: req.uid, allowed: false, status: { code: 400, reason: 'BadRequest', message } }, decision: 'denied', reason: message };
  }
  if (!result.changed) return allow(req.uid, result.skip);
  // On reinvocation the apiserver has defaulted the fields of what podhooks added
  // (terminationMessagePath, fieldRef apiVersion, ...); the same plan means no change.
  const status = (p: V1Pod) => p.metadata?.annotations?.[A.status];
  if (prepared.previous && status(result.pod) === status(pod)) return allow(req.uid, 'already injected');
  const patch = compare(pod, result.pod);
  if (patch.length === 0) return allow(req.uid, 'already injected');
  const findings = untrustedStatusFindings(result.untrustedStatus);
  if (debugNetwork.warning) result.warnings.push(debugNetwork.warning);
  return {
    response: {
      uid: req.uid,
      allowed: true,
      patchType: 'JSONPatch',
      patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
      ...(result.warnings.length ? { warnings: result.warnings.map(shortWarning) } : {}),
      ...(findings ? { auditAnnotations: { [`warn-${findings[0].rule}`]: findings[0].message } } : {}),
    },
    decision: 'patched',
    ...(findings ? { findings } : {}),
  };
}

/**
 * Where the debug port listens: on 127.0.0.1 (kubectl port-forward), or on the pod network
 * from debug.network.allowFrom only when the config or the namespace's label allows it.
 * Labels that cannot be read keep it private, and the answer says so.
 */
async function debugExposure(prepared: PreparedPod, ctx: AdmissionContext, namespace: string | undefined): Promise<{ allowFrom?: string; warning?: string }> {
  const net = ctx.config.debug.network;
  if (!prepared.parsed?.spec.debug || !net.allowFrom || net.allNamespaces) return { allowFrom: debugAllowFrom(ctx.config, undefined) };
  const privately = 'podhooks debug: port stays on 127.0.0.1 (kubectl port-forward);';
  if (!namespace || !ctx.namespaces) return { warning: `${privately} namespace labels cannot be read` };
  try {
    return { allowFrom: debugAllowFrom(ctx.config, await ctx.namespaces.labels(namespace)) };
  } catch (err) {
    return { warning: `${privately} ${(err as Error).message}` };
  }
}

/** A forged or foreign podhooks.io/status was ignored: recorded like a policy warning (log line, metric, Event). */
function untrustedStatusFindings(why: string | undefined): Finding[] | undefined {
  if (!why) return undefined;
  return [{ rule: 'untrusted-status', action: 'warn', field: `metadata.annotations['${A.status}']`, message: `ignored, injected as if absent: ${why}` }];
}

function findingKey(f: Finding): string {
  return `${f.rule}\u0000${f.field}`;
}

/** Warnings must stay short: the apiserver truncates them and kubectl prints each on a line. */
function shortWarning(text: string): string {
  return text.length <= 120 ? text : `${text.slice(0, 117)}...`;
}

const warningText = (f: Finding) => shortWarning(`podhooks ${f.rule}: ${f.summary ?? f.message}`);

export async function validate(req: AdmissionRequest, ctx: AdmissionContext): Promise<Outcome> {
  if (!isPod(req)) return allow(req.uid, `kind ${req.kind.kind} is not validated`);
  if (req.operation !== 'CREATE' && req.operation !== 'UPDATE') return allow(req.uid, `operation ${req.operation} is not validated`);
  const pod = req.object as V1Pod;
  const namespace = req.namespace || pod.metadata?.namespace;
  const exempt = exemption(pod, namespace, ctx.config);
  if (exempt) return allow(req.uid, exempt);

  let namespaceLabels: Record<string, string> | undefined;
  let namespaceLabelsError: string | undefined;
  if (namespace && needsNamespaceLabels(pod, ctx.config)) {
    if (!ctx.namespaces) namespaceLabelsError = 'podhooks has no cluster access to read namespace labels';
    else {
      try {
        namespaceLabels = await ctx.namespaces.labels(namespace);
      } catch (err) {
        namespaceLabelsError = (err as Error).message;
      }
    }
  }
  let findings = evaluate({ pod, namespace, namespaceLabels, namespaceLabelsError, config: ctx.config });
  if (req.operation === 'UPDATE' && req.oldObject && findings.length) {
    // Only what the update introduces: an old pod must stay deletable and relabelable.
    const old = new Set(evaluate({ pod: req.oldObject as V1Pod, namespace, namespaceLabels, namespaceLabelsError, config: ctx.config }).map(findingKey));
    findings = findings.filter((f) => !old.has(findingKey(f)));
  }
  if (findings.length === 0) return allow(req.uid);

  const response: AdmissionResponse = { uid: req.uid, allowed: true, auditAnnotations: {} };
  for (const f of findings) {
    const key = `${f.action}-${f.rule}`;
    const prior = response.auditAnnotations![key];
    response.auditAnnotations![key] = prior ? `${prior}; ${f.field}` : `${f.field}: ${f.message}`;
  }
  const denials = findings.filter((f) => f.action === 'deny');
  const warnings = findings.filter((f) => f.action === 'warn');
  if (warnings.length) response.warnings = warnings.map(warningText);
  if (denials.length) {
    response.allowed = false;
    response.status = { code: 403, reason: 'Forbidden', message: denials.map((f) => `podhooks ${f.rule}: ${f.message}`).join('; ') };
    return { response, decision: 'denied', findings };
  }
  return { response, decision: warnings.length ? 'warned' : 'audited', findings };
}
