// The cluster-wide budget: a token bucket (rate r, burst B) kept as a calendar of the
// starts it has already given out. Per-app pacing hands out starts in the future and out
// of order (one app's queue may run 20 s ahead while another app's pod could start now),
// so a single arrival time (GCRA) would make every app wait behind the longest queue.
// The calendar instead inserts each start at the earliest time >= its lower bound that
// keeps the whole schedule within the bucket, i.e. for any starts i <= j in time order,
//   j - i + 1 <= B + floor((s_j - s_i) / T),   T = 1000 / r ms,
// which is u_j >= u_i - (B - 1)T for u_k = s_k - kT. Inserting at position p shifts the
// later u by -T, so p is feasible for s when
//   s >= max(u_i, i < p) + pT - (B-1)T,   s <= min(u_k, k >= p) + (p-1)T + (B-1)T,
//   and min(u_k, k >= p) - max(u_i, i < p) + (B-1)T >= T.
// Starts in the past are folded into one number (the largest u before them), so memory is
// the number of starts still ahead. Times are whole milliseconds.

const EPS = 1e-9;

export class StartCalendar {
  private readonly intervalMs: number;
  private readonly toleranceMs: number;
  /** Starts still ahead, ascending (ms). */
  private starts: number[] = [];
  /** prefixMaxU[i] = max(u) over the folded starts and starts[0..i]. */
  private prefixMaxU: number[] = [];
  /** Starts folded away; starts[i] has the global index folded + i + 1, and u = s - index x T. */
  private folded = 0;
  /** max(u) over the folded starts (-Infinity: none). */
  private pastMaxU = -Infinity;

  constructor(
    ratePerSecond: number,
    readonly burst: number,
  ) {
    if (!(ratePerSecond > 0) || !(burst >= 1)) throw new Error(`a calendar needs ratePerSecond > 0 and burst >= 1 (got ${ratePerSecond}, ${burst})`);
    this.intervalMs = 1000 / ratePerSecond;
    this.toleranceMs = (burst - 1) * this.intervalMs;
  }

  /** Starts given out that have not happened yet. */
  get pending(): number {
    return this.starts.length;
  }

  private u(i: number): number {
    return this.starts[i] - (this.folded + i + 1) * this.intervalMs;
  }

  /** Forgets starts before `now`, keeping what they imply for later ones. */
  private fold(now: number): void {
    let m = 0;
    while (m < this.starts.length && this.starts[m] < now) m++;
    if (!m) return;
    this.pastMaxU = this.prefixMaxU[m - 1];
    this.starts.splice(0, m);
    this.prefixMaxU.splice(0, m);
    this.folded += m;
  }

  /** The earliest whole-ms start >= lower that the budget allows; reserved unless dryRun.
   *  Costs O(n) in the starts still ahead from `lower` on, with no allocation. */
  earliest(lower: number, now: number, dryRun = false): number {
    this.fold(now);
    const T = this.intervalMs;
    const tau = this.toleranceMs;
    const s = this.starts;
    const n = s.length;
    // The new start goes before s[q]; positions before the first s[q] >= lower cannot hold it.
    let q0 = 0;
    for (let hi = n; q0 < hi; ) {
      const mid = (q0 + hi) >> 1;
      if (s[mid] < lower) q0 = mid + 1;
      else hi = mid;
    }
    // One pass from the end: the last feasible position seen is the earliest one.
    let best = -1;
    let bestStart = 0;
    let after = Infinity; // min(u) over s[q..n-1]
    for (let q = n; q >= q0; q--) {
      if (q < n) after = Math.min(after, this.u(q));
      const before = q > 0 ? this.prefixMaxU[q - 1] : this.pastMaxU;
      // The starts after q move one index on: they must still keep their distance to those before.
      if (after - before + tau < T - EPS) continue;
      const index = this.folded + q + 1;
      const from = Math.max(lower, q > 0 ? s[q - 1] : -Infinity, before + index * T - tau);
      const start = Math.ceil(from - EPS) + 0; // + 0: never -0
      if (start > Math.min(q < n ? s[q] : Infinity, after + (index - 1) * T + tau) + EPS) continue;
      best = q;
      bestStart = start;
    }
    if (best < 0) throw new Error('unreachable: a start after every other one is always allowed');
    if (!dryRun) this.insert(best, bestStart);
    return bestStart;
  }

  private insert(q: number, start: number): void {
    this.starts.splice(q, 0, start);
    this.prefixMaxU.splice(q, 0, 0);
    for (let i = q; i < this.starts.length; i++) this.prefixMaxU[i] = Math.max(i > 0 ? this.prefixMaxU[i - 1] : this.pastMaxU, this.u(i));
  }
}
