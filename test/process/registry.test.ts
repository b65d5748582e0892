// RegistryClient against real registries: Debian's docker-registry (distribution v2)
// started three times on 127.0.0.1 — open, htpasswd basic auth over TLS, and token
// auth backed by a token service written here — plus small node servers that
// misbehave (never answer, answer HTML, serve wrong bytes, redirect blobs).
// Images are pushed with the registry's own HTTP API. Needs /usr/bin/docker-registry
// (apt package docker-registry) and perl's crypt() with bcrypt (perl-base + libcrypt1,
// always present on Debian) for the htpasswd line.

import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign as cryptoSign, KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import forge from 'node-forge';
import { RegistryClient, RegistryError, parseDockerConfigJson } from '../../src/registry/oci';
import { MT, dockerRegistry, freePort, pushImage, pushIndex, sha256, startRegistry, stopRegistries, type PushTarget, type Pushed, type Registry } from '../helpers/registry';

jest.setTimeout(60_000);

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------
// plumbing: ports, HTTP, certificates

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

function closeServer(server: http.Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

interface KeyPair {
  privateKey: KeyObject;
  forgeKey: forge.pki.rsa.PrivateKey;
  pem: string;
}

function rsaKey(): KeyPair {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  return { privateKey, forgeKey: forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey, pem };
}

interface Cert {
  key: KeyPair;
  cert: forge.pki.Certificate;
  pem: string;
  derBase64: string;
}

function makeCert(commonName: string, issuer: Cert | undefined, extensions: object[]): Cert {
  const key = rsaKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.forgeKey.n, key.forgeKey.e);
  cert.serialNumber = '0' + randomBytes(8).toString('hex');
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
  cert.setSubject([{ name: 'commonName', value: commonName }]);
  cert.setIssuer(issuer ? issuer.cert.subject.attributes : [{ name: 'commonName', value: commonName }]);
  cert.setExtensions(extensions);
  cert.sign(issuer ? issuer.key.forgeKey : key.forgeKey, forge.md.sha256.create());
  const pem = forge.pki.certificateToPem(cert);
  const der = forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes();
  return { key, cert, pem, derBase64: Buffer.from(der, 'binary').toString('base64') };
}

const caExtensions = [
  { name: 'basicConstraints', cA: true, critical: true },
  { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
];

// ---------------------------------------------------------------------------------
// pushing images with the distribution API

// ---------------------------------------------------------------------------------
// a counting HTTP proxy in front of the open registry

interface CountingProxy {
  server: http.Server;
  host: string;
  requests: string[];
}

async function startCountingProxy(target: Registry): Promise<CountingProxy> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const upstream = http.request(
      { host: '127.0.0.1', port: target.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  const port = await listen(server);
  return { server, host: `127.0.0.1:${port}`, requests };
}

// ---------------------------------------------------------------------------------
// token service for the token-auth registry

const TOKEN_ISSUER = 'podhooks-test-issuer';
const TOKEN_SERVICE = 'podhooks-test-registry';
const USERS: Record<string, string> = { alice: 'wonderland' };

interface TokenService {
  server: http.Server;
  port: number;
  requests: { service: string | null; scopes: string[]; user: string | undefined }[];
  mint(user: string, access: { type: string; name: string; actions: string[] }[]): string;
}

async function startTokenService(signer: Cert, ca: Cert): Promise<TokenService> {
  const requests: TokenService['requests'] = [];
  const mint = (user: string, access: { type: string; name: string; actions: string[] }[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [signer.derBase64, ca.derBase64] };
    const claims = { iss: TOKEN_ISSUER, sub: user, aud: TOKEN_SERVICE, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    return `${input}.${b64url(cryptoSign('sha256', Buffer.from(input), signer.key.privateKey))}`;
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://token');
    let user: string | undefined;
    const auth = req.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const [u, ...rest] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
      if (!u || USERS[u] !== rest.join(':')) {
        requests.push({ service: url.searchParams.get('service'), scopes: url.searchParams.getAll('scope'), user: `${u}(rejected)` });
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ details: 'incorrect username or password' }));
        return;
      }
      user = u;
    }
    const scopes = url.searchParams.getAll('scope');
    requests.push({ service: url.searchParams.get('service'), scopes, user });
    // Authenticated users may pull everything; anonymous callers only public/*.
    const access = scopes
      .map((s) => s.split(':'))
      .filter((p) => p.length === 3 && p[0] === 'repository')
      .map(([type, name, actions]) => ({ type: type as string, name: name as string, actions: (actions as string).split(',').filter((a) => a === 'pull') }))
      .filter((a) => user !== undefined || a.name.startsWith('public/'));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: mint(user ?? '', access), expires_in: 300, issued_at: new Date().toISOString() }));
  });
  const port = await listen(server);
  return { server, port, requests, mint };
}

