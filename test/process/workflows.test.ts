// Warm-up URLs and the post-offline hook, run for real: sidecars/bin/preonline.sh and
// postoffline.sh under Debian's static busybox against node HTTP servers on 127.0.0.1.
// Temp dirs stand in for the shared volumes. The post-offline tests play the kubelet's
// part in a pod's termination: run every container's preStop at once (the log streamer's
// too, native or classic), then send SIGTERM; a native sidecar's SIGTERM comes only once
// the app has exited (kuberuntime's killContainer: preStop, then its turn, then stop).
import { existsSync } from 'node:fs';
import * as http from 'node:http';
import { join } from 'node:path';
import { BB, cleanup, exitWithin, listen, preOnlineSetup, processesWith, read, removeDirs, run, sleep, start, tmp, waitFor, type Proc } from '../helpers/scripts';

jest.setTimeout(30_000);
afterEach(cleanup);
afterAll(removeDirs);

interface Seen {
  method: string;
  path: string;
  at: number;
  /** Whether the online mark existed when the request came. */
  online: boolean;
  /** The status answered (undefined: no answer). */
  status?: number;
  headers: http.IncomingHttpHeaders;
}

/**
 * The app: /health is 503 for `healthyAfterMs`, then 200; /fail/N answers 500 from its Nth
 * request on; /hang never answers; /status/N answers N; everything else 200. Records every request.
 */
