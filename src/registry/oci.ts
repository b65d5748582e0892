// A small client for the OCI distribution API, just enough to learn an image's
// ENTRYPOINT and CMD when a pod's container spec has no `command`:
//
//   GET /v2/<name>/manifests/<tag|digest>   (OCI index / OCI manifest / Docker list / Docker v2)
//   -> if an index: pick this client's platform, GET that manifest by digest
//   GET /v2/<name>/blobs/<config digest>    -> config.Entrypoint, config.Cmd
//
// Auth is what `docker pull` does: anonymous first; a 401 with a Bearer challenge
// fetches a token from the challenge's realm (with basic credentials when an
// imagePullSecret has some for the registry) and retries; a Basic challenge retries
// with the credentials. Tokens are cached until they expire.
//
// Caching: image configs are kept in an LRU keyed by the manifest digest the
// reference resolves to (content addressed, so never stale); tags are mapped to
// digests for a short TTL (60 s by default). A reference pinned by digest therefore
// makes no request at all once cached, and a tag makes none within the TTL.
//
// imageConfig() only ever throws RegistryError, whose message says what failed and
// how to fix it.

import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { isObject, matchCredentials, normaliseRegistryKey, type RegistryCredentials } from './credentials';
import { LruCache } from './lru';
import { ImageReference, parseImageReference } from './reference';
import { classifyError, parseWwwAuthenticate, TransportError, type HttpResponse } from './transport';

// The client's helpers live in their own modules; these are part of its API.
export { matchCredentials, normaliseRegistryKey, parseDockerConfigJson, type RegistryCredentials } from './credentials';
export { LruCache } from './lru';
export { parseWwwAuthenticate } from './transport';

// ---------------------------------------------------------------------------------
// Public types

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface RegistryClientOptions {
  /** Time limit of every single HTTP request (manifest, blob, token), in ms. */
  timeoutMs: number;
  /** Entries kept in each cache (image configs, tag->digest, tokens). 0 disables caching. */
  cacheSize: number;
  /** `host[:port]` of registries served over plain HTTP. */
  insecureRegistries: string[];
  /** Platform picked from multi-platform indexes; default linux/amd64. */
  platform?: Platform;
  /** Extra PEM root certificates trusted for HTTPS registries and token services. */
  caCertificates?: string[];
  /** How long a tag -> digest resolution is trusted, in ms; default 60 000. */
  tagTtlMs?: number;
  /** User-Agent header; default `podhooks`. */
  userAgent?: string;
}


export interface ImageConfigResult {
  /** config.Entrypoint of the image, null when unset. */
  entrypoint: string[] | null;
  /** config.Cmd of the image, null when unset. */
  cmd: string[] | null;
  /**
   * Digest of the manifest the reference resolves to (the multi-platform index for
   * a multi-arch image): `image@digest` pins exactly what was inspected.
   */
  digest: string;
}

export type RegistryErrorCode =
  | 'invalid-reference'
  | 'not-found'
  | 'unauthorized'
  | 'denied'
  | 'rate-limited'
  | 'timeout'
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

// ---------------------------------------------------------------------------------
// Media types and platforms

const MT_OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const MT_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MT_DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const MT_DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const MT_OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const MT_DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const MANIFEST_ACCEPT = [MT_OCI_INDEX, MT_OCI_MANIFEST, MT_DOCKER_LIST, MT_DOCKER_MANIFEST].join(', ');

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
const MAX_TOKEN_BYTES = 1024 * 1024;
const MAX_REDIRECTS = 5;
const MAX_INDEX_DEPTH = 3;

interface NormalPlatform {
  os: string;
  architecture: string;
  variant: string;
}

