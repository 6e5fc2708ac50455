import { excerpt, type ParseOutput, type StateCarryingParser } from './types.js';
import { isPlain } from './postgres-carry.js';
import { PgEventFactory, hostOnly, readExecMessage, readParamsDetail, type PgParserOptions, type SessionFields } from './postgres-common.js';
import { PostgresStderrParser, type LineWrapper } from './postgres.js';
import { isPlanMessage } from './plans.js';
import { PgStatementJoiner } from './postgres-join.js';

// PostgreSQL logs as JSON, one object per line, in the three shapes found in practice:
//
//  1. jsonlog (log_destination=jsonlog, PostgreSQL 15+): keys timestamp, user, dbname, pid, remote_host,
//     remote_port, session_id, line_num, ps, session_start, vxid, txid, error_severity, state_code, message,
//     detail, hint, internal_query, internal_position, context, statement, cursor_position, func_name,
//     file_name, file_line_num, application_name, backend_type, leader_pid, query_id. Keys with no value
//     are left out.
//  2. CloudNativePG: `{"logger":"postgres","msg":"record","record":{…}}`, the record keyed by csvlog's column
//     names (log_time, user_name, database_name, process_id, connection_from, …, message, detail, …).
//     Lines of its own components (`{"level":…,"msg":…}`: instance manager, WAL archiving, probes) are
//     valid and skipped.
//  3. Google Cloud SQL (Cloud Logging export): `{"textPayload":"[24667]: [1-1] db=…,user=… LOG:  …",
//     "timestamp":"…Z",…}`: the payload is a stderr line with log_line_prefix 'db=%d,user=%u ' after
//     `[pid]: [n-m] `, and later lines of a message come as separate entries (tab-led payloads).
//     These go through the stderr parser, so a statement is emitted when the next message starts.
//
// auto_explain plans are joined with their statement's record (postgres-join.ts), which may hold one record back
// until the next. Anything else (not JSON, not an object, no PostgreSQL message) is a problem. `skipped` counts
// records that are not statement executions.

const CLOUDSQL_PREFIX = 'db=%d,user=%u ';
const QUERY_ID_NUMBER = /"query_id":(-?\d+)/;
const CLOUDSQL_HEAD = /^\[(\d+)\]: \[(\d+)-(\d+)\] /;

export class PostgresJsonParser implements StateCarryingParser {
  readonly format = 'postgres-json';
  private readonly factory: PgEventFactory;
  private readonly joiner: PgStatementJoiner;
  /** Cloud SQL payloads are stderr lines: made when first needed */
  private cloudSql: PostgresStderrParser | undefined;
  private readonly wrap: LineWrapper = { tsText: '', tsIsSyslog: false, pid: undefined, key: undefined, part: 0 };

  constructor(private readonly options: PgParserOptions = {}) {
    this.factory = new PgEventFactory(options);
    this.joiner = new PgStatementJoiner(this.factory);
  }

