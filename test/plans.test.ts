import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LineSplitter } from '../src/formats/line-splitter.js';
import { MySqlSlowParser } from '../src/formats/parsers/mysql-slow.js';
import { PostgresStderrParser } from '../src/formats/parsers/postgres.js';
import { PostgresCsvParser } from '../src/formats/parsers/postgres-csv.js';
import { PostgresJsonParser } from '../src/formats/parsers/postgres-json.js';
import { readPlanMessage } from '../src/formats/parsers/plans.js';
import { newParseOutput, type RecordParser } from '../src/formats/parsers/types.js';
import { MAX_PLAN_CHARS, PLAN_TRUNCATED_MARK, toWire, type Alert, type ParsedEvent, type QueryRecord } from '../src/model/record.js';
import { MAX_PLAN_TEXT_CHARS } from '../src/model/bounds.js';
import { RulesEngine } from '../src/rules/engine.js';
import { DEFAULT_RULES } from '../src/rules/rules.js';
import { wireRecord } from '../src/wire/record-schema.js';
import { alert as alertCheck } from '../src/wire/alert-schema.js';
import { toLabeled } from '../src/monitor/model.js';
import { webhookPayload } from '../src/monitor/notifiers/payload.js';
import { csvOf, jsonOf, stderrBoth } from './support/pg-auto-explain.js';
import { slackMessage } from '../src/monitor/notifiers/slack.js';

// Plans in records and alerts, corpus-style: small logs in the shapes the real servers write (test/real-servers.test.ts
// reads what real MariaDB and PostgreSQL servers write), through the parsers, the wire's checks, the rules and the
// receivers' payloads.

function feed(parser: RecordParser, text: string): { events: ParsedEvent[]; skipped: number; problems: number } {
  const out = newParseOutput();
  const splitter = new LineSplitter(0);
  splitter.push(Buffer.from(text), { line: (t, o, e) => parser.line(t, o, e, 0, out), oversize: () => {} });
  splitter.finish({ line: (t, o, e) => parser.line(t, o, e, 0, out), oversize: () => {} });
  parser.flush(true, out);
  return { events: out.events, skipped: out.skipped, problems: out.problems.length };
}

/** Resuming after each event, with the context the parser gave right after the line that emitted it, gives the same later events. */
function checkResume(make: () => RecordParser, text: string): void {
  const buf = Buffer.from(text);
  const whole = feed(make(), text).events;
  for (let k = 0; k < whole.length - 1; k++) {
    const p = make();
    const out = newParseOutput();
    let ctx: unknown = null;
    let got = false;
    new LineSplitter(0).push(buf, {
      line: (t, o, e) => {
        p.line(t, o, e, 0, out);
        if (!got && out.events.length > k) {
          got = true;
          ctx = JSON.parse(JSON.stringify(p.context() ?? null));
        }
      },
      oversize: () => {},
    });
    if (!got) {
      p.flush(false, out);
      ctx = JSON.parse(JSON.stringify(p.context() ?? null));
    }
    const at = out.events[k]!.end;
    const resumed = make();
    resumed.restore(ctx);
    const rest = newParseOutput();
    const splitter = new LineSplitter(at);
    const sink = { line: (t: string, o: number, e: number) => resumed.line(t, o, e, 0, rest), oversize: () => {} };
    splitter.push(buf.subarray(at), sink);
    splitter.finish(sink);
    resumed.flush(true, rest);
    assert.deepEqual(rest.events, whole.slice(k + 1), `resume after event ${k}`);
  }
}

const view = (evs: ParsedEvent[]) => evs.map((e) => [e.labels?.step, e.sql, e.durationMs, e.plan?.split('\n')[0], e.planFacts]);

