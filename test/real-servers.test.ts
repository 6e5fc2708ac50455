import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { parseFile } from '../src/formats/read-file.js';
import { parseInChunks } from './support/chunks.js';
import type { ParserOptions } from '../src/formats/parsers/index.js';
import type { ParseProblem } from '../src/formats/parsers/types.js';
import type { ParsedEvent } from '../src/model/record.js';
import { readJson as readStats, readJsonLines } from '../bench/harness/files.js';
import { freeBasePort as freeBase } from '../bench/harness/ports.js';
import { CLI, slowq, stop } from '../bench/harness/processes.js';
import { waitFor } from '../bench/harness/wait.js';
import { startMariaDb, startPostgres, type MariaDbServer, type PostgresServer } from './support/dbservers.js';

// The parsers against what real servers write: a private MariaDB with its slow log at long_query_time=0 and a private
// PostgreSQL with log_min_duration_statement=0 logging to stderr, csvlog and jsonlog at once. A varied workload runs
// (multi-line statements, quotes and escapes, unicode, comments, prepared statements, failing statements, sleeps of
// known length, a transaction); every format must give back exactly the statements the server logs, in order.
// What the servers log is not always what was sent, and that is spelled out in the expectations: MariaDB logs a
// prepared statement with its parameters in place and logs failing statements too; PostgreSQL logs a failing
// statement only as ERROR + STATEMENT (no duration: not an event), and the parse/bind steps of the extended
// protocol are not executions.

const run = promisify(execFile);

interface Expected {
  sql: string;
  /** a sleep: the duration is at least this */
  sleepMs?: number;
  /** PostgreSQL: statement (simple protocol) or execute (extended), and the parameters logged with it */
  step?: 'statement' | 'execute' | 'plan';
  params?: string;
  /** the server logged a plan for it (MariaDB's EXPLAIN rows, PostgreSQL's auto_explain) */
  plan?: boolean;
}

async function parseAll(file: string, format: string, options: ParserOptions = {}) {
  const events: ParsedEvent[] = [];
  const problems: ParseProblem[] = [];
  const summary = await parseFile(file, format, (evs) => events.push(...evs), (p) => problems.push(p), options);
  return { events, problems, summary };
}

/** `slowq parse` as a process; its stdout as records. */
async function cliParse(args: string[]): Promise<ParsedEvent[]> {
  const { stdout } = await run(process.execPath, [CLI, 'parse', ...args], { maxBuffer: 64 << 20 });
  return stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as ParsedEvent);
}

/** Wait (bounded) until `file` contains `marker`: the servers write their logs after answering. */
function waitForText(file: string, marker: string): Promise<string> {
  return waitFor(`${marker} in ${file}`, async () => {
    const text = await readFile(file, 'utf8').catch(() => '');
    return text.includes(marker) ? text : undefined;
  }, 20_000, 50);
}

function checkDurations(events: ParsedEvent[], expected: Expected[]): void {
  events.forEach((e, i) => {
    const want = expected[i]!;
    assert.ok(Number.isFinite(e.durationMs) && e.durationMs >= 0, `duration of ${e.sql}`);
    if (want.sleepMs !== undefined) {
      assert.ok(e.durationMs >= want.sleepMs && e.durationMs < want.sleepMs + 5000, `${e.sql}: ${e.durationMs} ms`);
    } else {
      assert.ok(e.durationMs < 5000, `${e.sql}: ${e.durationMs} ms`);
    }
  });
}

// ---------------------------------------------------------------------------------------------------------

