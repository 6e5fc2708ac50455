import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fingerprint, fingerprintId } from '../src/formats/fingerprint.js';
import { LineSplitter } from '../src/formats/line-splitter.js';
import { MAX_STATEMENT_CHARS, MySqlSlowParser, parseMysqlTime } from '../src/formats/parsers/mysql-slow.js';
import { newParseOutput, type ParseOutput } from '../src/formats/parsers/types.js';
import { MAX_SQL_BYTES, type ParsedEvent } from '../src/model/record.js';
import { LogTimeZone } from '../src/formats/time-zones.js';
import { corpusFile } from './support/corpus.js';

interface Result extends ParseOutput {
  /** parser context captured right after each event was emitted (what a tailer would commit with it) */
  contexts: unknown[];
}

/** Feeds `input` through LineSplitter + parser, split into chunks at `cuts`, then flushes (final). */
function parse(input: string | Buffer, cuts: number[] = [], opts: { maxLineBytes?: number; start?: number; context?: unknown; zone?: string } = {}): Result {
  const buf = typeof input === 'string' ? Buffer.from(input) : input;
  const parser = new MySqlSlowParser(opts.zone !== undefined ? { logTimeZone: LogTimeZone.open(opts.zone) } : {});
  if (opts.context !== undefined) parser.restore(opts.context);
  const out = newParseOutput();
  const contexts: unknown[] = [];
  let lineNo = 0;
  const splitter = new LineSplitter(opts.start ?? 0, opts.maxLineBytes);
  const sink = {
    line: (text: string, offset: number, end: number) => {
      const before = out.events.length;
      parser.line(text, offset, end, ++lineNo, out);
      for (let i = before; i < out.events.length; i++) contexts.push(structuredClone(parser.context()));
    },
    oversize: () => {
      lineNo++;
    },
  };
  let from = 0;
  for (const cut of [...cuts, buf.length]) {
    splitter.push(buf.subarray(from, cut), sink);
    from = cut;
  }
  splitter.finish(sink);
  const before = out.events.length;
  parser.flush(true, out);
  for (let i = before; i < out.events.length; i++) contexts.push(structuredClone(parser.context()));
  return { ...out, contexts };
}

const ENTRY = [
  '# Time: 071015 21:43:52',
  '# User@Host: root[root] @ localhost [127.0.0.1]  Id:    42',
  '# Query_time: 2.500000  Lock_time: 0.000109  Rows_sent: 1  Rows_examined: 300',
  'use shop;',
  'SET timestamp=1192484630;',
  "SELECT id FROM users WHERE name='baouong';",
  '',
].join('\n');