describe('MariaDB slow log: # explain: rows and the Full_scan-style facts', () => {
  const log = [
    '# Time: 251202 10:00:00',
    '# User@Host: app[app] @  [10.0.0.5]',
    '# Thread_id: 4  Schema: shop  QC_hit: No',
    '# Query_time: 2.500000  Lock_time: 0.000168  Rows_sent: 5  Rows_examined: 3116',
    '# Rows_affected: 0  Bytes_sent: 159',
    '# Tmp_tables: 1  Tmp_disk_tables: 0  Tmp_table_sizes: 1310656',
    '# Full_scan: Yes  Full_join: No  Tmp_table: Yes  Tmp_table_on_disk: No',
    '# Filesort: Yes  Filesort_on_disk: No  Merge_passes: 0  Priority_queue: Yes',
    '#',
    '# explain: id\tselect_type\ttable\ttype\tpossible_keys\tkey\tkey_len\tref\trows\tr_rows\tfiltered\tr_filtered\tExtra',
    '# explain: 1\tSIMPLE\tt\tALL\tNULL\tNULL\tNULL\tNULL\t2000\t2000.00\t100.00\t55.55\tUsing where; Using temporary; Using filesort',
    '#',
    'SET timestamp=1764669600;',
    "SELECT name, COUNT(*) FROM t WHERE name LIKE 'n1%' GROUP BY name ORDER BY 2 DESC LIMIT 5;",
    '# User@Host: app[app] @  [10.0.0.5]',
    '# Thread_id: 4  Schema: shop  QC_hit: No',
    '# Query_time: 0.000298  Lock_time: 0.000040  Rows_sent: 1  Rows_examined: 1',
    'SET timestamp=1764669603;',
    'SELECT 1;',
    '',
  ].join('\n');

  it('the explain rows are the plan, the facts are planFacts (not labels); an entry without them has neither', () => {
    const { events, problems } = feed(new MySqlSlowParser(), log);
    assert.equal(problems, 0);
    const [a, b] = events;
    assert.equal(a!.plan, [
      'id\tselect_type\ttable\ttype\tpossible_keys\tkey\tkey_len\tref\trows\tr_rows\tfiltered\tr_filtered\tExtra',
      '1\tSIMPLE\tt\tALL\tNULL\tNULL\tNULL\tNULL\t2000\t2000.00\t100.00\t55.55\tUsing where; Using temporary; Using filesort',
    ].join('\n'));
    assert.deepEqual(a!.planFacts, {
      tmpTables: 1, tmpDiskTables: 0, fullScan: true, fullJoin: false, tmpTable: true, tmpTableOnDisk: false,
      filesort: true, filesortOnDisk: false, mergePasses: 0, priorityQueue: true,
    });
    assert.deepEqual(Object.keys(a!.labels!).sort(), ['Bytes_sent', 'QC_hit', 'Rows_affected', 'Thread_id', 'Tmp_table_sizes', 'ip']);
    assert.equal(b!.plan, undefined);
    assert.equal(b!.planFacts, undefined);
    assert.equal(wireRecord(toWire(a!), 'record').plan, a!.plan);
  });

  it('a plan longer than MAX_PLAN_CHARS is cut and marked; the wire takes it', () => {
    const rows = Array.from({ length: 200 }, (_, i) => `# explain: ${i}\tSIMPLE\t${'t'.repeat(80)}\tALL`);
    const big = ['# User@Host: a[a] @  [1.2.3.4]', '# Query_time: 1.0  Lock_time: 0  Rows_sent: 0  Rows_examined: 0', ...rows, 'SET timestamp=1764669600;', 'SELECT 2;', ''].join('\n');
    const [e] = feed(new MySqlSlowParser(), big).events;
    assert.equal(e!.plan!.length, MAX_PLAN_CHARS + PLAN_TRUNCATED_MARK.length);
    assert.ok(e!.plan!.endsWith(PLAN_TRUNCATED_MARK));
    wireRecord(toWire(e!), 'record');
  });
});

// ---------------------------------------------------------------------------------------------------------

