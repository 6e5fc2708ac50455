import { boundSql, MAX_SQL_BYTES, type Labels, type ParsedEvent } from '../../model/record.js';
import { FingerprintCache } from '../fingerprint-cache.js';
import { localTimeToUtc, zoneProblem, type LogTimeZone } from '../time-zones.js';
import { excerpt, type ParseOutput } from './types.js';

// What the three PostgreSQL formats (stderr, csvlog, jsonlog) share: reading a server message, telling an
// executed statement from everything else, time stamps, query ids, and building the event.
//
// Which messages are events (README "Formats", postgres): one `finished` event per executed statement, i.e.
//   `duration: 12.3 ms  statement: SQL`            (simple protocol, log_min_duration_statement)
//   `duration: 12.3 ms  execute NAME: SQL`         (extended protocol; NAME may be `<unnamed>`,
//                                                   `stmt/portal`, or `fetch from stmt/portal`)
// Everything else is counted as skipped, in particular:
//   `duration: … ms  parse|bind NAME: …`  the extended protocol's preparation steps, not executions;
//   `duration: … ms` alone                log_duration=on: no statement text, so nothing to alert on;
//   `statement: …` / `execute …:` alone   log_statement=all: logged when a statement *starts*, with no
//                                         duration; it is not a slow-query event (a slow one is logged
//                                         again with its duration when it ends);
//   ERROR/FATAL + STATEMENT, checkpoints, autovacuum, connections, …
// auto_explain's `duration: … ms  plan: …` is read too (isPlanMessage, plans.ts) and joined with the duration
// entry of the same statement, or is a record of its own (postgres-join.ts).
// Messages must be in English (lc_messages=C/en): translated server messages are not recognised.

/** Longest auto_explain message kept while reading it (its plan is cut to MAX_PLAN_CHARS later). */
export const MAX_PLAN_MESSAGE_CHARS = 64 * 1024;

/** Longest `parameters: …` text kept in the `params` label. */
export const MAX_PARAMS_CHARS = 1024;

/** Severity words PostgreSQL writes before the message (`LOG:  …`). */
export const SEVERITIES = [
  'DEBUG1', 'DEBUG2', 'DEBUG3', 'DEBUG4', 'DEBUG5', 'DEBUG', 'LOG', 'INFO', 'NOTICE', 'WARNING', 'ERROR', 'FATAL',
  'PANIC', 'DETAIL', 'HINT', 'QUERY', 'CONTEXT', 'LOCATION', 'STATEMENT',
] as const;

/** `plan`: a statement only auto_explain logged (postgres-join.ts) */
export type ExecStep = 'statement' | 'execute' | 'plan';

/** A server message that reports one executed statement. */
export interface ExecMessage {
  step: ExecStep;
  durationMs: number;
  /** statement text, possibly still to be completed by continuation lines (stderr) */
  sql: string;
  /** prepared statement (and portal) name of an `execute`, as logged */
  name?: string;
}

const DURATION = /^duration: (\d+(?:\.\d+)?) ms(?=\s|$)/;
const EXECUTE_NAME = /^execute (.*?): ?/;

/**
 * Reads a message (the text after `LOG:  `). Returns the executed statement it reports, or undefined when
 * the message is not a statement execution (see the list at the top of this file).
 */
export function readExecMessage(message: string): ExecMessage | undefined {
  if (!message.startsWith('duration:')) return undefined;
  const d = DURATION.exec(message);
  if (!d) return undefined;
  const durationMs = Number(d[1]);
  let i = d[0].length;
  while (i < message.length && (message.charCodeAt(i) === 32 || message.charCodeAt(i) === 9)) i++;
  if (i >= message.length) return undefined; // bare `duration: X ms` (log_duration)
  const rest = i === 0 ? message : message.slice(i);
  if (rest.startsWith('statement:')) {
    return { step: 'statement', durationMs, sql: stripOneSpace(rest, 10) };
  }
  if (rest.startsWith('execute ')) {
    const m = EXECUTE_NAME.exec(rest);
    if (!m) return undefined;
    return { step: 'execute', durationMs, sql: rest.slice(m[0].length), name: m[1] };
  }
  return undefined; // parse, bind, plan, …
}

function stripOneSpace(s: string, from: number): string {
  return s.charCodeAt(from) === 32 ? s.slice(from + 1) : s.slice(from);
}

/** `parameters: $1 = '…'` (a DETAIL of an execute) → the parameter list; undefined for other details. */
export function readParamsDetail(detail: string): string | undefined {
  return detail.startsWith('parameters: ') ? detail.slice(12) : undefined;
}

export function boundParams(params: string): string {
  return params.length <= MAX_PARAMS_CHARS ? params : params.slice(0, MAX_PARAMS_CHARS) + '…';
}

// ---------------------------------------------------------------------------------------------------------
// Time stamps

