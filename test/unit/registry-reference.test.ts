import fc from 'fast-check';
import { parseImageReference } from '../../src/registry/reference';
import {
  LruCache,
  RegistryClient,
  RegistryError,
  matchCredentials,
  normaliseRegistryKey,
  parseDockerConfigJson,
  parseWwwAuthenticate,
} from '../../src/registry/oci';

const D64 = 'a'.repeat(64);

describe('parseImageReference', () => {
  const cases: [string, { registry: string; apiHost: string; repository: string; tag?: string; digest?: string; canonical: string }][] = [
    ['nginx', { registry: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'library/nginx', tag: 'latest', canonical: 'docker.io/library/nginx:latest' }],
    ['nginx:1.27', { registry: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'library/nginx', tag: '1.27', canonical: 'docker.io/library/nginx:1.27' }],
    ['user/app:tag', { registry: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'user/app', tag: 'tag', canonical: 'docker.io/user/app:tag' }],
    ['docker.io/nginx', { registry: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'library/nginx', tag: 'latest', canonical: 'docker.io/library/nginx:latest' }],
    ['index.docker.io/library/busybox:1.36', { registry: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'library/busybox', tag: '1.36', canonical: 'docker.io/library/busybox:1.36' }],
    ['docker.io/team/sub/app', { registry: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'team/sub/app', tag: 'latest', canonical: 'docker.io/team/sub/app:latest' }],
    [`registry:5000/ns/app@sha256:${D64}`, { registry: 'registry:5000', apiHost: 'registry:5000', repository: 'ns/app', digest: `sha256:${D64}`, canonical: `registry:5000/ns/app@sha256:${D64}` }],
    ['localhost:5000/app', { registry: 'localhost:5000', apiHost: 'localhost:5000', repository: 'app', tag: 'latest', canonical: 'localhost:5000/app:latest' }],
    ['localhost/app:v1', { registry: 'localhost', apiHost: 'localhost', repository: 'app', tag: 'v1', canonical: 'localhost/app:v1' }],
    ['[::1]:5000/app', { registry: '[::1]:5000', apiHost: '[::1]:5000', repository: 'app', tag: 'latest', canonical: '[::1]:5000/app:latest' }],
    ['[fe80::1]/team/app:2', { registry: '[fe80::1]', apiHost: '[fe80::1]', repository: 'team/app', tag: '2', canonical: '[fe80::1]/team/app:2' }],
    ['Registry.Example.COM/app', { registry: 'registry.example.com', apiHost: 'registry.example.com', repository: 'app', tag: 'latest', canonical: 'registry.example.com/app:latest' }],
    ['ghcr.io/org/app:1.2.3-rc_1', { registry: 'ghcr.io', apiHost: 'ghcr.io', repository: 'org/app', tag: '1.2.3-rc_1', canonical: 'ghcr.io/org/app:1.2.3-rc_1' }],
    [`quay.io/org/app:v1@sha256:${D64}`, { registry: 'quay.io', apiHost: 'quay.io', repository: 'org/app', tag: 'v1', digest: `sha256:${D64}`, canonical: `quay.io/org/app:v1@sha256:${D64}` }],
    ['a.b/c__d/e-f--g/h.i_j', { registry: 'a.b', apiHost: 'a.b', repository: 'c__d/e-f--g/h.i_j', tag: 'latest', canonical: 'a.b/c__d/e-f--g/h.i_j:latest' }],
    ['  nginx  ', { registry: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'library/nginx', tag: 'latest', canonical: 'docker.io/library/nginx:latest' }],
  ];
  it.each(cases)('%s', (input, expected) => {
    const ref = parseImageReference(input);
    expect(ref).toMatchObject(expected);
    if (expected.tag === undefined) expect(ref.tag).toBeUndefined();
    if (expected.digest === undefined) expect(ref.digest).toBeUndefined();
  });

  const invalid: [string, RegExp][] = [
    ['', /empty/],
    ['   ', /empty/],
    ['Nginx', /lower case/],
    ['user/App', /lower case/],
    ['nginx:', /tag/],
    ['nginx:-bad', /tag/],
    [`nginx:${'t'.repeat(129)}`, /tag/],
    ['nginx@sha256:abc', /digest/],
    [`nginx@sha256:${'a'.repeat(63)}`, /64 hex digits/],
    [`nginx@sha256:${'A'.repeat(64)}`, /lower case/],
    ['nginx@', /digest/],
    ['registry.example.com/', /no repository/],
    ['registry.example.com//app', /empty path component/],
    ['app/', /empty path component/],
    ['my app', /whitespace/],
    ['-bad.host/app', /registry host/],
    ['host:port/app', /registry host/],
    ['a/b_/c', /path components/],
    [`registry.example.com/${'a'.repeat(250)}`, /longer than 255/],
    [':tag', /no repository/],
  ];
  it.each(invalid)('rejects %j', (input, why) => {
    expect(() => parseImageReference(input)).toThrow(why);
    try {
      parseImageReference(input);
    } catch (e) {
      expect((e as Error).message).toContain(JSON.stringify(input.trim() === '' ? input : input.trim()));
    }
  });

  it('never throws anything but an Error, and canonical forms are fixed points', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        let ref;
        try {
          ref = parseImageReference(s);
        } catch (e) {
          expect(e).toBeInstanceOf(Error);
          return;
        }
        const again = parseImageReference(ref.canonical);
        expect(again.canonical).toBe(ref.canonical);
        expect(again.repository).toBe(ref.repository);
        expect(again.registry).toBe(ref.registry);
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips generated valid references', () => {
    const component = fc.stringMatching(/^[a-z0-9]+(?:[._-][a-z0-9]+)?$/).filter((c) => c.length <= 20);
    const host = fc.constantFrom('registry.example.com', 'localhost:5000', '10.0.0.1:443', 'docker.io', '[::1]:5000');
    const tag = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/);
    fc.assert(
      fc.property(host, fc.array(component, { minLength: 1, maxLength: 3 }), tag, (h, parts, t) => {
        const ref = parseImageReference(`${h}/${parts.join('/')}:${t}`);
        expect(ref.tag).toBe(t);
        const repo = h === 'docker.io' && parts.length === 1 ? `library/${parts[0]}` : parts.join('/');
        expect(ref.repository).toBe(repo);
        expect(parseImageReference(ref.canonical)).toMatchObject({ registry: ref.registry, repository: repo, tag: t });
      }),
      { numRuns: 500 },
    );
  });
});

