import { boundSql, type Labels, type ParsedEvent } from '../../model/record.js';
import { FingerprintCache } from '../fingerprint-cache.js';
import { numericZoneOffset, type LogTimeZone } from '../time-zones.js';
import { StartsSeen, type StartsMemory, type StartsSeenContext } from './mysql-query-ids.js';
import { keepExplainRow, mysqlExplainPlan, mysqlExplainRow, takeMysqlPlanFacts } from './plans.js';
import { excerpt, NOT_SETTLED, type ParseOutput, type RecordParser } from './types.js';

// MySQL / Percona Server / MariaDB slow query log (slow_query_log_file), read line by line.
//
// An entry is a run of header lines (`# Time:`, `# User@Host:`, `# Query_time: …` and the other `# Key: value`
// lines, MariaDB's `# explain:`, which give the plan: plans.ts), optional `use db;` / `SET timestamp=…;` lines, then the statement (any number
// of lines) ending in `;`. Where one entry ends is decided exactly as pt-query-digest's SlowLogParser decides it,
// so that both count the same events: a new entry starts at a line beginning with `#` when the line before it
// ended with `;`. Everything up to there belongs to the entry, `#` lines included. Server start-up banners
// (`…mysqld, Version: … started with:`, `Tcp port: …`, `Time  Id Command  Argument`) are dropped wherever
// they appear. pt-query-digest's remaining special cases are kept too:
//  - the first line of a file (or of an entry opened by a line not starting with `#`) is a comment;
//  - an entry whose lines are all headers (e.g. `use db;` right before `# administrator command: Quit;`)
//    takes its statement from the following lines, up to the first line ending in `;` — unless that next
//    line is a `# Key: value` header, in which case it is an entry without a statement (`/* No query */`).
// An entry without a valid Query_time (a fragment cut at the start of a file, a file in another format)
// is reported as a problem and not emitted: nothing can be said about a query without its duration.

/**
 * How far a `# Time:` without a zone, read as UTC, may lie after `SET timestamp=` and still be taken as the
 * statement's end (MySQL prints it in whole seconds, when it writes the entry): a server east of UTC would put it
 * hours later.
 */
export const UNZONED_END_SLACK_MS = 2000;
/**
 * Statement text kept per entry (UTF-16 units). Far beyond real statements (whose fingerprint needs only the
 * first tuple of a giant INSERT), it bounds memory when a file is not a slow log and has no entry boundaries.
 */
export const MAX_STATEMENT_CHARS = 8 << 20;

interface Entry {
  offset: number;
  end: number;
  lineNo: number;
  gotTime: boolean;
  gotUserHost: boolean;
  gotUse: boolean;
  user?: string;
  host?: string;
  threadId?: string;
  useDb?: string;
  setTimestamp?: number;
  queryTime?: string;
  lockTime?: string;
  rowsSent?: string;
  rowsExamined?: string;
  schema?: string;
  labels?: Labels;
  /** MariaDB's `# explain:` rows (log_slow_verbosity=explain): the plan */
  explain?: string[];
  /** the statement: every line from the first line that is not a header to the end of the entry */
  stmt?: string[];
  /** characters in stmt; past MAX_STATEMENT_CHARS further lines are counted, not kept */
  stmtChars: number;
  cut: boolean;
  /** `# administrator command: X` (used when no statement line follows) */
  admin?: string;
  /** the admin line is the entry's last line (so its `;` is the entry's terminator) */
  adminLast: boolean;
  noQuery: boolean;
}

export interface MySqlSlowContext {
  /** the last `# Time:` seen (ms), inherited by entries without one */
  time?: number;
  /** that time had no zone and was read as UTC (no --log-timezone) */
  unzoned?: true;
  /** the starts of recent entries that crossed a second boundary (see mysql-query-ids.ts) */
  threads?: StartsSeenContext;
}

export interface MySqlSlowOptions {
  /** the server's time zone: `# Time:` values without a zone are its local time (default: read as UTC) */
  logTimeZone?: LogTimeZone;
}

type Mode = 'idle' | 'entry' | 'piece';