// ---------------------------------------------------------------------------------
// misbehaving servers

interface Misbehaving {
  server: http.Server;
  host: string;
  blobServer: http.Server;
  blobAuthSeen: (string | undefined)[];
}

async function startMisbehaving(): Promise<Misbehaving> {
  const blobAuthSeen: (string | undefined)[] = [];
  const goodConfig = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Entrypoint: ['/redirected'], Cmd: null } }));
  const blobServer = http.createServer((req, res) => {
    blobAuthSeen.push(req.headers.authorization);
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(goodConfig);
  });
  const blobPort = await listen(blobServer);

  const wrongConfig = Buffer.from('{"config":{"Entrypoint":["/evil"]}}');
  const claimedConfig = Buffer.from('{"config":{"Entrypoint":["/good"]}}');
  const manifestFor = (config: Buffer): Buffer =>
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: sha256(config), size: config.length }, layers: [] }));
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    if (url.startsWith('/v2/silent/')) return; // never answers
    if (url.startsWith('/v2/html/')) {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>Please log in to the corporate proxy</body></html>');
      return;
    }
    if (url === '/v2/tampered/app/manifests/1') {
      res.writeHead(200, { 'content-type': MT.ociManifest });
      res.end(manifestFor(claimedConfig));
      return;
    }
    if (url === `/v2/tampered/app/blobs/${sha256(claimedConfig)}`) {
      res.writeHead(200);
      res.end(wrongConfig);
      return;
    }
    if (url.startsWith('/v2/redirect/')) {
      if (req.headers.authorization !== `Basic ${Buffer.from('bob:pw').toString('base64')}`) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' });
        res.end();
        return;
      }
      if (url === '/v2/redirect/app/manifests/1') {
        res.writeHead(200, { 'content-type': MT.ociManifest });
        res.end(manifestFor(goodConfig));
        return;
      }
      if (url === `/v2/redirect/app/blobs/${sha256(goodConfig)}`) {
        res.writeHead(307, { location: `http://127.0.0.1:${blobPort}/storage/blob?sig=abc` });
        res.end();
        return;
      }
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }] }));
  });
  const port = await listen(server);
  return { server, host: `127.0.0.1:${port}`, blobServer, blobAuthSeen };
}

// ---------------------------------------------------------------------------------

