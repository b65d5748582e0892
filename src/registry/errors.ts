// What a failed registry lookup says. Every message names the image, what failed and the
// way out; nothing a remote server sent is echoed beyond a status, a distribution error
// code and a sanitised media type (a registry, redirect target or token service is
// chosen by the pod author, so its bodies may be anything, including internal secrets).
import type { RegistryCredentials } from './credentials';
import type { ImageReference } from './reference';
import { TransportError, type HttpResponse, type RegistryHttp } from './transport';
import { isObject } from './credentials';

export type RegistryErrorCode =
  | 'invalid-reference'
  | 'not-found'
  | 'unauthorized'
  | 'denied'
  | 'rate-limited'
  | 'timeout'
  | 'cancelled'
  | 'blocked'
  | 'network'
  | 'tls'
  | 'platform'
  | 'bad-response'
  | 'digest-mismatch'
  | 'unsupported'
  | 'server-error'
  | 'internal';

/** The only error imageConfig() throws. */
export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  constructor(
    /** The image reference as the pod spec wrote it. */
    readonly image: string,
    readonly code: RegistryErrorCode,
    message: string,
    /** HTTP status of the failing answer, when there was one. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/** What every "cannot learn the entrypoint" message offers as the way out. */
export const ENTRYPOINT_HINT = 'set podhooks.io/entrypoint.<container>';

/** One lookup: the image, the credentials that apply, and the deadline every request shares. */
export interface Session {
  ref: ImageReference;
  /** The reference as written, for messages. */
  display: string;
  base: URL;
  credentials: RegistryCredentials[];
  authorization?: string;
  /** The credential whose token / basic auth is in `authorization`. */
  usedCredential?: RegistryCredentials;
  /** A token taken from the cache, not fetched for this request. */
  authFromCache?: string;
  /** Aborted at the lookup's deadline (registry.timeoutMs) or when every caller gave up. */
  signal: AbortSignal;
  deadlineMs: number;
  http: RegistryHttp;
  userAgent: string;
}

export type Purpose = 'manifest' | 'platform-manifest' | 'config' | 'token';

export function fail(s: Pick<Session, 'display'>, code: RegistryErrorCode, text: string, status?: number): RegistryError {
  return new RegistryError(s.display, code, `image ${s.display}: ${text}`, status);
}

/** A remote string (media type, digest, realm) shown only when it is a short plain token. */
export function shown(value: unknown): string {
  return typeof value === 'string' && /^[\w.+/:@=-]{1,100}$/.test(value) ? JSON.stringify(value) : '(not shown: unexpected characters or length)';
}

/** `: CODE` from a distribution error body (`{"errors":[{"code":"DENIED",...}]}`), or ''. */
export function registryDetail(res: HttpResponse | undefined): string {
  if (!res) return '';
  try {
    const json = JSON.parse(res.body.toString('utf8')) as unknown;
    if (isObject(json) && Array.isArray(json.errors) && isObject(json.errors[0])) {
      const code = json.errors[0].code;
      return typeof code === 'string' && /^[A-Z][A-Z_]{0,39}$/.test(code) ? `: ${code}` : '';
    }
  } catch {
    // not a distribution error body
  }
  return '';
}

export function transportFailure(s: Session, e: unknown, purpose: Purpose): RegistryError {
  if (e instanceof RegistryError) return e;
  const t = e instanceof TransportError ? e : new TransportError('network', (e as Error)?.message ?? String(e), s.base);
  const host = t.url.host;
  const what = purpose === 'token' ? `token service ${host}` : `registry ${host}`;
  const where = `GET ${t.url.pathname}`;
  switch (t.kind) {
    case 'timeout':
      return fail(
        s,
        'timeout',
        `the registry lookup did not finish within ${s.deadlineMs} ms (registry.timeoutMs covers the whole lookup: manifests, token, redirects; it stopped at ${where} on ${host}) — check that the webhook can reach ${host} (network policies, proxy, DNS) and that the registry is healthy, or ${ENTRYPOINT_HINT}`,
      );
    case 'cancelled':
      return fail(s, 'cancelled', `the registry lookup was stopped at ${where} on ${host}: ${t.message}`);
    case 'blocked':
      return fail(s, 'blocked', `refused to connect to ${what}: ${t.message} — a cluster admin can list it there if podhooks should read images from it, or ${ENTRYPOINT_HINT}`);
    case 'downgrade':
      return fail(s, 'blocked', `${what}: ${t.message}; podhooks never follows a registry from https to plain http — fix the registry's redirect, or ${ENTRYPOINT_HINT}`);
    case 'tls':
      return fail(
        s,
        'tls',
        `TLS connection to ${what} failed (${t.message}) — if ${s.ref.registry} serves plain HTTP add it to the insecure registries; if its certificate comes from a private CA add that CA to the webhook's trusted registry CAs; or ${ENTRYPOINT_HINT}`,
      );
    case 'too-large':
      return fail(s, 'bad-response', `the ${purpose === 'token' ? 'token' : purpose === 'config' ? 'config blob' : 'manifest'} from ${host} is too large (${t.message}) — check the image`);
    case 'redirects':
      return fail(s, 'bad-response', `${what} redirected too often (${where}) — check the registry's configuration`);
    default:
      return fail(s, 'network', `cannot connect to ${what} (${t.message}) — check the registry address and that the webhook can reach it, or ${ENTRYPOINT_HINT}`);
  }
}

export function statusError(s: Session, res: HttpResponse, purpose: Purpose, path: string): RegistryError {
  const status = res.status;
  const registry = s.ref.registry;
  const detail = registryDetail(res);
  const withCreds = s.usedCredential !== undefined;
  if (status === 404) {
    if (purpose === 'config') return fail(s, 'not-found', `config blob not found (HTTP 404, ${path}) — the registry's copy of the image is incomplete; push it again`, status);
    if (purpose === 'platform-manifest') return fail(s, 'not-found', `the platform manifest named by the index is missing (HTTP 404, ${path}) — push the image again`, status);
    return fail(s, 'not-found', `manifest not found (HTTP 404) — check the image name and ${s.ref.digest ? 'digest' : 'tag'}`, status);
  }
  if (status === 401) {
    return withCreds
      ? fail(s, 'unauthorized', `unauthorized (HTTP 401) with the credentials given for ${registry} — check the username, password and repository access in the imagePullSecret, or ${ENTRYPOINT_HINT}`, status)
      : fail(s, 'unauthorized', `unauthorized (HTTP 401) — add an imagePullSecret with credentials for ${registry} or ${ENTRYPOINT_HINT}`, status);
  }
  if (status === 403) {
    const fix = withCreds ? `the credentials for ${registry} may not pull ${s.ref.repository}; grant them pull access` : `add an imagePullSecret with credentials for ${registry}`;
    return fail(s, 'denied', `access denied (HTTP 403${detail}) — ${fix}, or ${ENTRYPOINT_HINT}`, status);
  }
  if (status === 429) {
    return fail(s, 'rate-limited', `rate-limited by ${registry} (HTTP 429) — retry later, add an imagePullSecret (authenticated pulls get higher limits), use a mirror, or ${ENTRYPOINT_HINT}`, status);
  }
  if (status >= 500) return fail(s, 'server-error', `registry ${res.url.host} failed (HTTP ${status}${detail}) — retry later or ${ENTRYPOINT_HINT}`, status);
  if (status === 400 && /HTTP request to an HTTPS server/i.test(res.body.toString('utf8'))) {
    return fail(s, 'tls', `registry ${res.url.host} serves HTTPS but is listed as an insecure (plain HTTP) registry — remove it from the insecure registries`, status);
  }
  return fail(s, 'bad-response', `unexpected answer HTTP ${status}${detail} to GET ${path} — check that ${registry} is an OCI/Docker registry, or ${ENTRYPOINT_HINT}`, status);
}

/** The body as a JSON object, or a RegistryError that names what it is not (never what it says). */
export function parseJson(s: Session, res: HttpResponse, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.body.toString('utf8'));
  } catch {
    const type = res.headers['content-type'];
    throw fail(
      s,
      'bad-response',
      `the ${what} from ${res.url.host} is not JSON (content type ${type ? shown(String(type).split(';')[0].trim()) : 'unset'}, HTTP ${res.status}) — check that ${s.ref.registry} is an OCI/Docker registry and that no proxy or login page is in the way`,
    );
  }
  if (!isObject(parsed)) throw fail(s, 'bad-response', `the ${what} from ${res.url.host} is JSON but not an object — check that ${s.ref.registry} is an OCI/Docker registry`);
  return parsed;
}
