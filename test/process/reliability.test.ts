// Reliability of the running server: a SIGTERM under load loses no request (readiness
// drops first, in-flight requests finish), and a dead Kubernetes API (a TCP peer that
// accepts and never answers) neither blocks start-up nor holds an admission answer past
// its bound; the event queue stays bounded under a flood of denials.
import { createServer, type Server, type Socket } from 'node:net';
import { Agent } from 'node:https';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metricsText, post, review, startPodhooks, type Podhooks } from '../helpers/podhooks';

jest.setTimeout(120_000);

const hookPod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', namespace: 'shop', annotations: { 'podhooks.io/pre-start': 'echo warming up' } },
  spec: { containers: [{ name: 'app', image: 'registry.example.com/web:1', command: ['/server'] }] },
};

const send = async (ph: Podhooks, agent: Agent, path: string, body: string) => (await post(ph, path, body, undefined, 'POST', agent)).status;

test('SIGTERM under load: readiness drops first, every request sent before that is answered', async () => {
  const ph = await startPodhooks({ server: { shutdownDelaySeconds: 1.5, shutdownGraceSeconds: 10 } });
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const body = JSON.stringify(review(hookPod));
  let notReady = false;
  let answered = 0;
  let answeredAfterSignal = 0;
  let signalled = false;
  const failures: string[] = [];
  // Eight clients loop until they see readiness drop, as the endpoints controller would.
  const clients = Array.from({ length: 8 }, async () => {
    while (!notReady) {
      try {
        const status = await send(ph, agent, '/mutate', body);
        if (status !== 200) failures.push(`status ${status}`);
        answered++;
        if (signalled) answeredAfterSignal++;
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  });
  const readiness = (async () => {
    while (answered < 200) await new Promise((r) => setTimeout(r, 10));
    signalled = true;
    ph.proc.kill('SIGTERM');
    for (;;) {
      const r = await post(ph, '/readyz', '', {}, 'GET').catch(() => undefined);
      if (r && r.status === 503) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    notReady = true;
  })();
  await Promise.all([readiness, ...clients]);
  agent.destroy();
  expect(failures).toEqual([]);
  expect(answeredAfterSignal).toBeGreaterThan(0);
  expect(await ph.stop()).toBe(0);
});

describe('a dead Kubernetes API', () => {
  let blackhole: Server;
  const sockets = new Set<Socket>();
  let accepted = 0;
  let ph: Podhooks;

  beforeAll(async () => {
    // Accepts TCP connections and never says a word: the worst kind of slow API.
    blackhole = createServer((s) => {
      sockets.add(s);
      accepted++;
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
    const port = (blackhole.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'podhooks-deadapi-'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'dead', cluster: { server: `https://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'u', user: { token: 'x' } }],
        contexts: [{ name: 'dead', context: { cluster: 'dead', user: 'u' } }],
        'current-context': 'dead',
      }),
    );
    ph = await startPodhooks({ kubernetes: { enabled: 'true', kubeconfig, apiTimeoutMs: 300, eventQueueSize: 5 }, registry: { enabled: false } });
  });

  afterAll(async () => {
    expect(await ph?.stop()).toBe(0);
    for (const s of sockets) s.destroy();
    await new Promise((r) => blackhole.close(r));
  });

  test('start-up does not wait for it, and says so', () => {
    expect(ph.logs().some((l) => /apiserver version/.test(l.msg) && /timed out/.test(l.err ?? ''))).toBe(true);
  });

  test('a pod whose policy needs namespace labels is answered within the API bound, with the reason', async () => {
    const debugPod = { ...hookPod, metadata: { ...hookPod.metadata, annotations: { 'podhooks.io/debug': 'true' } }, spec: { containers: [{ name: 'app', image: 'web:1', command: ['java', '-jar', 'app.jar'] }] } };
    const t0 = Date.now();
    const answer = await post(ph, '/validate', JSON.stringify(review(debugPod, { dryRun: true })));
    const waited = Date.now() - t0;
    expect(answer.status).toBe(200);
    const response = answer.json().response;
    expect(response.allowed).toBe(false);
    expect(response.status.message).toMatch(/labels .*namespace shop|namespace shop.*labels/i);
    expect(response.status.message).toMatch(/timed out/);
    // The bound is apiTimeoutMs (300 ms); the dead API would otherwise hold it forever.
    expect(waited).toBeLessThan(5_000);
    // The hung read was abandoned at the bound, not kept in flight: the next pod of the
    // namespace makes a new read (which would succeed once the API is back).
    // (A dry run, so that no Event call opens a socket of its own.)
    const before = accepted;
    const again = await post(ph, '/validate', JSON.stringify(review(debugPod, { dryRun: true })));
    expect(again.json().response.status.message).toMatch(/timed out/);
    expect(accepted).toBeGreaterThan(before);
  });

  test('a flood of denials is answered while their Events queue stays bounded and drops are counted', async () => {
    const kata = { ...hookPod, metadata: { name: 'k', namespace: 'shop' }, spec: { runtimeClassName: 'kata', hostNetwork: true, containers: [{ name: 'app', image: 'web:1' }] } };
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const statuses = await Promise.all(Array.from({ length: 300 }, () => send(ph, agent, '/validate', JSON.stringify(review(kata)))));
    agent.destroy();
    expect(statuses.every((s) => s === 200)).toBe(true);
    const metrics = await metricsText(ph);
    // Summed over reasons: queue-full and api-error (the calls that reached the dead API).
    const dropped = [...metrics.matchAll(/^podhooks_events_dropped_total(?:\{[^}]*\})? (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
    expect(dropped).toBeGreaterThan(250);
  });
});
