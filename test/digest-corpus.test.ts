import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { METRICS, type MetricName } from '../src/digest/digest.js';
import { digestFile } from '../src/digest/digest-file.js';
import { MetricStats, bucketIndex, bucketValue } from '../src/digest/metric.js';
import { perlFixed6, toPtJson, type PtJson, type PtJsonMetric } from '../src/digest/pt-json.js';
import { textReport } from '../src/digest/report.js';
import { fingerprint, fingerprintId } from '../src/formats/fingerprint.js';
import type { ParsedEvent } from '../src/model/record.js';
import { CORPUS_DIR, corpusFile, corpusFiles } from './support/corpus.js';
import { CLI } from '../bench/harness/processes.js';

// `slowq digest` against pt-query-digest 3.2.1 on the 72 slow logs of its own test suite: the expected JSON
// files are its `--output json --limit 100%` output (see test/corpus/README.md). A missing or empty corpus
// folder fails every test here (the `before` hook throws), never passes them having compared nothing.

const LOGS = join(CORPUS_DIR, 'mysql-slow');

/**
 * Every deliberate difference from pt-query-digest on the corpus, with its reason. The tests apply these to
 * pt-query-digest's output and then require an exact match, so any other difference fails.
 */
const DELIBERATE_DIFFERENCES: Record<string, { reason: string; classCounts?: Record<string, number>; uniqueQueryCount?: number; globalMetricsAbsent?: MetricName[] }> = {
  'slow041.txt': {
    reason:
      'The file starts with the tail of an entry (a lone "# administrator command: Quit;", no header). pt-query-digest counts ' +
      'it in its class (query_count 2) though not in global.query_count, having no Query_time; slowq reports it as a problem ' +
      'and drops it, so the class counts 1 — the same as the global count agrees.',
    classCounts: { 'administrator command: Quit': 1 },
  },
  'slow017.txt': {
    reason:
      'The only entry has a garbage Query_time ("18446744073708.796870.000036"). Both drop it from the classes; pt-query-digest ' +
      'still counts a class for it (unique_query_count 1) and adds its Rows_sent/Rows_examined to the global metrics; ' +
      'slowq reports the entry as a problem and counts nothing from it.',
    uniqueQueryCount: 0,
    globalMetricsAbsent: ['Rows_sent', 'Rows_examined'],
  },
  'slow006-session-1.txt': {
    reason: 'Not a slow log (a pt-query-digest session file, no headers): pt-query-digest makes one class without Query_time ' + '(unique_query_count 1, no class reported); slowq reports the text as a problem and makes none.',
    uniqueQueryCount: 0,
  },
  'slow006-session-2.txt': { reason: 'as slow006-session-1.txt', uniqueQueryCount: 0 },
  'slow006-session-3.txt': { reason: 'as slow006-session-1.txt', uniqueQueryCount: 0 },
};

/** pt-query-digest's JSON, or an empty digest when it printed none (an empty log). */
function expectedFor(file: string): PtJson {
  const text = readFileSync(corpusFile('mysql-slow-expected', file.replace(/\.gz$/, '') + '.pt-query-digest.json'), 'utf8');
  const start = text.indexOf('{'); // after "Reading from STDIN ..."
  if (start === -1) return { global: { query_count: 0, unique_query_count: 0, files: [], metrics: {} }, classes: [] };
  const json = JSON.parse(text.slice(start)) as PtJson;
  // pt-query-digest reads the log as bytes and JSON-encodes them as Latin-1: decode its strings back to UTF-8
  for (const c of json.classes) c.fingerprint = Buffer.from(c.fingerprint, 'latin1').toString('utf8');
  const diff = DELIBERATE_DIFFERENCES[file];
  if (diff?.classCounts) {
    for (const c of json.classes) c.query_count = diff.classCounts[c.fingerprint] ?? c.query_count;
  }
  if (diff?.uniqueQueryCount !== undefined) json.global.unique_query_count = diff.uniqueQueryCount;
  for (const m of diff?.globalMetricsAbsent ?? []) delete json.global.metrics[m];
  return json;
}

