import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QueryClasses } from '../src/consumer/query-classes.js';
import { busiestClasses } from '../src/monitor/http/classes.js';
import { CLASS_SLICE_MS, type QueryClassSummary } from '../src/model/query-class.js';
import type { QueryRecord } from '../src/model/record.js';
import { serviceStats } from '../src/wire/stats-schema.js';
import { SchemaError } from '../src/wire/schema.js';

// The dashboard's class view: what a consumer sums up per statement class over its source's last hour of event
// time, how it stays bounded, what the stats message lets through, and how the monitor puts reports together.

const T0 = Date.UTC(2026, 11, 2, 10, 0, 0);
let n = 0;
function rec(over: Partial<QueryRecord>): QueryRecord {
  n++;
  return {
    source: 'db', stream: 's', seq: n, state: 'finished', queryId: `q${n}`, ts: T0, durationMs: 10,
    sql: `select * from t where id = ${n}`, fingerprint: 'select * from t where id = ?', fingerprintId: '0xA', ...over,
  };
}

describe('QueryClasses', () => {
  it('counts, totals, p95 and a trend per 5-minute slice over the source\'s last hour; the latest executions', () => {
    const v = new QueryClasses();
    // 40 minutes at 10 ms, then 10 minutes at 100 ms, one execution a minute
    for (let m = 0; m < 50; m++) v.add(rec({ ts: T0 + m * 60_000, durationMs: m < 40 ? 10 : 100 }));
    v.add(rec({ state: 'running', ts: T0 + 49 * 60_000, durationMs: 5000 })); // not an execution that ended
    const [c] = v.top(10);
    assert.ok(c);
    assert.equal(c.count, 50);
    assert.equal(c.totalMs, 40 * 10 + 10 * 100);
    assert.equal(c.maxMs, 100);
    assert.ok(c.p95Ms >= 100 && c.p95Ms < 110, `p95 ${c.p95Ms}`);
    assert.equal(c.trendCount.length, 12);
    assert.equal(c.trendCount.reduce((a, b) => a + b, 0), 50);
    const last = c.trendP95Ms[c.trendP95Ms.length - 1]!;
    assert.ok(last >= 100 && last < 110, 'the last slice is the slow one');
    assert.ok(c.trendP95Ms[c.trendP95Ms.length - 3]! < 12, 'an earlier slice is fast');
    assert.deepEqual(c.recent.map((r) => r.ts), [49, 48, 47, 46, 45].map((m) => T0 + m * 60_000));
    assert.equal(c.example, `select * from t where id = ${n - 1}`);
  });

  it('a statement_stats record counts as its calls at their mean; only the last hour counts; busiest first', () => {
    const v = new QueryClasses();
    v.add(rec({ fingerprintId: '0xOLD', ts: T0, durationMs: 1e6 }));
    v.add(rec({ fingerprintId: '0xS', kind: 'statement_stats', calls: 100, ts: T0 + 3 * 3600_000, durationMs: 20 }));
    v.add(rec({ fingerprintId: '0xE', ts: T0 + 3 * 3600_000, durationMs: 30 }));
    const top = v.top(10);
    assert.deepEqual(top.map((c) => [c.fingerprintId, c.count, c.totalMs]), [['0xS', 100, 2000], ['0xE', 1, 30]], 'the class of 3 h ago is out of the window');
    assert.deepEqual(top[0]!.recent, [], 'statistics are not executions');
  });

  it('stays bounded: the least recently seen class (to the 5-minute slice) goes first', () => {
    const v = new QueryClasses(3);
    for (const fp of ['0x1', '0x2', '0x3']) v.add(rec({ fingerprintId: fp }));
    v.add(rec({ fingerprintId: '0x2' })); // seen again in the same slice: not moved (a move per record costs)
    v.add(rec({ fingerprintId: '0x1', ts: T0 + CLASS_SLICE_MS }));
    v.add(rec({ fingerprintId: '0x4', ts: T0 + CLASS_SLICE_MS }));
    assert.equal(v.size, 3);
    assert.equal(v.evicted, 1);
    assert.deepEqual(v.top(10).map((c) => c.fingerprintId).sort(), ['0x1', '0x3', '0x4']);
  });

  it('forgets the classes of a source given to another consumer', () => {
    const v = new QueryClasses();
    v.add(rec({ source: 'db', fingerprintId: '0x1' }));
    v.add(rec({ source: 'moved', fingerprintId: '0x1' }));
    v.forget((source) => source === 'moved');
    assert.deepEqual(v.top(10).map((c) => c.source), ['db']);
  });

  it('a duration near the longest a record may carry: the p95 is never beyond it, and the report passes the stats check', () => {
    const v = new QueryClasses();
    v.add(rec({ durationMs: 8.6e15 }));
    const [c] = v.top(1);
    assert.equal(c!.p95Ms, 8.6e15);
    assert.doesNotThrow(() => serviceStats({ service: 'consumer-c0', kind: 'consumer', at: T0, counters: {}, classes: v.top(20) }, 'stats'));
  });

  it('a record older than the class\'s window changes nothing', () => {
    const v = new QueryClasses();
    v.add(rec({ ts: T0 + 2 * 3600_000 }));
    v.add(rec({ ts: T0 - CLASS_SLICE_MS }));
    assert.equal(v.top(1)[0]!.count, 1);
  });
});

describe('classes in a stats message and on the monitor', () => {
  const v = new QueryClasses();
  for (let i = 0; i < 25; i++) v.add(rec({ fingerprintId: `0x${i}`, durationMs: i + 1 }));
  const stats = (classes: unknown, at = T0) => ({ service: 'consumer-c0', kind: 'consumer', at, counters: { applied: 1 }, classes });

  it('a report passes the check; too many classes, or a bad number, are refused with where', () => {
    const ok = serviceStats(stats(v.top(20)), 'stats');
    assert.equal(ok.classes?.length, 20);
    const refused = (value: unknown): string => {
      try {
        serviceStats(value, 'stats');
      } catch (err) {
        assert.ok(err instanceof SchemaError);
        return err.message;
      }
      return 'accepted';
    };
    assert.match(refused(stats([...v.top(20), ...v.top(1)])), /class/);
    const bad = structuredClone(v.top(1)) as unknown as Array<Record<string, unknown>>;
    bad[0]!.count = -1;
    assert.match(refused(stats(bad)), /classes: class 0: count/);
  });

  it('the monitor shows the busiest first; of two reports of one class, the one that saw further', () => {
    const a = v.top(2);
    const later: QueryClassSummary = { ...a[1]!, until: a[1]!.until + 1, totalMs: 1 };
    const list = busiestClasses([
      { service: 'consumer-c0', kind: 'consumer', at: T0, counters: {}, classes: a },
      { service: 'consumer-c1', kind: 'consumer', at: T0, counters: {}, classes: [later] },
      { service: 'client-x', kind: 'client', at: T0, counters: {}, classes: a },
    ], 10);
    assert.deepEqual(list.map((c) => [c.fingerprintId, c.totalMs]), [[a[0]!.fingerprintId, a[0]!.totalMs], [later.fingerprintId, 1]]);
  });
});
