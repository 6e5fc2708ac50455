// ActivitySource for PostgreSQL: pg_stat_activity, client backends other than our own.
// query_start is exact (µs); an idle backend still shows its last statement with state_change = when it ended,
// so a tracked statement's duration is exact when the backend has not started another one meanwhile.

import pg from 'pg';
import { redactUrl, type ActivitySnapshot, type ActivitySource, type IdleSession, type RunningStatement, type StatsUnavailable } from './activity.js';
import { pgStatStatementsProblem, PgStatStatementsReader } from './postgres-statements.js';
import type { StatementStatsSnapshot } from './statement-stats.js';

// Times come back as integer µs since epoch (bigint as text), so no float rounding touches the ids.
// The one-row `now` is evaluated before the activity snapshot is read: a statement that starts in between has a
// (tiny) negative elapsed, clamped to 0 below.
const ACTIVITY_SQL = `
SELECT n.now_us, a.pid, a.usename, a.datname, a.client_addr, a.query, a.state, a.start_us, a.change_us
FROM (SELECT floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS now_us) n
LEFT JOIN LATERAL (
  SELECT pid, usename, datname, host(client_addr) AS client_addr, query, state,
         floor(extract(epoch FROM query_start) * 1000000)::bigint AS start_us,
         floor(extract(epoch FROM state_change) * 1000000)::bigint AS change_us
  FROM pg_stat_activity
  WHERE pid <> pg_backend_pid()
    AND backend_type = 'client backend'
    AND query_start IS NOT NULL
    AND (state = 'active' OR pid = ANY($1::int[]))
) a ON true`;

interface ActivityRow {
  now_us: string;
  pid: number | null;
  usename: string | null;
  datname: string | null;
  client_addr: string | null;
  query: string | null;
  state: string | null;
  start_us: string | null;
  change_us: string | null;
}

export class PostgresActivitySource implements ActivitySource {
  readonly description: string;
  private client: pg.Client | undefined;
  private broken: Error | undefined;
  private readonly statements = new PgStatStatementsReader();
  private statementsReady = false;

  constructor(
    private readonly url: string,
    private readonly connectTimeoutMs = 10_000,
  ) {
    this.description = redactUrl(url);
  }

  async connect(): Promise<void> {
    await this.close();
    const client = new pg.Client({
      connectionString: this.url,
      connectionTimeoutMillis: this.connectTimeoutMs,
      application_name: 'slowq probe',
    });
    // A lost connection emits 'error' on an idle client: without a listener that would crash the process.
    client.on('error', (err) => {
      this.broken = err;
    });
    this.broken = undefined;
    this.client = client;
    try {
      await client.connect();
    } catch (err) {
      this.client = undefined;
      await client.end().catch(() => {});
      throw err;
    }
  }

  async snapshot(watch: ReadonlySet<string>): Promise<ActivitySnapshot> {
    const client = this.client;
    if (!client) throw new Error('not connected');
    if (this.broken) throw this.broken;
    const pids: number[] = [];
    for (const s of watch) {
      const n = Number(s);
      if (Number.isSafeInteger(n)) pids.push(n);
    }
    const res = await client.query<ActivityRow>(ACTIVITY_SQL, [pids]);
    const rows = res.rows;
    const nowMs = rows.length > 0 ? Number(rows[0].now_us) / 1000 : Date.now();
    const running: RunningStatement[] = [];
    const idle: IdleSession[] = [];
    for (const r of rows) {
      if (r.pid === null || r.start_us === null) continue; // the LEFT JOIN's empty row
      const session = String(r.pid);
      const startMs = Number(r.start_us) / 1000;
      if (r.state === 'active') {
        const st: RunningStatement = {
          session,
          execution: r.start_us,
          startMs,
          elapsedMs: Math.max(0, nowMs - startMs),
          sql: r.query ?? '',
        };
        if (r.datname !== null) st.db = r.datname;
        if (r.usename !== null) st.user = r.usename;
        if (r.client_addr !== null) st.host = r.client_addr;
        running.push(st);
      } else if (r.change_us !== null) {
        idle.push({ session, lastExecution: r.start_us, endMs: Number(r.change_us) / 1000 });
      }
    }
    return { nowMs, running, idle };
  }

  async statementStats(): Promise<StatementStatsSnapshot | StatsUnavailable> {
    const client = this.client;
    if (!client) throw new Error('not connected');
    if (this.broken) throw this.broken;
    if (!this.statementsReady) {
      const problem = await pgStatStatementsProblem(client);
      if (problem !== undefined) return { unavailable: problem };
      this.statementsReady = true;
    }
    return this.statements.read(client);
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.statementsReady = false;
    if (client) await client.end().catch(() => {});
  }
}
