// A small client for the OCI distribution API that learns an image's ENTRYPOINT and CMD
// when a pod's container spec has no `command`. Its parts each have a home:
//   access.ts     which hosts it may connect to (checked on the resolved address)
//   transport.ts  GETs, redirects (never https -> http), transport errors
//   auth.ts       Bearer tokens and Basic credentials, the token cache
//   manifests.ts  manifest / index / config resolution
//   errors.ts     RegistryError and its messages (no remote bodies in them)
// This file is the client: caching, sharing concurrent lookups, and the one deadline
// every lookup runs under (registry.timeoutMs), cut short when its callers give up.
//
// Caching: image configs are kept in an LRU keyed by the manifest digest the reference
// resolves to (content addressed, so never stale); tags are mapped to digests for a short
// TTL (60 s by default). A reference pinned by digest therefore makes no request at all
// once cached, and a tag makes none within the TTL.
import { createHash } from 'node:crypto';
import { AccessPolicy, type Resolver } from './access';
import { credentialId, RegistryAuth } from './auth';
import { matchCredentials, normaliseRegistryKey, type RegistryCredentials } from './credentials';
import { ENTRYPOINT_HINT, fail, RegistryError, type Session } from './errors';
import { LruCache } from '../lru';
import { fetchManifest, formatPlatform, normalisePlatform, platformManifest, readImageConfig, type ImageConfigResult, type NormalPlatform, type Platform } from './manifests';
import { parseImageReference, type ImageReference } from './reference';
import { RegistryHttp } from './transport';

// The client's helpers live in their own modules; these are part of its API.
export { matchCredentials, normaliseRegistryKey, parseDockerConfigJson, type RegistryCredentials } from './credentials';
export { ENTRYPOINT_HINT, RegistryError, type RegistryErrorCode } from './errors';
export { LruCache } from '../lru';
export type { ImageConfigResult, Platform } from './manifests';
export { parseWwwAuthenticate } from './transport';

export interface RegistryClientOptions {
  /** Deadline of one whole lookup (manifests, token, redirects, config), in ms. */
  timeoutMs: number;
  /** Entries kept in each cache (image configs, tag->digest, tokens). 0 disables caching. */
  cacheSize: number;
  /** `host[:port]` of registries served over plain HTTP. */
  insecureRegistries: string[];
  /** host, host:port or CIDR that may be reached although not public (access.ts). */
  allowedRegistries?: string[];
  /** Ranges that count as internal besides the special-purpose ones (pod/service CIDRs). */
  internalCIDRs?: string[];
  /** Host name resolution; default the system resolver. */
  resolver?: Resolver;
  /** Platform picked from multi-platform indexes; default linux/amd64. */
  platform?: Platform;
  /** Extra PEM root certificates trusted for HTTPS registries and token services. */
  caCertificates?: string[];
  /** How long a tag -> digest resolution is trusted, in ms; default 60 000. */
  tagTtlMs?: number;
  /** User-Agent header; default `podhooks`. */
  userAgent?: string;
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

/** One lookup in progress, shared by concurrent callers; aborted when the last one leaves. */
interface Flight {
  promise: Promise<ImageConfigResult>;
  controller: AbortController;
  waiting: number;
}

export class RegistryClient {
  private readonly timeoutMs: number;
  private readonly insecure: Set<string>;
  private readonly platform: NormalPlatform;
  private readonly platformLabel: string;
  private readonly tagTtlMs: number;
  private readonly userAgent: string;
  private readonly configs: LruCache<string, ConfigEntry>;
  private readonly tags: LruCache<string, TagEntry>;
  private readonly auth: RegistryAuth;
  private readonly http: RegistryHttp;
  private readonly inflight = new Map<string, Flight>();

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
    this.auth = new RegistryAuth(size);
    const policy = new AccessPolicy({ allowedRegistries: options.allowedRegistries ?? [], internalCIDRs: options.internalCIDRs, resolver: options.resolver });
    this.http = new RegistryHttp(policy, options.caCertificates);
  }

  /** Closes idle keep-alive connections. The client stays usable. */
  close(): void {
    this.http.close();
  }

  /** Forgets every cached config, tag, token and challenge. */
  clearCache(): void {
    this.configs.clear();
    this.tags.clear();
    this.auth.clear();
  }