/** `message`: a RegExp, or the exact expected message. */
async function expectRegistryError(p: Promise<unknown>, code: string, message: RegExp | string): Promise<RegistryError> {
  const err = await p.then(
    (v) => {
      throw new Error(`expected a RegistryError, got ${JSON.stringify(v)}`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RegistryError);
  const re = err as RegistryError;
  expect({ code: re.code, message: re.message }).toEqual({ code, message: typeof message === 'string' ? message : expect.stringMatching(message) });
  return re;
}

const clients: RegistryClient[] = [];
/** Every server of this file is on loopback, which the access policy refuses unless listed. */
const testServers = (): string[] => [open, basic, token, proxy, bad].map((r) => r.host).concat(`127.0.0.1:${tokenService.port}`, `127.0.0.1:${(bad.blobServer.address() as net.AddressInfo).port}`);
function client(opts: Partial<ConstructorParameters<typeof RegistryClient>[0]> = {}): RegistryClient {
  const c = new RegistryClient({ timeoutMs: 5000, cacheSize: 100, insecureRegistries: [], allowedRegistries: testServers(), ...opts });
  clients.push(c);
  return c;
}

let open: Registry;
let basic: Registry;
let token: Registry;
let proxy: CountingProxy;
let tokenService: TokenService;
let bad: Misbehaving;
let registryCa: Cert;
let workDir = '';
const pushed: Record<string, Pushed | string> = {};
const started = Date.now();

beforeAll(async () => {
  dockerRegistry(); // throws with the fix when provisioning did not run
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'podhooks-registry-'));

  // TLS for the basic-auth registry, from a private CA.
  registryCa = makeCert('podhooks test registry CA', undefined, caExtensions);
  const serving = makeCert('127.0.0.1', registryCa, [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] },
  ]);
  fs.writeFileSync(path.join(workDir, 'serving.crt'), serving.pem);
  fs.writeFileSync(path.join(workDir, 'serving.key'), serving.key.pem, { mode: 0o600 });

  // htpasswd with a bcrypt hash, made by libcrypt through perl's crypt().
  const salt = randomBytes(16).toString('base64').replace(/[^A-Za-z0-9]/g, '.').slice(0, 22);
  const hash = execFileSync('perl', ['-e', 'print crypt($ARGV[0], $ARGV[1])', 's3cret', `$2b$05$${salt}`]).toString();
  if (!hash.startsWith('$2b$')) throw new Error(`this libcrypt cannot make bcrypt hashes (got ${JSON.stringify(hash)})`);
  fs.writeFileSync(path.join(workDir, 'htpasswd'), `alice:${hash}\n`);

  // Token signing: a CA in the registry's rootcertbundle, a leaf that signs tokens.
  const tokenCa = makeCert('podhooks test token CA', undefined, caExtensions);
  const tokenSigner = makeCert('podhooks test token signer', tokenCa, [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, critical: true },
  ]);
  fs.writeFileSync(path.join(workDir, 'token-ca.pem'), tokenCa.pem);
  tokenService = await startTokenService(tokenSigner, tokenCa);

  [open, basic, token, bad] = await Promise.all([
    startRegistry(workDir, 'open'),
    startRegistry(workDir, 'basic', {
      auth: { htpasswd: { realm: 'podhooks-test', path: path.join(workDir, 'htpasswd') } },
      tls: { certificate: path.join(workDir, 'serving.crt'), key: path.join(workDir, 'serving.key'), ca: registryCa.pem },
    }),
    startRegistry(workDir, 'token', {
      auth: {
        token: { realm: `http://127.0.0.1:${tokenService.port}/token`, service: TOKEN_SERVICE, issuer: TOKEN_ISSUER, rootcertbundle: path.join(workDir, 'token-ca.pem') },
      },
    }),
    startMisbehaving(),
  ]);
  proxy = await startCountingProxy(open);

  // The open registry.
  const o: PushTarget = { base: open.base };
  pushed.web = await pushImage(o, 'apps/web', '1.0', { entrypoint: ['/docker-entrypoint.sh'], cmd: ['nginx', '-g', 'daemon off;'] });
  pushed.cmdOnly = await pushImage(o, 'apps/worker', 'v2', { cmd: ['python3', '-m', 'worker'] });
  pushed.bare = await pushImage(o, 'apps/bare', 'latest', {});
  const amd = await pushImage(o, 'apps/multi', undefined, { architecture: 'amd64', entrypoint: ['/bin/app-amd64'], cmd: ['--serve'] });
  const arm = await pushImage(o, 'apps/multi', undefined, { architecture: 'arm64', variant: 'v8', entrypoint: ['/bin/app-arm64'], cmd: ['--serve'] });
  // An attestation manifest like buildx adds, platform unknown/unknown.
  const att = await pushImage(o, 'apps/multi', undefined, { os: 'unknown', architecture: 'unknown', configMediaType: MT.ociConfig });
  pushed.multi = await pushIndex(o, 'apps/multi', '3.1', false, [amd, arm], [
    { mediaType: att.mediaType, digest: att.digest, size: att.size, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } },
  ]);
  pushed.multiAmd = amd;
  const dAmd = await pushImage(o, 'legacy/tool', undefined, { docker: true, architecture: 'amd64', entrypoint: ['/usr/bin/tool'], cmd: ['run'] });
  const dArm = await pushImage(o, 'legacy/tool', undefined, { docker: true, architecture: 'arm', variant: 'v7', entrypoint: ['/usr/bin/tool-armv7'], cmd: ['run'] });
  pushed.list = await pushIndex(o, 'legacy/tool', '2024.1', true, [dAmd, dArm]);
  pushed.dockerSingle = await pushImage(o, 'legacy/single', '1', { docker: true, entrypoint: ['/entry'], cmd: [] });

  // The basic-auth registry.
  const b: PushTarget = { base: basic.base, ca: registryCa.pem, headers: { authorization: `Basic ${Buffer.from('alice:s3cret').toString('base64')}` } };
  pushed.basic = await pushImage(b, 'team/private', '1.0', { entrypoint: ['/private'], cmd: ['--basic'] });

  // The token-auth registry: push with a token minted for push.
  const push = (repo: string): PushTarget => ({
    base: token.base,
    headers: { authorization: `Bearer ${tokenService.mint('ci', [{ type: 'repository', name: repo, actions: ['pull', 'push'] }])}` },
  });
  pushed.tokenPrivate = await pushImage(push('private/app'), 'private/app', '1', { entrypoint: ['/token-app'], cmd: ['one'] });
  pushed.tokenPrivate2 = await pushImage(push('private/app'), 'private/app', '2', { entrypoint: ['/token-app'], cmd: ['two'] });
  pushed.tokenPublic = await pushImage(push('public/tool'), 'public/tool', 'latest', { cmd: ['/public-tool'] });
  tokenService.requests.length = 0;
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all([closeServer(proxy?.server), closeServer(tokenService?.server), closeServer(bad?.server), closeServer(bad?.blobServer)]);
  await stopRegistries();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  // eslint-disable-next-line no-console
  console.log(`registry process tests: ${Date.now() - started} ms including registry start-up`);
});

