// The registry client is an SSRF target: pod authors choose image names, and a registry's
// answers choose redirect targets and token realms. Here a loopback "internal" server
// stands for the metadata service and every other internal endpoint: it must receive no
// connection at all, whether it is named as the image's host (IP literal, v4-mapped,
// localhost, or a DNS name resolving to it through a hosts-style resolver), as a redirect
// target or as a token realm. Around it: Debian's docker-registry (listed in
// registry.allowedRegistries, so it works), small listed fronts that redirect, challenge
// and leak, an https front for the downgrade rules, and a chain of slow redirects for the
// lookup's one deadline. The same through `podhooks serve`, plus cancellation when the
// apiserver gives up (its ?timeout, or a closed connection).
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateBundle } from '../../src/certs';
import { RegistryClient, RegistryError } from '../../src/registry/oci';
import { post, review, startPodhooks, type Podhooks } from '../helpers/podhooks';
import { pushImage, startRegistry, stopRegistries, type Registry } from '../helpers/registry';

jest.setTimeout(60_000);

const SECRET = 'AccessKeyId=AKIA-PODHOOKS-TEST-LEAK';

interface TestServer {
  server: net.Server;
  port: number;
  host: string;
  connections: number;
  requests: string[];
  /** Sockets closed by the peer after a request arrived (for cancellation). */
  closed: number;
}

function listen<T extends net.Server>(server: T, handler?: (ts: TestServer) => void): Promise<TestServer> {
  return new Promise((resolve, reject) => {
    const ts = { server, port: 0, host: '', connections: 0, requests: [] as string[], closed: 0 };
    server.on('connection', (socket: net.Socket) => {
      ts.connections++;
      socket.on('close', () => ts.closed++);
    });
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      ts.port = (server.address() as net.AddressInfo).port;
      ts.host = `127.0.0.1:${ts.port}`;
      handler?.(ts);
      resolve(ts);
    });
  });
}

let dir: string;
let open: Registry;
let internal: TestServer;
let front: TestServer;
let secure: TestServer;
let tls: { caCert: string; cert: string; key: string };
const resolved: string[] = [];
/** A hosts file for the client: these names resolve to the internal server's address. */
const resolver = async (name: string) => {
  resolved.push(name);
  if (name === 'metadata.internal.test' || name === 'attacker.test') return [{ address: '127.0.0.1', family: 4 as const }];
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
};

function frontHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = req.url ?? '';
  front.requests.push(url);
  const i = internal.port;
  if (url.startsWith('/v2/redir-ip/')) return void res.writeHead(302, { location: `http://127.0.0.1:${i}/latest/meta-data/iam/security-credentials/` }).end();
  if (url.startsWith('/v2/redir-name/')) return void res.writeHead(307, { location: `http://metadata.internal.test:${i}/latest/meta-data/` }).end();
  if (url.startsWith('/v2/redir-mapped/')) return void res.writeHead(302, { location: `http://[::ffff:127.0.0.1]:${i}/` }).end();
  if (url.startsWith('/v2/realm-internal/')) return void res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${i}/token",service="x"` }).end();
  if (url.startsWith('/v2/leaky-error/')) return void res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: SECRET }] }));
  if (url.startsWith('/v2/leaky-page/')) return void res.writeHead(200, { 'content-type': `text/plain; ${SECRET}` }).end(SECRET);
  if (url.startsWith('/v2/leaky-denied/')) return void res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: SECRET, message: SECRET }] }));
  if (url.startsWith('/v2/silent/')) return; // never answers
  // A chain of slow redirects: every hop answers after 400 ms.
  const hop = /^\/(?:v2\/slow\/app\/manifests\/1|hop\/(\d+))$/.exec(url);
  if (hop) {
    const n = hop[1] === undefined ? 0 : Number(hop[1]);
    setTimeout(() => res.writeHead(302, { location: `/hop/${n + 1}` }).end(), 400);
    return;
  }
  res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN"}]}');
}

function secureHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = req.url ?? '';
  secure.requests.push(url);
  if (url.startsWith('/v2/downgrade/')) return void res.writeHead(302, { location: `http://${front.host}/v2/target/app/manifests/1` }).end();
  if (url.startsWith('/v2/realm-http/')) return void res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${front.host}/token",service="x"` }).end();
  res.writeHead(404).end();
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podhooks-registry-access-'));
  tls = generateBundle(['localhost'], ['127.0.0.1']);
  internal = await listen(
    http.createServer((req, res) => {
      internal.requests.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'text/plain' }).end(SECRET);
    }),
  );
  front = await listen(http.createServer(frontHandler));
  secure = await listen(https.createServer({ cert: tls.cert, key: tls.key }, secureHandler));
  open = await startRegistry(dir, 'open');
  await pushImage({ base: open.base }, 'team/app', '1', { entrypoint: ['/app'], cmd: ['--serve'] });
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of [internal, front, secure]) {
    (s?.server as http.Server | undefined)?.closeAllConnections?.();
    await new Promise((r) => (s ? s.server.close(r) : r(undefined)));
  }
  await stopRegistries();
  fs.rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  // The internal server never sees a connection, in any test.
  expect({ connections: internal.connections, requests: internal.requests }).toEqual({ connections: 0, requests: [] });
});

