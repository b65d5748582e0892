// Manifest and index resolution for the OCI distribution API, just enough to learn an
// image's ENTRYPOINT and CMD:
//
//   GET /v2/<name>/manifests/<tag|digest>   (OCI index / OCI manifest / Docker list / Docker v2)
//   -> if an index: pick the client's platform, GET that manifest by digest
//   GET /v2/<name>/blobs/<config digest>    -> config.Entrypoint, config.Cmd
//
// Every document is checked against the digest that named it.
import { createHash } from 'node:crypto';
import type { RegistryAuth } from './auth';
import { isObject } from './credentials';
import { ENTRYPOINT_HINT, fail, parseJson, shown, type Purpose, type Session } from './errors';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
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

export interface ManifestDoc {
  digest: string;
  mediaType: string;
  json: Record<string, unknown>;
}

const MT_OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const MT_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MT_DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const MT_DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const MT_OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const MT_DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const MANIFEST_TYPES = [MT_OCI_INDEX, MT_OCI_MANIFEST, MT_DOCKER_LIST, MT_DOCKER_MANIFEST];
const MANIFEST_ACCEPT = MANIFEST_TYPES.join(', ');

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
const MAX_INDEX_DEPTH = 3;

export interface NormalPlatform {
  os: string;
  architecture: string;
  variant: string;
}

const ARCH_ALIASES: Record<string, [string, string?]> = { x86_64: ['amd64'], 'x86-64': ['amd64'], aarch64: ['arm64'], i386: ['386'], i686: ['386'], armhf: ['arm', 'v7'], armel: ['arm', 'v6'] };

export function normalisePlatform(p: { os?: unknown; architecture?: unknown; variant?: unknown }): NormalPlatform {
  const os = String(p.os ?? '').toLowerCase();
  let architecture = String(p.architecture ?? '').toLowerCase();
  let variant = String(p.variant ?? '').toLowerCase();
  const alias = ARCH_ALIASES[architecture];
  if (alias) {
    architecture = alias[0];
    variant = variant || alias[1] || '';
  }
  if (architecture === 'arm64' && (variant === '' || variant === '8')) variant = 'v8';
  if (architecture === 'arm' && variant === '') variant = 'v7';
  if (architecture === 'arm' && /^\d$/.test(variant)) variant = `v${variant}`;
  return { os, architecture, variant };
}

export function formatPlatform(p: { os?: unknown; architecture?: unknown; variant?: unknown }): string {
  const parts = [String(p.os ?? '?'), String(p.architecture ?? '?')];
  if (typeof p.variant === 'string' && p.variant !== '') parts.push(p.variant);
  return parts.join('/');
}

function computeDigest(algorithm: string, body: Buffer): string | undefined {
  if (algorithm !== 'sha256' && algorithm !== 'sha384' && algorithm !== 'sha512') return undefined;
  return `${algorithm}:${createHash(algorithm).update(body).digest('hex')}`;
}

const isIndex = (m: ManifestDoc) => m.mediaType === MT_OCI_INDEX || m.mediaType === MT_DOCKER_LIST;

export async function fetchManifest(s: Session, auth: RegistryAuth, reference: string, expectedDigest: string | undefined, purpose: Purpose): Promise<ManifestDoc> {
  const res = await auth.get(s, `/v2/${s.ref.repository}/manifests/${reference}`, MANIFEST_ACCEPT, purpose, MAX_MANIFEST_BYTES);
  const algorithm = expectedDigest ? (expectedDigest.split(':')[0] as string) : 'sha256';
  const digest = computeDigest(algorithm, res.body);
  if (digest === undefined) throw fail(s, 'unsupported', `digest algorithm ${shown(algorithm)} is not supported (use sha256 or sha512) — pin the image by its sha256 digest`);
  if (expectedDigest !== undefined && digest !== expectedDigest) {
    throw fail(s, 'digest-mismatch', `the manifest served for ${expectedDigest} has digest ${digest} — the registry (or a proxy in front of it) returned the wrong content; check the registry`);
  }
  const json = parseJson(s, res, 'manifest');
  const header = res.headers['content-type'];
  const contentType = (Array.isArray(header) ? header[0] : header)?.split(';')[0]?.trim() ?? '';
  let mediaType = typeof json.mediaType === 'string' ? json.mediaType : '';
  if (mediaType === '') {
    if (MANIFEST_TYPES.includes(contentType)) mediaType = contentType;
    else if (Array.isArray(json.manifests)) mediaType = MT_OCI_INDEX;
    else if (isObject(json.config)) mediaType = MT_OCI_MANIFEST;
  }
  if (json.schemaVersion === 1 || mediaType.startsWith('application/vnd.docker.distribution.manifest.v1')) {
    throw fail(s, 'unsupported', `the registry only has a Docker schema 1 manifest for it, which is not supported — push the image again with a current Docker, or ${ENTRYPOINT_HINT}`);
  }
  return { digest, mediaType, json };
}

