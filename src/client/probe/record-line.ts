// A probe record as one native JSON line (README "Formats", jsonl), the format `slowq client --format jsonl` reads.

import type { ProbeRecord } from './diff.js';
import type { StatementDelta } from './statement-stats.js';

/** Keys that the native JSON-lines format gives a meaning; extra labels may not use them. */
export const RESERVED_FIELDS: ReadonlySet<string> = new Set([
  'ts',
  'state',
  'id',
  'duration_ms',
  'sql',
  'db',
  'user',
  'host',
  'lock_ms',
  'rows_sent',
  'rows_examined',
  'kind',
  'calls',
  'total_ms',
  'query_id',
]);

/** One native JSON line (with its "\n"); `labels` are appended as extra fields. */
export function toJsonLine(r: ProbeRecord, labels?: Readonly<Record<string, string>>): string {
  const o: Record<string, string | number> = {
    ts: new Date(Math.round(r.ts)).toISOString(),
    state: r.state,
    id: r.id,
    duration_ms: Math.round(r.durationMs * 1000) / 1000,
    sql: r.sql,
  };
  if (r.db !== undefined) o.db = r.db;
  if (r.user !== undefined) o.user = r.user;
  if (r.host !== undefined) o.host = r.host;
  if (labels) for (const k in labels) if (!RESERVED_FIELDS.has(k)) o[k] = labels[k];
  return JSON.stringify(o) + '\n';
}

/**
 * One class's delta as a native JSON line of kind `statement_stats`: `calls` executions in the interval ending
 * at `ts`, `duration_ms` their mean, `total_ms` their sum. The id is the class and the interval's start, so the
 * same interval written twice (a crash before the baseline was saved) has the same id.
 */
export function statsJsonLine(d: StatementDelta, labels?: Readonly<Record<string, string>>): string {
  const o: Record<string, string | number> = {
    ts: new Date(Math.round(d.toMs)).toISOString(),
    kind: 'statement_stats',
    state: 'finished',
    id: `stats/${d.key}/${Math.round(d.fromMs)}`,
    duration_ms: Math.round(d.meanMs * 1000) / 1000,
    calls: d.calls,
    total_ms: Math.round(d.totalMs * 1000) / 1000,
    rows_sent: d.rows,
    sql: d.text,
    query_id: d.serverQueryId,
  };
  if (d.db !== undefined) o.db = d.db;
  if (d.user !== undefined) o.user = d.user;
  if (labels) for (const k in labels) if (!RESERVED_FIELDS.has(k)) o[k] = labels[k];
  return JSON.stringify(o) + '\n';
}
