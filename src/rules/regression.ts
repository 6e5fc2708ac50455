// Query-class regressions (README "Query-class regressions"): per (source, db, fingerprint), in event time, a
// fixed-size summary of recent durations and a baseline; a class whose recent p95 is markedly above its
// baseline's raises a `regression` alert, closed by `regression_resolved` when it is back to normal. Pure: only
// the records applied (their order, their times, the source's watermark) move it, so the oracle and the
// pipeline, replaying a snapshot and a journal or not, give the same alerts.
//
// The summary of a class is a fixed array: durations counted in BUCKETS log-spaced buckets from 1 ms to 1 h,
// per minute of event time (SLICE_MS), over the last WINDOW_SLICES minutes (the window). Each completed
// aligned block of WINDOW_SLICES minutes with enough executions leaves its p95 (a bucket) and its count in the
// class's history (the last HISTORY_WINDOWS of them): the baseline is the median of those p95s.

/** duration buckets: 0 is < 1 ms, 1..BUCKETS-2 log-spaced up to 1 h, BUCKETS-1 is ≥ 1 h */
export const BUCKETS = 40;
/** one slice of the window, ms of event time */
export const SLICE_MS = 60_000;
/** slices in the window (the window is WINDOW_SLICES × SLICE_MS = 10 min) */
export const WINDOW_SLICES = 10;
export const WINDOW_MS = WINDOW_SLICES * SLICE_MS;
/** completed windows kept for the baseline (2 h at most) */
export const HISTORY_WINDOWS = 12;
/** cells of a class's summary: WINDOW_SLICES slices of BUCKETS counts */
export const CELLS = WINDOW_SLICES * BUCKETS;

const ONE_HOUR_MS = 3_600_000;
/** EDGES[k] = 1 ms × (1 h / 1 ms)^(k / (BUCKETS-2)): bucket k (1 ≤ k ≤ BUCKETS-2) is [EDGES[k-1], EDGES[k]) */
const EDGES: readonly number[] = Array.from({ length: BUCKETS - 1 }, (_, k) => Math.pow(ONE_HOUR_MS, k / (BUCKETS - 2)));
/** the duration a bucket stands for: its geometric middle (within ±22% of any duration in it) */
const MIDDLES: readonly number[] = Array.from({ length: BUCKETS }, (_, b) =>
  b === 0 ? 0.5 : b === BUCKETS - 1 ? ONE_HOUR_MS : round2(Math.sqrt(EDGES[b - 1]! * EDGES[b]!)));

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

