import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rename, rm, truncate } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { ActivitySnapshot, ActivitySource, RunningStatement, StatsUnavailable } from '../src/client/probe/activity.js';
import { LineAppender } from '../src/client/probe/appender.js';
import { diffActivity, executionId, watchedSessions, type Tracking } from '../src/client/probe/diff.js';
import { toJsonLine } from '../src/client/probe/record-line.js';
import { MysqlActivitySource, secondsTextToMs } from '../src/client/probe/mysql.js';
import { PostgresActivitySource } from '../src/client/probe/postgres.js';
import { ActivityProbe, type ProbeLogger } from '../src/client/probe/probe.js';
import { diffStatementStats } from '../src/client/probe/statement-stats.js';
import { parseLabels } from '../src/cli/probe.js';
import { JsonLinesParser } from '../src/formats/parsers/jsonl.js';
import { newParseOutput } from '../src/formats/parsers/types.js';
import { startMariaDb, startPostgres, type MariaDbServer, type PostgresServer } from './support/dbservers.js';
import { slowq, stop, stopAll } from '../bench/harness/processes.js';
import { waitFor } from '../bench/harness/wait.js';

const tempDirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'slowq-probe-'));
  tempDirs.push(dir);
  return dir;
}
after(async () => {
  await stopAll();
  for (const d of tempDirs) await rm(d, { recursive: true, force: true });
});

interface StatsLine {
  kind?: string;
  id: string;
  sql: string;
  calls: number;
}

const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Line {
  ts: string;
  state: 'running' | 'finished';
  id: string;
  duration_ms: number;
  sql: string;
  db?: string;
  user?: string;
  host?: string;
  [label: string]: unknown;
}

async function readLines(file: string): Promise<Line[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  assert.ok(text === '' || text.endsWith('\n'), 'the file ends on a whole line');
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Line);
}

/** Poll `check` every 50 ms until it returns a value, for 20 s unless told. */
const until = <T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> => waitFor(what, check, timeoutMs, 50);

const quietLog = (): ProbeLogger & { lines: string[] } => {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  };
};

// ---------------------------------------------------------------------------------------------------------
// The pure diffing
// ---------------------------------------------------------------------------------------------------------

function stmt(session: string, execution: string, startMs: number, nowMs: number, sql = 'SELECT SLEEP(9)'): RunningStatement {
  return { session, execution, startMs, elapsedMs: nowMs - startMs, sql, db: 'shop', user: 'app', host: '10.0.0.7' };
}
function snap(nowMs: number, running: RunningStatement[], idle: ActivitySnapshot['idle'] = []): ActivitySnapshot {
  return { nowMs, running, idle };
}
const OPTS = { minDurationMs: 500, idResolutionMs: 1000 };

