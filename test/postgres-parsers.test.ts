import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ParsedEvent } from '../src/model/record.js';
import { LineSplitter } from '../src/formats/line-splitter.js';
import { openInput, parseFile } from '../src/formats/read-file.js';
import { createParser, FORMAT_NAMES } from '../src/formats/parsers/index.js';
import { newParseOutput, type ParseProblem, type RecordParser } from '../src/formats/parsers/types.js';
import { compileLogLinePrefix, PostgresStderrParser, DEFAULT_LOG_LINE_PREFIX } from '../src/formats/parsers/postgres.js';
import { PostgresCsvParser, splitCsv } from '../src/formats/parsers/postgres-csv.js';
import { PostgresJsonParser } from '../src/formats/parsers/postgres-json.js';

/** The start of a query id at the default resolution (whole seconds, as `slowq probe`). */
const sec = (ms: number): number => Math.floor(ms / 1000) * 1000;
import { parsePgTimestamp, readExecMessage, QueryIdAllocator } from '../src/formats/parsers/postgres-common.js';
import { LogTimeZone } from '../src/formats/time-zones.js';
import { corpusFile, corpusFiles } from './support/corpus.js';

/** The path of a file of the PostgreSQL corpus (a missing one throws, naming it). */
const pgFile = (name: string): string => corpusFile('postgres', name);
const mysqlSlowFile = (): string => corpusFile('mysql-slow', 'slow002.txt');

interface Result {
  events: ParsedEvent[];
  problems: ParseProblem[];
  skipped: number;
  lines: number;
}

/** Feeds byte chunks through a LineSplitter into a parser, like the tailer and parseFile do. */
function feedChunks(parser: RecordParser, chunks: Buffer[], startOffset = 0): Result {
  const out = newParseOutput();
  const splitter = new LineSplitter(startOffset);
  let lines = 0;
  const sink = {
    line: (text: string, offset: number, end: number) => parser.line(text, offset, end, ++lines, out),
    oversize: () => {
      lines++;
    },
  };
  for (const c of chunks) splitter.push(c, sink);
  splitter.finish(sink);
  parser.flush(true, out);
  return { events: out.events, problems: out.problems, skipped: out.skipped, lines };
}

function feedText(parser: RecordParser, text: string): Result {
  return feedChunks(parser, [Buffer.from(text)]);
}

/** The whole (decompressed) content of a corpus file. */
async function readCorpus(path: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of openInput(path)) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Independent count of executed-statement messages: a line with `LOG:  duration: N ms  statement|execute …`. */
function countExecLines(text: string): number {
  let n = 0;
  for (const l of text.split('\n')) if (/\bLOG:\s+duration: [\d.]+ ms\s+(statement: |execute [^:]*: )/.test(l)) n++;
  return n;
}

describe('log_line_prefix compiler', () => {
  test('default prefix matches session and non-session lines and captures fields', () => {
    const c = compileLogLinePrefix(DEFAULT_LOG_LINE_PREFIX);
    const m = c.regex.exec('2025-01-21 18:38:06.453 CET [78798] gilles@shop ERROR:  oops');
    assert.ok(m);
    assert.equal(m[c.groups.ts!], '2025-01-21 18:38:06.453 CET');
    assert.equal(m[c.groups.pid!], '78798');
    assert.equal(m[c.groups.user!], 'gilles');
    assert.equal(m[c.groups.db!], 'shop');
    assert.equal(m[c.severityGroup], 'ERROR');
    // %q: a non-session process stops the prefix there
    const n = c.regex.exec('2025-01-21 18:37:49.802 CET [78776] LOG:  database system is ready');
    assert.ok(n);
    assert.equal(n[c.groups.user!], undefined);
    assert.equal(c.regex.exec('2018-09-12 16:08:54.775 3392 LOG file descriptor limit: 1024'), null);
  });

  test('escapes with spaces, hosts, padding, %% and unknown escapes', () => {
    const c = compileLogLinePrefix('%t:%r:%u@%d:[%p]:');
    const m = c.regex.exec('2020-03-11 20:40:50 CET:192.168.1.201(50906):gilles@pgbench:[12795]:FATAL:  no entry');
    assert.ok(m);
    assert.equal(m[c.groups.remote!], '192.168.1.201(50906)');
    const empty = c.regex.exec('2020-03-11 20:40:43 CET::@:[12760]:LOG:  starting');
    assert.ok(empty);
    const a = compileLogLinePrefix('%m [%p] app=%a,tag=%i %% %Z%-8u|');
    const ma = a.regex.exec('2024-01-01 00:00:00.000 UTC [1] app=pgAdmin 4 - DB:x,tag=idle in transaction % bob     |LOG:  x');
    assert.ok(ma);
    assert.equal(ma[a.groups.app!], 'pgAdmin 4 - DB:x');
    assert.equal(ma[a.groups.commandTag!], 'idle in transaction');
    assert.equal(ma[a.groups.user!]!.trim(), 'bob');
  });
});

