// pg_stat_statements as a StatementStatsSnapshot (see statement-stats.ts). Needs the extension loaded
// (shared_preload_libraries = 'pg_stat_statements', then CREATE EXTENSION pg_stat_statements) and, for other
// users' statement texts, a probe role with pg_read_all_stats. Columns differ by version: total_exec_time
// (13+; total_time before), toplevel and pg_stat_statements_info.stats_reset (14+).

import type pg from 'pg';
import { boundSql } from '../../model/record.js';
import type { StatementCounters, StatementStatsSnapshot } from './statement-stats.js';

interface Columns {
  totalTime: string;
  toplevel: boolean;
  info: boolean;
}

interface StatementRow {
  now_ms: string;
  userid: string;
  dbid: string;
  queryid: string;
  query: string | null;
  rolname: string | null;
  datname: string | null;
  calls: string;
  total_ms: number;
  rows: string;
}

/** Why pg_stat_statements cannot be read here, in words an operator can act on; undefined when it can. */
export async function pgStatStatementsProblem(client: pg.Client): Promise<string | undefined> {
  const ext = await client.query<{ n: string }>("SELECT count(*) AS n FROM pg_extension WHERE extname = 'pg_stat_statements'");
  if (Number(ext.rows[0]?.n ?? 0) === 0) return 'the pg_stat_statements extension is not created in this database (CREATE EXTENSION pg_stat_statements)';
  const lib = await client.query<{ v: string }>("SELECT current_setting('shared_preload_libraries') AS v");
  if (!/(^|[\s,])pg_stat_statements($|[\s,])/.test(lib.rows[0]?.v ?? '')) {
    return "pg_stat_statements is not in shared_preload_libraries (add it and restart PostgreSQL)";
  }
  return undefined;
}

async function columns(client: pg.Client): Promise<Columns> {
  const res = await client.query<{ c: string }>(
    "SELECT attname AS c FROM pg_attribute WHERE attrelid = 'pg_stat_statements'::regclass AND attnum > 0 AND NOT attisdropped",
  );
  const names = new Set(res.rows.map((r) => r.c));
  const info = await client.query<{ n: string }>("SELECT count(*) AS n FROM pg_class WHERE relname = 'pg_stat_statements_info'");
  return {
    totalTime: names.has('total_exec_time') ? 'total_exec_time' : 'total_time',
    toplevel: names.has('toplevel'),
    info: Number(info.rows[0]?.n ?? 0) > 0,
  };
}

const epochMs = (expr: string): string => `floor(extract(epoch FROM ${expr}) * 1000)::bigint`;

/** Reads every top-level statement class with a query id. */
export class PgStatStatementsReader {
  private cols: Columns | undefined;

  async read(client: pg.Client): Promise<StatementStatsSnapshot> {
    const c = (this.cols ??= await columns(client));
    const sql =
      `SELECT ${epochMs('clock_timestamp()')} AS now_ms, s.userid::text, s.dbid::text, s.queryid::text, s.query, ` +
      `r.rolname, d.datname, s.calls::text, s.${c.totalTime}::float8 AS total_ms, s.rows::text ` +
      'FROM pg_stat_statements s LEFT JOIN pg_roles r ON r.oid = s.userid LEFT JOIN pg_database d ON d.oid = s.dbid ' +
      `WHERE s.queryid IS NOT NULL${c.toplevel ? ' AND s.toplevel' : ''}`;
    const res = await client.query<StatementRow>(sql);
    let resetMs: number | undefined;
    if (c.info) {
      const info = await client.query<{ reset_ms: string | null }>(`SELECT ${epochMs('stats_reset')} AS reset_ms FROM pg_stat_statements_info`);
      const v = info.rows[0]?.reset_ms;
      if (v !== null && v !== undefined) resetMs = Number(v);
    }
    let nowMs = Date.now();
    const entries: StatementCounters[] = [];
    for (const r of res.rows) {
      nowMs = Number(r.now_ms);
      const e: StatementCounters = {
        key: `${r.userid}/${r.dbid}/${r.queryid}`,
        serverQueryId: r.queryid,
        text: boundSql(r.query ?? ''),
        calls: Number(r.calls),
        totalMs: r.total_ms,
        rows: Number(r.rows),
      };
      if (r.datname !== null) e.db = r.datname;
      if (r.rolname !== null) e.user = r.rolname;
      entries.push(e);
    }
    if (res.rows.length === 0) {
      const now = await client.query<{ now_ms: string }>(`SELECT ${epochMs('clock_timestamp()')} AS now_ms`);
      nowMs = Number(now.rows[0]?.now_ms ?? nowMs);
    }
    const snap: StatementStatsSnapshot = { nowMs, entries };
    if (resetMs !== undefined) snap.resetMs = resetMs;
    return snap;
  }
}