describe('mysql-slow parser: entries', () => {
  it('parses a classic entry into a finished event covering the whole entry', () => {
    const r = parse(ENTRY);
    assert.deepEqual(r.problems, []);
    assert.equal(r.events.length, 1);
    const e = r.events[0]!;
    assert.equal(e.state, 'finished');
    assert.equal(e.ts, Date.UTC(2007, 9, 15, 21, 43, 52));
    assert.equal(e.durationMs, 2500);
    assert.equal(e.lockMs, 0.109);
    assert.equal(e.rowsSent, 1);
    assert.equal(e.rowsExamined, 300);
    assert.equal(e.user, 'root');
    assert.equal(e.host, 'localhost');
    assert.equal(e.db, 'shop');
    assert.equal(e.sql, "SELECT id FROM users WHERE name='baouong'");
    assert.equal(e.fingerprint, 'select id from users where name=?');
    assert.equal(e.fingerprintId, fingerprintId(e.fingerprint));
    assert.equal(e.offset, 0);
    assert.equal(e.end, Buffer.byteLength(ENTRY));
    assert.deepEqual(e.labels, { ip: '127.0.0.1' });
    // SET timestamp is the start second; the statement ran past it, so it keeps the plain id
    assert.equal(e.queryId, '42-1192484630000');
  });

  it('reads old and ISO # Time: forms', () => {
    assert.equal(parseMysqlTime('071015 21:43:52'), Date.UTC(2007, 9, 15, 21, 43, 52));
    assert.equal(parseMysqlTime('081127  8:51:20'), Date.UTC(2008, 10, 27, 8, 51, 20));
    assert.equal(parseMysqlTime('121123 19:56:06.0000001967'), Date.UTC(2012, 10, 23, 19, 56, 6));
    assert.equal(parseMysqlTime('2016-07-20T18:13:25.698433Z'), Date.UTC(2016, 6, 20, 18, 13, 25, 698));
    assert.equal(parseMysqlTime('2016-07-20T20:13:25.698433+02:00'), Date.UTC(2016, 6, 20, 18, 13, 25, 698));
    assert.equal(parseMysqlTime('margdl 11:48:27'), undefined);
  });

  it('an entry without # Time: inherits the previous one; with none at all, SET timestamp + Query_time', () => {
    const log = [
      '# User@Host: app[app] @ web1 []',
      '# Thread_id: 7  Schema: shop',
      '# Query_time: 1.500000  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 0',
      'SET timestamp=1700000000;',
      'SELECT 1;',
      '# Time: 2023-11-14T22:13:30.000000Z',
      '# User@Host: app[app] @ web1 []',
      '# Thread_id: 7  Schema: shop',
      '# Query_time: 0.100000  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 0',
      'SELECT 2;',
      '# User@Host: app[app] @ web1 []',
      '# Thread_id: 8  Schema: shop',
      '# Query_time: 0.200000  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 0',
      'SELECT 3;',
      '',
    ].join('\n');
    const r = parse(log);
    assert.deepEqual(r.events.map((e) => e.ts), [1700000001500, 1700000010000, 1700000010000]);
    assert.deepEqual(r.events.map((e) => e.db), ['shop', 'shop', 'shop']);
  });

  it('keeps every # Key: value attribute as a label (Percona and MariaDB extras), booleans and numbers typed; plan facts and explain rows are the plan', () => {
    const log = [
      '# Time: 131128  1:05:31',
      '# User@Host: user1[user1] @ localhost [127.0.0.1]  Id: 69194',
      '# Schema: maindb  Last_errno: 0  Killed: 0',
      '# Query_time: 0.000228  Lock_time: 0.000114  Rows_sent: 1  Rows_examined: 1  Rows_affected: 0',
      '# Bytes_sent: 545  Tmp_tables: 0  Tmp_disk_tables: 0  Tmp_table_sizes: 0',
      '# InnoDB_trx_id: 1A88583F',
      '# QC_Hit: No  Full_scan: Yes  Full_join: No  Tmp_table: No  Tmp_table_on_disk: No',
      '#   InnoDB_IO_r_ops: 0  InnoDB_IO_r_bytes: 0  InnoDB_IO_r_wait: 0.000000',
      '# explain: id\tselect_type\ttable\ttype',
      '# explain: 1\tSIMPLE\tbar\tconst',
      'SET timestamp=1385600731;',
      'SELECT foo FROM bar WHERE id=1;',
      '',
    ].join('\n');
    const [e] = parse(log).events;
    assert.ok(e);
    assert.equal(e.db, 'maindb');
    assert.equal(e.rowsExamined, 1);
    assert.deepEqual(e.labels, {
      ip: '127.0.0.1',
      Last_errno: 0,
      Killed: 0,
      Rows_affected: 0,
      Bytes_sent: 545,
      Tmp_table_sizes: 0,
      InnoDB_trx_id: '1A88583F',
      QC_Hit: false,
      InnoDB_IO_r_ops: 0,
      InnoDB_IO_r_bytes: 0,
      InnoDB_IO_r_wait: 0,
    });
    assert.deepEqual(e.planFacts, { tmpTables: 0, tmpDiskTables: 0, fullScan: true, fullJoin: false, tmpTable: false, tmpTableOnDisk: false });
    assert.equal(e.plan, 'id\tselect_type\ttable\ttype\n1\tSIMPLE\tbar\tconst');
    assert.equal(e.sql, 'SELECT foo FROM bar WHERE id=1');
    assert.equal(e.queryId, '69194-1385600731000#0'); // started and ended within one second
  });

  it('takes the thread from Thread_id:, and an empty Schema: stays empty', () => {
    const log = [
      '# Time: 100525 10:22:00',
      '# User@Host: foo[foo] @ host1 []',
      '# Thread_id: 342 Schema:  Last_errno: 1 Killed: 2',
      '# Query_time: 3.000173 Lock_time: 0.000048 Rows_sent: 18 Rows_examined: 18',
      'select foo;',
      '',
    ].join('\n');
    const [e] = parse(log).events;
    assert.ok(e);
    assert.equal(e.db, undefined);
    assert.equal(e.labels?.Thread_id, 342);
    assert.equal(e.labels?.Last_errno, 1);
    assert.equal(e.queryId, `342-${Date.UTC(2010, 4, 25, 10, 21, 56)}`);
  });

  it('keeps a multi-line statement whole, # lines and blank lines inside it included', () => {
    const stmt = ['SELECT *', '', '# not a header: the line before does not end in ;', 'FROM foo', "WHERE bar = 'bar';"];
    const log = ['# Query_time: 1  Lock_time: 0  Rows_sent: 5  Rows_examined: 3', ...stmt, '# Query_time: 2  Lock_time: 0  Rows_sent: 0  Rows_examined: 0', 'SELECT 2;', ''].join('\n');
    const r = parse(log);
    assert.equal(r.events.length, 2);
    assert.equal(r.events[0]!.sql, stmt.join('\n').slice(0, -1));
    assert.equal(r.events[0]!.fingerprint, 'select * from foo where bar = ?');
    assert.equal(r.events[1]!.offset, r.events[0]!.end);
  });

  it('an administrator command is the statement, also when it follows a headers-only entry (use db;)', () => {
    const log = [
      '# User@Host: meow[meow] @  [1.2.3.8]',
      '# Thread_id: 5  Schema: db1',
      '# Query_time: 0.000002  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 0',
      '# administrator command: Quit;',
      '# User@Host: meow[meow] @  [1.2.3.8]',
      '# Thread_id: 7  Schema: db2',
      '# Query_time: 0.018799  Lock_time: 0.009453  Rows_sent: 9  Rows_examined: 2',
      'use db2;',
      '# administrator command: Quit;',
      '',
    ].join('\n');
    const r = parse(log);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.events.map((e) => [e.sql, e.db, e.host]), [
      ['administrator command: Quit', 'db1', '1.2.3.8'],
      ['administrator command: Quit', 'db2', '1.2.3.8'],
    ]);
    assert.equal(r.events[1]!.end, Buffer.byteLength(log));
  });

  it('an entry of headers followed by another entry has no query (as pt-query-digest: /* No query */)', () => {
    const log = [
      '# Time: 121123 19:56:06',
      '# Query_time: 0.000102  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 0',
      'SET timestamp=1111111111;',
      'use test_db;',
      '# Time: 121123 19:56:07',
      '# Query_time: 0.002515  Lock_time: 0.000197  Rows_sent: 0  Rows_examined: 1',
      'update t set b = b + 30 where user_id=1;',
      '',
    ].join('\n');
    const r = parse(log);
    assert.deepEqual(r.events.map((e) => [e.sql, e.fingerprint, e.db]), [
      ['/* No query */', '', 'test_db'],
      ['update t set b = b + 30 where user_id=1', 'update t set b = b ? ? where user_id=?', undefined],
    ]);
  });

  it('drops server start-up banners wherever they are, counting them as skipped', () => {
    const banner = [
      '/usr/sbin/mysqld, Version: 5.0.38-Ubuntu_0ubuntu1.1-log (Ubuntu 7.04 distribution). started with:',
      'Tcp port: 3306  Unix socket: /var/run/mysqld/mysqld.sock',
      'Time                 Id Command    Argument',
    ];
    const entry = ['# Time: 071015 21:43:52', '# Query_time: 2  Lock_time: 0  Rows_sent: 1  Rows_examined: 0', 'select sleep(2) from n;'];
    const r = parse([...banner, ...entry, ...banner, ...banner, ...entry, ...banner, ''].join('\n'));
    assert.deepEqual(r.problems, []);
    assert.equal(r.skipped, 12);
    assert.deepEqual(r.events.map((e) => e.sql), ['select sleep(2) from n', 'select sleep(2) from n']);
  });

  it("MariaDB: # Time: is the start second (as SET timestamp), so the end is start + Query_time; its banner is dropped", () => {
    const log = [
      '/usr/sbin/mariadbd, Version: 10.11.6-MariaDB-0+deb12u1-log (Debian 12). started with:',
      'Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock',
      'Time\t\t    Id Command\tArgument',
      '# Time: 231114 22:13:20',
      '# User@Host: app[app] @ localhost []',
      '# Thread_id: 31  Schema: shop  QC_hit: No',
      '# Query_time: 2.500000  Lock_time: 0.000100  Rows_sent: 1  Rows_examined: 0',
      '# Rows_affected: 0  Bytes_sent: 64',
      'SET timestamp=1700000000;',
      'SELECT SLEEP(2.5);',
      '',
    ].join('\n');
    const r = parse(log);
    assert.equal(r.skipped, 3);
    assert.deepEqual(r.events.map((e) => [e.ts, e.queryId, e.db]), [[1700000002500, '31-1700000000000', 'shop']]);
  });

  it('reports entries without a usable Query_time and headers cut short, and goes on', () => {
    const log = [
      '# administrator command: Quit;', // the tail of an entry whose head is in the previous file
      '# Time: 081116 15:07:11',
      '# Query_time: 18446744073708.796870.000036  Lock_time: 0.000036  Rows_sent: 1  Rows_examined: 127',
      'SELECT * FROM mytbl;',
      '# Time: 081116 15:07:12',
      '# Query_time: 1.000000  Lock_time: 0.000036  Rows_sent: 1  Rows_examined: 127',
      'SELECT 1;',
      '# Time: 081114 13:04:02',
      '# User@Host: truncated',
    ].join('\n');
    const r = parse(log);
    assert.deepEqual(r.events.map((e) => e.sql), ['SELECT 1']);
    assert.deepEqual(
      r.problems.map((p) => [p.line, p.reason.split(' ').slice(0, 3).join(' ')]),
      [
        [1, 'entry has no'],
        [2, 'invalid Query_time "18446744073708.796870.000036";'],
        [8, 'entry has headers'],
      ],
    );
  });

  it('bounds the stored statement but fingerprints it whole', () => {
    const ids = Array.from({ length: 2000 }, (_, i) => i).join(', ');
    const r = parse(`# Query_time: 1.0  Lock_time: 0  Rows_sent: 1  Rows_examined: 0\nSELECT * FROM t WHERE id IN (${ids});\n`);
    const e = r.events[0]!;
    assert.ok(e.sql.length <= MAX_SQL_BYTES + 20 && e.sql.endsWith('truncated */'));
    assert.equal(e.fingerprint, 'select * from t where id in(?+)');
  });

  it('bounds the text kept for an entry that never ends (a file that is not a slow log)', () => {
    const line = 'x'.repeat(999);
    const text = '# Query_time: 1  Lock_time: 0  Rows_sent: 0  Rows_examined: 0\n' + `${line}\n`.repeat(Math.ceil(MAX_STATEMENT_CHARS / 1000) + 10);
    const r = parse(text);
    assert.equal(r.events.length, 1);
    assert.ok(r.events[0]!.sql.endsWith('truncated */'));
    assert.equal(r.events[0]!.end, Buffer.byteLength(text));
  });

  it('keeps an entry whose statement line was too long to read, marking the statement', () => {
    const log = [
      '# Query_time: 5.0  Lock_time: 0  Rows_sent: 1  Rows_examined: 0',
      'INSERT INTO t VALUES ' + '(1),'.repeat(100) + '(2);',
      '# Query_time: 1.0  Lock_time: 0  Rows_sent: 1  Rows_examined: 0',
      'SELECT 1;',
      '',
    ].join('\n');
    const r = parse(log, [], { maxLineBytes: 200 });
    assert.deepEqual(r.events.map((e) => [e.durationMs, e.sql]), [
      [5000, '/* 426 bytes not read: line over the length limit */'],
      [1000, 'SELECT 1'],
    ]);
  });
});

