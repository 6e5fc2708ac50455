import { closeSync, openSync, writeSync } from 'node:fs';
import { prng } from './prng.js';

// A deterministic, realistic MySQL slow query log writer, for benchmarks and tests. Two flavours:
//  - mysql (MySQL 5.7/8.0): `# Time:` in ISO form with microseconds on every entry, `# User@Host: … Id: N`,
//    `# Query_time: … Lock_time: … Rows_sent: … Rows_examined: …`;
//  - mariadb (and MySQL ≤ 5.6, Percona): `# Time: YYMMDD H:MM:SS` only when the second changes, a
//    `# Thread_id: N  Schema: db  QC_hit: No` line, and `# Rows_affected: … Bytes_sent: …` after Query_time.
// Both write `use db;` when a thread's database changes, `SET timestamp=<start second>;`, and a statement
// ending in `;` (some span several lines, some carry comments, quoted strings with escapes, IN lists,
// multi-row inserts; now and then `# administrator command: Quit;`). Literals vary, as in real logs, so
// no cache of statement texts hides the cost of fingerprinting. Same seed → same bytes.

export type MySqlSlowFlavor = 'mysql' | 'mariadb';

export interface MySqlSlowLogOptions {
  seed?: number;
  flavor?: MySqlSlowFlavor;
  /** event time of the first entry (ms since epoch) */
  startTs?: number;
  /** mean event-time gap between consecutive entries, ms (default 0.2: 5,000 queries per second) */
  meanGapMs?: number;
  /** share of entries at or above 1 s (they alert as slow_query with the default rules; default 0.02) */
  slowFraction?: number;
  /** connection threads the statements come from (default 8192); a thread runs one statement at a time */
  threads?: number;
  /** write the server's start-up banner first (default true) */
  banner?: boolean;
}

/** One entry: its text (every line, each ending in "\n") and what the parser will make of it. */
export interface MySqlSlowEntry {
  text: string;
  /** the statement as the parser reports it (lines joined by "\n", the final `;` dropped) */
  sql: string;
  durationMs: number;
  /** event time: when the statement ended (what `# Time:` says) */
  ts: number;
  slow: boolean;
}

const TABLES = ['orders', 'customers', 'order_items', 'products', 'payments', 'sessions', 'inventory', 'audit_log', 'shipments', 'carts'];
const DBS = ['shop', 'billing', 'analytics', 'crm'];
const USERS: Array<[string, string, string]> = [
  ['app', 'app-01.internal', '10.0.3.17'],
  ['app', 'app-02.internal', '10.0.3.18'],
  ['reporting', 'bi.internal', '10.0.9.4'],
  ['batch', 'localhost', ''],
  ['root', 'localhost', '127.0.0.1'],
];
const STATUSES = ['new', 'paid', 'shipped', 'done', 'cancelled', 'refunded'];
const NAMES = ["O'Brien", 'Müller', 'Smith', 'Nakamura', 'García', 'Dubois', 'Kowalski', 'Rossi'];

const pad2 = (n: number): string => (n < 10 ? '0' + n : String(n));

function isoMicros(ms: number, micros: number): string {
  // 2026-11-22T06:00:00.123456Z
  const iso = new Date(ms).toISOString();
  return iso.slice(0, 19) + '.' + String(micros).padStart(6, '0') + 'Z';
}

