// The two admission decisions, each one small function from request to response. No
// HTTP here: the server, the CLI and tests call these directly.
import type { V1Pod } from '@kubernetes/client-node';
import type { Config } from '../config';
import { A } from '../mutate/annotations';
import { startOffsetValue } from '../mutate/authz';
import { injectPrepared, preparePod, type PreparedPod } from '../mutate/inject';
import { copyOnWritePatch } from '../mutate/patch';
import { placeOnly } from '../mutate/place-only';
import { describePlacement, type PlacementPlan } from '../mutate/placement';
import { StatusError } from '../mutate/uninject';
import type { NamespaceFacts } from '../validate/admitted';
import { judge, needsNamespaceFacts } from '../validate/judge';
import type { Finding } from '../validate/policy';
import { subjectOf, type Subject } from '../validate/subject';
import { checkRuntimeClass, debugExposure, debugExposureByConfig, debugNeedsLabels, type ImageConfigSource, type NamespaceLabelSource, type RuntimeClassSource } from './outside';
import type { AdmissionRequest, AdmissionResponse } from './review';
import type { TemplateCache } from './template-cache';

export type Decision = 'allowed' | 'patched' | 'denied' | 'warned' | 'audited';

export interface Outcome {
  response: AdmissionResponse;
  decision: Decision;
  findings?: Finding[];
  /** Why nothing was done, for the decision log line; or what placement changed. */
  reason?: string;
  /** The runtime class placement assigned (metrics). */
  placement?: string;
}

export interface AdmissionContext {
  config: Config;
  nativeSidecars: boolean;
  images?: ImageConfigSource;
  namespaces?: NamespaceLabelSource;
  /** RuntimeClass lookups for placement (with cluster access only). */
  runtimeClasses?: RuntimeClassSource;
  /** Per-app pacing of authorization calls: start offset for this pod, in ms. A dry run
   *  must not take a token (the pod will not exist). */
  authzOffset?(pod: V1Pod, namespace: string | undefined, dryRun: boolean): number;
  /** /mutate's answers kept per pod template (the server's; absent: every pod is injected). */
  templates?: TemplateCache<Outcome>;
}

const allow = (uid: string, reason?: string): Outcome => ({ response: { uid, allowed: true }, decision: 'allowed', reason });

function isPod(req: AdmissionRequest): boolean {
  return req.kind.kind === 'Pod' && (req.kind.group ?? '') === '' && !req.subResource;
}

/** A decision that waited on nothing is returned as it is: a promise only when it had to
 *  wait (a registry, the API), so the common answer costs no promise round trips. */
export type Decided = Outcome | Promise<Outcome>;

/** `givenUp()`: a signal that fires when the apiserver gives up on this review (its timeout, or it
 *  closed the connection); asked for only when the answer waits on a registry. `body`: the
 *  review's bytes, kept with a kept answer so that replicas are answered before parsing. */
export function mutate(req: AdmissionRequest, ctx: AdmissionContext, givenUp?: () => AbortSignal, body?: Buffer): Decided {
  if (!isPod(req)) return allow(req.uid, `kind ${req.kind.kind} is not mutated`);
  if (req.operation !== 'CREATE') return allow(req.uid, `operation ${req.operation} is not mutated`);
  const pod = req.object as V1Pod;
  const namespace = req.namespace || pod.metadata?.namespace;
  const templates = ctx.templates?.enabled ? ctx.templates : undefined;
  const group = templates?.groupOf(pod, namespace, ctx.nativeSidecars);
  const kept = group === undefined ? undefined : templates!.answer(group, pod, req.uid, startOffsetOf(ctx, pod, namespace, req.dryRun));
  if (kept) return kept;
  const outside: Outside = { consulted: false };
  const settled = (outcome: Outcome) => {
    if (group !== undefined) templates!.settle(group, pod, outcome, outside.consulted, outside.startOffset, body);
    return outcome;
  };
  const outcome = injectReviewed(req, pod, namespace, ctx, outside, givenUp);
  return outcome instanceof Promise ? outcome.then(settled) : settled(outcome);
}

/**
 * /mutate's answer to a review that is a kept review's replica byte for byte, before it is
 * parsed (./kept-review.ts): the request (the kept one with this review's uid; its object is
 * the pod's metadata) and the answer; undefined when the review must be parsed.
 */
export function mutateRecalled(body: Buffer, ctx: AdmissionContext): { request: AdmissionRequest; outcome: Outcome } | undefined {
  const recalled = ctx.templates?.enabled ? ctx.templates.recall(body) : undefined;
  if (!recalled) return undefined;
  const request = { ...recalled.request, uid: recalled.uid };
  const pod = request.object as V1Pod;
  const outcome = ctx.templates!.answerRecalled(recalled, startOffsetOf(ctx, pod, request.namespace || pod.metadata?.namespace, request.dryRun));
  return outcome && { request, outcome };
}

