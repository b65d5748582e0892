// The HTTPS server as an attacker in the cluster meets it: a connection cap and timeouts
// that slow clients cannot outlast, TLS 1.2 only with forward-secret AEAD suites (also
// after a certificate reload), a media type parsed rather than prefix-matched, the
// certificate-expiry metric set from the start, and a half certificate pair refused
// instead of silently replaced by a new development CA.
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { stringify } from 'yaml';
import { generateBundle, writeBundle } from '../../src/certs';
import { CLI, metricsText, post, review, startPodhooks, type Podhooks } from '../helpers/podhooks';

jest.setTimeout(120_000);

const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'shop' }, spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] } };

const metric = (text: string, line: RegExp) => Number(line.exec(text)?.[1] ?? NaN);

/** TLS handshake with these client options: the protocol and suite, or the error code. */
function handshake(ph: Podhooks, options: object): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port: ph.port, ca: ph.ca, servername: 'localhost', ...options }, () => {
      resolve(`${s.getProtocol()} ${s.getCipher().name}`);
      s.end();
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('TLS, media type and certificate metric', () => {
  let ph: Podhooks;
  beforeAll(async () => {
    ph = await startPodhooks({ server: { certReloadIntervalMs: 200 } });
  });
  afterAll(() => ph?.stop());

  const weak = [
    ['static RSA key exchange, CBC, SHA-1', 'AES128-SHA'],
    ['static RSA key exchange, AEAD', 'AES128-GCM-SHA256'],
    ['ECDHE, CBC, SHA-1', 'ECDHE-RSA-AES128-SHA'],
    ['ECDHE, CBC, SHA-256', 'ECDHE-RSA-AES128-SHA256'],
  ];

  test('TLS 1.2 offers only ECDHE with AEAD; TLS 1.3 is unaffected', async () => {
    for (const [what, ciphers] of weak) expect({ what, result: await handshake(ph, { maxVersion: 'TLSv1.2', ciphers }) }).toEqual({ what, result: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' });
    expect(await handshake(ph, { maxVersion: 'TLSv1.2' })).toBe('TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256');
    expect(await handshake(ph, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-CHACHA20-POLY1305' })).toBe('TLSv1.2 ECDHE-RSA-CHACHA20-POLY1305');
    expect(await handshake(ph, { minVersion: 'TLSv1.3' })).toMatch(/^TLSv1\.3 TLS_/);
    expect(await handshake(ph, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' })).toMatch(/ERR_SSL|EPROTO|ECONNRESET/);
  });

  test('the media type is parsed: case-insensitive, parameters allowed, no prefix match', async () => {
    const body = JSON.stringify(review(pod));
    const send = async (type: string) => (await post(ph, '/validate', body, { 'content-type': type })).status;
    expect(await send('application/json')).toBe(200);
    expect(await send('Application/JSON; charset=UTF-8')).toBe(200);
    expect(await send('application/json;charset=utf-8')).toBe(200);
    expect(await send('application/jsonfoo')).toBe(415);
    expect(await send('application/json-seq')).toBe(415);
    expect(await send('application/json; charset=latin1')).toBe(415);
    expect(await send('text/plain; x=application/json')).toBe(415);
  });
  test('the certificate-expiry metric is set at start, and follows a reload with the same TLS policy', async () => {
    const served = new X509Certificate(readFileSync(join(ph.dir, 'certs', 'tls.crt')));
    expect(metric(await metricsText(ph), /^podhooks_certificate_expiry_timestamp_seconds (\S+)$/m)).toBe(Date.parse(served.validTo) / 1000);
    const next = generateBundle(['localhost'], ['127.0.0.1'], 30);
    writeBundle(join(ph.dir, 'certs'), { ...next, caCert: ph.ca, caKey: '' });
    // Signed by a new CA: trust it for the handshakes after the reload.
    const reloaded = { ...ph, ca: next.caCert };
    await until('the reload', async () => metric(await metricsText(ph), /^podhooks_certificate_expiry_timestamp_seconds (\S+)$/m) === Date.parse(new X509Certificate(next.cert).validTo) / 1000);
    expect(await handshake(reloaded, { maxVersion: 'TLSv1.2', ciphers: 'AES128-SHA' })).toBe('ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE');
    expect(await handshake(reloaded, { maxVersion: 'TLSv1.2' })).toBe('TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256');
  });
});

describe('a half certificate pair', () => {
  test.each([
    ['tls.crt', 'tls.key'],
    ['tls.key', 'tls.crt'],
  ])('%s without %s is refused at start, and nothing is overwritten', (present, missing) => {
    const dir = mkdtempSync(join(tmpdir(), 'podhooks-halfpair-'));
    try {
      const certDir = join(dir, 'certs');
      mkdirSync(certDir);
      const bundle = generateBundle(['localhost'], ['127.0.0.1']);
      const text = present === 'tls.crt' ? bundle.cert : bundle.key;
      writeFileSync(join(certDir, present), text);
      writeFileSync(join(dir, 'config.yaml'), stringify({ server: { address: '127.0.0.1', port: 0, metricsAddress: '127.0.0.1', metricsPort: 0, certDir }, kubernetes: { enabled: 'false' } }));
      const r = spawnSync(process.execPath, [CLI, 'serve', '--config', join(dir, 'config.yaml')], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '' }, timeout: 30_000 });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`podhooks: ${join(certDir, present)} exists but ${join(certDir, missing)} does not; podhooks will not generate a development certificate over half a pair.`);
      expect(readFileSync(join(certDir, present), 'utf8')).toBe(text);
      expect(existsSync(join(certDir, missing))).toBe(false);
      expect(existsSync(join(certDir, 'ca.crt'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bounded connections', () => {
  const CAP = 50;
  const CLIENTS = 500;

  /** Slowloris clients: TLS sessions that start a request and never finish its headers. */
  function slowClients(ph: Podhooks, n: number) {
    const state = { secured: 0, closed: 0, timedOut: 0, sockets: [] as TLSSocket[] };
    for (let i = 0; i < n; i++) {
      const s = connect({ host: '127.0.0.1', port: ph.port, ca: ph.ca, servername: 'localhost' }, () => {
        state.secured++;
        s.write('POST /mutate HTTP/1.1\r\nHost: podhooks\r\n');
      });
      s.on('error', () => undefined);
      // Read what comes (the 408), or the socket never sees the server's close.
      s.on('data', (d) => (state.timedOut += /^HTTP\/1\.1 408 Request Timeout\r\n/.test(d.toString()) ? 1 : 0));
      s.on('close', () => state.closed++);
      state.sockets.push(s);
    }
    return state;
  }

  // A headers timeout far longer than the test: no held slot frees while the clients
  // arrive, however slow the machine, so "at most CAP held" is exact.
  test(`${CLIENTS} slow clients: at most ${CAP} are held, the rest refused at accept`, async () => {
    const ph = await startPodhooks({ server: { maxConnections: CAP, headersTimeoutMs: 600_000, requestTimeoutMs: 600_000 } });
    const clients = slowClients(ph, CLIENTS);
    try {
      await until('every client to be served or refused', () => clients.secured + clients.closed >= CLIENTS);
      const dropped = metric(await metricsText(ph), /^podhooks_connections_dropped_total\{port="webhook"\} (\S+)$/m);
      expect(clients.secured).toBe(CAP);
      expect(dropped).toBe(CLIENTS - CAP);
      // The held clients go away: the slots come back.
      for (const s of clients.sockets) s.destroy();
      await until('the server to answer again', () => post(ph, '/validate', JSON.stringify(review(pod))).then((a) => a.status === 200, () => false));
    } finally {
      for (const s of clients.sockets) s.destroy();
      await ph.stop();
    }
  });

  test('the held ones time out after server.headersTimeoutMs, and their slots come back', async () => {
    const ph = await startPodhooks({ server: { maxConnections: CAP, headersTimeoutMs: 1500 } });
    const clients = slowClients(ph, CAP);
    try {
      await until('every client to be held', () => clients.secured >= CAP);
      // The clients never close; the server does (those whose request had started get a 408 first).
      await until('the slow clients to be timed out', () => clients.closed >= CAP);
      expect(clients.timedOut).toBeLessThanOrEqual(CAP);
      const answer = await post(ph, '/validate', JSON.stringify(review(pod)));
      expect(answer.status).toBe(200);
    } finally {
      for (const s of clients.sockets) s.destroy();
      await ph.stop();
    }
  });
});