function pickPlatform(s: Session, index: ManifestDoc, want: NormalPlatform, label: string): string {
  const entries = Array.isArray(index.json.manifests) ? index.json.manifests.filter(isObject) : [];
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
  const list = present.length ? present.map((p) => (/^[\w./-]{1,60}$/.test(p) ? p : '?')).join(', ') : 'none';
  throw fail(
    s,
    'platform',
    `the multi-platform index ${index.digest} has no ${label} image (platforms present: ${list}) — use an image built for ${label}, change the webhook's registry platform setting, or ${ENTRYPOINT_HINT}`,
  );
}

/** Walks from the top manifest through indexes to this platform's image manifest. */
export async function platformManifest(s: Session, auth: RegistryAuth, top: ManifestDoc, want: NormalPlatform, label: string): Promise<ManifestDoc> {
  let manifest = top;
  for (let depth = 0; isIndex(manifest); depth++) {
    if (depth >= MAX_INDEX_DEPTH) throw fail(s, 'unsupported', `image indexes are nested more than ${MAX_INDEX_DEPTH} deep — push a flatter index or ${ENTRYPOINT_HINT}`);
    const entryDigest = pickPlatform(s, manifest, want, label);
    manifest = await fetchManifest(s, auth, entryDigest, entryDigest, 'platform-manifest');
  }
  if (manifest.mediaType !== MT_OCI_MANIFEST && manifest.mediaType !== MT_DOCKER_MANIFEST) {
    throw fail(
      s,
      'unsupported',
      `manifest ${manifest.digest} has media type ${shown(manifest.mediaType)}, which is not an OCI or Docker v2 image manifest — push the image with a current Docker/buildah/crane, or ${ENTRYPOINT_HINT}`,
    );
  }
  return manifest;
}

function stringList(s: Session, value: unknown, field: string): string[] | null {
  if (value === undefined || value === null) return null;
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return [...value];
  throw fail(s, 'bad-response', `the image config's ${field} is not a list of strings — the image is malformed; ${ENTRYPOINT_HINT}`);
}

/** ENTRYPOINT and CMD from the image manifest's config blob; `topDigest` is what the reference resolved to. */
export async function readImageConfig(s: Session, auth: RegistryAuth, manifest: ManifestDoc, topDigest: string): Promise<ImageConfigResult> {
  const config = manifest.json.config;
  if (!isObject(config) || typeof config.digest !== 'string') {
    throw fail(s, 'bad-response', `manifest ${manifest.digest} has no config descriptor — the image is malformed; push it again or ${ENTRYPOINT_HINT}`);
  }
  const configType = typeof config.mediaType === 'string' ? config.mediaType : '';
  if (configType !== '' && configType !== MT_OCI_CONFIG && configType !== MT_DOCKER_CONFIG) {
    throw fail(s, 'unsupported', `this is not a container image: its config has media type ${shown(configType)} (an OCI artifact?) — check the image name`);
  }
  const digest = config.digest;
  if (!/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(digest)) {
    throw fail(s, 'bad-response', `the manifest names a config blob with an invalid digest — the image is malformed`);
  }
  const size = typeof config.size === 'number' ? config.size : undefined;
  const res = await auth.get(s, `/v2/${s.ref.repository}/blobs/${digest}`, undefined, 'config', MAX_CONFIG_BYTES);
  const algorithm = digest.split(':')[0] as string;
  const actual = computeDigest(algorithm, res.body);
  if (actual === undefined) throw fail(s, 'unsupported', `config blob digest algorithm ${shown(algorithm)} is not supported`);
  if (actual !== digest || (size !== undefined && size !== res.body.length)) {
    throw fail(
      s,
      'digest-mismatch',
      `the config blob served for ${digest} has digest ${actual} (${res.body.length} bytes${size !== undefined ? `, expected ${size}` : ''}) — the registry (or a proxy in front of it) returned the wrong content; check the registry`,
    );
  }
  const json = parseJson(s, res, 'config blob');
  const inner = isObject(json.config) ? json.config : {};
  return { entrypoint: stringList(s, inner.Entrypoint, 'Entrypoint'), cmd: stringList(s, inner.Cmd, 'Cmd'), digest: topDigest };
}
