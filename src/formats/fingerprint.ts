import { hexDigest } from '../model/hex-digest.js';
import { collapseUnions, cutMultiRowInsert, dropOrderByAsc, fingerprintReference, LIMIT, USE_DB, wholeQueryFingerprint } from './fingerprint-reference.js';

// Query fingerprints compatible with pt-query-digest 3.x, so that our query ids equal the ones DBAs already
// know from pt-query-digest reports. The rules are those of fingerprint-reference.ts, which applies them as
// pt-query-digest does, one pass after another (~2.5 µs a statement, a quarter of the parser's time). This
// module gives the same result in one scan over the statement's char codes, written into a byte buffer:
// comments, strings, numbers, booleans, whitespace, case and `null` as it goes; it notes where the words
// in/values, limit, order, asc and union landed in its output, so the list, limit and order-by rules only
// look there afterwards (most statements have none of them). It borrows two steps from the reference: the
// cut of a multi-row INSERT (a search in its head, before the scan) and the union rule (only when a `union`
// is there, and its result is used only when it changed the text).
//
// The passes see each other's output (a comment removed between two digits joins them into one number, a
// `"` pairs with the next `"` even inside a '…' string, `\'` is dropped before any string is matched, a
// `x`, `b` or `.` before a `?` is absorbed whatever made the `?`), and the scan follows them exactly where
// real statements go. Where a rare construct would need a pass to see text the scan has already written (a
// comment or a dropped `\'` between two non-blank characters, a block comment inside a string or a one-line
// comment, a whole-query `use` with a comment in it, a character beyond Latin-1 outside strings), it returns
// undefined and fingerprint() hands the statement to the reference: none of the corpus's statements, 0.2% of
// test/support/sql-statements.ts's deliberately awkward ones. test/fingerprint-differential.test.ts holds
// the two equal.

/** Normalised form of a statement (pt-query-digest compatible, see fingerprint-reference.ts for the rules). */
export function fingerprint(sql: string): string {
  return fingerprintOneScan(sql) ?? fingerprintReference(sql);
}

/** pt-query-digest's checksum: `0x` + upper-case MD5 of the fingerprint (it prints the last 16 hex digits). */
export function fingerprintId(fp: string): string {
  return '0x' + hexDigest('md5', fp).toUpperCase();
}

/** The fingerprint in one scan, or undefined for a statement only the reference can do. */
export function fingerprintOneScan(sql: string): string | undefined {
  const block = sql.indexOf('/*');
  const first = sql.charCodeAt(0);
  // the whole-query cases (their regular expressions cost more than the scan) only where one can apply:
  // a /* (mysqldump's SELECT /*!40001…, a /* checksum */), a(dministrator command), or CALL
  if (block !== -1 || first === 97 || (firstNonBlank(sql) | 32) === 99) {
    const whole = wholeQueryFingerprint(sql);
    if (whole !== undefined) return whole;
  }
  const lower = first | 32; // only INSERT… / REPLACE… can be cut
  const q = lower === 105 || lower === 114 ? cutMultiRowInsert(sql) : sql;
  return scan(q, block === -1 || block + 2 > q.length ? NONE : block);
}

function firstNonBlank(q: string): number {
  let i = 0;
  while (isBlank(q.charCodeAt(i))) i++;
  return q.charCodeAt(i);
}

// Character classes of the scan; every char code from 128 on is an ordinary character.
const OTHER = 0;
const LETTER = 1; // A-Z a-z _
const DIGIT = 2;
const SPACE = 3; // the whitespace runs collapse: space \t \n \r \f
const VTAB = 4; // \v: whitespace to the other rules, but not collapsed
const PLUS = 5;
const MINUS = 6;
const DQUOTE = 7;
const SQUOTE = 8;
const SLASH = 9;
const HASH = 10;
const BACKSLASH = 11;
const QMARK = 12;
const DOT = 13;

