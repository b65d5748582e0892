// The authorization client as a real process against the reference service on 127.0.0.1:
// success and idempotent repeats, Retry-After (seconds and HTTP date), per-call timeouts,
// the total deadline, connection refused, fail open/closed, denial, bad configuration.
import { mkdtempSync, rmSync } from 'node:fs';
import { freePort } from '../helpers/ports';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildClient, runClient, startService, type Service } from '../authz-service/harness';

jest.setTimeout(60_000);

let bin: string;
let dir: string;
const services: Service[] = [];
let n = 0;

beforeAll(() => {
  bin = buildClient();
  dir = mkdtempSync(join(tmpdir(), 'podhooks-authz-client-'));
});
afterAll(async () => {
  await Promise.all(services.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
});

async function service(...args: string[]): Promise<Service> {
  const s = await startService(args);
  services.push(s);
  return s;
}

function client(url: string, env: Record<string, string> = {}) {
  n++;
  return runClient(
    bin,
    {
      PODHOOKS_AUTHZ_URL: url,
      PODHOOKS_POD_IP: '10.1.2.3',
      PODHOOKS_POD_NAME: `web-${n}`,
      PODHOOKS_POD_NAMESPACE: 'shop',
      PODHOOKS_POD_UID: `uid-${n}`,
      PODHOOKS_AUTHZ_PORTS: '8443,5432',
      PODHOOKS_AUTHZ_BASE_BACKOFF_MS: '50',
      PODHOOKS_AUTHZ_MAX_BACKOFF_MS: '200',
      ...env,
    },
    join(dir, `termination-${n}`),
  );
}

const gaps = (xs: number[]) => xs.slice(1).map((x, i) => x - xs[i]);

test('registers the pod once; a repeat with the same uid is an idempotent 200', async () => {
  const s = await service();
  const first = await client(s.url, { PODHOOKS_POD_UID: 'same-uid' });
  const again = await client(s.url, { PODHOOKS_POD_UID: 'same-uid' });
  expect([first.code, first.outcome, first.attempts]).toEqual([0, 'authorized', 1]);
  expect(again.stdout).toContain('status=200');
  const stats = await s.stats();
  expect(stats.registrations).toBe(1);
  expect(stats.duplicates).toBe(1);
  expect(stats.pods['same-uid'].registered).toEqual({ podIP: '10.1.2.3', ports: [8443, 5432] });
  expect(first.termination).toMatch(/authorized for 10\.1\.2\.3 on ports \[8443 5432\]/);
});

test('503 with Retry-After in seconds: waits at least that long, then succeeds', async () => {
  const s = await service('--fail-first', '2', '--fail-status', '503', '--retry-after', '1');
  const r = await client(s.url, { PODHOOKS_POD_UID: 'ra-seconds' });
  expect([r.code, r.attempts]).toEqual([0, 3]);
  const pod = (await s.stats()).pods['ra-seconds'];
  expect(pod.statuses).toEqual([503, 503, 201]);
  for (const gap of gaps(pod.arrivalsMs)) expect(gap).toBeGreaterThanOrEqual(1000);
});

test('429 with Retry-After as an HTTP date is honoured too', async () => {
  const s = await service('--fail-first', '1', '--fail-status', '429', '--retry-after-date', '3');
  const r = await client(s.url, { PODHOOKS_POD_UID: 'ra-date' });
  expect([r.code, r.attempts]).toEqual([0, 2]);
  const pod = (await s.stats()).pods['ra-date'];
  // An HTTP date has whole-second resolution: 3 s ahead is at least 2 s away.
  expect(gaps(pod.arrivalsMs)[0]).toBeGreaterThanOrEqual(2000);
});

test('"Retry-After: 0" still leaves a pause between calls', async () => {
  const s = await service('--fail-first', '3', '--fail-status', '429', '--retry-after', '0');
  const r = await client(s.url, { PODHOOKS_POD_UID: 'ra-zero', PODHOOKS_AUTHZ_BASE_BACKOFF_MS: '1' });
  expect([r.code, r.attempts]).toEqual([0, 4]);
  for (const gap of gaps((await s.stats()).pods['ra-zero'].arrivalsMs)) expect(gap).toBeGreaterThanOrEqual(9);
});

test('a Retry-After beyond the deadline ends the attempts at once (fail closed)', async () => {
  const s = await service('--fail-first', '99', '--retry-after', '30');
  const r = await client(s.url, { PODHOOKS_AUTHZ_DEADLINE_SECONDS: '5' });
  expect([r.code, r.outcome, r.attempts]).toEqual([2, 'failed-closed', 1]);
  expect(r.termination).toMatch(/asked to retry after 30s, beyond the 5s deadline/);
});

test('connection refused: every attempt used, then fail closed (exit 2) with the reason', async () => {
  const url = `http://127.0.0.1:${await freePort()}/v1/registrations`;
  const r = await client(url, { PODHOOKS_AUTHZ_MAX_ATTEMPTS: '4' });
  expect([r.code, r.outcome, r.attempts]).toEqual([2, 'failed-closed', 4]);
  expect(r.termination).toMatch(/NOT authorized, staying in Init \(authz\.failMode=closed\).*gave up after 4 of 4 attempts.*connection refused/);
  expect(r.stderr.match(/retrying in/g)).toHaveLength(3);
});

test('fail open: the same exhaustion exits 0 with a loud warning', async () => {
  const url = `http://127.0.0.1:${await freePort()}/v1/registrations`;
  const r = await client(url, { PODHOOKS_AUTHZ_MAX_ATTEMPTS: '3', PODHOOKS_AUTHZ_FAIL_MODE: 'open' });
  expect([r.code, r.outcome, r.attempts]).toEqual([0, 'failed-open', 3]);
  expect(r.termination).toMatch(/^WARNING: pod shop\/web-\d+ starts WITHOUT authorization/);
});

test('a hanging service: each call is cut at the per-call timeout and attempts stay bounded', async () => {
  const s = await service('--hang');
  const r = await client(s.url, { PODHOOKS_AUTHZ_TIMEOUT_MS: '300', PODHOOKS_AUTHZ_MAX_ATTEMPTS: '2', PODHOOKS_POD_UID: 'hang' });
  expect([r.code, r.attempts]).toEqual([2, 2]);
  expect(r.termination).toMatch(/context deadline exceeded/);
  expect((await s.stats()).pods.hang.requests).toBe(2);
});

test('the total deadline stops retries before the attempt budget is used up, without a hot loop', async () => {
  const s = await service('--fail-first', '1000', '--retry-after', '');
  const r = await client(s.url, {
    PODHOOKS_AUTHZ_MAX_ATTEMPTS: '1000',
    PODHOOKS_AUTHZ_DEADLINE_SECONDS: '2',
    PODHOOKS_AUTHZ_BASE_BACKOFF_MS: '20',
    PODHOOKS_AUTHZ_MAX_BACKOFF_MS: '100',
    PODHOOKS_POD_UID: 'deadline',
  });
  expect(r.code).toBe(2);
  expect(r.termination).toMatch(/deadline of 2s reached/);
  const pod = (await s.stats()).pods.deadline;
  expect(pod.requests).toBe(r.attempts);
  // The client sleeps at least 10 ms between calls, so 2 s allow at most ~200 calls, far from 1000.
  expect(r.attempts!).toBeLessThanOrEqual(200);
  for (const gap of gaps(pod.arrivalsMs)) expect(gap).toBeGreaterThanOrEqual(9);
});

test('an explicit 403 is a decision: exit 1 even in fail-open mode, no retry', async () => {
  const s = await service('--deny-pod', 'intruder');
  const r = await client(s.url, { PODHOOKS_POD_NAME: 'intruder', PODHOOKS_AUTHZ_FAIL_MODE: 'open', PODHOOKS_POD_UID: 'deny' });
  expect([r.code, r.outcome, r.attempts]).toEqual([1, 'denied', 1]);
  expect(r.termination).toMatch(/DENIED.*may not register ports 8443,5432/);
});

test('a non-retryable answer (404) is not retried; the fail mode applies', async () => {
  const s = await service('--fail-first', '99', '--fail-status', '404', '--retry-after', '');
  const closed = await client(s.url, { PODHOOKS_AUTHZ_MAX_ATTEMPTS: '5' });
  const open = await client(s.url, { PODHOOKS_AUTHZ_MAX_ATTEMPTS: '5', PODHOOKS_AUTHZ_FAIL_MODE: 'open' });
  expect([closed.code, closed.attempts, open.code, open.attempts]).toEqual([2, 1, 0, 1]);
  expect(closed.termination).toMatch(/not retryable: HTTP 404/);
  expect((await s.stats()).requests).toBe(2);
});

test('a missing downward API field is a configuration error, caught before any call', async () => {
  const s = await service();
  const r = await client(s.url, { PODHOOKS_POD_UID: '', PODHOOKS_AUTHZ_FAIL_MODE: 'open' });
  expect([r.code, r.outcome]).toEqual([64, 'config-error']);
  expect(r.stderr).toMatch(/PODHOOKS_POD_UID is empty/);
  expect((await s.stats()).requests).toBe(0);
});

test('the start offset delays the first call', async () => {
  const s = await service();
  const r = await client(s.url, { PODHOOKS_AUTHZ_START_OFFSET_MS: '400' });
  expect(r.code).toBe(0);
  expect(r.stderr).toMatch(/waiting 400ms before calling/);
  expect(r.elapsedMs).toBeGreaterThanOrEqual(400);
});

test.each([
  [{ PODHOOKS_AUTHZ_PORTS: '8443,http' }, /PODHOOKS_AUTHZ_PORTS="8443,http": "http" is not a port/],
  [{ PODHOOKS_AUTHZ_URL: 'acl:8080' }, /PODHOOKS_AUTHZ_URL="acl:8080" is not an absolute http/],
  [{ PODHOOKS_AUTHZ_FAIL_MODE: 'maybe' }, /PODHOOKS_AUTHZ_FAIL_MODE="maybe" must be closed or open/],
  [{ PODHOOKS_AUTHZ_START_OFFSET_MS: '-5' }, /PODHOOKS_AUTHZ_START_OFFSET_MS="-5" is not a valid number/],
])('bad configuration %p: exit 64 naming the setting', async (env, message) => {
  const r = await client('http://127.0.0.1:1/', env);
  expect(r.code).toBe(64);
  expect(r.stderr).toMatch(message);
});
