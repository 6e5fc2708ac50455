import { excerpt, type ParseOutput, type StateCarryingParser } from './types.js';
import { isNum, isPlain } from './postgres-carry.js';
import { hostOnly, PgEventFactory, readExecMessage, readParamsDetail, type PgParserOptions, type SessionFields } from './postgres-common.js';
import { isPlanMessage } from './plans.js';
import { PgStatementJoiner } from './postgres-join.js';

// PostgreSQL's csvlog (log_destination=csvlog): one record per message, fields as in the server's
// documentation ("Using CSV-Format Log Output"):
//   0 log_time, 1 user_name, 2 database_name, 3 process_id, 4 connection_from, 5 session_id,
//   6 session_line_num, 7 command_tag, 8 session_start_time, 9 virtual_transaction_id, 10 transaction_id,
//   11 error_severity, 12 sql_state_code, 13 message, 14 detail, 15 hint, 16 internal_query,
//   17 internal_query_pos, 18 context, 19 query, 20 query_pos, 21 location,
//   22 application_name (9.0+), 23 backend_type (13+), 24 leader_pid (14+), 25 query_id (14+).
// So 22 columns (8.3–8.4), 23 (9.0–12), 24 (13), 26 (14–17). Records with 22 or more columns are read
// (columns past the ones listed are ignored, so a later server adding one still parses); fewer is a problem.
//
// A field may hold newlines (a multi-line statement), so a record may span lines: lines are gathered
// until the quotes balance. A record starts with its time stamp; a line that does not (and is not inside a
// record) is a problem: "not in this format". A record is complete when its last line arrives, so its
// event is emitted at once: nothing is held back, and a resumed parser needs no context except query ids.
// The DETAIL of an execute (`parameters: …`) is in the same record and goes to the `params` label. auto_explain
// plans are joined with their statement's record (postgres-join.ts), which may hold one record back until the next.
// `skipped` counts records that are not statement executions.

/** Longest record kept while gathering its lines; a longer one is dropped as a problem. */
const MAX_RECORD_CHARS = 8 << 20;
const MIN_COLUMNS = 22;
const RECORD_START = /^"?\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/;

export class PostgresCsvParser implements StateCarryingParser {
  readonly format = 'postgres-csv';
  private readonly factory: PgEventFactory;
  private readonly joiner: PgStatementJoiner;
  /** lines of a record whose quotes do not balance yet */
  private parts: string[] = [];
  private partsChars = 0;
  private startOffset = 0;
  private startLine = 0;
  private readonly fields: string[] = [];

  constructor(options: PgParserOptions = {}) {
    this.factory = new PgEventFactory(options);
    this.joiner = new PgStatementJoiner(this.factory);
  }

  line(text: string, offset: number, end: number, lineNo: number, out: ParseOutput): void {
    if (this.parts.length === 0) {
      if (text.length === 0) return;
      if (!RECORD_START.test(text)) {
        out.problems.push({ offset, line: lineNo, reason: 'not a PostgreSQL csvlog record (expected it to start with the log time)', text: excerpt(text, 120) });
        return;
      }
      if (!oddQuotes(text)) return this.record(text, offset, end, lineNo, out);
      this.parts.push(text);
      this.partsChars = text.length;
      this.startOffset = offset;
      this.startLine = lineNo;
      return;
    }
    this.parts.push(text);
    this.partsChars += text.length + 1;
    if (this.partsChars > MAX_RECORD_CHARS) {
      out.problems.push({ offset: this.startOffset, line: this.startLine, reason: `csvlog record longer than ${MAX_RECORD_CHARS} characters (unbalanced quotes?); dropped`, text: excerpt(this.parts[0]!, 120) });
      this.reset();
      return;
    }
    // The record ends on the line where the number of quotes seen so far becomes even again.
    if (!oddQuotes(text)) return;
    const whole = this.parts.join('\n');
    const offset0 = this.startOffset;
    const line0 = this.startLine;
    this.reset();
    this.record(whole, offset0, end, line0, out);
  }

