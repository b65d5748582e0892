import fc from 'fast-check';
import { parseConfig } from '../../src/config';
import { appOf, authzPacing, Pacer, pacingKey, pacingOptions } from '../../src/authz/pacing';

/** A clock the test moves by hand. */
function clock(start = 1000) {
  const c = { t: start, now: () => c.t };
  return c;
}

test('a fresh app gets its burst at once, then one start per interval', () => {
  const c = clock();
  const p = new Pacer({ ratePerSecond: 5, burst: 3, maxTracked: 10 }, c.now);
  expect(Array.from({ length: 7 }, () => p.offset('shop/web'))).toEqual([0, 0, 0, 200, 400, 600, 800]);
  c.t += 500; // 500 ms later, the queue is 500 ms shorter
  expect(p.offset('shop/web')).toBe(500);
  expect(p.offset('shop/api')).toBe(0); // another app has its own bucket
});

test('a bucket refills while idle, never beyond its burst', () => {
  const c = clock();
  const p = new Pacer({ ratePerSecond: 10, burst: 2, maxTracked: 10 }, c.now);
  expect([p.offset('a'), p.offset('a'), p.offset('a')]).toEqual([0, 0, 100]);
  c.t += 60_000;
  expect([p.offset('a'), p.offset('a'), p.offset('a')]).toEqual([0, 0, 100]);
});

test('a dry run sees the offset but takes no token', () => {
  const c = clock();
  const p = new Pacer({ ratePerSecond: 1, burst: 1, maxTracked: 10 }, c.now);
  expect(p.offset('a')).toBe(0);
  expect(p.offset('a', true)).toBe(1000);
  expect(p.offset('a', true)).toBe(1000);
  expect(p.offset('b', true)).toBe(0);
  expect(p.size).toBe(1);
  expect(p.offset('a')).toBe(1000);
  expect(p.offset('a')).toBe(2000);
});

test('properties: over any window of W ms, at most burst + W*rate/1000 starts per app', () => {
  fc.assert(
    fc.property(
      fc.double({ min: 0.2, max: 200, noNaN: true }),
      fc.integer({ min: 1, max: 20 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 2000 })), { minLength: 1, maxLength: 200 }),
      (rate, burst, arrivals) => {
        const c = clock(0);
        const p = new Pacer({ ratePerSecond: rate, burst, maxTracked: 100 }, c.now);
        const starts: Record<number, number[]> = {};
        for (const [app, gap] of arrivals) {
          c.t += gap;
          const offset = p.offset(`ns/app-${app}`);
          expect(Number.isInteger(offset) && offset >= 0).toBe(true);
          (starts[app] ??= []).push(c.t + offset);
        }
        const interval = 1000 / rate;
        for (const s of Object.values(starts)) {
          for (let i = 1; i < s.length; i++) expect(s[i]).toBeGreaterThanOrEqual(s[i - 1]);
          for (let i = 0; i < s.length; i++) {
            for (let j = i; j < s.length; j++) {
              // starts i..j lie within a window of s[j] - s[i] ms
              expect(j - i + 1).toBeLessThanOrEqual(burst + Math.floor((s[j] - s[i]) / interval + 1e-9));
            }
          }
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('properties: memory stays within maxTracked whatever the key stream', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 20 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 300 }), fc.boolean()), { maxLength: 500 }),
      (max, ops) => {
        const c = clock(0);
        const p = new Pacer({ ratePerSecond: 5, burst: 2, maxTracked: max }, c.now);
        for (const [key, gap, dryRun] of ops) {
          c.t += gap;
          p.offset(`k${key}`, dryRun);
          expect(p.size).toBeLessThanOrEqual(max);
        }
      },
    ),
  );
});

test('when full, idle apps are dropped first and an active one only as a last resort', () => {
  const c = clock();
  const p = new Pacer({ ratePerSecond: 1, burst: 1, maxTracked: 2 }, c.now);
  p.offset('old'); // its bucket is full again 1 s later
  c.t += 2000;
  p.offset('busy');
  p.offset('busy');
  p.offset('new'); // room was made by dropping "old", which was idle: nothing lost
  expect(p.evictedActive).toBe(0);
  expect(p.size).toBe(2);
  expect(p.offset('busy')).toBe(2000); // busy kept its queue
  p.offset('third'); // every entry active: the least recently used (new) goes
  expect(p.evictedActive).toBe(1);
  expect(p.size).toBe(2);
});

test('the app: app.kubernetes.io/name, then app, then the owner without the pod-template-hash', () => {
  const rsPod = {
    metadata: {
      generateName: 'web-7d9f8c6b5-',
      labels: { 'pod-template-hash': '7d9f8c6b5' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f8c6b5', uid: 'x', controller: true }],
    },
  };
  expect(appOf(rsPod)).toBe('web');
  expect(appOf({ metadata: { ...rsPod.metadata, labels: { ...rsPod.metadata.labels, app: 'shop-web' } } })).toBe('shop-web');
  expect(appOf({ metadata: { labels: { app: 'a', 'app.kubernetes.io/name': 'b' } } })).toBe('b');
  expect(appOf({ metadata: { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', uid: 'y' }] } })).toBe('db');
  expect(appOf({ metadata: { generateName: 'batch-' } })).toBe('batch');
  expect(pacingKey({ metadata: { name: 'solo', namespace: 'ignored' } }, 'shop')).toBe('shop/solo');
});

test('with N replicas each paces at rate/N and burst/N (at least 1)', () => {
  expect(pacingOptions(parseConfig({ authz: { ratePerApp: 10, burstPerApp: 6, ratePerCluster: 30, burstPerCluster: 7, replicas: 3, maxTrackedApps: 7 } }))).toEqual({
    ratePerSecond: 10 / 3,
    burst: 2,
    maxTracked: 7,
    cluster: { ratePerSecond: 10, burst: 2 },
  });
  expect(pacingOptions(parseConfig({ authz: { burstPerApp: 1, burstPerCluster: 2, replicas: 3 } }))).toMatchObject({ burst: 1, cluster: { burst: 1 } });
  const c = clock();
  const { offset } = authzPacing(parseConfig({ authz: { ratePerApp: 2, burstPerApp: 1 } }), c.now);
  const pod = { metadata: { labels: { app: 'web' } } };
  expect([offset(pod, 'shop', false), offset(pod, 'shop', false), offset(pod, 'other', false)]).toEqual([0, 500, 0]);
});