const digestOf = (k: string): string => {
  const v = pushed[k];
  return typeof v === 'string' ? v : (v as Pushed).digest;
};

describe('images in a real docker-registry', () => {
  it('single-platform OCI image with Entrypoint and Cmd', async () => {
    const c = client({ insecureRegistries: [open.host] });
    await expect(c.imageConfig(`${open.host}/apps/web:1.0`)).resolves.toEqual({
      entrypoint: ['/docker-entrypoint.sh'],
      cmd: ['nginx', '-g', 'daemon off;'],
      digest: digestOf('web'),
    });
  });

  it('image with only Cmd, and one with neither', async () => {
    const c = client({ insecureRegistries: [open.host] });
    await expect(c.imageConfig(`${open.host}/apps/worker:v2`)).resolves.toEqual({ entrypoint: null, cmd: ['python3', '-m', 'worker'], digest: digestOf('cmdOnly') });
    await expect(c.imageConfig(`${open.host}/apps/bare`)).resolves.toEqual({ entrypoint: null, cmd: null, digest: digestOf('bare') });
  });

  it('single-platform Docker schema2 image (empty Cmd stays empty)', async () => {
    const c = client({ insecureRegistries: [open.host] });
    await expect(c.imageConfig(`${open.host}/legacy/single:1`)).resolves.toEqual({ entrypoint: ['/entry'], cmd: [], digest: digestOf('dockerSingle') });
  });

  it('multi-arch OCI index: picks the platform, digest is the index digest', async () => {
    const amd = client({ insecureRegistries: [open.host] });
    await expect(amd.imageConfig(`${open.host}/apps/multi:3.1`)).resolves.toEqual({ entrypoint: ['/bin/app-amd64'], cmd: ['--serve'], digest: digestOf('multi') });
    const arm = client({ insecureRegistries: [open.host], platform: { os: 'linux', architecture: 'arm64' } });
    await expect(arm.imageConfig(`${open.host}/apps/multi:3.1`)).resolves.toEqual({ entrypoint: ['/bin/app-arm64'], cmd: ['--serve'], digest: digestOf('multi') });
    const armV8 = client({ insecureRegistries: [open.host], platform: { os: 'linux', architecture: 'aarch64', variant: 'v8' } });
    await expect(armV8.imageConfig(`${open.host}/apps/multi@${digestOf('multi')}`)).resolves.toMatchObject({ entrypoint: ['/bin/app-arm64'] });
    // A platform manifest pinned by its own digest is a plain image.
    await expect(amd.imageConfig(`${open.host}/apps/multi@${digestOf('multiAmd')}`)).resolves.toEqual({ entrypoint: ['/bin/app-amd64'], cmd: ['--serve'], digest: digestOf('multiAmd') });
  });

  it('a platform missing from the index is named, with the platforms present (attestations left out)', async () => {
    const s390 = client({ insecureRegistries: [open.host], platform: { os: 'linux', architecture: 's390x' } });
    const err = await expectRegistryError(s390.imageConfig(`${open.host}/apps/multi:3.1`), 'platform', /no linux\/s390x image .*platforms present: linux\/amd64, linux\/arm64\/v8\)/);
    expect(err.message).not.toContain('unknown');
    expect(err.message).toContain(`image ${open.host}/apps/multi:3.1:`);
  });

  it('Docker schema2 manifest list', async () => {
    const amd = client({ insecureRegistries: [open.host] });
    await expect(amd.imageConfig(`${open.host}/legacy/tool:2024.1`)).resolves.toEqual({ entrypoint: ['/usr/bin/tool'], cmd: ['run'], digest: digestOf('list') });
    const armv7 = client({ insecureRegistries: [open.host], platform: { os: 'linux', architecture: 'arm', variant: 'v7' } });
    await expect(armv7.imageConfig(`${open.host}/legacy/tool:2024.1`)).resolves.toEqual({ entrypoint: ['/usr/bin/tool-armv7'], cmd: ['run'], digest: digestOf('list') });
    const arm64 = client({ insecureRegistries: [open.host], platform: { os: 'linux', architecture: 'arm64' } });
    await expectRegistryError(arm64.imageConfig(`${open.host}/legacy/tool:2024.1`), 'platform', /platforms present: linux\/amd64, linux\/arm\/v7/);
  });

  it('404 for a missing tag, a missing digest and a missing repository', async () => {
    const c = client({ insecureRegistries: [open.host] });
    const err = await expectRegistryError(
      c.imageConfig(`${open.host}/apps/web:9.9`),
      'not-found',
      `image ${open.host}/apps/web:9.9: manifest not found (HTTP 404) — check the image name and tag`,
    );
    expect(err.status).toBe(404);
    await expectRegistryError(c.imageConfig(`${open.host}/apps/web@sha256:${'0'.repeat(64)}`), 'not-found', /manifest not found \(HTTP 404\) — check the image name and digest/);
    await expectRegistryError(c.imageConfig(`${open.host}/nobody/here:1`), 'not-found', /manifest not found \(HTTP 404\)/);
  });
});