const files: string[] = [];
const ours = new Map<string, PtJson>();

describe('slowq digest vs pt-query-digest on its own corpus', () => {
  before(async () => {
    corpusFiles('mysql-slow-expected');
    files.push(...corpusFiles('mysql-slow'));
    for (const f of files) ours.set(f, toPtJson((await digestFile(join(LOGS, f), 'mysql-slow')).digest, []));
  });

  it('covers the whole corpus', () => {
    assert.equal(files.length, 72);
    for (const f of Object.keys(DELIBERATE_DIFFERENCES)) assert.ok(files.includes(f), f);
  });

  it('global.query_count and unique_query_count equal pt-query-digest’s for every file', () => {
    for (const f of files) {
      const want = expectedFor(f);
      const got = ours.get(f)!;
      assert.equal(got.global.query_count, want.global.query_count, `${f} query_count`);
      assert.equal(got.global.unique_query_count, want.global.unique_query_count, `${f} unique_query_count`);
    }
  });

  it('the classes (fingerprint, checksum, query_count) equal pt-query-digest’s for every file', () => {
    const key = (c: { fingerprint: string; checksum: string; query_count: number }) => `${c.checksum} ${c.query_count} ${c.fingerprint}`;
    for (const f of files) {
      const want = expectedFor(f).classes.map(key).sort();
      const got = ours.get(f)!.classes.map(key).sort();
      assert.deepEqual(got, want, f);
    }
  });

  it('the checksum is the MD5 of the fingerprint, and the fingerprint is ours', () => {
    for (const f of files) {
      for (const c of ours.get(f)!.classes) assert.equal('0x' + c.checksum, fingerprintId(c.fingerprint), `${f}: ${c.fingerprint}`);
    }
    assert.equal(fingerprint('SELECT 1'), 'select ?');
  });

  it('Query_time sum/min/max and the counts per class match pt-query-digest', () => {
    for (const f of files) {
      const got = new Map(ours.get(f)!.classes.map((c) => [c.checksum, c]));
      for (const want of expectedFor(f).classes) {
        const c = got.get(want.checksum)!;
        for (const k of ['sum', 'min', 'max'] as const) {
          assert.equal(c.metrics.Query_time?.[k], want.metrics.Query_time?.[k], `${f} ${want.fingerprint} Query_time.${k}`);
        }
        assert.equal(c.query_count, want.query_count);
      }
    }
  });

  it('every statistic of the four metrics (avg, pct_95, median, stddev, pct too), per class and overall, matches', () => {
    const compare = (where: string, got: Partial<Record<MetricName, PtJsonMetric>>, want: Partial<Record<MetricName, PtJsonMetric>>) => {
      for (const m of METRICS) {
        assert.equal(got[m] === undefined, want[m] === undefined, `${where}: ${m} present`);
        const w = want[m];
        if (!w) continue;
        for (const k of Object.keys(w) as Array<keyof PtJsonMetric>) assert.equal(got[m]![k], w[k], `${where}: ${m}.${k}`);
      }
    };
    for (const f of files) {
      const want = expectedFor(f);
      const got = ours.get(f)!;
      compare(`${f} overall`, got.global.metrics, want.global.metrics);
      const byId = new Map(got.classes.map((c) => [c.checksum, c]));
      for (const c of want.classes) compare(`${f} ${c.fingerprint}`, byId.get(c.checksum)!.metrics, c.metrics);
    }
  });

  it('slowq digest --json on the command line prints the same document', async () => {
    const file = join(LOGS, 'slow002.txt');
    const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'digest', '--format', 'mysql-slow', '--json', file], { timeout: 30_000 });
    const doc = JSON.parse(stdout) as PtJson;
    assert.deepEqual(doc.classes, ours.get('slow002.txt')!.classes);
    assert.equal(doc.global.files[0]!.name, file);
  });

  it('the text report shows the profile and every class', async () => {
    const file = 'slow002.txt';
    const { digest } = await digestFile(join(LOGS, file), 'mysql-slow');
    const report = textReport(digest, { limit: 0, source: file });
    assert.match(report, /# 8 queries, 7 unique/);
    assert.match(report, /# Rank Query ID +Response time/);
    for (const c of ours.get(file)!.classes) {
      assert.ok(report.includes('0x' + c.checksum.slice(-16)), `profile row for ${c.fingerprint}`);
      assert.ok(report.includes(`# Fingerprint: ${c.fingerprint}`), `details for ${c.fingerprint}`);
    }
    const top2 = textReport(digest, { limit: 2, source: file });
    assert.match(top2, /# MISC: 5 more classes, 6 calls/);
  });
});

describe('digest statistics', () => {
  it('one or equal values are exact; two values give their mean as median', () => {
    const one = new MetricStats();
    one.add(0.5);
    assert.deepEqual([one.summary().pct95, one.summary().median, one.summary().stddev], [0.5, 0.5, 0]);
    const two = new MetricStats();
    two.add(1);
    two.add(3);
    const s = two.summary();
    assert.deepEqual([s.cnt, s.sum, s.min, s.max, s.avg, s.pct95, s.median], [2, 4, 1, 3, 2, 3, 2]);
    assert.ok(Math.abs(s.stddev - Math.SQRT2) < 1e-12);
  });

  it('from three values, pct_95 and median are the lower bounds of 5% buckets, as pt-query-digest', () => {
    const m = new MetricStats();
    for (let i = 1; i <= 100; i++) m.add(i / 100);
    const s = m.summary();
    assert.equal(s.pct95, bucketValue(bucketIndex(0.95)));
    assert.ok(s.pct95 <= 0.95 && s.pct95 > 0.95 / 1.05);
    assert.ok(s.median <= 0.51 && s.median > 0.5 / 1.05);
    assert.equal(bucketIndex(0), 0);
    assert.equal(bucketIndex(1e30), 999);
  });

  it('formats like Perl: %.6f rounds exact binary ties to even, %d truncates', () => {
    assert.equal(perlFixed6(0.0078125), '0.007812');
    assert.equal(perlFixed6(0.0234375), '0.023438');
    assert.equal(perlFixed6(1.5), '1.500000');
  });
});

describe('digest of another format', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slowq-digest-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('aggregates native JSON lines by fingerprint like any slow log', async () => {
    const lines = [
      { ts: 1_700_000_000_000, state: 'finished', id: 'a', duration_ms: 1500, sql: 'SELECT * FROM t WHERE id = 1', rows_examined: 10 },
      { ts: 1_700_000_001_000, state: 'finished', id: 'b', duration_ms: 500, sql: 'SELECT * FROM t WHERE id = 2', rows_examined: 30 },
      { ts: 1_700_000_002_000, state: 'finished', id: 'c', duration_ms: 100, sql: 'UPDATE t SET x = 1' },
    ];
    const file = join(dir, 'events.jsonl');
    await writeFile(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const { digest } = await digestFile(file, 'jsonl');
    const json = toPtJson(digest, []);
    assert.equal(json.global.query_count, 3);
    assert.deepEqual(
      json.classes.map((c) => [c.fingerprint, c.query_count, c.metrics.Query_time?.sum, c.metrics.Rows_examined?.sum]),
      [
        ['select * from t where id = ?', 2, '2.000000', '40'],
        ['update t set x = ?', 1, '0.100000', undefined],
      ],
    );
    const ev: ParsedEvent = { state: 'finished', queryId: 'x', ts: 0, durationMs: 1, sql: 'x', fingerprint: 'x', fingerprintId: '0x0', offset: 0, end: 1 };
    digest.add(ev);
    assert.equal(digest.queryCount, 4);
  });
});
