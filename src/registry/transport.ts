// The registry client's HTTP layer: responses, transport errors classified for
// messages (timeout, network, TLS), and WWW-Authenticate challenges.
import type * as http from 'node:http';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  url: URL;
}

export type TransportKind = 'timeout' | 'network' | 'tls' | 'too-large' | 'redirects';

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

export function classifyError(e: unknown, url: URL, timedOut: boolean, timeoutMs: number): TransportError {
  if (e instanceof TransportError) return e;
  if (timedOut) return new TransportError('timeout', `no answer within ${timeoutMs} ms`, url);
  const err = e as NodeJS.ErrnoException;
  const code = typeof err?.code === 'string' ? err.code : '';
  const message = err?.message ?? String(e);
  if (TLS_ERROR_CODES.has(code) || /ssl|tls|certificate/i.test(message)) {
    return new TransportError('tls', code ? `${code}: ${message}` : message, url);
  }
  return new TransportError('network', code && !message.includes(code) ? `${code}: ${message}` : message, url);
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
