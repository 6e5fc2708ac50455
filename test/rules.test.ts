import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RulesEngine } from '../src/rules/engine.js';
import { DEFAULT_RULES, isoTime, type RulesConfig } from '../src/rules/rules.js';
import { isoTimeOf } from '../src/model/iso-time.js';
import { prng } from '../src/workload/prng.js';
import { alertId } from '../src/model/ids.js';
import { decodeSnapshot, encodeSnapshot } from '../src/consumer/state-codec.js';
import type { Alert, QueryRecord } from '../src/model/record.js';

// Each row of README "When it alerts", at and around the thresholds, in-process.

const T0 = Date.UTC(2026, 10, 22, 6, 0, 0);
const rules: RulesConfig = structuredClone(DEFAULT_RULES);

function run(recs: Array<Partial<QueryRecord> & Pick<QueryRecord, 'state' | 'queryId' | 'ts' | 'durationMs'>>, cfg = rules): Alert[] {
  const engine = new RulesEngine(cfg);
  const alerts: Alert[] = [];
  const full: QueryRecord[] = recs.map((r, i) => ({ source: 's', stream: 'f', seq: i + 1, sql: 'select 1', fingerprint: 'select ?', fingerprintId: '0xA', ...r }));
  engine.applyBatch('s', 'f', full, alerts);
  return alerts;
}

const types = (alerts: Alert[]) => alerts.map((a) => `${a.queryId}:${a.type}`);

