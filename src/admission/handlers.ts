// The two admission decisions, each one small function from request to response. No
// HTTP here: the server, the CLI and tests call these directly.
import type { V1Pod } from '@kubernetes/client-node';
import { compare } from 'fast-json-patch';
import type { Config } from '../config';
import { A } from '../mutate/annotations';
import { injectPrepared, preparePod, type PreparedPod } from '../mutate/inject';
import type { NamespaceFacts } from '../validate/admitted';
import { judge, needsNamespaceFacts } from '../validate/judge';
import type { Finding } from '../validate/policy';
import { subjectOf } from '../validate/subject';
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
  /** ENTRYPOINT(+CMD) per container; throws an Error whose message says what failed. */
  commands(pod: V1Pod, namespace: string | undefined, lookups: PreparedPod['imageLookups']): Promise<Record<string, string[] | Error>>;
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

export async function mutate(req: AdmissionRequest, ctx: AdmissionContext): Promise<Outcome> {
  if (!isPod(req)) return allow(req.uid, `kind ${req.kind.kind} is not mutated`);
  if (req.operation !== 'CREATE') return allow(req.uid, `operation ${req.operation} is not mutated`);
  const pod = req.object as V1Pod;
  const namespace = req.namespace || pod.metadata?.namespace;
  const prepared = preparePod(pod, ctx.config, namespace);

  let imageCommands: Record<string, string[]> | undefined;
  if (prepared.imageLookups.length && ctx.images && ctx.config.registry.enabled) {
    const answers = await ctx.images.commands(pod, namespace, prepared.imageLookups);
    imageCommands = {};
    for (const [container, answer] of Object.entries(answers)) {
      if (answer instanceof Error) prepared.errors.push(`container ${container}: ${answer.message}; set annotation podhooks.io/entrypoint.${container} or add command to the container`);
      else imageCommands[container] = answer;
    }
  }
  const result = injectPrepared(prepared, {
    config: ctx.config,
    nativeSidecars: ctx.nativeSidecars,
    namespace,
    imageCommands,
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
  return {
    response: {
      uid: req.uid,
      allowed: true,
      patchType: 'JSONPatch',
      patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
      ...(result.warnings.length ? { warnings: result.warnings.map(shortWarning) } : {}),
    },
    decision: 'patched',
  };
}

/** Warnings must stay short: the apiserver truncates them and kubectl prints each on a line. */
function shortWarning(text: string): string {
  return text.length <= 120 ? text : `${text.slice(0, 117)}...`;
}

const warningText = (f: Finding) => shortWarning(`podhooks ${f.rule}: ${f.summary ?? f.message}`);

export async function validate(req: AdmissionRequest, ctx: AdmissionContext): Promise<Outcome> {
  const subject = subjectOf(req);
  if ('skip' in subject) return allow(req.uid, subject.skip);
  const ns: NamespaceFacts = {};
  if (subject.namespace && needsNamespaceFacts(subject, ctx.config)) {
    if (!ctx.namespaces) ns.error = 'podhooks has no cluster access to read namespace labels';
    else {
      try {
        ns.labels = await ctx.namespaces.labels(subject.namespace);
      } catch (err) {
        ns.error = (err as Error).message;
      }
    }
  }
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
