import { boundSql, type Labels, type ParsedEvent } from '../../model/record.js';
import { FingerprintCache } from '../fingerprint-cache.js';
import {
  DECIMAL,
  HEADER_AFTER_HASH,
  isBanner,
  keepLine,
  labelValue,
  MAX_STATEMENT_CHARS,
  readMysqlTime,
  scanAttributes,
  secondsToMs,
  SET_TIMESTAMP,
  SlowLogCarryOver,
  statementText,
  USER_HOST,
  type MySqlSlowOptions,
  type MysqlTime,
  type SlowLogGuesses,
} from './mysql-slow.js';
import { excerpt, type ByteRecordParser, type GuessingParser, type ParseOutput } from './types.js';
import { keepExplainRow, mysqlExplainPlan, mysqlExplainRow, takeMysqlPlanFacts } from './plans.js';

// The MySQL / MariaDB slow log parser that reads bytes: the same entries, events, problems and carry-over state
// as MySqlSlowParser (mysql-slow.ts, which explains the format and pt-query-digest's rules; it stays as the
// reference that test/parser-differential.test.ts compares this one with), but lines are ranges of the read
// buffer. Header fields (`# Time:`, `# User@Host:`, `Query_time`, `Lock_time`, `Rows_*`, `SET timestamp`, `use`)
// are read by scanning bytes; strings are made only for what an event keeps (statement, user, host, db, labels).
//
// Exactness: the reference works on the line decoded from UTF-8 and some of its patterns (`\s`, trim()) also
// match non-ASCII spaces. Every byte scan here stops where a byte ≥ 0x80 could change the answer and hands
// that line to the reference's own string logic, so both give the same result on any input; only ASCII
// delimiters are looked at on the fast path (UTF-8 never puts an ASCII byte inside a multi-byte character, so
// decoding a range cut at ASCII bytes gives the same text as cutting the decoded line there).

const HASH = 35;
const SEMI = 59;
const COLON = 58;
const SP = 32;
const CR = 13;
const AT = 64;
const DOT = 46;
const LBRACKET = 91;
const RBRACKET = 93;
const BACKTICK = 96;
const Z = 90;

const IDLE = 0;
const ENTRY = 1;
const PIECE = 2;

/** 10^k, exact as doubles */
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);
/** digits a number may have and still be read exactly from an integer (< 2^53) */
const EXACT_DIGITS = 15;

/** Buffer's own slicers, without toString()'s argument checks (a third of its cost on short strings) */
interface Slicers {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
}
export const utf8 = (buf: Buffer, s: number, t: number): string => (buf as unknown as Slicers).utf8Slice(s, t);
const latin1 = (buf: Buffer, s: number, t: number): string => (buf as unknown as Slicers).latin1Slice(s, t);

const isSpaceByte = (c: number): boolean => c === SP || (c >= 9 && c <= 13);
const isDigitByte = (c: number): boolean => c >= 48 && c <= 57;
const isWordByte = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;

const bytesOf = (s: string): number[] => Array.from(s, (ch) => ch.charCodeAt(0));
const TIME = bytesOf('# Time:');
const USER_HOST_PREFIX = bytesOf('# User@Host:');
export const ADMIN = bytesOf('# administrator command:');
const EXPLAIN = bytesOf('# explain:');
export const USE = bytesOf('use ');
export const SET = bytesOf('SET ');
const SET_TIMESTAMP_PREFIX = bytesOf('SET timestamp');
const SET_LAST_INSERT_ID = bytesOf('SET last_insert_id');
const SET_INSERT_ID = bytesOf('SET insert_id');
const TIMESTAMP = bytesOf('timestamp');
const SCHEMA = bytesOf('Schema');
const STARTED_WITH = bytesOf('started with:');
const EMBEDDED_LIBRARY = bytesOf('embedded library');

const KEY_QUERY_TIME = bytesOf('Query_time');
const KEY_LOCK_TIME = bytesOf('Lock_time');
const KEY_ROWS_SENT = bytesOf('Rows_sent');
const KEY_ROWS_EXAMINED = bytesOf('Rows_examined');
const KEY_SCHEMA = SCHEMA;

export function startsWithBytes(buf: Buffer, s: number, t: number, lit: number[]): boolean {
  const n = lit.length;
  if (t - s < n) return false;
  for (let i = 0; i < n; i++) if (buf[s + i] !== lit[i]) return false;
  return true;
}

function endsWithBytes(buf: Buffer, s: number, t: number, lit: number[]): boolean {
  const n = lit.length;
  if (t - s < n) return false;
  for (let i = 0; i < n; i++) if (buf[t - n + i] !== lit[i]) return false;
  return true;
}

function sameBytes(buf: Buffer, s: number, t: number, lit: number[]): boolean {
  return t - s === lit.length && startsWithBytes(buf, s, t, lit);
}