describe('caching (requests counted by a proxy in front of the registry)', () => {
  const count = async (f: () => Promise<unknown>): Promise<string[]> => {
    const before = proxy.requests.length;
    await f();
    return proxy.requests.slice(before);
  };

  it('a reference pinned by digest makes no request once cached', async () => {
    const c = client({ insecureRegistries: [proxy.host] });
    const ref = `${proxy.host}/apps/web@${digestOf('web')}`;
    const first = await count(() => c.imageConfig(ref));
    expect(first).toEqual([`GET /v2/apps/web/manifests/${digestOf('web')}`, expect.stringMatching(/^GET \/v2\/apps\/web\/blobs\/sha256:/)]);
    const second = await count(async () => expect(await c.imageConfig(ref)).toMatchObject({ entrypoint: ['/docker-entrypoint.sh'] }));
    expect(second).toEqual([]);
    // The tag resolves to the same digest: one manifest request, config from the cache.
    const tagged = await count(() => c.imageConfig(`${proxy.host}/apps/web:1.0`));
    expect(tagged).toEqual(['GET /v2/apps/web/manifests/1.0']);
  });

  it('a tag makes no request within its TTL, and one manifest request after it', async () => {
    const c = client({ insecureRegistries: [proxy.host], tagTtlMs: 1500 });
    const ref = `${proxy.host}/apps/multi:3.1`;
    expect(await count(() => c.imageConfig(ref))).toHaveLength(3); // index, amd64 manifest, config
    expect(await count(() => c.imageConfig(ref))).toEqual([]);
    await sleep(1600);
    expect(await count(() => c.imageConfig(ref))).toEqual(['GET /v2/apps/multi/manifests/3.1']);
  });

  it('the default tag TTL is a minute', async () => {
    const c = client({ insecureRegistries: [proxy.host] });
    const ref = `${proxy.host}/apps/worker:v2`;
    expect(await count(() => c.imageConfig(ref))).toHaveLength(2);
    await sleep(300);
    expect(await count(() => c.imageConfig(ref))).toEqual([]);
  });

  it('concurrent lookups of one image share the requests', async () => {
    const c = client({ insecureRegistries: [proxy.host] });
    let results: unknown[] = [];
    const reqs = await count(async () => {
      results = await Promise.all(Array.from({ length: 8 }, () => c.imageConfig(`${proxy.host}/legacy/tool:2024.1`)));
    });
    expect(reqs).toHaveLength(3);
    expect(new Set(results.map((r) => JSON.stringify(r))).size).toBe(1);
  });

  it('the LRU is bounded by cacheSize and results are copies', async () => {
    const c = client({ insecureRegistries: [proxy.host], cacheSize: 1 });
    const web = `${proxy.host}/apps/web@${digestOf('web')}`;
    const worker = `${proxy.host}/apps/worker@${digestOf('cmdOnly')}`;
    const r = await c.imageConfig(web);
    r.cmd?.push('mutated');
    await c.imageConfig(worker); // evicts web
    expect(await count(() => c.imageConfig(web))).toHaveLength(2);
    expect((await c.imageConfig(web)).cmd).toEqual(['nginx', '-g', 'daemon off;']);
  });

  it('cacheSize 0 caches nothing', async () => {
    const c = client({ insecureRegistries: [proxy.host], cacheSize: 0 });
    const ref = `${proxy.host}/apps/web@${digestOf('web')}`;
    await c.imageConfig(ref);
    expect(await count(() => c.imageConfig(ref))).toHaveLength(2);
  });
});

