import { MAX_TIME_MS } from '../model/bounds.js';
import { MAX_COUNTERS } from './limits.js';
import type { ServiceStats } from './protocol.js';
import { CLASS_RECENT, CLASS_REPORT_LIMIT, CLASS_SLICES, type QueryClassSummary } from '../model/query-class.js';
import { duration, eventTime, fingerprintId, id, name } from './fields.js';
import { echo, fail, listOf, mapOf, number, object, optional, text, type Check } from './schema.js';

// A service's counters in a `stats` payload (docs/wire.md, "stats"). Names are only shown, so long ones are cut
// rather than refused; a counter that is not a number is refused, one that is not finite (NaN from 0/0) left out.

const counterValue: Check<number> = (v, path) => (typeof v === 'number' ? v : fail(path, `must be a number, got ${echo(v)}`));
const counterMap = mapOf({ max: MAX_COUNTERS, what: 'counter', key: text({ min: 1, max: 200 }), value: counterValue });
const counters: Check<Record<string, number>> = (v, path) => {
  const all = counterMap(v, path);
  for (const k of Object.keys(all)) if (!Number.isFinite(all[k])) delete all[k];
  return all;
};

/** a few short texts; long ones are cut, as they are only shown */
const notes = mapOf({ max: 16, what: 'note', key: text({ min: 1, max: 64 }), value: text({ max: 512, cut: true }) });

const count = number(0, Number.MAX_SAFE_INTEGER);
/** one statement class as a consumer reports it; texts are only shown, so long ones are cut */
const queryClass: Check<QueryClassSummary> = object({
  source: name,
  fingerprintId,
  fingerprint: text({ max: 1024, cut: true }),
  example: text({ max: 1024, cut: true }),
  db: optional(text({ max: 200, cut: true })),
  until: eventTime,
  count,
  totalMs: number(0, Number.MAX_VALUE),
  p95Ms: duration,
  maxMs: duration,
  lastTs: eventTime,
  trendCount: listOf(count, { max: CLASS_SLICES, what: 'slice' }),
  trendP95Ms: listOf(duration, { max: CLASS_SLICES, what: 'slice' }),
  recent: listOf(object({ ts: eventTime, durationMs: duration, queryId: id }), { max: CLASS_RECENT, what: 'execution' }),
});

export const serviceStats: Check<ServiceStats> = object({
  service: text({ min: 1, max: 200, cut: true }),
  kind: text({ max: 50, cut: true }),
  source: optional(text({ max: 200, cut: true })),
  at: number(0, MAX_TIME_MS),
  counters,
  notes: optional(notes),
  classes: optional(listOf(queryClass, { max: CLASS_REPORT_LIMIT, what: 'class' })),
});
