import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseFile } from '../src/formats/read-file.js';
import { createParser, FORMAT_NAMES } from '../src/formats/parsers/index.js';
import { newParseOutput, rejectBadEvents } from '../src/formats/parsers/types.js';
import { generateLines } from '../src/workload/generator.js';
import { readAlerts, readJsonLines } from '../bench/harness/files.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { CLI, slowq, stop } from '../bench/harness/processes.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import { diffIds, duplicateIds, idSet, oracle, processTestDir } from './support/cluster.js';
import { prng } from '../src/workload/prng.js';

// Log files nobody should have to tail, under a real client: random bytes, invalid UTF-8, NUL bytes, a
// 10 MiB line, a 3 MiB line still without its newline, deeply nested lines, numbers and times out of range, and a
// binary file that the glob matches too. The client's memory stays bounded; each bad line is dead-lettered
// with its file and byte offset (and the first one is said in the log); every valid record around them gets
// through, so the alerts equal the oracle's over the same files. Then `slowq parse`/`evaluate` on the same
// files, and every parser fed random and mutated lines.

const MiB = 1 << 20;
/** what the client may reach while reading all this */
const MAX_CLIENT_RSS = 300 * MiB;

const rand = prng(1122);
const int = (n: number) => Math.floor(rand() * n);

function randomBytes(n: number, newlines: boolean): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) {
    let c = int(256);
    if (!newlines && (c === 0x0a || c === 0x0d)) c = 0x20;
    b[i] = c;
  }
  return b;
}

function rssOf(pid: number | undefined): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

interface Hostile {
  what: string;
  line: Buffer;
  /** dead-lettered (a problem), or a valid record despite its looks */
  bad: boolean;
  reason?: RegExp;
}

const T0 = Date.UTC(2026, 10, 22, 6, 0, 0);
const rec = (o: object) => Buffer.from(JSON.stringify({ ts: T0, state: 'finished', duration_ms: 2500, sql: 'select 1', ...o }));

function hostileLines(): Hostile[] {
  return [
    { what: 'random bytes', line: randomBytes(300, false), bad: true },
    { what: 'invalid UTF-8 alone', line: Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x28, 0x8c, 0xbc]), bad: true, reason: /not valid JSON/ },
    { what: 'invalid UTF-8 inside the SQL of a valid record', line: Buffer.concat([Buffer.from('{"ts":' + T0 + ',"state":"finished","id":"h-utf8","duration_ms":3000,"sql":"select \''), Buffer.from([0xff, 0xc3, 0x28]), Buffer.from('\'"}')]), bad: false },
    { what: 'NUL bytes', line: Buffer.alloc(64, 0), bad: true, reason: /not valid JSON/ },
    { what: 'a NUL inside a JSON string', line: Buffer.from('{"ts":' + T0 + ',"state":"finished","id":"h-nul","duration_ms":3000,"sql":"a\u0000b"}'), bad: true, reason: /not valid JSON/ },
    { what: 'a 10 MiB line', line: Buffer.alloc(10 * MiB, 0x61), bad: true, reason: /line of 10485761 bytes is over the 1048576-byte limit/ },
    { what: 'a 900 KiB valid record (its SQL is cut)', line: rec({ id: 'h-long-sql', sql: 'select ' + 'x'.repeat(900 * 1024) }), bad: false },
    { what: '100,000 nested brackets', line: Buffer.from('['.repeat(100_000)), bad: true, reason: /not valid JSON/ },
    { what: 'an object nested 5,000 deep', line: Buffer.from('{"a":'.repeat(5000) + '1' + '}'.repeat(5000)), bad: true, reason: /missing or invalid "ts"/ },
    { what: 'a duration out of range', line: Buffer.from('{"ts":' + T0 + ',"state":"finished","id":"h-inf","duration_ms":1e400}'), bad: true, reason: /duration_ms/ },
    { what: 'a time far past what a date can hold', line: rec({ id: 'h-far', ts: 1e300 }), bad: true, reason: /invalid "ts"/ },
    { what: 'a __proto__ key', line: Buffer.from('{"__proto__":{"polluted":true},"constructor":"x","ts":' + T0 + ',"state":"finished","id":"h-proto","duration_ms":4000,"sql":"select 2"}'), bad: false },
    { what: 'a byte order mark', line: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), rec({ id: 'h-bom' })]), bad: true, reason: /not valid JSON/ },
    { what: 'a JSON array', line: Buffer.from('[1,2,3]'), bad: true, reason: /not a JSON object/ },
    { what: 'a lone carriage return', line: Buffer.from('\r'), bad: false },
    { what: 'spaces and tabs only', line: Buffer.from(' \t \t  '), bad: false },
  ];
}