describe('a real MariaDB slow log', { timeout: 180_000 }, () => {
  let server: MariaDbServer;
  let thread = 0;
  const expected: Expected[] = [];

  before(async () => {
    server = await startMariaDb();
    const conn = await mysql.createConnection({ host: server.host, port: server.port, user: 'root', charset: 'utf8mb4' });
    thread = conn.threadId;
    const q = async (sql: string, logged: Partial<Expected> = {}) => {
      await conn.query(sql);
      expected.push({ sql, ...logged });
    };
    try {
      await q('CREATE DATABASE shop CHARACTER SET utf8mb4');
      await q('USE shop');
      await q('CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(100), note TEXT)');
      // doubled quote, backslash-escaped quotes, a backslash, unicode beyond the BMP
      await q(`INSERT INTO t VALUES (1, 'it''s', 'say \\"hi\\" and \\'bye\\''), (2, 'ünïcødé ✓ 日本語 🚀', 'back\\\\slash')`);
      // multi-line: comments of all three kinds, a line ending in ';' inside a string, a line starting with '#'
      await q(["SELECT id,", "  name -- the name; not the end", "FROM t", "# a hash comment line", "WHERE note <> 'a;", "b' /* block; comment */", 'ORDER BY id'].join('\n'));
      await q("/* leading comment */ SELECT COUNT(*) FROM t WHERE name LIKE 'ü%'");
      // prepared statements (binary protocol): MariaDB logs them with the parameters in place
      await conn.execute('SELECT name FROM t WHERE id = ? AND note <> ?', [1, "x'y"]);
      expected.push({ sql: "SELECT name FROM t WHERE id = 1 AND note <> 'x\\'y'" });
      await conn.execute('SELECT name FROM t WHERE id = ? AND note <> ?', [2, 'ü']);
      expected.push({ sql: "SELECT name FROM t WHERE id = 2 AND note <> 'ü'" });
      // failing statements are logged too
      await assert.rejects(conn.query('SELECT * FROM nope'), /doesn't exist/);
      expected.push({ sql: 'SELECT * FROM nope' });
      await assert.rejects(conn.query('SELEC oops'), /syntax/);
      expected.push({ sql: 'SELEC oops' });
      await q('SELECT SLEEP(0.3)', { sleepMs: 300 });
      // a full scan and a sort: log_slow_verbosity=query_plan,explain gives its EXPLAIN rows and Full_scan/Filesort facts
      await q('SELECT id, note FROM t ORDER BY note');
      await conn.beginTransaction();
      expected.push({ sql: 'START TRANSACTION' });
      await q("UPDATE t SET name = 'z' WHERE id = 1");
      await conn.commit();
      expected.push({ sql: 'COMMIT' });
      // the server writes its banner again at a flush: a real `mariadbd, Version: …` line mid-file
      await q('FLUSH SLOW LOGS');
      await q("SELECT 'après' AS marker");
    } finally {
      await conn.end();
    }
    await waitForText(server.slowLogPath, "SELECT 'après' AS marker;");
  });

  after(async () => {
    await server?.stop();
  });

  test('mysql-slow: exactly the statements run, in order, with their durations, users, dbs and ids', async () => {
    const { events, problems, summary } = await parseAll(server.slowLogPath, 'mysql-slow');
    assert.deepEqual(problems, []);
    assert.deepEqual(
      events.map((e) => e.sql),
      expected.map((x) => x.sql),
    );
    assert.equal(summary.skipped, 6, 'the banner (3 lines) at start-up and again at FLUSH SLOW LOGS');
    checkDurations(events, expected);
    for (const e of events) {
      assert.equal(e.state, 'finished');
      assert.equal(e.user, 'root');
      assert.equal(e.host, '127.0.0.1');
      assert.match(e.queryId, new RegExp(`^${thread}-\\d+000#\\d+$`), 'statements under 1 s: thread-start#offset');
    }
    assert.equal(new Set(events.map((e) => e.queryId)).size, events.length, 'ids are unique');
    assert.equal(events[0]!.db, undefined);
    assert.ok(events.slice(1).every((e) => e.db === 'shop'));
    // the event time is the end: the start second (SET timestamp) + Query_time, at or after the `# Time:` second
    const sleepEv = events.find((e) => e.sql === 'SELECT SLEEP(0.3)')!;
    const start = Number(/^\d+-(\d+)#/.exec(sleepEv.queryId)![1]);
    assert.equal(sleepEv.ts, start + sleepEv.durationMs);
    assert.equal(sleepEv.fingerprint, 'select sleep(?)');
  });

  test('mysql-slow: the EXPLAIN rows are the plan, Full_scan and Filesort are planFacts', async () => {
    const { events } = await parseAll(server.slowLogPath, 'mysql-slow');
    const scan = events.find((e) => e.sql === 'SELECT id, note FROM t ORDER BY note')!;
    const [header, row, more] = (scan.plan ?? '').split('\n');
    assert.match(header!, /^id\tselect_type\ttable\ttype\t/);
    assert.match(row!, /^1\tSIMPLE\tt\tALL\t.*Using filesort/);
    assert.equal(more, undefined);
    assert.equal(scan.planFacts?.fullScan, true);
    assert.equal(scan.planFacts?.filesort, true);
    assert.equal(scan.planFacts?.tmpTableOnDisk, false);
    assert.equal(scan.labels?.Full_scan, undefined, 'facts are fields, not labels');
    // a statement that reads no table: its EXPLAIN says so
    assert.match(events.find((e) => e.sql === 'SELECT SLEEP(0.3)')!.plan ?? '', /No tables used/);
    // every SELECT has a plan, no DDL has one
    assert.equal(events.find((e) => e.sql.startsWith('CREATE TABLE'))!.plan, undefined);
  });

  test('slowq parse --format mysql-slow as a process prints the same records', async () => {
    const { events } = await parseAll(server.slowLogPath, 'mysql-slow');
    assert.deepEqual(await cliParse(['--format', 'mysql-slow', server.slowLogPath]), JSON.parse(JSON.stringify(events)));
  });
});

// ---------------------------------------------------------------------------------------------------------

/** Not Debian's: %l and %a, with an application name that has a space. */
const PG_PREFIX = '%m [%p-%l] %q%u@%d app=%a ';

describe('a real PostgreSQL log: stderr with a log_line_prefix, csvlog and jsonlog', { timeout: 180_000 }, () => {
  let server: PostgresServer;
  const expected: Expected[] = [];

  before(async () => {
    server = await startPostgres({
      logDestination: ['stderr', 'csvlog', 'jsonlog'],
      // auto_explain too, for every statement: each is still one record, with its plan
      settings: { log_line_prefix: PG_PREFIX, session_preload_libraries: 'auto_explain', 'auto_explain.log_min_duration': '0' },
    });
    const c = new pg.Client({ connectionString: server.url, application_name: 'slowq test' });
    await c.connect();
    const q = async (sql: string, logged: Partial<Expected> = {}) => {
      await c.query(sql);
      expected.push({ sql, step: 'statement', ...logged });
    };
    const planned = { plan: true };
    try {
      await q('CREATE TABLE t (id int PRIMARY KEY, name text, note text)');
      await q(`INSERT INTO t VALUES (1, 'it''s', E'say "hi" and \\'bye\\''), (2, 'ünïcødé ✓ 日本語 🚀', $$dollar 'quoted' text$$)`, planned);
      // multi-line: comments, a line starting with a tab (PostgreSQL adds one more after each newline), a ';' in a string
      await q(["SELECT id,", "\tname -- the name", "FROM t /* block", "comment */", "WHERE note <> 'a;", "b'", 'ORDER BY id'].join('\n'), planned);
      // several statements in one simple query: one log line, one event (auto_explain logs a plan for each: joined)
      await q('SELECT 1; SELECT 2', planned);
      // extended protocol: unnamed and named prepared statements; only the execute step is an execution
      await c.query('SELECT name FROM t WHERE id = $1 AND note <> $2', [1, "x'y"]);
      expected.push({ sql: 'SELECT name FROM t WHERE id = $1 AND note <> $2', step: 'execute', params: "$1 = '1', $2 = 'x''y'", plan: true });
      await c.query({ name: 'by_id', text: 'SELECT note FROM t WHERE id = $1', values: [2] });
      expected.push({ sql: 'SELECT note FROM t WHERE id = $1', step: 'execute', params: "$1 = '2'", plan: true });
      await c.query({ name: 'by_id', text: 'SELECT note FROM t WHERE id = $1', values: [1] });
      expected.push({ sql: 'SELECT note FROM t WHERE id = $1', step: 'execute', params: "$1 = '1'", plan: true });
      // failing statements: ERROR + STATEMENT in the log, no duration, so no event
      await assert.rejects(c.query('SELECT * FROM nope'), /does not exist/);
      await assert.rejects(c.query('SELECT 1 / $1::int', [0]), /division by zero/);
      await q('SELECT pg_sleep(0.3)', { sleepMs: 300, plan: true });
      await q('BEGIN');
      await q("UPDATE t SET name = 'z' WHERE id = 1", planned);
      await q('COMMIT');
      // only auto_explain logs these (log_min_duration_statement off for the session), in JSON: one record each
      await c.query('SET log_min_duration_statement = -1');
      await c.query("SET auto_explain.log_format = 'json'");
      await c.query('SELECT id, note FROM t ORDER BY note');
      expected.push({ sql: 'SELECT id, note FROM t ORDER BY note', step: 'plan', plan: true });
      await c.query('SELECT name FROM t WHERE id = $1', [2]);
      expected.push({ sql: 'SELECT name FROM t WHERE id = $1', step: 'plan', plan: true });
      await q('RESET log_min_duration_statement'); // logged: the setting is back when the statement ends
      await q('RESET auto_explain.log_format');
      await q("SELECT 'fin' AS marker", planned);
    } finally {
      await c.end();
    }
    for (const f of [server.logFiles.stderr, server.logFiles.csvlog, server.logFiles.jsonlog]) await waitForText(f, "SELECT 'fin' AS marker");
  });

  after(async () => {
    await server?.stop();
  });

  const formats: Array<[string, () => string, ParserOptions]> = [
    ['postgres', () => server.logFiles.stderr, { logLinePrefix: PG_PREFIX }],
    ['postgres-csv', () => server.logFiles.csvlog, {}],
    ['postgres-json', () => server.logFiles.jsonlog, {}],
  ];

  for (const [format, file, options] of formats) {
    test(`${format}: exactly the statements executed, in order, with durations, parameters and session fields`, async () => {
      const { events, problems } = await parseAll(file(), format, options);
      assert.deepEqual(problems, []);
      assert.deepEqual(
        events.map((e) => [e.sql, e.labels?.step, e.labels?.params]),
        expected.map((x) => [x.sql, x.step, x.params]),
      );
      checkDurations(events, expected);
      const pid = events[0]!.labels?.pid;
      for (const e of events) {
        assert.equal(e.state, 'finished');
        assert.equal(e.user, 'postgres');
        assert.equal(e.db, 'postgres');
        assert.equal(e.labels?.application, 'slowq test');
        assert.equal(e.labels?.pid, pid, 'one backend');
        // the plain id belongs to a statement still running after its start second; one that started and ended
        // within a second (most of these, but a short one may straddle a boundary) gets #offset
        const crosses = Math.floor(e.ts / 1000) > Math.floor((e.ts - e.durationMs) / 1000);
        assert.match(e.queryId, new RegExp(`^${pid}-\\d+000${crosses ? '' : '#\\d+'}$`), 'pid-start, #offset unless it crossed a second');
      }
      assert.equal(new Set(events.map((e) => e.queryId)).size, events.length, 'ids are unique');
      assert.deepEqual(
        events.filter((e) => e.labels?.prepared !== undefined).map((e) => e.labels?.prepared),
        ['<unnamed>', 'by_id', 'by_id'],
      );
    });
  }

  for (const [format, file, options] of formats) {
    test(`${format}: shipped as raw chunks (cut before every line, and at 1 KiB), the consumer's parse gives the same records`, async () => {
      const { events } = await parseAll(file(), format, options);
      const bytes = readFileSync(file());
      for (const target of [1, 1024]) assert.deepEqual(JSON.parse(JSON.stringify(parseInChunks(bytes, format, options, target))), JSON.parse(JSON.stringify(events)), `chunks past ${target} bytes`);
    });

    test(`${format}: auto_explain's plans, text and JSON, joined with their statements or records of their own`, async () => {
      const { events } = await parseAll(file(), format, options);
      assert.deepEqual(events.map((e) => [e.sql, e.plan !== undefined]), expected.map((x) => [x.sql, x.plan === true]));
      const bySql = (sql: string) => events.find((e) => e.sql === sql)!;
      // text plans: the plan tree without the query text
      assert.match(bySql('SELECT pg_sleep(0.3)').plan!, /^Result {2}\(cost=[^\n]*\)$/);
      assert.match(bySql('SELECT 1; SELECT 2').plan!, /^Result {2}\(cost=.*\)\n\nResult {2}\(cost=.*\)$/);
      const update = bySql("UPDATE t SET name = 'z' WHERE id = 1").plan!;
      assert.match(update, /^Update on t {2}\(cost=/);
      assert.ok(!update.includes('Query Text'));
      assert.match(events.find((e) => e.labels?.prepared === 'by_id')!.plan!, /Index Scan using t_pkey on t/);
      // JSON plans of statements only auto_explain logged: the document without its query text
      const sorted = bySql('SELECT id, note FROM t ORDER BY note');
      const doc = JSON.parse(sorted.plan!) as { Plan: { 'Node Type': string } };
      assert.equal(doc.Plan['Node Type'], 'Sort');
      assert.ok(!('Query Text' in doc));
      assert.deepEqual(sorted.planFacts, { fullScan: true, filesort: true });
      assert.equal(sorted.labels?.step, 'plan');
      assert.ok(sorted.durationMs >= 0 && sorted.durationMs < 5000);
    });
  }

  test('the three formats agree on times, durations and start seconds', async () => {
    const [a, b, c] = await Promise.all(formats.map(([format, file, options]) => parseAll(file(), format, options)));
    const view = (evs: ParsedEvent[]) => evs.map((e) => [e.ts, e.durationMs, e.queryId.replace(/#\d+$/, ''), e.fingerprintId]);
    assert.deepEqual(view(b!.events), view(a!.events));
    assert.deepEqual(view(c!.events), view(a!.events));
  });

  test('the stderr log needs its log_line_prefix: with the default one nothing is read, and every line is said', async () => {
    const { events, problems, summary } = await parseAll(server.logFiles.stderr, 'postgres');
    assert.equal(events.length, 0);
    assert.equal(problems.length, summary.lines);
    assert.match(problems[0]!.reason, /log_line_prefix '%m \[%p\] %q%u@%d '/);
  });

  test('--log-line-prefix on the command line: slowq parse, digest --json and evaluate read the stderr log', async () => {
    const { events } = await parseAll(server.logFiles.stderr, 'postgres', { logLinePrefix: PG_PREFIX });
    const file = server.logFiles.stderr;
    const prefix = ['--format', 'postgres', '--log-line-prefix', PG_PREFIX];
    assert.deepEqual(await cliParse([...prefix, file]), JSON.parse(JSON.stringify(events)));

    const digest = await run(process.execPath, [CLI, 'digest', ...prefix, '--json', file], { maxBuffer: 16 << 20 });
    const doc = JSON.parse(digest.stdout) as { global: { query_count: number } };
    assert.equal(doc.global.query_count, events.length);

    const evaluated = await run(process.execPath, [CLI, 'evaluate', ...prefix, '--source', 'pg', '--finished-ms', '300', file]);
    const alerts = evaluated.stdout.split('\n').filter((l) => l).map((l) => JSON.parse(l) as { type: string; sql: string });
    assert.deepEqual(alerts.map((a) => [a.type, a.sql]), [['slow_query', 'SELECT pg_sleep(0.3)']]);

    // a prefix for a format that has none is refused, naming the mistake
    await assert.rejects(run(process.execPath, [CLI, 'parse', '--format', 'postgres-csv', '--log-line-prefix', '%m ', server.logFiles.csvlog]), /applies to format "postgres" only/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Time zones: a server whose log_timezone prints an ambiguous abbreviation (Asia/Shanghai's CST, Havana's CST and
// CDT) must be read with --log-timezone, and without it every record is a problem naming its line and the option
// (it was read as US Central: 14 h in the future for Shanghai). The true instants come from the server itself.

interface Alert {
  type: string;
  sql: string;
}

async function cliEvaluate(args: string[]): Promise<Alert[]> {
  const { stdout } = await run(process.execPath, [CLI, 'evaluate', ...args], { maxBuffer: 16 << 20 });
  return stdout.split('\n').filter((l) => l).map((l) => JSON.parse(l) as Alert);
}

/** Runs `slowq client` on `file` (no master: it reads and dead-letters, nothing more) until it has read or refused `expect` records. */
async function clientCounts(format: string, file: string, expect: number, extra: string[]): Promise<{ read: number; deadLettered: number; dead: Array<{ line: number; reason: string }> }> {
  const data = await mkdtemp(join(tmpdir(), 'slowq-tz-client-'));
  const base = await freeBase();
  const client = slowq('client-tz', ['client', '--master', `tcp://127.0.0.1:${base}`, '--source', 'tz', '--format', format, '--data', data, ...extra, file]);
  try {
    const stats = await waitFor('client stats', () => {
      const st = readStats<{ read: number; deadLettered: number }>(join(data, 'stats.json'));
      return st && st.read + st.deadLettered >= expect ? st : undefined;
    }, 30_000);
    return { read: stats.read, deadLettered: stats.deadLettered, dead: readJsonLines(join(data, 'dead-letter.jsonl')) };
  } finally {
    await stop(client);
    await rm(data, { recursive: true, force: true });
  }
}

for (const zone of ['Asia/Shanghai', 'America/Havana']) {
  describe(`a real PostgreSQL with log_timezone = '${zone}': stderr, csvlog and jsonlog`, { timeout: 180_000 }, () => {
    let server: PostgresServer;
    /** statement_timestamp() of each `tz-N` statement, as the server says (ms) */
    const starts: number[] = [];

    before(async () => {
      server = await startPostgres({ logDestination: ['stderr', 'csvlog', 'jsonlog'], settings: { log_timezone: zone } });
      const c = new pg.Client({ connectionString: server.url });
      await c.connect();
      try {
        for (let i = 0; i < 3; i++) {
          const r = await c.query(`SELECT extract(epoch from statement_timestamp())::float8 AS t, pg_sleep(0.2), 'tz-${i}' AS mark`);
          starts.push(Math.round(Number((r.rows[0] as { t: number }).t) * 1000));
        }
        await c.query("SELECT 'tz-fin' AS marker");
      } finally {
        await c.end();
      }
      for (const f of [server.logFiles.stderr, server.logFiles.csvlog, server.logFiles.jsonlog]) await waitForText(f, "SELECT 'tz-fin' AS marker");
    });

    after(async () => {
      await server?.stop();
    });

    const formats: Array<[string, () => string]> = [
      ['postgres', () => server.logFiles.stderr],
      ['postgres-csv', () => server.logFiles.csvlog],
      ['postgres-json', () => server.logFiles.jsonlog],
    ];

    for (const [format, file] of formats) {
      test(`${format}: with --log-timezone ${zone}, each statement's start is the server's statement_timestamp()`, async () => {
        const { events, problems } = await parseAll(file(), format, { logTimeZone: zone });
        assert.deepEqual(problems, []);
        const marked = events.filter((e) => e.sql.includes("'tz-") && !e.sql.includes('tz-fin'));
        assert.equal(marked.length, 3);
        marked.forEach((e, i) => {
          const start = e.ts - e.durationMs;
          assert.ok(Math.abs(start - starts[i]!) < 1000, `${e.sql}: start ${new Date(start).toISOString()}, server ${new Date(starts[i]!).toISOString()}`);
        });
      });

      test(`${format}: without --log-timezone every record is a problem naming its line and the option, and none is emitted`, async () => {
        const { events, problems, summary } = await parseAll(file(), format);
        assert.deepEqual(events, []);
        assert.ok(problems.length >= 4, 'the three statements and the marker at least');
        for (const p of problems) {
          assert.match(p.reason, /time zone abbreviation "C[SD]T" is ambiguous .*--log-timezone/);
          assert.ok(p.line > 0 && p.line <= summary.lines);
        }
      });
    }

    test('the option reaches slowq parse, evaluate, digest and client; an unknown zone stops them before they start', async () => {
      const file = server.logFiles.csvlog;
      const tz = ['--format', 'postgres-csv', '--log-timezone', zone];
      const { events } = await parseAll(file, 'postgres-csv', { logTimeZone: zone });
      assert.deepEqual(await cliParse([...tz, file]), JSON.parse(JSON.stringify(events)));

      const alerts = await cliEvaluate([...tz, '--source', 'pg', '--finished-ms', '150', file]);
      assert.deepEqual(alerts.map((a) => a.type), ['slow_query', 'slow_query', 'slow_query']);

      const digest = await run(process.execPath, [CLI, 'digest', ...tz, '--json', file], { maxBuffer: 16 << 20 });
      assert.equal((JSON.parse(digest.stdout) as { global: { query_count: number } }).global.query_count, events.length);

      const withZone = await clientCounts('postgres-csv', file, events.length, ['--log-timezone', zone]);
      assert.deepEqual([withZone.read, withZone.deadLettered], [events.length, 0]);
      const without = await clientCounts('postgres-csv', file, events.length, []);
      assert.deepEqual([without.read, without.deadLettered], [0, events.length]);
      assert.ok(without.dead.every((d) => /--log-timezone/.test(d.reason) && d.line > 0));

      for (const cmd of [['parse'], ['evaluate', '--source', 'pg'], ['digest'], ['client', '--source', 'pg', '--data', join(tmpdir(), 'never-made')]]) {
        await assert.rejects(
          run(process.execPath, [CLI, ...cmd, '--format', 'postgres-csv', '--log-timezone', 'Asia/Shanghia', file]),
          (err: { code: number; stderr: string }) => err.code === 1 && /unknown time zone "Asia\/Shanghia"/.test(err.stderr),
          cmd[0],
        );
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// A MariaDB replica replays its source's timestamps: `SET timestamp=X; r1; SET timestamp=X+1; r2; SET timestamp=X;
// r3` in one thread logs r1 and r3 with one thread and one start second. They are two executions and need two ids,
// or the consumer drops r3 as a repeat and its slow_query never comes. The server runs in Asia/Shanghai, so its
// `# Time:` lines are local times 8 h ahead of UTC.

describe('a real MariaDB replaying timestamps (one session: X, X+1, X), its clock in Asia/Shanghai', { timeout: 180_000 }, () => {
  let server: MariaDbServer;
  let thread = 0;
  let X = 0;
  /** UNIX_TIMESTAMP(NOW(6)) of the statement run on the real clock (ms) */
  let realStart = 0;

  before(async () => {
    server = await startMariaDb({ extraArgs: ['--long-query-time=1'], env: { TZ: 'Asia/Shanghai' } });
    const conn = await mysql.createConnection({ host: server.host, port: server.port, user: 'root' });
    thread = conn.threadId;
    try {
      const [now] = await conn.query('SELECT UNIX_TIMESTAMP() AS t');
      X = Number((now as Array<{ t: number }>)[0]!.t) - 600;
      for (const [ts, name] of [[X, 'r1'], [X + 1, 'r2'], [X, 'r3']] as const) {
        await conn.query(`SET timestamp=${ts}`);
        await conn.query(`SELECT '${name}', SLEEP(1.1)`);
      }
      await conn.query('SET timestamp=DEFAULT');
      const [rows] = await conn.query("SELECT UNIX_TIMESTAMP(NOW(6)) AS t, SLEEP(1.1), 'real clock'");
      realStart = Math.round(Number((rows as Array<{ t: string }>)[0]!.t) * 1000);
      await conn.query("SELECT 'fin', SLEEP(1.05)");
    } finally {
      await conn.end();
    }
    await waitForText(server.slowLogPath, "SELECT 'fin', SLEEP(1.05);");
  });

  after(async () => {
    await server?.stop();
  });

  test('r1, r2 and r3 get three ids; r1, the first with its thread and start, keeps the plain one', async () => {
    const { events, problems } = await parseAll(server.slowLogPath, 'mysql-slow');
    assert.deepEqual(problems, []);
    const r = ['r1', 'r2', 'r3'].map((n) => events.find((e) => e.sql === `SELECT '${n}', SLEEP(1.1)`)!);
    assert.deepEqual(r.map((e) => e.queryId), [`${thread}-${X}000`, `${thread}-${X + 1}000`, `${thread}-${X}000#${r[2]!.offset}`]);
  });

  test('the oracle (slowq evaluate) gives three slow_query alerts for them', async () => {
    const alerts = await cliEvaluate(['--format', 'mysql-slow', '--source', 'replica', server.slowLogPath]);
    const replayed = alerts.filter((a) => a.type === 'slow_query' && /^SELECT 'r\d'/.test(a.sql));
    assert.deepEqual(replayed.map((a) => a.sql).sort(), ["SELECT 'r1', SLEEP(1.1)", "SELECT 'r2', SLEEP(1.1)", "SELECT 'r3', SLEEP(1.1)"]);
  });

  test("a statement on the real clock is read at the server's own start, with --log-timezone Asia/Shanghai and without", async () => {
    for (const options of [{}, { logTimeZone: 'Asia/Shanghai' }]) {
      const { events } = await parseAll(server.slowLogPath, 'mysql-slow', options);
      const e = events.find((x) => x.sql.includes("'real clock'"))!;
      const start = e.ts - e.durationMs;
      assert.ok(Math.abs(start - realStart) < 1000, `${JSON.stringify(options)}: start ${new Date(start).toISOString()}, server ${new Date(realStart).toISOString()}`);
    }
  });
});