describe('rules', () => {
  it('finished only: alerts at the threshold, not just under it', () => {
    assert.deepEqual(types(run([{ state: 'finished', queryId: 'a', ts: T0, durationMs: 1000 }])), ['a:slow_query']);
    assert.deepEqual(types(run([{ state: 'finished', queryId: 'a', ts: T0, durationMs: 999.999 }])), []);
  });

  it('running under the threshold is suppressed, reaching it alerts once', () => {
    const recs = [
      { state: 'running' as const, queryId: 'a', ts: T0, durationMs: 9_999 },
      { state: 'running' as const, queryId: 'a', ts: T0 + 1, durationMs: 10_000 },
      { state: 'running' as const, queryId: 'a', ts: T0 + 2, durationMs: 11_000 },
    ];
    assert.deepEqual(types(run(recs.slice(0, 1))), []);
    assert.deepEqual(types(run(recs)), ['a:long_running']);
  });

  it('running then finished: resolved if long_running fired, else judged as a lone finished', () => {
    assert.deepEqual(types(run([
      { state: 'running', queryId: 'a', ts: T0, durationMs: 10_000 },
      { state: 'finished', queryId: 'a', ts: T0 + 5000, durationMs: 15_000 },
    ])), ['a:long_running', 'a:resolved']);
    assert.deepEqual(types(run([
      { state: 'running', queryId: 'b', ts: T0, durationMs: 5000 },
      { state: 'finished', queryId: 'b', ts: T0 + 1000, durationMs: 6000 },
    ])), ['b:slow_query']);
    assert.deepEqual(types(run([
      { state: 'running', queryId: 'c', ts: T0, durationMs: 500 },
      { state: 'finished', queryId: 'c', ts: T0 + 100, durationMs: 600 },
    ])), []);
  });

  it('stalled by the watermark: alert if long_running fired, else dropped quietly; boundary at exactly stalled time', () => {
    const stalled = rules.defaults.stalledMs;
    const base = [{ state: 'running' as const, queryId: 'a', ts: T0, durationMs: 12_000 }];
    const justUnder = [...base, { state: 'finished' as const, queryId: 'z', ts: T0 + stalled - 1, durationMs: 1 }];
    assert.deepEqual(types(run(justUnder)), ['a:long_running']);
    const atIt = [...base, { state: 'finished' as const, queryId: 'z', ts: T0 + stalled, durationMs: 1 }];
    assert.deepEqual(types(run(atIt)), ['a:long_running', 'a:stalled']);
    const quiet = [{ state: 'running' as const, queryId: 'b', ts: T0, durationMs: 100 }, { state: 'finished' as const, queryId: 'z', ts: T0 + stalled, durationMs: 1 }];
    assert.deepEqual(types(run(quiet)), []);
    // and a finished after the drop is a late record, not a new alert
    assert.deepEqual(types(run([...atIt, { state: 'finished', queryId: 'a', ts: T0 + stalled + 1, durationMs: 400_000 }])), ['a:long_running', 'a:stalled']);
  });

  it('a second finished for the same execution is a duplicate', () => {
    assert.deepEqual(types(run([
      { state: 'running', queryId: 'a', ts: T0, durationMs: 10_000 },
      { state: 'finished', queryId: 'a', ts: T0 + 1000, durationMs: 11_000 },
      { state: 'finished', queryId: 'a', ts: T0 + 1001, durationMs: 11_000 },
    ])), ['a:long_running', 'a:resolved']);
  });

  it('alert ids hash (source, queryId, type); severity follows the critical threshold', () => {
    const [a] = run([{ state: 'finished', queryId: 'q', ts: T0, durationMs: 30_000 }]);
    assert.equal(a!.id, alertId('s', 'q', 'slow_query'));
    assert.equal(a!.severity, 'critical');
    assert.equal(a!.startedAt, new Date(T0 - 30_000).toISOString());
    const [b] = run([{ state: 'finished', queryId: 'q', ts: T0, durationMs: 29_999 }]);
    assert.equal(b!.severity, 'warning');
  });

  it('overrides by db and fingerprint win over the defaults', () => {
    const cfg: RulesConfig = structuredClone(DEFAULT_RULES);
    cfg.overrides = [{ match: { db: 'shop' }, thresholds: { finishedMs: 5000 } }, { match: { fingerprintId: 'A' }, thresholds: { runningMs: 2000 } }];
    assert.deepEqual(types(run([{ state: 'finished', queryId: 'a', ts: T0, durationMs: 2000, db: 'shop' }], cfg)), []);
    assert.deepEqual(types(run([{ state: 'finished', queryId: 'a', ts: T0, durationMs: 2000, db: 'other' }], cfg)), ['a:slow_query']);
    assert.deepEqual(types(run([{ state: 'running', queryId: 'b', ts: T0, durationMs: 2000 }], cfg)), ['b:long_running']);
  });

  it('per-stream duplicates are counted, not applied; a gap is refused', () => {
    const engine = new RulesEngine(rules);
    const alerts: Alert[] = [];
    const rec = (seq: number, id: string): QueryRecord => ({ source: 's', stream: 'f', seq, state: 'finished', queryId: id, ts: T0 + seq, durationMs: 2000, sql: '', fingerprint: '', fingerprintId: '' });
    assert.equal(engine.applyBatch('s', 'f', [rec(1, 'a'), rec(2, 'b')], alerts).applied, 2);
    const again = engine.applyBatch('s', 'f', [rec(2, 'b'), rec(3, 'c')], alerts);
    assert.deepEqual([again.applied, again.duplicates, again.last], [1, 1, 3]);
    assert.equal(engine.applyBatch('s', 'f', [rec(5, 'e')], alerts).gapExpected, 4);
    assert.equal(alerts.length, 3);
  });
});

describe('memory of finished queries', () => {
  it('keeps ids only where a repeat could matter; alerts are the same either way', () => {
    const engine = new RulesEngine(rules);
    const alerts: Alert[] = [];
    const rec = (seq: number, id: string, state: 'running' | 'finished', durationMs: number): QueryRecord =>
      ({ source: 's', stream: 'f', seq, state, queryId: id, ts: T0 + seq, durationMs, sql: '', fingerprint: '', fingerprintId: '' });
    engine.applyBatch('s', 'f', [
      rec(1, 'fast', 'finished', 20),
      rec(2, 'slow', 'finished', 1500),
      rec(3, 'watched', 'running', 300),
      rec(4, 'watched', 'finished', 400),
      // repeats: a fast query's second finished and a late running record change nothing
      rec(5, 'fast', 'finished', 20),
      rec(6, 'fast', 'running', 15),
      rec(7, 'slow', 'finished', 1500),
    ], alerts);
    const s = engine.source('s');
    assert.deepEqual([...s.done.keys()].sort(), ['slow', 'watched']);
    assert.deepEqual(alerts.map((a) => `${a.queryId}:${a.type}`), ['slow:slow_query']);
  });
});

