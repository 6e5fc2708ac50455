import { before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fingerprint, fingerprintOneScan } from '../src/formats/fingerprint.js';
import { fingerprintReference } from '../src/formats/fingerprint-reference.js';
import { openInput, parseStream } from '../src/formats/read-file.js';
import type { ParserOptions } from '../src/formats/parsers/index.js';
import { MySqlSlowLogGenerator } from '../src/workload/mysql-slow-generator.js';
import { corpusFile, corpusFiles, POSTGRES_CORPUS_FORMATS } from './support/corpus.js';
import { SqlStatements } from './support/sql-statements.js';

// The one-scan fingerprint() against the reference (the rules as pt-query-digest applies them, pass after
// pass): equal on every statement of the corpus and on generated and mutated ones. Seeded: SLOWQ_DIFF_SEED
// picks another seed, SLOWQ_DIFF_COUNT the number of mutants (CI runs 50,000; run 1,000,000 after a change
// to either function). A mismatch prints its seed and case, the input and both outputs.

const COUNT = Number(process.env.SLOWQ_DIFF_COUNT ?? 50_000);
const SEED = Number(process.env.SLOWQ_DIFF_SEED ?? 20261122);
/** share of realistic statements the scan must do itself (the rest go to the reference) */
const MIN_ONE_SCAN = 0.99;

class Tally {
  cases = 0;
  oneScan = 0;
  readonly mismatches: string[] = [];

  check(sql: string, where: string): void {
    this.cases++;
    if (fingerprintOneScan(sql) !== undefined) this.oneScan++;
    const want = fingerprintReference(sql);
    const got = fingerprint(sql);
    if (got !== want && this.mismatches.length < 10) {
      this.mismatches.push(`${where}\n  input:     ${JSON.stringify(sql)}\n  reference: ${JSON.stringify(want)}\n  one scan:  ${JSON.stringify(got)}`);
    }
  }

  report(t: TestContext, what: string): void {
    t.diagnostic(`${what}: ${this.cases} cases, ${this.oneScan} (${((100 * this.oneScan) / Math.max(1, this.cases)).toFixed(2)}%) done in one scan`);
    assert.equal(this.mismatches.length, 0, `fingerprint() differs from the reference:\n${this.mismatches.join('\n')}`);
  }

  oneScanShare(): number {
    return this.oneScan / Math.max(1, this.cases);
  }
}

// Statements of the corpus as the parsers give them: the MySQL slow logs, and the PostgreSQL logs with the
// format and log_line_prefix each was written with (pgbouncer logs hold no statements: their lines are checked).
/** statements of the corpus (parsed, each once), for the corpus test and as material for mutants */
const corpusStatements = new Set<string>();
/** every line of every corpus file (each once) */
const corpusLines = new Set<string>();

