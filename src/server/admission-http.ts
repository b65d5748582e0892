// The admission hot path: POST /mutate and POST /validate on bare node:http(s). Read the
// body with an explicit limit, recognise a kept review's replica by its bytes (/mutate) or
// parse once, decide, serialise once. No middleware chain, no per-request object copies;
// the decision log line goes to an async destination.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseContentType } from 'content-type';
import type { AdmissionContext, Decided, Outcome } from '../admission/handlers';
import { BadReviewError, parseReview, serialiseReview, serialiseStatus, type AdmissionRequest } from '../admission/review';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';

export type Webhook = 'mutate' | 'validate' | 'placement';
/** `givenUp()` is a signal that fires when the apiserver gives up on the review: work done for
 *  it should stop. Made on the first call (a decision that waits on nothing never calls it). */
export type Decide = (req: AdmissionRequest, ctx: AdmissionContext, givenUp?: () => AbortSignal, body?: Buffer) => Decided;
/** An answer found from the review's bytes alone (a kept review's replica), or undefined. */
export type Recall = (body: Buffer, ctx: AdmissionContext) => { request: AdmissionRequest; outcome: Outcome } | undefined;

export interface AdmissionHttpOptions {
  ctx: AdmissionContext;
  decide: Record<Webhook, Decide>;
  /** Tried before parsing: answers to reviews that repeat a kept one but for per-replica values. */
  recall?: Partial<Record<Webhook, Recall>>;
  bodyLimitBytes: number;
  logger: Logger;
  metrics: Metrics;
  /** Called after the answer is written (Events, audit records); never delays it. */
  onDecision?(webhook: Webhook, req: AdmissionRequest, outcome: Outcome): void;
  /** True while draining: answers carry Connection: close so clients move on. */
  draining(): boolean;
}

const PATHS: Record<Webhook, string> = { mutate: '/mutate', validate: '/validate', placement: '/mutate/placement' };
const BY_PATH = new Map(Object.entries(PATHS).map(([webhook, path]) => [path, webhook as Webhook]));

export function webhookForPath(url: string | undefined): Webhook | undefined {
  if (!url) return undefined;
  const q = url.indexOf('?');
  return BY_PATH.get(q < 0 ? url : url.slice(0, q));
}

const GO_DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** The apiserver sends the same URL every time: its timeout is parsed once. */
let lastTimeout: { url: string; ms: number | undefined } | undefined;

/** The apiserver's `?timeout=` (a Go duration such as 5s, 1m0s or 500ms) in ms, or undefined. */
export function reviewTimeoutMs(url: string | undefined): number | undefined {
  const q = url?.indexOf('?') ?? -1;
  if (q < 0) return undefined;
  if (lastTimeout !== undefined && lastTimeout.url === url) return lastTimeout.ms;
  const ms = parseTimeout(url!, q);
  lastTimeout = { url: url!, ms };
  return ms;
}