/**
 * A DECIMAL (`\d+(\.\d+)?`) at buf[s, t) as Number(text) would read it, NaN if it is not one. An integer of at
 * most 15 digits divided by a power of ten is the correctly rounded value of the decimal, as Number() gives.
 */
function decimalAt(buf: Buffer, s: number, t: number): number {
  let m = 0;
  let i = s;
  while (i < t && isDigitByte(buf[i]!)) m = m * 10 + buf[i++]! - 48;
  if (i === s) return NaN;
  if (i === t) return i - s <= EXACT_DIGITS ? m : Number(latin1(buf, s, t));
  if (buf[i] !== DOT) return NaN;
  const dot = i++;
  while (i < t && isDigitByte(buf[i]!)) m = m * 10 + buf[i++]! - 48;
  if (i !== t || i === dot + 1) return NaN;
  return t - s - 1 <= EXACT_DIGITS ? m / POW10[t - dot - 1]! : Number(latin1(buf, s, t));
}

/** secondsToMs() of a DECIMAL at buf[s, t), NaN if it is not one. */
function secondsAtToMs(buf: Buffer, s: number, t: number): number {
  if (t - s > EXACT_DIGITS) return isDecimalAt(buf, s, t) ? secondsToMs(latin1(buf, s, t)) : NaN;
  let m = 0;
  let i = s;
  while (i < t && isDigitByte(buf[i]!)) m = m * 10 + buf[i++]! - 48;
  if (i === s) return NaN;
  if (i === t) return m * 1000;
  if (buf[i] !== DOT) return NaN;
  const dot = i++;
  while (i < t && isDigitByte(buf[i]!)) m = m * 10 + buf[i++]! - 48;
  if (i !== t || i === dot + 1) return NaN;
  const frac = t - dot - 1;
  // as secondsToMs: up to µs, the value to whole µs; finer, the point moved three places in the text
  return frac <= 6 ? Math.round((m / POW10[frac]!) * 1e6) / 1e3 : m / POW10[frac - 3]!;
}

/** buf[s, t) is a DECIMAL (`\d+(\.\d+)?`) */
function isDecimalAt(buf: Buffer, s: number, t: number): boolean {
  return !Number.isNaN(decimalAt(buf, s, t));
}

/** labelValue() of the value at buf[s, t). */
function labelValueAt(buf: Buffer, s: number, t: number): string | number | boolean {
  const n = t - s;
  if (n === 3 && buf[s] === 89 && buf[s + 1] === 101 && buf[s + 2] === 115) return true; // Yes
  if (n === 2 && buf[s] === 78 && buf[s + 1] === 111) return false; // No
  if (n > 0 && n < 16) {
    const neg = buf[s] === 45; /* - */
    const v = decimalAt(buf, neg ? s + 1 : s, t);
    if (!Number.isNaN(v)) return neg ? -v : v;
  }
  return utf8(buf, s, t);
}

interface Entry {
  offset: number;
  end: number;
  lineNo: number;
  gotTime: boolean;
  gotUserHost: boolean;
  gotUse: boolean;
  user: string | undefined;
  host: string | undefined;
  threadId: string | undefined;
  useDb: string | undefined;
  setTimestamp: number | undefined;
  /** Query_time: ms when valid, its text when not, undefined when absent (the last one counts) */
  query: number | string | undefined;
  lockMs: number | undefined;
  rowsSent: number | undefined;
  rowsExamined: number | undefined;
  schema: string | undefined;
  labels: Labels | undefined;
  /** MariaDB's `# explain:` rows (log_slow_verbosity=explain): the plan (plans.ts) */
  explain: string[] | undefined;
  stmt: string[] | undefined;
  stmtChars: number;
  cut: boolean;
  admin: string | undefined;
  adminLast: boolean;
  noQuery: boolean;
}

/** Every field set, in one order: one hidden class for all entries. */
function newEntry(offset: number, end: number, lineNo: number): Entry {
  return {
    offset, end, lineNo, gotTime: false, gotUserHost: false, gotUse: false,
    user: undefined, host: undefined, threadId: undefined, useDb: undefined, setTimestamp: undefined, query: undefined,
    lockMs: undefined, rowsSent: undefined, rowsExamined: undefined, schema: undefined, labels: undefined, explain: undefined, stmt: undefined,
    stmtChars: 0, cut: false, admin: undefined, adminLast: false, noQuery: false,
  };
}

/** `e` made new (one entry object serves the whole file: nothing keeps it once its event is made). */
function reuseEntry(e: Entry, offset: number, end: number, lineNo: number): Entry {
  e.offset = offset;
  e.end = end;
  e.lineNo = lineNo;
  e.gotTime = e.gotUserHost = e.gotUse = false;
  e.user = e.host = e.threadId = e.useDb = e.schema = e.admin = undefined;
  e.setTimestamp = e.query = e.lockMs = e.rowsSent = e.rowsExamined = undefined;
  e.labels = undefined;
  e.explain = undefined;
  e.stmt = undefined;
  e.stmtChars = 0;
  e.cut = e.adminLast = e.noQuery = false;
  return e;
}

