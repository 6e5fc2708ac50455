// The reference implementation of the fingerprint: pt-query-digest 3.x's rules (QueryRewriter::fingerprint)
// applied as a sequence of passes, one per rule, as pt-query-digest applies them. fingerprint.ts computes the
// same in one scan; this one stays as its specification: the differential test compares the two, and the
// one-scan function hands it the rare statements it cannot do in one pass. The rules, in the order they apply:
//
//  1. whole-query special cases: mysqldump's `SELECT /*!40001 SQL_NO_CACHE */ * FROM \`` → "mysqldump";
//     a percona-toolkit checksum comment `/*db.tbl:1/2*/` → "percona-toolkit"; `administrator command: …`
//     is returned unchanged (not even lower-cased); `CALL name(…)` → `call name`.
//  2. a multi-row INSERT/REPLACE … VALUES (…),(…) is cut after its first tuple.
//  3. comments are removed: `/* … */` (but not `/*!version … */` hints), `-- …` and `# …` to the end of the
//     line (a one-line comment that meets a quote before the line ends is kept).
//  4. a whole-query `use db` → `use ?`.
//  5. escaped quotes are dropped, then "…" and then '…' strings → `?`; `true`/`false` → `?`.
//  6. numbers → `?`, including numbers inside identifiers (`users_2009` → `users_?`): every run that starts
//     with a digit, `+` or `-` and continues with hex digits, `.`, `x`, `b`, `+`, `-` (before lower-casing, so
//     only lower-case hex letters count); then a `x`, `b`, `.`, `+` or `-` right before a `?` is absorbed.
//  7. leading whitespace and one trailing newline dropped, runs of space/tab/newline/CR/FF → one space,
//     ASCII lower case, `null` → `?`.
//  8. `in (?, ?)` / `values (?, ?), (?)` lists of placeholders → `in(?+)` / `values(?+)`; a select repeated
//     with `union [all]` → `select … /*repeat union*/`; the first `limit ?, ?` / `limit ? offset ?` → `limit ?`;
//     after the first `order by`, each `… asc` loses its `asc`.
//
// pt-query-digest reads the log as bytes: its \s, \w and lower-casing are ASCII-only, and so are ours.
// Every step is one linear scan or a regular expression without nested ambiguity (no catastrophic
// backtracking); only the union rule can cost (selects × unions) on a statement full of both.

const WS = ' \t\n\r\f\v';
const isWs = (c: number): boolean => c === 32 || (c >= 9 && c <= 13);
const isWord = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;

const MYSQLDUMP_PREFIX = 'SELECT /*!40001 SQL_NO_CACHE */ * FROM `';
const PT_CHECKSUM = /\/\*\w+\.\w+:[0-9]\/[0-9]\*\//;
const CALL = new RegExp(`^[${WS}]*(call[${WS}]+[^${WS}]+)\\(`, 'i');
const INSERT_HEAD = new RegExp(`^(?:INSERT|REPLACE)(?: IGNORE)?[${WS}]+INTO`, 'i');
const VALUES_OPEN = new RegExp(`VALUES[${WS}]*\\(`, 'gi');
export const USE_DB = new RegExp(`^use [^${WS}]+(\\n?)$`, 'i');
const BOOLEAN = /\bfalse\b|\btrue\b/gi;
const NUMBER = /[0-9+-][0-9a-f.xb+-]*/g;
const NUMBER_LEFTOVER = /[xb.+-]\?/g;
const LEADING_WS = new RegExp(`^[${WS}]+`);
const SQUEEZE = /[ \n\t\r\f]+/g;
const NULL_WORD = /\bnull\b/g;
const LIST = new RegExp(`\\b(in|values?)(?:[${WS},]*\\([${WS}?,]*\\))+`, 'g');
export const LIMIT = /\blimit \?(?:, ?\?| offset \?)?/;
const ORDER_BY = /\border by /i;