describe('htpasswd basic auth over TLS with a private CA', () => {
  const secret = (user: string, password: string, key = `https://${'HOST'}`): string =>
    JSON.stringify({ auths: { [key]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } });

  it('with the credentials of a dockerconfigjson Secret', async () => {
    const c = client({ caCertificates: [registryCa.pem] });
    const creds = parseDockerConfigJson(secret('alice', 's3cret', `https://${basic.host}/v2/`));
    expect(creds).toEqual([{ registry: basic.host, username: 'alice', password: 's3cret' }]);
    await expect(c.imageConfig(`${basic.host}/team/private:1.0`, creds)).resolves.toEqual({ entrypoint: ['/private'], cmd: ['--basic'], digest: digestOf('basic') });
  });

  it('without credentials: unauthorized, naming the registry and both ways out', async () => {
    const c = client({ caCertificates: [registryCa.pem] });
    const err = await expectRegistryError(
      c.imageConfig(`${basic.host}/team/private:1.0`),
      'unauthorized',
      `image ${basic.host}/team/private:1.0: unauthorized (HTTP 401) — add an imagePullSecret with credentials for ${basic.host} or set podhooks.io/entrypoint.<container>`,
    );
    expect(err.status).toBe(401);
    // Credentials for another registry do not help (and are not sent).
    await expectRegistryError(c.imageConfig(`${basic.host}/team/private:1.0`, [{ registry: 'other.example.com', username: 'alice', password: 's3cret' }]), 'unauthorized', /add an imagePullSecret/);
  });

  it('with a wrong password: says the credentials were rejected; a second good one is tried', async () => {
    const c = client({ caCertificates: [registryCa.pem] });
    await expectRegistryError(
      c.imageConfig(`${basic.host}/team/private:1.0`, [{ registry: basic.host, username: 'alice', password: 'nope' }]),
      'unauthorized',
      /unauthorized \(HTTP 401\) with the credentials given for 127\.0\.0\.1:\d+ — check the username, password/,
    );
    await expect(
      c.imageConfig(`${basic.host}/team/private:1.0`, [
        { registry: basic.host, username: 'alice', password: 'nope' },
        { registry: basic.host, username: 'alice', password: 's3cret' },
      ]),
    ).resolves.toMatchObject({ entrypoint: ['/private'] });
  });

  it('without the private CA: a TLS error that says what to do', async () => {
    const c = client();
    await expectRegistryError(c.imageConfig(`${basic.host}/team/private:1.0`), 'tls', /TLS connection to registry 127\.0\.0\.1:\d+ failed .*private CA/);
  });

  it('listed as insecure although it serves HTTPS', async () => {
    const c = client({ insecureRegistries: [basic.host] });
    await expectRegistryError(c.imageConfig(`${basic.host}/team/private:1.0`), 'tls', /serves HTTPS but is listed as an insecure/);
  });
});