/** Strings made from bytes that repeat (user, host, database, label keys): the last few, looked up by their bytes. */
class RecentStrings {
  private readonly bytes: Buffer[] = [];
  private readonly strings: string[] = [];
  private next = 0;
  constructor(private readonly size: number) {}

  get(buf: Buffer, s: number, t: number): string {
    const n = t - s;
    const list = this.bytes;
    for (let k = 0; k < list.length; k++) {
      const b = list[k]!;
      if (b.length !== n) continue;
      let i = 0;
      while (i < n && b[i] === buf[s + i]) i++;
      if (i === n) return this.strings[k]!;
    }
    const str = utf8(buf, s, t);
    if (n <= 64) {
      const copy = Buffer.allocUnsafe(n);
      buf.copy(copy, 0, s, t);
      list[this.next] = copy;
      this.strings[this.next] = str;
      this.next = (this.next + 1) % this.size;
    }
    return str;
  }
}

export class MySqlSlowByteParser implements ByteRecordParser, GuessingParser {
  readonly format = 'mysql-slow';
  private readonly fingerprints = new FingerprintCache();
  private mode = IDLE;
  private entry: Entry | undefined;
  private readonly spare = newEntry(0, 0, 0);
  private prevSemicolon = false;
  /** the last line given (its bytes copied by releaseBuffer()), to know at the end of input whether it had a newline */
  private lastBuf: Buffer = Buffer.alloc(0);
  private lastStart = 0;
  private lastStop = 0;
  private lastOffset = 0;
  private lastEnd = 0;
  private lastOwned = true;
  private expectOffset = -1;
  private piece: string[] = [];
  private readonly timeRead: MysqlTime = { ms: 0, local: false };
  private readonly carry: SlowLogCarryOver;
  /** the `YYYY-MM-DDTHH:MM:SS` bytes of the last `# Time:` read with a fraction and `Z`, and that second in ms */
  private readonly isoKey = Buffer.alloc(19);
  private isoKeyValid = false;
  private isoBase = 0;
  private readonly names = new RecentStrings(16);
  /** the last User@Host lines read, up to their last `]`, and their user, host and ip (see recentUserHost()) */
  private readonly uhKeys: Buffer[] = [];
  private readonly uhUser: string[] = [];
  private readonly uhHost: string[] = [];
  private readonly uhIp: string[] = [];
  private uhNext = 0;
  private readonly keys = new RecentStrings(32);
  /** attributes(): start, colon, value start, value end of each pair of a line */
  private readonly pairs = new Int32Array(64);

  constructor(options: MySqlSlowOptions = {}) {
    this.carry = new SlowLogCarryOver(options.logTimeZone);
  }

  line(text: string, offset: number, end: number, lineNo: number, out: ParseOutput): void {
    const b = Buffer.from(text, 'utf8');
    this.lineBytes(b, 0, b.length, offset, end, lineNo, out);
  }

  lineBytes(buf: Buffer, s: number, t: number, offset: number, end: number, lineNo: number, out: ParseOutput): void {
    if (offset > this.expectOffset && this.expectOffset >= 0 && this.mode !== IDLE) {
      this.lineNotRead(offset - this.expectOffset, offset, out);
    }
    this.expectOffset = end;
    const hash = t > s && buf[s] === HASH;
    if (!hash && t - s >= 10 && maybeBanner(buf, s, t) && isBanner(utf8(buf, s, t))) {
      out.skipped++;
      return;
    }
    this.lastBuf = buf;
    this.lastStart = s;
    this.lastStop = t;
    this.lastOffset = offset;
    this.lastEnd = end;
    this.lastOwned = false;
    const semicolon = t > s && buf[t - 1] === SEMI;

    if (this.mode === PIECE) {
      this.continuePiece(utf8(buf, s, t), end, semicolon, out);
      return;
    }
    if (this.mode === ENTRY && hash && this.prevSemicolon) {
      const e = this.entry!;
      if (e.stmt || e.admin !== undefined) {
        this.emit(e, false, out);
      } else if (headerAfterHash(buf, s + 1, t)) {
        e.noQuery = true;
        this.emit(e, false, out);
      } else {
        this.mode = PIECE;
        this.piece = [];
        this.continuePiece(utf8(buf, s + 1, t), end, semicolon, out);
        return;
      }
    }
    this.prevSemicolon = semicolon;
    if (this.mode === IDLE) {
      this.entry = reuseEntry(this.spare, offset, end, lineNo);
      this.mode = ENTRY;
      if (!hash) return; // pt-query-digest reads an entry's first line as if it began with '#'
    }
    const e = this.entry!;
    e.end = end;
    e.adminLast = false;
    if (e.stmt) {
      keepLine(e, e.stmt, utf8(buf, s, t));
      return;
    }
    if (hash) this.headerLine(e, buf, s, t);
    else if (buf[s] === 117 /* u */ && startsWithBytes(buf, s, t, USE)) this.useLine(e, buf, s, t);
    else if (buf[s] === 83 /* S */ && startsWithBytes(buf, s, t, SET) && isMetaSetBytes(buf, s, t)) this.setLine(e, buf, s, t);
    else keepLine(e, (e.stmt = []), utf8(buf, s, t));
  }

