// Authenticated GETs against a registry, the way `docker pull` does it: anonymous first;
// a 401 with a Bearer challenge fetches a token from the challenge's realm (with basic
// credentials when an imagePullSecret has some for the registry) and retries; a Basic
// challenge retries with the credentials. Tokens are cached until they expire, and a
// registry's Bearer realm is remembered so later lookups fetch the token first.
//
// The realm comes from the registry's answer, so it is held to the same rules as the
// registry: the access policy decides at connect time, and an https registry never
// sends anyone to a plain-http token service.
import { createHash } from 'node:crypto';
import type { RegistryCredentials } from './credentials';
import { ENTRYPOINT_HINT, fail, parseJson, registryDetail, RegistryError, statusError, transportFailure, type Purpose, type Session } from './errors';
import { LruCache } from '../lru';
import { parseWwwAuthenticate, type HttpResponse } from './transport';

const MAX_TOKEN_BYTES = 1024 * 1024;

interface TokenEntry {
  token: string;
  expiresAt: number;
}

export function credentialId(c: RegistryCredentials): string {
  return createHash('sha256').update(`${c.username}\u0000${c.password}`).digest('hex');
}

function basicAuth(c: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}

function tokenKey(params: Record<string, string>, scope: string, credential: RegistryCredentials | undefined): string {
  const who = credential ? credentialId(credential) : 'anonymous';
  return `${params.realm ?? ''}\u0000${params.service ?? ''}\u0000${scope}\u0000${who}`;
}

const header = (v: string | string[] | undefined): string => (Array.isArray(v) ? (v[0] ?? '') : (v ?? ''));

export class RegistryAuth {
  private readonly tokens: LruCache<string, TokenEntry>;
  /** Registry API host -> its Bearer realm/service, so later lookups fetch a token first. */
  private readonly challenges: LruCache<string, Record<string, string>>;

  constructor(cacheSize: number) {
    this.tokens = new LruCache(cacheSize);
    this.challenges = new LruCache(cacheSize);
  }

  clear(): void {
    this.tokens.clear();
    this.challenges.clear();
  }

  /** GET `path` on the session's registry, authenticating as the registry asks; 200 or a RegistryError. */
  async get(s: Session, path: string, accept: string | undefined, purpose: Purpose, maxBytes: number): Promise<HttpResponse> {
    const url = new URL(path, s.base);
    if (s.authorization === undefined) {
      const known = this.challenges.get(s.ref.apiHost);
      const token = known && this.cachedToken(known, `repository:${s.ref.repository}:pull`, s.credentials);
      if (token) {
        s.authorization = `Bearer ${token.token}`;
        s.usedCredential = token.credential;
        s.authFromCache = token.key;
      }
    }
    let res = await send(s, url, accept, purpose, maxBytes);
    if (res.status === 401) {
      const challenge = parseWwwAuthenticate(header(res.headers['www-authenticate']));
      if (challenge?.scheme === 'bearer' && challenge.params.realm) {
        const lasting = { ...challenge.params };
        delete lasting.scope;
        delete lasting.error;
        this.challenges.set(s.ref.apiHost, lasting);
        if (s.authFromCache) {
          this.tokens.delete(s.authFromCache);
          s.authFromCache = undefined;
        }
        const got = await this.fetchToken(s, challenge.params, challenge.params.scope || `repository:${s.ref.repository}:pull`);
        s.authorization = `Bearer ${got.token}`;
        s.usedCredential = got.credential;
        res = await send(s, url, accept, purpose, maxBytes);
      } else if (challenge?.scheme === 'basic') {
        for (const credential of s.credentials) {
          s.authorization = basicAuth(credential);
          s.usedCredential = credential;
          res = await send(s, url, accept, purpose, maxBytes);
          if (res.status !== 401) break;
        }
      }
    }
    if (res.status === 200) return res;
    throw statusError(s, res, purpose, path);
  }

  private cachedToken(params: Record<string, string>, scope: string, credentials: RegistryCredentials[]): { token: string; key: string; credential?: RegistryCredentials } | undefined {
    const tries: (RegistryCredentials | undefined)[] = credentials.length ? credentials : [undefined];
    for (const credential of tries) {
      const key = tokenKey(params, scope, credential);
      const entry = this.tokens.get(key);
      if (entry && entry.expiresAt > Date.now()) return { token: entry.token, key, ...(credential ? { credential } : {}) };
    }
    return undefined;
  }

