import { excerpt, type ParseOutput, type StateCarryingParser } from './types.js';
import { isExecMessage, isNum, isOptStr, isPlain, isSessionFields } from './postgres-carry.js';
import { isPlanMessage } from './plans.js';
import { PgStatementJoiner } from './postgres-join.js';
import {
  appendBounded,
  hostOnly,
  MAX_PARAMS_CHARS,
  MAX_PLAN_MESSAGE_CHARS,
  PgEventFactory,
  readExecMessage,
  readParamsDetail,
  SEVERITIES,
  type ExecMessage,
  type PgParserOptions,
  type SessionFields,
} from './postgres-common.js';

// PostgreSQL's stderr log (log_destination=stderr), each line starting with `log_line_prefix`, then
// `SEVERITY:  message`. Lines of a multi-line message after the first start with a tab (PostgreSQL
// inserts one after every newline of the message; some tools turn it into spaces).
//
// Also read, when a line does not match the prefix directly:
//  - syslog (log_destination=syslog): `Feb 10 23:15:39 host postgres[10808]: [3-2] <prefix>…`, or with an ISO
//    time stamp; PostgreSQL numbers the lines of a message `[n-1]`, `[n-2]`, … Its continuation lines keep
//    their tab (rsyslog writes it `#011`); continuation pieces without it are a long line PostgreSQL split
//    (syslog_split_messages) and are joined without a newline. Lines of different messages interleaved by
//    syslog are not reassembled: such a continuation is reported as a problem. A syslog time stamp has no
//    year (option `syslogYear`, default the current UTC year) and no zone (read as UTC); `%m`/`%t` in the
//    prefix, when present, are used instead.
//  - Heroku logplex: `2019-03-14T00:22:56+00:00 app[postgres.4882]: [GREEN] [15-1] <prefix>…` (Heroku's prefix
//    is ' sql_error_code = %e ').
//
// Which messages are events, and the query id: see postgres-common.ts; auto_explain plans are read whole (their
// lines gathered like a statement's) and joined with their statement's duration entry (postgres-join.ts). An event is emitted when the next
// message starts (a following `DETAIL:  parameters: …` of the same backend belongs to it and goes to the
// `params` label) or at flush: PostgreSQL writes all lines of a message at once, so at an idle end of file
// the pending message is complete.
//
// Counting: `skipped` counts messages (a prefixed line with its continuation lines) that are not events;
// a line that is neither a prefixed line nor a continuation is a problem ("not in this format"); blank lines
// are ignored.

export const DEFAULT_LOG_LINE_PREFIX = '%m [%p] %q%u@%d ';

export interface PostgresParserOptions extends PgParserOptions {
  /** the server's log_line_prefix (default '%m [%p] %q%u@%d ', Debian's) */
  logLinePrefix?: string;
  /** year of syslog time stamps, which have none (default: the current UTC year) */
  syslogYear?: number;
}

type FieldName = 'ts' | 'pid' | 'user' | 'db' | 'host' | 'remote' | 'app' | 'sessionId' | 'sessionLine' | 'commandTag' | 'backendType' | 'pgQueryId';

/** A log_line_prefix compiled into one regular expression that also matches the severity after it. */
export interface CompiledPrefix {
  readonly prefix: string;
  /** `^<prefix>(SEVERITY):\s*` */
  readonly regex: RegExp;
  /** capture group of each field the prefix carries */
  readonly groups: Readonly<Partial<Record<FieldName, number>>>;
  readonly severityGroup: number;
  /** groups whose value is padded (`%-10u`) and must be trimmed */
  readonly padded: ReadonlySet<number>;
  /**
   * values matched lazily, their end found by what follows (%a, %b, %i, and a value with no literal after it):
   * a line that is not in the format costs up to 64^n steps for n of them (shippedPrefixProblem)
   */
  readonly lazyFields: number;
}

/** the longest name PostgreSQL prints (NAMEDATALEN - 1: user, database, application name) and the longest host with its port */
const NAME_MAX = 63;
const HOST_MAX = 300;

const TS_RE = String.raw`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: (?:[A-Za-z][A-Za-z0-9]*|[+-]\d\d(?::?\d\d)?))?`;
const HOST_RE = (stop: string) => String.raw`\[local\]|[0-9A-Fa-f:.]{1,${HOST_MAX}}(?:\(\d+\))?|` + stop;

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\\/]/g, '\\$&');
}