  releaseBuffer(): void {
    if (this.lastOwned) return;
    this.lastBuf = Buffer.from(this.lastBuf.subarray(this.lastStart, this.lastStop));
    this.lastStop -= this.lastStart;
    this.lastStart = 0;
    this.lastOwned = true;
  }

  flush(final: boolean, out: ParseOutput): void {
    if (this.mode === IDLE) return;
    const e = this.entry!;
    if (!final) {
      if (this.mode === ENTRY && (e.stmt || e.admin !== undefined) && this.prevSemicolon) this.emit(e, false, out);
      return;
    }
    // as the reference: the line's bytes beyond those of its text (re-encoded) are its terminator
    const bytes = this.lastEnd - this.lastOffset;
    const newline = bytes > this.lastStop - this.lastStart && bytes > Buffer.byteLength(utf8(this.lastBuf, this.lastStart, this.lastStop));
    if (this.mode === PIECE) {
      this.finishPiece(e, newline, out);
    } else if (e.stmt || e.admin !== undefined) {
      this.emit(e, true, out, newline);
    } else {
      this.problem(out, e, 'entry has headers but no statement (cut short at the end of the file)', '');
      this.reset();
    }
  }

  /** No part of an entry is held (a chunk of the log may end here: src/formats/chunk-parse.ts). */
  idle(): boolean {
    return this.mode === IDLE;
  }

  context(): unknown {
    return this.carry.context();
  }

  restore(context: unknown): void {
    this.mode = IDLE;
    this.entry = undefined;
    this.prevSemicolon = false;
    this.expectOffset = -1;
    this.carry.restore(context);
  }

  guessStart(): void {
    this.restore(undefined);
    this.carry.guessStart();
  }

  guesses(): SlowLogGuesses | undefined {
    return this.carry.guesses();
  }

  settle(guesses: unknown, start: unknown, guessedEnd: unknown, fix: (k: number, ts: number | undefined, queryId: string) => boolean): unknown {
    const settled = this.carry.settle(guesses as SlowLogGuesses, start, guessedEnd, fix);
    this.restore(undefined);
    return settled;
  }

  guessedOffsets(guesses: unknown): number[] {
    const g = guesses as SlowLogGuesses;
    return [...g.inherited.map((e) => e[0]), ...g.offsets];
  }

  // ---- headers -------------------------------------------------------------------------------------