const CLASS = new Uint8Array(128);
/** a LETTER lower-cased (the fingerprint lower-cases A-Z only); 0 for any other character */
const LETTER_LOWER = new Uint8Array(128);
/** what a number run continues with: 0-9 a-f . x b + - (before lower-casing) */
const NUMBER_CHAR = new Uint8Array(128);
/** \w of the rules: A-Z a-z 0-9 _ */
const WORD_CHAR = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  LETTER_LOWER[c] = /[A-Z]/.test(ch) ? c + 32 : /[a-z_]/.test(ch) ? c : 0;
  WORD_CHAR[c] = /\w/.test(ch) ? 1 : 0;
  NUMBER_CHAR[c] = /[0-9a-f.xb+-]/.test(ch) ? 1 : 0;
  CLASS[c] = /[A-Za-z_]/.test(ch) ? LETTER : /[0-9]/.test(ch) ? DIGIT : /[ \t\n\r\f]/.test(ch) ? SPACE : OTHER;
}
CLASS[11] = VTAB;
CLASS[43] = PLUS;
CLASS[45] = MINUS;
CLASS[34] = DQUOTE;
CLASS[39] = SQUOTE;
CLASS[47] = SLASH;
CLASS[35] = HASH;
CLASS[92] = BACKSLASH;
CLASS[63] = QMARK;
CLASS[46] = DOT;

const isWordChar = (c: number): boolean => c < 128 && WORD_CHAR[c] === 1; // NaN (outside the text): false
/** a word character of the output: lower case letters and `_` (digits never reach it) */
const isOutWord = (c: number): boolean => (c >= 97 && c <= 122) || c === 95;
const isOutSpace = (c: number): boolean => c === 32 || c === 11; // all other whitespace collapsed to ' '

/** "no further block comment" */
const NONE = 0x7fffffff;

// Where the scan writes: one byte per output character (only Latin-1 gets this far). Reused; statements of
// up to KEEP_BYTES keep their buffers, longer ones get their own.
const KEEP_BYTES = 1 << 20;
let outBuf: Buffer = Buffer.allocUnsafe(4096);
let spareBuf: Buffer = Buffer.allocUnsafe(4096);
function buffer(size: number, spare: boolean): Buffer {
  const have = spare ? spareBuf : outBuf;
  if (size <= have.length) return have;
  const b = Buffer.allocUnsafe(Math.max(size, have.length * 2));
  if (size > KEEP_BYTES) return b;
  if (spare) spareBuf = b;
  else outBuf = b;
  return b;
}

// The statement's char codes (Buffer.write as UTF-16: faster to read than charCodeAt on the sliced strings
// the parsers hand over). Reused like the output buffer.
let unitsBuf = Buffer.from(new ArrayBuffer(8192));
let units = new Uint16Array(unitsBuf.buffer);
function codeUnits(q: string): Uint16Array {
  const bytes = 2 * (q.length + 2);
  let b = unitsBuf;
  let u = units;
  if (bytes > b.length) {
    b = Buffer.from(new ArrayBuffer(Math.max(bytes, 2 * b.length)));
    u = new Uint16Array(b.buffer);
    if (bytes <= KEEP_BYTES) {
      unitsBuf = b;
      units = u;
    }
  }
  b.write(q, 0, 'utf16le');
  u[q.length] = 0;
  u[q.length + 1] = 0;
  return u;
}

// Marks: (kind, output position) pairs, in output order, of the words the last rules look for.
const LIST_WORD = 1; // in / value / values: position just past the word
const LIMIT_WORD = 2; // position of the word
const ORDER_WORD = 3;
const ASC_WORD = 4; // a word starting with "asc" right after whitespace, once an `order` has been seen
let marks: Int32Array = new Int32Array(64);
function growMarks(): Int32Array {
  const m = new Int32Array(marks.length * 2);
  m.set(marks);
  return (marks = m);
}

/** lineComment(): a block comment is in the way (removed first, it could change what the line comment is) */
const IN_THE_WAY = -0x80000000;

/**
 * From the first character of a one-line comment's text: where the line ends (the comment is removed up to
 * there), or, if a quote comes first, -1 - the quote's position (the comment is kept); IN_THE_WAY if the next
 * block comment starts before either.
 */
function lineComment(u: Uint16Array, j: number, len: number, nextBlock: number): number {
  for (; j < len; j++) {
    const d = u[j]!;
    if (d === 10 || d === 13) break;
    if (d === 39 || d === 34) return nextBlock < j ? IN_THE_WAY : -1 - j;
  }
  return nextBlock < j ? IN_THE_WAY : j;
}