describe('bearer tokens from a token service (docker-registry with auth: token)', () => {
  const creds = [{ registry: 'placeholder', username: 'alice', password: 'wonderland' }];
  const credsFor = (): typeof creds => creds.map((c) => ({ ...c, registry: token.host }));

  it('anonymous token for a public repository', async () => {
    const c = client({ insecureRegistries: [token.host] });
    const before = tokenService.requests.length;
    await expect(c.imageConfig(`${token.host}/public/tool`)).resolves.toEqual({ entrypoint: null, cmd: ['/public-tool'], digest: digestOf('tokenPublic') });
    expect(tokenService.requests.slice(before)).toEqual([{ service: TOKEN_SERVICE, scopes: ['repository:public/tool:pull'], user: undefined }]);
  });

  it('a private repository needs credentials', async () => {
    const c = client({ insecureRegistries: [token.host] });
    await expectRegistryError(
      c.imageConfig(`${token.host}/private/app:1`),
      'unauthorized',
      `image ${token.host}/private/app:1: unauthorized (HTTP 401) — add an imagePullSecret with credentials for ${token.host} or set podhooks.io/entrypoint.<container>`,
    );
  });

  it('with credentials: one token, cached for the next lookup in the repository', async () => {
    const c = client({ insecureRegistries: [token.host] });
    const before = tokenService.requests.length;
    await expect(c.imageConfig(`${token.host}/private/app:1`, credsFor())).resolves.toEqual({ entrypoint: ['/token-app'], cmd: ['one'], digest: digestOf('tokenPrivate') });
    await expect(c.imageConfig(`${token.host}/private/app:2`, credsFor())).resolves.toEqual({ entrypoint: ['/token-app'], cmd: ['two'], digest: digestOf('tokenPrivate2') });
    expect(tokenService.requests.slice(before)).toEqual([{ service: TOKEN_SERVICE, scopes: ['repository:private/app:pull'], user: 'alice' }]);
    // Another caller without credentials does not get alice's token.
    await expectRegistryError(c.imageConfig(`${token.host}/private/app:2`), 'unauthorized', /add an imagePullSecret/);
  });

  it('wrong credentials are rejected by the token service', async () => {
    const c = client({ insecureRegistries: [token.host] });
    await expectRegistryError(
      c.imageConfig(`${token.host}/private/app:1`, [{ registry: token.host, username: 'alice', password: 'looking-glass' }]),
      'unauthorized',
      /the token service 127\.0\.0\.1:\d+ rejected the credentials for 127\.0\.0\.1:\d+ \(HTTP 401\) — check the username and password in the imagePullSecret/,
    );
  });
});

describe('registries that misbehave', () => {
  it('times out against a server that never answers', async () => {
    const c = client({ insecureRegistries: [bad.host], timeoutMs: 300 });
    const t0 = Date.now();
    await expectRegistryError(
      c.imageConfig(`${bad.host}/silent/app:1`),
      'timeout',
      new RegExp(`^image ${bad.host}/silent/app:1: the registry lookup did not finish within 300 ms \\(registry.timeoutMs covers the whole lookup: manifests, token, redirects; it stopped at GET /v2/silent/app/manifests/1 on ${bad.host}\\) — check that the webhook can reach`),
    );
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('a non-JSON answer (a login page) is reported as such', async () => {
    const c = client({ insecureRegistries: [bad.host] });
    const err = await expectRegistryError(c.imageConfig(`${bad.host}/html/app:1`), 'bad-response', /the manifest from 127\.0\.0\.1:\d+ is not JSON \(content type "text\/html", HTTP 200\) — check that .* no proxy or login page is in the way/);
    // What the server said stays out of the message (it may be anything: docs/install.md, "Security model").
    expect(err.message).not.toMatch(/log in|corporate/);
  });

  it('a config blob whose bytes do not match its digest is refused', async () => {
    const c = client({ insecureRegistries: [bad.host] });
    await expectRegistryError(c.imageConfig(`${bad.host}/tampered/app:1`), 'digest-mismatch', /the config blob served for sha256:[0-9a-f]{64} has digest sha256:/);
  });

  it('a blob redirect to another host is followed without the Authorization header', async () => {
    const c = client({ insecureRegistries: [bad.host] });
    await expect(c.imageConfig(`${bad.host}/redirect/app:1`, [{ registry: bad.host, username: 'bob', password: 'pw' }])).resolves.toMatchObject({ entrypoint: ['/redirected'], cmd: null });
    expect(bad.blobAuthSeen).toEqual([undefined]);
  });

  it('connection refused', async () => {
    const port = await freePort();
    const c = client({ insecureRegistries: [`127.0.0.1:${port}`], allowedRegistries: [`127.0.0.1:${port}`] });
    await expectRegistryError(c.imageConfig(`127.0.0.1:${port}/app:1`), 'network', new RegExp(`cannot connect to registry 127\\.0\\.0\\.1:${port} \\(.*ECONNREFUSED`));
  });

  it('an invalid reference', async () => {
    await expectRegistryError(client().imageConfig('127.0.0.1:5000/App'), 'invalid-reference', /invalid image reference "127\.0\.0\.1:5000\/App"/);
  });
});
