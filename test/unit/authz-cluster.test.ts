// The cluster-wide budget: the calendar of starts (exact token-bucket bound whatever order
// the starts are asked for, each start the earliest the bound allows), the Pacer drawing
// every pod from both its app's bucket and the cluster's, and the start-up check that the
// budgets fit the service's capacity (in flight <= burst + ceil(rate x latency)).
import fc from 'fast-check';
import { StartCalendar } from '../../src/authz/calendar';
import { capacityProblem, inFlightBound } from '../../src/authz/capacity';
import { Pacer } from '../../src/authz/pacing';
import { ConfigError, parseConfig } from '../../src/config';

/** Whether starts stay within burst + floor(W / interval) in every window (every pair, independently of the implementation). */
function withinBucket(starts: number[], rate: number, burst: number): boolean {
  const s = [...starts].sort((a, b) => a - b);
  const interval = 1000 / rate;
  for (let i = 0; i < s.length; i++) for (let j = i; j < s.length; j++) if (j - i + 1 > burst + Math.floor((s[j] - s[i]) / interval + 1e-9)) return false;
  return true;
}

/** The same in one pass: j - i + 1 <= B + floor((s_j - s_i)/T) for all i < j iff s_k - kT never drops (B-1)T below an earlier one. */
function withinBucketFast(starts: number[], rate: number, burst: number): boolean {
  const s = [...starts].sort((a, b) => a - b);
  const interval = 1000 / rate;
  let max = -Infinity;
  for (let k = 0; k < s.length; k++) {
    const u = s[k] - k * interval;
    if (u < max - (burst - 1) * interval - 1e-9) return false;
    max = Math.max(max, u);
  }
  return true;
}

test('a calendar gives the burst at once, then one start per interval', () => {
  const c = new StartCalendar(10, 3);
  expect(Array.from({ length: 6 }, () => c.earliest(1000, 1000))).toEqual([1000, 1000, 1000, 1100, 1200, 1300]);
});

test("a start asked for later in the schedule does not push an earlier one's slot away (no head-of-line blocking)", () => {
  const c = new StartCalendar(10, 1);
  expect(c.earliest(5000, 0)).toBe(5000); // one app's pod is due in 5 s
  expect(c.earliest(0, 0)).toBe(0); //        another app's pod may still start now
  expect(c.earliest(0, 0)).toBe(100);
  expect(c.earliest(4950, 0)).toBe(5100); // too close before 5000 and at 5000: after it
  expect(c.pending).toBe(4);
});

test('a dry run sees the start without reserving it', () => {
  const c = new StartCalendar(1, 1);
  expect([c.earliest(0, 0), c.earliest(0, 0, true), c.earliest(0, 0, true), c.earliest(0, 0)]).toEqual([0, 1000, 1000, 1000]);
});

test('starts in the past are forgotten, but still count for the bound', () => {
  const c = new StartCalendar(10, 2);
  expect([c.earliest(0, 0), c.earliest(0, 0), c.earliest(0, 0)]).toEqual([0, 0, 100]);
  expect(c.earliest(150, 150)).toBe(200); // 0, 0 and 100 are folded away, yet the window from 0 is full
  expect(c.pending).toBe(1);
  expect(c.earliest(10_000, 10_000)).toBe(10_000);
});

const schedule = fc.record({
  rate: fc.double({ min: 2, max: 100, noNaN: true }),
  burst: fc.integer({ min: 1, max: 5 }),
  asks: fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 3000 }), fc.boolean()), { minLength: 1, maxLength: 30 }),
});

test('properties: any order of asks stays within the bucket, and each start is the earliest it allows', () => {
  fc.assert(
    fc.property(schedule, ({ rate, burst, asks }) => {
      const c = new StartCalendar(rate, burst);
      let now = 0;
      const given: number[] = [];
      for (const [gap, ahead, dryRun] of asks) {
        now += gap;
        const lower = now + ahead;
        const start = c.earliest(lower, now, dryRun);
        expect(Number.isInteger(start) && start >= lower).toBe(true);
        // No earlier whole millisecond would do (checked against every start given so far).
        for (let s = lower; s < start; s++) if (withinBucketFast([...given, s], rate, burst)) throw new Error(`${s} would have done, but ${start} was given`);
        if (!dryRun) given.push(start);
        expect(withinBucket(given, rate, burst)).toBe(true);
        expect(withinBucketFast(given, rate, burst)).toBe(true);
      }
    }),
    { numRuns: 100 },
  );
});

/** A clock the test moves by hand. */
function clock(start = 0) {
  const c = { t: start, now: () => c.t };
  return c;
}