/** The next `quote` from `from` on that no backslash escapes (`\'` and `\"` are dropped before strings are matched). */
function nextQuote(q: string, quote: string, from: number): number {
  let k = q.indexOf(quote, from);
  while (k > 0 && q.charCodeAt(k - 1) === 92) k = q.indexOf(quote, k + 1);
  return k;
}

/** The scan (rules 3 to 8 on a statement already cut, whose first /* is at `block`); undefined where the reference must do it. */
function scan(q: string, block: number): string | undefined {
  const len = q.length;
  const u = codeUnits(q); // q's char codes, then two 0s: reading one or two past the end needs no check
  const o = buffer(len + 8, false);
  let n = 0; // output length
  let pend = 0; // whitespace characters seen since the last output (0 while nothing is written: leading)
  let pendNl = false; // ... the last of them a \n (one trailing \n is dropped, not collapsed)
  let popable = false; // the last output character is a raw x, b or . (absorbed by a following ?)
  let nextBlock = block; // where the next /* is (block comments are matched before anything else)
  let keptUntil = -1; // a one-line comment starting before this runs into a quote and is kept
  let dqDone = false; // no unescaped " left
  let m = 0;
  let mk = marks;
  let sawOrder = false;
  let sawUnion = false;

  let i = 0;
  scan: while (i < len) {
    const c = u[i]!;
    let emitQ = false; // write a ?, absorbing a x / b / . before it
    switch (c < 128 ? CLASS[c] : OTHER) {
      case LETTER: {
        if (pend) {
          o[n++] = 32;
          pend = 0;
        }
        const popBefore = popable;
        const at = n;
        let j = i;
        let d = c;
        let l = LETTER_LOWER[c]!;
        for (;;) {
          o[n++] = l;
          if (++j === len) {
            d = -1;
            break;
          }
          d = u[j]!;
          if (d >= 128 || (l = LETTER_LOWER[d]!) === 0) break;
        }
        // d: the character after the word (-1 at the end); `o` holds the word lower-cased from `at`
        const wl = j - i;
        const o0 = o[at];
        popable = false;
        if (wl <= 6) {
          if (wl === 4 && o0 === 110 && o[at + 1] === 117 && o[at + 2] === 108 && o[at + 3] === 108) {
            n = at; // null (after the number rule: nothing absorbed)
            o[n++] = 63;
            i = j;
            continue scan;
          }
          if (
            (wl === 4 && o0 === 116 && o[at + 1] === 114 && o[at + 2] === 117 && o[at + 3] === 101) ||
            (wl === 5 && o0 === 102 && o[at + 1] === 97 && o[at + 2] === 108 && o[at + 3] === 115 && o[at + 4] === 101)
          ) {
            // true / false: whole \w words of the text before numbers were replaced
            if (!(i > 0 && isWordChar(u[i - 1]!)) && !(d >= 48 && d <= 57)) {
              n = at;
              if (popBefore) n = unpop(o, n);
              o[n++] = 63;
              i = j;
              continue scan;
            }
          } else if (
            (wl === 2 && o0 === 105 && o[at + 1] === 110) ||
            (wl >= 5 && o0 === 118 && o[at + 1] === 97 && o[at + 2] === 108 && o[at + 3] === 117 && o[at + 4] === 101 && (wl === 5 || o[at + 5] === 115))
          ) {
            if (m + 2 > mk.length) mk = growMarks();
            mk[m++] = LIST_WORD;
            mk[m++] = n;
          } else if (wl === 5 && o0 === 108 && o[at + 1] === 105 && o[at + 2] === 109 && o[at + 3] === 105 && o[at + 4] === 116) {
            if (m + 2 > mk.length) mk = growMarks();
            mk[m++] = LIMIT_WORD;
            mk[m++] = at;
          } else if (wl === 5 && o0 === 111 && o[at + 1] === 114 && o[at + 2] === 100 && o[at + 3] === 101 && o[at + 4] === 114) {
            if (m + 2 > mk.length) mk = growMarks();
            mk[m++] = ORDER_WORD;
            mk[m++] = at;
            sawOrder = true;
          } else if (wl === 5 && o0 === 117 && o[at + 1] === 110 && o[at + 2] === 105 && o[at + 3] === 111 && o[at + 4] === 110) {
            sawUnion = true;
          } else if (wl === 3 && at === 0 && o0 === 117 && o[1] === 115 && o[2] === 101 && (d === 32 || d === 47 || d === 35 || d === 45)) {
            // perhaps a whole-query `use db`: decided on the text without comments, which is q if it has none
            if (q.indexOf('/*') !== -1 || q.indexOf('#') !== -1 || q.indexOf('--') !== -1) return undefined;
            const use = USE_DB.exec(q);
            if (use) return 'use ?' + use[1];
          }
        }
        if (sawOrder && wl >= 3 && o0 === 97 && o[at + 1] === 115 && o[at + 2] === 99 && at > 0 && isOutSpace(o[at - 1]!)) {
          if (m + 2 > mk.length) mk = growMarks();
          mk[m++] = ASC_WORD;
          mk[m++] = at;
        }
        const last = u[j - 1]!;
        popable = last === 120 || last === 98;
        i = j;
        continue scan;
      }

      case SPACE: {
        let j = i + 1;
        while (j < len) {
          const d = u[j]!;
          if (d >= 128 || CLASS[d] !== SPACE) break;
          j++;
        }
        if (n > 0) {
          pend += j - i;
          pendNl = u[j - 1]! === 10;
        }
        popable = false;
        i = j;
        continue scan;
      }

      case VTAB:
        i++;
        popable = false;
        if (n > 0) {
          if (pend) {
            o[n++] = 32;
            pend = 0;
          }
          o[n++] = 11;
        }
        continue scan;

      case MINUS:
      case DIGIT:
      case PLUS: {
        if (c === 45 && u[i + 1]! === 45 && i >= keptUntil) {
          const end = lineComment(u, i + 2, len, nextBlock);
          if (end === IN_THE_WAY) return undefined;
          if (end >= 0) {
            i = end;
            continue scan;
          }
          keptUntil = -1 - end; // a kept comment: its -- is a number run like any other
        }
        let j = i + 1;
        while (j < len) {
          const d = u[j]!;
          if (d >= 128 || NUMBER_CHAR[d] === 0) break;
          if (d === 45 && u[j + 1]! === 45 && j >= keptUntil) {
            // a one-line comment: the run ends before it unless it is kept
            const end = lineComment(u, j + 2, len, nextBlock);
            if (end === IN_THE_WAY) return undefined;
            if (end >= 0) break;
            keptUntil = -1 - end;
          } else if (d === 102 && isFalseWord(u, j, len)) {
            break; // `false` after a . + or - was replaced before numbers were
          }
          j++;
        }
        i = j;
        emitQ = true;
        break;
      }

      case DQUOTE:
        if (!dqDone) {
          const close = nextQuote(q, '"', i + 1);
          if (close !== -1) {
            if (nextBlock < close) return undefined;
            i = close + 1;
            emitQ = true;
            break;
          }
          dqDone = true;
        }
        break; // an unpaired " stays

      case SQUOTE: {
        // '…' strings are matched after "…" ones: a " inside opens a "…" that hides any ' up to its end
        let from = i + 1;
        let close = nextQuote(q, "'", from);
        while (close !== -1 && !dqDone) {
          const dq = nextQuote(q, '"', from);
          if (dq === -1 || dq > close) {
            if (dq === -1) dqDone = true;
            break;
          }
          const dqClose = nextQuote(q, '"', dq + 1);
          if (dqClose === -1) {
            dqDone = true; // a lone " inside the string
            break;
          }
          from = dqClose + 1;
          if (close < from) close = nextQuote(q, "'", from);
        }
        if (close === -1) break; // an unpaired ' stays
        if (nextBlock < close) return undefined;
        i = close + 1;
        emitQ = true;
        break;
      }

      case SLASH:
        if (i === nextBlock) {
          if (i + 2 < len && u[i + 2]! !== 33) {
            const close = q.indexOf('*/', i + 3);
            if (close === -1) {
              nextBlock = NONE; // unclosed: no later comment is removed either
            } else {
              // the text either side is joined: follow it only when one side is blank
              if (i > 0 && close + 2 < len && !isBlank(u[i - 1]!) && !isBlank(u[close + 2]!)) return undefined;
              i = close + 2;
              nextBlock = q.indexOf('/*', i);
              if (nextBlock === -1) nextBlock = NONE;
              continue scan;
            }
          } else {
            nextBlock = q.indexOf('/*', i + 1); // a /*!version hint stays
            if (nextBlock === -1) nextBlock = NONE;
          }
        }
        break;

      case HASH:
        if (i >= keptUntil) {
          const end = lineComment(u, i + 1, len, nextBlock);
          if (end === IN_THE_WAY) return undefined;
          if (end >= 0) {
            i = end;
            continue scan;
          }
          keptUntil = -1 - end;
        }
        break;

      case BACKSLASH: {
        const d = u[i + 1]!;
        if (d === 39 || d === 34) {
          // \' and \" are dropped (before strings are matched), joining the text either side: as a comment
          if (i > 0 && i + 2 < len && !isBlank(u[i - 1]!) && !isBlank(u[i + 2]!)) return undefined;
          i += 2;
          continue scan;
        }
        break;
      }

      case QMARK:
        i++;
        emitQ = true;
        break;

      case DOT:
        if (pend) {
          o[n++] = 32;
          pend = 0;
        }
        o[n++] = 46;
        popable = true;
        i++;
        continue scan;

      default:
        if (c > 255) return undefined;
    }

    if (emitQ) {
      if (popable) n = unpop(o, n);
      else if (pend) {
        o[n++] = 32;
        pend = 0;
      }
      o[n++] = 63;
    } else {
      // the character itself, as it is
      if (pend) {
        o[n++] = 32;
        pend = 0;
      }
      o[n++] = c;
      i++;
    }
    popable = false;
  }
  if (pend > (pendNl ? 1 : 0)) o[n++] = 32;
  return m === 0 && !sawUnion ? latin1(o, n) : lastRules(o, n, m, sawUnion);
}