export function bucketOf(durationMs: number): number {
  if (!(durationMs >= 1)) return 0; // NaN too
  let lo = 0;
  let hi = EDGES.length - 1;
  if (durationMs >= EDGES[hi]!) return BUCKETS - 1;
  // the first edge above the duration
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (EDGES[mid]! > durationMs) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export function bucketMs(bucket: number): number {
  return MIDDLES[bucket] ?? ONE_HOUR_MS;
}

/** Settings of one class (thresholds: resolved per source, db and fingerprint like the others). */
export interface RegressionThresholds {
  /** fire when the window's p95 is at least this many times the baseline's; 0 turns regressions off */
  regressionFactor: number;
  /** resolve when the window's p95 is at most this many times the baseline's (hysteresis) */
  regressionResolveFactor: number;
  /** executions the window needs before it is judged (and a completed window before it counts in the baseline) */
  regressionMinCount: number;
  /** the window's p95 must also be at least this long to fire */
  regressionMinMs: number;
  /** completed windows the baseline needs before the class is judged (× 10 min of history) */
  regressionMinHistory: number;
}

export const DEFAULT_REGRESSION: RegressionThresholds = {
  regressionFactor: 3,
  regressionResolveFactor: 1.5,
  regressionMinCount: 20,
  regressionMinMs: 100,
  regressionMinHistory: 3,
};

/** Classes kept per source by default (least recently seen evicted first; see README for the bytes per class). */
export const DEFAULT_MAX_CLASSES = 10_000;

/** A completed window in a class's history: its p95 bucket and its count. */
export type PastWindow = [p95Bucket: number, count: number];

/** What an open regression remembers, to describe the alert that closes it. */
export interface OpenRegression {
  /** the alert's query id (shared by the regression alert and the one closing it) */
  queryId: string;
  /** event time it fired */
  since: number;
  fingerprint: string;
  sql: string;
  user?: string;
  host?: string;
}

/** One class's summary. */
export interface QueryClass {
  fingerprintId: string;
  db?: string;
  /**
   * counted from the server's statement statistics (`statement_stats` records: `calls` executions at their mean)
   * rather than from logged executions: a class of its own, so a statement in both is never counted twice
   */
  statistics?: true;
  /** the minute (event time / SLICE_MS) of the newest slice; slice of minute m is at (m mod WINDOW_SLICES) */
  head: number;
  /** WINDOW_SLICES × BUCKETS counts */
  slices: Uint32Array;
  /** the window's counts per bucket (the sum of the slices) and their total, kept so a record costs O(BUCKETS) at most */
  window: Uint32Array;
  count: number;
  /** the minute the class last moved to the end of its source's least-recently-seen order (regression-classes.ts) */
  seenMinute: number;
  /** completed windows, oldest first, at most HISTORY_WINDOWS */
  history: PastWindow[];
  /** what the history gives (baselineOf), kept with it: judging a record must not sort it again */
  baseline?: Baseline;
  open?: OpenRegression;
}

export function newClass(fingerprintId: string, db: string | undefined, minute: number, statistics = false): QueryClass {
  const c: QueryClass = { fingerprintId, head: minute, slices: new Uint32Array(CELLS), window: new Uint32Array(BUCKETS), count: 0, seenMinute: minute, history: [] };
  if (db !== undefined) c.db = db;
  if (statistics) c.statistics = true;
  return c;
}

export function classKey(db: string | undefined, fingerprintId: string, statistics = false): string {
  return `${db ?? ''}\0${fingerprintId}${statistics ? '\0statistics' : ''}`;
}

export function minuteOf(ts: number): number {
  return Math.floor(ts / SLICE_MS);
}

/**
 * Moves the class's window to `minute` (never back): every aligned block of WINDOW_SLICES minutes it leaves is a
 * completed window, kept in the history when it had `minCount` executions; the slices it leaves are emptied.
 */
export function advance(c: QueryClass, minute: number, minCount: number): void {
  if (minute <= c.head) return;
  const block = Math.floor(c.head / WINDOW_SLICES);
  if (Math.floor(minute / WINDOW_SLICES) > block) {
    // the ring holds minutes head-9..head: the block's minutes up to head are all in it
    const counts = new Uint32Array(BUCKETS);
    let n = 0;
    for (let m = block * WINDOW_SLICES; m <= c.head; m++) {
      const at = slot(m);
      for (let b = 0; b < BUCKETS; b++) {
        const k = c.slices[at + b]!;
        counts[b]! += k;
        n += k;
      }
    }
    if (n >= minCount && n > 0) {
      c.history.push([p95Bucket(counts, n), n]);
      if (c.history.length > HISTORY_WINDOWS) c.history.shift();
      setBaseline(c);
    }
  }
  const clear = Math.min(minute - c.head, WINDOW_SLICES);
  for (let i = 1; i <= clear; i++) {
    const at = slot(c.head + i);
    for (let b = 0; b < BUCKETS; b++) {
      const k = c.slices[at + b]!;
      if (k !== 0) {
        c.window[b]! -= k;
        c.count -= k;
        c.slices[at + b] = 0;
      }
    }
  }
  c.head = minute;
}

function slot(minute: number): number {
  return (((minute % WINDOW_SLICES) + WINDOW_SLICES) % WINDOW_SLICES) * BUCKETS;
}

/** Most a cell counts (a class's statistics can bring millions of calls a minute); the snapshot's check uses it. */
export const MAX_CELL_COUNT = 0x0fff_ffff;

/**
 * Counts `n` executions of `minute` (≤ head, and within the window, else they are too old and not counted); a cell
 * stops at MAX_CELL_COUNT, and the window counts what the cell took, so a restored class counts alike.
 */
export function add(c: QueryClass, minute: number, durationMs: number, n = 1): boolean {
  if (minute > c.head || minute <= c.head - WINDOW_SLICES) return false;
  const b = bucketOf(durationMs);
  const cell = slot(minute) + b;
  const took = Math.min(n, MAX_CELL_COUNT - c.slices[cell]!);
  c.slices[cell]! += took;
  c.window[b]! += took;
  c.count += took;
  return true;
}

/** The bucket holding the 95th percentile of `n` counted durations (the ⌈0.95·n⌉-th smallest). */
export function p95Bucket(counts: Uint32Array, n: number): number {
  const rank = Math.ceil(0.95 * n);
  let seen = 0;
  for (let b = 0; b < BUCKETS; b++) {
    seen += counts[b]!;
    if (seen >= rank) return b;
  }
  return BUCKETS - 1;
}

export interface Baseline {
  p95Bucket: number;
  /** executions in the windows it is made of */
  count: number;
  windows: number;
}

/** The median (the lower one of an even number) of the history's p95s. */
export function baselineOf(history: readonly PastWindow[]): Baseline | undefined {
  if (history.length === 0) return undefined;
  const sorted = history.map((w) => w[0]).sort((a, b) => a - b);
  let count = 0;
  for (const w of history) count += w[1];
  return { p95Bucket: sorted[(sorted.length - 1) >> 1]!, count, windows: history.length };
}

/** Sets the class's baseline from its history (after the history changed, or was loaded). */
export function setBaseline(c: QueryClass): void {
  const b = baselineOf(c.history);
  if (b) c.baseline = b;
  else delete c.baseline;
}

/** What the window says against the baseline. */
export interface Judgement {
  windowCount: number;
  windowP95Ms: number;
  baseline: Baseline;
  baselineP95Ms: number;
}

export type Verdict = 'fire' | 'resolve' | undefined;

/**
 * Whether the class's regression starts (none open) or ends (one open), by the class's thresholds.
 * An open one ends when the window's p95 is back under resolve factor × the baseline's, or the window is empty.
 */
export function judge(c: QueryClass, t: RegressionThresholds): { verdict: Verdict; j?: Judgement } {
  const n = c.count;
  const baseline = c.baseline;
  if (c.open) {
    if (!baseline || n === 0) return { verdict: 'resolve' };
    const j = judgement(c, baseline);
    // turned off since (an override, a reload) → resolved. Below the firing factor too, whatever the resolve factor
    // says: so judging again what just fired never resolves it (a sweep may judge a class twice, see regression-classes.ts)
    const back = t.regressionFactor <= 0 || (j.windowP95Ms <= t.regressionResolveFactor * j.baselineP95Ms && j.windowP95Ms < t.regressionFactor * j.baselineP95Ms);
    return { verdict: back ? 'resolve' : undefined, j };
  }
  // most records stop here, before anything is computed
  if (!baseline || t.regressionFactor <= 0 || baseline.windows < t.regressionMinHistory || n < t.regressionMinCount || n === 0) return { verdict: undefined };
  const j = judgement(c, baseline);
  const fire = j.windowP95Ms >= t.regressionMinMs && j.windowP95Ms >= t.regressionFactor * j.baselineP95Ms;
  return fire ? { verdict: 'fire', j } : { verdict: undefined };
}

function judgement(c: QueryClass, baseline: Baseline): Judgement {
  return { windowCount: c.count, windowP95Ms: bucketMs(p95Bucket(c.window, c.count)), baseline, baselineP95Ms: bucketMs(baseline.p95Bucket) };
}

/** Rebuilds the window's counts from the slices (after a class was loaded from a snapshot). */
export function recountWindow(c: QueryClass): void {
  c.window.fill(0);
  c.count = 0;
  for (let i = 0; i < CELLS; i++) {
    c.window[i % BUCKETS]! += c.slices[i]!;
    c.count += c.slices[i]!;
  }
}