describe('parseDockerConfigJson', () => {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');

  it('reads auth (base64 user:password) and username/password entries', () => {
    const creds = parseDockerConfigJson(
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: b64('hubuser:hub:pass:with:colons') },
          'registry.example.com:5000': { username: 'alice', password: 's3cret' },
          'https://Registry.Example.org/v2/': { auth: b64('bob:pw'), email: 'bob@example.org' },
          'ghcr.io/team': { username: 'carol', password: 'tok' },
          'empty.example.com': {},
          'noauth.example.com': { auth: b64('nocolon') },
        },
      }),
    );
    expect(creds).toEqual([
      { registry: 'docker.io', username: 'hubuser', password: 'hub:pass:with:colons' },
      { registry: 'registry.example.com:5000', username: 'alice', password: 's3cret' },
      { registry: 'registry.example.org', username: 'bob', password: 'pw' },
      { registry: 'ghcr.io/team', username: 'carol', password: 'tok' },
    ]);
  });

  it('accepts the legacy .dockercfg shape (no "auths")', () => {
    expect(parseDockerConfigJson(JSON.stringify({ 'quay.io': { auth: b64('u:p') } }))).toEqual([{ registry: 'quay.io', username: 'u', password: 'p' }]);
  });

  it('gives a clear error for text that is not a docker config', () => {
    expect(() => parseDockerConfigJson('{nope')).toThrow(/not valid JSON/);
    expect(() => parseDockerConfigJson('[]')).toThrow(/must be an object/);
    expect(() => parseDockerConfigJson('{"auths": 3}')).toThrow(/"auths" must be an object/);
  });

  it('normalises registry keys', () => {
    expect(normaliseRegistryKey('https://index.docker.io/v1/')).toBe('docker.io');
    expect(normaliseRegistryKey('registry-1.docker.io')).toBe('docker.io');
    expect(normaliseRegistryKey('http://LOCALHOST:5000/')).toBe('localhost:5000');
    expect(normaliseRegistryKey('https://r.example.com/v2/')).toBe('r.example.com');
    expect(normaliseRegistryKey('r.example.com/team/sub/')).toBe('r.example.com/team/sub');
  });

  it('matches credentials to references like the kubelet, most specific first', () => {
    const creds = [
      { registry: 'docker.io', username: 'hub', password: 'x' },
      { registry: 'registry.example.com', username: 'any', password: 'x' },
      { registry: 'registry.example.com/team', username: 'team', password: 'x' },
      { registry: '*.example.org', username: 'glob', password: 'x' },
      { registry: 'localhost:5000', username: 'local', password: 'x' },
    ];
    const users = (image: string): string[] => matchCredentials(parseImageReference(image), creds).map((c) => c.username);
    expect(users('nginx')).toEqual(['hub']);
    expect(users('index.docker.io/user/app')).toEqual(['hub']);
    expect(users('registry.example.com/team/app:1')).toEqual(['team', 'any']);
    expect(users('registry.example.com/teamx/app')).toEqual(['any']);
    expect(users('registry.example.com:443/app')).toEqual([]);
    expect(users('eu.example.org/app')).toEqual(['glob']);
    expect(users('a.eu.example.org/app')).toEqual([]);
    expect(users('localhost:5000/app')).toEqual(['local']);
    expect(users('localhost/app')).toEqual([]);
  });
});