function mariaTime(ms: number): string {
  // 261122  6:00:00 (hour not zero-padded, so it takes two spaces after the date)
  const d = new Date(ms);
  const date = pad2(d.getUTCFullYear() % 100) + pad2(d.getUTCMonth() + 1) + pad2(d.getUTCDate());
  const h = d.getUTCHours();
  return `${date} ${h < 10 ? ' ' + h : h}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
}

function seconds6(ms: number): string {
  return (ms / 1000).toFixed(6);
}

export class MySqlSlowLogGenerator {
  private readonly rand: () => number;
  private readonly flavor: MySqlSlowFlavor;
  private readonly meanGap: number;
  private readonly slowFraction: number;
  private readonly threadDb: string[];
  /** per thread: when its last statement ended (ms), so a thread's statements never overlap */
  private readonly threadFree: number[];
  private now: number;
  private lastSecond = -1;
  private n = 0;

  constructor(opts: MySqlSlowLogOptions = {}) {
    this.rand = prng(opts.seed ?? 1);
    this.flavor = opts.flavor ?? 'mysql';
    this.meanGap = opts.meanGapMs ?? 0.2;
    this.slowFraction = opts.slowFraction ?? 0.02;
    this.now = opts.startTs ?? Date.UTC(2026, 10, 22, 6, 0, 0);
    this.threadDb = new Array<string>(Math.max(2, opts.threads ?? 8192)).fill('');
    this.threadFree = new Array<number>(this.threadDb.length).fill(0);
  }

  /** The start-up banner a server writes when it opens its slow log. */
  banner(): string {
    const version = this.flavor === 'mysql' ? '8.0.36 (MySQL Community Server - GPL)' : '10.11.6-MariaDB-0+deb12u1-log (Debian 12)';
    return `/usr/sbin/mysqld, Version: ${version}. started with:\n` +
      'Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock\n' +
      'Time                 Id Command    Argument\n';
  }

  /** Current event time (ms). */
  get time(): number {
    return this.now;
  }

  next(): MySqlSlowEntry {
    const r = this.rand;
    this.n++;
    this.now += -Math.log(1 - r()) * this.meanGap;
    const endMs = Math.floor(this.now);
    const micros = Math.floor((this.now - endMs) * 1000) + (endMs % 1000) * 1000;
    const slow = r() < this.slowFraction;
    // fast: mostly a few ms, a long tail to ~900 ms; slow: 1 s … 60 s
    const durationMs = slow ? 1000 + r() * r() * 59_000 : r() < 0.9 ? r() * 20 : 20 + r() * 880;
    const thread = this.freeThread(endMs - durationMs, endMs, slow);
    const [user, host, ip] = USERS[Math.floor(r() * USERS.length)]!;
    const db = DBS[Math.floor(r() * DBS.length)]!;
    const startSec = Math.floor((endMs - durationMs) / 1000);
    const lock = r() < 0.7 ? r() * 0.2 : r() * 50;
    const { sql, text: stmt, rowsSent, rowsExamined } = this.statement();

    let text = '';
    const second = Math.floor(endMs / 1000);
    if (this.flavor === 'mysql') {
      text += `# Time: ${isoMicros(endMs, micros % 1_000_000)}\n`;
      text += `# User@Host: ${user}[${user}] @ ${host} [${ip}]  Id: ${String(thread).padStart(5)}\n`;
      text += `# Query_time: ${seconds6(durationMs)}  Lock_time: ${seconds6(lock)} Rows_sent: ${rowsSent}  Rows_examined: ${rowsExamined}\n`;
    } else {
      // MariaDB stamps the second the statement started, once per second
      if (startSec !== this.lastSecond) text += `# Time: ${mariaTime(startSec * 1000)}\n`;
      text += `# User@Host: ${user}[${user}] @ ${host} [${ip}]\n`;
      text += `# Thread_id: ${thread}  Schema: ${db}  QC_hit: No\n`;
      text += `# Query_time: ${seconds6(durationMs)}  Lock_time: ${seconds6(lock)}  Rows_sent: ${rowsSent}  Rows_examined: ${rowsExamined}\n`;
      text += `# Rows_affected: ${sql.startsWith('SELECT') ? 0 : Math.floor(r() * 5)}  Bytes_sent: ${60 + rowsSent * 37}\n`;
    }
    this.lastSecond = this.flavor === 'mysql' ? second : startSec;
    if (this.threadDb[thread - 1] !== db) {
      this.threadDb[thread - 1] = db;
      text += `use ${db};\n`;
    }
    text += `SET timestamp=${startSec};\n`;
    text += stmt;
    const ms = Number(seconds6(durationMs)) * 1000;
    return { text, sql, durationMs: ms, ts: this.flavor === 'mysql' ? endMs : startSec * 1000 + ms, slow };
  }

  /**
   * A thread idle from `start` to `end` (a connection runs one statement at a time, which is what makes the
   * parser's thread + start-second query ids unique); the least busy of a few random picks if none is.
   * Entries come in end order, so a slow statement needs a thread idle for its whole duration: slow ones take
   * threads from the first half, fast ones from the second, as a pool of long-running jobs would.
   */
  private freeThread(start: number, end: number, slow: boolean): number {
    const half = this.threadFree.length >> 1;
    const from = slow ? 0 : half;
    const size = slow ? half : this.threadFree.length - half;
    let best = from;
    for (let i = 0; i < 32; i++) {
      const t = from + Math.floor(this.rand() * size);
      if (this.threadFree[t]! <= start) {
        best = t;
        break;
      }
      if (this.threadFree[t]! < this.threadFree[best]!) best = t;
    }
    this.threadFree[best] = Math.max(this.threadFree[best]!, end);
    return best + 1;
  }

  /** A statement: `text` as written (ending in ";\n"), `sql` as the parser reports it. */
  private statement(): { sql: string; text: string; rowsSent: number; rowsExamined: number } {
    const r = this.rand;
    const t = TABLES[Math.floor(r() * TABLES.length)]!;
    const id = Math.floor(r() * 10_000_000);
    const k = r();
    let sql: string;
    let rowsSent = 0;
    let rowsExamined = 1;
    if (k < 0.3) {
      sql = `SELECT * FROM ${t} WHERE id = ${id}`;
      rowsSent = 1;
    } else if (k < 0.45) {
      const status = STATUSES[Math.floor(r() * STATUSES.length)]!;
      sql = `SELECT id, customer_id, total FROM ${t} WHERE status = '${status}' AND created_at > '2026-${pad2(1 + (id % 12))}-${pad2(1 + (id % 28))} 00:00:00' ORDER BY created_at DESC LIMIT ${10 * (1 + (id % 10))}`;
      rowsSent = 10 + (id % 90);
      rowsExamined = rowsSent * 40;
    } else if (k < 0.55) {
      // multi-line, as ORMs and people format them
      sql = `SELECT c.id, c.name, count(o.id) AS orders, sum(o.total) AS spent\nFROM customers c\n  JOIN ${t} o ON o.customer_id = c.id\nWHERE c.region IN (${id % 7}, ${(id % 7) + 3}, ${(id % 7) + 9}) AND o.created_at >= '2026-0${1 + (id % 9)}-01'\nGROUP BY c.id, c.name\nORDER BY spent DESC\nLIMIT 50`;
      rowsSent = 50;
      rowsExamined = 20_000 + (id % 100_000);
    } else if (k < 0.67) {
      sql = `UPDATE ${t} SET status = '${STATUSES[id % STATUSES.length]}', updated_at = NOW() WHERE id = ${id}`;
    } else if (k < 0.75) {
      const name = NAMES[id % NAMES.length]!.replace(/'/g, "\\'");
      sql = `INSERT INTO ${t} (customer_id, name, total, created_at) VALUES (${id}, '${name}', ${(id % 100_000) / 100}, '2026-11-22 06:00:00'), (${id + 1}, '${name}', ${(id % 5000) / 100}, '2026-11-22 06:00:01')`;
    } else if (k < 0.82) {
      sql = `/* app:checkout request:${id.toString(16)} */ SELECT p.sku, i.qty FROM products p JOIN inventory i ON i.product_id = p.id WHERE p.id IN (${id}, ${id + 11}, ${id + 23}, ${id + 31}) FOR UPDATE`;
      rowsSent = 4;
      rowsExamined = 8;
    } else if (k < 0.88) {
      sql = `DELETE FROM ${t} WHERE expires_at < '2026-11-${pad2(1 + (id % 21))} 00:00:00' LIMIT 1000`;
      rowsExamined = 1000;
    } else if (k < 0.93) {
      sql = `SELECT COUNT(*) FROM ${t} WHERE note LIKE '%${id % 997}%'`;
      rowsSent = 1;
      rowsExamined = 250_000;
    } else if (k < 0.97) {
      sql = `CALL refresh_totals(${id}, 'daily')`;
    } else if (k < 0.995) {
      sql = `SELECT o.id FROM ${t} o WHERE o.customer_id = ${id} UNION ALL SELECT a.id FROM archived_orders a WHERE a.customer_id = ${id}`;
      rowsSent = 3;
      rowsExamined = 40;
    } else {
      // an admin command: the parser takes it from the header line
      return { sql: 'administrator command: Quit', text: '# administrator command: Quit;\n', rowsSent: 0, rowsExamined: 0 };
    }
    return { sql, text: sql + ';\n', rowsSent, rowsExamined };
  }
}

export interface WrittenLog {
  path: string;
  entries: number;
  bytes: number;
  slow: number;
}

/**
 * Writes a slow log of about `bytes` bytes (or exactly `entries` entries, if given) to `path`, in 1 MiB
 * writes: memory stays flat whatever the size.
 */
export function writeMySqlSlowLog(path: string, size: { bytes?: number; entries?: number }, opts: MySqlSlowLogOptions = {}): WrittenLog {
  const g = new MySqlSlowLogGenerator(opts);
  const fd = openSync(path, 'w');
  const out: WrittenLog = { path, entries: 0, bytes: 0, slow: 0 };
  const maxEntries = size.entries ?? Number.MAX_SAFE_INTEGER;
  const maxBytes = size.bytes ?? Number.MAX_SAFE_INTEGER;
  let chunk = opts.banner === false ? '' : g.banner();
  try {
    while (out.entries < maxEntries && out.bytes + chunk.length < maxBytes) {
      const e = g.next();
      chunk += e.text;
      out.entries++;
      if (e.slow) out.slow++;
      if (chunk.length >= 1 << 20) {
        out.bytes += writeSync(fd, chunk);
        chunk = '';
      }
    }
    if (chunk) out.bytes += writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
  return out;
}