describe('diffActivity (pure)', () => {
  test('statements below min-duration are tracked silently; at or above it, one running record per poll', () => {
    const start = 1_700_000_000_250.4;
    let tracking: Tracking = new Map();
    let r = diffActivity(tracking, snap(start + 200, [stmt('7', 'q1', start, start + 200)]), OPTS);
    assert.deepEqual(r.records, []);
    assert.equal(r.tracking.size, 1);
    tracking = r.tracking;
    r = diffActivity(tracking, snap(start + 700, [stmt('7', 'q1', start, start + 700)]), OPTS);
    assert.equal(r.records.length, 1);
    assert.deepEqual(r.records[0], {
      ts: start + 700,
      state: 'running',
      id: '7-1700000000000',
      durationMs: 700,
      sql: 'SELECT SLEEP(9)',
      db: 'shop',
      user: 'app',
      host: '10.0.0.7',
    });
    r = diffActivity(r.tracking, snap(start + 1200, [stmt('7', 'q1', start, start + 1200)]), OPTS);
    assert.deepEqual(
      r.records.map((x) => [x.state, x.id, x.durationMs]),
      [['running', '7-1700000000000', 1200]],
    );
  });

  test('the id is pinned at first sight: start jitter across a second boundary does not change it', () => {
    const t0 = 1_700_000_000_999.8;
    let r = diffActivity(new Map(), snap(t0 + 600, [stmt('3', 'q9', t0, t0 + 600)]), OPTS);
    const id = r.records[0].id;
    assert.equal(id, '3-1700000000000');
    // next poll estimates the start 0.4 ms later, past the boundary
    r = diffActivity(r.tracking, snap(t0 + 1100, [stmt('3', 'q9', t0 + 0.4, t0 + 1100)]), OPTS);
    assert.equal(r.records[0].id, id);
  });

  test('an idle session showing the same execution gives one finished record with the exact duration', () => {
    const t0 = 1_700_000_100_000;
    let r = diffActivity(new Map(), snap(t0 + 600, [stmt('5', 'e1', t0, t0 + 600)]), OPTS);
    assert.deepEqual(watchedSessions(r.tracking), new Set(['5']));
    r = diffActivity(r.tracking, snap(t0 + 3400, [], [{ session: '5', lastExecution: 'e1', endMs: t0 + 3001.5 }]), OPTS);
    assert.deepEqual(
      r.records.map((x) => [x.state, x.id, x.durationMs, x.ts]),
      [['finished', '5-1700000100000', 3001.5, t0 + 3001.5]],
    );
    assert.equal(r.tracking.size, 0);
    // and nothing more afterwards
    r = diffActivity(r.tracking, snap(t0 + 3900, [], [{ session: '5', lastExecution: 'e1', endMs: t0 + 3001.5 }]), OPTS);
    assert.deepEqual(r.records, []);
  });

  test('a vanished statement whose end is not shown finishes at the snapshot time (an upper bound)', () => {
    const t0 = 1_700_000_200_000;
    let r = diffActivity(new Map(), snap(t0 + 800, [stmt('9', 'e1', t0, t0 + 800)]), OPTS);
    r = diffActivity(r.tracking, snap(t0 + 1300, []), OPTS);
    assert.deepEqual(
      r.records.map((x) => [x.state, x.durationMs, x.ts]),
      [['finished', 1300, t0 + 1300]],
    );
  });

  test('a later statement on the same session bounds the end of the earlier one', () => {
    const t0 = 1_700_000_300_000;
    let r = diffActivity(new Map(), snap(t0 + 800, [stmt('9', 'e1', t0, t0 + 800)]), OPTS);
    r = diffActivity(r.tracking, snap(t0 + 1300, [stmt('9', 'e2', t0 + 1000, t0 + 1300, 'SELECT 2')]), OPTS);
    assert.deepEqual(
      r.records.map((x) => [x.state, x.id, x.durationMs]),
      [['finished', '9-1700000300000', 1000]],
      'the second statement is below min-duration: no running record for it yet',
    );
    // an idle row naming another execution bounds it too
    let r2 = diffActivity(new Map(), snap(t0 + 800, [stmt('4', 'e1', t0, t0 + 800)]), OPTS);
    r2 = diffActivity(r2.tracking, snap(t0 + 1500, [], [{ session: '4', lastExecution: 'e7', endMs: t0 + 1200 }]), OPTS);
    assert.deepEqual(
      r2.records.map((x) => [x.state, x.durationMs, x.ts]),
      [['finished', 1200, t0 + 1200]],
    );
  });

  test('statements never reported get no finished record', () => {
    const t0 = 1_700_000_400_000;
    let r = diffActivity(new Map(), snap(t0 + 100, [stmt('2', 'e1', t0, t0 + 100)]), OPTS);
    r = diffActivity(r.tracking, snap(t0 + 400, []), OPTS);
    assert.deepEqual(r.records, []);
    assert.equal(r.tracking.size, 0);
  });

  test('the same text started again on a session (MySQL, text as execution key) is a new execution', () => {
    const t0 = 1_700_000_500_000;
    let r = diffActivity(new Map(), snap(t0 + 3000, [stmt('8', 'SELECT x', t0, t0 + 3000)]), OPTS);
    r = diffActivity(r.tracking, snap(t0 + 5000, [stmt('8', 'SELECT x', t0 + 4000, t0 + 5000)]), OPTS);
    assert.deepEqual(
      r.records.map((x) => [x.state, x.id, x.durationMs]),
      [
        ['finished', '8-1700000500000', 4000],
        ['running', '8-1700000504000', 1000],
      ],
    );
  });

  test('several sessions at once: finished records first, in end order, then running ones', () => {
    const t0 = 1_700_000_600_000;
    let r = diffActivity(
      new Map(),
      snap(t0 + 2000, [stmt('1', 'a', t0, t0 + 2000), stmt('2', 'b', t0 + 500, t0 + 2000), stmt('3', 'c', t0 + 900, t0 + 2000)]),
      OPTS,
    );
    assert.equal(r.records.length, 3);
    r = diffActivity(
      r.tracking,
      snap(
        t0 + 2500,
        [stmt('3', 'c', t0 + 900, t0 + 2500)],
        [
          { session: '1', lastExecution: 'a', endMs: t0 + 2300 },
          { session: '2', lastExecution: 'b', endMs: t0 + 2100 },
        ],
      ),
      OPTS,
    );
    assert.deepEqual(
      r.records.map((x) => [x.state, x.id]),
      [
        ['finished', '2-1700000600000'],
        ['finished', '1-1700000600000'],
        ['running', '3-1700000600000'],
      ],
    );
  });

  test('executionId cuts the start to the resolution', () => {
    assert.equal(executionId('12', 1_795_328_198_425.676, 1000), '12-1795328198000');
    assert.equal(executionId('12', 1_795_328_198_425.676, 1), '12-1795328198425');
    assert.equal(executionId('12', 1_795_328_198_425.676, 0), '12-1795328198425');
  });

  test('secondsTextToMs keeps whole seconds exact', () => {
    assert.equal(secondsTextToMs('1795328198.999999'), 1_795_328_198_999.999);
    assert.equal(Math.floor(secondsTextToMs('1795328198.999999') / 1000), 1_795_328_198);
    assert.equal(secondsTextToMs('1795328198'), 1_795_328_198_000);
  });

  test('probe lines are native JSON lines that the jsonl parser reads back, labels included', () => {
    const line = toJsonLine(
      { ts: 1_795_327_131_081, state: 'running', id: '6643-1795327131000', durationMs: 12500.1234, sql: 'SELECT 1', db: 'shop', user: 'app' },
      parseLabels(['db-01', 'dc=east']),
    );
    assert.ok(line.endsWith('\n'));
    const o = JSON.parse(line) as Line;
    assert.equal(o.ts, '2026-11-22T05:58:51.081Z');
    assert.equal(o.duration_ms, 12500.123);
    const parser = new JsonLinesParser();
    const out = newParseOutput();
    parser.line(line.slice(0, -1), 0, line.length, 1, out);
    assert.deepEqual(out.problems, []);
    assert.equal(out.events.length, 1);
    const ev = out.events[0];
    assert.equal(ev.state, 'running');
    assert.equal(ev.queryId, '6643-1795327131000');
    assert.equal(ev.ts, 1_795_327_131_081);
    assert.equal(ev.db, 'shop');
    assert.deepEqual(ev.labels, { source_label: 'db-01', dc: 'east' });
    assert.throws(() => parseLabels(['id=5']), /record field/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// The poller, against a scripted source
// ---------------------------------------------------------------------------------------------------------

/** A source driven by a script: each snapshot() takes the next step (a snapshot or an error to throw). */
class ScriptedSource implements ActivitySource {
  readonly description = 'scripted';
  connects = 0;
  closes = 0;
  refuseConnects = 0;
  constructor(private readonly steps: Array<ActivitySnapshot | Error>) {}
  async connect(): Promise<void> {
    if (this.refuseConnects > 0) {
      this.refuseConnects--;
      throw new Error('connection refused');
    }
    this.connects++;
  }
  async snapshot(): Promise<ActivitySnapshot> {
    const step = this.steps.length > 1 ? this.steps.shift()! : this.steps[0];
    if (step instanceof Error) {
      if (step.message === 'server restarted') this.refuseConnects = 2;
      throw step;
    }
    return step;
  }
  async statementStats(): Promise<StatsUnavailable> {
    return { unavailable: 'scripted' };
  }
  async close(): Promise<void> {
    this.closes++;
  }
  get remaining(): number {
    return this.steps.length;
  }
}

class MemorySink {
  lines: string[] = [];
  failNext = 0;
  async append(lines: readonly string[]): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('disk full');
    }
    this.lines.push(...lines);
  }
}

describe('ActivityProbe', () => {
  test('connection loss: said once, reconnected with backoff, the vanished statement finished after reconnect', async () => {
    const t0 = 1_700_001_000_000;
    const source = new ScriptedSource([
      snap(t0 + 600, [stmt('1', 'e', t0, t0 + 600)]),
      snap(t0 + 1100, [stmt('1', 'e', t0, t0 + 1100)]),
      new Error('server restarted'),
      snap(t0 + 9000, []),
    ]);
    const sink = new MemorySink();
    const log = quietLog();
    const probe = new ActivityProbe(source, sink, { intervalMs: 5, minDurationMs: 500, log, initialBackoffMs: 5, maxBackoffMs: 20 });
    probe.start();
    await until('the script to run out', async () => (source.remaining <= 1 && sink.lines.length >= 3 ? true : undefined), 5000);
    await probe.stop();
    const lines = sink.lines.map((l) => JSON.parse(l) as Line);
    assert.deepEqual(
      lines.map((l) => [l.state, l.id]),
      [
        ['running', '1-1700001000000'],
        ['running', '1-1700001000000'],
        ['finished', '1-1700001000000'],
      ],
    );
    assert.equal(lines[2].duration_ms, 9000);
    assert.equal(log.lines.filter((l) => l.startsWith('warn')).length, 1, log.lines.join('\n'));
    assert.match(log.lines.find((l) => l.startsWith('warn'))!, /lost connection to scripted: server restarted/);
    assert.equal(log.lines.filter((l) => /reconnected/.test(l)).length, 1);
    assert.equal(source.connects, 2);
    assert.ok(source.closes >= 2, 'closed after the failure and at stop');
    const s = probe.stats();
    assert.equal(s.runningRecords, 2);
    assert.equal(s.finishedRecords, 1);
    assert.equal(s.connectionFailures, 3);
  });

  test('an output that fails keeps the lines and writes them, in order, once it works again', async () => {
    const t0 = 1_700_002_000_000;
    const source = new ScriptedSource([
      snap(t0 + 600, [stmt('1', 'e', t0, t0 + 600)]),
      snap(t0 + 700, [stmt('1', 'e', t0, t0 + 700)]),
      snap(t0 + 800, []),
    ]);
    const sink = new MemorySink();
    sink.failNext = 2;
    const log = quietLog();
    const probe = new ActivityProbe(source, sink, { intervalMs: 5, minDurationMs: 500, log });
    probe.start();
    await until('three lines', async () => (sink.lines.length >= 3 ? true : undefined), 5000);
    await probe.stop();
    assert.deepEqual(
      sink.lines.map((l) => (JSON.parse(l) as Line).duration_ms),
      [600, 700, 800],
    );
    assert.equal(log.lines.filter((l) => l.startsWith('error')).length, 1);
  });

  test('LineAppender appends whole lines to an existing file', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'out.jsonl');
    const a = new LineAppender(file);
    await a.open();
    await a.append(['{"a":1}\n', '{"a":2}\n']);
    await a.close();
    const b = new LineAppender(file);
    await b.open();
    await b.append(['{"a":3}\n']);
    await b.append([]);
    await b.close();
    assert.equal(await readFile(file, 'utf8'), '{"a":1}\n{"a":2}\n{"a":3}\n');
  });

  test('LineAppender follows rotation: rename (reopens the path) and copytruncate (appends at the new end)', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'out.jsonl');
    const a = new LineAppender(file);
    await a.open();
    await a.append(['1\n']);
    await rename(file, file + '.1');
    await a.append(['2\n']);
    await truncate(file, 0);
    await a.append(['3\n']);
    await a.close();
    assert.equal(await readFile(file + '.1', 'utf8'), '1\n');
    assert.equal(await readFile(file, 'utf8'), '3\n');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Real servers
// ---------------------------------------------------------------------------------------------------------

/** Run the probe in-process into a file; returns the file and a stop function. */
async function runProbe(
  source: ActivitySource,
  log = quietLog(),
): Promise<{ file: string; log: typeof log; polled: () => Promise<void>; stop: () => Promise<void> }> {
  const file = path.join(await tempDir(), 'probe.jsonl');
  const appender = new LineAppender(file);
  await appender.open();
  const probe = new ActivityProbe(source, appender, {
    intervalMs: 500,
    minDurationMs: 500,
    log,
    initialBackoffMs: 100,
    maxBackoffMs: 1000,
  });
  probe.start();
  return {
    file,
    log,
    polled: async () => {
      await until('the probe to poll', async () => (probe.stats().polls > 0 ? true : undefined));
    },
    stop: async () => {
      await probe.stop();
      await appender.close();
    },
  };
}

function linesFor(lines: Line[], sqlPart: string): Line[] {
  return lines.filter((l) => l.sql.includes(sqlPart));
}

/** The checks the task asks for: ≥ 2 running, exactly one finished ≈ duration, one id across them. */
function assertOneExecution(lines: Line[], expectMs: number): string {
  const running = lines.filter((l) => l.state === 'running');
  const finished = lines.filter((l) => l.state === 'finished');
  assert.ok(running.length >= 2, `at least 2 running records, got ${running.length}`);
  assert.equal(finished.length, 1, 'exactly one finished record');
  assert.equal(lines[lines.length - 1].state, 'finished', 'finished comes last');
  const ids = new Set(lines.map((l) => l.id));
  assert.equal(ids.size, 1, `one id across the records, got ${[...ids].join(', ')}`);
  for (const r of running) assert.ok(r.duration_ms >= 500 && r.duration_ms < expectMs + 100, `running duration ${r.duration_ms}`);
  const d = finished[0].duration_ms;
  assert.ok(d >= expectMs - 50 && d <= expectMs + 600, `finished duration ≈ ${expectMs} ms, got ${d}`);
  return [...ids][0];
}

/** MariaDB slow-log rule for the same id: `${Thread_id}-${SET timestamp × 1000}`. */
function mariaSlowLogId(slowLog: string, sql: string): string {
  const entries = slowLog.split(/^# User@Host: /m);
  const entry = entries.find((e) => e.includes(`\n${sql};`));
  assert.ok(entry, `the slow log has an entry for ${sql}`);
  const thread = /# Thread_id: (\d+)/.exec(entry)?.[1];
  const ts = /^SET timestamp=(\d+);/m.exec(entry)?.[1];
  assert.ok(thread && ts, `Thread_id and SET timestamp in:\n${entry}`);
  return `${thread}-${Number(ts) * 1000}`;
}

/**
 * PostgreSQL log rule for the same id: `${pid}-${floor((logMs − durationMs + 0.5) / 1000) × 1000}`, where logMs is
 * the %m timestamp (ms, truncated) of the `duration:` line: its start to ±0.5 ms, then cut to the second.
 */
function pgLogId(stderrLog: string, sqlPart: string): { id: string; startMs: number } {
  const line = stderrLog.split('\n').find((l) => l.includes('duration:') && l.includes(sqlPart));
  assert.ok(line, `the log has a duration line for ${sqlPart}`);
  const m = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) UTC \[(\d+)\] .*duration: ([\d.]+) ms/.exec(line);
  assert.ok(m, `parsable: ${line}`);
  const logMs = Date.parse(m[1].replace(' ', 'T') + 'Z');
  const startMs = logMs - Number(m[3]);
  return { id: `${m[2]}-${Math.floor((startMs + 0.5) / 1000) * 1000}`, startMs };
}

describe('slowq probe against a real MariaDB', { timeout: 180_000 }, () => {
  let server: MariaDbServer;
  before(async () => {
    // performance_schema on for the statement statistics (MariaDB has it off by default)
    server = await startMariaDb({ extraArgs: ['--performance-schema=ON'] });
  });
  after(async () => {
    await server?.stop();
  });

  test('SELECT SLEEP(3): running records every poll, then one finished ≈ 3 s; the id matches the slow log', async () => {
    const run = await runProbe(new MysqlActivitySource(server.url));
    const conn = await mysql.createConnection({ host: server.host, port: server.port, user: 'root' });
    try {
      await run.polled();
      await conn.query('SELECT SLEEP(3)');
      await until('the finished record', async () => {
        const f = linesFor(await readLines(run.file), 'SLEEP(3)');
        return f.some((l) => l.state === 'finished') ? true : undefined;
      });
    } finally {
      await conn.end();
      await run.stop();
    }
    const lines = linesFor(await readLines(run.file), 'SLEEP(3)');
    const id = assertOneExecution(lines, 3000);
    assert.equal(lines[0].user, 'root');
    assert.equal(lines[0].host, '127.0.0.1');
    assert.equal(id, mariaSlowLogId(await readFile(server.slowLogPath, 'utf8'), 'SELECT SLEEP(3)'));
    assert.deepEqual(run.log.lines, []);
  });

  test('a server restart mid-run is survived: the killed statement finishes, later ones are seen again', async () => {
    const run = await runProbe(new MysqlActivitySource(server.url));
    try {
      const victim = await mysql.createConnection({ host: server.host, port: server.port, user: 'root' });
      victim.on('error', () => {});
      const killed = victim.query('SELECT SLEEP(60)').catch((err: Error) => err);
      await until('a running record for SLEEP(60)', async () => {
        const f = linesFor(await readLines(run.file), 'SLEEP(60)');
        return f.length > 0 ? true : undefined;
      });
      await server.restart();
      assert.ok((await killed) instanceof Error, 'the sleeping statement was cut off by the restart');
      victim.destroy();
      await until('the finished record for SLEEP(60)', async () => {
        const f = linesFor(await readLines(run.file), 'SLEEP(60)');
        return f.some((l) => l.state === 'finished') ? true : undefined;
      });
      const after = await mysql.createConnection({ host: server.host, port: server.port, user: 'root' });
      try {
        await after.query('SELECT SLEEP(1.5)');
      } finally {
        await after.end();
      }
      await until('the finished record for SLEEP(1.5)', async () => {
        const f = linesFor(await readLines(run.file), 'SLEEP(1.5)');
        return f.some((l) => l.state === 'finished') ? true : undefined;
      });
    } finally {
      await run.stop();
    }
    const all = await readLines(run.file);
    const victimLines = linesFor(all, 'SLEEP(60)');
    assert.equal(victimLines.filter((l) => l.state === 'finished').length, 1);
    assert.equal(new Set(victimLines.map((l) => l.id)).size, 1);
    const later = linesFor(all, 'SLEEP(1.5)');
    assert.ok(later.filter((l) => l.state === 'running').length >= 1);
    assert.equal(later.filter((l) => l.state === 'finished').length, 1);
    assert.equal(run.log.lines.filter((l) => /lost connection/.test(l)).length, 1, run.log.lines.join('\n'));
    assert.equal(run.log.lines.filter((l) => /reconnected/.test(l)).length, 1, run.log.lines.join('\n'));
  });
  test('statement statistics: performance_schema digests give per-interval deltas of each class', async () => {
    const source = new MysqlActivitySource(server.url);
    await source.connect();
    const conn = await mysql.createConnection({ host: server.host, port: server.port, user: 'root' });
    try {
      await conn.query('CREATE DATABASE IF NOT EXISTS statsdb');
      await conn.query('CREATE TABLE IF NOT EXISTS statsdb.t (id INT PRIMARY KEY, v INT)');
      await conn.query('INSERT IGNORE INTO statsdb.t VALUES (1, 1), (2, 2), (3, 3)');
      const first = await source.statementStats();
      assert.ok(!('unavailable' in first), JSON.stringify(first));
      let prev = diffStatementStats(undefined, first).baseline;
      for (let i = 0; i < 7; i++) await conn.query('SELECT v FROM statsdb.t WHERE id = ?', [i % 3 + 1]);
      const second = await source.statementStats();
      assert.ok(!('unavailable' in second));
      const { deltas, baseline } = diffStatementStats(prev, second);
      prev = baseline;
      const mine = deltas.filter((d) => /SELECT `v` FROM `statsdb` \. `t` WHERE `?id`? = \?/i.test(d.text));
      assert.equal(mine.length, 1, JSON.stringify(deltas.map((d) => d.text)));
      assert.equal(mine[0]!.calls, 7);
      assert.equal(mine[0]!.rows, 7);
      assert.ok(mine[0]!.totalMs > 0 && mine[0]!.meanMs === mine[0]!.totalMs / 7);
      assert.match(mine[0]!.serverQueryId, /^[0-9a-f]{32,64}$/);
      // TRUNCATE of the summary: rows are made anew, not listed at the last read, so they count from zero
      await conn.query('TRUNCATE TABLE performance_schema.events_statements_summary_by_digest');
      for (let i = 0; i < 2; i++) await conn.query('SELECT v FROM statsdb.t WHERE id = ?', [1]);
      const third = await source.statementStats();
      assert.ok(!('unavailable' in third));
      const again = diffStatementStats(prev, third).deltas.filter((d) => d.serverQueryId === mine[0]!.serverQueryId);
      assert.deepEqual(again.map((d) => d.calls), [2]);
    } finally {
      await conn.end();
      await source.close();
    }
  });
});

describe('slowq probe against a real PostgreSQL', { timeout: 180_000 }, () => {
  let server: PostgresServer;
  before(async () => {
    server = await startPostgres({ logDestination: ['stderr', 'csvlog', 'jsonlog'], settings: { shared_preload_libraries: 'pg_stat_statements' } });
  });
  after(async () => {
    await server?.stop();
  });

  test('pg_sleep(3), simple and extended protocol: running records, one finished ≈ duration; ids match the log', async () => {
    const run = await runProbe(new PostgresActivitySource(server.url));
    const a = new pg.Client(server.url);
    const b = new pg.Client(server.url);
    await a.connect();
    await b.connect();
    try {
      await run.polled();
      await Promise.all([a.query('SELECT pg_sleep(3)'), b.query('SELECT pg_sleep($1)', [2])]);
      await until('both finished records', async () => {
        const all = await readLines(run.file);
        return all.filter((l) => l.state === 'finished').length >= 2 ? true : undefined;
      });
    } finally {
      await a.end();
      await b.end();
      await run.stop();
    }
    const all = await readLines(run.file);
    const simple = linesFor(all, 'pg_sleep(3)');
    const extended = linesFor(all, 'pg_sleep($1)');
    const id3 = assertOneExecution(simple, 3000);
    const id2 = assertOneExecution(extended, 2000);
    assert.equal(simple[0].db, 'postgres');
    assert.equal(simple[0].user, 'postgres');
    assert.equal(simple[0].host, '127.0.0.1');

    // every destination got the statements
    const stderrLog = await until('the log collector to write', async () => {
      const t = await readFile(server.logFiles.stderr, 'utf8').catch(() => '');
      return t.includes('pg_sleep(3)') && t.includes('pg_sleep($1)') ? t : undefined;
    });
    for (const f of [server.logFiles.csvlog, server.logFiles.jsonlog]) {
      const t = await until(`${f}`, async () => {
        const x = await readFile(f, 'utf8').catch(() => '');
        return x.includes('pg_sleep(3)') ? x : undefined;
      });
      assert.match(t, /duration: \d+\.\d+ ms {2}statement: SELECT pg_sleep\(3\)/);
    }
    assert.equal(pgLogId(stderrLog, 'statement: SELECT pg_sleep(3)').id, id3);
    assert.equal(pgLogId(stderrLog, 'execute <unnamed>: SELECT pg_sleep($1)').id, id2);
    assert.deepEqual(run.log.lines, []);
  });

  test('the CLI: slowq probe --postgres writes lines and stops cleanly on SIGTERM', async () => {
    const file = path.join(await tempDir(), 'cli.jsonl');
    const probe = slowq('probe', ['probe', '--postgres', server.url, '--out', file, '--interval', '200', '--min-duration', '200', '--source-label', 'pg-test']);
    const c = new pg.Client(server.url);
    await c.connect();
    try {
      await probe.waitForOutput('probing', 20_000);
      await c.query('SELECT pg_sleep(1)');
      await until('a finished line', async () => {
        const all = await readLines(file);
        return all.some((l) => l.state === 'finished' && l.sql.includes('pg_sleep(1)')) ? true : undefined;
      });
    } finally {
      await c.end();
    }
    assert.equal(await stop(probe), 0, probe.output());
    const lines = linesFor(await readLines(file), 'pg_sleep(1)');
    assert.ok(lines.length >= 2);
    assert.ok(lines.every((l) => l.source_label === 'pg-test'));
    assert.match(probe.output(), /stopped after \d+ polls/);
  });
  test('statement statistics: unavailable until the extension is created (said so), then deltas; the CLI writes them', async () => {
    const source = new PostgresActivitySource(server.url);
    await source.connect();
    const c = new pg.Client(server.url);
    await c.connect();
    try {
      const before = await source.statementStats();
      assert.ok('unavailable' in before);
      assert.match(before.unavailable, /CREATE EXTENSION pg_stat_statements/);
      await c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      const first = await source.statementStats();
      assert.ok(!('unavailable' in first), JSON.stringify(first));
      await c.query('CREATE TABLE IF NOT EXISTS stats_t (id int primary key, v int)');
      await c.query('INSERT INTO stats_t VALUES (1, 1), (2, 2) ON CONFLICT DO NOTHING');
      for (let i = 0; i < 5; i++) await c.query('SELECT v FROM stats_t WHERE id = $1', [1 + (i % 2)]);
      const second = await source.statementStats();
      assert.ok(!('unavailable' in second));
      const mine = diffStatementStats(diffStatementStats(undefined, first).baseline, second).deltas.filter((d) => d.text.includes('FROM stats_t WHERE id = $1'));
      assert.equal(mine.length, 1);
      assert.deepEqual([mine[0]!.calls, mine[0]!.rows, mine[0]!.db, mine[0]!.user], [5, 5, 'postgres', 'postgres']);
      assert.match(mine[0]!.serverQueryId, /^-?\d+$/);
    } finally {
      await source.close();
    }

    // The CLI: statement_stats lines beside the activity lines; a restart diffs against the saved baseline
    const file = path.join(await tempDir(), 'stats.jsonl');
    const args = ['probe', '--postgres', server.url, '--out', file, '--interval', '100', '--statements', '300'];
    const statsLines = async (): Promise<StatsLine[]> => (await readLines(file)).map((l) => l as unknown as StatsLine).filter((l) => l.kind === 'statement_stats' && l.sql.includes('FROM stats_t WHERE v = $1'));
    try {
      for (const round of [1, 2]) {
        const probe = slowq('probe', args);
        await probe.waitForOutput('probing', 20_000);
        await until('the baseline file', async () => ((await readFile(`${file}.statements.json`, 'utf8').catch(() => '')).length > 0 ? true : undefined));
        await sleepMs(400);
        for (let i = 0; i < 3 * round; i++) await c.query('SELECT id FROM stats_t WHERE v = $1', [i]);
        await until(`round ${round}'s statement_stats line`, async () => ((await statsLines()).reduce((n, l) => n + l.calls, 0) >= (round === 1 ? 3 : 10) ? true : undefined));
        assert.equal(await stop(probe), 0, probe.output());
        // while it is down, statements still run: the next start's first delta covers them
        if (round === 1) await c.query('SELECT id FROM stats_t WHERE v = $1', [42]);
      }
    } finally {
      await c.end();
    }
    const lines = await statsLines();
    assert.equal(lines.reduce((n, l) => n + l.calls, 0), 3 + 1 + 6, JSON.stringify(lines));
    assert.equal(new Set(lines.map((l) => l.id)).size, lines.length, 'no interval written twice');
  });
});