describe('message interpretation', () => {
  test('statement and execute are executions; parse, bind, bare duration, plan and statement-only are not', () => {
    assert.deepEqual(readExecMessage('duration: 12.345 ms  statement: SELECT 1'), { step: 'statement', durationMs: 12.345, sql: 'SELECT 1' });
    assert.deepEqual(readExecMessage('duration: 1 ms  execute <unnamed>: SELECT $1'), { step: 'execute', durationMs: 1, sql: 'SELECT $1', name: '<unnamed>' });
    assert.equal(readExecMessage('duration: 1.5 ms  execute fetch from S_1/C_2: SELECT 2')?.name, 'fetch from S_1/C_2');
    assert.equal(readExecMessage('duration: 0.7 ms  parse S_1: SELECT 1'), undefined);
    assert.equal(readExecMessage('duration: 0.7 ms  bind S_1: SELECT 1'), undefined);
    assert.equal(readExecMessage('duration: 0.7 ms'), undefined);
    assert.equal(readExecMessage('duration: 0.7 ms  plan:'), undefined);
    assert.equal(readExecMessage('statement: SELECT 1'), undefined);
  });

  test('time stamps: zone abbreviations, numeric zones, ISO, epoch; unknown zones flagged', () => {
    assert.equal(parsePgTimestamp('2019-10-21 12:03:31.311 MSK'), Date.UTC(2019, 9, 21, 9, 3, 31, 311));
    assert.equal(parsePgTimestamp('2024-06-27 00:00:07 CEST'), Date.UTC(2024, 5, 26, 22, 0, 7));
    assert.equal(parsePgTimestamp('2024-01-01 10:00:00 +0530'), Date.UTC(2024, 0, 1, 4, 30));
    assert.equal(parsePgTimestamp('2024-01-01 10:00:00 -03'), Date.UTC(2024, 0, 1, 13, 0));
    assert.equal(parsePgTimestamp('2020-05-02T13:00:20.382318Z'), Date.UTC(2020, 4, 2, 13, 0, 20, 382));
    assert.equal(parsePgTimestamp('1669575482.097'), 1669575482097);
    assert.deepEqual(parsePgTimestamp('2024-01-01 00:00:00 XYZT'), { unknownZone: 'XYZT', ms: Date.UTC(2024, 0, 1) });
    assert.equal(parsePgTimestamp('yesterday'), undefined);
  });

  test('query ids: pid-start, repeats numbered in file order, state survives context/restore', () => {
    const a = new QueryIdAllocator();
    assert.equal(a.next('7', 1000, 990), '7-990');
    assert.equal(a.next('7', 1000, 995), '7-995');
    assert.equal(a.next('7', 1000, 990), '7-990-2');
    assert.equal(a.next('8', 1000, 990), '8-990');
    const b = new QueryIdAllocator();
    b.restore(JSON.parse(JSON.stringify(a.context())));
    assert.equal(b.next('7', 1000, 990), '7-990-3');
    assert.equal(b.next('7', 60_000, 990), '7-990', 'long after, the old start is forgotten (the backend moved on)');
  });

  test('query ids: a context is made again only after a change, and one taken before is never changed by later ones', () => {
    // the client stamps the context on every event it reads; each must stay what it was when taken
    const a = new QueryIdAllocator();
    for (let pid = 1; pid <= 50; pid++) a.next(String(pid), 1000, 990, pid);
    const first = a.context();
    assert.equal(a.context(), first, 'nothing changed: the same context');
    const frozen = JSON.stringify(first);
    a.next('7', 1001, 995, 100);
    a.next('7', 1001, 990, 101);
    const second = a.context();
    assert.notEqual(second, first);
    assert.equal(JSON.stringify(first), frozen, 'the earlier context is as it was');
    const b = new QueryIdAllocator();
    b.restore(JSON.parse(JSON.stringify(second)));
    assert.equal(b.next('7', 1001, 990, 102), '7-990-3', 'the later one holds the change');
    assert.equal(b.next('8', 1001, 990, 8), '8-990', 'and the backends that did not change (the same execution read again)');
  });

  test('query ids: the statement still running after its start second has the plain id (what slowq probe writes), even after quick ones', () => {
    const log = [
      '2024-01-01 00:00:05.100 UTC [7] a@b LOG:  duration: 0.200 ms  statement: BEGIN',
      '2024-01-01 00:00:05.102 UTC [7] a@b LOG:  duration: 1.000 ms  statement: SELECT 1',
      '2024-01-01 00:00:08.110 UTC [7] a@b LOG:  duration: 3000.000 ms  statement: SELECT pg_sleep(3)',
      '',
    ].join('\n');
    const r = feedText(new PostgresStderrParser(), log);
    const t = Date.UTC(2024, 0, 1, 0, 0, 5);
    assert.deepEqual(r.events.map((e) => e.queryId), [`7-${t}#0`, `7-${t}#${r.events[1]!.offset}`, `7-${t}`]);
  });
});

