import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RulesEngine } from '../src/rules/engine.js';
import { DEFAULT_RULES, type RulesConfig } from '../src/rules/rules.js';
import { alertId } from '../src/model/ids.js';
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