test('properties: every pod draws from its app and from the cluster; both bounds hold, and an app never goes backwards', () => {
  fc.assert(
    fc.property(
      fc.double({ min: 0.5, max: 50, noNaN: true }),
      fc.integer({ min: 1, max: 4 }),
      fc.double({ min: 1, max: 100, noNaN: true }),
      fc.integer({ min: 1, max: 6 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 500 })), { minLength: 1, maxLength: 80 }),
      (rate, burst, clusterRate, clusterBurst, arrivals) => {
        const c = clock();
        const p = new Pacer({ ratePerSecond: rate, burst, maxTracked: 100, cluster: { ratePerSecond: clusterRate, burst: clusterBurst } }, c.now);
        const perApp: Record<number, number[]> = {};
        const all: number[] = [];
        for (const [app, gap] of arrivals) {
          c.t += gap;
          const start = c.t + p.offset(`ns/app-${app}`);
          (perApp[app] ??= []).push(start);
          all.push(start);
        }
        expect(withinBucket(all, clusterRate, clusterBurst)).toBe(true);
        for (const starts of Object.values(perApp)) {
          expect(withinBucket(starts, rate, burst)).toBe(true);
          for (let i = 1; i < starts.length; i++) expect(starts[i]).toBeGreaterThanOrEqual(starts[i - 1]);
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('ten apps rolling out together: each app at its own rate, all of them within the cluster budget', () => {
  const c = clock();
  const p = new Pacer({ ratePerSecond: 5, burst: 2, maxTracked: 100, cluster: { ratePerSecond: 20, burst: 4 } }, c.now);
  const starts = Array.from({ length: 100 }, (_, i) => p.offset(`shop/app-${i % 10}`));
  expect(starts.slice(0, 4)).toEqual([0, 0, 0, 0]); // the cluster burst, shared by the first apps
  expect(withinBucket(starts, 20, 4)).toBe(true);
  // 100 pods at 20/s after a burst of 4: the last starts (100 - 4) / 20 s in, not later.
  expect(Math.max(...starts)).toBe(((100 - 4) * 1000) / 20);
});

describe('the capacity check at start-up', () => {
  const refusal = (authz: Record<string, unknown>) => {
    try {
      parseConfig({ authz });
      return undefined;
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
  };

  test('burst 5 against a capacity of 4 is refused with the numbers and the fix', () => {
    expect(refusal({ burstPerCluster: 5, ratePerCluster: 10, serviceCapacity: 4, expectedLatencyMs: 100 })).toBe(
      'invalid config:\n  - authz.burstPerCluster: the cluster-wide budget can put 6 registrations in flight at once, more than serviceCapacity 4: ' +
        'burstPerCluster 5 + ceil(ratePerCluster 10/s x expectedLatencyMs 100 ms) = 5 + 1. Fix: burstPerCluster at most 3; or a larger serviceCapacity if the service really takes more (got 5)',
    );
  });

  test('a rate too high for the latency is refused, offering either fix', () => {
    expect(refusal({ burstPerCluster: 7, ratePerCluster: 20, serviceCapacity: 8, expectedLatencyMs: 100 })).toContain(
      'can put 9 registrations in flight at once, more than serviceCapacity 8: burstPerCluster 7 + ceil(ratePerCluster 20/s x expectedLatencyMs 100 ms) = 7 + 2. ' +
        'Fix: burstPerCluster at most 6 or ratePerCluster at most 10/s (either one, the other unchanged)',
    );
  });

  test('replicas: each bursts at least 1, so a burst below the replica count still starts one call per replica at once', () => {
    expect(inFlightBound({ ratePerCluster: 10, burstPerCluster: 1, replicas: 3, expectedLatencyMs: 100 })).toEqual({ burst: 3, flow: 1, total: 4 });
    expect(inFlightBound({ ratePerCluster: 10, burstPerCluster: 7, replicas: 3, expectedLatencyMs: 100 })).toEqual({ burst: 6, flow: 1, total: 7 });
    expect(capacityProblem({ ratePerCluster: 10, burstPerCluster: 1, replicas: 3, serviceCapacity: 3, expectedLatencyMs: 100 })).toContain(
      'burstPerCluster 1 over 3 replicas, 1 each (at least 1 per replica), so 3 at once + ceil(ratePerCluster 10/s x expectedLatencyMs 100 ms) = 3 + 1',
    );
  });

  test('budgets that fit pass, and so do the defaults; capacity and latency go together; latency must be below the call timeout', () => {
    expect(refusal({ burstPerCluster: 6, ratePerCluster: 20, serviceCapacity: 8, expectedLatencyMs: 100 })).toBeUndefined();
    expect(refusal({})).toBeUndefined();
    expect(refusal({ serviceCapacity: 8 })).toContain('authz.expectedLatencyMs: must be set together with authz.serviceCapacity');
    expect(refusal({ serviceCapacity: 100, expectedLatencyMs: 2000 })).toContain('authz.expectedLatencyMs: is not below authz.timeoutMs (2000)');
  });
});