describe('mysql-slow parser: query ids', () => {
  const entry = (thread: number, time: string, qt: string, set: number, sql: string) =>
    [`# Time: ${time}`, `# User@Host: a[a] @ h []  Id: ${thread}`, `# Query_time: ${qt}  Lock_time: 0  Rows_sent: 0  Rows_examined: 0`, `SET timestamp=${set};`, `${sql};`].join('\n');

  it('thread + start second; only the statement still running after its start second keeps the plain id', () => {
    const log = [
      entry(9, '2023-11-14T22:13:20.200000Z', '0.100000', 1700000000, 'SET NAMES utf8'),
      entry(9, '2023-11-14T22:13:50.100000Z', '29.800000', 1700000000, 'SELECT SLEEP(29.8)'),
      entry(9, '2023-11-14T22:13:51.100000Z', '1.000000', 1700000030, 'SELECT 1'),
      entry(9, '2023-11-14T22:13:52.100000Z', '1.000000', 1700000030, 'SELECT 2'), // a replica replaying timestamps
      '',
    ].join('\n');
    const r = parse(log);
    const offsets = r.events.map((e) => e.offset);
    assert.deepEqual(r.events.map((e) => e.queryId), [
      `9-1700000000000#${offsets[0]}`,
      '9-1700000000000',
      '9-1700000030000',
      `9-1700000030000#${offsets[3]}`,
    ]);
  });

  it('the same input gives the same ids; without any time the id is thread + byte offset', () => {
    const log = '# Query_time: 1  Lock_time: 0  Rows_sent: 0  Rows_examined: 0\nSELECT 1;\n# Query_time: 1  Lock_time: 0  Rows_sent: 0  Rows_examined: 0\nSELECT 1;\n';
    const a = parse(log).events.map((e) => e.queryId);
    assert.deepEqual(a, ['?-@0', '?-@72']);
    assert.deepEqual(parse(log).events.map((e) => e.queryId), a);
  });
});