const clients: RegistryClient[] = [];
function client(opts: Partial<ConstructorParameters<typeof RegistryClient>[0]> = {}): RegistryClient {
  const c = new RegistryClient({
    timeoutMs: 10_000,
    cacheSize: 0,
    insecureRegistries: [open.host, front.host],
    allowedRegistries: [open.host, front.host, secure.host],
    caCertificates: [tls.caCert],
    resolver,
    ...opts,
  });
  clients.push(c);
  return c;
}

async function refusal(p: Promise<unknown>): Promise<RegistryError> {
  const err = await p.then(
    (v) => {
      throw new Error(`expected a RegistryError, got ${JSON.stringify(v)}`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RegistryError);
  expect((err as Error).message).not.toContain(SECRET);
  return err as RegistryError;
}

describe('the image host', () => {
  test('a listed registry works (the policy is not a wall)', async () => {
    await expect(client().imageConfig(`${open.host}/team/app:1`)).resolves.toMatchObject({ entrypoint: ['/app'], cmd: ['--serve'] });
  });

  test('an internal IP literal is refused before connecting', async () => {
    const err = await refusal(client({ insecureRegistries: [internal.host] }).imageConfig(`${internal.host}/team/app:1`));
    expect({ code: err.code, message: err.message }).toEqual({
      code: 'blocked',
      message: `image ${internal.host}/team/app:1: refused to connect to registry ${internal.host}: 127.0.0.1 is a loopback address; podhooks connects only to public registry addresses and to those listed in registry.allowedRegistries — a cluster admin can list it there if podhooks should read images from it, or set podhooks.io/entrypoint.<container>`,
    });
  });

  test('the v4-mapped IPv6 spelling is the same address', async () => {
    const err = await refusal(client().imageConfig(`[::ffff:7f00:1]:${internal.port}/team/app:1`));
    expect(err.code).toBe('blocked');
    expect(err.message).toContain('127.0.0.1 is a loopback address');
  });

  test('localhost, resolved by the system resolver, is loopback', async () => {
    const err = await refusal(client({ resolver: undefined, insecureRegistries: [`localhost:${internal.port}`] }).imageConfig(`localhost:${internal.port}/team/app:1`));
    expect(err.code).toBe('blocked');
    expect(err.message).toMatch(/localhost \((127\.0\.0\.1|::1)\) is a loopback address/);
  });

  test('a DNS name that resolves to an internal address is refused at connect time', async () => {
    const before = resolved.length;
    const err = await refusal(client({ insecureRegistries: [`attacker.test:${internal.port}`] }).imageConfig(`attacker.test:${internal.port}/team/app:1`));
    expect(err.code).toBe('blocked');
    expect(err.message).toContain('attacker.test (127.0.0.1) is a loopback address');
    expect(resolved.slice(before)).toEqual(['attacker.test']);
  });
});

describe('redirects and token realms from a listed registry', () => {
  test.each([
    ['redir-ip', '127.0.0.1 is a loopback address'],
    ['redir-name', 'metadata.internal.test (127.0.0.1) is a loopback address'],
    ['redir-mapped', '127.0.0.1 is a loopback address'],
  ])('a redirect to the internal server (%s) is refused', async (repo, why) => {
    const err = await refusal(client().imageConfig(`${front.host}/${repo}/app:1`));
    expect(err.code).toBe('blocked');
    expect(err.message).toContain(why);
    expect(front.requests).toContain(`/v2/${repo}/app/manifests/1`);
  });

  test('a Bearer realm on the internal server is refused', async () => {
    const err = await refusal(client().imageConfig(`${front.host}/realm-internal/app:1`));
    expect(err.code).toBe('blocked');
    expect(err.message).toMatch(/refused to connect to token service 127\.0\.0\.1:\d+: 127\.0\.0\.1 is a loopback address/);
  });

  test('an https registry never sends the client to plain http: redirect', async () => {
    const before = front.requests.length;
    const err = await refusal(client().imageConfig(`${secure.host}/downgrade/app:1`));
    expect(err.code).toBe('blocked');
    expect(err.message).toContain(`redirect from https to plain http (${front.host}) refused; podhooks never follows a registry from https to plain http`);
    expect(front.requests.slice(before)).toEqual([]);
  });

  test('an https registry never sends the client to plain http: token realm', async () => {
    const before = front.requests.length;
    const err = await refusal(client().imageConfig(`${secure.host}/realm-http/app:1`, [{ registry: secure.host, username: 'u', password: 'p' }]));
    expect(err.code).toBe('blocked');
    expect(err.message).toContain(`names a plain-http token service ${front.host}; podhooks does not send credentials or take tokens over plain http`);
    expect(front.requests.slice(before)).toEqual([]);
  });
});

describe('remote bodies never reach a message', () => {
  test.each([
    ['leaky-error', 'server-error', /registry 127\.0\.0\.1:\d+ failed \(HTTP 500: UNKNOWN\)/],
    ['leaky-page', 'bad-response', /is not JSON \(content type "text\/plain", HTTP 200\)/],
    ['leaky-denied', 'denied', /access denied \(HTTP 403\) — add an imagePullSecret/],
  ])('%s', async (repo, code, message) => {
    const err = await refusal(client().imageConfig(`${front.host}/${repo}/app:1`));
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
  });
});

test('a certificate for other names: the error says so without listing the names the server chose', async () => {
  const host = `attacker.test:${secure.port}`;
  const err = await refusal(client({ allowedRegistries: [host] }).imageConfig(`${host}/app:1`));
  expect(err.code).toBe('tls');
  expect(err.message).toContain(`TLS connection to registry ${host} failed (ERR_TLS_CERT_ALTNAME_INVALID: the certificate is not valid for attacker.test)`);
  expect(err.message).not.toContain('localhost');
});

describe('one deadline for the whole lookup', () => {
  test('chained slow redirects stop at registry.timeoutMs, not after every hop', async () => {
    const before = front.requests.length;
    const err = await refusal(client({ timeoutMs: 1000 }).imageConfig(`${front.host}/slow/app:1`));
    expect(err.code).toBe('timeout');
    expect(err.message).toMatch(/the registry lookup did not finish within 1000 ms \(registry\.timeoutMs covers the whole lookup: manifests, token, redirects; it stopped at GET \/hop\/\d on 127\.0\.0\.1:\d+\)/);
    // Each hop takes 400 ms: a per-request timeout would have walked all five hops.
    expect(front.requests.slice(before).length).toBeLessThan(5);
  });

  test('a caller that gives up stops the requests (the connection to the registry closes)', async () => {
    const controller = new AbortController();
    const closedBefore = front.closed;
    const lookup = client().imageConfig(`${front.host}/silent/app:1`, [], controller.signal);
    await until(() => front.requests.includes('/v2/silent/app/manifests/1'));
    controller.abort(new Error('the apiserver closed the connection before the answer'));
    const err = await refusal(lookup);
    expect({ code: err.code, message: err.message }).toEqual({
      code: 'cancelled',
      message: `image ${front.host}/silent/app:1: the registry lookup was stopped: the apiserver closed the connection before the answer`,
    });
    await until(() => front.closed > closedBefore);
  });
});

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 20));
}

