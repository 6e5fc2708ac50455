import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseChunkRecords } from '../src/consumer/chunk-intake.js';
import { decodeRecords, encodeRecords, Interner, transferables, type RecordColumns } from '../src/consumer/record-columns.js';
import { ChunkParsers } from '../src/formats/chunk-parse.js';
import { openInput } from '../src/formats/read-file.js';
import type { Labels, PlanFacts, WireRecord } from '../src/model/record.js';
import { prng } from '../src/workload/prng.js';
import { MySqlSlowLogGenerator, type MySqlSlowFlavor } from '../src/workload/mysql-slow-generator.js';
import { corpusFile, corpusFiles, POSTGRES_CORPUS_FORMATS } from './support/corpus.js';

// The parse thread's hand-over of records (src/consumer/record-columns.ts) against the records themselves: what
// the main thread reads back must equal, field for field, what it would have parsed itself, on every corpus file,
// on generated logs, and on seeded random records with every optional field, odd numbers and odd strings. The
// columns cross as they do between threads: a structured clone with the typed arrays transferred.

/** encode, cross a thread boundary, decode */
function roundTrip(records: WireRecord[], interner = new Interner()): WireRecord[] {
  const columns = encodeRecords(records);
  const crossed = structuredClone(columns, { transfer: transferables(columns) });
  assert.equal(columns.ints.byteLength, 0, 'the typed arrays are handed over, not copied');
  return decodeRecords(crossed, interner);
}

async function readWhole(path: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of openInput(path)) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

function parsed(bytes: Buffer, fmt: string, tz = ''): WireRecord[] {
  return parseChunkRecords(new ChunkParsers(), { fmt, tz, pfx: '', eof: true, quiet: false }, bytes, { offset: 0, line: 0, context: undefined }).records;
}

const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

const ODD_STRINGS = ['', ' ', 'é', 'ünïcödé ✓', '\u0000', '\ud800', '\udfff x', '😀', 'a\nb\r\n', '__proto__', 'x'.repeat(5000)];
const ODD_NUMBERS = [0, -0, 1, -1, 0.1, 1e-300, 1e300, Number.MAX_SAFE_INTEGER, NaN, Infinity, -Infinity, 2 ** 31, -(2 ** 31) - 1];

function randomLabels(rand: () => number): Labels {
  const l: Labels = {};
  const n = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < n; i++) {
    const key = pick(rand, ['ip', 'thread', 'app', '__proto__', '0', '17', 'é', 'query_id']);
    const kind = rand();
    Object.defineProperty(l, key, { value: kind < 0.4 ? pick(rand, ODD_STRINGS) : kind < 0.8 ? pick(rand, ODD_NUMBERS) : rand() < 0.5, enumerable: true, writable: true, configurable: true });
  }
  return l;
}

function randomFacts(rand: () => number): PlanFacts {
  const f: PlanFacts = {};
  if (rand() < 0.5) f.fullScan = rand() < 0.5;
  if (rand() < 0.5) f.filesort = rand() < 0.5;
  if (rand() < 0.3) f.mergePasses = pick(rand, ODD_NUMBERS);
  if (rand() < 0.3) f.tmpTables = Math.floor(rand() * 10);
  return f;
}

function randomRecord(rand: () => number): WireRecord {
  const fp = pick(rand, ['select ?', 'select * from t where id = ?', 'update t set a = ? where b = ?', '']);
  // now and then a fingerprint cut to its bound: same text, another id
  const id = rand() < 0.1 ? '0xFFFF' : `0x${fp.length.toString(16)}`;
  const r: WireRecord = {
    state: rand() < 0.2 ? 'running' : 'finished',
    queryId: rand() < 0.1 ? pick(rand, ODD_STRINGS) : `${Math.floor(rand() * 1e6)}-${Math.floor(rand() * 1e12)}`,
    ts: rand() < 0.1 ? pick(rand, ODD_NUMBERS) : Math.floor(rand() * 4e12),
    durationMs: rand() < 0.1 ? pick(rand, ODD_NUMBERS) : rand() * 1e5,
    sql: rand() < 0.2 ? pick(rand, ODD_STRINGS) : `SELECT ${Math.floor(rand() * 1e9)}`,
    fingerprint: fp,
    fingerprintId: id,
  };
  if (rand() < 0.7) r.user = pick(rand, ['app', 'batch', '', 'é', '\ud800']);
  if (rand() < 0.7) r.db = pick(rand, ['shop', 'billing', '']);
  if (rand() < 0.5) r.host = pick(rand, ['app-01.internal', 'localhost', '']);
  if (rand() < 0.6) r.lockMs = pick(rand, ODD_NUMBERS);
  if (rand() < 0.6) r.rowsSent = pick(rand, ODD_NUMBERS);
  if (rand() < 0.6) r.rowsExamined = pick(rand, ODD_NUMBERS);
  if (rand() < 0.5) r.labels = randomLabels(rand);
  if (rand() < 0.2) r.plan = pick(rand, ODD_STRINGS);
  if (rand() < 0.2) r.planFacts = randomFacts(rand);
  if (rand() < 0.1) r.kind = 'statement_stats';
  if (rand() < 0.1) r.calls = pick(rand, ODD_NUMBERS);
  return r;
}

