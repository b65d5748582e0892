// Container image references, parsed and normalised the way Kubernetes (through
// containerd / the docker reference library) reads `spec.containers[].image`:
//
//   nginx                              -> docker.io/library/nginx:latest
//   user/app:1.2                       -> docker.io/user/app:1.2
//   registry.example.com:5000/ns/app@sha256:<64 hex>
//   localhost:5000/app                 -> localhost:5000/app:latest
//   [::1]:5000/app                     -> [::1]:5000/app:latest
//
// The first path component is a registry domain when it contains "." or ":", is
// "localhost", or has upper-case letters (repository paths are always lower case).
// Otherwise the image lives on Docker Hub, whose API host is registry-1.docker.io.

export const DOCKER_HUB = 'docker.io';
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';

export interface ImageReference {
  /** The reference exactly as given (trimmed). */
  readonly original: string;
  /** Normalised registry domain, with port if any: `docker.io`, `localhost:5000`, `[::1]:5000`. */
  readonly registry: string;
  /** Host (with port) that serves the distribution API: `registry-1.docker.io` for docker.io. */
  readonly apiHost: string;
  /** Repository path inside the registry: `library/nginx`, `team/app`. */
  readonly repository: string;
  /** The tag; `latest` when the reference names neither tag nor digest. */
  readonly tag?: string;
  /** `algorithm:hex` when the reference is pinned by digest (then it wins over the tag). */
  readonly digest?: string;
  /** Fully qualified form: `docker.io/library/nginx:latest`, `host/app:tag@sha256:...`. */
  readonly canonical: string;
}

const MAX_NAME_LENGTH = 255;

// A path component: lower-case alphanumerics separated by ".", "_", "__" or runs of "-".
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
// A DNS-ish domain label list, optionally with a port.
const DOMAIN_NAME = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?$/;
// A bracketed IPv6 address, optionally with a port.
const DOMAIN_IPV6 = /^\[[a-fA-F0-9:]+\](?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const KNOWN_DIGEST_LENGTHS: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

function invalid(reference: string, why: string): Error {
  return new Error(`invalid image reference ${JSON.stringify(reference)}: ${why}`);
}

function looksLikeDomain(component: string): boolean {
  return (
    component.includes('.') ||
    component.includes(':') ||
    component === 'localhost' ||
    component.toLowerCase() !== component
  );
}

function normaliseRegistry(domain: string): string {
  const lower = domain.toLowerCase();
  if (lower === 'index.docker.io' || lower === 'registry-1.docker.io' || lower === 'docker.io') {
    return DOCKER_HUB;
  }
  // Host names are case-insensitive, so lower-case them; but a single upper-case label
  // ("MYHOST/app") is a domain only because of its case, and must keep it.
  return looksLikeDomain(lower) ? lower : domain;
}

/** API host for a normalised registry domain (docker.io is served by registry-1.docker.io). */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API_HOST : registry;
}

/**
 * Parses an image reference the way the kubelet / containerd do.
 * Throws an Error naming the reference when it is not valid.
 */
export function parseImageReference(input: string): ImageReference {
  if (typeof input !== 'string') throw invalid(String(input), 'not a string');
  const reference = input.trim();
  if (reference === '') throw invalid(input, 'empty');
  if (/\s/.test(reference)) throw invalid(reference, 'contains whitespace');

  let rest = reference;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) {
      throw invalid(reference, `digest ${JSON.stringify(digest)} is not of the form algorithm:hex (e.g. sha256:<64 hex digits>)`);
    }
    const [algorithm, hex] = digest.split(':') as [string, string];
    const expected = KNOWN_DIGEST_LENGTHS[algorithm];
    if (expected !== undefined && hex.length !== expected) {
      throw invalid(reference, `a ${algorithm} digest has ${expected} hex digits, this one has ${hex.length}`);
    }
    if (/[A-F]/.test(hex)) throw invalid(reference, 'digest hex digits must be lower case');
  }

  // A tag follows the last ":" that comes after the last "/" (a ":" before it is a port).
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) {
      throw invalid(reference, `tag ${JSON.stringify(tag)} must be 1-128 characters of letters, digits, "_", "." and "-", not starting with "." or "-"`);
    }
  }
  if (rest === '') throw invalid(reference, 'no repository name');

  let domain: string;
  let path: string;
  const firstSlash = rest.indexOf('/');
  if (firstSlash >= 0 && looksLikeDomain(rest.slice(0, firstSlash))) {
    domain = rest.slice(0, firstSlash);
    path = rest.slice(firstSlash + 1);
    if (!DOMAIN_NAME.test(domain) && !DOMAIN_IPV6.test(domain)) {
      throw invalid(reference, `registry host ${JSON.stringify(domain)} is not a valid host[:port]`);
    }
  } else {
    domain = DOCKER_HUB;
    path = rest;
  }
  if (path === '') throw invalid(reference, 'no repository name after the registry host');

  const registry = normaliseRegistry(domain);
  const components = path.split('/');
  for (const component of components) {
    if (component === '') throw invalid(reference, 'empty path component (double or trailing "/")');
    if (!PATH_COMPONENT.test(component)) {
      const why =
        component.toLowerCase() !== component
          ? 'repository names must be lower case'
          : 'path components are lower-case letters and digits separated by ".", "_", "__" or "-"';
      throw invalid(reference, `${JSON.stringify(component)}: ${why}`);
    }
  }
  let repository = path;
  if (registry === DOCKER_HUB && components.length === 1) repository = `library/${path}`;
  const name = `${registry}/${repository}`;
  if (name.length > MAX_NAME_LENGTH) {
    throw invalid(reference, `repository name is longer than ${MAX_NAME_LENGTH} characters`);
  }

  if (tag === undefined && digest === undefined) tag = 'latest';
  const canonical = name + (tag !== undefined ? `:${tag}` : '') + (digest !== undefined ? `@${digest}` : '');
  const result: ImageReference = {
    original: reference,
    registry,
    apiHost: registryApiHost(registry),
    repository,
    canonical,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
  return result;
}