  private headerLine(e: Entry, buf: Buffer, s: number, t: number): void {
    const c2 = buf[s + 2]; // the three prefixes below differ there: T(ime), U(ser@Host), a(dministrator), e(xplain)
    if (c2 === 84 && startsWithBytes(buf, s, t, TIME)) {
      if (!e.gotTime) {
        e.gotTime = true;
        if (this.readTime(buf, s + 7, t)) this.carry.time(this.timeRead);
      }
      if (!e.gotUserHost && hasUserHost(buf, s + 8, t)) this.userHostText(e, utf8(buf, s, t));
      return;
    }
    if (c2 === 85 && !e.gotUserHost && startsWithBytes(buf, s, t, USER_HOST_PREFIX)) {
      if (!this.userHostBytes(e, buf, s, t)) this.userHostText(e, utf8(buf, s, t));
      return;
    }
    if (c2 === 97 && startsWithBytes(buf, s, t, ADMIN)) {
      if (e.admin === undefined) {
        e.admin = utf8(buf, s, t).replace(/^#\s+/, '');
        e.adminLast = true;
      }
      return;
    }
    if (c2 === 101 && startsWithBytes(buf, s, t, EXPLAIN)) {
      e.explain = keepExplainRow(e.explain, mysqlExplainRow(utf8(buf, s, t))!);
      return;
    }
    if (isAttributeLine(buf, s, t) && !this.attributes(e, buf, s, t)) {
      scanAttributes(utf8(buf, s, t), (k, v) => this.attributeText(e, k, v));
    }
  }

  /** readMysqlTime(text after `# Time:`, trimmed); the same second as the last one read costs a compare. */
  private readTime(buf: Buffer, from: number, t: number): boolean {
    let i = from;
    while (i < t && isSpaceByte(buf[i]!)) i++;
    const into = this.timeRead;
    if (this.isoKeyValid && t - i > 20 && buf[i + 19] === DOT && buf[i] !== undefined && buf[i]! < 0x80) {
      let k = 0;
      while (k < 19 && buf[i + k] === this.isoKey[k]) k++;
      if (k === 19) {
        const fraction = this.fractionMs(buf, i + 20, t);
        if (fraction >= 0) {
          into.ms = this.isoBase + fraction;
          into.local = false;
          return true;
        }
      }
    }
    if (!readMysqlTime(utf8(buf, from, t).trimStart(), into)) return false;
    // an ISO time with a fraction and `Z`: remember its second
    if (!into.local && i < t && buf[i]! < 0x80 && t - i > 20 && buf[i + 19] === DOT) {
      const fraction = this.fractionMs(buf, i + 20, t);
      if (fraction >= 0) {
        buf.copy(this.isoKey, 0, i, i + 19);
        this.isoKeyValid = true;
        this.isoBase = into.ms - fraction;
      }
    }
    return true;
  }

  /** `\d+Z` at buf[i…]: Math.floor(Number('0.' + digits) * 1000) as readMysqlTime computes it; -1 if not that. */
  private fractionMs(buf: Buffer, i: number, t: number): number {
    const from = i;
    let m = 0;
    while (i < t && isDigitByte(buf[i]!)) m = m * 10 + buf[i++]! - 48;
    const k = i - from;
    if (k === 0 || k > EXACT_DIGITS || i >= t || buf[i] !== Z) return -1;
    return Math.floor((m / POW10[k]!) * 1000);
  }

  /**
   * USER_HOST on `# User@Host: user[user] @ host [ip]  Id: N` read by scanning: an ASCII line in which the
   * first `@ ` after the user's first `[` is followed by `host [`. False for any other shape (the regex decides).
   */
  private userHostBytes(e: Entry, buf: Buffer, s: number, t: number): boolean {
    const p = s + 13;
    if (p > t || buf[s + 12] !== SP) return false;
    if (this.recentUserHost(e, buf, p, t)) return true;
    let bracket = -1;
    let lastClose = -1;
    for (let i = p; i < t; i++) {
      const c = buf[i]!;
      if (c >= 0x80 || c === CR) return false;
      if (c === LBRACKET && bracket === -1) bracket = i;
      else if (c === RBRACKET) lastClose = i;
    }
    if (bracket === p) return false;
    const userEnd = bracket === -1 ? t : bracket;
    for (let q = userEnd; q + 1 < t; q++) {
      if (buf[q] !== AT || buf[q + 1] !== SP) continue;
      let w = q + 2;
      while (w < t && !isSpaceByte(buf[w]!)) w++;
      if (w + 1 >= t || buf[w] !== SP || buf[w + 1] !== LBRACKET || lastClose < w + 2) continue;
      const user = this.names.get(buf, p, userEnd);
      const ip = lastClose > w + 2 ? this.names.get(buf, w + 2, lastClose) : '';
      const host = w > q + 2 ? this.names.get(buf, q + 2, w) : ip;
      if (lastClose + 1 - p <= 256) {
        const k = this.uhNext;
        this.uhNext = (k + 1) % 8;
        this.uhKeys[k] = Buffer.from(buf.subarray(p, lastClose + 1));
        this.uhUser[k] = user;
        this.uhHost[k] = host;
        this.uhIp[k] = ip;
      }
      this.setUserHost(e, user, host, ip, buf, lastClose + 1, t);
      return true;
    }
    return false;
  }

  /**
   * A User@Host line that starts as one of the last 8 did, up to and including their last `]`, and has no `]`,
   * CR or non-ASCII byte after it: userHostBytes() would find what it found then (only the Id after it differs).
   */
  private recentUserHost(e: Entry, buf: Buffer, p: number, t: number): boolean {
    const keys = this.uhKeys;
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k]!;
      const n = key.length;
      if (t - p < n || key[0] !== buf[p]) continue;
      let i = 1;
      while (i < n && key[i] === buf[p + i]) i++;
      if (i < n) continue;
      for (let j = p + n; j < t; j++) {
        const c = buf[j]!;
        if (c === RBRACKET || c >= 0x80 || c === CR) return false;
      }
      this.setUserHost(e, this.uhUser[k]!, this.uhHost[k]!, this.uhIp[k]!, buf, p + n, t);
      return true;
    }
    return false;
  }

  /** What USER_HOST's groups give, the thread id (`\s*Id:\s*(\d+)`) read from buf[i…] (just after the last `]`) */
  private setUserHost(e: Entry, user: string, host: string, ip: string, buf: Buffer, i: number, t: number): void {
    e.gotUserHost = true;
    e.user = user;
    e.host = host;
    if (ip) (e.labels ??= {}).ip = ip;
    while (i < t && isSpaceByte(buf[i]!)) i++;
    if (i + 2 < t && buf[i] === 73 /* I */ && buf[i + 1] === 100 /* d */ && buf[i + 2] === COLON) {
      i += 3;
      while (i < t && isSpaceByte(buf[i]!)) i++;
      const d = i;
      while (i < t && isDigitByte(buf[i]!)) i++;
      if (i > d) e.threadId = latin1(buf, d, i);
    }
  }

  private userHostText(e: Entry, text: string): void {
    const m = USER_HOST.exec(text);
    if (!m) return;
    e.gotUserHost = true;
    e.user = m[1];
    e.host = m[2] || m[3];
    if (m[3]) (e.labels ??= {}).ip = m[3];
    if (m[4]) e.threadId = m[4];
  }

  /**
   * scanAttributes() over the bytes: the pairs are found first and used only if EMPTY_SCHEMA cannot match (the
   * reference removes its match before scanning); false (nothing used) when it might, or on a line of very many pairs.
   */
  private attributes(e: Entry, buf: Buffer, s: number, t: number): boolean {
    const at = this.pairs;
    let n = 0;
    let from = s;
    for (;;) {
      let colon = from;
      while (colon < t && buf[colon] !== COLON) colon++;
      if (colon >= t) break;
      if (colon - 6 >= s && buf[colon - 1] === 97 /* a */ && emptySchemaAt(buf, s, colon, t)) return false;
      let start = colon;
      while (start > from && isWordByte(buf[start - 1]!)) start--;
      let v = colon + 1;
      if (start === colon || v >= t || !isSpaceByte(buf[v]!)) {
        from = colon + 1;
        continue;
      }
      while (v < t && isSpaceByte(buf[v]!)) v++;
      let vEnd = v;
      let colonInValue = false;
      while (vEnd < t && !isSpaceByte(buf[vEnd]!)) if (buf[vEnd++] === COLON) colonInValue = true;
      if (colonInValue && mayHaveEmptySchema(buf, s, t)) return false;
      if (n === at.length) return false;
      at[n++] = start;
      at[n++] = colon;
      at[n++] = v;
      at[n++] = vEnd;
      from = vEnd;
    }
    for (let k = 0; k < n; k += 4) this.attribute(e, buf, at[k]!, at[k + 1]!, at[k + 2]!, at[k + 3]!);
    return true;
  }

  private attribute(e: Entry, buf: Buffer, ks: number, ke: number, vs: number, ve: number): void {
    const k0 = buf[ks]; // the keys below start with Q, L, R or S: any other is a label
    if (k0 !== 81 && k0 !== 76 && k0 !== 82 && k0 !== 83) this.label(e, buf, ks, ke, vs, ve);
    else if (sameBytes(buf, ks, ke, KEY_QUERY_TIME)) {
      const ms = secondsAtToMs(buf, vs, ve);
      e.query = Number.isNaN(ms) ? utf8(buf, vs, ve) : ms;
    } else if (sameBytes(buf, ks, ke, KEY_LOCK_TIME)) {
      const ms = secondsAtToMs(buf, vs, ve);
      e.lockMs = Number.isNaN(ms) ? undefined : ms;
    } else if (sameBytes(buf, ks, ke, KEY_ROWS_SENT)) {
      const n = decimalAt(buf, vs, ve);
      e.rowsSent = Number.isNaN(n) ? undefined : n;
    } else if (sameBytes(buf, ks, ke, KEY_ROWS_EXAMINED)) {
      const n = decimalAt(buf, vs, ve);
      e.rowsExamined = Number.isNaN(n) ? undefined : n;
    } else if (sameBytes(buf, ks, ke, KEY_SCHEMA)) {
      e.schema = this.names.get(buf, vs, ve);
    } else this.label(e, buf, ks, ke, vs, ve);
  }

  private label(e: Entry, buf: Buffer, ks: number, ke: number, vs: number, ve: number): void {
    const key = this.keys.get(buf, ks, ke);
    if (key === 'Thread_id' && ve > vs) e.threadId ??= utf8(buf, vs, ve);
    (e.labels ??= {})[key] = labelValueAt(buf, vs, ve);
  }

  /** attribute() for a pair read from text (the line went the reference's way) */
  private attributeText(e: Entry, key: string, value: string): void {
    switch (key) {
      case 'Query_time':
        e.query = DECIMAL.test(value) ? secondsToMs(value) : value;
        break;
      case 'Lock_time':
        e.lockMs = DECIMAL.test(value) ? secondsToMs(value) : undefined;
        break;
      case 'Rows_sent':
        e.rowsSent = DECIMAL.test(value) ? Number(value) : undefined;
        break;
      case 'Rows_examined':
        e.rowsExamined = DECIMAL.test(value) ? Number(value) : undefined;
        break;
      case 'Schema':
        e.schema = value;
        break;
      default:
        if (key === 'Thread_id' && value) e.threadId ??= value;
        (e.labels ??= {})[key] = labelValue(value);
    }
  }

  private useLine(e: Entry, buf: Buffer, s: number, t: number): void {
    if (e.gotUse) return;
    let semi = s + 4;
    while (semi < t && buf[semi] !== SEMI) semi++;
    let a = s + 4;
    let b = semi;
    while (a < b && isSpaceByte(buf[a]!)) a++;
    while (b > a && isSpaceByte(buf[b - 1]!)) b--;
    let db: string;
    if (a < b && (buf[a]! >= 0x80 || buf[b - 1]! >= 0x80)) db = utf8(buf, s + 4, semi).trim();
    else db = a < b ? this.names.get(buf, a, b) : '';
    if (!db) return;
    e.gotUse = true;
    let tick = a;
    while (tick < b && buf[tick] !== BACKTICK) tick++;
    e.useDb = tick < b || db.includes('`') ? db.replace(/`/g, '') : db;
  }

  /** SET_TIMESTAMP: the first `timestamp` followed by `\s*=\s*\d+(\.\d+)?` */
  private setLine(e: Entry, buf: Buffer, s: number, t: number): void {
    if (e.setTimestamp !== undefined) return;
    for (let i = s; i + 9 <= t; i++) {
      if (buf[i] !== 116 /* t */ || !startsWithBytes(buf, i, t, TIMESTAMP)) continue;
      let j = i + 9;
      while (j < t && isSpaceByte(buf[j]!)) j++;
      if (j < t && buf[j]! >= 0x80) return this.setLineText(e, buf, s, t);
      if (j >= t || buf[j] !== 61 /* = */) continue;
      j++;
      while (j < t && isSpaceByte(buf[j]!)) j++;
      if (j < t && buf[j]! >= 0x80) return this.setLineText(e, buf, s, t);
      const d = j;
      while (j < t && isDigitByte(buf[j]!)) j++;
      if (j === d) continue;
      if (j + 1 < t && buf[j] === DOT && isDigitByte(buf[j + 1]!)) {
        j++;
        while (j < t && isDigitByte(buf[j]!)) j++;
      }
      e.setTimestamp = decimalAt(buf, d, j);
      return;
    }
  }

  private setLineText(e: Entry, buf: Buffer, s: number, t: number): void {
    const m = SET_TIMESTAMP.exec(utf8(buf, s, t));
    if (m) e.setTimestamp = Number(m[1]);
  }

  private lineNotRead(bytes: number, offset: number, out: ParseOutput): void {
    const note = `/* ${bytes} bytes not read: line over the length limit */`;
    this.entry!.end = offset;
    if (this.mode === PIECE) {
      this.piece.push(note);
      this.finishPiece(this.entry!, true, out);
      return;
    }
    const e = this.entry!;
    if (e.stmt) e.stmt.push(note + ';');
    else e.stmt = [note + ';'];
    this.prevSemicolon = true;
  }

  // ---- the statement of a headers-only entry -------------------------------------------------------

  private continuePiece(text: string, end: number, semicolon: boolean, out: ParseOutput): void {
    keepLine(this.entry!, this.piece, text);
    this.entry!.end = end;
    if (semicolon) this.finishPiece(this.entry!, true, out);
  }

  private finishPiece(e: Entry, newline: boolean, out: ParseOutput): void {
    let text = this.piece.join('\n');
    if (newline && text.endsWith(';')) text = text.slice(0, -1);
    e.stmt = [text.replace(/^\s+/, '')];
    this.piece = [];
    this.emit(e, false, out, false, true);
  }

  // ---- events --------------------------------------------------------------------------------------

  private emit(e: Entry, atEof: boolean, out: ParseOutput, newline = true, verbatim = false): void {
    let sql = e.noQuery ? '/* No query */' : statementText(e, atEof, newline, verbatim);
    if (e.cut) sql += ` /* cut: statement of over ${MAX_STATEMENT_CHARS} characters */`;
    this.reset();
    const durationMs = e.query;
    if (durationMs === undefined) {
      this.problem(out, e, 'entry has no Query_time header; skipped', sql);
      return;
    }
    if (typeof durationMs === 'string') {
      this.problem(out, e, `invalid Query_time "${excerpt(durationMs, 40)}"; skipped`, sql);
      return;
    }
    const ts = this.carry.endTime(e.setTimestamp, durationMs);
    const fp = this.fingerprints.get(sql);
    const queryId = this.carry.queryId(e.threadId, e.setTimestamp, e.offset, ts, durationMs);
    const ev: ParsedEvent = {
      state: 'finished',
      queryId,
      ts,
      durationMs,
      sql: boundSql(sql),
      fingerprint: fp.fingerprint,
      fingerprintId: fp.fingerprintId,
      offset: e.offset,
      end: e.end,
    };
    if (e.user) ev.user = e.user;
    if (e.host) ev.host = e.host;
    const db = e.useDb ?? (e.schema ? e.schema.replace(/`/g, '') : undefined);
    if (db) ev.db = db;
    if (e.lockMs !== undefined) ev.lockMs = e.lockMs;
    if (e.rowsSent !== undefined) ev.rowsSent = e.rowsSent;
    if (e.rowsExamined !== undefined) ev.rowsExamined = e.rowsExamined;
    if (e.labels) {
      const facts = takeMysqlPlanFacts(e.labels);
      if (facts) ev.planFacts = facts;
      if (Object.keys(e.labels).length > 0) ev.labels = e.labels;
    }
    if (e.explain) ev.plan = mysqlExplainPlan(e.explain);
    out.events.push(ev);
  }

  private reset(): void {
    this.mode = IDLE;
    this.entry = undefined;
    this.prevSemicolon = false;
    this.carry.entryDone();
  }

  private problem(out: ParseOutput, e: Entry, reason: string, text: string): void {
    out.problems.push({ offset: e.offset, line: e.lineNo, reason, text: excerpt(text.slice(0, 400).replace(/\s*\n\s*/g, ' ').trim()) });
  }
}