describe('record columns: what a parse thread hands over reads back as the records', () => {
  it('on every file of the corpus', async () => {
    const files: Array<[path: string, fmt: string]> = corpusFiles('mysql-slow').map((f) => [corpusFile('mysql-slow', f), 'mysql-slow']);
    for (const f of corpusFiles('postgres')) {
      const [fmt, options] = POSTGRES_CORPUS_FORMATS[f] ?? [];
      // only formats a client ships raw (a log line prefix is a client setting the chunk path does not carry)
      if (fmt && !options) files.push([corpusFile('postgres', f), fmt]);
    }
    let records = 0;
    for (const [path, fmt] of files) {
      const recs = parsed(await readWhole(path), fmt);
      records += recs.length;
      assert.deepStrictEqual(roundTrip(recs), recs, path);
    }
    assert.ok(records > 1_000, `only ${records} records in the corpus`);
  });

  it('on generated MySQL and MariaDB logs, chunk after chunk with one interner', () => {
    for (const flavor of ['mysql', 'mariadb'] as MySqlSlowFlavor[]) {
      const g = new MySqlSlowLogGenerator({ seed: 7, flavor, slowFraction: 0.1, threads: 30 });
      let text = g.banner();
      for (let i = 0; i < 3_000; i++) text += g.next().text;
      const recs = parsed(Buffer.from(text), 'mysql-slow');
      const interner = new Interner(50); // small: it is cleared on the way
      for (let at = 0; at < recs.length; at += 500) {
        const part = recs.slice(at, at + 500);
        assert.deepStrictEqual(roundTrip(part, interner), part, `${flavor} records ${at}…`);
      }
    }
  });

  it('on 20,000 random records with every optional field, odd numbers and odd strings (seeded)', () => {
    const rand = prng(20261203);
    for (let batch = 0; batch < 200; batch++) {
      const recs = Array.from({ length: Math.floor(rand() * 200) }, () => randomRecord(rand));
      const back = roundTrip(recs);
      assert.deepStrictEqual(back, recs, `batch ${batch}`);
      // -0 and NaN survive, and so does a label named __proto__ (an own field, not a prototype)
      for (let i = 0; i < recs.length; i++) {
        assert.ok(Object.is(back[i]!.ts, recs[i]!.ts) && Object.is(back[i]!.lockMs, recs[i]!.lockMs), `batch ${batch} record ${i}`);
        if (recs[i]!.labels) assert.deepStrictEqual(Object.entries(back[i]!.labels!), Object.entries(recs[i]!.labels!));
      }
    }
  });

  it('records of a chunk with equal labels share one object; keys in toWire\'s order', () => {
    const recs = parsed(Buffer.from(new MySqlSlowLogGenerator({ seed: 3, flavor: 'mysql', threads: 2 }).banner() + Array.from({ length: 50 }, (_, i) => `# Time: 2026-11-22T06:00:${String(i).padStart(2, '0')}.000000Z\n# User@Host: app[app] @ h [10.0.0.1]  Id: 1\n# Query_time: 1.0  Lock_time: 0.0 Rows_sent: 1  Rows_examined: 1\nSET timestamp=1795327200;\nSELECT ${i};\n`).join('')), 'mysql-slow');
    assert.equal(recs.length, 50);
    const back = roundTrip(recs);
    assert.equal(new Set(back.map((r) => r.labels)).size, 1);
    assert.deepStrictEqual(back.map((r) => Object.keys(r)), recs.map((r) => Object.keys(r)));
  });

  it('refuses what it cannot carry exactly, and columns that do not hold together', () => {
    const r: WireRecord = { state: 'finished', queryId: 'q', ts: 1, durationMs: 1, sql: 's', fingerprint: 'f', fingerprintId: 'i' };
    assert.throws(() => encodeRecords([{ ...r, state: 'paused' as never }]), /state paused/);
    assert.throws(() => encodeRecords([{ ...r, kind: 'other' as never }]), /kind other/);
    const good = encodeRecords([r, r]);
    const bad = (change: Partial<RecordColumns>): RecordColumns => ({ ...encodeRecords([r, r]), ...change });
    assert.deepStrictEqual(decodeRecords(good, new Interner()), [r, r]);
    assert.throws(() => decodeRecords(bad({ count: 3 }), new Interner()), /do not match/);
    assert.throws(() => decodeRecords(bad({ strings: ['q', 's', 'q'] }), new Interner()), /outside a dictionary|strings/);
    assert.throws(() => decodeRecords(bad({ strings: ['q', 's', 'q', 's', 'extra'] }), new Interner()), /5 strings/);
    assert.throws(() => decodeRecords(bad({ classes: [] }), new Interner()), /outside a dictionary/);
  });
});