/** Normalised form of a statement (pt-query-digest compatible, see the rules above). */
export function fingerprintReference(sql: string): string {
  const whole = wholeQueryFingerprint(sql);
  if (whole !== undefined) return whole;

  let q = cutMultiRowInsert(sql);
  if (q.includes('/*')) q = removeBlockComments(q);
  if (q.includes('#') || q.includes('--')) q = removeLineComments(q);
  const use = USE_DB.exec(q);
  if (use) return 'use ?' + use[1];

  if (q.includes('\\')) q = removeEscapedQuotes(q);
  if (q.includes('"')) q = replaceQuoted(q, 34);
  if (q.includes("'")) q = replaceQuoted(q, 39);
  q = q.replace(BOOLEAN, '?');
  q = q.replace(NUMBER, '?');
  q = q.replace(NUMBER_LEFTOVER, '?');

  q = q.replace(LEADING_WS, '');
  if (q.endsWith('\n')) q = q.slice(0, -1);
  q = q.replace(SQUEEZE, ' ');
  q = asciiLower(q);
  q = q.replace(NULL_WORD, '?');
  q = q.replace(LIST, '$1(?+)');
  if (q.includes('union')) q = collapseUnions(q);
  q = q.replace(LIMIT, 'limit ?');
  q = dropOrderByAsc(q);
  return q;
}

/** Rule 1: the fingerprint of a statement that one of the whole-query special cases covers, else undefined. */
export function wholeQueryFingerprint(q: string): string | undefined {
  if (q.startsWith(MYSQLDUMP_PREFIX)) return 'mysqldump';
  if (q.includes('/*') && PT_CHECKSUM.test(q)) return 'percona-toolkit';
  if (q.startsWith('administrator command: ')) return q;
  const call = CALL.exec(q);
  if (call) return asciiLower(call[1]!);
  return undefined;
}