const BANNER_TCP = /^T[cC][pP]\s[pP]ort:\s+\d+/;
const BANNER_COLUMNS = /^Time\s+Id\s+Command/;
// pt-query-digest knows only `mysqld, Version:`; MariaDB 10.5+ writes `mariadbd, Version:` (at start-up and at every
// FLUSH LOGS), and a banner left in would glue the entries before and after it together.
const BANNER_VERSION = /(?:mysqld|mariadbd)(?:\.exe)?,\s+Version:/;
export const USER_HOST = /# User@Host: ([^[]+|\[[^[]+\]).*?@ (\S*) \[(.*)\]\s*(?:Id:\s*(\d+))?/;
const ATTR_LINE = /^# +[A-Z][A-Za-z_]+:/;
export const EMPTY_SCHEMA = /Schema:\s+(?=\w+: )/;
export const HEADER_AFTER_HASH = /^\s*[A-Z][a-z_]+: /;
export const SET_TIMESTAMP = /timestamp\s*=\s*(\d+(?:\.\d+)?)/;
export const DECIMAL = /^\d+(?:\.\d+)?$/;
const NUMERIC_LABEL = /^-?\d+(?:\.\d+)?$/;
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?/;
const OLD_TIME = /^(\d{2})(\d{2})(\d{2})\s+(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?/;
/** pt-query-digest strips the entry's final `;` (and, at the end of a file, a `;` before the last newline) */
const FINAL_SEMICOLON = /;\n#?(?=\n?$)/;

export class MySqlSlowParser implements RecordParser {
  readonly format = 'mysql-slow';
  private readonly fingerprints = new FingerprintCache();
  private mode: Mode = 'idle';
  private entry: Entry | undefined;
  /** the previous (non-banner) line ended with `;` */
  private prevSemicolon = false;
  /** the last line given, to know at the end of input whether it had a newline */
  private lastLine = { text: '', offset: 0, end: 0 };
  /** where the next line should start (-1: unknown); a line that starts later means the caller skipped one */
  private expectOffset = -1;
  private piece: string[] = [];
  private readonly timeRead: MysqlTime = { ms: 0, local: false };
  /** the last `# Time:` and the thread memory behind query ids, over entries and resumes */
  private readonly carry: SlowLogCarryOver;

  constructor(options: MySqlSlowOptions = {}) {
    this.carry = new SlowLogCarryOver(options.logTimeZone);
  }

  line(text: string, offset: number, end: number, lineNo: number, out: ParseOutput): void {
    if (offset > this.expectOffset && this.expectOffset >= 0 && this.mode !== 'idle') {
      this.lineNotRead(offset - this.expectOffset, offset, out);
    }
    this.expectOffset = end;
    if (isBanner(text)) {
      out.skipped++;
      return;
    }
    this.lastLine.text = text;
    this.lastLine.offset = offset;
    this.lastLine.end = end;
    const hash = text.charCodeAt(0) === 35; /* # */
    const semicolon = text.charCodeAt(text.length - 1) === 59; /* ; */

    if (this.mode === 'piece') {
      this.continuePiece(text, end, semicolon, out);
      return;
    }
    if (this.mode === 'entry' && hash && this.prevSemicolon) {
      const e = this.entry!;
      if (e.stmt || e.admin !== undefined) {
        this.emit(e, false, out);
      } else if (HEADER_AFTER_HASH.test(text.slice(1))) {
        e.noQuery = true;
        this.emit(e, false, out);
      } else {
        // An entry of headers only: its statement is what follows, up to the first line ending in ';'.
        this.mode = 'piece';
        this.piece = [];
        this.continuePiece(text.slice(1), end, semicolon, out);
        return;
      }
    }
    this.prevSemicolon = semicolon;
    if (this.mode === 'idle') {
      this.entry = newEntry(offset, end, lineNo);
      this.mode = 'entry';
      if (!hash) return; // pt-query-digest reads an entry's first line as if it began with '#'
    }
    const e = this.entry!;
    e.end = end;
    e.adminLast = false;
    if (e.stmt) {
      keepLine(e, e.stmt, text);
      return;
    }
    if (hash) this.headerLine(e, text);
    else if (text.startsWith('use ')) this.useLine(e, text);
    else if (text.startsWith('SET ') && isMetaSet(text)) this.setLine(e, text);
    else keepLine(e, (e.stmt = []), text);
  }

  flush(final: boolean, out: ParseOutput): void {
    if (this.mode === 'idle') return;
    const e = this.entry!;
    if (!final) {
      // Idle tail: MySQL writes an entry in one go, so a statement ending in ';' is complete.
      if (this.mode === 'entry' && (e.stmt || e.admin !== undefined) && this.prevSemicolon) this.emit(e, false, out);
      return;
    }
    const newline = this.lastLine.end - this.lastLine.offset > Buffer.byteLength(this.lastLine.text);
    if (this.mode === 'piece') {
      this.finishPiece(e, newline, out);
    } else if (e.stmt || e.admin !== undefined) {
      this.emit(e, true, out, newline);
    } else {
      this.problem(out, e, 'entry has headers but no statement (cut short at the end of the file)', '');
      this.reset();
    }
  }

  context(): unknown {
    return this.carry.context();
  }

  /** A context this parser did not write (another format, a damaged registry) is ignored: only ids and inherited times depend on it. */
  restore(context: unknown): void {
    this.mode = 'idle';
    this.entry = undefined;
    this.prevSemicolon = false;
    this.expectOffset = -1;
    this.carry.restore(context);
  }

  // ---- headers -------------------------------------------------------------------------------------

  private headerLine(e: Entry, text: string): void {
    if (text.startsWith('# Time:')) {
      if (!e.gotTime) {
        e.gotTime = true;
        if (readMysqlTime(text.slice(7).trimStart(), this.timeRead)) this.carry.time(this.timeRead);
      }
      if (!e.gotUserHost && text.includes('# User@Host:', 8)) this.userHost(e, text);
      return;
    }
    if (!e.gotUserHost && text.startsWith('# User@Host:')) {
      this.userHost(e, text);
      return;
    }
    if (text.startsWith('# administrator command:')) {
      if (e.admin === undefined) {
        e.admin = text.replace(/^#\s+/, '');
        e.adminLast = true;
      }
      return;
    }
    const explainRow = mysqlExplainRow(text);
    if (explainRow !== undefined) e.explain = keepExplainRow(e.explain, explainRow);
    else if (ATTR_LINE.test(text)) this.attributes(e, text);
    // anything else (`# No InnoDB statistics …`, comments) carries nothing we use
  }

  private userHost(e: Entry, text: string): void {
    const m = USER_HOST.exec(text);
    if (!m) return;
    e.gotUserHost = true;
    e.user = m[1];
    e.host = m[2] || m[3];
    if (m[3]) (e.labels ??= {}).ip = m[3];
    if (m[4]) e.threadId = m[4];
  }

  /** `Key: value` pairs, as pt-query-digest's /(\w+):\s+(\S+|\Z)/g finds them. */
  private attributes(e: Entry, text: string): void {
    scanAttributes(text, (key, value) => this.attribute(e, key, value));
  }

  private attribute(e: Entry, key: string, value: string): void {
    switch (key) {
      case 'Query_time':
        e.queryTime = value;
        break;
      case 'Lock_time':
        e.lockTime = value;
        break;
      case 'Rows_sent':
        e.rowsSent = value;
        break;
      case 'Rows_examined':
        e.rowsExamined = value;
        break;
      case 'Schema':
        e.schema = value;
        break;
      default:
        if (key === 'Thread_id' && value) e.threadId ??= value;
        (e.labels ??= {})[key] = labelValue(value);
    }
  }

  private useLine(e: Entry, text: string): void {
    if (e.gotUse) return;
    const semi = text.indexOf(';');
    const db = (semi === -1 ? text.slice(4) : text.slice(4, semi)).trim();
    if (!db) return;
    e.gotUse = true;
    e.useDb = db.replace(/`/g, '');
  }

  private setLine(e: Entry, text: string): void {
    if (e.setTimestamp !== undefined) return;
    const m = SET_TIMESTAMP.exec(text);
    if (m) e.setTimestamp = Number(m[1]);
  }

  /**
   * The caller skipped a line (longer than its limit) inside the entry: the statement is marked as not read
   * rather than the entry lost — its header (duration, user, …) is intact and may well be worth an alert.
   * The missing line is taken to end the statement (it is usually a giant one-line INSERT).
   */
  private lineNotRead(bytes: number, offset: number, out: ParseOutput): void {
    const note = `/* ${bytes} bytes not read: line over the length limit */`;
    this.entry!.end = offset;
    if (this.mode === 'piece') {
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
    if (newline && text.endsWith(';')) text = text.slice(0, -1); // chomp ";\n"
    e.stmt = [text.replace(/^\s+/, '')];
    this.piece = [];
    this.emit(e, false, out, false, true);
  }

  // ---- events --------------------------------------------------------------------------------------

  /**
   * `atEof`: the entry ends the input (pt strips a final `;` before the last newline only); otherwise it
   * was ended by the next entry (or an idle tail) and its last line ends in `;`, which is dropped.
   */
  private emit(e: Entry, atEof: boolean, out: ParseOutput, newline = true, verbatim = false): void {
    let sql = e.noQuery ? '/* No query */' : statementText(e, atEof, newline, verbatim);
    if (e.cut) sql += ` /* cut: statement of over ${MAX_STATEMENT_CHARS} characters */`;
    this.reset();
    if (e.queryTime === undefined) {
      this.problem(out, e, 'entry has no Query_time header; skipped', sql);
      return;
    }
    if (!DECIMAL.test(e.queryTime)) {
      this.problem(out, e, `invalid Query_time "${excerpt(e.queryTime, 40)}"; skipped`, sql);
      return;
    }
    const durationMs = secondsToMs(e.queryTime);
    const ts = this.endTime(e, durationMs);
    const fp = this.fingerprints.get(sql);
    const ev: ParsedEvent = {
      state: 'finished',
      queryId: this.queryIdFor(e, ts, durationMs),
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
    if (e.lockTime !== undefined && DECIMAL.test(e.lockTime)) ev.lockMs = secondsToMs(e.lockTime);
    if (e.rowsSent !== undefined && DECIMAL.test(e.rowsSent)) ev.rowsSent = Number(e.rowsSent);
    if (e.rowsExamined !== undefined && DECIMAL.test(e.rowsExamined)) ev.rowsExamined = Number(e.rowsExamined);
    if (e.labels) {
      const facts = takeMysqlPlanFacts(e.labels);
      if (facts) ev.planFacts = facts;
      if (Object.keys(e.labels).length > 0) ev.labels = e.labels;
    }
    if (e.explain) ev.plan = mysqlExplainPlan(e.explain);
    out.events.push(ev);
  }

  private endTime(e: Entry, durationMs: number): number {
    return this.carry.endTime(e.setTimestamp, durationMs);
  }

  private queryIdFor(e: Entry, ts: number, durationMs: number): string {
    return this.carry.queryId(e.threadId, e.setTimestamp, e.offset, ts, durationMs);
  }

  private reset(): void {
    this.mode = 'idle';
    this.entry = undefined;
    this.prevSemicolon = false;
    this.carry.entryDone();
  }

  private problem(out: ParseOutput, e: Entry, reason: string, text: string): void {
    // one line: the statement's lines joined by spaces (problems are printed one per line)
    out.problems.push({ offset: e.offset, line: e.lineNo, reason, text: excerpt(text.slice(0, 400).replace(/\s*\n\s*/g, ' ').trim()) });
  }
}

/** `Key: value` pairs of a header line, as pt-query-digest's /(\w+):\s+(\S+|\Z)/g finds them (a scan, not that regex). */
export function scanAttributes(text: string, pair: (key: string, value: string) => void): void {
  const line = text.includes('Schema:') && EMPTY_SCHEMA.test(text) ? text.replace(EMPTY_SCHEMA, '') : text;
  const n = line.length;
  let from = 0;
  for (;;) {
    const colon = line.indexOf(':', from);
    if (colon === -1) return;
    let start = colon;
    while (start > from && isWordChar(line.charCodeAt(start - 1))) start--;
    let v = colon + 1;
    if (start === colon || v >= n || !isSpace(line.charCodeAt(v))) {
      from = colon + 1;
      continue;
    }
    while (v < n && isSpace(line.charCodeAt(v))) v++;
    let vEnd = v;
    while (vEnd < n && !isSpace(line.charCodeAt(vEnd))) vEnd++;
    pair(line.slice(start, colon), line.slice(v, vEnd));
    from = vEnd;
  }
}

/**
 * What a MySQL slow log parser carries from entry to entry and over a resume (context()/restore()): the last
 * `# Time:` (entries without one inherit it) and the thread memory behind query ids (mysql-query-ids.ts).
 * context() is the state as of the end of the last finished entry, built once per change and then shared.
 *
 * It can also start where the context is not known yet (guessStart(): a chunk parsed ahead of the one before it,
 * in another thread) and write down all it takes from that start (SlowLogGuesses); settle() later holds that
 * against the real start: only the entries before the chunk's first `# Time:` take its time, and only the
 * query ids of statements that crossed a second take its thread memory.
 */
export class SlowLogCarryOver {
  private lastTime: number | undefined;
  /** lastTime had no zone and no zone was given: read as UTC, so possibly hours off */
  private lastTimeUnzoned = false;
  /** thread + start of entries that crossed a second boundary, to give a repeat its own id */
  private readonly startsSeen = new StartsSeen();
  /** what context() returns: the state as of the end of the last finished entry */
  private timeAtLastEmit: number | undefined;
  private unzonedAtLastEmit = false;
  /** context() is asked for after every emitting line: built once per change, then shared (never mutated) */
  private contextCache: MySqlSlowContext | undefined | null = null;
  /** since guessStart(): what the parse took from the start it did not know */
  private guess: SlowLogGuesses | undefined;
  /** startsSeen, each lookup written down in `guess` */
  private readonly recordedStarts: StartsMemory = {
    repeat: (thread, startMs) => {
      const seen = this.startsSeen.repeat(thread, startMs);
      const g = this.guess!;
      g.threads.push(thread);
      g.starts.push(startMs);
      g.seen.push(seen ? 1 : 0);
      g.offsets.push(this.entryOffset);
      return seen;
    },
  };
  /** the byte offset of the entry whose query id is being made (for recordedStarts) */
  private entryOffset = 0;

  constructor(private readonly zone: LogTimeZone | undefined) {}

  /** A `# Time:` read. The previous time picks the reading of a local time in the hour repeated when daylight time ends. */
  time(t: MysqlTime): void {
    this.lastTime = t.local && this.zone !== undefined ? this.zone.fromLocal(t.ms, this.lastTime) : t.ms;
    this.lastTimeUnzoned = t.local && this.zone === undefined;
    const g = this.guess;
    if (g !== undefined && g.firstTime === undefined) g.firstTime = [t.ms, t.local ? 1 : 0, this.lastTime];
  }

  endTime(setTimestamp: number | undefined, durationMs: number): number {
    return statementEnd(setTimestamp, this.lastTime, this.lastTimeUnzoned, durationMs);
  }

  queryId(threadId: string | undefined, setTimestamp: number | undefined, offset: number, ts: number, durationMs: number): string {
    const g = this.guess;
    if (g !== undefined) {
      if (g.firstTime !== undefined) {
        this.entryOffset = offset;
        return queryIdOf(threadId, setTimestamp, offset, ts, durationMs, this.recordedStarts);
      }
      // its time (and so its id) is the start's: made again when settled; the thread memory is left alone
      g.inherited.push([offset, threadId ?? null, setTimestamp ?? null, durationMs]);
      return queryIdOf(threadId, setTimestamp, offset, ts, durationMs, FORGETFUL);
    }
    const version = this.startsSeen.version;
    const id = queryIdOf(threadId, setTimestamp, offset, ts, durationMs, this.startsSeen);
    if (this.startsSeen.version !== version) this.contextCache = null;
    return id;
  }

  /** An entry ended (emitted or dropped): the time read so far is now part of the context. */
  entryDone(): void {
    if (this.timeAtLastEmit !== this.lastTime || this.unzonedAtLastEmit !== this.lastTimeUnzoned) {
      this.timeAtLastEmit = this.lastTime;
      this.unzonedAtLastEmit = this.lastTimeUnzoned;
      this.contextCache = null;
    }
  }

  context(): MySqlSlowContext | undefined {
    if (this.guess !== undefined) return this.timeAtLastEmit === undefined ? undefined : { time: this.timeAtLastEmit, ...(this.unzonedAtLastEmit && { unzoned: true as const }) };
    if (this.contextCache !== null) return this.contextCache;
    const ctx: MySqlSlowContext = {};
    if (this.timeAtLastEmit !== undefined) ctx.time = this.timeAtLastEmit;
    if (this.timeAtLastEmit !== undefined && this.unzonedAtLastEmit) ctx.unzoned = true;
    const threads = this.startsSeen.context();
    if (threads !== undefined) ctx.threads = threads;
    this.contextCache = ctx.time === undefined && ctx.threads === undefined ? undefined : ctx;
    return this.contextCache;
  }

  restore(context: unknown): void {
    this.lastTime = undefined;
    this.lastTimeUnzoned = false;
    this.timeAtLastEmit = undefined;
    this.unzonedAtLastEmit = false;
    this.startsSeen.restore(undefined);
    this.contextCache = null;
    this.guess = undefined;
    if (context === undefined || context === null || typeof context !== 'object') return;
    const ctx = context as MySqlSlowContext;
    if (typeof ctx.time === 'number' && Number.isFinite(ctx.time)) {
      this.lastTime = this.timeAtLastEmit = ctx.time;
      this.lastTimeUnzoned = this.unzonedAtLastEmit = ctx.unzoned === true;
    }
    this.startsSeen.restore(ctx.threads);
  }

  /**
   * restore() for a start not known yet: from here on what the parse takes from it is written down (guesses()),
   * and context() says only the time the parse read itself (the thread memory is rebuilt by settle()).
   */
  guessStart(): void {
    this.restore(undefined);
    this.guess = { inherited: [], threads: [], starts: [], seen: [], offsets: [] };
  }

  /** What the parse took from the start it did not know, since guessStart(). */
  guesses(): SlowLogGuesses | undefined {
    return this.guess;
  }

  /**
   * A parse from guessStart() held against its real start, `start` (a context()): the entries that took the
   * start's time get their time and id made again (`fix(k)`, k-th of them; false if it cannot take them), the
   * first `# Time:` must read the same after the start's time, and every lookup of the thread memory is made
   * again on the start's: a statement whose answer differs gets the other id (`fix(inherited + i)`, time kept).
   * Returns the context at the parse's end (`guessedEnd`: what context() said there), or NOT_SETTLED.
   */
  settle(g: SlowLogGuesses, start: unknown, guessedEnd: unknown, fix: (k: number, ts: number | undefined, queryId: string) => boolean): MySqlSlowContext | undefined | typeof NOT_SETTLED {
    this.restore(start);
    for (let k = 0; k < g.inherited.length; k++) {
      const [offset, thread, set, durationMs] = g.inherited[k]!;
      const ts = this.endTime(set ?? undefined, durationMs);
      if (!fix(k, ts, this.queryId(thread ?? undefined, set ?? undefined, offset, ts, durationMs))) return NOT_SETTLED;
    }
    const first = g.firstTime;
    if (first !== undefined && first[1] === 1 && this.zone !== undefined && this.zone.fromLocal(first[0], this.lastTime) !== first[2]) return NOT_SETTLED;
    // the thread memory answered from what the chunk saw: asked again of the real one, an answer that differs
    // gives the statement the other id (a replica replaying its source's clock repeats starts across chunks)
    const n = g.inherited.length;
    for (let i = 0; i < g.threads.length; i++) {
      const thread = g.threads[i]!;
      const startMs = g.starts[i]!;
      const seen = this.startsSeen.repeat(thread, startMs);
      if (seen !== (g.seen[i] === 1) && !fix(n + i, undefined, crossingId(thread, startMs, g.offsets[i]!, seen))) return NOT_SETTLED;
    }
    const end = guessedEnd as MySqlSlowContext | undefined;
    const ctx: MySqlSlowContext = {};
    // a time the parse read itself by its last entry, else the start's
    if (end?.time !== undefined) {
      ctx.time = end.time;
      if (end.unzoned === true) ctx.unzoned = true;
    } else if (this.timeAtLastEmit !== undefined) {
      ctx.time = this.timeAtLastEmit;
      if (this.unzonedAtLastEmit) ctx.unzoned = true;
    }
    const threads = this.startsSeen.context();
    if (threads !== undefined) ctx.threads = threads;
    return ctx.time === undefined && ctx.threads === undefined ? undefined : ctx;
  }
}

/**
 * What a parse from an unknown start took from it (SlowLogCarryOver.guessStart()); plain arrays, to cross to
 * another thread.
 */
export interface SlowLogGuesses {
  /** the entries that ended before the parse's first `# Time:`: [byte offset, thread, SET timestamp, Query_time ms] */
  inherited: Array<[offset: number, thread: string | null, setTimestamp: number | null, durationMs: number]>;
  /** that first `# Time:`: [ms read, 1 if a local time, what it was read as with no time before it] */
  firstTime?: [ms: number, local: 0 | 1, read: number];
  /** every lookup of the thread memory after it, in order: thread, start (ms), 1 if it answered "seen", the entry's byte offset */
  threads: string[];
  starts: number[];
  seen: Array<0 | 1>;
  offsets: number[];
}

/** A thread memory that remembers nothing (the ids of entries made again when settled). */
const FORGETFUL: StartsMemory = { repeat: () => false };

/**
 * The end of the statement. MySQL's `# Time:` is when the entry was written; MariaDB's is the start second (and
 * is printed only when it changes), so a `# Time:` not after `SET timestamp=` says nothing about the end: then
 * start second + Query_time (a lower bound of the end) is the better time. A `# Time:` without a zone read as
 * UTC is taken only where it fits the statement: `SET timestamp=` is seconds since the epoch, whatever the zone.
 */
export function statementEnd(setTimestamp: number | undefined, lastTime: number | undefined, lastTimeUnzoned: boolean, durationMs: number): number {
  const t = lastTime;
  if (setTimestamp === undefined) return t ?? 0;
  const setMs = setTimestamp * 1000;
  const fits = t !== undefined && t > setMs && (!lastTimeUnzoned || t <= setMs + durationMs + UNZONED_END_SLACK_MS);
  return fits ? t : setMs + durationMs;
}

/**
 * `${thread}-${startMs}`: the thread id (`Id:` / `Thread_id:`, `?` if the log has none) and the second the
 * statement started (`SET timestamp=`, else `# Time:` − Query_time), in ms — what a live probe sees of a
 * running statement, so its `running` records and this `finished` one share the id.
 * A thread runs one statement at a time, so only one statement per thread can start in a second and still be
 * running after that second: that one (it "crosses" a second boundary) gets the plain id. The others, which
 * started and ended within one second and so were never seen running, get `#<byte offset>` appended, as does
 * a repeated crossing one (only with clocks that lie, e.g. a replica replaying its source's timestamps: see
 * mysql-query-ids.ts).
 * With no start time at all, the id is `${thread}-@${byte offset}`.
 */
export function queryIdOf(threadId: string | undefined, setTimestamp: number | undefined, offset: number, ts: number, durationMs: number, seen: StartsMemory): string {
  const thread = threadId ?? '?';
  let startSec: number;
  if (setTimestamp !== undefined) startSec = Math.floor(setTimestamp);
  else if (ts !== 0) startSec = Math.floor((ts - durationMs) / 1000);
  else return `${thread}-@${offset}`;
  const startMs = startSec * 1000;
  // a statement of a second or more certainly ran past its start second, whatever `# Time:` means
  const crosses = durationMs >= 1000 || Math.floor(ts / 1000) > startSec;
  if (!crosses) return `${thread}-${startMs}#${offset}`;
  return crossingId(thread, startMs, offset, seen.repeat(thread, startMs));
}

/** The id of a statement that crossed a second: the plain one, or with its offset if thread + start was seen before. */
function crossingId(thread: string, startMs: number, offset: number, repeat: boolean): string {
  return repeat ? `${thread}-${startMs}#${offset}` : `${thread}-${startMs}`;
}

function newEntry(offset: number, end: number, lineNo: number): Entry {
  return { offset, end, lineNo, gotTime: false, gotUserHost: false, gotUse: false, adminLast: false, noQuery: false, stmtChars: 0, cut: false };
}

export function keepLine(e: Pick<Entry, 'stmtChars' | 'cut'>, lines: string[], text: string): void {
  e.stmtChars += text.length + 1;
  if (e.stmtChars <= MAX_STATEMENT_CHARS) lines.push(text);
  else e.cut = true;
}

/** The entry's statement as pt-query-digest's `arg`: lines joined by "\n", the terminating `;` dropped. */
export function statementText(e: Pick<Entry, 'stmt' | 'admin' | 'adminLast'>, atEof: boolean, newline: boolean, verbatim: boolean): string {
  if (verbatim) return e.stmt![0]!;
  if (!e.stmt) {
    const admin = e.admin!;
    if (!e.adminLast) return admin;
    if (!atEof) return admin.endsWith(';') ? admin.slice(0, -1) : admin;
    return (admin + (newline ? '\n' : '')).replace(FINAL_SEMICOLON, '');
  }
  const text = e.stmt.length === 1 ? e.stmt[0]! : e.stmt.join('\n');
  if (!atEof) return text.endsWith(';') ? text.slice(0, -1) : text;
  return (newline ? text + '\n' : text).replace(FINAL_SEMICOLON, '');
}

/** "0.000109" → 0.109, by moving the decimal point in the text (× 1000 in binary would give 0.10900000000000001). */
export function secondsToMs(s: string): number {
  const dot = s.indexOf('.');
  if (dot === -1) return Number(s) * 1000;
  // up to µs (what servers write): whole µs, exactly; finer: shift the decimal point in the text
  if (s.length - dot <= 7) return Math.round(Number(s) * 1e6) / 1e3;
  const frac = s.slice(dot + 1);
  return Number(s.slice(0, dot) + frac.slice(0, 3) + '.' + frac.slice(3));
}

export const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13);
export const isWordChar = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;

export function isMetaSet(text: string): boolean {
  return text.startsWith('SET timestamp', 0) || text.startsWith('SET last_insert_id') || text.startsWith('SET insert_id');
}

export function isBanner(text: string): boolean {
  const c = text.charCodeAt(0);
  if (c === 35 /* # */ || text.length < 10) return false;
  if (c === 84 /* T */ || c === 116 /* t */) {
    if (BANNER_TCP.test(text) || BANNER_COLUMNS.test(text)) return true;
  }
  return (text.endsWith('started with:') || text.endsWith('embedded library')) && BANNER_VERSION.test(text);
}

export function labelValue(v: string): string | number | boolean {
  if (v === 'Yes') return true;
  if (v === 'No') return false;
  if (NUMERIC_LABEL.test(v) && v.length < 16) return Number(v);
  return v;
}

/** the `YYYY-MM-DDTHH:MM:SS` of the last ISO time parsed with `Z`, and its ms since epoch */
let isoSecondKey = '';
let isoSecondBase = 0;
const isDigitCode = (c: number): boolean => c >= 48 && c <= 57;

/** A `# Time:` value read: ms since the epoch, or the wall-clock time read as if UTC when it has no zone. */
export interface MysqlTime {
  ms: number;
  /** no zone in the text: `ms` is the server's local time read as UTC */
  local: boolean;
}

/**
 * `# Time:` values: `071015 21:43:52` / `081127  8:51:20` (MySQL ≤ 5.6, MariaDB: the server's local time) and
 * `2016-07-20T18:13:25.698433Z` / `…+02:00` (MySQL ≥ 5.7). Without `zone`, a time without a zone is read as UTC.
 */
export function parseMysqlTime(s: string, zone?: LogTimeZone, near?: number): number | undefined {
  const t: MysqlTime = { ms: 0, local: false };
  if (!readMysqlTime(s, t)) return undefined;
  return t.local && zone !== undefined ? zone.fromLocal(t.ms, near) : t.ms;
}

/** Reads a `# Time:` value into `into`; false if it is not one. */
export function readMysqlTime(s: string, into: MysqlTime): boolean {
  // Fast path: an ISO time in the same second as the last one read (consecutive entries mostly are), with a
  // fraction and `Z`: only the fraction differs. The regular expression below was 5% of a parse profile.
  if (isoSecondKey !== '' && s.length > 20 && s.charCodeAt(19) === 46 /* . */ && s.startsWith(isoSecondKey)) {
    let i = 20;
    while (i < s.length && isDigitCode(s.charCodeAt(i))) i++;
    if (i > 20 && i < s.length && s.charCodeAt(i) === 90 /* Z */) {
      into.ms = isoSecondBase + Math.floor(Number('0.' + s.slice(20, i)) * 1000);
      into.local = false;
      return true;
    }
  }
  let m = ISO_TIME.exec(s);
  const iso = m !== null;
  let year: number;
  if (m) year = Number(m[1]);
  else {
    m = OLD_TIME.exec(s);
    if (!m) return false;
    year = 2000 + Number(m[1]);
  }
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return false;
  const ms = m[7] ? Math.floor(Number('0.' + m[7]) * 1000) : 0;
  const t = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  const zone = iso ? m[8] : undefined;
  if (zone === 'Z') {
    isoSecondKey = s.slice(0, 19);
    isoSecondBase = t - ms;
  }
  const offset = zone === undefined ? undefined : numericZoneOffset(zone);
  into.local = offset === undefined;
  into.ms = offset === undefined ? t : t - offset * 60_000;
  return true;
}