  line(text: string, offset: number, end: number, lineNo: number, out: ParseOutput): void {
    if (text.length === 0) return;
    const problem = (reason: string): void => {
      out.problems.push({ offset, line: lineNo, reason, text: excerpt(text, 120) });
    };
    // Cheap path for the bulk of a log: a record that cannot be a statement execution needs no parsing, if it
    // looks like one of the shapes above (a malformed one is then counted as skipped, not as a problem).
    if (
      this.cloudSql === undefined &&
      text.charCodeAt(0) === 123 &&
      text.charCodeAt(text.length - 1) === 125 &&
      !text.includes('duration: ') &&
      (text.includes('"error_severity"') || text.includes('"msg"'))
    ) {
      out.skipped++;
      return;
    }
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (err) {
      return problem(`not valid JSON: ${(err as Error).message}`);
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return problem('not a JSON object');
    const o = obj as Record<string, unknown>;
    if (typeof o.error_severity === 'string' && typeof o.message === 'string') {
      return this.jsonlog(o, text, offset, end, lineNo, out);
    }
    if (typeof o.record === 'object' && o.record !== null && (o.logger === 'postgres' || o.logger === undefined)) {
      const r = o.record as Record<string, unknown>;
      if (typeof r.error_severity === 'string' && typeof r.message === 'string') return this.csvNamed(r, offset, end, lineNo, out);
    }
    if (typeof o.msg === 'string' && (typeof o.logger === 'string' || typeof o.level === 'string')) {
      out.skipped++; // CloudNativePG's own components (instance manager, WAL archiving, probes, …)
      return;
    }
    if (typeof o.textPayload === 'string' && typeof o.timestamp === 'string') {
      return this.cloudSqlLine(o.textPayload, o.timestamp, offset, end, lineNo, out);
    }
    problem('not a PostgreSQL JSON log record (no error_severity/message, CloudNativePG record or Cloud SQL textPayload)');
  }

  /** Native jsonlog. */
  private jsonlog(o: Record<string, unknown>, text: string, offset: number, end: number, lineNo: number, out: ParseOutput): void {
    const plan = o.error_severity === 'LOG' && isPlanMessage(o.message as string);
    const exec = o.error_severity === 'LOG' && !plan ? readExecMessage(o.message as string) : undefined;
    if (exec === undefined && !plan) {
      out.skipped++;
      this.joiner.other(pidOf(o.pid), out);
      return;
    }
    const ts = typeof o.timestamp === 'string' ? this.factory.timestamp(o.timestamp, out, offset, lineNo) : undefined;
    if (ts === undefined) {
      if (typeof o.timestamp !== 'string') out.problems.push({ offset, line: lineNo, reason: 'jsonlog record without "timestamp"', text: '' });
      return;
    }
    const f: SessionFields = {};
    setStr(f, 'pid', o.pid);
    setStr(f, 'user', o.user);
    setStr(f, 'db', o.dbname);
    setStr(f, 'host', o.remote_host);
    setStr(f, 'sessionId', o.session_id);
    setStr(f, 'sessionLine', o.line_num);
    setStr(f, 'commandTag', o.ps);
    setStr(f, 'app', o.application_name);
    setStr(f, 'backendType', o.backend_type);
    if (typeof o.query_id === 'number' && !Number.isSafeInteger(o.query_id)) {
      // a 64-bit id written as a JSON number loses digits in JSON.parse: take it from the text
      const m = QUERY_ID_NUMBER.exec(text);
      if (m) f.pgQueryId = m[1];
    } else setStr(f, 'pgQueryId', o.query_id);
    if (exec === undefined) return this.joiner.plan(o.message as string, ts, f, offset, end, out);
    const params = typeof o.detail === 'string' ? readParamsDetail(o.detail) : undefined;
    this.joiner.exec(exec, ts, f, params, offset, end, out);
  }

  /** A record keyed by csvlog column names (CloudNativePG). */
  private csvNamed(r: Record<string, unknown>, offset: number, end: number, lineNo: number, out: ParseOutput): void {
    const plan = r.error_severity === 'LOG' && isPlanMessage(r.message as string);
    const exec = r.error_severity === 'LOG' && !plan ? readExecMessage(r.message as string) : undefined;
    if (exec === undefined && !plan) {
      out.skipped++;
      this.joiner.other(pidOf(r.process_id), out);
      return;
    }
    const ts = typeof r.log_time === 'string' ? this.factory.timestamp(r.log_time, out, offset, lineNo) : undefined;
    if (ts === undefined) {
      if (typeof r.log_time !== 'string') out.problems.push({ offset, line: lineNo, reason: 'record without "log_time"', text: '' });
      return;
    }
    const f: SessionFields = {};
    setStr(f, 'pid', r.process_id);
    setStr(f, 'user', r.user_name);
    setStr(f, 'db', r.database_name);
    if (typeof r.connection_from === 'string' && r.connection_from) f.host = hostOnly(r.connection_from);
    setStr(f, 'sessionId', r.session_id);
    setStr(f, 'sessionLine', r.session_line_num);
    setStr(f, 'commandTag', r.command_tag);
    setStr(f, 'app', r.application_name);
    setStr(f, 'backendType', r.backend_type);
    setStr(f, 'pgQueryId', r.query_id);
    if (exec === undefined) return this.joiner.plan(r.message as string, ts, f, offset, end, out);
    const params = typeof r.detail === 'string' ? readParamsDetail(r.detail) : undefined;
    this.joiner.exec(exec, ts, f, params, offset, end, out);
  }

  private cloudSqlLine(payload: string, timestamp: string, offset: number, end: number, lineNo: number, out: ParseOutput): void {
    const p = this.cloudSqlParser();
    const w = this.wrap;
    w.tsText = timestamp;
    const head = CLOUDSQL_HEAD.exec(payload);
    if (head) {
      w.pid = head[1];
      w.key = `${head[1]}-${head[2]}`;
      w.part = Number(head[3]);
      p.wrapped(payload.slice(head[0].length), offset, end, lineNo, out, w);
    } else {
      // a later line of a message: no numbering, tab-led
      w.pid = undefined;
      w.key = undefined;
      w.part = 0;
      p.wrapped(payload, offset, end, lineNo, out, w);
    }
  }

  flush(final: boolean, out: ParseOutput): void {
    this.joiner.flush(out);
    this.cloudSql?.flush(final, out);
  }

  context(): unknown {
    const ids = this.factory.ids.context();
    const cloud = this.cloudSql?.context();
    if (ids === undefined && cloud === undefined) return undefined;
    return { ids, cloud };
  }

  restore(context: unknown): void {
    const c = (context ?? {}) as { ids?: unknown; cloud?: unknown };
    this.factory.ids.restore(c.ids);
    this.joiner.reset();
    if (c.cloud !== undefined) {
      this.cloudSqlParser().restore(c.cloud);
    }
  }

  /** Cloud SQL payloads are stderr lines: their parser, made when first needed */
  private cloudSqlParser(): PostgresStderrParser {
    return (this.cloudSql ??= new PostgresStderrParser({ ...this.options, logLinePrefix: CLOUDSQL_PREFIX }));
  }

  state(): unknown {
    const s: Record<string, unknown> = { ids: this.factory.ids.context(true), held: this.joiner.state() };
    if (this.cloudSql !== undefined) s.cloud = this.cloudSql.state();
    return s;
  }

  restoreState(state: unknown): void {
    const s = isPlain(state) ? state : {};
    this.factory.ids.restore(s.ids);
    this.joiner.restoreState(s.held);
    if (s.cloud !== undefined) {
      this.cloudSqlParser().restoreState(s.cloud);
    } else this.cloudSql = undefined; // whether there is one decides how lines are read (line())
  }
}

function pidOf(v: unknown): string | undefined {
  return typeof v === 'number' || (typeof v === 'string' && v.length > 0) ? String(v) : undefined;
}

function setStr(f: SessionFields, key: keyof SessionFields, v: unknown): void {
  if (typeof v === 'string') {
    if (v.length > 0) f[key] = v;
  } else if (typeof v === 'number' && Number.isFinite(v)) {
    f[key] = String(v);
  }
}