/** Takes the pod's authz start offset for a kept answer: a pacing token, taken only when the
 *  pod gets the authz container (the kept answer sets an offset). */
function startOffsetOf(ctx: AdmissionContext, pod: V1Pod, namespace: string | undefined, dryRun: boolean | undefined): (() => string) | undefined {
  return ctx.authzOffset ? () => startOffsetValue(ctx.authzOffset!(pod, namespace, dryRun === true)) : undefined;
}

/** What an answer depended on besides the pod, its namespace and the config: lookups (so it
 *  is not an answer for the pod's template), and the authz start offset it set. */
interface Outside {
  consulted: boolean;
  startOffset?: string;
}

/** The injection answer to one pod, and in `outside` what else it depended on: waits only
 *  when the pod needs a registry, a RuntimeClass or namespace labels. */
function injectReviewed(req: AdmissionRequest, pod: V1Pod, namespace: string | undefined, ctx: AdmissionContext, outside: Outside, givenUp?: () => AbortSignal): Decided {
  const prepared = preparePod(pod, ctx.config, namespace, ctx.nativeSidecars);
  const registry = prepared.imageLookups.length > 0 && ctx.images !== undefined && ctx.config.registry.enabled;
  if (registry || prepared.placement || debugNeedsLabels(prepared, ctx.config)) return lookedUp(req, prepared, namespace, ctx, outside, registry, givenUp);
  return injected(req, prepared, namespace, ctx, outside, {}, debugExposureByConfig(ctx.config));
}

/** What the pod needs from outside it, then its injection. */
async function lookedUp(req: AdmissionRequest, prepared: PreparedPod, namespace: string | undefined, ctx: AdmissionContext, outside: Outside, registry: boolean, givenUp?: () => AbortSignal): Promise<Outcome> {
  outside.consulted = true;
  let imageCommands: Record<string, string[]> | undefined;
  if (registry) {
    const answers = await ctx.images!.commands(prepared.original, namespace, prepared.imageLookups, givenUp?.());
    imageCommands = {};
    for (const [container, answer] of Object.entries(answers)) {
      if (answer instanceof Error) prepared.errors.push(`container ${container}: ${answer.message}; set annotation podhooks.io/entrypoint.${container} or add command to the container`);
      else imageCommands[container] = answer;
    }
  }
  // Not an annotation problem: denied in invalidAnnotations warn mode too.
  const placement = await checkRuntimeClass(prepared.placement, ctx.runtimeClasses);
  if (placement.error) return denyPlacement(req.uid, placement.error);
  const debugNetwork = await debugExposure(prepared, ctx.config, ctx.namespaces, namespace);
  return injected(req, prepared, namespace, ctx, outside, { imageCommands, placementWarnings: placement.warnings }, debugNetwork);
}

function injected(
  req: AdmissionRequest,
  prepared: PreparedPod,
  namespace: string | undefined,
  ctx: AdmissionContext,
  outside: Outside,
  looked: { imageCommands?: Record<string, string[]>; placementWarnings?: string[] },
  debugNetwork: { allowFrom?: string; warning?: string },
): Outcome {
  const pod = prepared.original;
  const result = injectPrepared(prepared, {
    config: ctx.config,
    nativeSidecars: ctx.nativeSidecars,
    namespace,
    imageCommands: looked.imageCommands,
    debugAllowFrom: debugNetwork.allowFrom,
    // Called by injection only when it really adds the authz container (not for whitelisted-only
    // ports, denials, or a reinvocation that keeps the offset the pod already has).
    authzStartOffsetMs: ctx.authzOffset
      ? () => {
          const ms = ctx.authzOffset!(pod, namespace, req.dryRun === true);
          outside.startOffset = startOffsetValue(ms);
          return ms;
        }
      : undefined,
  });

  if (result.errors.length) {
    const message = `podhooks: ${result.errors.join('; ')}`;
    if (ctx.config.injection.invalidAnnotations === 'warn') {
      return { response: { uid: req.uid, allowed: true, warnings: result.errors.map((e) => `podhooks: not injected: ${e}`) }, decision: 'warned', reason: message };
    }
    return deny(req.uid, message);
  }
  if (!result.changed) return allow(req.uid, result.skip);
  // On reinvocation the apiserver has defaulted the fields of what podhooks added
  // (terminationMessagePath, fieldRef apiVersion, ...); the same plan means no change.
  const status = (p: V1Pod) => p.metadata?.annotations?.[A.status];
  if (prepared.previous && status(result.pod) === status(pod)) return allow(req.uid, 'already injected');
  const warnings = [...result.warnings, ...(looked.placementWarnings ?? []), ...(debugNetwork.warning ? [debugNetwork.warning] : [])];
  return patched(req, pod, result.pod, warnings, result.placement, statusFindings(result));
}

