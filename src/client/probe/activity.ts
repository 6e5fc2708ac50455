import type { StatementStatsSnapshot } from './statement-stats.js';

// What a database tells the probe about its sessions, one snapshot per poll. One ActivitySource per database
// kind (PostgreSQL pg_stat_activity, MariaDB/MySQL processlist); the diffing in diff.ts knows nothing of drivers.

/** A statement a session is executing right now. */
export interface RunningStatement {
  /** the session: PostgreSQL backend pid, MariaDB/MySQL thread id */
  session: string;
  /**
   * Tells executions within one session apart, as exactly as the server allows: PostgreSQL query_start in µs,
   * MariaDB QUERY_ID; MySQL without QUERY_ID: the statement text.
   */
  execution: string;
  /** start of the statement, ms since epoch by the server's clock (fractional ms allowed) */
  startMs: number;
  /** elapsed at the snapshot */
  elapsedMs: number;
  sql: string;
  db?: string;
  user?: string;
  host?: string;
}

/** A session that is idle now, and when its last statement ended. */
export interface IdleSession {
  session: string;
  /** the `execution` of the statement it finished last, '' when the server does not say */
  lastExecution: string;
  /** when that statement ended, ms since epoch by the server's clock */
  endMs: number;
}

export interface ActivitySnapshot {
  /** the server's clock when the snapshot was taken, ms since epoch */
  nowMs: number;
  running: RunningStatement[];
  /** idle sessions among those asked about (see ActivitySource.snapshot) */
  idle: IdleSession[];
}

export interface ActivitySource {
  /** e.g. "postgres://app@db1:5432/shop" without the password, for log messages */
  readonly description: string;
  connect(): Promise<void>;
  /**
   * Running statements of every other client session; and, for the sessions in `watch` (those whose statements
   * the caller is tracking), whether they are idle now and since when, so a statement's end can be told exactly.
   */
  snapshot(watch: ReadonlySet<string>): Promise<ActivitySnapshot>;
  /**
   * The server's cumulative per-statement statistics (statement-stats.ts), or why they cannot be read (an
   * extension or setting missing: said in words an operator can act on). Asked again each stats interval, so
   * turning them on later works without a restart.
   */
  statementStats(): Promise<StatementStatsSnapshot | StatsUnavailable>;
  /** close the connection; safe when not connected or already broken */
  close(): Promise<void>;
}

export interface StatsUnavailable {
  unavailable: string;
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}
