import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fingerprint, fingerprintId } from '../src/formats/fingerprint.js';
import { fingerprintReference } from '../src/formats/fingerprint-reference.js';

// Expected values are pt-query-digest 3.2.1's own fingerprints of the same statements (QueryRewriter), one
// group per rule of src/formats/fingerprint-reference.ts; the one-scan fingerprint() and the reference both.

function check(cases: Array<[string, string]>): void {
  for (const [sql, want] of cases) {
    assert.equal(fingerprint(sql), want, JSON.stringify(sql));
    assert.equal(fingerprintReference(sql), want, `reference: ${JSON.stringify(sql)}`);
  }
}

describe('fingerprint', () => {
  it('whole-query special cases: mysqldump, percona-toolkit checksums, administrator commands', () => {
    check([
      ['SELECT /*!40001 SQL_NO_CACHE */ * FROM `film`', 'mysqldump'],
      ["REPLACE /*foo.bar:3/3*/ INTO checksum.checksum (db, tbl) VALUES ('a', 'b')", 'percona-toolkit'],
      ['administrator command: Init DB', 'administrator command: Init DB'], // kept as is, case included
    ]);
  });

  it('CALL name(...) → call name', () => {
    check([
      ["CALL MyProc(1, 'two', @x)", 'call myproc'],
      ['  CALL p(1)', 'call p'],
      ['call  db.proc (1)', 'call db.proc (?)'], // a space before "(" is not the call form
    ]);
  });

  it('multi-row INSERT/REPLACE is cut to its first tuple', () => {
    check([
      ["INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')", 'insert into t (a, b) values(?+)'],
      ['insert ignore into t values (1),(2)', 'insert ignore into t values(?+)'],
      ['REPLACE INTO t VALUES(1,2) , (3,4)', 'replace into t values(?+)'],
      ['INSERT INTO t VALUES (1)', 'insert into t values(?+)'],
      ['INSERT INTO t SELECT * FROM u', 'insert into t select * from u'],
      ['INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a=VALUES(a)', 'insert into t (a) values(?+) on duplicate key update a=values(a)'],
    ]);
    const huge = 'INSERT INTO t VALUES ' + Array.from({ length: 50_000 }, (_, i) => `(${i}, 'v${i}')`).join(',');
    assert.equal(fingerprint(huge), 'insert into t values(?+)');
  });

  it('comments are removed, version hints kept; a line comment running into a quote stays', () => {
    check([
      ['SELECT /* comment */ a FROM t', 'select a from t'],
      ['SELECT /*!50000 STRAIGHT_JOIN */ a FROM t', 'select /*!? straight_join */ a from t'],
      ['SELECT a -- trailing comment\nFROM t', 'select a from t'],
      ['SELECT a # hash comment\nFROM t', 'select a from t'],
      ["SELECT a FROM t WHERE b = 'x' -- it's quoted", "select a from t where b = ? ? it's quoted"],
      ['/* No query */', ''],
    ]);
  });

  it('a whole-query use db → use ?', () => {
    check([
      ['use mydb', 'use ?'],
      ['USE `my_db`', 'use ?'],
      ['use db;', 'use ?'],
    ]);
  });

  it('quoted strings, escaped quotes included, and true/false → ?', () => {
    check([
      ["SELECT * FROM t WHERE name = 'O\\'Reilly'", 'select * from t where name = ?'],
      ['SELECT "double", \'single\' FROM t', 'select ?, ? from t'],
      ["SELECT 'a\nb' FROM t", 'select ? from t'],
      ['SELECT * FROM t WHERE a = TRUE AND b = false', 'select * from t where a = ? and b = ?'],
    ]);
  });

  it('numbers → ?, also inside identifiers', () => {
    check([
      ['SELECT * FROM users_2009 WHERE id = 42', 'select * from users_? where id = ?'],
      ['SELECT * FROM t WHERE a = -1.5e3 AND b = +7 AND c = 0xFF', 'select * from t where a = ? and b = ? and c = ?ff'],
      ['SELECT * FROM db1.tbl2', 'select * from d?tbl?'],
      ['select 12_13_foo from (select 12foo from 123_bar) as 123baz', 'select ?_?_foo from (select ?oo from ?_bar) as ?z'], // "ba" are hex digits,
    ]);
  });

  it('whitespace collapsed (one trailing newline dropped), lower case (ASCII only), null → ?', () => {
    check([
      ['   SELECT\n\ta\r\n  FROM\tt  \n', 'select a from t '],
      ['SELECT * FROM T WHERE A IS NULL', 'select * from t where a is ?'],
      ['SELECT nullable, null_col FROM t WHERE x = NULL', 'select nullable, null_col from t where x = ?'],
      ["SELECT 'é' FROM TÄBLE WHERE Ñ = 1", 'select ? from tÄble where Ñ = ?'],
    ]);
  });

  it('in (...) and values (...) lists of placeholders collapse', () => {
    check([
      ['SELECT * FROM t WHERE id IN (1, 2, 3)', 'select * from t where id in(?+)'],
      ['SELECT * FROM t WHERE id in(1)', 'select * from t where id in(?+)'],
      ["SELECT * FROM t WHERE id IN ('a', (2))", 'select * from t where id in (?, (?))'],
      ['SELECT * FROM t WHERE join_in (1)', 'select * from t where join_in (?)'],
    ]);
  });

  it('a repeated union collapses', () => {
    check([
      ['SELECT a FROM t UNION SELECT a FROM t UNION ALL SELECT a FROM t', 'select a from t /*repeat union all*/'],
      ['SELECT a FROM t WHERE b=1 UNION SELECT a FROM t WHERE b=2', 'select a from t where b=? /*repeat union*/'],
      ['SELECT a FROM t UNION SELECT b FROM u', 'select a from t union select b from u'],
    ]);
  });

  it('limit ?, ? and limit ? offset ? → limit ? (the first one)', () => {
    check([
      ['SELECT * FROM t LIMIT 10', 'select * from t limit ?'],
      ['SELECT * FROM t LIMIT 10, 20', 'select * from t limit ?'],
      ['SELECT * FROM t LIMIT 10 OFFSET 20', 'select * from t limit ?'],
      ['SELECT * FROM t LIMIT 5 UNION SELECT * FROM u LIMIT 1, 2', 'select * from t limit ? union select * from u limit ?, ?'],
    ]);
  });

  it('asc after order by is dropped', () => {
    check([
      ['SELECT * FROM t ORDER BY a ASC, b DESC, c asc', 'select * from t order by a, b desc, c'],
      ['SELECT * FROM t ORDER BY a DESC, b ASC', 'select * from t order by a desc, b'],
      ['SELECT * FROM t ORDER BY ascii_col', 'select * from t order by ascii_col'],
      ['SELECT ASC FROM t', 'select asc from t'],
      ['SELECT * FROM t ORDER BY name ascii', 'select * from t order by nameii'], // pt's regex has no \b after asc
    ]);
  });

  it('stays linear on pathological input', () => {
    // many comment starts running into a quote, many unions, many selects: each would be quadratic if rescanned
    const s = 'SELECT ' + '# x '.repeat(20_000) + "'" + ' UNION SELECT a'.repeat(2_000);
    const fp = fingerprint(s);
    assert.ok(fp.startsWith('select # x # x'));
    // a '…' string is matched after the "…" ones inside it: each of those may not search the rest again
    assert.equal(fingerprint("SELECT '" + '"a" '.repeat(20_000) + "' x"), 'select ? x');
  });

  it('query id: 0x + upper-case MD5 of the fingerprint (as pt-query-digest checksum)', () => {
    assert.equal(fingerprintId('begin'), '0x8D589AFA4DFAEEED85FFF5AA78E5FF6A');
    assert.equal(fingerprintId('administrator command: Quit'), '0xEDBC971AEC392917AA353644DE4C4CB4');
    assert.match(fingerprintId(fingerprint('SELECT 1')), /^0x[0-9A-F]{32}$/);
  });
});
