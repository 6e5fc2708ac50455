// ActivitySource for MariaDB (and, more coarsely, MySQL): information_schema.PROCESSLIST.
//
// MariaDB has TIME_MS (elapsed with µs precision, from a monotonic clock) and QUERY_ID (a server-wide statement
// counter, still shown on the idle row after the statement ends, where TIME_MS then counts the idle time).
// So: start = NOW(6) - TIME_MS (within a fraction of a ms of the server's own start time), executions told
// apart by QUERY_ID, and the end of a tracked statement is exact when its thread is idle with the same QUERY_ID.
// MySQL has neither column: elapsed and start are then whole seconds (TIME) and the statement text tells
// executions apart.

import mysql from 'mysql2/promise';
import { redactUrl, type ActivitySnapshot, type ActivitySource, type IdleSession, type RunningStatement, type StatsUnavailable } from './activity.js';
import { digestSummaryProblem, readDigestSummary } from './mysql-statements.js';
import type { StatementStatsSnapshot } from './statement-stats.js';

interface ProcessRow {
  NOW_S: string;
  ID: number | string | null;
  USER: string | null;
  HOST: string | null;
  DB: string | null;
  COMMAND: string | null;
  TIME: number | string | null;
  TIME_MS?: string | number | null;
  QUERY_ID?: number | string | null;
  INFO: string | Buffer | null;
}

export class MysqlActivitySource implements ActivitySource {
  readonly description: string;
  private conn: mysql.Connection | undefined;
  private broken: Error | undefined;
  private hasTimeMs = false;
  private hasQueryId = false;
  private statementsReady = false;

  constructor(
    private readonly url: string,
    private readonly connectTimeoutMs = 10_000,
  ) {
    this.description = redactUrl(url);
  }

  async connect(): Promise<void> {
    await this.close();
    this.broken = undefined;
    const conn = await mysql.createConnection({ uri: this.url, connectTimeout: this.connectTimeoutMs, dateStrings: true });
    // A lost connection emits 'error': without a listener that would crash the process.
    conn.on('error', (err: Error) => {
      this.broken = err;
    });
    try {
      const [cols] = await conn.query(
        "SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'information_schema' AND TABLE_NAME = 'PROCESSLIST'",
      );
      const names = new Set((cols as Array<{ c: string }>).map((r) => String(r.c).toUpperCase()));
      this.hasTimeMs = names.has('TIME_MS');
      this.hasQueryId = names.has('QUERY_ID');
    } catch (err) {
      await conn.end().catch(() => {});
      throw err;
    }
    this.conn = conn;
  }

  async snapshot(watch: ReadonlySet<string>): Promise<ActivitySnapshot> {
    const conn = this.conn;
    if (!conn) throw new Error('not connected');
    if (this.broken) throw this.broken;
    const ids: number[] = [];
    for (const s of watch) {
      const n = Number(s);
      if (Number.isSafeInteger(n)) ids.push(n);
    }
    const extra = (this.hasTimeMs ? ', TIME_MS' : '') + (this.hasQueryId ? ', QUERY_ID' : '');
    const idle = ids.length > 0 ? ` OR (COMMAND = 'Sleep' AND ID IN (${ids.join(',')}))` : '';
    // The one-row derived table gives the server's time even when no thread matches.
    const sql =
      'SELECT n.NOW_S, p.* FROM (SELECT UNIX_TIMESTAMP(NOW(6)) AS NOW_S) n LEFT JOIN (' +
      `SELECT ID, USER, HOST, DB, COMMAND, TIME${extra}, INFO FROM information_schema.PROCESSLIST ` +
      `WHERE ID <> CONNECTION_ID() AND (COMMAND IN ('Query', 'Execute')${idle})` +
      ') p ON 1 = 1';
    const [rows] = await conn.query(sql);
    return this.toSnapshot(rows as ProcessRow[]);
  }

  private toSnapshot(rows: ProcessRow[]): ActivitySnapshot {
    const nowMs = rows.length > 0 ? secondsTextToMs(String(rows[0].NOW_S)) : Date.now();
    const running: RunningStatement[] = [];
    const idle: IdleSession[] = [];
    for (const r of rows) {
      if (r.ID === null || r.COMMAND === null) continue; // the LEFT JOIN's empty row
      const session = String(r.ID);
      const elapsedMs = this.hasTimeMs ? Number(r.TIME_MS ?? 0) : Number(r.TIME ?? 0) * 1000;
      if (r.COMMAND === 'Sleep') {
        idle.push({
          session,
          lastExecution: this.hasQueryId && r.QUERY_ID != null ? String(r.QUERY_ID) : '',
          endMs: nowMs - elapsedMs,
        });
        continue;
      }
      const sql = r.INFO === null ? '' : typeof r.INFO === 'string' ? r.INFO : r.INFO.toString('utf8');
      const st: RunningStatement = {
        session,
        execution: this.hasQueryId && r.QUERY_ID != null ? String(r.QUERY_ID) : sql,
        startMs: nowMs - elapsedMs,
        elapsedMs,
        sql,
      };
      if (r.DB !== null && r.DB !== '') st.db = r.DB;
      if (r.USER !== null) st.user = r.USER;
      const host = hostWithoutPort(r.HOST);
      if (host) st.host = host;
      running.push(st);
    }
    return { nowMs, running, idle };
  }

  async statementStats(): Promise<StatementStatsSnapshot | StatsUnavailable> {
    const conn = this.conn;
    if (!conn) throw new Error('not connected');
    if (this.broken) throw this.broken;
    if (!this.statementsReady) {
      const problem = await digestSummaryProblem(conn);
      if (problem !== undefined) return { unavailable: problem };
      this.statementsReady = true;
    }
    return readDigestSummary(conn);
  }

  async close(): Promise<void> {
    const conn = this.conn;
    this.conn = undefined;
    this.statementsReady = false;
    if (!conn) return;
    if (this.broken) conn.destroy();
    else await conn.end().catch(() => conn.destroy());
  }
}

/** "1795328198.728032" → ms, the whole seconds kept exact (no float rounding across a second boundary). */
export function secondsTextToMs(text: string): number {
  const dot = text.indexOf('.');
  if (dot < 0) return Number(text) * 1000;
  const whole = Number(text.slice(0, dot));
  const frac = Number('0' + text.slice(dot));
  return whole * 1000 + frac * 1000;
}

/** PROCESSLIST HOST is "host:port" for TCP clients; the slow log shows the host alone. */
function hostWithoutPort(host: string | null): string | undefined {
  if (host === null || host === '') return undefined;
  const m = /^(.*):(\d+)$/.exec(host);
  return m ? m[1] : host;
}
