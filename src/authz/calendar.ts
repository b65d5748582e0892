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
  /** max(u) over the starts already folded away, in the current indexing (-Infinity: none). */
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

  /** Forgets starts before `now`, keeping what they imply for later ones. */
  private fold(now: number): void {
    let n = 0;
    while (n < this.starts.length && this.starts[n] < now) {
      // u of the first start is s - T; re-indexing the rest from 1 raises every u by T.
      this.pastMaxU = Math.max(this.pastMaxU, this.starts[n] - this.intervalMs) + this.intervalMs;
      n++;
    }
    if (n) this.starts.splice(0, n);
  }

  /** The earliest whole-ms start >= lower that the budget allows; reserved unless dryRun. */
  earliest(lower: number, now: number, dryRun = false): number {
    this.fold(now);
    const T = this.intervalMs;
    const tau = this.toleranceMs;
    const s = this.starts;
    const n = s.length;
    // u_k for 1-based k is s[k-1] - kT; suffix minima for "min(u_k, k >= p)".
    const suffixMin = new Float64Array(n + 2).fill(Infinity);
    for (let k = n; k >= 1; k--) suffixMin[k] = Math.min(suffixMin[k + 1], s[k - 1] - k * T);
    let prefixMax = this.pastMaxU; // max(u_i, i < p)
    for (let p = 1; p <= n + 1; p++) {
      if (p > 1) prefixMax = Math.max(prefixMax, s[p - 2] - (p - 1) * T);
      const after = p <= n ? s[p - 1] : Infinity; // the new start goes before this one
      if (after < lower) continue;
      if (suffixMin[p] - prefixMax + tau < T - EPS) continue;
      const from = Math.max(lower, p > 1 ? s[p - 2] : -Infinity, prefixMax + p * T - tau);
      const start = Math.ceil(from - EPS) + 0; // + 0: never -0
      if (start > Math.min(after, suffixMin[p] + (p - 1) * T + tau) + EPS) continue;
      if (!dryRun) s.splice(p - 1, 0, start);
      return start;
    }
    throw new Error('unreachable: a start after every other one is always allowed');
  }
}
