// The registry client's HTTP layer: GETs that follow redirects under the access policy
// (access.ts) and the lookup's one deadline, responses, transport errors classified for
// messages (timeout, cancelled, refused by policy, network, TLS), and WWW-Authenticate
// challenges.
import * as http from 'node:http';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { AccessDenied, type AccessPolicy } from './access';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  url: URL;
}

export type TransportKind = 'timeout' | 'cancelled' | 'blocked' | 'downgrade' | 'network' | 'tls' | 'too-large' | 'redirects';

export class TransportError extends Error {
  constructor(
    readonly kind: TransportKind,
    message: string,
    readonly url: URL,
  ) {
    super(message);
  }
}

const TLS_ERROR_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'EPROTO',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

/** Why an aborted lookup stopped: its own deadline, or the caller (the apiserver gave up). */
export function abortKind(signal: AbortSignal): 'timeout' | 'cancelled' {
  return (signal.reason as { name?: string } | undefined)?.name === 'TimeoutError' ? 'timeout' : 'cancelled';
}

export function classifyError(e: unknown, url: URL, signal?: AbortSignal): TransportError {
  if (e instanceof TransportError) return e;
  if (e instanceof AccessDenied) return new TransportError('blocked', e.message, url);
  if (signal?.aborted) return new TransportError(abortKind(signal), abortKind(signal) === 'timeout' ? 'deadline reached' : ((signal.reason as Error | undefined)?.message ?? 'cancelled'), url);
  const err = e as NodeJS.ErrnoException;
  const code = typeof err?.code === 'string' ? err.code : '';
  const message = err?.message ?? String(e);
  if (TLS_ERROR_CODES.has(code) || /ssl|tls|certificate/i.test(message)) {
    // The host-name mismatch message lists the certificate's names, which the server chose.
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return new TransportError('tls', `${code}: the certificate is not valid for ${url.hostname}`, url);
    return new TransportError('tls', (code ? `${code}: ${message}` : message).slice(0, 160), url);
  }
  return new TransportError('network', code && !message.includes(code) ? `${code}: ${message}` : message, url);
}

const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function headerValue(v: string | string[] | undefined): string {
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
}

/** GETs for the registry client: every hop checked by the access policy, never https -> http. */
export class RegistryHttp {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  private readonly httpsAgent: https.Agent;

  constructor(
    private readonly policy: AccessPolicy,
    caCertificates?: string[],
  ) {
    const ca = caCertificates?.length ? [...tls.rootCertificates, ...caCertificates] : undefined;
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16, ...(ca ? { ca } : {}) });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** GET following redirects; Authorization is dropped when a redirect leaves the origin. */
  async get(url: URL, headers: Record<string, string>, maxBytes: number, signal: AbortSignal): Promise<HttpResponse> {
    let current = url;
    const hdrs = { ...headers };
    for (let hop = 0; ; hop++) {
      const res = await this.once(current, hdrs, maxBytes, signal);
      const location = headerValue(res.headers.location);
      if (!REDIRECTS.has(res.status) || !location) return res;
      if (hop >= MAX_REDIRECTS) throw new TransportError('redirects', `more than ${MAX_REDIRECTS} redirects`, current);
      let next: URL;
      try {
        next = new URL(location, current);
      } catch {
        throw new TransportError('network', 'redirect to an invalid URL', current);
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new TransportError('network', `redirect to unsupported scheme ${next.protocol}`, current);
      if (current.protocol === 'https:' && next.protocol === 'http:') {
        throw new TransportError('downgrade', `redirect from https to plain http (${next.host}) refused`, current);
      }
      if (next.origin !== current.origin) delete hdrs.authorization;
      current = next;
    }
  }

  private once(url: URL, headers: Record<string, string>, maxBytes: number, signal: AbortSignal): Promise<HttpResponse> {
    try {
      this.policy.checkLiteral(url);
    } catch (e) {
      return Promise.reject(classifyError(e, url, signal));
    }
    if (signal.aborted) return Promise.reject(classifyError(signal.reason, url, signal));
    const isHttps = url.protocol === 'https:';
    const request = isHttps ? https.request : http.request;
    return new Promise<HttpResponse>((resolve, reject) => {
      let settled = false;
      const finish = (err: unknown, value?: HttpResponse): void => {
        if (settled) return;
        settled = true;
        if (err !== undefined) reject(classifyError(err, url, signal));
        else resolve(value as HttpResponse);
      };
      let req: http.ClientRequest;
      try {
        req = request(url, { method: 'GET', headers, signal, agent: isHttps ? this.httpsAgent : this.httpAgent, lookup: this.policy.lookupFor(url) }, (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxBytes) {
              finish(new TransportError('too-large', `answer larger than ${maxBytes} bytes`, url));
              req.destroy();
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), url }));
          res.on('error', (e) => finish(e));
          res.on('close', () => finish(new Error('connection closed before the answer was complete')));
        });
      } catch (e) {
        finish(e);
        return;
      }
      req.on('error', (e) => finish(e));
      req.end();
    });
  }
}

export interface Challenge {
  scheme: 'bearer' | 'basic' | 'other';
  params: Record<string, string>;
}

/** Parses `Bearer realm="...",service="...",scope="..."` (first challenge only). */
export function parseWwwAuthenticate(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const schemeRaw = (m[1] ?? '').toLowerCase();
  const scheme = schemeRaw === 'bearer' ? 'bearer' : schemeRaw === 'basic' ? 'basic' : 'other';
  const params: Record<string, string> = {};
  const re = /([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/gy;
  const rest = m[2] ?? '';
  re.lastIndex = 0;
  let p: RegExpExecArray | null;
  while ((p = re.exec(rest)) !== null) {
    const name = (p[1] ?? '').toLowerCase();
    const value = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
    params[name] = value;
    if (re.lastIndex >= rest.length) break;
  }
  return { scheme, params };
}