  private record(text: string, offset: number, end: number, lineNo: number, out: ParseOutput): void {
    const f = this.fields;
    if (!splitCsv(text, f)) {
      out.problems.push({ offset, line: lineNo, reason: 'malformed csvlog record (bad quoting)', text: excerpt(text, 120) });
      return;
    }
    if (f.length < MIN_COLUMNS) {
      out.problems.push({ offset, line: lineNo, reason: `csvlog record with ${f.length} columns (PostgreSQL writes 22 to 26)`, text: excerpt(text, 120) });
      return;
    }
    const plan = f[11] === 'LOG' && isPlanMessage(f[13]!);
    const exec = f[11] === 'LOG' && !plan ? readExecMessage(f[13]!) : undefined;
    if (exec === undefined && !plan) {
      out.skipped++;
      this.joiner.other(f[3] || undefined, out);
      return;
    }
    const ts = this.factory.timestamp(f[0]!, out, offset, lineNo);
    if (ts === undefined) return;
    const fields: SessionFields = {};
    if (f[3]) fields.pid = f[3];
    if (f[1]) fields.user = f[1];
    if (f[2]) fields.db = f[2];
    if (f[4]) fields.host = hostOnly(f[4]);
    if (f[5]) fields.sessionId = f[5];
    if (f[6]) fields.sessionLine = f[6];
    if (f[7]) fields.commandTag = f[7];
    if (f.length > 22 && f[22]) fields.app = f[22];
    if (f.length > 23 && f[23]) fields.backendType = f[23];
    if (f.length > 25 && f[25]) fields.pgQueryId = f[25];
    if (exec === undefined) return this.joiner.plan(f[13]!, ts, fields, offset, end, out);
    const params = f[14] ? readParamsDetail(f[14]) : undefined;
    this.joiner.exec(exec, ts, fields, params, offset, end, out);
  }

  private reset(): void {
    this.parts = [];
    this.partsChars = 0;
  }

  flush(final: boolean, out: ParseOutput): void {
    // An unbalanced record is still being written (idle) or was cut off (end of input).
    if (final && this.parts.length > 0) {
      out.problems.push({ offset: this.startOffset, line: this.startLine, reason: 'csvlog record cut off at end of input (unbalanced quotes)', text: excerpt(this.parts[0]!, 120) });
      this.reset();
    }
    this.joiner.flush(out);
  }

  context(): unknown {
    return this.factory.ids.context();
  }

  restore(context: unknown): void {
    this.factory.ids.restore(context);
    this.joiner.reset();
    this.reset();
  }

  state(): unknown {
    const s: Record<string, unknown> = { ids: this.factory.ids.context(true), held: this.joiner.state() };
    if (this.parts.length > 0) s.record = { parts: [...this.parts], chars: this.partsChars, offset: this.startOffset, line: this.startLine };
    return s;
  }

  restoreState(state: unknown): void {
    const s = isPlain(state) ? state : {};
    this.restore(s.ids);
    this.joiner.restoreState(s.held);
    const r = s.record;
    if (isPlain(r) && Array.isArray(r.parts) && r.parts.length > 0 && r.parts.every((x) => typeof x === 'string') && isNum(r.chars) && isNum(r.offset) && isNum(r.line)) {
      this.parts = [...(r.parts as string[])];
      this.partsChars = r.chars;
      this.startOffset = r.offset;
      this.startLine = r.line;
    }
  }
}

/**
 * Whether a line holds an odd number of quotes. A record's quotes balance at its end (`""` escapes count two),
 * so a first line with an odd count opens a multi-line field, and the next line with an odd count closes it.
 */
function oddQuotes(text: string): boolean {
  let n = 0;
  for (let i = text.indexOf('"'); i !== -1; i = text.indexOf('"', i + 1)) n++;
  return (n & 1) === 1;
}

/** Splits one CSV record (RFC 4180 quoting, `""` inside quotes) into `out`; false if the quoting is broken. */
export function splitCsv(text: string, out: string[]): boolean {
  out.length = 0;
  const n = text.length;
  let i = 0;
  for (;;) {
    if (i < n && text.charCodeAt(i) === 34) {
      // quoted field
      let value = '';
      let from = i + 1;
      for (;;) {
        const q = text.indexOf('"', from);
        if (q === -1) return false;
        if (q + 1 < n && text.charCodeAt(q + 1) === 34) {
          value += text.slice(from, q + 1);
          from = q + 2;
          continue;
        }
        value += text.slice(from, q);
        i = q + 1;
        break;
      }
      out.push(value);
      if (i === n) return true;
      if (text.charCodeAt(i) !== 44) return false;
      i++;
    } else {
      const comma = text.indexOf(',', i);
      if (comma === -1) {
        out.push(text.slice(i));
        return true;
      }
      out.push(text.slice(i, comma));
      i = comma + 1;
    }
  }
}