/** Could isBanner() say yes? (its patterns need these ASCII bytes; most lines fail on the first or last byte) */
export function maybeBanner(buf: Buffer, s: number, t: number): boolean {
  const c = buf[s];
  if (c === 84 /* T */ || c === 116 /* t */) {
    const c1 = buf[s + 1];
    if ((c1 === 99 || c1 === 67) && (buf[s + 2] === 112 || buf[s + 2] === 80)) return true; // Tcp
    if (c1 === 105 && buf[s + 2] === 109 && buf[s + 3] === 101) return true; // Time
  }
  const last = buf[t - 1];
  return (last === COLON && endsWithBytes(buf, s, t, STARTED_WITH)) || (last === 121 /* y */ && endsWithBytes(buf, s, t, EMBEDDED_LIBRARY));
}

/** `# User@Host:` in buf[from, t) */
function hasUserHost(buf: Buffer, from: number, t: number): boolean {
  for (let i = from; i + USER_HOST_PREFIX.length <= t; i++) if (buf[i] === HASH && startsWithBytes(buf, i, t, USER_HOST_PREFIX)) return true;
  return false;
}

export function isMetaSetBytes(buf: Buffer, s: number, t: number): boolean {
  return startsWithBytes(buf, s, t, SET_TIMESTAMP_PREFIX) || startsWithBytes(buf, s, t, SET_LAST_INSERT_ID) || startsWithBytes(buf, s, t, SET_INSERT_ID);
}

