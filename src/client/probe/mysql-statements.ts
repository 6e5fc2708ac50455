// performance_schema.events_statements_summary_by_digest as a StatementStatsSnapshot (see statement-stats.ts).
// Needs performance_schema=ON (a server restart; MariaDB has it off by default) with the statements_digest
// consumer enabled (the default when it is on), and SELECT on performance_schema for the probe's user.
// Times are in picoseconds. TRUNCATE of the table (or a full one evicting) makes rows anew: statement-stats.ts
// counts a row not listed at the previous poll from zero.

import type mysql from 'mysql2/promise';
import { boundSql } from '../../model/record.js';
import type { StatementCounters, StatementStatsSnapshot } from './statement-stats.js';

interface DigestRow {
  NOW_MS: string | number;
  SCHEMA_NAME: string | null;
  DIGEST: string | null;
  DIGEST_TEXT: string | Buffer | null;
  CALLS: string | number;
  TOTAL_MS: string | number;
  ROWS_N: string | number;
}

/** Why the digest summary cannot be read here, in words an operator can act on; undefined when it can. */
export async function digestSummaryProblem(conn: mysql.Connection): Promise<string | undefined> {
  const [ps] = await conn.query('SELECT @@performance_schema AS on_');
  if (Number((ps as Array<{ on_: number | string }>)[0]?.on_ ?? 0) !== 1) {
    return 'performance_schema is OFF (set performance_schema=ON in the server configuration and restart it)';
  }
  const [consumer] = await conn.query("SELECT ENABLED FROM performance_schema.setup_consumers WHERE NAME = 'statements_digest'");
  if ((consumer as Array<{ ENABLED: string }>)[0]?.ENABLED !== 'YES') {
    return "the statements_digest consumer is disabled (UPDATE performance_schema.setup_consumers SET ENABLED = 'YES' WHERE NAME = 'statements_digest')";
  }
  return undefined;
}

const SQL =
  'SELECT n.NOW_MS, d.* FROM (SELECT UNIX_TIMESTAMP(NOW(6)) * 1000 AS NOW_MS) n LEFT JOIN (' +
  'SELECT SCHEMA_NAME, DIGEST, DIGEST_TEXT, COUNT_STAR AS CALLS, SUM_TIMER_WAIT / 1000000000 AS TOTAL_MS, ' +
  'SUM_ROWS_SENT + SUM_ROWS_AFFECTED AS ROWS_N ' +
  'FROM performance_schema.events_statements_summary_by_digest WHERE DIGEST IS NOT NULL' +
  ') d ON 1 = 1';

/** Reads every digest row. */
export async function readDigestSummary(conn: mysql.Connection): Promise<StatementStatsSnapshot> {
  const [result] = await conn.query(SQL);
  const rows = result as DigestRow[];
  const nowMs = rows.length > 0 ? Math.round(Number(rows[0]!.NOW_MS)) : Date.now();
  const entries: StatementCounters[] = [];
  for (const r of rows) {
    if (r.DIGEST === null) continue; // the LEFT JOIN's empty row
    const text = r.DIGEST_TEXT === null ? '' : typeof r.DIGEST_TEXT === 'string' ? r.DIGEST_TEXT : r.DIGEST_TEXT.toString('utf8');
    const e: StatementCounters = {
      key: `${r.SCHEMA_NAME ?? ''}/${r.DIGEST}`,
      serverQueryId: r.DIGEST,
      text: boundSql(text),
      calls: Number(r.CALLS),
      totalMs: Number(r.TOTAL_MS),
      rows: Number(r.ROWS_N),
    };
    if (r.SCHEMA_NAME !== null && r.SCHEMA_NAME !== '') e.db = r.SCHEMA_NAME;
    entries.push(e);
  }
  return { nowMs, entries };
}