// `2021-12-03 07:14:48.591 UTC`, `2021-02-14 01:34:02 CET`, `… +03`, ISO `2020-05-02T13:00:20.382318Z`
const TIMESTAMP =
  /^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?: ?(Z|[+-]\d\d(?::?\d\d)?|[A-Za-z][A-Za-z0-9]*))?$/;

/** A time stamp whose zone does not say which offset it is: the zone text and the wall-clock time (read as if UTC). */
export interface UnresolvedZone {
  unknownZone: string;
  ms: number;
}

export type TimestampResult = number | UnresolvedZone | undefined;

/**
 * Reads a PostgreSQL time stamp to ms since the epoch. The zone (an abbreviation, a numeric offset, or none) is read
 * as time-zones.ts says: with `zone` (the server's log_timezone) as that zone prints it, without only if it is
 * unambiguous; a time without a zone is the zone's local time, or UTC. `tzOffsets` (minutes east of UTC by
 * abbreviation) are taken as given, before anything else. A zone that does not say which offset it is gives
 * `{ unknownZone, ms }` (no time), so the caller can say why.
 */
export function parsePgTimestamp(text: string, zone?: LogTimeZone, tzOffsets?: Readonly<Record<string, number>>): TimestampResult {
  const m = TIMESTAMP.exec(text);
  if (!m) {
    // %n: seconds since the epoch with milliseconds
    if (/^\d{9,11}(?:\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
    return undefined;
  }
  let ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  if (Number.isNaN(ms)) return undefined;
  if (m[7] !== undefined) ms += Math.round(Number('0.' + m[7]) * 1000);
  const zoneText = m[8] ?? '';
  const given = tzOffsets !== undefined && zoneText !== '' ? givenOffset(tzOffsets, zoneText) : undefined;
  if (given !== undefined) return ms - given * 60_000;
  return localTimeToUtc(ms, zoneText, zone) ?? { unknownZone: zoneText, ms };
}

function givenOffset(tzOffsets: Readonly<Record<string, number>>, zone: string): number | undefined {
  if (Object.hasOwn(tzOffsets, zone)) return tzOffsets[zone];
  const upper = zone.toUpperCase();
  return Object.hasOwn(tzOffsets, upper) ? tzOffsets[upper] : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Query ids

/** Time window within which two statements of one backend can compute the same start (see QueryIdAllocator). */
const ID_WINDOW_MS = 5_000;

/**
 * Query ids are `${pid}-${startMs}`, the start being the log time minus the duration, rounded to the ms
 * (or cut to `idResolutionMs`): a live probe of pg_stat_activity (pid + query_start) derives the same id for
 * the same execution. The log time is taken a little after the statement ended and printed truncated, so the
 * rebuilt start can differ from query_start by about a millisecond; the ids match when both sides use the
 * same resolution and the start is not at its edge.
 *
 * Only one statement of a backend can start in a resolution step and still be running after it (the backend runs
 * one at a time), and only such a statement can have been seen running by the probe (with --min-duration at
 * least the resolution). So that statement gets the plain id; statements that started and ended within their
 * step get `#<byte offset>` appended (see PgEventFactory.make) and never take the plain id from the one that
 * follows them in the same step — which would make the consumer drop that one's records as repeats.
 *
 * Two executions of one backend can compute the same start: the log time has only second precision with %t,
 * and durations are rounded. The second and later ones get `-2`, `-3`, … in file order, which is
 * deterministic. A backend runs one statement at a time, so a later statement starts after the earlier ones
 * ended (less the time stamp's precision): only starts within a few seconds of the backend's latest log time
 * can repeat, and only those are remembered — a small state that `context()` carries over a resume.
 */
export class QueryIdAllocator {
  /**
   * pid → latest log time of that pid, start → the byte offsets of the executions given it, in order; and that pid's
   * part of context(), made again only after the pid changed (contexts share it: the client stamps one on every event)
   */
  private byPid = new Map<string, { lastTs: number; starts: Map<number, number[]>; part: QueryIdContext['pids'][number] | undefined }>();
  private maxTs = -Infinity;
  private sincePrune = 0;
  /** what context() returned, until next() or restore() changes the state (null: to be made again) */
  private cached: QueryIdContext | undefined | null = null;

  /**
   * `offset`: where the execution's record starts in its file. The same execution read again (a resume re-reads
   * the records after the one it resumes at, and one line can complete two records: postgres-join.ts) gets the
   * same id, not the next number. Unknown (-1) for numbers carried over from a context without offsets.
   */
  next(pid: string, ts: number, startMs: number, offset = -1): string {
    const base = `${pid}-${startMs}`;
    if (ts > this.maxTs) this.maxTs = ts;
    this.cached = null;
    let p = this.byPid.get(pid);
    if (!p) {
      p = { lastTs: ts, starts: new Map(), part: undefined };
      this.byPid.set(pid, p);
    } else if (ts > p.lastTs) {
      p.lastTs = ts;
      for (const s of p.starts.keys()) if (s < ts - ID_WINDOW_MS) p.starts.delete(s);
    }
    p.part = undefined;
    let seen = p.starts.get(startMs);
    if (!seen) p.starts.set(startMs, (seen = []));
    let n = offset >= 0 ? seen.indexOf(offset) : -1;
    if (n === -1) {
      n = seen.length;
      seen.push(offset);
    }
    if (++this.sincePrune >= 1024) this.prune();
    return n === 0 ? base : `${base}-${n + 1}`;
  }

  /** Forget backends idle for longer than the window: their next statement starts after the latest log time. */
  private prune(): void {
    this.sincePrune = 0;
    for (const [pid, p] of this.byPid) if (p.lastTs < this.maxTs - ID_WINDOW_MS) this.byPid.delete(pid);
  }

  /**
   * `exact`: everything as it is, the count to the next prune too (a chunk's state: StateCarryingParser); else what
   * a resume needs, pruned (a backend's times that went back by more than the window are then forgotten).
   */
  context(exact = false): QueryIdContext | undefined {
    // unchanged since the last one: the same (a prune now would forget nothing more: no time moved)
    if (!exact && this.cached !== null) return this.cached;
    if (!exact) this.prune();
    if (this.byPid.size === 0 && !exact) return (this.cached = undefined);
    const pids: QueryIdContext['pids'] = [];
    for (const [pid, p] of this.byPid) pids.push((p.part ??= [pid, p.lastTs, [...p.starts].map(([start, offsets]) => [start, offsets.length, [...offsets]])]));
    if (exact) return { maxTs: this.maxTs, pids, sincePrune: this.sincePrune };
    return (this.cached = { maxTs: this.maxTs, pids });
  }

  restore(ctx: unknown): void {
    this.byPid.clear();
    this.maxTs = -Infinity;
    this.sincePrune = 0;
    this.cached = null;
    if (!isQueryIdContext(ctx)) return;
    this.maxTs = ctx.maxTs;
    if (Number.isSafeInteger(ctx.sincePrune)) this.sincePrune = ctx.sincePrune!;
    for (const [pid, lastTs, starts] of ctx.pids) {
      // a context written before offsets were kept has only the count
      const map = new Map<number, number[]>();
      for (const [start, count, offsets] of starts) map.set(start, Array.isArray(offsets) ? [...offsets] : new Array<number>(count).fill(-1));
      this.byPid.set(pid, { lastTs, starts: map, part: undefined });
    }
  }
}

export interface QueryIdContext {
  maxTs: number;
  /** next() calls since the last prune (an exact context only) */
  sincePrune?: number;
  pids: [pid: string, lastTs: number, starts: [startMs: number, count: number, offsets?: number[]][]][];
}

/** Checked whole: a context comes back from a registry file or a consumer's state, which may be damaged. */
function isQueryIdContext(v: unknown): v is QueryIdContext {
  if (v === null || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  if (typeof o.maxTs !== 'number' || !Array.isArray(o.pids)) return false;
  const isStart = (s: unknown): boolean =>
    Array.isArray(s) && typeof s[0] === 'number' && Number.isSafeInteger(s[1]) && s[1] >= 0 && s[1] <= 1e6 && (s[2] === undefined || (Array.isArray(s[2]) && s[2].every((x) => typeof x === 'number')));
  return o.pids.every((p: unknown) => Array.isArray(p) && typeof p[0] === 'string' && typeof p[1] === 'number' && Array.isArray(p[2]) && p[2].every(isStart));
}

// ---------------------------------------------------------------------------------------------------------
// Events

/** What a log line carries about the session, whatever the format. Empty strings mean "not known". */
export interface SessionFields {
  pid?: string;
  user?: string;
  db?: string;
  /** client host, without port */
  host?: string;
  app?: string;
  sessionId?: string;
  sessionLine?: string;
  commandTag?: string;
  backendType?: string;
  /** PostgreSQL's query_id (PG 14+, compute_query_id), as text: it is a 64-bit integer */
  pgQueryId?: string;
}

export interface PgParserOptions {
  /** the server's log_timezone: how its time zone abbreviations are read (see time-zones.ts) */
  logTimeZone?: LogTimeZone;
  /** time zone abbreviations taken as given, minutes east of UTC (before the zone and the built-in table) */
  tzOffsets?: Record<string, number>;
  /**
   * Resolution of the start time in query ids: the start cut down to a multiple of N ms. Default 1000, the
   * same as `slowq probe`'s, so the log's `finished` record and the probe's `running` records of one execution
   * share their id (a start rebuilt as log time − duration is only good to about 1 ms). 1 = the start in ms.
   */
  idResolutionMs?: number;
}

/**
 * Builds events from executed statements: time stamp, query id, fingerprint (memoised), labels.
 * One per parser: it holds the query-id state and the fingerprint cache.
 */
const TRAILING_SEMICOLONS = /[\s;]+$/;

export class PgEventFactory {
  private readonly fingerprints = new FingerprintCache();
  readonly ids = new QueryIdAllocator();
  private readonly zone: LogTimeZone | undefined;
  private readonly tzOffsets: Readonly<Record<string, number>> | undefined;
  private readonly idResolution: number;
  private lastTsText = '';
  private lastTs = 0;

  constructor(options: PgParserOptions = {}) {
    this.zone = options.logTimeZone;
    this.tzOffsets = options.tzOffsets;
    const res = options.idResolutionMs;
    this.idResolution = res === undefined ? 1000 : Number.isFinite(res) && res > 1 ? Math.floor(res) : 1;
  }

  /**
   * Time stamp text → ms. Text that is not a time stamp, or whose zone does not say which offset it is, is a
   * problem (every time: the record is not emitted, so each one is accounted for) and gives undefined.
   */
  timestamp(text: string, out: ParseOutput, offset: number, lineNo: number): number | undefined {
    // Consecutive statements mostly share their time stamp text (%t has one-second precision).
    if (text === this.lastTsText) return this.lastTs;
    const r = parsePgTimestamp(text, this.zone, this.tzOffsets);
    if (typeof r === 'number') {
      this.lastTsText = text;
      this.lastTs = r;
      return r;
    }
    const reason = r === undefined ? `unreadable time stamp "${excerpt(text, 60)}"` : zoneProblem(r.ms, r.unknownZone, this.zone);
    out.problems.push({ offset, line: lineNo, reason, text: '' });
    return undefined;
  }

  make(exec: ExecMessage, ts: number, f: SessionFields, params: string | undefined, offset: number, end: number): ParsedEvent {
    const sql = boundSql(exec.sql);
    // `select 1` and `select 1;` are one class (the MySQL slow log drops the terminator before fingerprinting too)
    const fp = this.fingerprints.get(sql.replace(TRAILING_SEMICOLONS, ''));
    const pid = f.pid || '0';
    const res = this.idResolution;
    const startMs = res === 1 ? Math.round(ts - exec.durationMs) : Math.floor((ts - exec.durationMs) / res) * res;
    // Still running after its start's step (the log time is after the end): see QueryIdAllocator.
    const crosses = exec.durationMs >= res || Math.floor(ts / res) * res > startMs;
    const labels: Labels = { step: exec.step };
    const pidNum = Number(pid);
    labels.pid = Number.isSafeInteger(pidNum) ? pidNum : pid;
    if (exec.name !== undefined) labels.prepared = exec.name;
    if (f.sessionId) labels.session_id = f.sessionId;
    if (f.sessionLine) {
      const n = Number(f.sessionLine);
      labels.session_line = Number.isSafeInteger(n) ? n : f.sessionLine;
    }
    if (f.app) labels.application = f.app;
    if (f.commandTag) labels.command_tag = f.commandTag;
    if (f.backendType) labels.backend_type = f.backendType;
    if (f.pgQueryId && f.pgQueryId !== '0') labels.query_id = f.pgQueryId;
    if (params !== undefined) labels.params = boundParams(params);
    const ev: ParsedEvent = {
      state: 'finished',
      queryId: crosses ? this.ids.next(pid, ts, startMs, offset) : `${pid}-${startMs}#${offset}`,
      ts,
      durationMs: exec.durationMs,
      sql,
      fingerprint: fp.fingerprint,
      fingerprintId: fp.fingerprintId,
      labels,
      offset,
      end,
    };
    if (f.user && f.user !== '[unknown]') ev.user = f.user;
    if (f.db && f.db !== '[unknown]') ev.db = f.db;
    if (f.host) ev.host = f.host;
    return ev;
  }
}

/** `host(port)` (%r) or `host:port` (csvlog connection_from) → host; `[local]` stays. */
export function hostOnly(from: string): string {
  if (from.length === 0 || from.charCodeAt(0) === 91 /* [ */) return from;
  if (from.endsWith(')')) {
    const p = from.lastIndexOf('(');
    return p > 0 ? from.slice(0, p) : from;
  }
  const colon = from.lastIndexOf(':');
  if (colon > 0 && /^\d+$/.test(from.slice(colon + 1))) return from.slice(0, colon);
  return from;
}

/** Appends statement text while it is within the bound (boundSql marks the cut later). */
export function appendBounded(current: string, more: string, max = MAX_SQL_BYTES + 1): string {
  if (current.length > max) return current;
  const s = current + more;
  return s.length > max ? s.slice(0, max) : s;
}