describe('parseWwwAuthenticate', () => {
  it('reads Bearer and Basic challenges', () => {
    expect(parseWwwAuthenticate('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.example.com/token', service: 'registry.example.com', scope: 'repository:a/b:pull' },
    });
    expect(parseWwwAuthenticate('Basic realm="Registry Realm"')).toEqual({ scheme: 'basic', params: { realm: 'Registry Realm' } });
    expect(parseWwwAuthenticate('bearer realm=https://t.example/x, error="insufficient_scope"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://t.example/x', error: 'insufficient_scope' },
    });
    expect(parseWwwAuthenticate(undefined)).toBeUndefined();
  });
});

describe('LruCache', () => {
  it('evicts the least recently used entry', () => {
    const c = new LruCache<string, number>(2);
    c.set('a', 1);
    c.set('b', 2);
    expect(c.get('a')).toBe(1); // a is now the most recent
    c.set('c', 3);
    expect(c.has('b')).toBe(false);
    expect(c.get('a')).toBe(1);
    expect(c.get('c')).toBe(3);
    expect(c.size).toBe(2);
    c.set('a', 10);
    c.set('d', 4);
    expect([c.has('a'), c.has('c'), c.has('d')]).toEqual([true, false, true]);
  });

  it('keeps nothing with capacity 0', () => {
    const c = new LruCache<string, number>(0);
    c.set('a', 1);
    expect(c.get('a')).toBeUndefined();
    expect(c.size).toBe(0);
  });
});

describe('RegistryClient without a network', () => {
  it('turns an invalid reference into a RegistryError naming it', async () => {
    const client = new RegistryClient({ timeoutMs: 1000, cacheSize: 10, insecureRegistries: [] });
    const err = await client.imageConfig('Registry.example.com/App:1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).code).toBe('invalid-reference');
    expect((err as RegistryError).message).toContain('"Registry.example.com/App:1"');
    client.close();
  });
});
