import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BaselineFile } from '../src/client/probe/baseline-file.js';
import { statsJsonLine } from '../src/client/probe/record-line.js';
import { diffStatementStats, type StatementCounters, type StatementStatsSnapshot } from '../src/client/probe/statement-stats.js';
import { JsonLinesParser } from '../src/formats/parsers/jsonl.js';
import { newParseOutput } from '../src/formats/parsers/types.js';
import { toWire, type Alert, type QueryRecord } from '../src/model/record.js';
import { RulesEngine } from '../src/rules/engine.js';
import { recordProblem } from '../src/wire/record-schema.js';
import { decodeSnapshot, encodeSnapshot } from '../src/consumer/state-codec.js';

// The server's per-statement statistics as per-interval deltas (statement-stats.ts): first sight, resets,
// evictions, a whole-view reset, classes created after the last poll; the baseline kept across restarts; the
// statement_stats line read back by the jsonl parser and carried on the wire, and never alerting as one slow
// execution. The readers against real servers are in probe.test.ts (they share its servers).

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const entry = (key: string, calls: number, totalMs: number, extra: Partial<StatementCounters> = {}): StatementCounters => ({
  key, serverQueryId: key, text: `select ${key}`, calls, totalMs, rows: calls, ...extra,
});
const snap = (nowMs: number, entries: StatementCounters[], resetMs?: number): StatementStatsSnapshot => ({
  nowMs, entries, ...(resetMs !== undefined && { resetMs }),
});

describe('diffStatementStats', () => {
  test('the first poll is only the baseline; then one delta per class that ran, with its mean', () => {
    const first = diffStatementStats(undefined, snap(1000, [entry('a', 10, 100), entry('b', 5, 50)]));
    assert.deepEqual(first.deltas, []);
    const second = diffStatementStats(first.baseline, snap(2000, [entry('a', 14, 180), entry('b', 5, 50)]));
    assert.equal(second.deltas.length, 1, 'b did not run');
    const d = second.deltas[0]!;
    assert.deepEqual([d.key, d.calls, d.totalMs, d.meanMs, d.rows, d.fromMs, d.toMs, d.reset], ['a', 4, 80, 20, 4, 1000, 2000, false]);
  });

  test('a class reset (calls went down) counts from zero; a vanished class is counted and forgotten', () => {
    const b0 = diffStatementStats(undefined, snap(1000, [entry('a', 10, 100), entry('b', 5, 50)])).baseline;
    const r = diffStatementStats(b0, snap(2000, [entry('a', 3, 9)]));
    assert.deepEqual(r.deltas.map((d) => [d.key, d.calls, d.totalMs, d.reset]), [['a', 3, 9, true]]);
    assert.equal(r.vanished, 1);
    // b comes back: it did not exist at the last poll, so all it shows ran since
    const r2 = diffStatementStats(r.baseline, snap(3000, [entry('a', 3, 9), entry('b', 7, 70)]));
    assert.deepEqual(r2.deltas.map((d) => [d.key, d.calls, d.reset]), [['b', 7, false]]);
  });

  test('a class first listed after the first poll counts whole; the first poll itself is only the baseline', () => {
    const b0 = diffStatementStats(undefined, snap(1000, [entry('old', 9, 90)])).baseline;
    const r = diffStatementStats(b0, snap(2000, [entry('new', 2, 30), entry('old', 9, 90)]));
    assert.deepEqual(r.deltas.map((d) => [d.key, d.calls, d.reset]), [['new', 2, false]]);
  });

  test('a reset of the whole view after the last poll: every class counts from zero, even one whose calls grew', () => {
    const b0 = diffStatementStats(undefined, snap(1000, [entry('a', 10, 100)], 0)).baseline;
    const r = diffStatementStats(b0, snap(2000, [entry('a', 12, 24), entry('c', 1, 5)], 1500));
    assert.deepEqual(r.deltas.map((d) => [d.key, d.calls, d.totalMs]), [['a', 12, 24], ['c', 1, 5]]);
  });

  test('never a negative time, never a record for zero calls', () => {
    const b0 = diffStatementStats(undefined, snap(1000, [entry('a', 10, 100)])).baseline;
    assert.deepEqual(diffStatementStats(b0, snap(2000, [entry('a', 10, 99.9)])).deltas, []);
    const d = diffStatementStats(b0, snap(2000, [entry('a', 11, 99.9)])).deltas[0]!;
    assert.equal(d.totalMs, 0);
  });
});

describe('BaselineFile', () => {
  test('saved and loaded as it was; a corrupt file is set aside, said, and gives a new baseline', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'slowq-stats-'));
    dirs.push(dir);
    const warnings: string[] = [];
    const file = new BaselineFile(path.join(dir, 'b.json'), (m) => warnings.push(m), false);
    assert.equal(await file.load(), undefined);
    const b = diffStatementStats(undefined, snap(1000, [entry('a', 10, 100, { db: 'shop', user: 'app' })], 5)).baseline;
    await file.save(b);
    assert.deepEqual(await file.load(), b);
    await writeFile(file.path, '{"version":1,"atMs":1,"entries":[{"key":1}]}');
    assert.equal(await file.load(), undefined);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /entries\[0\] is not a statement class's counters; moved to .*corrupt/);
    assert.equal((await readdir(dir)).filter((f) => f.includes('corrupt')).length, 1);
  });
});