function normalisePlatform(p: { os?: unknown; architecture?: unknown; variant?: unknown }): NormalPlatform {
  const os = String(p.os ?? '').toLowerCase();
  let architecture = String(p.architecture ?? '').toLowerCase();
  let variant = String(p.variant ?? '').toLowerCase();
  switch (architecture) {
    case 'x86_64':
    case 'x86-64':
      architecture = 'amd64';
      break;
    case 'aarch64':
      architecture = 'arm64';
      break;
    case 'i386':
    case 'i686':
      architecture = '386';
      break;
    case 'armhf':
      architecture = 'arm';
      variant = variant || 'v7';
      break;
    case 'armel':
      architecture = 'arm';
      variant = variant || 'v6';
      break;
  }
  if (architecture === 'arm64' && (variant === '' || variant === '8')) variant = 'v8';
  if (architecture === 'arm' && variant === '') variant = 'v7';
  if (architecture === 'arm' && /^\d$/.test(variant)) variant = `v${variant}`;
  return { os, architecture, variant };
}

function formatPlatform(p: { os?: unknown; architecture?: unknown; variant?: unknown }): string {
  const parts = [String(p.os ?? '?'), String(p.architecture ?? '?')];
  if (typeof p.variant === 'string' && p.variant !== '') parts.push(p.variant);
  return parts.join('/');
}

// ---------------------------------------------------------------------------------
// The client

interface Session {
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
}

interface ManifestDoc {
  digest: string;
  mediaType: string;
  json: Record<string, unknown>;
}

interface TokenEntry {
  token: string;
  expiresAt: number;
}

interface TagEntry {
  digest: string;
  expiresAt: number;
}

/**
 * A cached config and who may read it: everyone when the registry gave it out
 * anonymously, otherwise only callers holding one of the credentials that fetched it
 * (so an imagePullSecret of one namespace does not reveal a private image to another).
 */
interface ConfigEntry {
  result: ImageConfigResult;
  anonymous: boolean;
  grantees: Set<string>;
}

type Purpose = 'manifest' | 'platform-manifest' | 'config' | 'token';