describe('mysql-slow parser: streaming', () => {
  const two = ENTRY + ENTRY.replace('baouong', 'other');

  it('emits an entry only when the next one starts, or at the end of input', () => {
    const p = new MySqlSlowParser();
    const out = newParseOutput();
    const lines = two.split('\n').slice(0, -1);
    let offset = 0;
    lines.forEach((text, i) => {
      const end = offset + Buffer.byteLength(text) + 1;
      p.line(text, offset, end, i + 1, out);
      offset = end;
      if (i < 6) assert.equal(out.events.length, 0, `nothing before the second entry starts (line ${i + 1})`);
    });
    assert.equal(out.events.length, 1);
    p.flush(true, out);
    assert.equal(out.events.length, 2);
  });

  it('flush(false) on an idle tail emits a pending entry only if its statement ends with ;', () => {
    const feed = (p: MySqlSlowParser, text: string, out: ParseOutput, start = 0) => {
      let offset = start;
      for (const line of text.split('\n').slice(0, -1)) {
        const end = offset + Buffer.byteLength(line) + 1;
        p.line(line, offset, end, 0, out);
        offset = end;
      }
      return offset;
    };
    const p = new MySqlSlowParser();
    const out = newParseOutput();
    let at = feed(p, '# Query_time: 1  Lock_time: 0  Rows_sent: 0  Rows_examined: 0\nSELECT 1\n', out);
    p.flush(false, out);
    assert.equal(out.events.length, 0, 'statement not finished');
    at = feed(p, 'FROM dual;\n', out, at);
    p.flush(false, out);
    assert.deepEqual(out.events.map((e) => e.sql), ['SELECT 1\nFROM dual']);
    at = feed(p, '# Query_time: 2  Lock_time: 0  Rows_sent: 0  Rows_examined: 0\nuse db;\n', out, at);
    p.flush(false, out);
    assert.equal(out.events.length, 1, 'headers only: the statement is still to come');
    feed(p, '# administrator command: Quit;\n', out, at);
    p.flush(false, out);
    assert.deepEqual(out.events.map((e) => e.sql), ['SELECT 1\nFROM dual', 'administrator command: Quit']);
    assert.deepEqual(out.problems, []);
  });

  it('resumes from context() at an event end with the same results (inherited # Time:, remembered ids)', () => {
    const log = [
      '# Time: 2023-11-14T22:13:21.000000Z',
      '# User@Host: a[a] @ h []  Id: 1',
      '# Query_time: 2.000000  Lock_time: 0  Rows_sent: 0  Rows_examined: 0',
      'SET timestamp=1700000000;',
      'SELECT 1;',
      '# User@Host: a[a] @ h []  Id: 1',
      '# Query_time: 3.000000  Lock_time: 0  Rows_sent: 0  Rows_examined: 0',
      'SET timestamp=1700000000;',
      'SELECT 2;',
      '',
    ].join('\n');
    const whole = parse(log);
    assert.equal(whole.events.length, 2);
    const resumed = parse(Buffer.from(log).subarray(whole.events[0]!.end), [], { start: whole.events[0]!.end, context: whole.contexts[0] });
    assert.deepEqual(resumed.events, whole.events.slice(1));
    assert.equal(resumed.events[0]!.ts, Date.UTC(2023, 10, 14, 22, 13, 21));
    assert.equal(resumed.events[0]!.queryId, `1-1700000000000#${whole.events[0]!.end}`);
  });

  it('context survives JSON; a context it did not write is ignored (a fresh start)', () => {
    const r = parse(ENTRY + ENTRY);
    const ctx = JSON.parse(JSON.stringify(r.contexts[0])) as unknown;
    const p = new MySqlSlowParser();
    p.restore(ctx);
    assert.deepEqual(p.context(), r.contexts[0]);
    p.restore('nonsense');
    assert.equal(p.context(), undefined);
    p.restore({ time: 'yesterday', threads: [[1, 2], 'x'] });
    assert.equal(p.context(), undefined);
  });
});