/** A corpus file, decompressed (.bz2 by the system's bzip2 when there is one: the JavaScript decoder takes seconds). */
async function readCorpusFile(path: string): Promise<Buffer> {
  if (path.endsWith('.bz2')) {
    try {
      return execFileSync('bzip2', ['-dc', path], { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      // no bzip2: read-file's decoder
    }
  }
  const parts: Buffer[] = [];
  for await (const c of openInput(path)) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function loadCorpus(): Promise<void> {
  const files: Array<[path: string, format?: string, options?: ParserOptions]> = [];
  for (const f of corpusFiles('mysql-slow')) files.push([corpusFile('mysql-slow', f), 'mysql-slow']);
  for (const f of corpusFiles('postgres')) {
    const [format, options] = POSTGRES_CORPUS_FORMATS[f] ?? [];
    files.push([corpusFile('postgres', f), format, options]);
  }
  for (const [path, format, options] of files) {
    const content = await readCorpusFile(path);
    for (const line of content.toString().split('\n')) corpusLines.add(line);
    if (!format) continue;
    await parseStream((async function* () { yield content; })(), format, (events) => {
      for (const e of events) {
        corpusStatements.add(e.sql);
        corpusStatements.add(e.sql.replace(/[\s;]+$/, '')); // the PostgreSQL parsers fingerprint the text without them
      }
    }, () => {}, options);
  }
}

describe('fingerprint(): one scan = the reference', () => {
  before(async () => {
    await loadCorpus();
  });

  it('on every statement of the corpus, and on every line of it', (t) => {
    assert.ok(corpusStatements.size > 1_000, `only ${corpusStatements.size} statements in the corpus`);
    const statements = new Tally();
    for (const sql of corpusStatements) statements.check(sql, 'corpus statement');
    statements.report(t, 'corpus statements (distinct)');
    assert.ok(statements.oneScanShare() >= MIN_ONE_SCAN, 'most corpus statements are done in one scan');
    const lines = new Tally();
    for (const line of corpusLines) lines.check(line, 'corpus line');
    lines.report(t, 'corpus lines (distinct)');
  });

  it('on the statements of the MySQL slow-log generator and of the realistic statement generator', (t) => {
    const tally = new Tally();
    const log = new MySqlSlowLogGenerator({ seed: SEED });
    for (let i = 0; i < 20_000; i++) tally.check(log.next().sql, `MySqlSlowLogGenerator seed ${SEED} entry ${i}`);
    const g = new SqlStatements(SEED);
    for (let i = 0; i < Math.max(20_000, COUNT / 10); i++) tally.check(g.statement(), `SqlStatements seed ${SEED} statement ${i}`);
    tally.report(t, 'generated statements');
    assert.ok(tally.oneScanShare() >= MIN_ONE_SCAN, 'most generated statements are done in one scan');
  });

  it(`on ${COUNT} mutated statements (seed ${SEED})`, (t) => {
    const tally = new Tally();
    const log = new MySqlSlowLogGenerator({ seed: SEED + 1 });
    const logStatements = Array.from({ length: 2_000 }, () => log.next().sql);
    const corpus = [...corpusStatements];
    for (let i = 0; i < COUNT; i++) {
      const caseSeed = (SEED + Math.imul(i, 0x9e3779b1)) >>> 0; // each case on its own: reproducible alone
      const g = new SqlStatements(caseSeed);
      const from = (): string => {
        const p = g.int(4);
        if (p === 0 && corpus.length > 0) return g.pick(corpus);
        if (p === 1) return g.pick(logStatements);
        return g.statement();
      };
      tally.check(g.mutate(from(), from()), `SLOWQ_DIFF_SEED=${SEED} case ${i} (case seed ${caseSeed})`);
    }
    tally.report(t, 'mutated statements');
  });

  it('on every sequence of up to 3 tokens the rules turn on, and on random sequences of up to 8', (t) => {
    const tokens = [
      "'", '"', '\\', "\\'", '/*', '*/', '/*!', '#', '--', '-', '+', '.', '1', '0x', 'x', 'b', '?', '(', ')', '()', '(?)', ',', ' ', '\n', '\v',
      'false', 'TRUE', 'null', 'in', 'values', 'value', 'limit', ' offset ', 'order by', 'asc', 'select', 'union', 'use', 'call', 'é',
    ];
    const tally = new Tally();
    let level = [''];
    for (let len = 1; len <= 3; len++) {
      const next: string[] = [];
      for (const s of level) for (const c of tokens) next.push(s + c);
      for (const s of next) tally.check(s, `token sequence ${len}`);
      level = next;
    }
    const g = new SqlStatements(SEED);
    for (let i = 0; i < COUNT; i++) {
      let s = '';
      for (let k = 1 + g.int(8); k > 0; k--) s += g.pick(tokens);
      tally.check(s, `random token sequence ${i}`);
    }
    tally.report(t, 'token sequences');
  });

  it('on every string of up to 4 characters over the characters the rules turn on', (t) => {
    const alphabet = ["'", '"', '\\', '/', '*', '!', '-', '#', '1', 'x', '.', '?', '(', ')', ' ', '\n', 'n'];
    const tally = new Tally();
    let level = [''];
    for (let len = 1; len <= 4; len++) {
      const next: string[] = [];
      for (const s of level) for (const c of alphabet) next.push(s + c);
      for (const s of next) tally.check(s, `exhaustive ${len}`);
      level = next;
    }
    tally.report(t, 'short strings');
  });
});