const isBlank = (c: number): boolean => c === 32 || (c >= 9 && c <= 13);

/** o[0, n) as a string (latin1Slice: Buffer.toString without its argument checks) */
const latin1 = (o: Buffer, n: number): string => (o as unknown as { latin1Slice(start: number, end: number): string }).latin1Slice(0, n);

/** Copies src[from, to) to dst at `at` (overlapping moves to lower positions too): short spans, where Buffer.copy costs more. */
function move(src: Buffer, from: number, to: number, dst: Buffer, at: number): void {
  for (let k = from; k < to; k++) dst[at++] = src[k]!;
}

/** `false` at q[j], a whole word, after a `.`, `+` or `-` (which a number run would otherwise go on through). */
function isFalseWord(u: Uint16Array, j: number, len: number): boolean {
  const p = u[j - 1]!; // (j > 0: inside a number run)
  return (
    (p === 46 || p === 43 || p === 45) &&
    j + 5 <= len &&
    (u[j + 1]! | 32) === 97 &&
    (u[j + 2]! | 32) === 108 &&
    (u[j + 3]! | 32) === 115 &&
    (u[j + 4]! | 32) === 101 &&
    !isWordChar(u[j + 5]!)
  );
}

/**
 * Drops the x, b or . that a ? absorbs (the last output character); the caller writes the ?. If that leaves
 * the word `null` before it, that is a `null` now followed by a non-word character: it becomes ?.
 */