describe('through podhooks serve', () => {
  let ph: Podhooks;
  beforeAll(async () => {
    ph = await startPodhooks({ registry: { insecureRegistries: [open.host, front.host, internal.host], allowedRegistries: [open.host, front.host], timeoutMs: 60_000 } });
  });
  afterAll(() => ph?.stop());

  const pod = (image: string) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'shop', annotations: { 'podhooks.io/pre-start': 'echo hi' } },
    spec: { containers: [{ name: 'app', image }] },
  });

  test('an image on the internal server is denied without a connection, saying why', async () => {
    const answer = (await post(ph, '/mutate', JSON.stringify(review(pod(`${internal.host}/team/app:1`))))).json().response;
    expect(answer.allowed).toBe(false);
    expect(answer.status.message).toContain(`refused to connect to registry ${internal.host}: 127.0.0.1 is a loopback address`);
    expect(answer.status.message).toContain('set annotation podhooks.io/entrypoint.app or add command to the container');
  });

  test('a redirect to the internal server is denied without a connection', async () => {
    const answer = (await post(ph, '/mutate', JSON.stringify(review(pod(`${front.host}/redir-ip/app:1`))))).json().response;
    expect(answer.allowed).toBe(false);
    expect(answer.status.message).toContain('127.0.0.1 is a loopback address');
    expect(answer.status.message).not.toContain(SECRET);
  });

  test("the apiserver's ?timeout= bounds the lookup, and the answer says so", async () => {
    const answer = (await post(ph, '/mutate?timeout=1s', JSON.stringify(review(pod(`${front.host}/silent/app:1`))))).json().response;
    expect(answer.allowed).toBe(false);
    expect(answer.status.message).toContain("the registry lookup was stopped: the apiserver's timeout for this review (1s, the webhook's timeoutSeconds) is nearly up");
  });

  test('a closed admission connection stops the registry lookup', async () => {
    const closedBefore = front.closed;
    const seenBefore = front.requests.filter((r) => r === '/v2/silent/other/manifests/2').length;
    const body = JSON.stringify(review(pod(`${front.host}/silent/other:2`)));
    const req = https.request({ host: '127.0.0.1', port: ph.port, path: '/mutate', method: 'POST', ca: ph.ca, servername: 'localhost', headers: { 'content-type': 'application/json' } });
    req.on('error', () => undefined);
    req.end(body);
    await until(() => front.requests.filter((r) => r === '/v2/silent/other/manifests/2').length > seenBefore);
    req.destroy();
    // registry.timeoutMs is 60 s here: only the cancellation can close it within the test's time.
    await until(() => front.closed > closedBefore);
  });
});