const expectedBoth = [
  ['statement', 'SELECT *\n  FROM orders WHERE note = $$x$$', 1201, 'Seq Scan on orders  (cost=0.00..25.88 rows=6 width=32)', { fullScan: true }],
  ['statement', 'SELECT 1; SELECT 2', 0.5, 'Result  (cost=0.00..0.01 rows=1 width=4)', { filesort: true }],
  ['execute', 'SELECT name FROM t WHERE id = $1', 1500, 'Index Scan using t_pkey on t  (cost=0.15..8.17 rows=1 width=32)', undefined],
  ['plan', 'UPDATE t SET name = $1', 800, 'Update on t  (cost=0.00..1.00 rows=0 width=0)', { fullScan: true }],
  ['plan', 'SELECT 13', 1100, 'Result  (cost=0.00..0.01 rows=1 width=4)', undefined],
  ['statement', 'SELECT 14', 1, undefined, undefined],
  ['statement', 'SELECT 13', 1100.5, undefined, undefined],
];

describe('PostgreSQL auto_explain: one record per statement, in stderr, csvlog and jsonlog', () => {
  const formats: Array<[string, () => RecordParser, string]> = [
    ['postgres', () => new PostgresStderrParser(), stderrBoth],
    ['postgres-csv', () => new PostgresCsvParser(), csvOf(stderrBoth)],
    ['postgres-json', () => new PostgresJsonParser(), jsonOf(stderrBoth)],
  ];
  for (const [format, make, text] of formats) {
    it(`${format}: plan and duration entry joined (either order, plans of one simple query together), a plan alone is a record, interleaved backends are not joined`, () => {
      const { events, problems } = feed(make(), text);
      assert.equal(problems, 0);
      assert.deepEqual(view(events), expectedBoth);
      const [first, multi, exec] = events;
      assert.equal(first!.offset, 0, 'the joined record starts at the plan');
      assert.ok(!first!.plan!.includes('Query Text'), 'the query text is the record\'s sql, not part of the plan');
      assert.match(multi!.plan!, /^Result {2}\(cost=.*\n\nSort {2}\(cost=/);
      assert.equal(exec!.labels?.params, "$1 = '1'");
    });

    it(`${format}: resuming after any record gives the same later records`, () => {
      checkResume(make, text);
    });
  }

  it('JSON plans (auto_explain.log_format=json): the query text read from the document, the plan without it', () => {
    const doc = ['{', '  "Query Text": "SELECT \\"a\\" FROM t",', '  "Plan": {', '    "Node Type": "Seq Scan",', '    "Relation Name": "t"', '  }', '}'].join('\n');
    const r = readPlanMessage(`duration: 3.5 ms  plan:\n${doc}`)!;
    assert.equal(r.queryText, 'SELECT "a" FROM t');
    assert.equal(r.plan, ['{', '  "Plan": {', '    "Node Type": "Seq Scan",', '    "Relation Name": "t"', '  }', '}'].join('\n'));
    assert.deepEqual(JSON.parse(r.plan), { Plan: { 'Node Type': 'Seq Scan', 'Relation Name': 't' } });
    assert.deepEqual(r.planFacts, { fullScan: true });
    // YAML and XML are kept whole, without a query text
    const y = readPlanMessage('duration: 1.0 ms  plan:\n- Query Text: "SELECT 1"\n  Plan: \n    Node Type: "Result"')!;
    assert.equal(y.queryText, undefined);
    assert.match(y.plan, /Node Type: "Result"/);
  });

  it('a plan over the bound is cut with a mark the wire accepts', () => {
    const nodes = Array.from({ length: 400 }, (_, i) => `  ->  Seq Scan on t${i}  (cost=0.00..1.00 rows=1 width=4)`).join('\n');
    const r = readPlanMessage(`duration: 1.0 ms  plan:\nQuery Text: SELECT 1\nAppend  (cost=0.00..400.00 rows=400 width=4)\n${nodes}`)!;
    assert.equal(r.queryText, 'SELECT 1');
    assert.ok(r.plan.endsWith(PLAN_TRUNCATED_MARK));
    assert.equal(r.plan.length, MAX_PLAN_TEXT_CHARS);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('the plan goes with the alert its record raised, to every receiver', () => {
  const T0 = Date.UTC(2026, 10, 22, 6, 0, 0);
  const base = { source: 's', stream: 'f', sql: 'select * from t', fingerprint: 'select * from t', fingerprintId: '0xA' };
  const plan = 'Seq Scan on t  (cost=0.00..25.88 rows=6 width=32)';

  function run(recs: QueryRecord[]): Alert[] {
    const alerts: Alert[] = [];
    new RulesEngine(structuredClone(DEFAULT_RULES)).applyBatch('s', 'f', recs, alerts);
    return alerts;
  }

  it('slow_query and resolved carry their finished record\'s plan; long_running (a probe\'s running record) has none', () => {
    const alerts = run([
      { ...base, seq: 1, state: 'finished', queryId: 'a', ts: T0, durationMs: 2000, plan, planFacts: { fullScan: true } },
      { ...base, seq: 2, state: 'running', queryId: 'b', ts: T0 + 10_000, durationMs: 10_000 },
      { ...base, seq: 3, state: 'finished', queryId: 'b', ts: T0 + 20_000, durationMs: 20_000, plan: 'other plan' },
      { ...base, seq: 4, state: 'finished', queryId: 'c', ts: T0 + 21_000, durationMs: 1500 },
    ]);
    assert.deepEqual(alerts.map((a) => [a.type, a.plan, a.planFacts]), [
      ['slow_query', plan, { fullScan: true }],
      ['long_running', undefined, undefined],
      ['resolved', 'other plan', undefined],
      ['slow_query', undefined, undefined],
    ]);
    for (const a of alerts) assert.deepEqual(alertCheck(JSON.parse(JSON.stringify(a)), 'alert'), a);
  });

  it('webhook/file payload and Alertmanager: plan and planFacts annotations; Slack: a Plan section; labels unchanged', () => {
    const [a] = run([{ ...base, seq: 1, state: 'finished', queryId: 'a', ts: T0, durationMs: 2000, plan, planFacts: { fullScan: true, mergePasses: 0 } }]);
    const l = toLabeled(a!);
    assert.equal(l.annotations.plan, plan);
    assert.equal(l.annotations.planFacts, 'fullScan=true mergePasses=0');
    assert.equal(l.labels.plan, undefined);
    const n = { id: 'n1', receiver: 'r', groupKey: 'g', groupLabels: {}, commonLabels: l.labels, commonAnnotations: l.annotations, status: 'firing' as const, alerts: [l] };
    assert.equal(webhookPayload(n).alerts[0]!.annotations.plan, plan);
    const slack = JSON.stringify(slackMessage(n));
    assert.match(slack, /\*Plan\* fullScan=true mergePasses=0\\n```\\nSeq Scan on t/);
  });

  it('hostile input: a plan over the bound, or facts of the wrong type, are refused by the wire', () => {
    const rec = { state: 'finished', queryId: 'q', ts: T0, durationMs: 1, sql: '', fingerprint: '', fingerprintId: '' };
    assert.throws(() => wireRecord({ ...rec, plan: 'x'.repeat(MAX_PLAN_TEXT_CHARS + 1) }, 'record 0'), /record 0: plan: must have at most/);
    assert.throws(() => wireRecord({ ...rec, plan: 42 }, 'record 0'), /plan: must be a string/);
    assert.throws(() => wireRecord({ ...rec, planFacts: { fullScan: 'yes' } }, 'record 0'), /planFacts: fullScan: must be true or false/);
    assert.throws(() => wireRecord({ ...rec, planFacts: { mergePasses: -1 } }, 'record 0'), /planFacts: mergePasses: must be a finite number/);
    // unknown facts are left behind, like every key a schema does not name
    assert.deepEqual(wireRecord({ ...rec, planFacts: JSON.parse('{"fullScan":true,"__proto__":{"x":1},"evil":1}') }, '').planFacts, { fullScan: true });
  });
});
