// A probe record as one native JSON line (README "Formats", jsonl), the format `slowq client --format jsonl` reads.

import type { ProbeRecord } from './diff.js';

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
