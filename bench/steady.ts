import type { Alert, QueryRecord } from '../src/model/record.js';
import { RulesEngine } from '../src/rules/engine.js';
import { DEFAULT_RULES } from '../src/rules/rules.js';
import type { BenchReport } from './output.js';

// `slowq bench steady`: the rules over a long stretch of event time, one window at a time. The generated logs of
// the other benches span under a minute of event time, so state that is only forgotten later (a tombstone per
// finished slow query, kept for `done_retention_ms`, 10 minutes) never reaches its steady state there: the rules
// once paid O(tombstones) per record from that point on, and no bench showed it. Here each window's rate should
// stay that of the first ones, and the tombstones level off once they begin to expire.

export interface SteadyOptions {
  /** event time covered, minutes */
  minutes: number;
  /** records per second of event time */
  rate: number;
  /** share of the records that are slow (each an alert and a tombstone) */
  slowFraction: number;
  /** length of a row, minutes of event time */
  windowMinutes: number;
}

export function benchSteady(o: SteadyOptions): BenchReport {
  const engine = new RulesEngine(DEFAULT_RULES);
  const source = 'db-steady';
  const state = engine.source(source);
  const alerts: Alert[] = [];
  const t0 = Date.UTC(2026, 11, 4);
  const windowMs = o.windowMinutes * 60_000;
  const perBatch = 1000;
  const gapMs = 1000 / o.rate;
  const total = Math.round(o.minutes * 60 * o.rate);
  const slowEvery = o.slowFraction > 0 ? Math.max(1, Math.round(1 / o.slowFraction)) : Number.POSITIVE_INFINITY;
  const fingerprint = 'select * from orders where customer_id = ? and status in(?+) order by created_at desc limit ?';
  const rows: Array<Array<string | number>> = [];
  let seq = 0;
  let windowStart = performance.now();
  let windowRecords = 0;
  let windowEnd = t0 + windowMs;
  let alertCount = 0;
  while (seq < total) {
    const batch: QueryRecord[] = [];
    for (let i = 0; i < perBatch && seq < total; i++) {
      seq++;
      const slow = seq % slowEvery === 0;
      batch.push({
        source, stream: 's', seq, state: 'finished', queryId: `q${seq}`, ts: t0 + Math.floor(seq * gapMs), durationMs: slow ? 1500 : 5,
        sql: `select * from orders where customer_id = ${seq % 977} and status in ('new','paid') order by created_at desc limit 50`,
        fingerprint, fingerprintId: '0x00000000000000000000000000000abc', db: 'shop', user: 'app',
      });
    }
    engine.applyBatch(source, 's', batch, alerts);
    alertCount += alerts.length;
    alerts.length = 0;
    windowRecords += batch.length;
    const ts = batch[batch.length - 1]!.ts;
    if (ts >= windowEnd || seq === total) {
      const seconds = (performance.now() - windowStart) / 1000;
      const from = (windowEnd - windowMs - t0) / 60_000;
      rows.push([`${from}–${Math.min(from + o.windowMinutes, o.minutes)}`, windowRecords, Math.round(windowRecords / seconds), state.done.size]);
      windowStart = performance.now();
      windowRecords = 0;
      windowEnd += windowMs;
    }
  }
  const rates = rows.map((r) => r[2] as number);
  return {
    bench: 'steady',
    tables: [{
      title: `The rules over ${o.minutes} min of event time: ${o.rate.toLocaleString('en-US')} records/s of event time, ${(o.slowFraction * 100).toFixed(0)}% slow`,
      columns: ['event time, min', 'records', 'records/s applied', 'tombstones at the end'],
      rows,
      notes: [
        'one source, finished queries only, applied in batches of 1,000 as a consumer applies them (no parse, no journal); every slow one is an alert and leaves a tombstone for done_retention_ms (10 min of event time)',
        'a steady state: the rate stays that of the first windows once tombstones begin to expire, and the tombstones level off (before 6e8b848 each record cost more the more tombstones there were)',
      ],
    }],
    charts: [],
    data: { minutes: o.minutes, rate: o.rate, slowFraction: o.slowFraction, alerts: alertCount, windows: rows.length, recordsPerSecond: rates, tombstones: state.done.size },
  };
}
