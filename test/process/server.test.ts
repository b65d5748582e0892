// The real server over real HTTPS: AdmissionReview answers, bad input, limits, metrics,
// certificate reload and graceful shutdown.
import { connect } from 'node:tls';
import { request as httpsRequest } from 'node:https';
import { X509Certificate } from 'node:crypto';
import { applyPatch } from 'fast-json-patch';
import { generateBundle, writeBundle } from '../../src/certs';
import { metricsText, post, review, startPodhooks, type Podhooks } from '../helpers/podhooks';

jest.setTimeout(30_000);

const hookPod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', namespace: 'shop', annotations: { 'podhooks.io/pre-start': 'echo warming up' } },
  spec: { containers: [{ name: 'app', image: 'registry.example.com/web:1', command: ['/server', '--port=8080'] }] },
};

const kataHostNetwork = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'vm', namespace: 'shop' },
  spec: { runtimeClassName: 'kata-qemu', hostNetwork: true, containers: [{ name: 'app', image: 'busybox' }] },
};

describe('podhooks serve', () => {
  let ph: Podhooks;
  beforeAll(async () => {
    ph = await startPodhooks({ server: { bodyLimitBytes: 64 * 1024, certReloadIntervalMs: 200, webhookTimeoutSeconds: 10 } });
  });
  afterAll(async () => {
    await ph?.stop('SIGKILL');
  });

  test('POST /mutate answers an AdmissionReview whose JSONPatch yields the injected pod', async () => {
    const body = review(hookPod);
    const res = await post(ph, '/mutate?timeout=10s', JSON.stringify(body));
    expect(res.status).toBe(200);
    const answer = res.json();
    expect(answer.apiVersion).toBe('admission.k8s.io/v1');
    expect(answer.kind).toBe('AdmissionReview');
    expect(answer.response.uid).toBe(body.request.uid);
    expect(answer.response.allowed).toBe(true);
    expect(answer.response.patchType).toBe('JSONPatch');
    const patch = JSON.parse(Buffer.from(answer.response.patch, 'base64').toString());
    const injected = applyPatch(structuredClone(hookPod), patch, true).newDocument as any;
    expect(injected.spec.containers[0].command).toEqual(['/podhooks/bin/busybox', 'sh', '/podhooks/bin/wrapper.sh', '--', '/server', '--port=8080']);
    expect(injected.spec.initContainers.map((c: any) => c.name)).toEqual(['podhooks-tools', 'podhooks-logs']);
  });

  test('a pod without podhooks annotations and a non-Pod object are allowed untouched', async () => {
    for (const object of [
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'plain', namespace: 'shop' }, spec: { containers: [{ name: 'a', image: 'x' }] } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'shop' }, data: {} },
    ]) {
      const res = await post(ph, '/mutate', JSON.stringify(review(object)));
      expect(res.status).toBe(200);
      expect(res.json().response).toEqual({ uid: expect.any(String), allowed: true });
    }
  });

  test('a bad annotation is denied with the annotation, the value and what is allowed', async () => {
    const pod = { ...hookPod, metadata: { ...hookPod.metadata, annotations: { 'podhooks.io/pre-start': 'x', 'podhooks.io/log-stream': 'yes' } } };
    const answer = (await post(ph, '/mutate', JSON.stringify(review(pod)))).json();
    expect(answer.response.allowed).toBe(false);
    expect(answer.response.status.code).toBe(400);
    expect(answer.response.status.message).toBe('podhooks: annotation podhooks.io/log-stream="yes": must be "true" or "false"');
  });

  test('POST /validate denies a Kata pod with hostNetwork, with auditAnnotations', async () => {
    const answer = (await post(ph, '/validate', JSON.stringify(review(kataHostNetwork)))).json();
    expect(answer.response.allowed).toBe(false);
    expect(answer.response.status.code).toBe(403);
    expect(answer.response.status.message).toContain('runtimeClassName "kata-qemu"');
    expect(answer.response.status.message).toContain('remove spec.hostNetwork');
    expect(answer.response.auditAnnotations['deny-sandbox-host-namespaces']).toContain('spec.hostNetwork');
  });

  test('a dry-run request gets the same answer', async () => {
    const answer = (await post(ph, '/validate', JSON.stringify(review(kataHostNetwork, { dryRun: true })))).json();
    expect(answer.response.allowed).toBe(false);
    const line = await ph.waitForLog((l) => l.uid === answer.response.uid && l.msg === 'admission decision');
    expect(line.dryRun).toBe(true);
  });

  test.each([
    ['malformed JSON', '{"apiVersion": ', 400, 'body is not valid JSON'],
    ['a JSON array', '[]', 400, 'must be a JSON object of kind AdmissionReview'],
    ['the wrong apiVersion', JSON.stringify({ ...review(hookPod), apiVersion: 'admission.k8s.io/v1beta1' }), 400, 'apiVersion "admission.k8s.io/v1beta1" is not supported'],
    ['the wrong kind', JSON.stringify({ ...review(hookPod), kind: 'Pod' }), 400, 'kind is "Pod"; expected "AdmissionReview"'],
    ['no request', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), 400, 'request is missing'],
    ['no uid', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { kind: { kind: 'Pod' } } }), 400, 'request.uid is missing'],
  ])('%s gets a 400 Status with a message, and the server keeps serving', async (_name, body, status, message) => {
    const res = await post(ph, '/mutate', body);
    expect(res.status).toBe(status);
    expect(res.json()).toMatchObject({ kind: 'Status', code: status, message: expect.stringContaining(message) });
    const ok = await post(ph, '/mutate', JSON.stringify(review(hookPod)));
    expect(ok.status).toBe(200);
  });

  test('a request without object is rejected and the error is logged with its uid', async () => {
    const body = review(hookPod);
    delete body.request.object;
    const res = await post(ph, '/mutate', JSON.stringify(body));
    expect(res.status).toBe(400);
    expect(res.json().message).toBe('request.object is missing; a CREATE request carries the object');
    const line = await ph.waitForLog((l) => l.uid === body.request.uid);
    expect(line).toMatchObject({ level: 'warn', status: 400, reason: 'bad-review' });
  });

  test('a body over the limit gets 413, declared or streamed', async () => {
    const big = JSON.stringify(review({ ...hookPod, metadata: { ...hookPod.metadata, annotations: { pad: 'x'.repeat(70 * 1024) } } }));
    const declared = await post(ph, '/mutate', big);
    expect(declared.status).toBe(413);
    expect(declared.json().message).toContain('exceeds the limit of 65536 bytes (server.bodyLimitBytes)');
    const streamed = await post(ph, '/mutate', big, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    expect(streamed.status).toBe(413);
  });

  test('wrong content type, wrong method and unknown paths get clear answers', async () => {
    const text = await post(ph, '/validate', 'hello', { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    expect(text.json().message).toContain('send application/json');
    const get = await post(ph, '/mutate', '', {}, 'GET');
    expect(get.status).toBe(405);
    const unknown = await post(ph, '/nope', '{}');
    expect(unknown.status).toBe(404);
    expect(unknown.json().message).toContain('POST /mutate, POST /validate');
  });

  test('/healthz and /readyz answer ok', async () => {
    expect((await post(ph, '/healthz', '', {}, 'GET')).body).toBe('ok');
    expect((await post(ph, '/readyz', '', {}, 'GET')).body).toBe('ok');
  });

  test('metrics count requests and latency by webhook and decision', async () => {
    const text = await metricsText(ph);
    expect(text).toMatch(/podhooks_admission_requests_total\{webhook="mutate",decision="patched"\} [1-9]/);
    expect(text).toMatch(/podhooks_admission_requests_total\{webhook="validate",decision="denied"\} [1-9]/);
    expect(text).toMatch(/podhooks_admission_requests_total\{webhook="mutate",decision="error"\} [1-9]/);
    expect(text).toMatch(/podhooks_admission_duration_seconds_bucket\{le="0.005",webhook="mutate",decision="patched"\} [1-9]/);
    expect(text).toMatch(/podhooks_bad_requests_total\{reason="too-large"\} [1-9]/);
  });

  test('replicas of one template get the same patch, each with its own uid; kept from the second, counted as template cache hits', async () => {
    const replica = (name: string) => ({ ...hookPod, metadata: { ...hookPod.metadata, name, annotations: { 'podhooks.io/pre-start': 'echo replica' } } });
    const hits = async () => Number((await metricsText(ph)).match(/podhooks_mutate_template_cache_total\{result="hit"\} (\d+)/)?.[1] ?? 0);
    const before = await hits();
    const answers = [];
    for (const name of ['web-1', 'web-2', 'web-3', 'web-4']) {
      const body = review(replica(name));
      const answer = (await post(ph, '/mutate', JSON.stringify(body))).json().response;
      expect(answer.uid).toBe(body.request.uid);
      answers.push(answer.patch);
    }
    expect(new Set(answers).size).toBe(1);
    expect(await hits()).toBe(before + 2);
    expect(await metricsText(ph)).toMatch(/podhooks_mutate_template_cache_total\{result="miss"\} [1-9]/);
  });

  test('latency buckets reach server.webhookTimeoutSeconds (10 here), with one at 80% of it, and no further', async () => {
    const text = await metricsText(ph);
    const les = [...text.matchAll(/podhooks_admission_duration_seconds_bucket\{le="([^"]+)",webhook="mutate",decision="patched"\}/g)].map((m) => m[1]);
    expect(les.slice(-4)).toEqual(['5', '8', '10', '+Inf']);
    expect(les[0]).toBe('0.0005');
  });

  test('Node and process metrics carry their standard names, unprefixed', async () => {
    const text = await metricsText(ph);
    expect(text).toMatch(/^process_cpu_seconds_total [0-9.e+-]+$/m);
    expect(text).toMatch(/^process_resident_memory_bytes [0-9.e+-]+$/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds [0-9.e+-]+$/m);
    expect(text).not.toMatch(/^podhooks_(process|nodejs)_/m);
  });

  test('one structured log line per decision that objects to something; plain allows and plain injections stay at debug', async () => {
    const sent = Date.now();
    const plain = review({ ...hookPod, metadata: { name: 'plain', namespace: 'shop' } });
    expect((await post(ph, '/mutate', JSON.stringify(plain))).json().response.allowed).toBe(true);
    const injected = review(hookPod);
    expect((await post(ph, '/mutate', JSON.stringify(injected))).json().response.patch).toBeDefined();
    const denied = review(kataHostNetwork);
    expect((await post(ph, '/validate', JSON.stringify(denied))).json().response.allowed).toBe(false);
    const line = await ph.waitForLog((l) => l.uid === denied.request.uid);
    // Lines arrive in order: the allow and the injection before it would have been seen by now.
    expect(ph.logs().filter((l) => l.uid === plain.request.uid || l.uid === injected.request.uid)).toEqual([]);
    expect(line).toMatchObject({ level: 'info', msg: 'admission decision', webhook: 'validate', namespace: 'shop', name: 'vm', operation: 'CREATE', decision: 'denied' });
    expect(typeof line.durationMs).toBe('number');
    // An ISO time of when it was written (formatted once per millisecond).
    expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Date.parse(line.time)).toBeGreaterThanOrEqual(sent);
    expect(Date.parse(line.time)).toBeLessThanOrEqual(Date.now());
  });

  test('at debug, a plain injection is logged too', async () => {
    const debug = await startPodhooks({ logLevel: 'debug' });
    try {
      const body = review(hookPod);
      await post(debug, '/mutate', JSON.stringify(body));
      expect(await debug.waitForLog((l) => l.uid === body.request.uid)).toMatchObject({ level: 'debug', msg: 'admission decision', webhook: 'mutate', name: 'web', decision: 'patched' });
    } finally {
      await debug.stop();
    }
  });

  test('a new serving certificate is picked up without a restart', async () => {
    const fingerprint = () =>
      new Promise<string>((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port: ph.port, servername: 'localhost', rejectUnauthorized: false }, () => {
          resolve(new X509Certificate(s.getPeerX509Certificate()!.raw).fingerprint256);
          s.end();
        });
        s.on('error', reject);
      });
    const before = await fingerprint();
    const bundle = generateBundle(['localhost'], ['127.0.0.1']);
    writeBundle(`${ph.dir}/certs`, bundle);
    const expected = new X509Certificate(bundle.cert).fingerprint256;
    expect(expected).not.toBe(before);
    let now = before;
    for (let i = 0; i < 50 && now !== expected; i++) {
      await new Promise((r) => setTimeout(r, 100));
      now = await fingerprint();
    }
    expect(now).toBe(expected);
    ph.ca = bundle.caCert;
    expect((await post(ph, '/healthz', '', {}, 'GET')).status).toBe(200);
  });
});

describe('shutdown', () => {
  test('SIGTERM finishes the in-flight request, then exits 0', async () => {
    const ph = await startPodhooks();
    const body = JSON.stringify(review(hookPod));
    const answer = new Promise<number>((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port: ph.port, path: '/mutate', method: 'POST', ca: ph.ca, servername: 'localhost', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        },
      );
      req.on('error', reject);
      // Half the body now; SIGTERM; the rest afterwards: the request is in flight across the signal.
      req.write(body.slice(0, 100));
      setTimeout(() => {
        ph.proc.kill('SIGTERM');
        setTimeout(() => req.end(body.slice(100)), 300);
      }, 200);
    });
    expect(await answer).toBe(200);
    expect(await ph.stop()).toBe(0);
  });
});
