// The record and alert model shared by every service (see docs/wire.md "Records" and README "When it alerts").

export const QUERY_STATES = ['running', 'finished'] as const;
export type QueryState = (typeof QUERY_STATES)[number];

/** Extra fields a format carries that have no column of their own (kept as alert labels). */
export type Labels = Record<string, string | number | boolean>;

/**
 * What a record is about when it is not one execution: `statement_stats` is `calls` executions of one statement
 * class in the interval ending at `ts`, from the server's own statistics (`slowq probe --statements`), with
 * `durationMs` their mean. Such a record never alerts as a slow or long-running query.
 */
export const RECORD_KINDS = ['statement_stats'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

/**
 * What the server said about how it ran the statement, beside the plan text: MariaDB/Percona's `# Full_scan: …
 * Tmp_table: …` and `# Filesort: …` lines (log_slow_verbosity=query_plan), MariaDB's `Tmp_tables`/`Tmp_disk_tables`,
 * and for PostgreSQL what its auto_explain plan shows (a Seq Scan, a Sort, a sort spilled to disk).
 * Every field is optional: a format gives the ones its log says.
 */
export interface PlanFacts {
  /** a table read whole (MariaDB Full_scan; PostgreSQL: a Seq Scan node) */
  fullScan?: boolean;
  /** a join without an index (MariaDB Full_join) */
  fullJoin?: boolean;
  /** an internal temporary table (Tmp_table) */
  tmpTable?: boolean;
  /** …that went to disk (Tmp_table_on_disk) */
  tmpTableOnDisk?: boolean;
  /** a sort (MariaDB Filesort; PostgreSQL: a Sort node) */
  filesort?: boolean;
  /** …that spilled to disk (Filesort_on_disk; PostgreSQL: `Sort Method: external …`, with log_analyze) */
  filesortOnDisk?: boolean;
  /** merge passes of the sort (Merge_passes) */
  mergePasses?: number;
  /** a LIMIT sort done with a priority queue (Priority_queue) */
  priorityQueue?: boolean;
  /** temporary tables created (Tmp_tables) */
  tmpTables?: number;
  /** …of them on disk (Tmp_disk_tables) */
  tmpDiskTables?: number;
}

/** What every record says about one query event, whatever the input format. */
export interface QueryFields {
  state: QueryState;
  /** identity of one execution within the source, deterministic from the input */
  queryId: string;
  /** event time, ms since epoch */
  ts: number;
  /** elapsed so far (running) or total (finished) */
  durationMs: number;
  sql: string;
  fingerprint: string;
  fingerprintId: string;
  user?: string;
  db?: string;
  host?: string;
  lockMs?: number;
  rowsSent?: number;
  rowsExamined?: number;
  labels?: Labels;
  /** the plan the server logged for this execution (MariaDB `# explain:` lines, PostgreSQL auto_explain), cut by boundPlan */
  plan?: string;
  planFacts?: PlanFacts;
  /** absent: one execution; see RECORD_KINDS */
  kind?: RecordKind;
  /** executions a `statement_stats` record stands for */
  calls?: number;
}

/**
 * What a parser gives for one query event, before the client stamps it with source/stream/seq.
 * `offset`/`end` are the byte range of the event in its file: `end` is where reading resumes after it.
 */
export interface ParsedEvent extends QueryFields {
  offset: number;
  end: number;
}

/** A record as carried in a batch: source, stream and seq are implied by the batch. */
export type WireRecord = Omit<QueryRecord, 'source' | 'stream' | 'seq'>;

/** A record on the wire and in the consumer: a parsed event numbered within its stream. */
export interface QueryRecord extends QueryFields {
  source: string;
  stream: string;
  seq: number;
}

export const ALERT_TYPES = ['slow_query', 'long_running', 'resolved', 'stalled', 'regression', 'regression_resolved'] as const;
export type AlertType = (typeof ALERT_TYPES)[number];
/** alerts that open a problem, closed later by one of CLOSING_TYPES with the same source and queryId */
export const OPENING_TYPES: readonly AlertType[] = ['long_running', 'regression'];
/** alerts that close the problem an OPENING_TYPES alert opened */
export const CLOSING_TYPES: readonly AlertType[] = ['resolved', 'stalled', 'regression_resolved'];

export function isClosing(type: AlertType): boolean {
  return CLOSING_TYPES.includes(type);
}

/** `regression` and `regression_resolved` are about a query class (src/rules/regression.ts), not one execution. */
export function isClassAlert(type: AlertType): boolean {
  return type === 'regression' || type === 'regression_resolved';
}

/** What a `regression` alert (and the `regression_resolved` closing it, when the class still ran) says changed. */
export interface RegressionFacts {
  /** the window judged: the last `windowMs` of the source's event time */
  windowMs: number;
  windowCount: number;
  windowP95Ms: number;
  /** the median p95 of the class's last `baselineWindows` completed windows, of `baselineCount` executions in all */
  baselineP95Ms: number;
  baselineCount: number;
  baselineWindows: number;
}
export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface Alert {
  /** hash of (source, queryId, type): a replay yields the same id */
  id: string;
  type: AlertType;
  source: string;
  queryId: string;
  fingerprint: string;
  fingerprintId: string;
  sql: string;
  durationMs: number;
  /** ISO time the query started */
  startedAt: string;
  /** ISO event time at which the alert arose */
  at: string;
  severity: Severity;
  db?: string;
  user?: string;
  host?: string;
  labels?: Labels;
  /** for `regression` / `regression_resolved`: the window against the baseline */
  regression?: RegressionFacts;
  /** the plan of the execution that raised the alert, when its record had one */
  plan?: string;
  planFacts?: PlanFacts;
}

/** Longest statement text carried in a record; longer text is cut and marked. */
export const MAX_SQL_BYTES = 4096;
/** what marks text cut by boundSql */
export const TRUNCATED_MARK = ' /* …truncated */';

export function boundSql(sql: string): string {
  if (sql.length <= MAX_SQL_BYTES) return sql;
  return sql.slice(0, MAX_SQL_BYTES) + TRUNCATED_MARK;
}

/**
 * Longest plan text carried in a record or an alert (UTF-16 units); longer text is cut and marked. A PostgreSQL
 * plan of a dozen joins is about 3,000 characters in text format and 15,000 in JSON: the top of the plan, where
 * the costly nodes are, is what is kept.
 */
export const MAX_PLAN_CHARS = 8192;
/** what marks a plan cut by boundPlan */
export const PLAN_TRUNCATED_MARK = '\n… (plan truncated)';

export function boundPlan(plan: string): string {
  if (plan.length <= MAX_PLAN_CHARS) return plan;
  return plan.slice(0, MAX_PLAN_CHARS) + PLAN_TRUNCATED_MARK;
}

/**
 * Stamps wire records in place with what their batch says (source, stream, the seq of the first): no copy, the
 * same objects become the records the rules read.
 */
export function stampRecords(recs: WireRecord[], source: string, stream: string, first: number): QueryRecord[] {
  const out = recs as QueryRecord[];
  for (let i = 0; i < out.length; i++) {
    const r = out[i]!;
    r.source = source;
    r.stream = stream;
    r.seq = first + i;
  }
  return out;
}

/** The fields of a parsed event that travel (offsets and parser state stay with the reader). */
export function toWire(e: ParsedEvent): WireRecord {
  const r: WireRecord = {
    state: e.state,
    queryId: e.queryId,
    ts: e.ts,
    durationMs: e.durationMs,
    sql: e.sql,
    fingerprint: e.fingerprint,
    fingerprintId: e.fingerprintId,
  };
  if (e.user !== undefined) r.user = e.user;
  if (e.db !== undefined) r.db = e.db;
  if (e.host !== undefined) r.host = e.host;
  if (e.lockMs !== undefined) r.lockMs = e.lockMs;
  if (e.rowsSent !== undefined) r.rowsSent = e.rowsSent;
  if (e.rowsExamined !== undefined) r.rowsExamined = e.rowsExamined;
  if (e.labels !== undefined) r.labels = e.labels;
  if (e.plan !== undefined) r.plan = e.plan;
  if (e.planFacts !== undefined) r.planFacts = e.planFacts;
  if (e.kind !== undefined) r.kind = e.kind;
  if (e.calls !== undefined) r.calls = e.calls;
  return r;
}