async function appServer(opts: { healthyAfterMs?: number; mark?: string } = {}) {
  const t0 = Date.now();
  const seen: Seen[] = [];
  const counts = new Map<string, number>();
  const port = await listen(
    http.createServer((req, res) => {
      const path = req.url ?? '/';
      const key = `${req.method} ${path}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      const s: Seen = { method: req.method!, path, at: Date.now(), online: opts.mark ? existsSync(opts.mark) : false, headers: req.headers };
      seen.push(s);
      if (path === '/hang') return;
      const fail = /^\/fail\/(\d+)$/.exec(path);
      const fixed = /^\/status\/(\d+)$/.exec(path);
      if (path === '/health') s.status = Date.now() - t0 >= (opts.healthyAfterMs ?? 0) ? 200 : 503;
      else if (fail) s.status = counts.get(key)! >= Number(fail[1]) ? 500 : 200;
      else s.status = fixed ? Number(fixed[1]) : 200;
      res.writeHead(s.status).end('ok\n');
    }),
  );
  return { port, url: (p: string) => `http://127.0.0.1:${port}${p}`, seen, count: (key: string) => counts.get(key) ?? 0 };
}

describe('warm-up (preonline.sh)', () => {
  const setup = preOnlineSetup;
  const gate = (stateDir: string) => run('probe.sh', ['--require-online', stateDir, 'app', '--', 'none'], { PODHOOKS_PROC: '/proc' });

  test('every request is sent COUNT times, after the check URL passed and before the hook and the online mark', async () => {
    const dir = tmp();
    const mark = join(dir, 'state', 'online');
    const app = await appServer({ healthyAfterMs: 800, mark });
    const { env, log } = setup({
      PODHOOKS_STATE_DIR: join(dir, 'state'),
      PODHOOKS_CHECK_URL: app.url('/health'),
      PODHOOKS_WARMUP: `GET 20 200 10 ${app.url('/warm')}\nPOST 3 204 10 ${app.url('/status/204')}\nGET 2 2xx,3xx 10 ${app.url('/status/302')}`,
      PODHOOKS_PRE_ONLINE: `wget -q -O /dev/null ${app.url('/hook')}`,
    });
    const p = start('preonline.sh', [], env);
    await waitFor('the online mark', () => existsSync(mark), 20_000);
    await waitFor('the success line', () => p.out().includes('pod is now online'));

    expect(app.count('GET /warm')).toBe(20);
    expect(app.count('POST /status/204')).toBe(3);
    expect(app.count('GET /status/302')).toBe(2);
    expect(app.seen.some((s) => s.path === '/health' && s.status === 503)).toBe(true);
    const healthy = app.seen.find((s) => s.path === '/health' && s.status === 200)!;
    const warm = app.seen.filter((s) => s.path !== '/health' && s.path !== '/hook');
    const hook = app.seen.find((s) => s.path === '/hook')!;
    expect(warm).toHaveLength(25);
    for (const w of warm) {
      expect(w.at).toBeGreaterThanOrEqual(healthy.at);
      expect(w.at).toBeLessThanOrEqual(hook.at);
      expect(w.online).toBe(false);
    }
    expect(app.seen.indexOf(hook)).toBe(app.seen.length - 1);
    expect(warm.every((w) => w.headers['user-agent'] === 'kube-probe/podhooks')).toBe(true);
    // Each result and the warm-up's duration are in the live hook log.
    const text = read(log);
    expect(text).toContain(`podhooks: pre-online: warm-up: 25 requests (deadline 300s, on failure: fail)\n`);
    expect(text).toMatch(new RegExp(`podhooks: pre-online: warm-up GET ${app.url('/warm')} \\(20/20\\): HTTP 200 \\([0-9]+\\.[0-9]{2}s\\)\n`));
    expect(text).toMatch(new RegExp(`warm-up POST ${app.url('/status/204')} \\(3/3\\): HTTP 204 `));
    expect(text).toMatch(/podhooks: pre-online: warm-up finished in [0-9]+\.[0-9]{2}s: 25 of 25 requests passed\n/);
    expect(text.indexOf('warm-up finished')).toBeLessThan(text.indexOf('pre-online hook starting'));
    expect((await gate(env.PODHOOKS_STATE_DIR)).code).toBe(0);
  });

  test('a failed request keeps the pod unready with the reason: no hook, no mark, exit 3 (warmup-failure fail)', async () => {
    const app = await appServer();
    const { env, online, termLog, log } = setup({
      PODHOOKS_CHECK_URL: app.url('/health'),
      PODHOOKS_WARMUP: `GET 10 200 10 ${app.url('/fail/3')}\nGET 5 200 10 ${app.url('/never')}`,
      PODHOOKS_PRE_ONLINE: `wget -q -O /dev/null ${app.url('/hook')}`,
    });
    const r = await run('preonline.sh', [], env);
    expect(r.code).toBe(3);
    const message = new RegExp(`^podhooks: pre-online: warm-up failed: GET ${app.url('/fail/3')} \\(3/10\\): HTTP 500, expected 200 \\([0-9.]+s\\); the pod stays unready \\(podhooks.io/warmup-failure: fail\\)\n$`);
    expect(r.err).toMatch(message);
    expect(read(termLog)).toMatch(message);
    expect(read(log)).toContain('warm-up failed');
    // It stopped at the first failure; nothing after it was sent, and the gate stays closed.
    expect(app.count('GET /fail/3')).toBe(3);
    expect(app.count('GET /never')).toBe(0);
    expect(app.count('GET /hook')).toBe(0);
    expect(existsSync(online)).toBe(false);
    const closed = await gate(env.PODHOOKS_STATE_DIR);
    expect(closed.code).toBe(1);
    expect(closed.out).toContain('not online yet');
  });

  test('warmup-failure warn: every request is still sent, failures are warnings, and the pod goes online', async () => {
    const app = await appServer();
    const { env, online, log } = setup({
      PODHOOKS_CHECK_URL: app.url('/health'),
      PODHOOKS_WARMUP: `GET 5 200 10 ${app.url('/fail/4')}\nGET 2 2xx 10 ${app.url('/status/404')}\nGET 1 200 10 ${app.url('/ok')}`,
      PODHOOKS_WARMUP_FAILURE: 'warn',
      PODHOOKS_PRE_ONLINE: `wget -q -O /dev/null ${app.url('/hook')}`,
    });
    const p = start('preonline.sh', [], env);
    await waitFor('the online mark', () => existsSync(online), 15_000);
    expect([app.count('GET /fail/4'), app.count('GET /status/404'), app.count('GET /ok'), app.count('GET /hook')]).toEqual([5, 2, 1, 1]);
    const text = read(log);
    expect(text).toMatch(new RegExp(`podhooks: pre-online: warning: warm-up GET ${app.url('/fail/4')} \\(4/5\\): HTTP 500, expected 200 `));
    expect(text).toMatch(new RegExp(`warning: warm-up GET ${app.url('/status/404')} \\(2/2\\): HTTP 404, expected 2xx `));
    expect(text).toMatch(/podhooks: pre-online: warning: warm-up finished in [0-9.]+s: 4 of 8 requests passed, 4 failed; going on \(podhooks.io\/warmup-failure: warn\)\n/);
    expect((await gate(env.PODHOOKS_STATE_DIR)).code).toBe(0);
    process.kill(p.pid, 'SIGTERM');
    expect((await exitWithin(p, 5000)).code).toBe(0);
  });

  test('a request that hangs is cut at its timeout; the whole warm-up is cut at its deadline', async () => {
    const app = await appServer();
    // warn: the hanging request times out after 1 s and the warm-up goes on.
    const warn = setup({ PODHOOKS_CHECK_URL: app.url('/health'), PODHOOKS_WARMUP: `GET 1 200 1 ${app.url('/hang')}\nGET 1 200 10 ${app.url('/after')}`, PODHOOKS_WARMUP_FAILURE: 'warn' });
    const p = start('preonline.sh', [], warn.env);
    await waitFor('the online mark', () => existsSync(warn.online), 15_000);
    expect(read(warn.log)).toMatch(new RegExp(`warning: warm-up GET ${app.url('/hang')} \\(1/1\\): timed out after 1s \\(1\\.[0-9]{2}s\\)\n`));
    expect(app.count('GET /after')).toBe(1);
    process.kill(p.pid, 'SIGTERM');
    await exitWithin(p, 5000);

    // Ten hanging requests of 1 s each against a 2 s deadline (warn: the pod goes online).
    const before = app.count('GET /hang');
    const fail = setup({ PODHOOKS_CHECK_URL: app.url('/health'), PODHOOKS_WARMUP: `GET 10 200 1 ${app.url('/hang')}`, PODHOOKS_WARMUP_TIMEOUT_SECONDS: '2', PODHOOKS_WARMUP_FAILURE: 'warn' });
    const late = start('preonline.sh', [], fail.env);
    await waitFor('the online mark', () => existsSync(fail.online), 15_000);
    // Each request takes its full second, so the 2 s deadline lets at most 3 start.
    const sent = app.count('GET /hang') - before;
    expect(sent).toBeGreaterThanOrEqual(1);
    expect(sent).toBeLessThanOrEqual(3);
    expect(read(fail.log)).toMatch(new RegExp(`warning: warm-up stopped at its deadline \\(2s, podhooks.io/warmup-timeout\\) after [0-9.]+s: 0 of 10 requests passed, ${sent} failed, ${10 - sent} not sent; going on`));
    process.kill(late.pid, 'SIGTERM');
    await exitWithin(late, 5000);

    const strict = setup({ PODHOOKS_CHECK_URL: app.url('/health'), PODHOOKS_WARMUP: `GET 1 200 1 ${app.url('/hang')}` });
    const r = await run('preonline.sh', [], strict.env);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(new RegExp(`warm-up failed: GET ${app.url('/hang')} \\(1/1\\): timed out after 1s `));
    expect(existsSync(strict.online)).toBe(false);
  });

  test('malformed PODHOOKS_WARMUP lines and settings are usage errors', async () => {
    for (const [extra, message] of [
      [{ PODHOOKS_WARMUP: 'PUT 1 200 5 http://127.0.0.1:1/' }, "podhooks: pre-online: PODHOOKS_WARMUP line 'PUT 1 200 5 http://127.0.0.1:1/' is not METHOD COUNT EXPECT TIMEOUT URL\n"],
      [{ PODHOOKS_WARMUP: 'GET x 200 5 http://127.0.0.1:1/' }, "podhooks: pre-online: PODHOOKS_WARMUP line 'GET x 200 5 http://127.0.0.1:1/' is not METHOD COUNT EXPECT TIMEOUT URL\n"],
      [{ PODHOOKS_WARMUP_FAILURE: 'maybe' }, "podhooks: pre-online: PODHOOKS_WARMUP_FAILURE='maybe' is not fail or warn\n"],
      [{ PODHOOKS_WARMUP_TIMEOUT_SECONDS: '1.5' }, "podhooks: pre-online: PODHOOKS_WARMUP_TIMEOUT_SECONDS='1.5' is not a whole number of seconds\n"],
    ] as const) {
      const { env } = setup({ PODHOOKS_CHECK_URL: 'http://127.0.0.1:1/', ...extra });
      const r = await run('preonline.sh', [], env);
      expect([r.code, r.err]).toEqual([2, message]);
    }
  });
});

describe('post-offline (postoffline.sh, with the kubelet simulated)', () => {
  /** A recorder of named events in arrival order: GET /event/NAME. */
  async function recorder() {
    const events: { name: string; at: number; headers: http.IncomingHttpHeaders }[] = [];
    const port = await listen(
      http.createServer((req, res) => {
        const m = /^\/event\/(.+)$/.exec(req.url ?? '');
        if (m) events.push({ name: m[1], at: Date.now(), headers: req.headers });
        const status = /^\/event\/status-(\d+)$/.exec(req.url ?? '');
        res.writeHead(status ? Number(status[1]) : 200).end();
      }),
    );
    const url = (name: string) => `http://127.0.0.1:${port}/event/${name}`;
    return { events, url, names: () => events.map((e) => e.name) };
  }

  /** The app: PID 1 of its container in spirit; on SIGTERM it reports and exits. */
  function app(sigtermUrl: string): Proc {
    const script = `trap '"${BB}" wget -q -O /dev/null ${sigtermUrl}; exit 0' TERM; while :; do "${BB}" sleep 0.1 & wait $!; done`;
    return start(BB, ['sh', '-c', script], {}, true);
  }

  function setup() {
    const dir = tmp();
    const logs = join(dir, 'logs');
    return { dir, logs, log: join(logs, 'post-offline.log') };
  }
  const preStop = (logs: string, hook: string, args: string[]) =>
    start('postoffline.sh', ['run', '--container', 'app', ...args], { PODHOOKS_LOG_DIR: logs, PODHOOKS_POST_OFFLINE: hook });

  test('classic sidecars: drain delay, then the hook, then the user\'s preStop, then SIGTERM reaches the app; the streamer shows the hook', async () => {
    const rec = await recorder();
    const { logs, log } = setup();
    const streamer = start('logstream.sh', [log]);
    await waitFor('the streamer', () => streamer.out().includes('streaming hook logs'));
    const theApp = app(rec.url('sigterm'));
    await sleep(200);

    // Pod deletion: the kubelet stops every container at once, each with its preStop first.
    const t0 = Date.now();
    const appPreStop = preStop(logs, `echo deregistering; wget -q -O /dev/null ${rec.url('post-offline')}; echo deregistered`, [
      '--drain', '1', '--timeout', '10', '--', 'exec', BB, 'sh', '-c', `"${BB}" wget -q -O /dev/null ${rec.url('user-prestop')}`,
    ]);
    const streamerPreStop = start('postoffline.sh', ['await', '--within', '21'], { PODHOOKS_LOG_DIR: logs });
    const kubelet = async (pre: Proc, container: Proc) => {
      await exitWithin(pre, 20_000);
      process.kill(container.pid, 'SIGTERM');
      return exitWithin(container, 5000);
    };
    const [appExit, streamerExit] = await Promise.all([kubelet(appPreStop, theApp), kubelet(streamerPreStop, streamer)]);

    expect(rec.names()).toEqual(['post-offline', 'user-prestop', 'sigterm']);
    expect(rec.events[0].at - t0).toBeGreaterThanOrEqual(1000);
    expect((await appPreStop.exited).code).toBe(0);
    expect(appExit.code).toBe(0);
    expect(streamerExit.code).toBe(0);
    // The streamer was stopped only after the hook's output was out.
    expect(streamer.out()).toContain('[post-offline] deregistering\n');
    expect(streamer.out()).toContain('[post-offline] deregistered\n');
    expect(streamer.out()).toMatch(/\[post-offline\] podhooks: post-offline hook finished in [0-9]+s\n/);
    expect(streamerPreStop.exitedAt()!).toBeGreaterThanOrEqual(rec.events[0].at);
    const text = read(log);
    expect(text).toContain('podhooks: post-offline: container app is stopping; waiting 1s (podhooks.io/drain-delay) for its endpoints to be withdrawn\n');
    expect(text.indexOf('waiting 1s')).toBeLessThan(text.indexOf('deregistering'));
    expect(text.indexOf('deregistered')).toBeLessThan(text.indexOf("running container app's own preStop: exec"));
  });

  test("native sidecars: the streamer's preStop runs with the app's, its SIGTERM comes once the app has exited; every line of the run is printed by then", async () => {
    const rec = await recorder();
    const { logs } = setup();
    const streamer = start('logstream.sh', [`${logs}/post-offline.log`]);
    await waitFor('the streamer', () => streamer.out().includes('streaming hook logs'));
    const theApp = app(rec.url('sigterm'));
    await sleep(200);
    // Both preStops at once. The user's own preStop (a 3 s sleep) outlasts the 2 s tail
    // needs: a streamer that did not wait for the run's end would miss the last lines.
    const appPreStop = preStop(logs, 'echo last words', ['--drain', '0', '--timeout', '5', '--', 'sleep', '3']);
    const streamerPreStop = start('postoffline.sh', ['await', '--within', '15'], { PODHOOKS_LOG_DIR: logs });
    expect((await exitWithin(appPreStop, 10_000)).code).toBe(0);
    process.kill(theApp.pid, 'SIGTERM');
    await exitWithin(theApp, 5000);
    // The kubelet waits for the sidecar's preStop, then (the app has exited) stops it at once.
    expect((await exitWithin(streamerPreStop, 10_000)).code).toBe(0);
    process.kill(streamer.pid, 'SIGTERM');
    await exitWithin(streamer, 5000);
    expect(streamer.out()).toContain('[post-offline] last words\n');
    expect(streamer.out()).toContain("[post-offline] podhooks: post-offline: running container app's own preStop: sleep 3s\n");
    expect(streamer.out()).toContain('[post-offline] podhooks: post-offline: done; container app gets SIGTERM now\n');
    expect(streamerPreStop.exitedAt()!).toBeGreaterThanOrEqual(appPreStop.exitedAt()!);
    expect(rec.names()).toEqual(['sigterm']);
  });

  test('a hook past its timeout is stopped with what it started; the user\'s preStop still runs; exit 124 with the reason', async () => {
    const rec = await recorder();
    const { logs, log } = setup();
    const marker = `30.${process.pid}${Date.now() % 100000}`;
    const p = preStop(logs, `echo working; sleep ${marker} & wait`, ['--drain', '0', '--timeout', '1', '--', 'exec', BB, 'wget', '-q', '-O', '/dev/null', rec.url('user-prestop')]);
    const e = await exitWithin(p, 15_000);
    expect(e.code).toBe(124);
    expect(p.err()).toBe('podhooks: post-offline hook for container app did not finish within 1s (podhooks.io/post-offline-timeout) and was stopped\n');
    expect(rec.names()).toEqual(['user-prestop']);
    await waitFor('the hook\'s background sleep to be gone', () => processesWith(marker).length === 0);
    expect(read(log)).toContain('podhooks: post-offline hook did not finish within 1s (podhooks.io/post-offline-timeout) and was stopped\n');
    expect(read(log).indexOf('was stopped')).toBeLessThan(read(log).indexOf("own preStop"));
  });

  test("a failing hook: the user's preStop still runs, the exit code is the hook's; a failing user preStop's code wins", async () => {
    const rec = await recorder();
    const { logs } = setup();
    const failing = preStop(logs, 'echo nope; exit 4', ['--drain', '0', '--timeout', '5', '--', 'exec', BB, 'wget', '-q', '-O', '/dev/null', rec.url('user-prestop')]);
    expect((await exitWithin(failing, 10_000)).code).toBe(4);
    expect(failing.err()).toBe('podhooks: post-offline hook for container app failed with exit code 4\n');
    expect(rec.names()).toEqual(['user-prestop']);

    const both = preStop(logs, 'exit 4', ['--drain', '0', '--timeout', '5', '--', 'exec', BB, 'sh', '-c', 'exit 7']);
    expect((await exitWithin(both, 10_000)).code).toBe(7);
    const missing = preStop(logs, 'true', ['--drain', '0', '--timeout', '5', '--', 'exec', 'no-such-command-here']);
    expect((await exitWithin(missing, 10_000)).code).toBe(127);
    expect(missing.err()).toContain("podhooks: container app's preStop: command not found: no-such-command-here");
  });

  test('the user\'s preStop as httpGet (any answer will do, as for the kubelet) and as sleep', async () => {
    const rec = await recorder();
    const { logs, log } = setup();
    const http500 = preStop(logs, 'true', ['--drain', '0', '--timeout', '5', '--', 'http-get', '5', rec.url('status-500'), 'X-Reason:pod-stopping']);
    expect((await exitWithin(http500, 10_000)).code).toBe(0);
    expect(rec.events[0]).toMatchObject({ name: 'status-500', headers: { 'x-reason': 'pod-stopping' } });
    expect(read(log)).toContain(`podhooks: post-offline: container app's preStop GET ${rec.url('status-500')}: HTTP 500\n`);

    const refused = preStop(logs, 'true', ['--drain', '0', '--timeout', '5', '--', 'http-get', '2', 'http://127.0.0.1:1/stop']);
    expect((await exitWithin(refused, 10_000)).code).toBe(1);
    expect(refused.err()).toContain("podhooks: container app's preStop GET http://127.0.0.1:1/stop: failed: ");

    const t0 = Date.now();
    const slept = preStop(logs, 'true', ['--drain', '0', '--timeout', '5', '--', 'sleep', '1']);
    expect((await exitWithin(slept, 10_000)).code).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
  });

  test('the streamer\'s preStop lets go after 5 s when no run starts (the app was not running), and usage errors exit 2', async () => {
    const { logs } = setup();
    const t0 = Date.now();
    const alone = start('postoffline.sh', ['await', '--within', '30'], { PODHOOKS_LOG_DIR: logs });
    // The classic streamer's preStop of pods injected before both modes waited: the same.
    const older = start('postoffline.sh', ['await', '--within', '30', '--parallel'], { PODHOOKS_LOG_DIR: logs });
    expect((await exitWithin(alone, 15_000)).code).toBe(0);
    expect((await exitWithin(older, 15_000)).code).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(5000);

    for (const [args, message] of [
      [['run', '--container', 'app', '--drain', 'x', '--timeout', '5'], "podhooks: postoffline.sh: --drain 'x' is not a whole number of seconds\n"],
      [['run', '--drain', '1', '--timeout', '5'], 'podhooks: postoffline.sh: run needs --container NAME --drain SECONDS --timeout SECONDS\n'],
      [['run', '--container', 'app', '--drain', '0', '--timeout', '5', '--', 'tcp', '80'], "podhooks: postoffline.sh: unknown preStop kind 'tcp' (exec, sleep or http-get)\n"],
      [['await'], 'podhooks: postoffline.sh: await needs --within SECONDS\n'],
      [[], 'podhooks: postoffline.sh: usage: postoffline.sh run --container NAME --drain S --timeout S [-- KIND ARGS...] | await --within S\n'],
    ] as const) {
      const r = await run('postoffline.sh', [...args], { PODHOOKS_LOG_DIR: logs });
      expect([r.code, r.err]).toEqual([2, message]);
    }
  });
});