export class RegistryClient {
  private readonly timeoutMs: number;
  private readonly insecure: Set<string>;
  private readonly platform: NormalPlatform;
  private readonly platformLabel: string;
  private readonly tagTtlMs: number;
  private readonly userAgent: string;
  private readonly configs: LruCache<string, ConfigEntry>;
  private readonly tags: LruCache<string, TagEntry>;
  private readonly tokens: LruCache<string, TokenEntry>;
  /** Registry API host -> its Bearer realm/service, so later lookups fetch a token first. */
  private readonly challenges: LruCache<string, Record<string, string>>;
  private readonly inflight = new Map<string, Promise<ImageConfigResult>>();
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(options: RegistryClientOptions) {
    this.timeoutMs = options.timeoutMs > 0 ? options.timeoutMs : 10_000;
    this.insecure = new Set((options.insecureRegistries ?? []).map((r) => normaliseRegistryKey(r)));
    const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
    this.platform = normalisePlatform(platform);
    this.platformLabel = formatPlatform(platform);
    this.tagTtlMs = options.tagTtlMs ?? 60_000;
    this.userAgent = options.userAgent ?? 'podhooks';
    const size = Math.max(0, Math.floor(options.cacheSize));
    this.configs = new LruCache(size);
    this.tags = new LruCache(size);
    this.tokens = new LruCache(size);
    this.challenges = new LruCache(size);
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const ca = options.caCertificates?.length ? [...tls.rootCertificates, ...options.caCertificates] : undefined;
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16, ...(ca ? { ca } : {}) });
  }

  /** Closes idle keep-alive connections. The client stays usable. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** Forgets every cached config, tag, token and challenge. */
  clearCache(): void {
    this.configs.clear();
    this.tags.clear();
    this.tokens.clear();
    this.challenges.clear();
  }

  /**
   * The image's ENTRYPOINT and CMD (null when unset) and the digest its reference
   * resolves to. Throws only RegistryError.
   */
  async imageConfig(image: string, credentials?: RegistryCredentials[]): Promise<ImageConfigResult> {
    const display = typeof image === 'string' ? image.trim() : String(image);
    try {
      let ref: ImageReference;
      try {
        ref = parseImageReference(image);
      } catch (e) {
        throw new RegistryError(
          display,
          'invalid-reference',
          `${(e as Error).message} — fix the container's image field`,
        );
      }
      const repoKey = `${ref.registry}/${ref.repository}`;
      const now = Date.now();
      let digest = ref.digest;
      if (digest === undefined) {
        const tagged = this.tags.get(`${repoKey}:${ref.tag}`);
        if (tagged && tagged.expiresAt > now) digest = tagged.digest;
      }
      const matched = matchCredentials(ref, Array.isArray(credentials) ? credentials : []);
      if (digest !== undefined) {
        const cached = this.readableConfig(`${repoKey}@${digest}`, matched);
        if (cached) return copyResult(cached);
      }

      const flightKey = `${ref.canonical}\u0000${credentialFingerprint(matched)}`;
      let flight = this.inflight.get(flightKey);
      if (!flight) {
        flight = this.resolve({ ref, display, base: this.baseUrl(ref), credentials: matched });
        this.inflight.set(flightKey, flight);
        const forget = (): void => {
          if (this.inflight.get(flightKey) === flight) this.inflight.delete(flightKey);
        };
        flight.then(forget, forget);
      }
      return copyResult(await flight);
    } catch (e) {
      if (e instanceof RegistryError) throw e;
      throw new RegistryError(
        display,
        'internal',
        `image ${display}: unexpected failure while reading the image config (${(e as Error)?.message ?? String(e)}) — ${ENTRYPOINT_HINT}`,
      );
    }
  }

  // -- resolution -------------------------------------------------------------------

  private async resolve(s: Session): Promise<ImageConfigResult> {
    const { ref } = s;
    const repoKey = `${ref.registry}/${ref.repository}`;
    const top = await this.fetchManifest(s, ref.digest ?? (ref.tag as string), ref.digest, 'manifest');
    if (ref.digest === undefined) {
      this.tags.set(`${repoKey}:${ref.tag}`, { digest: top.digest, expiresAt: Date.now() + this.tagTtlMs });
    }
    const cacheKey = `${repoKey}@${top.digest}`;
    const known = this.configs.get(cacheKey);
    if (known) {
      // The manifest request just proved this caller may read the image.
      this.grant(known, s);
      return known.result;
    }

    let manifest = top;
    for (let depth = 0; isIndex(manifest); depth++) {
      if (depth >= MAX_INDEX_DEPTH) {
        throw this.fail(s, 'unsupported', `image indexes are nested more than ${MAX_INDEX_DEPTH} deep — push a flatter index or ${ENTRYPOINT_HINT}`);
      }
      const entryDigest = this.pickPlatform(s, manifest);
      manifest = await this.fetchManifest(s, entryDigest, entryDigest, 'platform-manifest');
    }

    if (manifest.mediaType !== MT_OCI_MANIFEST && manifest.mediaType !== MT_DOCKER_MANIFEST) {
      throw this.fail(
        s,
        'unsupported',
        `manifest ${manifest.digest} has media type ${JSON.stringify(manifest.mediaType)}, which is not an OCI or Docker v2 image manifest — push the image with a current Docker/buildah/crane, or ${ENTRYPOINT_HINT}`,
      );
    }
    const config = manifest.json.config;
    if (!isObject(config) || typeof config.digest !== 'string') {
      throw this.fail(s, 'bad-response', `manifest ${manifest.digest} has no config descriptor — the image is malformed; push it again or ${ENTRYPOINT_HINT}`);
    }
    const configType = typeof config.mediaType === 'string' ? config.mediaType : '';
    if (configType !== '' && configType !== MT_OCI_CONFIG && configType !== MT_DOCKER_CONFIG) {
      throw this.fail(
        s,
        'unsupported',
        `this is not a container image: its config has media type ${JSON.stringify(configType)} (an OCI artifact?) — check the image name`,
      );
    }
    const size = typeof config.size === 'number' ? config.size : undefined;
    const result = await this.fetchConfig(s, config.digest, size, top.digest);
    const entry: ConfigEntry = { result, anonymous: false, grantees: new Set() };
    this.grant(entry, s);
    this.configs.set(cacheKey, entry);
    return result;
  }

  private grant(entry: ConfigEntry, s: Session): void {
    if (s.usedCredential === undefined) entry.anonymous = true;
    else entry.grantees.add(credentialId(s.usedCredential));
  }

  private readableConfig(key: string, credentials: RegistryCredentials[]): ImageConfigResult | undefined {
    const entry = this.configs.get(key);
    if (!entry) return undefined;
    if (entry.anonymous || credentials.some((c) => entry.grantees.has(credentialId(c)))) return entry.result;
    return undefined;
  }

  private pickPlatform(s: Session, index: ManifestDoc): string {
    const entries = Array.isArray(index.json.manifests) ? index.json.manifests.filter(isObject) : [];
    const want = this.platform;
    const present: string[] = [];
    let fallback: string | undefined;
    for (const entry of entries) {
      if (typeof entry.digest !== 'string' || !isObject(entry.platform)) continue;
      const raw = entry.platform;
      if (raw.os === 'unknown' || raw.architecture === 'unknown') continue; // attestations
      present.push(formatPlatform(raw));
      const have = normalisePlatform(raw);
      if (have.os !== want.os || have.architecture !== want.architecture) continue;
      if (have.variant === want.variant) return entry.digest;
      // No variant asked for (and none implied): any variant of the architecture will do.
      if (want.variant === '' && fallback === undefined) fallback = entry.digest;
    }
    if (fallback !== undefined) return fallback;
    const list = present.length ? present.join(', ') : 'none';
    throw this.fail(
      s,
      'platform',
      `the multi-platform index ${index.digest} has no ${this.platformLabel} image (platforms present: ${list}) — use an image built for ${this.platformLabel}, change the webhook's registry platform setting, or ${ENTRYPOINT_HINT}`,
    );
  }

  private async fetchManifest(s: Session, reference: string, expectedDigest: string | undefined, purpose: Purpose): Promise<ManifestDoc> {
    const path = `/v2/${s.ref.repository}/manifests/${reference}`;
    const res = await this.registryGet(s, path, MANIFEST_ACCEPT, purpose, MAX_MANIFEST_BYTES);
    const algorithm = expectedDigest ? (expectedDigest.split(':')[0] as string) : 'sha256';
    const digest = computeDigest(algorithm, res.body);
    if (digest === undefined) {
      throw this.fail(s, 'unsupported', `digest algorithm ${JSON.stringify(algorithm)} is not supported (use sha256 or sha512) — pin the image by its sha256 digest`);
    }
    if (expectedDigest !== undefined && digest !== expectedDigest) {
      throw this.fail(
        s,
        'digest-mismatch',
        `the manifest served for ${expectedDigest} has digest ${digest} — the registry (or a proxy in front of it) returned the wrong content; check the registry`,
      );
    }
    const json = this.parseJson(s, res, 'manifest');
    const contentType = headerValue(res.headers['content-type']).split(';')[0]?.trim() ?? '';
    let mediaType = typeof json.mediaType === 'string' ? json.mediaType : '';
    if (mediaType === '') {
      if (contentType === MT_OCI_INDEX || contentType === MT_OCI_MANIFEST || contentType === MT_DOCKER_LIST || contentType === MT_DOCKER_MANIFEST) {
        mediaType = contentType;
      } else if (Array.isArray(json.manifests)) {
        mediaType = MT_OCI_INDEX;
      } else if (isObject(json.config)) {
        mediaType = MT_OCI_MANIFEST;
      }
    }
    if (json.schemaVersion === 1 || mediaType.startsWith('application/vnd.docker.distribution.manifest.v1')) {
      throw this.fail(
        s,
        'unsupported',
        `the registry only has a Docker schema 1 manifest for it, which is not supported — push the image again with a current Docker, or ${ENTRYPOINT_HINT}`,
      );
    }
    return { digest, mediaType, json };
  }

  private async fetchConfig(s: Session, digest: string, size: number | undefined, topDigest: string): Promise<ImageConfigResult> {
    if (!/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(digest)) {
      throw this.fail(s, 'bad-response', `the manifest names a config blob with an invalid digest ${JSON.stringify(digest)} — the image is malformed`);
    }
    const path = `/v2/${s.ref.repository}/blobs/${digest}`;
    const res = await this.registryGet(s, path, undefined, 'config', MAX_CONFIG_BYTES);
    const algorithm = digest.split(':')[0] as string;
    const actual = computeDigest(algorithm, res.body);
    if (actual === undefined) {
      throw this.fail(s, 'unsupported', `config blob digest algorithm ${JSON.stringify(algorithm)} is not supported`);
    }
    if (actual !== digest || (size !== undefined && size !== res.body.length)) {
      throw this.fail(
        s,
        'digest-mismatch',
        `the config blob served for ${digest} has digest ${actual} (${res.body.length} bytes${size !== undefined ? `, expected ${size}` : ''}) — the registry (or a proxy in front of it) returned the wrong content; check the registry`,
      );
    }
    const json = this.parseJson(s, res, 'config blob');
    const inner = isObject(json.config) ? json.config : {};
    const entrypoint = this.stringList(s, inner.Entrypoint, 'Entrypoint');
    const cmd = this.stringList(s, inner.Cmd, 'Cmd');
    return { entrypoint, cmd, digest: topDigest };
  }

  private stringList(s: Session, value: unknown, field: string): string[] | null {
    if (value === undefined || value === null) return null;
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return [...value];
    throw this.fail(s, 'bad-response', `the image config's ${field} is not a list of strings — the image is malformed; ${ENTRYPOINT_HINT}`);
  }

  private parseJson(s: Session, res: HttpResponse, what: string): Record<string, unknown> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.body.toString('utf8'));
    } catch {
      const contentType = headerValue(res.headers['content-type']) || 'no content type';
      throw this.fail(
        s,
        'bad-response',
        `the ${what} from ${res.url.host} is not JSON (${contentType}, starts ${JSON.stringify(snippet(res.body))}) — check that ${s.ref.registry} is an OCI/Docker registry and that no proxy or login page is in the way`,
      );
    }
    if (!isObject(parsed)) {
      throw this.fail(s, 'bad-response', `the ${what} from ${res.url.host} is JSON but not an object — check that ${s.ref.registry} is an OCI/Docker registry`);
    }
    return parsed;
  }

  // -- authenticated GET ------------------------------------------------------------

  private async registryGet(s: Session, path: string, accept: string | undefined, purpose: Purpose, maxBytes: number): Promise<HttpResponse> {
    const url = new URL(path, s.base);
    if (s.authorization === undefined) {
      const known = this.challenges.get(s.ref.apiHost);
      if (known) {
        const token = this.cachedToken(known, `repository:${s.ref.repository}:pull`, s.credentials);
        if (token) {
          s.authorization = `Bearer ${token.token}`;
          s.usedCredential = token.credential;
          s.authFromCache = token.key;
        }
      }
    }
    let res = await this.send(s, url, accept, purpose, maxBytes);
    if (res.status === 401) {
      const challenge = parseWwwAuthenticate(headerValue(res.headers['www-authenticate']));
      if (challenge?.scheme === 'bearer' && challenge.params.realm) {
        const lasting = { ...challenge.params };
        delete lasting.scope;
        delete lasting.error;
        this.challenges.set(s.ref.apiHost, lasting);
        if (s.authFromCache) {
          this.tokens.delete(s.authFromCache);
          s.authFromCache = undefined;
        }
        const scope = challenge.params.scope || `repository:${s.ref.repository}:pull`;
        const got = await this.fetchToken(s, challenge.params, scope);
        s.authorization = `Bearer ${got.token}`;
        s.usedCredential = got.credential;
        res = await this.send(s, url, accept, purpose, maxBytes);
      } else if (challenge?.scheme === 'basic') {
        for (const credential of s.credentials) {
          s.authorization = basicAuth(credential);
          s.usedCredential = credential;
          res = await this.send(s, url, accept, purpose, maxBytes);
          if (res.status !== 401) break;
        }
      }
    }
    if (res.status === 200) return res;
    throw this.statusError(s, res, purpose, path);
  }

  private cachedToken(
    params: Record<string, string>,
    scope: string,
    credentials: RegistryCredentials[],
  ): { token: string; key: string; credential?: RegistryCredentials } | undefined {
    const tries: (RegistryCredentials | undefined)[] = credentials.length ? credentials : [undefined];
    for (const credential of tries) {
      const key = tokenKey(params, scope, credential);
      const entry = this.tokens.get(key);
      if (entry && entry.expiresAt > Date.now()) return { token: entry.token, key, ...(credential ? { credential } : {}) };
    }
    return undefined;
  }

  private async fetchToken(
    s: Session,
    params: Record<string, string>,
    scope: string,
  ): Promise<{ token: string; credential?: RegistryCredentials }> {
    const cached = this.cachedToken(params, scope, s.credentials);
    if (cached) return { token: cached.token, ...(cached.credential ? { credential: cached.credential } : {}) };
    let realm: URL;
    try {
      realm = new URL(params.realm as string);
      if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw new Error('not http(s)');
    } catch {
      throw this.fail(s, 'bad-response', `the registry's Bearer challenge names an invalid token realm ${JSON.stringify(params.realm)} — check the registry's auth configuration`);
    }
    const url = new URL(realm.href);
    if (params.service) url.searchParams.set('service', params.service);
    for (const sc of scope.split(' ').filter(Boolean)) url.searchParams.append('scope', sc);

    const tries: (RegistryCredentials | undefined)[] = s.credentials.length ? s.credentials : [undefined];
    let last: HttpResponse | undefined;
    for (const credential of tries) {
      const headers: Record<string, string> = { 'user-agent': this.userAgent, accept: 'application/json' };
      if (credential) headers.authorization = basicAuth(credential);
      let res: HttpResponse;
      try {
        res = await this.httpGet(url, headers, MAX_TOKEN_BYTES);
      } catch (e) {
        throw this.transportFailure(s, e, 'token');
      }
      last = res;
      if (res.status === 200) {
        const json = this.parseJson(s, res, 'token service answer');
        const token = typeof json.token === 'string' && json.token ? json.token : typeof json.access_token === 'string' ? json.access_token : '';
        if (!token) {
          throw this.fail(s, 'bad-response', `the token service ${realm.host} answered without a token — check the registry's auth configuration`);
        }
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
        ? `the token service ${realm.host} rejected the credentials for ${s.ref.registry} (HTTP ${status}) — check the username and password in the imagePullSecret, or ${ENTRYPOINT_HINT}`
        : `the token service ${realm.host} refused an anonymous token (HTTP ${status}) — add an imagePullSecret with credentials for ${s.ref.registry} or ${ENTRYPOINT_HINT}`;
      throw new RegistryError(s.display, 'unauthorized', `image ${s.display}: ${msg}`, status);
    }
    throw new RegistryError(
      s.display,
      status >= 500 ? 'server-error' : 'bad-response',
      `image ${s.display}: the token service ${realm.host} failed (HTTP ${status}${registryDetail(last)}) — retry later, check the registry's auth configuration, or ${ENTRYPOINT_HINT}`,
      status,
    );
  }

  private async send(s: Session, url: URL, accept: string | undefined, purpose: Purpose, maxBytes: number): Promise<HttpResponse> {
    const headers: Record<string, string> = { 'user-agent': this.userAgent };
    if (accept) headers.accept = accept;
    if (s.authorization) headers.authorization = s.authorization;
    try {
      return await this.httpGet(url, headers, maxBytes);
    } catch (e) {
      throw this.transportFailure(s, e, purpose);
    }
  }

  /** GET following redirects; Authorization is dropped when a redirect leaves the origin. */
  private async httpGet(url: URL, headers: Record<string, string>, maxBytes: number): Promise<HttpResponse> {
    let current = url;
    const hdrs = { ...headers };
    for (let hop = 0; ; hop++) {
      const res = await this.rawGet(current, hdrs, maxBytes);
      const location = headerValue(res.headers.location);
      if ([301, 302, 303, 307, 308].includes(res.status) && location) {
        if (hop >= MAX_REDIRECTS) throw new TransportError('redirects', `more than ${MAX_REDIRECTS} redirects`, current);
        const next = new URL(location, current);
        if (next.protocol !== 'http:' && next.protocol !== 'https:') {
          throw new TransportError('network', `redirect to unsupported URL ${next.protocol}`, current);
        }
        if (next.origin !== current.origin) delete hdrs.authorization;
        current = next;
        continue;
      }
      return res;
    }
  }

  private rawGet(url: URL, headers: Record<string, string>, maxBytes: number): Promise<HttpResponse> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    const isHttps = url.protocol === 'https:';
    const request = isHttps ? https.request : http.request;
    return new Promise<HttpResponse>((resolve, reject) => {
      let settled = false;
      const finish = (err: unknown, value?: HttpResponse): void => {
        if (settled) return;
        settled = true;
        if (err !== undefined) reject(classifyError(err, url, signal.aborted, this.timeoutMs));
        else resolve(value as HttpResponse);
      };
      let req: http.ClientRequest;
      try {
        req = request(
          url,
          { method: 'GET', headers, signal, agent: isHttps ? this.httpsAgent : this.httpAgent },
          (res) => {
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
          },
        );
      } catch (e) {
        finish(e);
        return;
      }
      req.on('error', (e) => finish(e));
      req.end();
    });
  }

  // -- errors -----------------------------------------------------------------------

  private fail(s: Session, code: RegistryErrorCode, text: string, status?: number): RegistryError {
    return new RegistryError(s.display, code, `image ${s.display}: ${text}`, status);
  }

  private transportFailure(s: Session, e: unknown, purpose: Purpose): RegistryError {
    if (e instanceof RegistryError) return e;
    const t = e instanceof TransportError ? e : classifyError(e, s.base, false, this.timeoutMs);
    const host = t.url.host;
    const what = purpose === 'token' ? `token service ${host}` : `registry ${host}`;
    const where = `GET ${t.url.pathname}`;
    switch (t.kind) {
      case 'timeout':
        return this.fail(
          s,
          'timeout',
          `${what} did not answer within ${this.timeoutMs} ms (${where}) — check that the webhook can reach ${host} (network policies, proxy, DNS) and that the registry is healthy, or ${ENTRYPOINT_HINT}`,
        );
      case 'tls':
        return this.fail(
          s,
          'tls',
          `TLS connection to ${what} failed (${t.message}) — if ${s.ref.registry} serves plain HTTP add it to the insecure registries; if its certificate comes from a private CA add that CA to the webhook's trusted registry CAs; or ${ENTRYPOINT_HINT}`,
        );
      case 'too-large':
        return this.fail(s, 'bad-response', `the ${purpose === 'token' ? 'token' : purpose === 'config' ? 'config blob' : 'manifest'} from ${host} is too large (${t.message}) — check the image`);
      case 'redirects':
        return this.fail(s, 'bad-response', `${what} redirected too often (${where}) — check the registry's configuration`);
      default:
        return this.fail(
          s,
          'network',
          `cannot connect to ${what} (${t.message}) — check the registry address and that the webhook can reach it, or ${ENTRYPOINT_HINT}`,
        );
    }
  }

  private statusError(s: Session, res: HttpResponse, purpose: Purpose, path: string): RegistryError {
    const status = res.status;
    const registry = s.ref.registry;
    const detail = registryDetail(res);
    const withCreds = s.usedCredential !== undefined;
    if (status === 404) {
      if (purpose === 'config') {
        return this.fail(s, 'not-found', `config blob not found (HTTP 404, ${path}) — the registry's copy of the image is incomplete; push it again`, status);
      }
      if (purpose === 'platform-manifest') {
        return this.fail(s, 'not-found', `the platform manifest named by the index is missing (HTTP 404, ${path}) — push the image again`, status);
      }
      const what = s.ref.digest ? 'digest' : 'tag';
      return this.fail(s, 'not-found', `manifest not found (HTTP 404) — check the image name and ${what}`, status);
    }
    if (status === 401) {
      return withCreds
        ? this.fail(s, 'unauthorized', `unauthorized (HTTP 401) with the credentials given for ${registry} — check the username, password and repository access in the imagePullSecret, or ${ENTRYPOINT_HINT}`, status)
        : this.fail(s, 'unauthorized', `unauthorized (HTTP 401) — add an imagePullSecret with credentials for ${registry} or ${ENTRYPOINT_HINT}`, status);
    }
    if (status === 403) {
      return this.fail(
        s,
        'denied',
        `access denied (HTTP 403${detail}) — ${withCreds ? `the credentials for ${registry} may not pull ${s.ref.repository}; grant them pull access` : `add an imagePullSecret with credentials for ${registry}`}, or ${ENTRYPOINT_HINT}`,
        status,
      );
    }
    if (status === 429) {
      return this.fail(s, 'rate-limited', `rate-limited by ${registry} (HTTP 429) — retry later, add an imagePullSecret (authenticated pulls get higher limits), use a mirror, or ${ENTRYPOINT_HINT}`, status);
    }
    if (status >= 500) {
      return this.fail(s, 'server-error', `registry ${res.url.host} failed (HTTP ${status}${detail}) — retry later or ${ENTRYPOINT_HINT}`, status);
    }
    if (status === 400 && /HTTP request to an HTTPS server/i.test(res.body.toString('utf8'))) {
      return this.fail(s, 'tls', `registry ${res.url.host} serves HTTPS but is listed as an insecure (plain HTTP) registry — remove it from the insecure registries`, status);
    }
    return this.fail(s, 'bad-response', `unexpected answer HTTP ${status}${detail} to GET ${path} — check that ${registry} is an OCI/Docker registry, or ${ENTRYPOINT_HINT}`, status);
  }

  private baseUrl(ref: ImageReference): URL {
    const plain = this.insecure.has(ref.registry) || this.insecure.has(ref.apiHost.toLowerCase());
    return new URL(`${plain ? 'http' : 'https'}://${ref.apiHost}/`);
  }
}