describe('statement_stats records', () => {
  const delta = diffStatementStats(diffStatementStats(undefined, snap(1_700_000_000_000, [entry('q1', 1, 1)])).baseline,
    snap(1_700_000_060_000, [{ ...entry('q1', 101, 500_001), db: 'shop', user: 'app', serverQueryId: '-4242' }])).deltas[0]!;
  const line = statsJsonLine(delta, { env: 'prod' });

  test('the line reads back as one record of kind statement_stats: calls, mean duration, the server\'s query id', () => {
    const parser = new JsonLinesParser();
    const out = newParseOutput();
    parser.line(line.trimEnd(), 0, line.length, 1, out);
    assert.deepEqual(out.problems, []);
    const ev = out.events[0]!;
    assert.equal(ev.kind, 'statement_stats');
    assert.equal(ev.calls, 100);
    assert.equal(ev.durationMs, 5000);
    assert.equal(ev.ts, 1_700_000_060_000);
    assert.equal(ev.queryId, 'stats/q1/1700000000000');
    assert.deepEqual(ev.labels, { total_ms: 500_000, query_id: '-4242', env: 'prod' });
    assert.equal(recordProblem(toWire(ev)), undefined);
    assert.equal(toWire(ev).kind, 'statement_stats');
  });

  test('bad statement_stats lines are problems that say why', () => {
    const parser = new JsonLinesParser();
    for (const [mutate, why] of [
      [(o: Record<string, unknown>) => { o.kind = 'other'; }, /"kind" must be "statement_stats"/],
      [(o: Record<string, unknown>) => { delete o.calls; }, /needs "calls"/],
      [(o: Record<string, unknown>) => { o.calls = 0; }, /needs "calls"/],
    ] as const) {
      const o = JSON.parse(line) as Record<string, unknown>;
      mutate(o);
      const out = newParseOutput();
      parser.line(JSON.stringify(o), 0, 1, 7, out);
      assert.equal(out.events.length, 0);
      assert.match(out.problems[0]!.reason, why);
    }
  });

  test('a class whose mean is over the slow threshold does not alert as a slow query; the same as one execution does', () => {
    const parser = new JsonLinesParser();
    const out = newParseOutput();
    parser.line(line.trimEnd(), 0, line.length, 1, out);
    const ev = out.events[0]!;
    const engine = new RulesEngine();
    const alerts: Alert[] = [];
    const rec = (seq: number, w: ReturnType<typeof toWire>): QueryRecord => ({ ...w, source: 'db', stream: 's', seq });
    const r = engine.applyBatch('db', 's', [rec(1, toWire(ev))], alerts);
    assert.equal(r.applied, 1);
    assert.equal(alerts.length, 0);
    const { kind: _k, calls: _c, ...execution } = toWire(ev);
    engine.applyBatch('db', 's', [rec(2, { ...execution, queryId: 'one' })], alerts);
    assert.deepEqual(alerts.map((a) => a.type), ['slow_query']);
  });
});


describe('statement_stats records and query-class regressions', () => {
  const T0 = Date.UTC(2026, 11, 2, 8, 0, 0);
  const base = { source: 'db', stream: 's', sql: 'SELECT v FROM t WHERE id = $1', fingerprint: 'select v from t where id = $?', fingerprintId: '0xSTATS', db: 'shop' };
  /** a minute of the server's statistics (calls at their mean) and of logged executions of the same statement */
  function minute(m: number, seq: number, statsMeanMs: number): QueryRecord[] {
    const ts = T0 + m * 60_000;
    const out: QueryRecord[] = [{ ...base, seq, state: 'finished', queryId: `stats/${m}`, ts, durationMs: statsMeanMs, kind: 'statement_stats', calls: 50, labels: { query_id: '-4242' } }];
    for (let i = 0; i < 25; i++) out.push({ ...base, seq: seq + 1 + i, state: 'finished', queryId: `e${m}-${i}`, ts: ts + 1000 + i * 100, durationMs: 20 });
    return out;
  }

  test('a class whose statistics got 10x slower raises a regression of its own, counted as its calls; the logged class stays quiet', () => {
    const engine = new RulesEngine();
    const alerts: Alert[] = [];
    let seq = 1;
    for (let m = 0; m < 70; m++) {
      const recs = minute(m, seq, m < 60 ? 20 : 200);
      engine.applyBatch('db', 's', recs, alerts);
      seq += recs.length;
      if (m === 62) {
        // the class, the statistics flag and all, through a snapshot
        const copy = new RulesEngine();
        decodeSnapshot(encodeSnapshot(engine, []), copy, new Map());
        const keys = [...copy.source('db').classes.classes.keys()].sort();
        assert.deepEqual(keys, [...engine.source('db').classes.classes.keys()].sort());
        assert.equal(keys.length, 2, 'one class from the log, one from the statistics');
      }
    }
    const fired = alerts.filter((a) => a.type === 'regression');
    assert.equal(fired.length, 1, JSON.stringify(alerts.map((a) => [a.type, a.queryId])));
    const a = fired[0]!;
    assert.deepEqual(a.labels, { from: 'statement_stats', query_id: '-4242' });
    assert.match(a.queryId, / statistics /);
    assert.ok(Date.parse(a.at) >= T0 + 60 * 60_000 && Date.parse(a.at) < T0 + 70 * 60_000, `fired at ${a.at}, within the 10 slow minutes`);
    assert.ok(a.regression!.windowCount >= 20);
    assert.equal(alerts.filter((x) => x.type === 'slow_query').length, 0, 'a mean over a threshold is not a slow execution');
  });
});