/** HEADER_AFTER_HASH (`^\s*[A-Z][a-z_]+: `) on buf[from, t) */
export function headerAfterHash(buf: Buffer, from: number, t: number): boolean {
  let i = from;
  while (i < t && isSpaceByte(buf[i]!)) i++;
  if (i < t && buf[i]! >= 0x80) return HEADER_AFTER_HASH.test(utf8(buf, from, t));
  if (i >= t || buf[i]! < 65 || buf[i]! > 90) return false;
  const k = ++i;
  while (i < t && ((buf[i]! >= 97 && buf[i]! <= 122) || buf[i] === 95)) i++;
  return i > k && i + 1 < t && buf[i] === COLON && buf[i + 1] === SP;
}

/** ATTR_LINE (`^# +[A-Z][A-Za-z_]+:`) */
function isAttributeLine(buf: Buffer, s: number, t: number): boolean {
  let i = s + 1;
  if (i >= t || buf[i] !== SP) return false;
  while (i < t && buf[i] === SP) i++;
  if (i >= t || buf[i]! < 65 || buf[i]! > 90) return false;
  const k = ++i;
  while (i < t && ((buf[i]! >= 65 && buf[i]! <= 90) || (buf[i]! >= 97 && buf[i]! <= 122) || buf[i] === 95)) i++;
  return i > k && i < t && buf[i] === COLON;
}

/**
 * Could EMPTY_SCHEMA (`Schema:\s+(?=\w+: )`) match? Then the line goes the reference's way (it removes the match
 * before scanning). True also where a non-ASCII byte leaves it open (`\s` matches non-ASCII spaces).
 */
function mayHaveEmptySchema(buf: Buffer, s: number, t: number): boolean {
  for (let i = s + 6; i < t; i++) if (buf[i] === COLON && emptySchemaAt(buf, s, i, t)) return true;
  return false;
}

/** mayHaveEmptySchema() at the colon at `i` */
function emptySchemaAt(buf: Buffer, s: number, i: number, t: number): boolean {
  if (!endsWithBytes(buf, s, i, SCHEMA)) return false;
  let j = i + 1;
  if (j < t && buf[j]! >= 0x80) return true;
  if (j >= t || !isSpaceByte(buf[j]!)) return false;
  while (j < t && isSpaceByte(buf[j]!)) j++;
  if (j < t && buf[j]! >= 0x80) return true;
  const w = j;
  while (j < t && isWordByte(buf[j]!)) j++;
  return j > w && j + 1 < t && buf[j] === COLON && buf[j + 1] === SP;
}
