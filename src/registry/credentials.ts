// imagePullSecrets: parsing .dockerconfigjson and choosing the credentials for an
// image reference, matching registry keys the way the kubelet does.
import { DOCKER_HUB, type ImageReference } from './reference';

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One credential from an imagePullSecret. */
export interface RegistryCredentials {
  /**
   * Normalised registry key: `host[:port]`, optionally followed by a repository path
   * prefix (`registry.example.com/team`); the host may use `*` globs per DNS label
   * (`*.example.com`), as the kubelet allows. Docker Hub is `docker.io`.
   */
  registry: string;
  username: string;
  password: string;
}

const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/**
 * Normalises a key of a docker config `auths` map (`https://index.docker.io/v1/`,
 * `registry.example.com:5000`, `https://registry.example.com/v2/`,
 * `registry.example.com/team`) to `host[:port][/path]`.
 */
export function normaliseRegistryKey(key: string): string {
  let k = key.trim();
  k = k.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  k = k.replace(/\/+$/, '');
  const slash = k.indexOf('/');
  let host = slash >= 0 ? k.slice(0, slash) : k;
  let path = slash >= 0 ? k.slice(slash + 1) : '';
  host = host.toLowerCase();
  if (DOCKER_HUB_ALIASES.has(host)) host = DOCKER_HUB;
  // API version suffixes are not repository paths.
  if (/^v[12]$/.test(path)) path = '';
  return path ? `${host}/${path}` : host;
}

/**
 * Reads the `.dockerconfigjson` of a kubernetes.io/dockerconfigjson Secret (or the
 * older `.dockercfg` map without `auths`). Entries without a usable username and
 * password are skipped. Throws an Error when the text is not such a document.
 */
export function parseDockerConfigJson(json: string): RegistryCredentials[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    throw new Error(`docker config JSON is not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(doc)) throw new Error('docker config JSON must be an object with an "auths" map');
  const auths = isObject(doc.auths) ? doc.auths : doc.auths === undefined ? doc : undefined;
  if (auths === undefined) throw new Error('docker config JSON: "auths" must be an object');
  const out: RegistryCredentials[] = [];
  for (const [key, entry] of Object.entries(auths)) {
    if (!isObject(entry)) continue;
    let username = typeof entry.username === 'string' ? entry.username : '';
    let password = typeof entry.password === 'string' ? entry.password : '';
    if (typeof entry.auth === 'string' && entry.auth !== '') {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) {
        username = decoded.slice(0, colon);
        password = decoded.slice(colon + 1);
      }
    }
    if (username === '' || key.trim() === '') continue;
    out.push({ registry: normaliseRegistryKey(key), username, password });
  }
  return out;
}

function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp('^' + pattern.split('*').map(escapeRegExp).join('[^.]*') + '$');
  return re.test(value);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function splitHostPort(host: string): [string, string] {
  const m = /^(.*?)(?::(\d+))?$/.exec(host);
  return m ? [m[1] ?? host, m[2] ?? ''] : [host, ''];
}

/** Credentials that apply to a reference, most specific first. */
export function matchCredentials(ref: ImageReference, all: readonly RegistryCredentials[]): RegistryCredentials[] {
  const scored: { c: RegistryCredentials; score: number }[] = [];
  for (const c of all) {
    if (!c || typeof c.registry !== 'string' || typeof c.username !== 'string') continue;
    const key = normaliseRegistryKey(c.registry);
    const slash = key.indexOf('/');
    const keyHost = slash >= 0 ? key.slice(0, slash) : key;
    const keyPath = slash >= 0 ? key.slice(slash + 1) : '';
    const [kName, kPort] = splitHostPort(keyHost);
    const [rName, rPort] = splitHostPort(ref.registry.toLowerCase());
    if (kPort !== rPort) continue;
    const hostOk = kName.includes('*')
      ? kName.split('.').length === rName.split('.').length && globMatch(kName, rName)
      : kName === rName;
    if (!hostOk) continue;
    if (keyPath !== '' && ref.repository !== keyPath && !ref.repository.startsWith(keyPath + '/')) continue;
    scored.push({ c, score: (kName.includes('*') ? 0 : 100000) + keyPath.length });
  }
  scored.sort((a, b) => b.score - a.score);
  return scored.map((s) => s.c);
}