// ---------------------------------------------------------------------------------
// helpers

function isIndex(m: ManifestDoc): boolean {
  return m.mediaType === MT_OCI_INDEX || m.mediaType === MT_DOCKER_LIST;
}

function copyResult(r: ImageConfigResult): ImageConfigResult {
  return { entrypoint: r.entrypoint ? [...r.entrypoint] : null, cmd: r.cmd ? [...r.cmd] : null, digest: r.digest };
}

function computeDigest(algorithm: string, body: Buffer): string | undefined {
  if (algorithm !== 'sha256' && algorithm !== 'sha384' && algorithm !== 'sha512') return undefined;
  return `${algorithm}:${createHash(algorithm).update(body).digest('hex')}`;
}

function headerValue(v: string | string[] | undefined): string {
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
}

function basicAuth(c: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}

function credentialId(c: RegistryCredentials): string {
  return createHash('sha256').update(`${c.username}\u0000${c.password}`).digest('hex');
}

function tokenKey(params: Record<string, string>, scope: string, credential: RegistryCredentials | undefined): string {
  const who = credential ? credentialId(credential) : 'anonymous';
  return `${params.realm ?? ''}\u0000${params.service ?? ''}\u0000${scope}\u0000${who}`;
}

function credentialFingerprint(credentials: RegistryCredentials[]): string {
  if (credentials.length === 0) return 'anonymous';
  const h = createHash('sha256');
  for (const c of credentials) h.update(`${c.registry}\u0000${c.username}\u0000${c.password}\u0001`);
  return h.digest('hex');
}

function snippet(body: Buffer): string {
  const text = body.subarray(0, 200).toString('utf8').replace(/\s+/g, ' ').trim();
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

/** `: CODE message` from a distribution error body, or ''. */
function registryDetail(res: HttpResponse | undefined): string {
  if (!res) return '';
  try {
    const json = JSON.parse(res.body.toString('utf8')) as unknown;
    if (isObject(json) && Array.isArray(json.errors) && isObject(json.errors[0])) {
      const e = json.errors[0];
      const text = [e.code, e.message].filter((x) => typeof x === 'string' && x !== '').join(' ');
      return text ? `: ${text}` : '';
    }
  } catch {
    // not a distribution error body
  }
  return '';
}