function unpop(o: Buffer, n: number): number {
  n--;
  if (n >= 4 && o[n - 1] === 108 && o[n - 2] === 108 && o[n - 3] === 117 && o[n - 4] === 110 && (n === 4 || !isOutWord(o[n - 5]!))) {
    n -= 4;
    o[n++] = 63;
  }
  return n;
}

/** The list, union, limit and order-by rules, where the scan marked their words; then the string. */
function lastRules(out: Buffer, length: number, m: number, sawUnion: boolean): string {
  let o: Buffer = out;
  let n = length;
  const mk = marks;
  // in (?, ?) / values (?), (?) → in(?+) / values(?+), into the spare buffer once a list is found
  let read = 0;
  let w = -1;
  let shift = 0;
  for (let k = 0; k < m; k += 2) {
    const at = mk[k + 1]!;
    mk[k + 1] = at + shift;
    if (mk[k] !== LIST_WORD) continue;
    const end = listEnd(o, n, at);
    if (end === -1) continue;
    if (w === -1) {
      spareBuf = buffer(n + (n >> 1) + 8, true);
      w = 0;
    }
    const s = spareBuf;
    move(o, read, at, s, w);
    w += at - read;
    s[w++] = 40; // (?+)
    s[w++] = 63;
    s[w++] = 43;
    s[w++] = 41;
    read = end;
    shift += 4 - (end - at);
  }
  if (w !== -1) {
    move(o, read, n, spareBuf, w);
    n = w + n - read;
    o = spareBuf;
  }

  if (sawUnion) {
    const s = latin1(o, n);
    const u = collapseUnions(s);
    if (u !== s) return dropOrderByAsc(u.replace(LIMIT, 'limit ?'));
  }

  // the first `limit ?, ?` / `limit ?,?` / `limit ? offset ?` → `limit ?`
  let limitAt = -1;
  let limitCut = 0;
  for (let k = 0; k < m; k += 2) {
    if (mk[k] !== LIMIT_WORD) continue;
    const at = mk[k + 1]!;
    if (at + 7 > n || o[at + 5] !== 32 || o[at + 6] !== 63) continue; // (o beyond n holds stale bytes)
    limitAt = at;
    if (at + 9 <= n && o[at + 7] === 44 && o[at + 8] === 63) limitCut = 2;
    else if (at + 10 <= n && o[at + 7] === 44 && o[at + 8] === 32 && o[at + 9] === 63) limitCut = 3;
    else if (at + 16 <= n && isOffset(o, at + 7)) limitCut = 9;
    break;
  }
  if (limitCut > 0) {
    move(o, limitAt + 7 + limitCut, n, o, limitAt + 7);
    n -= limitCut;
  }
  const moved = (at: number): number => (limitCut > 0 && at > limitAt ? at - limitCut : at);

  // after the first `order by `: each run of whitespace + `asc` (from one character after the last) goes
  let anchor = -1;
  for (let k = 0; k < m && anchor === -1; k += 2) {
    if (mk[k] !== ORDER_WORD) continue;
    const at = moved(mk[k + 1]!);
    if (at + 9 <= n && o[at + 5] === 32 && o[at + 6] === 98 && o[at + 7] === 121 && o[at + 8] === 32) anchor = at + 9;
  }
  if (anchor !== -1) {
    let pos = anchor; // as the reference: the next removal starts at pos + 1 or later
    let write = -1;
    let read2 = 0;
    for (let k = 0; k < m; k += 2) {
      if (mk[k] !== ASC_WORD) continue;
      const at = moved(mk[k + 1]!);
      if (at < pos + 2) continue;
      let from = at - 1;
      while (from > pos + 1 && isOutSpace(o[from - 1]!)) from--;
      if (write === -1) write = from;
      else {
        move(o, read2, from, o, write);
        write += from - read2;
      }
      read2 = at + 3;
      pos = at + 3;
    }
    if (write !== -1) {
      move(o, read2, n, o, write);
      n = write + n - read2;
    }
  }
  return latin1(o, n);
}

const OFFSET = Buffer.from(' offset ?', 'latin1');
const isOffset = (o: Buffer, at: number): boolean => OFFSET.every((b, k) => o[at + k] === b);

/** Where the list of placeholder groups after an in/values word at `at` ends, or -1 if there is none. */
function listEnd(o: Buffer, n: number, at: number): number {
  let k = at;
  let end = -1;
  for (;;) {
    while (k < n && (o[k] === 32 || o[k] === 11 || o[k] === 44)) k++;
    if (k >= n || o[k] !== 40) return end;
    k++;
    while (k < n && (o[k] === 32 || o[k] === 11 || o[k] === 63 || o[k] === 44)) k++;
    if (k >= n || o[k] !== 41) return end;
    end = ++k;
  }
}