function patched(req: AdmissionRequest, pod: V1Pod, injected: V1Pod, warnings: string[], plan: PlacementPlan | undefined, findings?: Finding[]): Outcome {
  // Injection derives the pod copy-on-write, so the patch is read off what it replaced.
  const patch = copyOnWritePatch(pod, injected);
  if (patch.length === 0) return allow(req.uid, 'already injected');
  const auditAnnotations: Record<string, string> = {};
  // A change podhooks made on its own (no annotation asked for it) lands in the audit log.
  if (plan) auditAnnotations['placement-assigned'] = describePlacement(plan);
  if (findings) auditAnnotations[`warn-${findings[0].rule}`] = findings[0].message;
  return {
    response: {
      uid: req.uid,
      allowed: true,
      patchType: 'JSONPatch',
      patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
      ...(warnings.length ? { warnings: warnings.map(shortWarning) } : {}),
      ...(Object.keys(auditAnnotations).length ? { auditAnnotations } : {}),
    },
    decision: 'patched',
    ...(plan ? { reason: describePlacement(plan), placement: plan.runtimeClass } : {}),
    ...(findings ? { findings } : {}),
  };
}

/**
 * A forged or foreign podhooks.io/status was ignored, or its runtime class record was:
 * recorded like a policy warning (log line, metric, Event, audit annotation).
 */
function statusFindings(ignored: { untrustedStatus?: string; keptRuntimeClass?: string }): Finding[] | undefined {
  const message = ignored.untrustedStatus ? `ignored, injected as if absent: ${ignored.untrustedStatus}` : ignored.keptRuntimeClass;
  if (!message) return undefined;
  return [{ rule: 'untrusted-status', action: 'warn', field: `metadata.annotations['${A.status}']`, message }];
}

/**
 * The placement webhook: offline-labelled pods in any namespace, opted into hooks or
 * not. Only placement, never hooks (a pod that did not opt in gets none).
 */
export async function mutatePlacement(req: AdmissionRequest, ctx: AdmissionContext): Promise<Outcome> {
  if (!isPod(req)) return allow(req.uid, `kind ${req.kind.kind} is not mutated`);
  if (req.operation !== 'CREATE') return allow(req.uid, `operation ${req.operation} is not mutated`);
  const pod = req.object as V1Pod;
  const namespace = req.namespace || pod.metadata?.namespace;
  if (namespace && (namespace === ctx.config.namespace || ctx.config.injection.excludedNamespaces.includes(namespace))) return allow(req.uid, `namespace ${namespace} is excluded`);
  let placed: ReturnType<typeof placeOnly>;
  try {
    placed = placeOnly(pod, namespace, ctx.config, ctx.nativeSidecars);
  } catch (err) {
    if (!(err instanceof StatusError)) throw err;
    return deny(req.uid, `podhooks: ${err.message}`);
  }
  if (!placed.plan) return allow(req.uid, 'placement: nothing to assign');
  const check = await checkRuntimeClass(placed.plan, ctx.runtimeClasses);
  if (check.error) return denyPlacement(req.uid, check.error);
  // A status injection would not trust is not extended: it is replaced, and that is said.
  const ignored = placed.untrustedStatus ? [`podhooks: ${A.status} was ignored: ${placed.untrustedStatus}`] : [];
  return patched(req, pod, placed.pod, [...ignored, ...check.warnings], placed.plan, statusFindings(placed));
}

function deny(uid: string, message: string): Outcome {
  return { response: { uid, allowed: false, status: { code: 400, reason: 'BadRequest', message } }, decision: 'denied', reason: message };
}

/** A placement refusal is recorded (log, metric, Event) under the placement rule, not as a bad annotation. */
function denyPlacement(uid: string, error: string): Outcome {
  return { ...deny(uid, `podhooks: ${error}`), findings: [{ rule: 'placement', action: 'deny', field: 'spec.runtimeClassName', message: error }] };
}

/** Warnings must stay short: the apiserver truncates them and kubectl prints each on a line. */
function shortWarning(text: string): string {
  return text.length <= 120 ? text : `${text.slice(0, 117)}...`;
}

const warningText = (f: Finding) => shortWarning(`podhooks ${f.rule}: ${f.summary ?? f.message}`);

export function validate(req: AdmissionRequest, ctx: AdmissionContext): Decided {
  const subject = subjectOf(req);
  if ('skip' in subject) return allow(req.uid, subject.skip);
  if (!subject.namespace || !needsNamespaceFacts(subject, ctx.config)) return judged(req, subject, {}, ctx);
  if (!ctx.namespaces) return judged(req, subject, { error: 'podhooks has no cluster access to read namespace labels' }, ctx);
  return ctx.namespaces.labels(subject.namespace).then(
    (labels) => judged(req, subject, { labels }, ctx),
    (err: Error) => judged(req, subject, { error: err.message }, ctx),
  );
}

function judged(req: AdmissionRequest, subject: Subject, ns: NamespaceFacts, ctx: AdmissionContext): Outcome {
  const { exempt, findings } = judge(subject, ns, ctx.config);
  if (exempt) return allow(req.uid, exempt);
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
