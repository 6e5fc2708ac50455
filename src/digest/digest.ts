import type { ParsedEvent } from '../model/record.js';
import { MetricStats } from './metric.js';

// Aggregation of parsed events per fingerprint (a "query class"), like pt-query-digest --group-by fingerprint.
// Works on ParsedEvent, so any input format can be digested.

/** The four attributes every report shows, by pt-query-digest's names. */
export const METRICS = ['Query_time', 'Lock_time', 'Rows_sent', 'Rows_examined'] as const;
export type MetricName = (typeof METRICS)[number];

/** Times are reported in seconds (as pt-query-digest does), rows as counts. */
export const isTimeMetric = (m: MetricName): boolean => m === 'Query_time' || m === 'Lock_time';

export interface QueryClass {
  fingerprint: string;
  /** `0x` + 32 upper-case hex digits */
  fingerprintId: string;
  count: number;
  metrics: Record<MetricName, MetricStats>;
  /** event time range (ms); 0 when the events carried none */
  tsMin: number;
  tsMax: number;
  /** the slowest execution (the last one, among equals, as pt-query-digest picks its example) */
  sample: { sql: string; ts: number; durationMs: number; db?: string };
  /** byte offset of the class's last event in the input (pt-query-digest's tie-break for equal totals) */
  lastOffset: number;
  dbs: Map<string, number>;
  users: Map<string, number>;
  hosts: Map<string, number>;
}

/** Distinct values kept per class for the db/user/host summaries (the report shows the few most common). */
const MAX_DISTINCT = 64;

export class Digest {
  private readonly byId = new Map<string, QueryClass>();
  readonly global: Record<MetricName, MetricStats> = newMetrics();
  tsMin = 0;
  tsMax = 0;
  queryCount = 0;

  add(ev: ParsedEvent): void {
    let c = this.byId.get(ev.fingerprintId);
    if (!c) {
      c = {
        fingerprint: ev.fingerprint,
        fingerprintId: ev.fingerprintId,
        count: 0,
        metrics: newMetrics(),
        tsMin: 0,
        tsMax: 0,
        sample: { sql: ev.sql, ts: ev.ts, durationMs: ev.durationMs },
        lastOffset: ev.offset,
        dbs: new Map(),
        users: new Map(),
        hosts: new Map(),
      };
      this.byId.set(ev.fingerprintId, c);
    }
    this.queryCount++;
    c.count++;
    c.lastOffset = ev.offset;
    const queryTime = msToSeconds(ev.durationMs);
    if (queryTime >= c.metrics.Query_time.max) {
      c.sample = { sql: ev.sql, ts: ev.ts, durationMs: ev.durationMs };
      if (ev.db !== undefined) c.sample.db = ev.db;
    }
    this.record('Query_time', c, queryTime);
    if (ev.lockMs !== undefined) this.record('Lock_time', c, msToSeconds(ev.lockMs));
    // pt-query-digest zeroes the row counts of administrator commands (they report the session's last query)
    const admin = ev.sql.startsWith('administrator command:');
    if (ev.rowsSent !== undefined) this.record('Rows_sent', c, admin ? 0 : ev.rowsSent);
    if (ev.rowsExamined !== undefined) this.record('Rows_examined', c, admin ? 0 : ev.rowsExamined);
    if (ev.ts > 0) {
      if (c.tsMin === 0 || ev.ts < c.tsMin) c.tsMin = ev.ts;
      if (ev.ts > c.tsMax) c.tsMax = ev.ts;
      if (this.tsMin === 0 || ev.ts < this.tsMin) this.tsMin = ev.ts;
      if (ev.ts > this.tsMax) this.tsMax = ev.ts;
    }
    if (ev.db !== undefined) tally(c.dbs, ev.db);
    if (ev.user !== undefined) tally(c.users, ev.user);
    if (ev.host !== undefined) tally(c.hosts, ev.host);
  }

  get uniqueCount(): number {
    return this.byId.size;
  }

  /** Classes by total Query_time, largest first (ties: the class seen last first, as pt-query-digest). */
  classes(): QueryClass[] {
    return [...this.byId.values()].sort(
      (a, b) => b.metrics.Query_time.sum - a.metrics.Query_time.sum || b.lastOffset - a.lastOffset,
    );
  }

  private record(m: MetricName, c: QueryClass, v: number): void {
    c.metrics[m].add(v);
    this.global[m].add(v);
  }
}

/**
 * ms → s as the number the log's own text would parse to ("0.000613", not 0.613 / 1000, which can be one
 * binary digit off): sums then round like pt-query-digest's, to the last printed decimal.
 */
function msToSeconds(ms: number): number {
  return Number((ms / 1000).toPrecision(15));
}

function newMetrics(): Record<MetricName, MetricStats> {
  return {
    Query_time: new MetricStats(),
    Lock_time: new MetricStats(),
    Rows_sent: new MetricStats(),
    Rows_examined: new MetricStats(),
  };
}

function tally(map: Map<string, number>, key: string): void {
  const n = map.get(key);
  if (n !== undefined) map.set(key, n + 1);
  else if (map.size < MAX_DISTINCT) map.set(key, 1);
}

/** The most common values of a tally, most common first. */
export function topValues(map: Map<string, number>, n: number): Array<[string, number]> {
  return [...map].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, n);
}