describe('event time that a bad clock cannot hijack', () => {
  const H = 3600_000;
  /** a 16 s statement seen running every second by a probe, then finished */
  const sixteen = (id: string, start: number) => [
    ...Array.from({ length: 16 }, (_, i) => ({ state: 'running' as const, queryId: id, ts: start + (i + 1) * 1000, durationMs: (i + 1) * 1000 })),
    { state: 'finished' as const, queryId: id, ts: start + 16_000, durationMs: 16_000 },
  ];

  it('one record an hour ahead does not silence what follows', () => {
    const before = [{ state: 'finished' as const, queryId: 'warm', ts: T0, durationMs: 5 }];
    const ahead = [{ state: 'finished' as const, queryId: 'future', ts: T0 + H, durationMs: 1100 }];
    assert.deepEqual(types(run([...before, ...sixteen('q', T0 + 1000)])), ['q:long_running', 'q:resolved']);
    assert.deepEqual(types(run([...before, ...ahead, ...sixteen('q', T0 + 1000)])), ['future:slow_query', 'q:long_running', 'q:resolved']);
  });

  it('the refused step is reported once, with where it was', () => {
    const engine = new RulesEngine(rules);
    const recs: QueryRecord[] = [
      { state: 'finished' as const, queryId: 'a', ts: T0, durationMs: 5 },
      { state: 'finished' as const, queryId: 'b', ts: T0 + H, durationMs: 5 },
      ...[1, 2, 3, 4].map((i) => ({ state: 'finished' as const, queryId: `c${i}`, ts: T0 + i * 1000, durationMs: 5 })),
    ].map((r, i) => ({ ...r, source: 's', stream: 'f', seq: i + 1, sql: '', fingerprint: '', fingerprintId: '' }));
    const r = engine.applyBatch('s', 'f', recs, []);
    assert.deepEqual(r.clockSteps, [{ stream: 'f', seq: 2, ts: T0 + H, watermark: T0 + 3000, records: 1 }]);
    assert.equal(engine.source('s').watermark, T0 + 4000);
  });

  it('a short burst ahead is refused; a gap confirmed by records that move time on, and stalled still fires', () => {
    const open = [{ state: 'running' as const, queryId: 'x', ts: T0, durationMs: 12_000 }];
    /** n records from `at`, `every` ms apart */
    const later = (n: number, at: number, every = 1) => Array.from({ length: n }, (_, i) => ({ state: 'finished' as const, queryId: `l${at}-${i}`, ts: at + i * every, durationMs: 5 }));
    // two records an hour ahead, then the old time again: x is not stalled
    assert.deepEqual(types(run([...open, ...later(2, T0 + H), ...later(3, T0 + 2000)])), ['x:long_running']);
    // a session with a fixed SET timestamp: any number of records an hour ahead, all at one time, is not a gap
    assert.deepEqual(types(run([...open, ...later(50, T0 + H, 0)])), ['x:long_running']);
    // ahead and old time interleaved: never three ahead in a row
    const mixed = [0, 1, 2, 3].flatMap((i) => [...later(2, T0 + H + i * 60_000, 30_000), ...later(1, T0 + 1000 + i)]);
    assert.deepEqual(types(run([...open, ...mixed])), ['x:long_running']);
    // the log resumes an hour later and its time moves on: a gap; x has been silent an hour and is stalled
    assert.deepEqual(types(run([...open, ...later(3, T0 + H, 30_000)])), ['x:long_running', 'x:stalled']);
  });

  it('every due query is found, whatever order the queries were touched in', () => {
    const cfg: RulesConfig = structuredClone(DEFAULT_RULES);
    cfg.overrides = [{ match: { fingerprintId: 'SLOWSTALL' }, thresholds: { stalledMs: 20 * 60_000 } }];
    const recs = [
      { state: 'running' as const, queryId: 'patient', ts: T0, durationMs: 11_000, fingerprintId: '0xSLOWSTALL' },
      { state: 'running' as const, queryId: 'quick', ts: T0 + 1, durationMs: 11_000 },
      { state: 'finished' as const, queryId: 'tick', ts: T0 + 4 * 60_000, durationMs: 5 },
      { state: 'finished' as const, queryId: 'tock', ts: T0 + 6 * 60_000, durationMs: 5 },
    ];
    assert.deepEqual(types(run(recs, cfg)), ['patient:long_running', 'quick:long_running', 'quick:stalled']);
  });

  it('candidates survive a snapshot: the same alerts with and without a restart in between', () => {
    const recs: QueryRecord[] = [
      { state: 'running' as const, queryId: 'x', ts: T0, durationMs: 12_000 },
      { state: 'finished' as const, queryId: 'f1', ts: T0 + H, durationMs: 5 },
      { state: 'finished' as const, queryId: 'f2', ts: T0 + H + 40_000, durationMs: 5 },
      { state: 'finished' as const, queryId: 'f3', ts: T0 + H + 80_000, durationMs: 5 },
    ].map((r, i) => ({ ...r, source: 's', stream: 'f', seq: i + 1, sql: '', fingerprint: '', fingerprintId: '' }));
    const straight: Alert[] = [];
    new RulesEngine(rules).applyBatch('s', 'f', recs, straight);
    const first = new RulesEngine(rules);
    const restarted: Alert[] = [];
    first.applyBatch('s', 'f', recs.slice(0, 3), restarted);
    const outbox = new Map<string, Alert>();
    const second = new RulesEngine(rules);
    decodeSnapshot(encodeSnapshot(first, []), second, outbox);
    second.applyBatch('s', 'f', recs.slice(3), restarted);
    assert.deepEqual(types(restarted), types(straight));
    assert.deepEqual(types(straight), ['x:long_running', 'x:stalled']);
  });
});

