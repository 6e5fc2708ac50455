import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeSnapshot, encodeSnapshot } from '../src/consumer/state-codec.js';
import { packState, unpackState } from '../src/durable/codec.js';
import type { Alert, QueryRecord } from '../src/model/record.js';
import { parseRulesConfig } from '../src/rules/config.js';
import { RulesEngine } from '../src/rules/engine.js';
import { BUCKETS, bucketMs, bucketOf } from '../src/rules/regression.js';
import { DEFAULT_RULES, type RulesConfig } from '../src/rules/rules.js';
import { matchLabels, toLabeled } from '../src/monitor/model.js';
import { slackMessage } from '../src/monitor/notifiers/slack.js';
import { alert as alertCheck } from '../src/wire/alert-schema.js';
import { ClassWorkload, classMedianMs, CLASS_START_TS, type ClassWorkloadOptions, type Execution } from '../src/workload/class-workload.js';

// Query-class regressions (src/rules/regression.ts), in-process: the statistic, its defaults on steady,
// noisy and slowed-down classes, the bound on classes, and the state through a snapshot. Event time only.

const SOURCE = 'db-classes';
/** class 3's median is 41 ms: 10× slower is 410 ms, above regression_min_ms */
const SLOW = 3;

function record(e: Execution, seq: number): QueryRecord {
  return {
    source: SOURCE, stream: 'f', seq, state: 'finished', queryId: e.id, ts: e.ts, durationMs: e.durationMs,
    sql: `SELECT * FROM t${e.classIndex} WHERE k = ${seq % 10}`, fingerprint: `select * from t${e.classIndex} where k = ?`, fingerprintId: `0x${e.classIndex.toString(16).padStart(4, '0')}`, db: 'shop',
  };
}

/** Runs the workload's `minutes` through an engine; only the class alerts. */
function classAlerts(opts: ClassWorkloadOptions, minutes: number, rules: RulesConfig = DEFAULT_RULES, decorate: (r: QueryRecord) => void = () => {}): { alerts: Alert[]; engine: RulesEngine } {
  const engine = new RulesEngine(rules);
  const alerts: Alert[] = [];
  const w = new ClassWorkload(opts);
  let seq = 0;
  let batch: QueryRecord[] = [];
  for (const e of w.run(minutes)) {
    const r = record(e, ++seq);
    decorate(r);
    batch.push(r);
    if (batch.length === 500) {
      engine.applyBatch(SOURCE, 'f', batch, alerts);
      batch = [];
    }
  }
  engine.applyBatch(SOURCE, 'f', batch, alerts);
  return { alerts: alerts.filter((a) => a.type === 'regression' || a.type === 'regression_resolved'), engine };
}

const minuteOf = (a: Alert) => (Date.parse(a.at) - CLASS_START_TS) / 60_000;

