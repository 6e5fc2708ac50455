// Per-statement statistics from the server (PostgreSQL pg_stat_statements, MariaDB/MySQL
// performance_schema.events_statements_summary_by_digest), turned into per-interval deltas.
//
// The server keeps cumulative counters per statement class. A poll reads them all; the difference to the previous
// poll is what ran in between: one delta per class that ran, with its calls, total time and rows. The counters are
// not monotonic forever, and the cases are told apart like this:
//   - the first poll: the counters may cover hours before the probe started, so it is only the baseline;
//   - a class not listed at the previous poll did not exist then (every poll reads the whole view): all it shows
//     ran in the interval;
//   - calls lower than before: the class was reset (or evicted and created again); what it shows now ran since;
//     the same for every class when the whole view was reset after the previous poll
//     (pg_stat_statements_info.stats_reset), even one whose calls grew again past the old count;
//   - a class no longer listed: evicted (pg_stat_statements.max, performance_schema_digests_size) or reset; it is
//     forgotten, and if it comes back it comes back as new.
// Pure: the poller owns the connection and the clock.

/** One statement class's cumulative counters as the server shows them. */
export interface StatementCounters {
  /** what identifies the class on this server: PostgreSQL `userid/dbid/queryid`, MySQL `schema/digest` */
  key: string;
  /** the server's id of the class: PostgreSQL queryid, MySQL DIGEST */
  serverQueryId: string;
  /** normalised statement text as the server shows it */
  text: string;
  db?: string;
  user?: string;
  calls: number;
  /** total execution time, ms */
  totalMs: number;
  rows: number;
}

/** One poll: the server's clock and every class it lists. */
export interface StatementStatsSnapshot {
  nowMs: number;
  /** when the whole view was last reset (ms since epoch), where the server says */
  resetMs?: number;
  entries: StatementCounters[];
}

/** What one class did between two polls: its counters (calls, totalMs, rows) are the differences over the interval. */
export interface StatementDelta extends StatementCounters {
  meanMs: number;
  /** the interval: previous poll → this poll, server clock */
  fromMs: number;
  toMs: number;
  /** the class's counters went down (a reset or an eviction): the delta counts from zero */
  reset: boolean;
}

export interface StatementBaseline {
  atMs: number;
  resetMs?: number;
  byKey: Map<string, StatementCounters>;
}

export interface DiffResult {
  deltas: StatementDelta[];
  baseline: StatementBaseline;
  /** classes listed before and not now (evicted or reset) */
  vanished: number;
}

/** The deltas since `prev` (undefined: the first poll, which only sets the baseline), and the new baseline. */
export function diffStatementStats(prev: StatementBaseline | undefined, snap: StatementStatsSnapshot): DiffResult {
  const byKey = new Map<string, StatementCounters>();
  for (const e of snap.entries) byKey.set(e.key, e);
  const baseline: StatementBaseline = { atMs: snap.nowMs, byKey };
  if (snap.resetMs !== undefined) baseline.resetMs = snap.resetMs;
  if (!prev) return { deltas: [], baseline, vanished: 0 };

  const wholeViewReset = snap.resetMs !== undefined && snap.resetMs !== prev.resetMs && snap.resetMs > prev.atMs;
  const deltas: StatementDelta[] = [];
  for (const e of snap.entries) {
    const before = prev.byKey.get(e.key);
    let calls: number;
    let totalMs: number;
    let rows: number;
    let reset = false;
    if (before && e.calls >= before.calls && !wholeViewReset) {
      calls = e.calls - before.calls;
      totalMs = e.totalMs - before.totalMs;
      rows = e.rows - before.rows;
    } else {
      // counted from zero within the interval: new since the previous poll, or reset
      calls = e.calls;
      totalMs = e.totalMs;
      rows = e.rows;
      reset = before !== undefined;
    }
    if (calls <= 0) continue;
    // total time can go down by float noise when calls did not: never a negative duration
    totalMs = Math.max(0, totalMs);
    const d: StatementDelta = {
      key: e.key,
      serverQueryId: e.serverQueryId,
      text: e.text,
      calls,
      totalMs,
      meanMs: totalMs / calls,
      rows: Math.max(0, rows),
      fromMs: prev.atMs,
      toMs: snap.nowMs,
      reset,
    };
    if (e.db !== undefined) d.db = e.db;
    if (e.user !== undefined) d.user = e.user;
    deltas.push(d);
  }
  let vanished = 0;
  for (const k of prev.byKey.keys()) if (!byKey.has(k)) vanished++;
  return { deltas, baseline, vanished };
}