describe('mysql-slow parser: local times (--log-timezone) and repeated starts', () => {
  /** An entry: `# Time:` (if given), thread, Query_time, `SET timestamp=` (if given), the statement. */
  const entry = (o: { time?: string; thread?: number; seconds: number; set?: number; sql: string }) =>
    [
      ...(o.time !== undefined ? [`# Time: ${o.time}`] : []),
      `# User@Host: app[app] @ localhost []  Id: ${o.thread ?? 7}`,
      `# Query_time: ${o.seconds.toFixed(6)}  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 0`,
      ...(o.set !== undefined ? [`SET timestamp=${o.set};`] : []),
      `${o.sql};`,
    ].join('\n');
  const log = (...entries: string[]) => entries.join('\n') + '\n';

  it('a classic # Time: is the server\'s local time: read in --log-timezone, else as UTC', () => {
    const text = log(entry({ time: '240115  9:05:43', seconds: 2, sql: 'SELECT 1' }));
    assert.equal(parse(text, [], { zone: 'Asia/Shanghai' }).events[0]!.ts, Date.UTC(2024, 0, 15, 1, 5, 43));
    assert.equal(parse(text, [], { zone: 'America/Havana' }).events[0]!.ts, Date.UTC(2024, 0, 15, 14, 5, 43));
    assert.equal(parse(text).events[0]!.ts, Date.UTC(2024, 0, 15, 9, 5, 43));
  });

  it('ISO times with Z or an offset are what they say, whatever the zone', () => {
    const text = log(entry({ time: '2024-01-15T09:05:43.500000Z', seconds: 2, sql: 'SELECT 1' }), entry({ time: '2024-01-15T17:05:44.500000+08:00', seconds: 2, sql: 'SELECT 2' }));
    for (const zone of [undefined, 'Asia/Shanghai']) {
      assert.deepEqual(parse(text, [], zone ? { zone } : {}).events.map((e) => e.ts), [Date.UTC(2024, 0, 15, 9, 5, 43, 500), Date.UTC(2024, 0, 15, 9, 5, 44, 500)]);
    }
  });

  it('a server east of UTC: a # Time: without a zone does not put the end hours after SET timestamp', () => {
    // MariaDB in Asia/Shanghai: `# Time:` is the start second in local time, SET timestamp the same second since the epoch
    const set = Date.UTC(2024, 0, 15, 1, 5, 43) / 1000;
    const text = log(entry({ time: '240115  9:05:43', seconds: 2.5, set, sql: 'SELECT SLEEP(2.5)' }));
    assert.equal(parse(text).events[0]!.ts, set * 1000 + 2500, 'without the zone');
    assert.equal(parse(text, [], { zone: 'Asia/Shanghai' }).events[0]!.ts, set * 1000 + 2500, 'with it');
  });

  it('the hour repeated when daylight time ends: each # Time: is read nearest the one before', () => {
    const text = log(
      entry({ time: '241103  1:50:00', seconds: 2, sql: 'SELECT 1' }),
      entry({ time: '241103  1:10:00', seconds: 2, sql: 'SELECT 2' }),
      entry({ time: '241103  1:40:00', seconds: 2, sql: 'SELECT 3' }),
    );
    const r = parse(text, [], { zone: 'America/Chicago' });
    assert.deepEqual(r.events.map((e) => new Date(e.ts).toISOString()), ['2024-11-03T06:50:00.000Z', '2024-11-03T07:10:00.000Z', '2024-11-03T07:40:00.000Z']);
    // a resume carries the previous time: the same readings
    const rest = parse(Buffer.from(text).subarray(r.events[0]!.end), [], { start: r.events[0]!.end, context: r.contexts[0], zone: 'America/Chicago' });
    assert.deepEqual(rest.events, r.events.slice(1));
  });

  it('a replica replaying timestamps (X, X+1, X in one thread): every execution gets its own id, the first the plain one', () => {
    const X = 1_700_000_000;
    const text = log(
      entry({ seconds: 1.1, set: X, sql: "SELECT 'r1', SLEEP(1.1)" }),
      entry({ seconds: 1.1, set: X + 1, sql: "SELECT 'r2', SLEEP(1.1)" }),
      entry({ seconds: 1.1, set: X, sql: "SELECT 'r3', SLEEP(1.1)" }),
      entry({ seconds: 1.1, set: X + 1, sql: "SELECT 'r4', SLEEP(1.1)" }),
      entry({ thread: 8, seconds: 1.1, set: X, sql: "SELECT 'other thread', SLEEP(1.1)" }),
    );
    const r = parse(text);
    const ids = r.events.map((e) => e.queryId);
    assert.deepEqual(ids, [`7-${X}000`, `7-${X + 1}000`, `7-${X}000#${r.events[2]!.offset}`, `7-${X + 1}000#${r.events[3]!.offset}`, `8-${X}000`]);
    r.events.forEach((e, i) => {
      const rest = parse(Buffer.from(text).subarray(e.end), [], { start: e.end, context: r.contexts[i] });
      assert.deepEqual(rest.events.map((x) => x.queryId), ids.slice(i + 1), `resumed after event ${i}`);
    });
  });

  it('what is remembered stays bounded, and a start older than it is never given the plain id again', () => {
    const X = 1_700_000_000;
    const entries: string[] = [];
    for (let t = 0; t < 100; t++) for (let k = 0; k < 20; k++) entries.push(entry({ thread: 1000 + t, seconds: 1.5, set: X + k * 10, sql: 'SELECT 1' }));
    entries.push(entry({ thread: 1099, seconds: 1.5, set: X, sql: 'SELECT 1' }));
    const r = parse(log(...entries));
    const ctx = r.contexts[r.contexts.length - 1] as { threads: Array<[string, number | null, number[]]> };
    assert.equal(ctx.threads.length, 64);
    assert.ok(ctx.threads.every(([, , starts]) => starts.length <= 8));
    const last = r.events[r.events.length - 1]!;
    assert.equal(last.queryId, `1099-${X}000#${last.offset}`);
    assert.ok(JSON.stringify(ctx).length < 16_000);
  });

  it('a context of the earlier form ([thread, start] pairs) is read', () => {
    const X = 1_700_000_000;
    const r = parse(log(entry({ seconds: 1.1, set: X, sql: 'SELECT 1' })), [], { context: { threads: [['7', X * 1000]] } });
    assert.equal(r.events[0]!.queryId, `7-${X}000#0`);
  });
});