describe('query-class regressions', () => {
  it('buckets: log-spaced from 1 ms to 1 h, each duration in the bucket whose middle is within ±22% of it', () => {
    assert.equal(bucketOf(0), 0);
    assert.equal(bucketOf(Number.NaN), 0);
    assert.equal(bucketOf(1), 1);
    assert.equal(bucketOf(3_600_000), BUCKETS - 1);
    assert.equal(bucketOf(1e12), BUCKETS - 1);
    let last = 0;
    for (let d = 1; d < 3_600_000; d *= 1.07) {
      const b = bucketOf(d);
      assert.ok(b >= last, `monotone at ${d}`);
      last = b;
      const m = bucketMs(b);
      assert.ok(m / d < 1.23 && d / m < 1.23, `${d} ms in bucket ${b} of middle ${m}`);
    }
  });

  it('an hour steady, then 10× slower for 10 min: one regression within those 10 min, resolved after, with what changed', () => {
    // the plan flips for the 10 minutes (the log has plans: plans.ts)
    const flipped = (r: QueryRecord) => r.ts >= CLASS_START_TS + 60 * 60_000 && r.ts < CLASS_START_TS + 70 * 60_000;
    const { alerts } = classAlerts({ seed: 1, classes: 5, perMinute: 30, slowdowns: [{ classIndex: SLOW, fromMin: 60, toMin: 70, factor: 10 }] }, 100, DEFAULT_RULES, (r) => {
      r.plan = flipped(r) ? 'Seq Scan on t3' : 'Index Scan using t3_k on t3';
      r.planFacts = { fullScan: flipped(r) };
    });
    assert.deepEqual(alerts.map((a) => a.type), ['regression', 'regression_resolved'], JSON.stringify(alerts, null, 1));
    const [fired, resolved] = alerts as [Alert, Alert];
    assert.equal(fired.fingerprintId, '0x0003');
    assert.equal(fired.db, 'shop');
    assert.match(fired.sql, /^SELECT \* FROM t3 WHERE k = \d$/);
    assert.equal(fired.fingerprint, 'select * from t3 where k = ?');
    assert.ok(minuteOf(fired) >= 60 && minuteOf(fired) < 70, `fired at minute ${minuteOf(fired)}`);
    assert.ok(minuteOf(resolved) >= 70 && minuteOf(resolved) < 85, `resolved at minute ${minuteOf(resolved)}`);
    assert.equal(resolved.queryId, fired.queryId, 'the closing alert names the problem it closes');
    assert.equal(resolved.startedAt, fired.startedAt);
    const r = fired.regression!;
    assert.ok(r.windowCount >= 20 && r.windowP95Ms >= 3 * r.baselineP95Ms && r.windowP95Ms >= 100, JSON.stringify(r));
    assert.ok(r.baselineP95Ms > classMedianMs(SLOW) && r.baselineP95Ms < 3 * classMedianMs(SLOW), JSON.stringify(r));
    assert.ok(r.baselineWindows >= 3 && r.baselineCount >= 60, JSON.stringify(r));
    assert.equal(r.windowMs, 600_000);
    assert.equal(fired.durationMs, r.windowP95Ms);
    assert.deepEqual([fired.plan, fired.planFacts], ['Seq Scan on t3', { fullScan: true }], 'the plan of the execution that made it fire');
    // closed by the once-a-minute look as the slow executions leave the window (no execution of it raised that)
    assert.ok(resolved.plan === undefined || resolved.plan === 'Index Scan using t3_k on t3', resolved.plan);
    for (const a of alerts) alertCheck(a, 'alert');
    // to the monitor and its receivers: one problem that fires and resolves, saying what changed
    const open = toLabeled(fired);
    const closed = toLabeled(resolved, fired);
    assert.equal(closed.fingerprint, open.fingerprint);
    assert.deepEqual([open.status, closed.status, open.labels.alertname], ['firing', 'resolved', 'QueryClassRegression']);
    assert.match(open.annotations.summary!, /^db-classes\/shop: query class 0x0003 slower: p95 \d+ ms over the last 10 min \(\d+ executions\), baseline p95 \d+(\.\d)? ms \(\d+ windows, \d+ executions\), ×\d+\.\d$/);
    assert.equal(open.annotations.baselineP95Ms, String(r.baselineP95Ms));
    assert.equal(matchLabels(open).type, 'regression');
    const slack = JSON.stringify(slackMessage({ id: 'n', receiver: 'r', groupKey: 'g', groupLabels: {}, commonLabels: {}, commonAnnotations: {}, status: 'firing', alerts: [open] }));
    assert.match(slack, /Query class slower/);
    assert.match(slack, /Changed:\* p95 \d+ ms over the last 10 min/);
    assert.match(slack, /Example statement/);
    // the monitor refuses what no consumer sends
    for (const [bad, why] of [[{ windowCount: -1 }, /windowCount/], [{ windowP95Ms: Number.NaN }, /windowP95Ms/], [{ baselineWindows: 1e9 }, /baselineWindows/]] as const) {
      assert.throws(() => alertCheck({ ...fired, regression: { ...r, ...bad } }, 'alert'), why);
    }
  });

  it('steady classes never alert, noisy or not, over 6 hours; nor a 2× slowdown, a slowdown under regression_min_ms, or one too rare to count', () => {
    for (const sigma of [0.3, 0.8, 1.2]) {
      const { alerts } = classAlerts({ seed: 7, classes: 20, perMinute: 25, sigma }, 6 * 60);
      assert.deepEqual(alerts, [], `σ ${sigma}: ${JSON.stringify(alerts[0])}`);
    }
    // class 0: 2 ms × 10 = 20 ms, under regression_min_ms; class SLOW only 2× slower
    const small = classAlerts({ seed: 3, classes: 5, perMinute: 30, slowdowns: [{ classIndex: 0, fromMin: 60, toMin: 80, factor: 10 }, { classIndex: SLOW, fromMin: 60, toMin: 80, factor: 2 }] }, 100);
    assert.deepEqual(small.alerts, []);
    // 1 a minute: 10 in the window, under regression_min_count
    const rare = classAlerts({ seed: 4, classes: 4, perMinute: 1, slowdowns: [{ classIndex: SLOW, fromMin: 60, toMin: 80, factor: 10 }] }, 100);
    assert.deepEqual(rare.alerts, []);
  });

  it('a regression with too little history is not judged; a lasting one becomes the new baseline and resolves', () => {
    const early = classAlerts({ seed: 5, classes: 3, perMinute: 30, slowdowns: [{ classIndex: SLOW % 3, fromMin: 15, toMin: 25, factor: 10 }] }, 40);
    assert.deepEqual(early.alerts, [], 'under 30 min of history');
    const lasting = classAlerts({ seed: 6, classes: 5, perMinute: 30, slowdowns: [{ classIndex: SLOW, fromMin: 60, toMin: 1000, factor: 10 }] }, 240);
    assert.deepEqual(lasting.alerts.map((a) => a.type), ['regression', 'regression_resolved']);
    assert.ok(minuteOf(lasting.alerts[1]!) < 150, `the new normal is taken within the 12-window history: ${minuteOf(lasting.alerts[1]!)}`);
  });

  it('a class that goes quiet during its regression is resolved as time goes on', () => {
    const engine = new RulesEngine(DEFAULT_RULES);
    const alerts: Alert[] = [];
    const w = new ClassWorkload({ seed: 8, classes: 2, perMinute: 30, slowdowns: [{ classIndex: 1, fromMin: 60, toMin: 62, factor: 20 }] });
    let seq = 0;
    // class 1 (9 ms, 20× = 180 ms) stops at minute 62; class 0 goes on
    const recs = [...w.run(90)].filter((e) => e.classIndex === 0 || (e.ts - CLASS_START_TS) / 60_000 < 62).map((e) => record(e, ++seq));
    engine.applyBatch(SOURCE, 'f', recs, alerts);
    const cls = alerts.filter((a) => a.fingerprintId === '0x0001');
    assert.deepEqual(cls.map((a) => a.type), ['regression', 'regression_resolved']);
    assert.ok(minuteOf(cls[1]!) >= 71 && minuteOf(cls[1]!) <= 73, `resolved when its window emptied: ${minuteOf(cls[1]!)}`);
    assert.equal(cls[1]!.regression, undefined, 'nothing to compare: no executions in the window');
  });

  it('thresholds per source, db and fingerprint: an override turns one class off, another makes one stricter', () => {
    const rules = parseRulesConfig({
      overrides: [
        { match: { fingerprint_id: '0x0003' }, regression_factor: 0 },
        { match: { db: 'shop', fingerprint_id: '0x0001' }, regression_factor: 1.8, regression_resolve_factor: 1.2, regression_min_ms: 10 },
      ],
    }, 'test');
    const { alerts } = classAlerts({ seed: 1, classes: 5, perMinute: 30, slowdowns: [{ classIndex: SLOW, fromMin: 60, toMin: 70, factor: 10 }, { classIndex: 1, fromMin: 60, toMin: 70, factor: 2.5 }] }, 100, rules);
    assert.deepEqual(alerts.map((a) => `${a.fingerprintId} ${a.type}`), ['0x0001 regression', '0x0001 regression_resolved']);
    assert.throws(() => parseRulesConfig({ regression_factor: -1 }, 'f.yaml'), /f\.yaml: rules\.regression_factor must be a number from 0 to 1000/);
    assert.throws(() => parseRulesConfig({ regression_min_history: 13 }, 'f.yaml'), /regression_min_history must be a whole number from 1 to 12/);
    assert.throws(() => parseRulesConfig({ max_classes: 0 }, 'f.yaml'), /rules\.max_classes/);
    assert.throws(() => parseRulesConfig({ overrides: [{ match: {}, regression_speed: 2 }] }, 'f.yaml'), /unknown key "regression_speed"/);
  });

  it('memory is bounded: at most max_classes per source, the least recently seen evicted, an open regression kept over quiet classes', () => {
    const rules: RulesConfig = { ...structuredClone(DEFAULT_RULES), maxClasses: 50 };
    const engine = new RulesEngine(rules);
    const alerts: Alert[] = [];
    const w = new ClassWorkload({ seed: 9, classes: 5, perMinute: 30, slowdowns: [{ classIndex: SLOW, fromMin: 60, toMin: 200, factor: 10 }] });
    let seq = 0;
    engine.applyBatch(SOURCE, 'f', [...w.run(65)].map((e) => record(e, ++seq)), alerts);
    assert.deepEqual(alerts.filter((a) => a.type === 'regression').map((a) => a.fingerprintId), ['0x0003']);
    // then 5,000 one-off classes, one every 10 ms of event time: the 5 classes are long gone from the front but
    // the open regression is kept until only open ones are left to evict … it is the only one, so it stays
    const t0 = CLASS_START_TS + 65 * 60_000;
    const oneOffs: QueryRecord[] = [];
    for (let i = 0; i < 5000; i++) oneOffs.push(record({ ts: t0 + i * 10, classIndex: 1000 + i, durationMs: 5, id: `o${i}` }, ++seq));
    engine.applyBatch(SOURCE, 'f', oneOffs, alerts);
    const classes = engine.source(SOURCE).classes;
    assert.equal(classes.classes.size, 50);
    assert.ok(classes.evicted >= 4955);
    assert.ok([...classes.classes.values()].some((c) => c.fingerprintId === '0x0003' && c.open), 'the open regression is kept');
    assert.equal(alerts.filter((a) => a.type === 'regression_resolved').length, 0);
    // with every class open, the oldest goes anyway, closed
    const tiny = new RulesEngine({ ...structuredClone(DEFAULT_RULES), maxClasses: 1 });
    const out: Alert[] = [];
    seq = 0;
    tiny.applyBatch(SOURCE, 'f', [...new ClassWorkload({ seed: 9, classes: 1, perMinute: 30, slowdowns: [{ classIndex: 0, fromMin: 60, toMin: 99, factor: 100 }] }).run(65)].map((e) => record({ ...e, classIndex: SLOW }, ++seq)), out);
    tiny.applyBatch(SOURCE, 'f', [record({ ts: t0 + 1, classIndex: 77, durationMs: 5, id: 'x' }, ++seq)], out);
    assert.deepEqual(out.filter((a) => a.type !== 'slow_query').map((a) => `${a.fingerprintId} ${a.type}`), ['0x0003 regression', '0x0003 regression_resolved']);
  });

  it('through a snapshot anywhere, and a reload at one: the same alerts as in one go (the consumer\'s state)', () => {
    // a slowdown, and a class that goes quiet during its own (resolved by the once-a-minute sweep)
    const opts: ClassWorkloadOptions = { seed: 11, classes: 6, perMinute: 30, slowdowns: [{ classIndex: SLOW, fromMin: 60, toMin: 70, factor: 10 }, { classIndex: 1, fromMin: 60, toMin: 62, factor: 20 }] };
    const recs = [...new ClassWorkload(opts).run(100)].filter((e) => e.classIndex !== 1 || e.ts < CLASS_START_TS + 62 * 60_000).map((e, i) => record(e, i + 1));
    const only = (alerts: Alert[]) => alerts.filter((x) => x.type.startsWith('regression'));
    const inOneGo = (rules: RulesConfig, reloadAt?: number, reloaded?: RulesConfig) => {
      const e = new RulesEngine(rules);
      const alerts: Alert[] = [];
      e.applyBatch(SOURCE, 'f', recs.slice(0, reloadAt ?? recs.length), alerts);
      if (reloadAt !== undefined) {
        e.setRules(reloaded!);
        e.applyBatch(SOURCE, 'f', recs.slice(reloadAt), alerts);
      }
      return only(alerts);
    };
    const whole = inOneGo(DEFAULT_RULES);
    assert.deepEqual(whole.map((a) => `${a.fingerprintId} ${a.type}`), ['0x0001 regression', '0x0003 regression', '0x0001 regression_resolved', '0x0003 regression_resolved']);
    const throughSnapshot = (cut: number, after: RulesConfig = DEFAULT_RULES) => {
      const a = new RulesEngine(DEFAULT_RULES);
      const alerts: Alert[] = [];
      a.applyBatch(SOURCE, 'f', recs.slice(0, cut), alerts);
      const b = new RulesEngine(after);
      decodeSnapshot(encodeSnapshot(a, []), b, new Map());
      b.applyBatch(SOURCE, 'f', recs.slice(cut), alerts);
      return only(alerts);
    };
    for (let cut = 1000; cut < recs.length; cut += 1357) assert.deepEqual(throughSnapshot(cut), whole, `cut at record ${cut}`);
    // thresholds changed at a snapshot (as the consumer does on SIGHUP) while both regressions are open: class 3 turned off
    const reloaded = parseRulesConfig({ overrides: [{ match: { fingerprint_id: '0x0003' }, regression_factor: 0 }] }, 'reload');
    const at = recs.findIndex((r) => r.ts >= CLASS_START_TS + 61.5 * 60_000);
    const live = inOneGo(DEFAULT_RULES, at, reloaded);
    assert.deepEqual(live.map((a) => `${a.fingerprintId} ${a.type}`), ['0x0001 regression', '0x0003 regression', '0x0003 regression_resolved', '0x0001 regression_resolved']);
    assert.deepEqual(throughSnapshot(at, reloaded), live);
  });

  it('a hostile class in a snapshot is refused with where and why (the consumer sets it aside, state-codec.ts)', () => {
    const recs = [...new ClassWorkload({ seed: 11, classes: 6, perMinute: 30 }).run(30)].map((e, i) => record(e, i + 1));
    const engine = new RulesEngine(DEFAULT_RULES);
    engine.applyBatch(SOURCE, 'f', recs.slice(0, 5000), []);
    const snap = unpackState<{ sources: Array<{ classes: Array<Record<string, unknown>> }> }>(encodeSnapshot(engine, []));
    const good = snap.sources[0]!.classes[0]!;
    const hostile: Array<[Record<string, unknown>, RegExp]> = [
      [{ ...good, cells: [5, 1, 3, 1] }, /cells: \[2\]: must be a cell from 6/],
      [{ ...good, cells: [400, 1] }, /cells: \[0\]: must be a cell from 0 to 399/],
      [{ ...good, cells: [0, -4] }, /cells: \[1\]: must be a count/],
      [{ ...good, cells: new Array(802).fill(1) }, /at most 400/],
      [{ ...good, history: [[40, 10]] }, /history/],
      [{ ...good, history: new Array(13).fill([3, 30]) }, /history/],
      [{ ...good, head: Number.NaN }, /head/],
      [{ ...good, open: { queryId: '', since: 0, fingerprint: '', sql: '' } }, /open/],
      [{ ...good, fingerprintId: 'x'.repeat(200) }, /fingerprintId/],
    ];
    for (const [cls, why] of hostile) {
      snap.sources[0]!.classes = [cls];
      assert.throws(() => decodeSnapshot(packState(snap), new RulesEngine(DEFAULT_RULES), new Map()), (err: Error) => {
        assert.match(err.message, /^snapshot source db-classes: query class 0: /);
        assert.match(err.message, why);
        return true;
      });
      const setAside: string[] = [];
      decodeSnapshot(packState(snap), new RulesEngine(DEFAULT_RULES), new Map(), (item) => setAside.push(`${item.what}: ${item.reason}`));
      assert.equal(setAside.length, 1, setAside.join('\n'));
    }
  });
});
