// One numeric attribute of a query class (Query_time, Rows_sent, …): count, sum, min, max, and pct_95 /
// median / stddev computed the way pt-query-digest (EventAggregator) computes them, so the numbers agree.
//
// pt-query-digest does not keep the values: it counts them in 1000 logarithmic buckets, bucket i ≥ 1 holding
// values from 1.05^(i-1) µs up (bucket 0: below 1 µs; the last bucket: everything above ~1.6e15), and reads
// the statistics back from the buckets:
//  - one value, or all values equal: pct_95 = median = that value, stddev 0 (exact);
//  - two values: pct_95 = the larger, median = their mean, stddev = |a − b| / √2 (exact);
//  - more: pct_95 = the lower bound of the bucket holding the value at rank ⌊0.95·n⌋ (n ≥ 10; else the
//    largest), median = lower bound of the bucket holding the middle value (with pt's tie rule), stddev from
//    the bucket bounds, capped at (max − min)/2.
// So from three values on, pct_95 and median are approximations (up to 5% under the true value); we reproduce
// them rather than compute exact percentiles, because matching pt-query-digest's reports is the point.
// Units are the attribute's own (seconds for times, rows for rows): bucket bounds start at 1e-6 either way.

const BUCKET_SIZE = 1.05;
const BASE_LOG = Math.log(BUCKET_SIZE);
const MIN_BUCKET = 0.000001;
const BASE_OFFSET = Math.abs(1 - Math.log(MIN_BUCKET) / BASE_LOG);
const NUM_BUCKETS = 1000;

const BUCKET_VALUES: number[] = Array.from({ length: NUM_BUCKETS }, (_, i) => (i === 0 ? 0 : BUCKET_SIZE ** (i - 1) * MIN_BUCKET));

export function bucketIndex(v: number): number {
  if (v < MIN_BUCKET) return 0;
  const i = Math.trunc(BASE_OFFSET + Math.log(v) / BASE_LOG);
  return i > NUM_BUCKETS - 1 ? NUM_BUCKETS - 1 : i;
}

export function bucketValue(i: number): number {
  return BUCKET_VALUES[i]!;
}

export interface MetricSummary {
  cnt: number;
  sum: number;
  min: number;
  max: number;
  avg: number;
  pct95: number;
  median: number;
  stddev: number;
}

export class MetricStats {
  cnt = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  /** bucket index → number of values (sparse: most classes touch a few buckets) */
  private readonly buckets = new Map<number, number>();

  add(v: number): void {
    this.cnt++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    const b = bucketIndex(v);
    this.buckets.set(b, (this.buckets.get(b) ?? 0) + 1);
  }

  summary(): MetricSummary {
    const s: MetricSummary = {
      cnt: this.cnt,
      sum: this.sum,
      min: this.cnt ? this.min : 0,
      max: this.cnt ? this.max : 0,
      avg: this.cnt ? this.sum / this.cnt : 0,
      pct95: 0,
      median: 0,
      stddev: 0,
    };
    if (this.cnt === 0) return s;
    if (this.cnt === 1 || this.max === this.min) {
      s.pct95 = s.median = this.max;
      return s;
    }
    if (this.cnt === 2) {
      const mean = (this.min + this.max) / 2;
      s.pct95 = this.max;
      s.median = mean;
      s.stddev = Math.sqrt((this.max - mean) ** 2 * 2);
      return s;
    }
    this.fromBuckets(s);
    return s;
  }

  /** pt-query-digest's _calc_metrics, walking the buckets from the top (its falsy-zero tests included). */
  private fromBuckets(s: MetricSummary): void {
    const n = this.cnt;
    const cutoff = n >= 10 ? Math.trunc(n * 0.95) : n;
    const topValues = n - cutoff;
    const mid = Math.trunc(n / 2);
    const used = [...this.buckets.keys()].sort((a, b) => b - a);
    let left = n;
    let seen = 0;
    let sum = 0;
    let sumsq = 0;
    let median = 0;
    let prev = NUM_BUCKETS - 1;
    let bucket95 = 0;
    for (const b of used) {
      const count = this.buckets.get(b)!;
      left -= count;
      seen += count;
      if (!bucket95 && seen > topValues) bucket95 = b;
      if (!median && left <= mid) {
        median = cutoff % 2 || count > 1 ? BUCKET_VALUES[b]! : (BUCKET_VALUES[b]! + BUCKET_VALUES[prev]!) / 2;
      }
      sum += count * BUCKET_VALUES[b]!;
      sumsq += count * BUCKET_VALUES[b]! ** 2;
      prev = b;
    }
    const variance = sumsq / n - (sum / n) ** 2;
    const stddev = variance > 0 ? Math.sqrt(variance) : 0;
    const maxStddev = (this.max - this.min) / 2;
    s.stddev = stddev > maxStddev ? maxStddev : stddev;
    s.pct95 = BUCKET_VALUES[bucket95]!;
    s.median = median;
  }
}