describe('postgres (stderr)', () => {
  const prefix = (logLinePrefix: string) => new PostgresStderrParser({ logLinePrefix });

  test('multiline_param.log: statements and executes counted, parse/bind skipped, parameters attached', async () => {
    const r = feedChunks(prefix('%m [%p] user=%u,db=%d '), [await readCorpus(pgFile('multiline_param.log'))]);
    assert.equal(r.problems.length, 0);
    assert.equal(r.events.length, 5, '3 statements + 2 executes');
    assert.equal(r.skipped, 5, '1 parse + 2 bind + the 2 DETAIL lines of the binds');
    const [s1, s2, s3, e1, e2] = r.events as [ParsedEvent, ParsedEvent, ParsedEvent, ParsedEvent, ParsedEvent];
    assert.equal(s1.ts, Date.UTC(2021, 11, 3, 7, 14, 48, 591));
    assert.equal(s1.durationMs, 124.928);
    // started and ended within one second: never seen running by a probe, so the plain id is left to a statement
    // of the backend that runs past that second; `#offset` keeps it unique
    assert.equal(s1.queryId, `4913-${sec(Math.round(s1.ts - 124.928))}#${s1.offset}`);
    assert.equal(s1.user, 'user1');
    assert.equal(s1.db, 'mydb');
    assert.equal(s2.queryId, `4913-${sec(s2.ts)}#${s2.offset}`);
    assert.equal(s3.queryId, `4913-${sec(s3.ts)}#${s3.offset}`, 'same pid and start second: told apart by offset');
    assert.equal(e1.labels?.step, 'execute');
    assert.equal(e1.labels?.prepared, 'njTypeOidQuery_Name');
    assert.equal(e1.labels?.params, "$1 = '1234', $2 = 'njchar\nhello', $3 = 'aaaa'");
    assert.equal(e2.labels?.params, "$1 = '1234', $2 = 'njvarchar\nbye', $3 = 'iiii'");
    assert.equal(e2.end, 2172, 'the event ends after its DETAIL continuation line');
  });

  test('stmt_type.log: twelve statements, MSK time stamps', async () => {
    const r = feedChunks(prefix('%m [%p] '), [await readCorpus(pgFile('stmt_type.log'))]);
    assert.equal(r.events.length, 12);
    assert.equal(r.problems.length, 0);
    assert.equal(r.skipped, 0);
    assert.equal(r.events[0]!.ts, Date.UTC(2019, 9, 21, 9, 3, 31, 311));
    assert.equal(r.events[4]!.sql, "UPDATE test SET col1='forêt & océan' WHERE col2 = 1;");
  });

  test('pg_rawcsv.log (default prefix): ERROR/STATEMENT and server messages skipped, foreign lines are problems', async () => {
    const r = feedChunks(new PostgresStderrParser(), [await readCorpus(pgFile('pg_rawcsv.log'))]);
    assert.equal(r.events.length, 0);
    assert.equal(r.skipped, 12);
    assert.deepEqual(r.problems.map((p) => [p.line, p.offset, p.text]), [
      [3, 220, 'pg_ctl: could not start server'],
      [4, 251, 'Examine the log output.'],
    ]);
  });

  test('begin_end.log: connections only, no events', async () => {
    const r = feedChunks(prefix('%t [%p]: db=%d,user=%u,app=%a,client=%h '), [await readCorpus(pgFile('begin_end.log'))]);
    assert.deepEqual([r.events.length, r.skipped, r.problems.length], [0, 24, 0]);
  });

  test('pg-timezones.log: single-space variant, %r host', async () => {
    const r = feedChunks(prefix('%t:%r:%u@%d:[%p]:'), [await readCorpus(pgFile('pg-timezones.log'))]);
    assert.equal(r.events.length, 2);
    assert.equal(r.events[0]!.host, '10.1.91.65');
    assert.equal(r.events[0]!.sql, 'SELECT * FROM t1;');
    assert.equal(r.events[1]!.ts, Date.UTC(2021, 4, 27, 17, 46, 39));
  });

  test('postgresql_param_range.log: execute <unnamed> with parameters, %l and %a labels', async () => {
    const r = feedChunks(prefix('%t [%p]: [%l-1] [%x] usr=%u,db=%d,appli=%a '), [await readCorpus(pgFile('postgresql_param_range.log'))]);
    assert.equal(r.events.length, 3);
    assert.equal(r.skipped, 0);
    const e = r.events[0]!;
    assert.equal(e.labels?.prepared, '<unnamed>');
    assert.equal(e.labels?.session_line, 247);
    assert.equal(e.labels?.application, '76ae131687c458a8');
    assert.match(String(e.labels?.params), /^\$1 = 'F99278492'/);
    assert.equal(e.queryId, `130096-${sec(Math.round(Date.UTC(2023, 2, 7, 8, 6, 8) - 778.166))}`);
  });

  test('queryid.log.gz: multi-line statements, %Q label, empty and space-indented lines', async () => {
    const buf = await readCorpus(pgFile('queryid.log.gz'));
    const r = feedChunks(prefix('%m [%p] [queryid=%Q] %q%u@%d '), [buf]);
    assert.equal(r.events.length, countExecLines(buf.toString()));
    assert.equal(r.problems.length, 0);
    const e = r.events[1]!;
    assert.equal(e.labels?.query_id, '4266247047529477710');
    assert.match(e.sql, /^SELECT n\.nspname as "Schema",\n  c\.relname as "Name",\n/);
    assert.match(e.sql, /\nORDER BY 1,2;$/);
  });

  // Files whose executed statements can be counted line by line, with their log_line_prefix.
  const counted: [file: string, prefix: string, syslog: boolean][] = [
    ['tempfile_only.log.gz', '%t [%p]: [%l-1] user=%u,db=%d ', false],
    ['pg_vacuums.log.gz', '%t [%p]: [%l-1] user=%u,db=%d,host=%h,app=%a ', false],
    ['light.postgres.log.bz2', '%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ', false],
    ['rds.log.bz2', '%t:%r:%u@%d:[%p]:', false],
    ['pg-syslog.1.bz2', 'db=%d,user=%u,app=%a,client=%h ', true],
    ['pg-syslog.2.gz', 'db=%d,user=%u,app=%a,client=%h ', true],
    ['logplex.gz', ' sql_error_code = %e ', true],
  ];
  for (const [file, logLinePrefix, syslog] of counted) {
    test(`${file}: one event per duration+statement/execute line`, async () => {
      const buf = await readCorpus(pgFile(file));
      const text = buf.toString();
      const r = feedChunks(new PostgresStderrParser({ logLinePrefix, syslogYear: 2019 }), [buf]);
      assert.equal(r.events.length, countExecLines(text));
      // syslog files also hold other programs' lines (systemd): those, and only those, are problems
      const foreign = syslog ? text.split('\n').filter((l) => l.length > 0 && !/(?:postgres|app)\[(?:postgres\.)?\d+\]/.test(l)).length : 0;
      assert.equal(r.problems.length, foreign);
      for (const e of r.events) assert.ok(Number.isFinite(e.ts) && e.durationMs >= 0 && e.queryId.length > 0);
    });
  }

  test('syslog: numbered continuation lines rebuild the statement; syslog time stamp with the given year', async () => {
    const buf = await readCorpus(pgFile('pg-syslog.2.gz'));
    const r = feedChunks(new PostgresStderrParser({ logLinePrefix: 'db=%d,user=%u,app=%a,client=%h ', syslogYear: 2019 }), [buf.subarray(0, 4000)]);
    const e = r.events[0]!;
    assert.equal(e.ts, Date.UTC(2019, 1, 10, 23, 15, 40));
    assert.equal(e.labels?.pid, 10819);
    assert.equal(e.labels?.application, 'psql');
    assert.equal(e.host, '[local]');
    assert.equal(
      e.sql,
      'SELECT d.datname as "Name",\n       pg_catalog.pg_get_userbyid(d.datdba) as "Owner",\n' +
        '       pg_catalog.pg_encoding_to_char(d.encoding) as "Encoding",\n       d.datcollate as "Collate",\n' +
        '       d.datctype as "Ctype",\n       pg_catalog.array_to_string(d.datacl, E\'\\n\') AS "Access privileges"\n' +
        'FROM pg_catalog.pg_database d\nORDER BY 1;',
    );
  });

  test('Heroku logplex: pid from app[postgres.N], space-led pieces joined', async () => {
    const r = feedChunks(new PostgresStderrParser({ logLinePrefix: ' sql_error_code = %e ' }), [await readCorpus(pgFile('logplex.gz'))]);
    assert.equal(r.events.length, 4);
    const last = r.events[3]!;
    assert.equal(last.labels?.pid, 5925);
    assert.equal(last.durationMs, 85756.273);
    assert.match(last.sql, /^UPDATE "checkers" SET redundant_missions_count = +\( +select COUNT\(id\) from missions/);
  });

  test('ERROR+STATEMENT, parse/bind, bare durations, statement-only and other messages are skipped, not emitted', () => {
    const log = [
      '2024-01-01 00:00:00.100 UTC [10] app@db ERROR:  relation "x" does not exist at character 15',
      '2024-01-01 00:00:00.100 UTC [10] app@db STATEMENT:  select * from x',
      '2024-01-01 00:00:00.200 UTC [10] app@db LOG:  duration: 0.100 ms  parse <unnamed>: select 1',
      '2024-01-01 00:00:00.300 UTC [10] app@db LOG:  duration: 0.100 ms  bind <unnamed>: select 1',
      '2024-01-01 00:00:00.301 UTC [10] app@db DETAIL:  parameters: $1 = \'a\'',
      '2024-01-01 00:00:00.400 UTC [10] app@db LOG:  duration: 5.000 ms',
      '2024-01-01 00:00:00.500 UTC [10] app@db LOG:  statement: select pg_sleep(1)',
      '2024-01-01 00:00:00.600 UTC [11] LOG:  checkpoint starting: time',
      '2024-01-01 00:00:00.700 UTC [10] app@db LOG:  duration: 2.000 ms  plan:',
      '\tQuery Text: select 1',
      '2024-01-01 00:00:01.000 UTC [10] app@db LOG:  duration: 1000.000 ms  statement: select pg_sleep(1)',
      '',
    ].join('\n');
    const r = feedText(new PostgresStderrParser(), log);
    assert.equal(r.problems.length, 0);
    assert.equal(r.skipped, 8);
    // the auto_explain plan of another statement than the next duration entry's is a record of its own
    assert.deepEqual(r.events.map((e) => [e.labels?.step, e.sql]), [['plan', 'select 1'], ['statement', 'select pg_sleep(1)']]);
    assert.equal(r.events[1]!.queryId, `10-${Date.UTC(2024, 0, 1, 0, 0, 0)}`);
  });

  test('an event waits for the next message (its DETAIL may follow); flush(false) emits it at an idle end', () => {
    const p = new PostgresStderrParser();
    const out = newParseOutput();
    const l1 = "2024-01-01 00:00:01.000 UTC [10] u@d LOG:  duration: 3.000 ms  execute S_1: select $1";
    const l2 = "2024-01-01 00:00:01.000 UTC [10] u@d DETAIL:  parameters: $1 = '42'";
    p.line(l1, 0, l1.length + 1, 1, out);
    assert.equal(out.events.length, 0);
    p.line(l2, l1.length + 1, l1.length + l2.length + 2, 2, out);
    assert.equal(out.events.length, 0);
    p.flush(false, out);
    assert.equal(out.events.length, 1);
    assert.equal(out.events[0]!.labels?.params, "$1 = '42'");
    assert.equal(out.events[0]!.end, l1.length + l2.length + 2);
    p.flush(true, out);
    assert.equal(out.events.length, 1, 'nothing is emitted twice');
  });

  test('a statement without a time stamp in the prefix is a problem, not an event with a made-up time', () => {
    const r = feedText(new PostgresStderrParser({ logLinePrefix: '[%p] ' }), '[5] LOG:  duration: 1.000 ms  statement: select 1\n');
    assert.equal(r.events.length, 0);
    assert.equal(r.problems.length, 1);
    assert.match(r.problems[0]!.reason, /no %m, %t or %n/);
  });

  test('a trailing semicolon does not make another fingerprint class', () => {
    const log = ['select 1', 'select 1;', 'select 1 ; '].map((q, i) => `2024-01-01 00:00:0${i}.500 UTC [7] a@b LOG:  duration: 1.000 ms  statement: ${q}`).join('\n') + '\n';
    const events = feedText(new PostgresStderrParser(), log).events;
    assert.equal(events.length, 3);
    assert.deepEqual(new Set(events.map((e) => e.fingerprintId)).size, 1);
    assert.equal(events[1]!.sql, 'select 1;', 'the statement text itself is kept as logged');
  });

  test('%t (second precision): repeated starts of one backend get distinct, deterministic ids', () => {
    const log = [1.2, 0.9, 1.1].map((d) => `2024-01-01 00:00:01 UTC [7]: LOG:  duration: ${d} ms  statement: select 1`).join('\n') + '\n';
    const ids = feedText(new PostgresStderrParser({ logLinePrefix: '%t [%p]: ' }), log).events.map((e) => e.queryId);
    const t = Date.UTC(2024, 0, 1, 0, 0, 1);
    assert.deepEqual(ids, [`7-${sec(t - 1)}`, `7-${sec(t - 1)}-2`, `7-${sec(t - 1)}-3`]);
    assert.deepEqual(feedText(new PostgresStderrParser({ logLinePrefix: '%t [%p]: ' }), log).events.map((e) => e.queryId), ids);
  });

  test('idResolutionMs: the start in ids cut to whole seconds by default, like slowq probe; 1 keeps ms', () => {
    const log = '2024-01-01 00:00:05.250 UTC [7] a@b LOG:  duration: 2000.000 ms  statement: select 1\n';
    const [e] = feedText(new PostgresStderrParser(), log).events;
    assert.equal(e!.queryId, `7-${Date.UTC(2024, 0, 1, 0, 0, 3)}`);
    const [f] = feedText(new PostgresStderrParser({ idResolutionMs: 1 }), log).events;
    assert.equal(f!.queryId, `7-${Date.UTC(2024, 0, 1, 0, 0, 3, 250)}`);
  });

  test('unknown time zone: every record is a problem naming its line and --log-timezone, none is emitted; tzOffsets adds zones', () => {
    const log = '2024-01-01 00:00:01 XYZT [7]: LOG:  duration: 1 ms  statement: a\n2024-01-01 00:00:02 XYZT [7]: LOG:  duration: 1 ms  statement: b\n';
    const r = feedText(new PostgresStderrParser({ logLinePrefix: '%t [%p]: ' }), log);
    assert.equal(r.events.length, 0);
    assert.deepEqual(r.problems.map((p) => [p.line, p.offset]), [[1, 0], [2, log.indexOf('\n') + 1]]);
    assert.match(r.problems[0]!.reason, /unknown time zone abbreviation "XYZT".*--log-timezone/);
    const r2 = feedText(new PostgresStderrParser({ logLinePrefix: '%t [%p]: ', tzOffsets: { XYZT: 60 } }), log);
    assert.equal(r2.problems.length, 0);
    assert.equal(r2.events[0]!.ts, Date.UTC(2023, 11, 31, 23, 0, 1));
  });

  test('context/restore: resuming at an event end gives the same later events', async () => {
    const buf = await readCorpus(pgFile('multiline_param.log'));
    const parser = () => new PostgresStderrParser({ logLinePrefix: '%m [%p] user=%u,db=%d ' });
    const whole = feedChunks(parser(), [buf]).events;
    for (let k = 0; k < whole.length - 1; k++) {
      // replay up to event k, as the tailer would before committing its end offset
      const p = parser();
      const out = newParseOutput();
      const splitter = new LineSplitter(0);
      let ctx: unknown;
      splitter.push(buf, {
        line: (text, offset, end) => {
          p.line(text, offset, end, 0, out);
          if (out.events.length === k + 1 && ctx === undefined) ctx = JSON.parse(JSON.stringify(p.context() ?? null));
        },
        oversize: () => {},
      });
      const resumeAt = out.events[k]!.end;
      const resumed = parser();
      resumed.restore(ctx);
      const rest = feedChunks(resumed, [buf.subarray(resumeAt)], resumeAt).events;
      assert.deepEqual(rest, whole.slice(k + 1), `resume after event ${k}`);
    }
  });

  test('chunk boundaries: any split of a multi-line file into two chunks gives the same events', async () => {
    for (const [file, logLinePrefix] of [['multiline_param.log', '%m [%p] user=%u,db=%d '], ['postgresql_param_range.log', '%t [%p]: [%l-1] [%x] usr=%u,db=%d,appli=%a ']] as const) {
      const buf = await readCorpus(pgFile(file));
      const one = feedChunks(new PostgresStderrParser({ logLinePrefix }), [buf]);
      for (let i = 1; i < buf.length; i++) {
        const two = feedChunks(new PostgresStderrParser({ logLinePrefix }), [buf.subarray(0, i), buf.subarray(i)]);
        assert.deepEqual(two, one, `${file} split at byte ${i}`);
      }
    }
  });

  test('wrong format: a MySQL slow log gives no events and one problem per line', async () => {
    const buf = await readCorpus(mysqlSlowFile());
    const nonBlank = buf.toString().split('\n').filter((l) => l.length > 0).length;
    const r = feedChunks(new PostgresStderrParser(), [buf]);
    assert.equal(r.events.length, 0);
    assert.equal(r.problems.length, nonBlank);
    assert.equal(r.problems[0]!.line, 1);
    assert.ok(r.problems.every((p) => p.text.length <= 121));
  });

  for (const file of ['pgbouncer.log.gz', 'pgbouncer.1.21.log.gz']) {
    test(`wrong format: ${file} (pgbouncer, not a server log) gives no events, every line a problem`, async () => {
      const r = await parseFile(pgFile(file), 'postgres', () => assert.fail('no events expected'));
      assert.equal(r.events, 0);
      assert.equal(r.skipped, 0);
      assert.equal(r.problems, r.lines);
    });
  }
});

describe('postgres-csv', () => {
  test('anonymize.log: executes with parameters, binds skipped, 23 columns', async () => {
    const r = feedChunks(new PostgresCsvParser(), [await readCorpus(pgFile('anonymize.log'))]);
    assert.equal(r.problems.length, 0);
    assert.equal(r.events.length, 5);
    assert.equal(r.skipped, 3);
    const e = r.events[0]!;
    assert.equal(e.ts, Date.UTC(2021, 0, 22, 9, 3, 22, 785));
    assert.equal(e.durationMs, 26.12);
    assert.equal(e.user, 'aaaa');
    assert.equal(e.host, '127.0.0.1');
    assert.equal(e.queryId, `1486-${sec(Math.round(e.ts - 26.12))}#${e.offset}`, 'within its start second');
    assert.equal(e.labels?.session_id, '6009c305.5ce');
    assert.equal(e.labels?.application, 'PostgreSQL JDBC Driver');
    assert.match(String(e.labels?.params), /^\$1 = 'XXXXXXXX', \$2 = NULL/);
  });

  test('weeknumber.log: doubled quotes inside fields', async () => {
    const r = feedChunks(new PostgresCsvParser(), [await readCorpus(pgFile('weeknumber.log'))]);
    assert.equal(r.events.length, 6);
    assert.equal(r.events[0]!.sql, 'select * from "users" where "cn" = $1 and "users"."deleted_at" is null limit 1');
  });

  test('csv_statement_without_duration.log: a statement-only record is skipped', async () => {
    const r = feedChunks(new PostgresCsvParser(), [await readCorpus(pgFile('csv_statement_without_duration.log'))]);
    assert.deepEqual([r.events.length, r.skipped, r.problems.length], [1, 1, 0]);
    assert.equal(r.events[0]!.durationMs, 688786.283);
    assert.equal(r.events[0]!.labels?.backend_type, 'client backend');
  });

  const row = (cols: number, message: string, extra: string[] = []) => {
    const base = ['2024-03-01 10:00:00.500 UTC', 'app', 'shop', '42', '10.0.0.5:5555', '65e1a.2a', '3', 'SELECT', '2024-03-01 09:00:00 UTC', '3/7', '0', 'LOG', '00000', `"${message.replace(/"/g, '""')}"`, '"parameters: $1 = \'x\'"', '', '', '', '', '', '', ''];
    const tail = ['"psql"', '"client backend"', '', '-123456789012345678'];
    return [...base, ...tail.slice(0, cols - 22), ...extra].slice(0, Math.max(cols, 0)).join(',');
  };

  test('column counts of PostgreSQL 8.4 to 17 (22, 23, 24, 26); fewer columns is a problem', () => {
    for (const cols of [22, 23, 24, 26]) {
      const r = feedText(new PostgresCsvParser(), row(cols, 'duration: 1.5 ms  statement: select 1') + '\n');
      assert.equal(r.events.length, 1, `${cols} columns`);
      assert.equal(r.events[0]!.labels?.query_id, cols === 26 ? '-123456789012345678' : undefined);
      assert.equal(r.events[0]!.labels?.application, cols >= 23 ? 'psql' : undefined);
    }
    const r = feedText(new PostgresCsvParser(), row(20, 'duration: 1.5 ms  statement: select 1') + '\n');
    assert.equal(r.events.length, 0);
    assert.match(r.problems[0]!.reason, /20 columns/);
  });

  test('multi-line statements inside quoted fields; chunk splits at every byte give the same events', () => {
    const text =
      row(26, 'duration: 2.0 ms  statement: select a,\n  "b" from t\nwhere x = \'y,z\'') + '\n' +
      row(26, 'checkpoint complete') + '\n' +
      row(26, 'duration: 3.0 ms  execute <unnamed>: select\n1') + '\n';
    const buf = Buffer.from(text);
    const one = feedChunks(new PostgresCsvParser(), [buf]);
    assert.equal(one.events.length, 2);
    assert.equal(one.skipped, 1);
    assert.equal(one.events[0]!.sql, 'select a,\n  "b" from t\nwhere x = \'y,z\'');
    assert.equal(one.events[1]!.offset, text.indexOf('\n', text.indexOf('checkpoint')) + 1);
    for (let i = 1; i < buf.length; i++) {
      assert.deepEqual(feedChunks(new PostgresCsvParser(), [buf.subarray(0, i), buf.subarray(i)]), one, `split at ${i}`);
    }
  });

  test('a record cut off at the end of input is a problem; while tailing it waits', () => {
    const text = '2024-03-01 10:00:00.500 UTC,"app","shop",42,,,,,,,,LOG,00000,"duration: 2.0 ms  statement: select \'unterminated';
    const p = new PostgresCsvParser();
    const out = newParseOutput();
    p.line(text, 0, text.length + 1, 1, out);
    p.flush(false, out);
    assert.equal(out.problems.length, 0);
    p.flush(true, out);
    assert.equal(out.problems.length, 1);
    assert.match(out.problems[0]!.reason, /cut off/);
  });

  test('splitCsv', () => {
    const f: string[] = [];
    assert.ok(splitCsv('a,"b,c","d""e",,"f\ng"', f));
    assert.deepEqual(f, ['a', 'b,c', 'd"e', '', 'f\ng']);
    assert.equal(splitCsv('"a"b', f), false);
  });

  test('wrong format: a MySQL slow log and a stderr log give no events, only problems', async () => {
    for (const path of [mysqlSlowFile(), pgFile('multiline_param.log')]) {
      const r = feedChunks(new PostgresCsvParser(), [await readCorpus(path)]);
      assert.equal(r.events.length, 0);
      assert.ok(r.problems.length > 0);
      assert.equal(r.skipped, 0);
    }
  });
});

describe('postgres-json', () => {
  test('cnpg.log.gz (CloudNativePG): every duration+statement record, other loggers skipped', async () => {
    const buf = await readCorpus(pgFile('cnpg.log.gz'));
    let expected = 0;
    const lines = buf.toString().split('\n').filter((l) => l.length > 0);
    for (const l of lines) {
      const o = JSON.parse(l) as { record?: { message?: string; error_severity?: string } };
      if (o.record?.error_severity === 'LOG' && /^duration: [\d.]+ ms {2}(statement|execute)/.test(o.record.message ?? '')) expected++;
    }
    const r = feedChunks(new PostgresJsonParser(), [buf]);
    assert.equal(r.events.length, expected);
    assert.equal(r.problems.length, 0);
    assert.equal(r.events.length + r.skipped, lines.length);
    const e = r.events[0]!;
    assert.equal(e.user, 'postgres');
    assert.equal(e.host, '[local]');
    assert.equal(e.labels?.application, 'cnpg-instance-manager');
  });

  test('pg_vacuums.json.gz (jsonlog) and cloudsql.log.gz: no statements, nothing is a problem', async () => {
    const v = feedChunks(new PostgresJsonParser(), [await readCorpus(pgFile('pg_vacuums.json.gz'))]);
    assert.deepEqual([v.events.length, v.problems.length, v.skipped], [0, 0, 3544]);
    const c = feedChunks(new PostgresJsonParser(), [await readCorpus(pgFile('cloudsql.log.gz'))]);
    assert.deepEqual([c.events.length, c.problems.length], [0, 0]);
  });

  test('native jsonlog: fields, parameters in detail, 64-bit query_id kept exact', () => {
    const rec = (message: string, extra = '') =>
      `{"timestamp":"2024-06-27 00:00:07.369 CEST","user":"app","dbname":"shop","pid":58151,"remote_host":"10.1.2.3","remote_port":"5432","session_id":"667c8f67.e327","line_num":9,"ps":"SELECT","session_start":"2024-06-27 00:00:07 CEST","vxid":"21/5","txid":0,"error_severity":"LOG","message":${JSON.stringify(message)}${extra},"application_name":"api","backend_type":"client backend","query_id":4266247047529477710}`;
    const text = [
      rec('duration: 250.000 ms  execute S_1: select *\nfrom t where id = $1', ',"detail":"parameters: $1 = \'7\'"'),
      rec('duration: 1.000 ms  bind S_1: select 1'),
      rec('statement: select 1'),
      'not json',
      '',
    ].join('\n');
    const r = feedText(new PostgresJsonParser(), text);
    assert.equal(r.events.length, 1);
    assert.equal(r.skipped, 2);
    assert.equal(r.problems.length, 1);
    assert.equal(r.problems[0]!.line, 4);
    const e = r.events[0]!;
    assert.equal(e.ts, Date.UTC(2024, 5, 26, 22, 0, 7, 369));
    assert.equal(e.queryId, `58151-${Date.UTC(2024, 5, 26, 22, 0, 7)}#${e.offset}`, 'within its start second');
    assert.equal(e.sql, 'select *\nfrom t where id = $1');
    assert.deepEqual([e.user, e.db, e.host], ['app', 'shop', '10.1.2.3']);
    assert.equal(e.labels?.query_id, '4266247047529477710');
    assert.equal(e.labels?.params, "$1 = '7'");
    assert.equal(e.labels?.session_line, 9);
  });

  test('Cloud SQL: payload lines are stderr lines; continuation entries and DETAIL parameters belong to the statement', () => {
    const entry = (payload: string, ts: string) => JSON.stringify({ textPayload: payload, timestamp: ts, severity: 'INFO' });
    const text = [
      entry('[202]: [2-1] db=test,user=bob LOG:  duration: 1500.250 ms  execute <unnamed>: SELECT *', '2020-05-02T13:43:20.415426Z'),
      entry('\tFROM t1 WHERE a = $1', '2020-05-02T13:43:20.415426Z'),
      entry("[202]: [3-1] db=test,user=bob DETAIL:  parameters: $1 = '5'", '2020-05-02T13:43:20.415426Z'),
      entry('[203]: [1-1] db=test,user=bob LOG:  connection received: host=127.0.0.1 port=59760', '2020-05-02T13:43:21Z'),
      '',
    ].join('\n');
    const buf = Buffer.from(text);
    const r = feedChunks(new PostgresJsonParser(), [buf]);
    assert.equal(r.events.length, 1);
    assert.equal(r.skipped, 1);
    const e = r.events[0]!;
    assert.equal(e.sql, 'SELECT *\nFROM t1 WHERE a = $1');
    assert.equal(e.ts, Date.UTC(2020, 4, 2, 13, 43, 20, 415));
    assert.equal(e.queryId, `202-${sec(Math.round(e.ts - 1500.25))}`);
    assert.deepEqual([e.user, e.db, e.labels?.params], ['bob', 'test', "$1 = '5'"]);
    for (let i = 1; i < buf.length; i += 7) {
      assert.deepEqual(feedChunks(new PostgresJsonParser(), [buf.subarray(0, i), buf.subarray(i)]), r, `split at ${i}`);
    }
  });

  test('wrong format: a MySQL slow log gives no events, one problem per line', async () => {
    const buf = await readCorpus(mysqlSlowFile());
    const nonBlank = buf.toString().split('\n').filter((l) => l.length > 0).length;
    const r = feedChunks(new PostgresJsonParser(), [buf]);
    assert.deepEqual([r.events.length, r.problems.length], [0, nonBlank]);
  });
});

describe("time zones: the server's log_timezone (--log-timezone) in all three formats", () => {
  // log_timezone = 'Asia/Shanghai' writes CST for +08; read as US Central it was 14 h in the future.
  const ts = (zone: string) => `2024-01-15 09:05:43.036 ${zone}`;
  const lines: Record<string, (zone: string, sql: string) => string> = {
    postgres: (zone, sql) => `${ts(zone)} [42] app@shop LOG:  duration: 1500.000 ms  statement: ${sql}`,
    'postgres-csv': (zone, sql) =>
      [ts(zone), 'app', 'shop', '42', '10.0.0.5:5555', '65e1a.2a', '3', 'SELECT', `2024-01-15 09:00:00 ${zone}`, '3/7', '0', 'LOG', '00000', `"duration: 1500.000 ms  statement: ${sql}"`, '', '', '', '', '', '', '', '', '"psql"', '"client backend"', '', '0'].join(','),
    'postgres-json': (zone, sql) =>
      JSON.stringify({ timestamp: ts(zone), user: 'app', dbname: 'shop', pid: 42, error_severity: 'LOG', message: `duration: 1500.000 ms  statement: ${sql}` }),
  };
  const log = (format: string, zone: string) => [lines[format]!(zone, 'select 1'), lines[format]!(zone, 'select 2'), ''].join('\n');

  for (const format of Object.keys(lines)) {
    test(`${format}: CST with --log-timezone Asia/Shanghai is +08:00`, () => {
      const r = feedText(createParser(format, { logTimeZone: 'Asia/Shanghai' }), log(format, 'CST'));
      assert.deepEqual(r.problems, []);
      assert.deepEqual(r.events.map((e) => e.ts), [Date.UTC(2024, 0, 15, 1, 5, 43, 36), Date.UTC(2024, 0, 15, 1, 5, 43, 36)]);
      assert.equal(r.events[0]!.queryId, `42-${Date.UTC(2024, 0, 15, 1, 5, 41)}`, 'the start, in UTC');
    });

    test(`${format}: CST without it is a problem for every record, naming its line and --log-timezone; no record is emitted`, () => {
      const text = log(format, 'CST');
      const r = feedText(createParser(format), text);
      assert.equal(r.events.length, 0);
      assert.deepEqual(r.problems.map((p) => [p.line, p.offset]), [[1, 0], [2, text.indexOf('\n') + 1]]);
      for (const p of r.problems) assert.match(p.reason, /time zone abbreviation "CST" is ambiguous .*--log-timezone/);
    });

    test(`${format}: Havana's CST and CDT with --log-timezone America/Havana, winter and summer`, () => {
      const winter = feedText(createParser(format, { logTimeZone: 'America/Havana' }), log(format, 'CST'));
      assert.equal(winter.events[0]!.ts, Date.UTC(2024, 0, 15, 14, 5, 43, 36));
      const summer = feedText(createParser(format, { logTimeZone: 'America/Havana' }), log(format, 'CDT').replace(/2024-01-15/g, '2024-07-15'));
      assert.deepEqual(summer.problems, []);
      assert.equal(summer.events[0]!.ts, Date.UTC(2024, 6, 15, 13, 5, 43, 36));
    });
  }

  test('unambiguous zones need no option; a zone the log does not fit is a problem that names the zone', () => {
    const utc = feedText(createParser('postgres'), log('postgres', 'UTC'));
    assert.equal(utc.events[0]!.ts, Date.UTC(2024, 0, 15, 9, 5, 43, 36));
    const wrong = feedText(createParser('postgres', { logTimeZone: 'Asia/Tokyo' }), log('postgres', 'CST'));
    assert.equal(wrong.events.length, 0);
    assert.match(wrong.problems[0]!.reason, /does not fit --log-timezone Asia\/Tokyo/);
  });

  test('createParser: an unknown zone name and a format whose times carry their zone are refused', () => {
    assert.throws(() => createParser('postgres', { logTimeZone: 'Asia/Shanghia' }), /unknown time zone "Asia\/Shanghia"/);
    assert.throws(() => createParser('jsonl', { logTimeZone: 'Asia/Shanghai' }), /--log-timezone applies to formats mysql-slow, postgres, postgres-csv, postgres-json, not "jsonl"/);
  });

  test('parsePgTimestamp: a zone abbreviation read in the given zone', () => {
    assert.deepEqual(parsePgTimestamp('2024-01-15 09:05:43 CST'), { unknownZone: 'CST', ms: Date.UTC(2024, 0, 15, 9, 5, 43) });
    assert.equal(parsePgTimestamp('2024-01-15 09:05:43 CST', LogTimeZone.open('Asia/Shanghai')), Date.UTC(2024, 0, 15, 1, 5, 43));
    assert.equal(parsePgTimestamp('2024-01-15 09:05:43', LogTimeZone.open('Asia/Shanghai')), Date.UTC(2024, 0, 15, 1, 5, 43), 'no zone: local time');
  });
});

describe('every corpus file in every PostgreSQL format, through parseFile', () => {
  const dir = { path: '' };
  after(async () => {
    if (dir.path) await rm(dir.path, { recursive: true, force: true });
  });

  test('formats are registered', () => {
    for (const f of ['postgres', 'postgres-csv', 'postgres-json']) assert.ok(FORMAT_NAMES().includes(f));
  });

  // The format each file is in; small files are also fed in the other two formats (wrong format: no crash).
  const CSV = new Set(['anonymize.log', 'weeknumber.log', 'csv_statement_without_duration.log']);
  const JSON_FILES = new Set(['pg_vacuums.json.gz', 'cnpg.log.gz', 'cloudsql.log.gz']);
  const SMALL = 100_000;

  test('no crash; every line is an event, skipped, part of one, or a problem', async () => {
    const files = corpusFiles('postgres');
    assert.ok(files.length >= 20);
    for (const file of files) {
      const path = pgFile(file);
      const native = CSV.has(file) ? 'postgres-csv' : JSON_FILES.has(file) ? 'postgres-json' : 'postgres';
      const small = (await stat(path)).size < SMALL;
      for (const format of small ? ['postgres', 'postgres-csv', 'postgres-json'] : [native]) {
        let seen = 0;
        const s = await parseFile(path, format, (evs) => {
          for (const e of evs) {
            seen++;
            assert.ok(e.offset < e.end && e.end <= Number.MAX_SAFE_INTEGER);
            assert.ok(Number.isFinite(e.ts));
          }
        });
        assert.equal(seen, s.events);
        assert.ok(s.events + s.skipped + s.problems <= s.lines, `${file} as ${format}`);
      }
    }
  });

  test('an empty file and a file without a final newline', async () => {
    dir.path = await mkdtemp(join(tmpdir(), 'slowq-pg-'));
    const empty = join(dir.path, 'empty.log');
    await writeFile(empty, '');
    const noNl = join(dir.path, 'nonl.log');
    await writeFile(noNl, '2024-01-01 00:00:00.100 UTC [1] a@b LOG:  duration: 9.000 ms  statement: select 1');
    for (const format of ['postgres', 'postgres-csv', 'postgres-json']) {
      const s = await parseFile(empty, format, () => {});
      assert.deepEqual([s.events, s.problems, s.skipped], [0, 0, 0]);
    }
    const got: ParsedEvent[] = [];
    const s = await parseFile(noNl, 'postgres', (evs) => got.push(...evs));
    assert.equal(s.events, 1);
    assert.equal(got[0]!.end, Buffer.byteLength('2024-01-01 00:00:00.100 UTC [1] a@b LOG:  duration: 9.000 ms  statement: select 1'));
  });
});

describe('the state a chunk carries (StateCarryingParser): restored only as the parser wrote it', () => {
  const stderr = [
    '2025-12-02 10:00:01.000 UTC [10] app@shop LOG:  duration: 1500.000 ms  execute <unnamed>: SELECT name',
    '\t FROM t WHERE id = $1',
    "2025-12-02 10:00:01.000 UTC [10] app@shop DETAIL:  parameters: $1 = '1'",
    '2025-12-02 10:00:02.000 UTC [11] app@shop LOG:  duration: 2.000 ms  statement: SELECT 2',
    '',
  ].join('\n');
  const makers: Array<[string, () => RecordParser & { state(): unknown; restoreState(s: unknown): void }, string]> = [
    ['postgres', () => new PostgresStderrParser(), stderr],
    ['postgres-csv', () => new PostgresCsvParser(), '2025-12-02 10:00:01.000 UTC,"app","shop",10,,6b1.10,1,"SELECT",,3/0,0,LOG,00000,"duration: 1500.000 ms  execute <unnamed>: SELECT name\n FROM t","parameters: $1 = \'1\'",,,,,,,,"app","client backend",,0\n'],
    ['postgres-json', () => new PostgresJsonParser(), '{"timestamp":"2025-12-02 10:00:01.000 UTC","pid":10,"error_severity":"LOG","message":"duration: 1500.000 ms  execute <unnamed>: SELECT 1"}\n'],
  ];
  const hostile: unknown[] = [
    null, 5, 'x', [], { ids: { maxTs: 1, pids: [5] } }, { ids: { maxTs: 1, pids: [['10', 1, [[1, 'x']]]] } },
    { held: { exec: { step: 'drop', durationMs: 1, sql: 'x' }, ts: 1, fields: {}, offset: 0, end: 1 } }, { held: { ts: 1, fields: {}, offset: 0, end: 1 } },
    { held: { exec: { step: 'execute', durationMs: 1, sql: 'x' }, ts: 1, fields: { pid: 10, evil: 'x' }, offset: 0, end: 1 } },
    { pending: { exec: { step: 'statement', durationMs: 1, sql: 5 } }, current: 2 }, { current: 2 }, { key: 7, syslog: 'yes' },
    { record: { parts: [1, 2], chars: 2, offset: 0, line: 1 } }, { record: { parts: [], chars: 0, offset: 0, line: 1 } }, { cloud: 5 },
  ];
  for (const [format, make, text] of makers) {
    test(`${format}: its own state, cut before any line, gives what one parse gives; anything else starts it afresh`, () => {
      const whole = feedText(make(), text);
      // cut before each line, the state carried through a structured clone (another thread, a snapshot)
      const lines = text.split('\n');
      for (let cut = 1; cut < lines.length; cut++) {
        const a = make();
        const out = newParseOutput();
        const first = lines.slice(0, cut).join('\n') + '\n';
        const s1 = new LineSplitter(0);
        s1.push(Buffer.from(first), { line: (t, o, e) => a.line(t, o, e, 0, out), oversize: () => {} });
        const b = make();
        b.restoreState(structuredClone(a.state()));
        const s2 = new LineSplitter(Buffer.byteLength(first));
        s2.push(Buffer.from(text.slice(first.length)), { line: (t, o, e) => b.line(t, o, e, 0, out), oversize: () => {} });
        s2.finish({ line: (t, o, e) => b.line(t, o, e, 0, out), oversize: () => {} });
        b.flush(true, out);
        assert.deepEqual(out.events.map((e) => [e.sql, e.queryId, e.labels?.params]), whole.events.map((e) => [e.sql, e.queryId, e.labels?.params]), `cut before line ${cut}`);
      }
      for (const s of hostile) {
        const p = make();
        assert.doesNotThrow(() => p.restoreState(s), `restoreState(${JSON.stringify(s)})`);
        assert.deepEqual(feedChunks(p, [Buffer.from(text)]).events, whole.events, `after restoreState(${JSON.stringify(s)}) the parser reads as a fresh one`);
      }
    });
  }
});