function parseTimeout(url: string, q: number): number | undefined {
  const raw = new URLSearchParams(url.slice(q + 1)).get('timeout');
  if (!raw || !/^(?:[0-9.]+(?:ns|us|µs|ms|s|m|h))+$/.test(raw)) return undefined;
  let ms = 0;
  for (const m of raw.matchAll(/([0-9.]+)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * GO_DURATION_UNITS[m[2]];
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

/**
 * A signal that fires when the apiserver stops waiting: the connection closes before the
 * answer, or the review's timeout is nearly up (answered a little early, so a denial that
 * says why arrives instead of the apiserver's own "context deadline exceeded"). Made only
 * when a decision asks for it (one that waits on a registry): most never wait on anything.
 */
function givesUp(req: IncomingMessage, res: ServerResponse): { signal(): AbortSignal; done(): void } {
  const since = Date.now();
  let controller: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  const onClose = () => {
    if (!res.writableFinished) controller!.abort(new Error('the apiserver closed the connection before the answer'));
  };
  return {
    signal() {
      if (controller) return controller.signal;
      controller = new AbortController();
      if (req.socket.destroyed) onClose();
      else res.once('close', onClose);
      const timeout = reviewTimeoutMs(req.url);
      if (timeout) {
        const left = Math.max(timeout * 0.8, timeout - 500) - (Date.now() - since);
        timer = setTimeout(() => controller!.abort(new Error(`the apiserver's timeout for this review (${timeout / 1000}s, the webhook's timeoutSeconds) is nearly up`)), Math.max(left, 0));
      }
      return controller.signal;
    },
    done() {
      if (!controller) return;
      if (timer) clearTimeout(timer);
      res.off('close', onClose);
    },
  };
}

/** application/json by its parsed media type (any case, parameters allowed), in UTF-8. */
function isJson(header: string): boolean {
  const { type, parameters } = parseContentType(header);
  const charset = parameters.charset?.toLowerCase();
  return type === 'application/json' && (charset === undefined || charset === 'utf-8' || charset === 'utf8');
}

function reply(res: ServerResponse, code: number, body: string, close: boolean): void {
  res.writeHead(code, {
    'content-type': 'application/json',
    // A string body goes out with the headers in one write (a Buffer would be a second chunk).
    'content-length': Buffer.byteLength(body),
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(body);
}

/**
 * Plain allows and plain injections (nearly every request in a busy cluster) log at debug:
 * an injected pod records what was done in podhooks.io/status and the requests metric
 * counts it (a line per pod creation cost ~7% of a busy server's CPU). Anything
 * podhooks objected to or decided on its own (a denial, a warning, an audit finding, a
 * placement, an ignored status) logs at info. The level check keeps the line's object off
 * the hot path.
 */
function quiet(outcome: Outcome): boolean {
  return outcome.decision === 'allowed' || (outcome.decision === 'patched' && !outcome.placement && !outcome.findings && !outcome.response.warnings);
}

export function createAdmissionHandler(opts: AdmissionHttpOptions) {
  const { logger, metrics, bodyLimitBytes } = opts;
  // The labelled series of one webhook and decision, looked up once (prom-client hashes
  // the label object on every call otherwise).
  const series = new Map<string, { requests: { inc(): void }; duration: { observe(seconds: number): void } }>();
  const seriesOf = (webhook: Webhook, decision: Outcome['decision']) => {
    const key = `${webhook} ${decision}`;
    let s = series.get(key);
    if (!s) series.set(key, (s = { requests: metrics.requests.labels({ webhook, decision }), duration: metrics.duration.labels({ webhook, decision }) }));
    return s;
  };

  const fail = (res: ServerResponse, webhook: Webhook, status: number, reason: string, message: string, uid?: string) => {
    metrics.badRequests.inc({ reason });
    metrics.requests.inc({ webhook, decision: 'error' });
    logger.warn({ webhook, uid, status, reason, err: message }, 'admission request rejected');
    reply(res, status, serialiseStatus(status, message), opts.draining());
  };

  return function handleAdmission(webhook: Webhook, req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return fail(res, webhook, 405, 'method', `${req.method} is not allowed on ${PATHS[webhook]}; send POST with an AdmissionReview`);
    }
    const type = req.headers['content-type'] ?? '';
    if (!isJson(type)) {
      req.resume();
      return fail(res, webhook, 415, 'content-type', `content-type ${JSON.stringify(type.slice(0, 100))} is not supported; send application/json (charset utf-8, if any)`);
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > bodyLimitBytes) {
      req.resume();
      return fail(res, webhook, 413, 'too-large', `body of ${declared} bytes exceeds the limit of ${bodyLimitBytes} bytes (server.bodyLimitBytes)`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let aborted = false;
    req.on('data', (chunk: Buffer) => {
      if (aborted) return;
      size += chunk.length;
      if (size > bodyLimitBytes) {
        aborted = true;
        fail(res, webhook, 413, 'too-large', `body exceeds the limit of ${bodyLimitBytes} bytes (server.bodyLimitBytes)`);
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', (err) => logger.warn({ webhook, err: err.message }, 'request stream error'));
    req.on('end', () => {
      if (aborted) return;
      const start = process.hrtime.bigint();
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
      let recalled: ReturnType<Recall>;
      try {
        recalled = opts.recall?.[webhook]?.(body, opts.ctx);
      } catch (err) {
        // A bug in the shortcut costs the parse, never the answer.
        logger.error({ webhook, err: (err as Error).stack }, 'recalling a kept review failed; parsing it');
      }
      let request: AdmissionRequest;
      if (recalled) request = recalled.request;
      else {
        try {
          request = parseReview(body.toString('utf8'));
        } catch (err) {
          if (err instanceof BadReviewError) return fail(res, webhook, err.httpStatus, 'bad-review', err.message, err.uid);
          return fail(res, webhook, 400, 'bad-review', (err as Error).message);
        }
      }
      const answered = (outcome: Outcome) => {
        reply(res, 200, serialiseReview(outcome.response), opts.draining());
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        const counted = seriesOf(webhook, outcome.decision);
        counted.requests.inc();
        counted.duration.observe(seconds);
        if (outcome.placement && request.dryRun !== true) metrics.placements.inc({ runtime_class: outcome.placement });
        const level = quiet(outcome) ? 'debug' : 'info';
        if (logger.isLevelEnabled(level)) {
          logger[level](
            {
              webhook,
              uid: request.uid,
              namespace: request.namespace,
              name: request.name || (request.object as { metadata?: { generateName?: string } })?.metadata?.generateName,
              operation: request.operation,
              decision: outcome.decision,
              reason: outcome.reason,
              dryRun: request.dryRun === true,
              durationMs: Math.round(seconds * 1e6) / 1e3,
            },
            'admission decision',
          );
        }
        opts.onDecision?.(webhook, request, outcome);
      };
      const failed = (err: Error) => {
        // A bug, not bad input: answer 500 with the uid so the apiserver's failurePolicy applies.
        metrics.requests.inc({ webhook, decision: 'error' });
        logger.error({ webhook, uid: request.uid, err: err.stack ?? err.message }, 'admission handler failed');
        reply(res, 500, serialiseStatus(500, `podhooks internal error for request ${request.uid}: ${err.message}`), opts.draining());
      };
      if (recalled) return answered(recalled.outcome);
      const cancel = givesUp(req, res);
      let decided: Decided;
      try {
        decided = opts.decide[webhook](request, opts.ctx, cancel.signal, body);
      } catch (err) {
        cancel.done();
        return failed(err as Error);
      }
      // Most decisions wait on nothing and are answered here, with no promise round trips.
      if (decided instanceof Promise) decided.finally(cancel.done).then(answered, failed);
      else {
        cancel.done();
        answered(decided);
      }
    });
  };
}
