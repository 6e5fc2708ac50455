import { prng } from './prng.js';

// A deterministic, realistic A/B workload in slowq's native JSON-lines format: many fast finished
// queries, some slow ones, and long runners observed while running (some finish under the running
// threshold, some cross it and then finish, some go silent). Used by `slowq demo`, tests and benchmarks.
// Same seed → same lines, so the oracle can be computed from the file.

export interface JsonlRecord {
  ts: number;
  state: 'running' | 'finished';
  id: string;
  duration_ms: number;
  sql: string;
  db: string;
  user: string;
}

export interface WorkloadOptions {
  seed?: number;
  /** event time of the first record (ms since epoch) */
  startTs?: number;
  /** mean event-time gap between consecutive records, ms */
  meanGapMs?: number;
  /** how often a running query is observed (probe interval), ms */
  observeEveryMs?: number;
  /** ids are prefixed with this (keep ids unique per source) */
  idPrefix?: string;
}

const TABLES = ['orders', 'customers', 'order_items', 'products', 'payments', 'sessions', 'inventory', 'audit_log'];
const DBS = ['shop', 'billing', 'analytics'];
const USERS = ['app', 'reporting', 'batch', 'admin'];

interface Running {
  id: string;
  start: number;
  /** total duration; Infinity for one that will go silent */
  total: number;
  /** event time it goes silent (for the vanishing ones) */
  silentAt: number;
  nextObs: number;
  sql: string;
  db: string;
  user: string;
}

export class WorkloadGenerator {
  private readonly rand: () => number;
  private now: number;
  private n = 0;
  private readonly running: Running[] = [];
  private readonly meanGap: number;
  private readonly observeEvery: number;
  private readonly prefix: string;

  constructor(opts: WorkloadOptions = {}) {
    this.rand = prng(opts.seed ?? 1);
    this.now = opts.startTs ?? Date.UTC(2026, 10, 22, 6, 0, 0);
    this.meanGap = opts.meanGapMs ?? 20;
    this.observeEvery = opts.observeEveryMs ?? 1000;
    this.prefix = opts.idPrefix ?? 'q';
  }

  /** Current event time. */
  get time(): number {
    return this.now;
  }

  /** The next record (event time never goes backwards). */
  next(): JsonlRecord {
    // a due observation or completion of a running query comes first
    for (let i = 0; i < this.running.length; i++) {
      const r = this.running[i]!;
      if (r.nextObs > this.now) continue;
      const elapsed = r.nextObs - r.start;
      if (elapsed >= r.total) {
        this.running.splice(i, 1);
        return this.record(r, 'finished', r.total, r.start + r.total);
      }
      if (r.nextObs >= r.silentAt) {
        this.running.splice(i, 1); // goes silent: no more records for it
        i--;
        continue;
      }
      r.nextObs += this.observeEvery;
      return this.record(r, 'running', elapsed, r.nextObs - this.observeEvery);
    }
    this.now += Math.max(1, Math.round(-Math.log(1 - this.rand()) * this.meanGap));
    const p = this.rand();
    if (p < 0.03 && this.running.length < 200) {
      const r = this.startRunning();
      return this.record(r, 'running', 0, this.now);
    }
    const id = `${this.prefix}${++this.n}`;
    const slow = p < 0.13;
    const dur = slow ? 1000 + Math.round(this.rand() * 40_000) : Math.round(this.rand() * 900 * 1000) / 1000;
    const { sql, db, user } = this.statement();
    return { ts: this.now, state: 'finished', id, duration_ms: dur, sql, db, user };
  }

  private startRunning(): Running {
    const kind = this.rand();
    // 40% finish under 10 s, 45% cross it and finish, 15% go silent after crossing or not
    const total = kind < 0.4 ? 2000 + this.rand() * 7000 : kind < 0.85 ? 10_000 + this.rand() * 50_000 : Infinity;
    const silentAt = total === Infinity ? this.now + 3000 + this.rand() * 20_000 : Infinity;
    const { sql, db, user } = this.statement(true);
    const r: Running = { id: `${this.prefix}${++this.n}`, start: this.now, total: Math.round(total), silentAt, nextObs: this.now + this.observeEvery, sql, db, user };
    this.running.push(r);
    return r;
  }

  private record(r: Running, state: 'running' | 'finished', duration: number, ts: number): JsonlRecord {
    return { ts, state, id: r.id, duration_ms: Math.round(duration), sql: r.sql, db: r.db, user: r.user };
  }

  private pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.rand() * list.length)]!;
  }

  private statement(heavy = false): { sql: string; db: string; user: string } {
    const t = this.pick(TABLES);
    const id = Math.floor(this.rand() * 1_000_000);
    const k = Math.floor(this.rand() * (heavy ? 3 : 6));
    let sql: string;
    switch (k) {
      case 0: sql = `SELECT c.id, count(*) FROM ${t} c JOIN order_items oi ON oi.order_id = c.id WHERE c.created_at > '2026-0${1 + (id % 9)}-01' GROUP BY c.id ORDER BY 2 DESC`; break;
      case 1: sql = `UPDATE ${t} SET status = 'archived' WHERE updated_at < '2025-01-01' AND status IN ('done', 'cancelled')`; break;
      case 2: sql = `SELECT * FROM ${t} WHERE note LIKE '%${id % 97}%' ORDER BY id LIMIT 100`; break;
      case 3: sql = `SELECT * FROM ${t} WHERE id = ${id}`; break;
      case 4: sql = `INSERT INTO ${t} (id, payload) VALUES (${id}, 'x${id}'), (${id + 1}, 'y${id}')`; break;
      default: sql = `DELETE FROM ${t} WHERE id IN (${id}, ${id + 7}, ${id + 13})`;
    }
    return { sql, db: this.pick(DBS), user: this.pick(USERS) };
  }
}

/** `count` records as JSON lines. */
export function generateLines(count: number, opts: WorkloadOptions = {}): string[] {
  const g = new WorkloadGenerator(opts);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) lines.push(JSON.stringify(g.next()));
  return lines;
}