describe('alert ids', () => {
  it('stay what they were: ids in journals, snapshots and a monitor\'s dedup written by an older version still match', () => {
    // values of the first implementation (sha256 updated with source, NUL, queryId, NUL, type)
    assert.equal(alertId('db1', '12345', 'slow_query'), '87f4845a8998de7f14d4c14e');
    assert.equal(alertId('é日本', 'q:1\u0000x', 'long_running'), '9f5ad2cc46774f7d5d5e0078');
  });
});

describe('alert times', () => {
  const reference = (ms: number) => {
    const d = new Date(ms);
    return Number.isNaN(d.getTime()) ? new Date(0).toISOString() : d.toISOString();
  };

  it('isoTimeOf equals toISOString on the edges and on 200,000 random times from 1970 to 9999, fractions included', () => {
    const edges = [0, 0.4, 1, 999, 86_399_999, 86_400_000, 951_782_400_000, 951_868_799_999, 4_107_542_400_000, 253_402_300_799_999,
      253_402_300_799_999.9, 253_402_300_800_000, -1, -0.5, -62_198_755_200_000, 8.64e15, -8.64e15, 1_767_225_600_000.7];
    for (const ms of edges) assert.equal(isoTimeOf(ms), new Date(ms).toISOString(), String(ms));
    const rand = prng(5);
    for (let i = 0; i < 200_000; i++) {
      const ms = Math.floor(rand() * 253_402_300_800_000) + (i % 7 === 0 ? rand() : 0);
      assert.equal(isoTimeOf(ms), new Date(ms).toISOString(), String(ms));
    }
  });

  it('an alert\'s time a Date cannot hold is the epoch, as before', () => {
    for (const ms of [Number.NaN, Infinity, -Infinity, 8.64e15 + 1, -8.64e15 - 1, 8.64e15, 0, 1_767_225_600_123]) assert.equal(isoTime(ms), reference(ms), String(ms));
  });
});