/**
 * Compiles a log_line_prefix. Supported escapes: %a %u %d %r %h %L %b %p %P %t %m %n %s %i %e %c %l %v %x %q %Q %%
 * and padding (`%-10u`); unknown escapes print nothing, as in PostgreSQL. Values are matched up to the
 * literal character that follows them in the prefix; application name, command tag and backend type may contain
 * spaces, so they are matched lazily. Every value is bounded in length (names as PostgreSQL bounds them), so a
 * line that is not in the format costs a bounded number of steps: 64^n for n lazy values (`lazyFields`), not
 * the length of the line to the power n.
 */
export function compileLogLinePrefix(prefix: string): CompiledPrefix {
  let re = '^';
  let group = 0;
  let lazyFields = 0;
  let optionalOpen = false;
  const groups: Partial<Record<FieldName, number>> = {};
  const padded = new Set<number>();
  const capture = (field: FieldName | undefined, body: string, pad: boolean): string => {
    if (field === undefined || groups[field] !== undefined) return pad ? ` *(?:${body}) *` : `(?:${body})`;
    group++;
    groups[field] = group;
    if (pad) padded.add(group);
    return pad ? ` *(${body}) *` : `(${body})`;
  };
  for (let i = 0; i < prefix.length; i++) {
    const ch = prefix[i]!;
    if (ch !== '%' || i + 1 >= prefix.length) {
      re += escapeRe(ch);
      continue;
    }
    let j = i + 1;
    const padMatch = /^-?\d+/.exec(prefix.slice(j));
    if (padMatch) j += padMatch[0].length;
    const esc = prefix[j];
    if (esc === undefined) {
      re += escapeRe(prefix.slice(i));
      break;
    }
    i = j;
    const pad = padMatch !== null;
    // the literal that follows this escape ends its value
    const next = prefix[j + 1];
    const stopChar = next !== undefined && next !== '%' ? next : undefined;
    const stopN = (max: number): string => (stopChar !== undefined ? `[^${escapeRe(stopChar)}\\n]{0,${max}}` : String.raw`\S{0,${max}}?`);
    const stop = stopN(NAME_MAX);
    const free = `.{0,${NAME_MAX}}?`;
    if (stopChar === undefined ? 'udrhLvabi'.includes(esc) : 'abi'.includes(esc)) lazyFields++;
    switch (esc) {
      case '%': re += '%'; break;
      case 'a': re += capture('app', free, pad); break;
      case 'u': re += capture('user', String.raw`\[unknown\]|` + stop, pad); break;
      case 'd': re += capture('db', String.raw`\[unknown\]|` + stop, pad); break;
      case 'r': re += capture('remote', HOST_RE(stopN(HOST_MAX)), pad); break;
      case 'h': re += capture('host', HOST_RE(stopN(HOST_MAX)), pad); break;
      case 'L': re += capture(undefined, HOST_RE(stopN(HOST_MAX)), pad); break;
      case 'b': re += capture('backendType', free, pad); break;
      case 'p': re += capture('pid', String.raw`\d+`, pad); break;
      case 'P': re += capture(undefined, String.raw`\d*`, pad); break;
      case 't': case 'm': re += capture('ts', TS_RE, pad); break;
      case 'n': re += capture('ts', String.raw`\d+(?:\.\d+)?`, pad); break;
      case 's': re += capture(undefined, TS_RE, pad); break;
      case 'i': re += capture('commandTag', free, pad); break;
      case 'e': re += capture(undefined, '[0-9A-Z]{5}', pad); break;
      case 'c': re += capture('sessionId', '[0-9a-f]+\\.[0-9a-f]+', pad); break;
      case 'l': re += capture('sessionLine', String.raw`\d+`, pad); break;
      case 'v': re += capture(undefined, stop, pad); break;
      case 'x': re += capture(undefined, String.raw`\d*`, pad); break;
      case 'Q': re += capture('pgQueryId', String.raw`-?\d+`, pad); break;
      case 'q':
        // Non-session processes stop printing the prefix here.
        if (!optionalOpen) {
          re += '(?:';
          optionalOpen = true;
        }
        break;
      default:
        break; // PostgreSQL prints nothing for an unknown escape
    }
  }
  if (optionalOpen) re += ')?';
  group++;
  re += `(${SEVERITIES.join('|')}):(?:\\s+|$)`;
  return { prefix, regex: new RegExp(re), groups, severityGroup: group, padded, lazyFields };
}