  /**
   * The image's ENTRYPOINT and CMD (null when unset) and the digest its reference
   * resolves to. Throws only RegistryError. `signal` stops waiting (the apiserver gave up).
   */
  async imageConfig(image: string, credentials?: RegistryCredentials[], signal?: AbortSignal): Promise<ImageConfigResult> {
    const display = typeof image === 'string' ? image.trim() : String(image);
    try {
      let ref: ImageReference;
      try {
        ref = parseImageReference(image);
      } catch (e) {
        throw new RegistryError(display, 'invalid-reference', `${(e as Error).message} — fix the container's image field`);
      }
      const repoKey = `${ref.registry}/${ref.repository}`;
      let digest = ref.digest;
      if (digest === undefined) {
        const tagged = this.tags.get(`${repoKey}:${ref.tag}`);
        if (tagged && tagged.expiresAt > Date.now()) digest = tagged.digest;
      }
      const matched = matchCredentials(ref, Array.isArray(credentials) ? credentials : []);
      if (digest !== undefined) {
        const cached = this.readableConfig(`${repoKey}@${digest}`, matched);
        if (cached) return copyResult(cached);
      }
      const flightKey = `${ref.canonical}\u0000${credentialFingerprint(matched)}`;
      return copyResult(await this.join(flightKey, ref, display, matched, signal));
    } catch (e) {
      if (e instanceof RegistryError) throw e;
      throw new RegistryError(display, 'internal', `image ${display}: unexpected failure while reading the image config (${(e as Error)?.message ?? String(e)}) — ${ENTRYPOINT_HINT}`);
    }
  }

  /** Waits for the shared lookup of this key (starting it if needed) until it ends or `signal` fires. */
  private join(key: string, ref: ImageReference, display: string, credentials: RegistryCredentials[], signal?: AbortSignal): Promise<ImageConfigResult> {
    let flight = this.inflight.get(key);
    if (!flight) {
      const controller = new AbortController();
      const s: Session = {
        ref,
        display,
        base: this.baseUrl(ref),
        credentials,
        signal: AbortSignal.any([controller.signal, AbortSignal.timeout(this.timeoutMs)]),
        deadlineMs: this.timeoutMs,
        http: this.http,
        userAgent: this.userAgent,
      };
      const created: Flight = { promise: this.resolve(s), controller, waiting: 0 };
      const forget = (): void => {
        if (this.inflight.get(key) === created) this.inflight.delete(key);
      };
      created.promise.then(forget, forget);
      this.inflight.set(key, created);
      flight = created;
    }
    const f = flight;
    f.waiting++;
    if (!signal) return f.promise.finally(() => f.waiting--);
    return new Promise<ImageConfigResult>((resolve, reject) => {
      const leave = (): void => {
        signal.removeEventListener('abort', onAbort);
        f.waiting--;
      };
      const onAbort = (): void => {
        leave();
        // Nobody waits any more: stop the requests instead of letting them run to the deadline.
        if (f.waiting === 0) f.controller.abort(new Error('every caller gave up'));
        reject(fail({ display }, 'cancelled', `the registry lookup was stopped: ${(signal.reason as Error | undefined)?.message ?? 'cancelled'}`));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      f.promise.then(
        (v) => (leave(), resolve(v)),
        (e) => (leave(), reject(e)),
      );
    });
  }

  private async resolve(s: Session): Promise<ImageConfigResult> {
    const { ref } = s;
    const repoKey = `${ref.registry}/${ref.repository}`;
    const top = await fetchManifest(s, this.auth, ref.digest ?? (ref.tag as string), ref.digest, 'manifest');
    if (ref.digest === undefined) this.tags.set(`${repoKey}:${ref.tag}`, { digest: top.digest, expiresAt: Date.now() + this.tagTtlMs });
    const cacheKey = `${repoKey}@${top.digest}`;
    const known = this.configs.get(cacheKey);
    if (known) {
      // The manifest request just proved this caller may read the image.
      this.grant(known, s);
      return known.result;
    }
    const manifest = await platformManifest(s, this.auth, top, this.platform, this.platformLabel);
    const result = await readImageConfig(s, this.auth, manifest, top.digest);
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

  private baseUrl(ref: ImageReference): URL {
    const plain = this.insecure.has(ref.registry) || this.insecure.has(ref.apiHost.toLowerCase());
    return new URL(`${plain ? 'http' : 'https'}://${ref.apiHost}/`);
  }
}

function copyResult(r: ImageConfigResult): ImageConfigResult {
  return { entrypoint: r.entrypoint ? [...r.entrypoint] : null, cmd: r.cmd ? [...r.cmd] : null, digest: r.digest };
}

function credentialFingerprint(credentials: RegistryCredentials[]): string {
  if (credentials.length === 0) return 'anonymous';
  const h = createHash('sha256');
  for (const c of credentials) h.update(`${c.registry}\u0000${c.username}\u0000${c.password}\u0001`);
  return h.digest('hex');
}