describe('mysql-slow parser: corpus files, any chunking, any resume point', () => {
  // small files, a multi-line one (slow002, slow020), admin commands after headers-only entries (slow011),
  // an entry without a query (slow056), banners mid-file (slow014)
  const files = ['microslow001.txt', 'slow002.txt', 'slow011.txt', 'slow014.txt', 'slow020.txt', 'slow056.txt'];

  for (const name of files) {
    it(`${name}: two chunks split at every byte give the events of one pass`, () => {
      const buf = readFileSync(corpusFile('mysql-slow', name));
      const once = parse(buf);
      assert.ok(once.events.length > 0);
      for (let cut = 1; cut < buf.length; cut++) {
        const split = parse(buf, [cut]);
        assert.deepEqual(split.events, once.events, `split at byte ${cut}`);
        assert.deepEqual(split.problems, once.problems, `split at byte ${cut}`);
      }
    });

    it(`${name}: resuming at each event's end with its context gives the remaining events`, () => {
      const buf = readFileSync(corpusFile('mysql-slow', name));
      const once = parse(buf);
      once.events.forEach((e: ParsedEvent, i) => {
        const rest = parse(buf.subarray(e.end), [], { start: e.end, context: once.contexts[i] });
        assert.deepEqual(rest.events, once.events.slice(i + 1), `resume after event ${i}`);
      });
    });
  }

  it('fingerprints every corpus statement the way the parser reports it', () => {
    const buf = readFileSync(corpusFile('mysql-slow', 'slow002.txt'));
    for (const e of parse(buf).events) assert.equal(e.fingerprint, fingerprint(e.sql));
  });
});