/** lazy values a prefix shipped with raw chunks may have: a consumer parses what any client sends (two: ~10 µs a line at worst) */
export const MAX_SHIPPED_LAZY_FIELDS = 2;

/** Why a consumer would refuse to parse raw chunks with this log_line_prefix, or undefined. */
export function shippedPrefixProblem(prefix: string): string | undefined {
  const n = compileLogLinePrefix(prefix).lazyFields;
  return n <= MAX_SHIPPED_LAZY_FIELDS ? undefined
    : `log_line_prefix '${prefix.slice(0, 80)}' has ${n} values whose end only the text after them shows (%a, %b, %i, or a value with nothing after it); raw chunks take at most ${MAX_SHIPPED_LAZY_FIELDS}: ship records`;
}

// `Feb 10 23:15:39 host ident[pid]: ` or `2019-03-14T00:22:56+00:00 [host ]ident[pid]: ` (Heroku:
// `app[postgres.4882]`), then an optional Heroku colour `[GREEN] `, then PostgreSQL's `[n-m] ` numbering.
const SYSLOG =
  /^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) (?:[^\s[]+ )?[^\s[]*\[(?:[A-Za-z_-]+\.)?(\d+)\]:? (?:\[[A-Z]+\] )?(?:\[(\d+)-(\d+)\] ?)?/;

const MONTHS: Record<string, number> = {
  Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11,
};

interface Pending {
  exec: ExecMessage;
  fields: SessionFields;
  /** time stamp text from the prefix, or else from the wrapper */
  tsText: string | undefined;
  tsIsSyslog: boolean;
  params: string | undefined;
  /** where continuation lines go: the statement, or the parameters after a DETAIL */
  intoParams: boolean;
  offset: number;
  end: number;
  lineNo: number;
  /** syslog message number, to check continuation pieces belong to this message */
  syslogKey: string | undefined;
}

/** What a wrapper (syslog, Heroku, Cloud SQL JSON) said about a line. */
export interface LineWrapper {
  tsText: string;
  tsIsSyslog: boolean;
  pid: string | undefined;
  /** `pid-n` of syslog's `[n-m]` numbering, if any */
  key: string | undefined;
  /** m of `[n-m]` (0 if none): m > 1 is a later line of the same message */
  part: number;
}

const NO_CURRENT = 0;
const OTHER_MESSAGE = 1;
const EVENT_MESSAGE = 2;

export class PostgresStderrParser implements StateCarryingParser {
  readonly format = 'postgres';
  private readonly compiled: CompiledPrefix;
  private readonly factory: PgEventFactory;
  private readonly joiner: PgStatementJoiner;
  private readonly syslogYear: number;
  private readonly notInFormatReason: string;
  private pending: Pending | undefined;
  /** the message the last line belonged to */
  private current = NO_CURRENT;
  private currentKey: string | undefined;
  private syslogSeen = false;
  private readonly wrap: LineWrapper = { tsText: '', tsIsSyslog: false, pid: undefined, key: undefined, part: 0 };

  constructor(options: PostgresParserOptions = {}) {
    this.compiled = compileLogLinePrefix(options.logLinePrefix ?? DEFAULT_LOG_LINE_PREFIX);
    this.notInFormatReason = `not a PostgreSQL log line with log_line_prefix '${this.compiled.prefix}' (expected the prefix, then "LOG:  " or another severity)`;
    this.factory = new PgEventFactory(options);
    this.joiner = new PgStatementJoiner(this.factory);
    this.syslogYear = options.syslogYear ?? new Date().getUTCFullYear();
  }

  line(text: string, offset: number, end: number, lineNo: number, out: ParseOutput): void {
    if (text.length === 0) return;
    // Once a file has shown syslog lines, try that first: the prefix alone will not match them.
    if (!this.syslogSeen) {
      const m = this.compiled.regex.exec(text);
      if (m) return this.message(m, text, offset, end, lineNo, out, undefined);
    }
    const s = SYSLOG.exec(text);
    if (s) {
      this.syslogSeen = true;
      const w = this.wrap;
      w.tsText = s[1]!;
      w.tsIsSyslog = s[1]!.charCodeAt(4) !== 45; // not `YYYY-`
      w.pid = s[2];
      w.key = s[3] !== undefined ? `${s[2]}-${s[3]}` : undefined;
      w.part = s[4] !== undefined ? Number(s[4]) : 0;
      return this.wrapped(text.slice(s[0].length), offset, end, lineNo, out, w);
    }
    if (this.syslogSeen) {
      const m = this.compiled.regex.exec(text);
      if (m) return this.message(m, text, offset, end, lineNo, out, undefined);
    }
    if (isContinuation(text)) return this.continuation(text, end, lineNo, offset, out, true);
    this.notInFormat(text, offset, lineNo, out);
  }

  /** A line whose wrapper (syslog, Heroku, Cloud SQL) was removed: `body` is what PostgreSQL wrote. */
  wrapped(body: string, offset: number, end: number, lineNo: number, out: ParseOutput, w: LineWrapper): void {
    const m = this.compiled.regex.exec(body);
    if (m) return this.message(m, body, offset, end, lineNo, out, w);
    if (w.part > 1 || (w.key === undefined && isContinuation(body))) {
      if (w.key !== undefined && w.key !== this.currentKey && this.current !== NO_CURRENT) {
        out.problems.push({ offset, line: lineNo, reason: 'syslog continuation of another message (interleaved lines are not reassembled)', text: excerpt(body, 120) });
        return;
      }
      // `#011` is rsyslog's escape of the tab PostgreSQL puts after a newline.
      if (body.startsWith('#011')) return this.continuation('\t' + body.slice(4), end, lineNo, offset, out, true);
      return this.continuation(body, end, lineNo, offset, out, isContinuation(body) && body.charCodeAt(0) === 9);
    }
    this.notInFormat(body, offset, lineNo, out);
  }

  private message(m: RegExpExecArray, text: string, offset: number, end: number, lineNo: number, out: ParseOutput, w: LineWrapper | undefined): void {
    const g = this.compiled.groups;
    const severity = m[this.compiled.severityGroup]!;
    const msg = text.slice(m[0].length);
    const pid = g.pid !== undefined ? m[g.pid] : w?.pid;
    const p = this.pending;
    if (p !== undefined) {
      if (severity === 'DETAIL' && p.params === undefined && p.exec.step !== 'plan' && (pid === undefined || p.fields.pid === undefined || pid === p.fields.pid)) {
        const params = readParamsDetail(msg);
        if (params !== undefined) {
          p.params = appendBounded('', params, MAX_PARAMS_CHARS + 1);
          p.intoParams = true;
          p.end = end;
          if (w?.key !== undefined) p.syslogKey = w.key;
          this.currentKey = w?.key;
          return;
        }
      }
      this.emit(out);
    }
    this.currentKey = w?.key;
    // an auto_explain plan is gathered like a statement: its text is the whole message, read when it is complete
    const exec = severity !== 'LOG' ? undefined : isPlanMessage(msg) ? { step: 'plan' as const, durationMs: 0, sql: msg } : readExecMessage(msg);
    if (exec === undefined) {
      out.skipped++;
      this.current = OTHER_MESSAGE;
      this.joiner.other(pid, out);
      return;
    }
    const fields: SessionFields = {};
    if (pid !== undefined) fields.pid = pid;
    const value = (k: FieldName): string | undefined => {
      const i = g[k];
      if (i === undefined) return undefined;
      const v = m[i];
      if (v === undefined) return undefined;
      return this.compiled.padded.has(i) ? v.trim() : v;
    };
    const user = value('user');
    if (user) fields.user = user;
    const db = value('db');
    if (db) fields.db = db;
    const host = value('host') ?? (g.remote !== undefined ? hostOnly(value('remote') ?? '') : undefined);
    if (host) fields.host = host;
    const app = value('app');
    if (app && app !== '[unknown]') fields.app = app;
    const sessionId = value('sessionId');
    if (sessionId) fields.sessionId = sessionId;
    const sessionLine = value('sessionLine');
    if (sessionLine) fields.sessionLine = sessionLine;
    const commandTag = value('commandTag');
    if (commandTag) fields.commandTag = commandTag;
    const backendType = value('backendType');
    if (backendType) fields.backendType = backendType;
    const pgQueryId = value('pgQueryId');
    if (pgQueryId) fields.pgQueryId = pgQueryId;
    const prefixTs = value('ts');
    this.pending = {
      exec,
      fields,
      tsText: prefixTs ?? w?.tsText,
      tsIsSyslog: prefixTs === undefined && w !== undefined && w.tsIsSyslog,
      params: undefined,
      intoParams: false,
      offset,
      end,
      lineNo,
      syslogKey: w?.key,
    };
    this.current = EVENT_MESSAGE;
  }

  /** A later line of the current message: `newline` = it follows a newline of the message (tab-led). */
  private continuation(text: string, end: number, lineNo: number, offset: number, out: ParseOutput, newline: boolean): void {
    if (this.current === OTHER_MESSAGE) return;
    const p = this.pending;
    if (this.current === NO_CURRENT || p === undefined) {
      out.problems.push({ offset, line: lineNo, reason: 'continuation line without a log line before it', text: excerpt(text, 120) });
      return;
    }
    // PostgreSQL added one tab after each newline of the message: remove it to get the text back.
    const piece = newline ? '\n' + (text.charCodeAt(0) === 9 ? text.slice(1) : text) : text;
    if (p.intoParams) p.params = appendBounded(p.params ?? '', piece, MAX_PARAMS_CHARS + 1);
    else p.exec.sql = p.exec.step === 'plan' ? appendBounded(p.exec.sql, piece, MAX_PLAN_MESSAGE_CHARS) : appendBounded(p.exec.sql, piece);
    p.end = end;
  }

  private notInFormat(text: string, offset: number, lineNo: number, out: ParseOutput): void {
    out.problems.push({ offset, line: lineNo, reason: this.notInFormatReason, text: excerpt(text, 120) });
  }

  private emit(out: ParseOutput): void {
    const p = this.pending;
    if (p === undefined) return;
    this.pending = undefined;
    this.current = OTHER_MESSAGE; // later continuation lines (after a flush) belong to a message already handled
    if (p.tsText === undefined) {
      out.problems.push({ offset: p.offset, line: p.lineNo, reason: 'statement without a time stamp: log_line_prefix has no %m, %t or %n', text: excerpt(p.exec.sql, 120) });
      return;
    }
    const ts = p.tsIsSyslog ? this.syslogTime(p.tsText) : this.factory.timestamp(p.tsText, out, p.offset, p.lineNo);
    if (ts === undefined) return;
    if (p.exec.step === 'plan') this.joiner.plan(p.exec.sql, ts, p.fields, p.offset, p.end, out);
    else this.joiner.exec(p.exec, ts, p.fields, p.params, p.offset, p.end, out);
  }

  private syslogTime(text: string): number | undefined {
    // `Feb 10 23:15:39`
    const month = MONTHS[text.slice(0, 3)];
    if (month === undefined) return undefined;
    return Date.UTC(this.syslogYear, month, Number(text.slice(4, 6)), Number(text.slice(7, 9)), Number(text.slice(10, 12)), Number(text.slice(13, 15)));
  }

  flush(_final: boolean, out: ParseOutput): void {
    // PostgreSQL writes a message's lines together, so at an idle end of file the pending message is whole.
    this.emit(out);
    this.joiner.flush(out);
  }

  context(): unknown {
    return this.factory.ids.context();
  }

  restore(context: unknown): void {
    this.factory.ids.restore(context);
    this.joiner.reset();
    this.pending = undefined;
    this.current = NO_CURRENT;
    this.currentKey = undefined;
  }

  state(): unknown {
    return { ids: this.factory.ids.context(true), held: this.joiner.state(), pending: this.pending, current: this.current, key: this.currentKey, syslog: this.syslogSeen };
  }

  restoreState(state: unknown): void {
    const s = isPlain(state) ? state : {};
    this.restore(s.ids);
    this.joiner.restoreState(s.held);
    // a copy: continuation lines add to it
    if (isPending(s.pending)) this.pending = { ...s.pending, exec: { ...s.pending.exec } };
    if (s.current === OTHER_MESSAGE || (s.current === EVENT_MESSAGE && this.pending !== undefined)) this.current = s.current;
    if (typeof s.key === 'string') this.currentKey = s.key;
    this.syslogSeen = s.syslog === true;
  }
}

function isPending(v: unknown): v is Pending {
  return isPlain(v) && isExecMessage(v.exec) && isSessionFields(v.fields) && isOptStr(v.tsText) && typeof v.tsIsSyslog === 'boolean' && isOptStr(v.params) &&
    typeof v.intoParams === 'boolean' && isNum(v.offset) && isNum(v.end) && isNum(v.lineNo) && isOptStr(v.syslogKey);
}

/** Tab-led (PostgreSQL's own) or space-led (tabs expanded by some tool) line of a multi-line message. */
function isContinuation(text: string): boolean {
  const c = text.charCodeAt(0);
  return c === 9 || c === 32;
}

export function createPostgresParser(options: PostgresParserOptions = {}): PostgresStderrParser {
  return new PostgresStderrParser(options);
}