  /** The token service's URL, or a RegistryError when the realm may not be used. */
  private realmUrl(s: Session, params: Record<string, string>, scope: string): URL {
    let realm: URL;
    try {
      realm = new URL(params.realm as string);
      if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw new Error('not http(s)');
    } catch {
      throw fail(s, 'bad-response', `the registry's Bearer challenge names an invalid token realm — check the registry's auth configuration`);
    }
    if (realm.protocol === 'http:' && s.base.protocol === 'https:') {
      throw fail(s, 'blocked', `the registry (https) names a plain-http token service ${realm.host}; podhooks does not send credentials or take tokens over plain http from an https registry — serve the token service over https, or ${ENTRYPOINT_HINT}`);
    }
    if (params.service) realm.searchParams.set('service', params.service);
    for (const sc of scope.split(' ').filter(Boolean)) realm.searchParams.append('scope', sc);
    return realm;
  }

  private async fetchToken(s: Session, params: Record<string, string>, scope: string): Promise<{ token: string; credential?: RegistryCredentials }> {
    const cached = this.cachedToken(params, scope, s.credentials);
    if (cached) return { token: cached.token, ...(cached.credential ? { credential: cached.credential } : {}) };
    const url = this.realmUrl(s, params, scope);
    const tries: (RegistryCredentials | undefined)[] = s.credentials.length ? s.credentials : [undefined];
    let last: HttpResponse | undefined;
    for (const credential of tries) {
      const headers: Record<string, string> = { 'user-agent': s.userAgent, accept: 'application/json' };
      if (credential) headers.authorization = basicAuth(credential);
      let res: HttpResponse;
      try {
        res = await s.http.get(url, headers, MAX_TOKEN_BYTES, s.signal);
      } catch (e) {
        throw transportFailure(s, e, 'token');
      }
      last = res;
      if (res.status === 200) {
        const json = parseJson(s, res, 'token service answer');
        const token = typeof json.token === 'string' && json.token ? json.token : typeof json.access_token === 'string' ? json.access_token : '';
        if (!token) throw fail(s, 'bad-response', `the token service ${url.host} answered without a token — check the registry's auth configuration`);
        const expiresIn = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : 60;
        const issuedAt = typeof json.issued_at === 'string' ? Date.parse(json.issued_at) : NaN;
        const start = Number.isFinite(issuedAt) && issuedAt <= Date.now() ? issuedAt : Date.now();
        // Renew a little early so a token never expires between cache and use.
        const expiresAt = start + expiresIn * 1000 - Math.min(10_000, (expiresIn * 1000) / 10);
        this.tokens.set(tokenKey(params, scope, credential), { token, expiresAt });
        return { token, ...(credential ? { credential } : {}) };
      }
      if (res.status !== 401 && res.status !== 403) break;
    }
    const status = last?.status ?? 0;
    if (status === 401 || status === 403) {
      const msg = s.credentials.length
        ? `the token service ${url.host} rejected the credentials for ${s.ref.registry} (HTTP ${status}) — check the username and password in the imagePullSecret, or ${ENTRYPOINT_HINT}`
        : `the token service ${url.host} refused an anonymous token (HTTP ${status}) — add an imagePullSecret with credentials for ${s.ref.registry} or ${ENTRYPOINT_HINT}`;
      throw new RegistryError(s.display, 'unauthorized', `image ${s.display}: ${msg}`, status);
    }
    throw new RegistryError(
      s.display,
      status >= 500 ? 'server-error' : 'bad-response',
      `image ${s.display}: the token service ${url.host} failed (HTTP ${status}${registryDetail(last)}) — retry later, check the registry's auth configuration, or ${ENTRYPOINT_HINT}`,
      status,
    );
  }
}

async function send(s: Session, url: URL, accept: string | undefined, purpose: Purpose, maxBytes: number): Promise<HttpResponse> {
  const headers: Record<string, string> = { 'user-agent': s.userAgent };
  if (accept) headers.accept = accept;
  if (s.authorization) headers.authorization = s.authorization;
  try {
    return await s.http.get(url, headers, maxBytes, s.signal);
  } catch (e) {
    throw transportFailure(s, e, purpose);
  }
}