/** Lower-cases A-Z only, as Perl's lc does on a byte string. */
function asciiLower(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(s) ? s.toLowerCase() : s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/**
 * `INSERT|REPLACE [IGNORE] INTO … VALUES (…), (…)…` → everything up to the `)` of the first tuple: the first
 * `)` after the first `VALUES (` that is followed by `, (`. (mysqldump inserts are megabytes long.)
 */
export function cutMultiRowInsert(q: string): string {
  const head = INSERT_HEAD.exec(q);
  if (!head) return q;
  VALUES_OPEN.lastIndex = head[0].length + 1; // at least one character between INTO and VALUES
  const values = VALUES_OPEN.exec(q);
  if (!values) return q;
  let close = VALUES_OPEN.lastIndex; // just past the "("
  for (;;) {
    close = q.indexOf(')', close);
    if (close === -1) return q;
    let i = close + 1;
    while (i < q.length && isWs(q.charCodeAt(i))) i++;
    if (q.charCodeAt(i) === 44 /* , */) {
      i++;
      while (i < q.length && isWs(q.charCodeAt(i))) i++;
      if (q.charCodeAt(i) === 40 /* ( */) return q.slice(0, close + 1);
    }
    close++;
  }
}

/** Removes `/*x … *\/` where x is any character but `!` (so `/*!50000 … *\/` hints stay). */
function removeBlockComments(q: string): string {
  let out = '';
  let from = 0;
  let at = q.indexOf('/*');
  while (at !== -1) {
    if (at + 2 < q.length && q.charCodeAt(at + 2) !== 33 /* ! */) {
      const close = q.indexOf('*/', at + 3);
      if (close === -1) break; // no later comment can close either
      out += q.slice(from, at);
      from = close + 2;
      at = q.indexOf('/*', from);
    } else {
      at = q.indexOf('/*', at + 1);
    }
  }
  return from === 0 ? q : out + q.slice(from);
}

/**
 * Removes `-- …` and `# …` up to the end of the line, unless a quote comes first (then that comment is kept,
 * and so is every comment start before the quote: they would all run into it).
 */
function removeLineComments(q: string): string {
  let out = '';
  let from = 0;
  let i = 0;
  const n = q.length;
  while (i < n) {
    const c = q.charCodeAt(i);
    if (c !== 35 /* # */ && !(c === 45 /* - */ && q.charCodeAt(i + 1) === 45)) {
      i++;
      continue;
    }
    let j = i + (c === 35 ? 1 : 2);
    let d = 0;
    while (j < n && (d = q.charCodeAt(j)) !== 10 && d !== 13 && d !== 39 && d !== 34) j++;
    if (j < n && (d === 39 || d === 34)) {
      i = j + 1;
      continue;
    }
    out += q.slice(from, i);
    from = j;
    i = j;
  }
  return from === 0 ? q : out + q.slice(from);
}

function removeEscapedQuotes(q: string): string {
  return q.replace(/\\["']/g, '');
}

/** Each pair of `quote` characters, with whatever is between them (newlines included), → `?`. */
function replaceQuoted(q: string, quote: number): string {
  const ch = String.fromCharCode(quote);
  let out = '';
  let from = 0;
  let open = q.indexOf(ch);
  while (open !== -1) {
    const close = q.indexOf(ch, open + 1);
    if (close === -1) break;
    out += q.slice(from, open) + '?';
    from = close + 1;
    open = q.indexOf(ch, from);
  }
  return from === 0 ? q : out + q.slice(from);
}

/**
 * `select X union select X union all select X` → `select X /*repeat union all*\/`: at each word `select`
 * followed by a space, the shortest X (= `select …`) that is followed by ` union[ all] ` and X again,
 * as many times as it repeats. The last separator names the repeat.
 */
export function collapseUnions(q: string): string {
  let out = '';
  let from = 0;
  let p = q.indexOf('select', 0);
  while (p !== -1) {
    if ((p === 0 || !isWord(q.charCodeAt(p - 1))) && isWs(q.charCodeAt(p + 6))) {
      const m = matchUnionRepeat(q, p);
      if (m) {
        out += q.slice(from, p) + q.slice(p, m.xEnd) + ' /*repeat' + m.sep + '*/';
        from = m.end;
        p = q.indexOf('select', m.end);
        continue;
      }
    }
    p = q.indexOf('select', p + 1);
  }
  return from === 0 ? q : out + q.slice(from);
}

function matchUnionRepeat(q: string, p: number): { xEnd: number; end: number; sep: string } | undefined {
  // X = q[p, u) where q[u] is whitespace followed by "union"; X may not cross a newline.
  let u = p + 7;
  for (;;) {
    u = q.indexOf('union', u + 1);
    if (u === -1) return undefined;
    const ws = u - 1;
    const nl = q.indexOf('\n', p);
    if (nl !== -1 && nl < ws) return undefined;
    if (!isWs(q.charCodeAt(ws))) continue;
    const x = q.slice(p, ws);
    let pos = ws;
    let sep = '';
    for (;;) {
      const rep = unionThenX(q, pos, x);
      if (!rep) break;
      pos = rep.end;
      sep = rep.sep;
    }
    if (sep) return { xEnd: ws, end: pos, sep };
  }
}

/** At `pos`: whitespace, `union`, optionally whitespace + `all`, whitespace, then `x`. */
function unionThenX(q: string, pos: number, x: string): { end: number; sep: string } | undefined {
  if (!isWs(q.charCodeAt(pos)) || !q.startsWith('union', pos + 1)) return undefined;
  let i = pos + 6;
  if (isWs(q.charCodeAt(i)) && q.startsWith('all', i + 1) && isWs(q.charCodeAt(i + 4)) && q.startsWith(x, i + 5)) {
    return { end: i + 5 + x.length, sep: q.slice(pos, i + 4) };
  }
  if (isWs(q.charCodeAt(i)) && q.startsWith(x, i + 1)) return { end: i + 1 + x.length, sep: q.slice(pos, i) };
  return undefined;
}

/**
 * After the first `order by `: repeatedly, from where the last removal ended, the shortest non-empty text
 * followed by whitespace and `asc` loses that whitespace and `asc` (pt-query-digest matches `asc` without a
 * word boundary after it, and so do we).
 */
export function dropOrderByAsc(q: string): string {
  const m = ORDER_BY.exec(q);
  if (!m) return q;
  let pos = m.index + m[0].length;
  let out = q.slice(0, pos);
  for (;;) {
    let k = pos + 1;
    let found = -1;
    let after = -1;
    while (k < q.length) {
      const c = q.charCodeAt(k);
      if (c === 10) break; // "." does not cross a newline
      if (isWs(c)) {
        let j = k + 1;
        while (j < q.length && isWs(q.charCodeAt(j))) j++;
        if (q.slice(j, j + 3).toLowerCase() === 'asc') {
          found = k;
          after = j + 3;
          break;
        }
        k = j;
        continue;
      }
      k++;
    }
    if (found === -1) break;
    out += q.slice(pos, found);
    pos = after;
  }
  return out + q.slice(pos);
}