describe('hostile log files', () => {
  const dir = processTestDir('slowq-hostile-');

  const inDir = join(dir, 'in');
  mkdirSync(inDir);
  const good = join(inDir, 'good.jsonl');
  const binary = join(inDir, 'binary.jsonl');
  const noeol = join(inDir, 'noeol.jsonl');
  /** byte offset → the hostile line there that must be dead-lettered */
  const expectedProblems = new Map<number, Hostile>();

  // good.jsonl: 6,000 generated records with the hostile lines spread among them
  {
    const valid = generateLines(6000, { seed: 42, idPrefix: 'h-', startTs: T0 });
    const hostile = hostileLines();
    const parts: Buffer[] = [];
    let offset = 0;
    let h = 0;
    for (let i = 0; i < valid.length; i++) {
      if (i % 300 === 150 && h < hostile.length) {
        const x = hostile[h++]!;
        if (x.bad) expectedProblems.set(offset, x);
        const line = Buffer.concat([x.line, Buffer.from('\n')]);
        parts.push(line);
        offset += line.length;
      }
      const line = Buffer.from(valid[i] + '\n');
      parts.push(line);
      offset += line.length;
    }
    assert.equal(h, hostile.length);
    writeFileSync(good, Buffer.concat(parts));
  }
  // binary.jsonl: 2 MiB of random bytes, NULs and newlines included
  writeFileSync(binary, randomBytes(2 * MiB, true));
  // noeol.jsonl: 3 MiB with no newline yet
  writeFileSync(noeol, Buffer.alloc(3 * MiB, 0x62));

  it('the client dead-letters each bad line with its file and offset, memory bounded, alerts equal the oracle', { timeout: 5 * 60_000 }, async () => {
    const base = await freeBasePort();
    const data = join(dir, 'server');
    const up = slowq('up', ['up', '--data', data, '--port', String(base), '--consumers', '1', '--quiet']);
    const clientData = join(dir, 'client');
    const client = slowq('client', ['client', '--master', `tcp://127.0.0.1:${base}`, '--source', 'db-hostile', '--format', 'jsonl',
      '--data', clientData, join(inDir, '*.jsonl')]);
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(client.child.pid))), 100);

    // the long line without its newline is held back (not kept) until the newline comes; then a valid record
    await waitFor('the client reading', () => readJsonLines(join(clientData, 'dead-letter.jsonl')).length > 0 || undefined, 60_000);
    await sleep(1000);
    const lastLine = JSON.stringify({ ts: T0, state: 'finished', id: 'h-after-long', duration_ms: 7000, sql: 'select 3' });
    appendFileSync(noeol, '\n' + lastLine + '\n');

    const files = [good, noeol];
    const want = idSet((await Promise.all(files.map((f) => oracle([f], 'jsonl', 'db-hostile')))).flat());
    const stats = join(data, 'consumers', 'c0', 'stats.json');
    let records = 0;
    for (const f of files) records += (await parseFile(f, 'jsonl', () => {})).events;
    await waitFor('every valid record applied', () => {
      try {
        return (JSON.parse(readFileSync(stats, 'utf8')) as { highWaterTotal: number }).highWaterTotal === records || undefined;
      } catch {
        return undefined;
      }
    }, 120_000, 200);
    await waitFor('every alert', () => idSet(readAlerts(join(data, 'alerts.jsonl'))).size >= want.size || undefined, 60_000);
    await sleep(1000);
    clearInterval(sampler);

    const got = readAlerts(join(data, 'alerts.jsonl'));
    assert.deepEqual(duplicateIds(got), []);
    assert.deepEqual(diffIds(idSet(got), want), { missing: 0, extra: 0 });
    for (const id of ['h-utf8', 'h-long-sql', 'h-proto', 'h-after-long']) {
      assert.ok(got.some((a) => a.queryId === id), `the odd but valid record ${id} alerted`);
    }
    const longSql = got.find((a) => a.queryId === 'h-long-sql')!;
    assert.ok(longSql.sql.length < 5000, 'the statement text is bounded');
    assert.ok(peak > 0 && peak < MAX_CLIENT_RSS, `client peak RSS ${Math.round(peak / MiB)} MiB`);

    // dead letters: exactly the bad lines of good.jsonl, each at its offset; the long line of noeol.jsonl; the binary file's garbage
    const dead = readJsonLines<{ file: string; offset: number; line: number; reason: string }>(join(clientData, 'dead-letter.jsonl'));
    const inGood = dead.filter((d) => d.file === good);
    assert.deepEqual(inGood.map((d) => d.offset).sort((a, b) => a - b), [...expectedProblems.keys()].sort((a, b) => a - b));
    for (const d of inGood) {
      const x = expectedProblems.get(d.offset)!;
      if (x.reason) assert.match(d.reason, x.reason, x.what);
      assert.ok(d.line > 0, 'with a line number');
    }
    assert.deepEqual(dead.filter((d) => d.file === noeol).map((d) => [d.offset, d.reason]), [[0, `line of ${3 * MiB + 1} bytes is over the 1048576-byte limit; skipped`]]);
    assert.ok(dead.filter((d) => d.file === binary).length > 100, 'the binary file: its lines dead-lettered');
    assert.ok(dead.every((d) => JSON.stringify(d).length < 2000), 'dead letters carry an excerpt, not the whole line');
    // said once in the client's log, with file and offset
    const said = client.output().split('\n').filter((l) => l.includes('malformed input written to dead-letter.jsonl'));
    assert.equal(said.length, 1, client.output().slice(-2000));
    assert.match(said[0]!, /"file":"[^"]+\.jsonl","offset":\d+/);

    assert.equal(await stop(client), 0);
    assert.equal(await stop(up, 30_000), 0);
  });

  it('slowq parse and evaluate: a clear error with file, line and byte offset; a binary file is refused', () => {
    // stderr only: the records on stdout are not what this is about
    const run = (args: string[]) => {
      const r = spawnSync(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 120_000 });
      return { code: r.status, err: r.stderr };
    };
    const first = [...expectedProblems.keys()].sort((a, b) => a - b)[0]!;
    const parse = run(['parse', '--format', 'jsonl', good]);
    assert.equal(parse.code, 0, parse.err);
    assert.ok(parse.err.includes(`slowq parse: ${good}:`), parse.err);
    assert.match(parse.err, new RegExp(`good\\.jsonl:\\d+ \\(byte ${first}\\): `));
    assert.match(parse.err, new RegExp(` ${expectedProblems.size} malformed`));

    const bin = run(['parse', '--format', 'jsonl', binary]);
    assert.equal(bin.code, 2, bin.err);
    assert.match(bin.err, /binary\.jsonl does not look like jsonl/);

    const ev = run(['evaluate', '--format', 'jsonl', '--source', 's', good]);
    assert.equal(ev.code, 0, ev.err);
    assert.match(ev.err, new RegExp(`good\\.jsonl:\\d+ \\(byte ${first}\\)`));
    assert.match(ev.err, new RegExp(` ${expectedProblems.size} lines skipped as malformed`));
  });

  it('every parser survives random and mutated lines: events or counted problems, never an exception', () => {
    const samples: Record<string, string[]> = {
      jsonl: [JSON.stringify({ ts: T0, state: 'running', id: 'p1', duration_ms: 12000, sql: 'select * from t where id = 1', db: 'shop' })],
      'mysql-slow': [
        '# Time: 2026-11-22T06:00:00.000000Z', '# User@Host: app[app] @ localhost []  Id:    12',
        '# Query_time: 2.500000  Lock_time: 0.000100 Rows_sent: 1  Rows_examined: 1000', 'SET timestamp=1795327200;', 'SELECT * FROM orders WHERE id = 1;',
      ],
      postgres: ['2026-11-22 06:00:00.123 UTC [1234] app@shop LOG:  duration: 2500.123 ms  statement: SELECT * FROM orders WHERE id = 1'],
      'postgres-csv': ['2026-11-22 06:00:00.123 UTC,"app","shop",1234,"127.0.0.1:5555",6643a1b2.4d2,1,"SELECT",2026-11-22 06:00:00 UTC,3/0,0,LOG,00000,"duration: 2500.123 ms  statement: SELECT 1",,,,,,,,,"psql","client backend",,0'],
      'postgres-json': ['{"timestamp":"2026-11-22 06:00:00.123 UTC","user":"app","dbname":"shop","pid":1234,"session_id":"6643a1b2.4d2","line_num":1,"error_severity":"LOG","message":"duration: 2500.123 ms  statement: SELECT 1","backend_type":"client backend"}'],
    };
    assert.deepEqual(Object.keys(samples).sort(), FORMAT_NAMES().sort());
    const mutateLine = (s: string): string => {
      const chars = [...s];
      for (let k = 0, n = 1 + int(6); k < n && chars.length; k++) {
        const i = int(chars.length);
        switch (int(6)) {
          case 0: chars.splice(i, 1); break;
          case 1: chars.splice(i, 0, String.fromCharCode(int(0x3000))); break;
          case 2: chars[i] = pick(['"', ',', '\\', ':', '{', '}', '#', ' ', '\t', '\u0000', '\ufffd']); break;
          case 3: chars.length = i; break;
          case 4: chars.splice(i, 0, ...chars.slice(int(chars.length))); break;
          default: chars.splice(i, 0, ...'9'.repeat(1 + int(400)));
        }
      }
      return chars.join('');
    };
    const pick = <T>(l: readonly T[]): T => l[int(l.length)]!;
    for (const format of FORMAT_NAMES()) {
      const parser = createParser(format);
      const out = newParseOutput();
      let lines = 0;
      let offset = 0;
      const feed = (line: string) => {
        const bytes = Buffer.byteLength(line) + 1;
        parser.line(line, offset, offset + bytes, ++lines, out);
        offset += bytes;
      };
      // the sample itself parses
      for (const l of samples[format]!) feed(l);
      parser.flush(true, out);
      assert.ok(out.events.length >= 1, `${format}: the sample is a record`);
      let events = 0;
      let problems = 0;
      for (let round = 0; round < 4000; round++) {
        const p = rand();
        if (p < 0.2) feed(randomBytes(int(400), false).toString('utf8'));
        else if (p < 0.25) feed(randomBytes(int(400), false).toString('latin1'));
        else for (const l of samples[format]!) feed(rand() < 0.5 ? mutateLine(l) : l);
        if (round % 100 === 0) parser.flush(false, out);
        rejectBadEvents(out, 0, () => lines); // what every reader of parser output does
        // the carry-over state survives a round trip, as the registry stores it
        const ctx = parser.context();
        if (round % 500 === 0 && ctx !== undefined) parser.restore(JSON.parse(JSON.stringify(ctx)));
        events += out.events.length;
        problems += out.problems.length;
        for (const pr of out.problems) assert.ok(pr.offset >= 0 && pr.offset <= offset && pr.line >= 1 && pr.reason.length > 0, `${format}: a located problem`);
        for (const ev of out.events) assert.ok(ev.sql.length <= 5000 && Number.isFinite(ev.durationMs), `${format}: a bounded, finite event`);
        out.events.length = 0;
        out.problems.length = 0;
      }
      parser.flush(true, out);
      assert.ok(events + problems + out.events.length > 0, `${format}: saw something`);
    }
  });

  it('a duration or time no date can hold is a problem with its place, not a record (pipeline and oracle alike)', async () => {
    const nines = '9'.repeat(400);
    const cases: Array<[string, string]> = [
      ['mysql-slow', `# Time: 2026-11-22T06:00:00.000000Z\n# User@Host: app[app] @ localhost []  Id:    12\n# Query_time: 2${nines}.5  Lock_time: 0.0 Rows_sent: 1  Rows_examined: 1\nSET timestamp=1795327200;\nSELECT 1;\n`],
      ['postgres', `2026-11-22 06:00:00.123 UTC [1234] app@shop LOG:  duration: 25${nines}.1 ms  statement: SELECT 1\n`],
      ['jsonl', `{"ts":9e99,"state":"finished","id":"x","duration_ms":5}\n{"ts":1,"state":"finished","id":"y","duration_ms":1e999}\n`],
    ];
    for (const [format, text] of cases) {
      const f = join(dir, `huge.${format}`);
      writeFileSync(f, text);
      const problems: Array<{ offset: number; reason: string }> = [];
      const summary = await parseFile(f, format, () => {}, (p) => problems.push(p));
      assert.equal(summary.events, 0, `${format}: no record`);
      assert.ok(problems.length >= 1 && problems.every((p) => /out of range|invalid/.test(p.reason) && p.offset >= 0), `${format}: ${JSON.stringify(problems)}`);
    }
  });
});
