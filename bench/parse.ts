import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFile, parseStream } from '../src/formats/read-file.js';
import { digestFile } from '../src/digest/digest-file.js';
import { WorkloadGenerator } from '../src/workload/generator.js';
import { MySqlSlowLogGenerator, writeMySqlSlowLog } from '../src/workload/mysql-slow-generator.js';
import { median, MiB, type BenchReport } from './output.js';
import { ptQueryDigestPath } from './tools.js';

// `slowq bench parse`: events/s and MB/s of each parser over a generated file (the real streaming path:
// read, split lines, parse, fingerprint), then — for the MySQL slow log — `slowq digest` and
// pt-query-digest over the very same file, side by side in the same run (pt only when installed).

export interface ParseOptions {
  /** bytes per generated file (default 32 MiB) */
  bytes?: number;
  /** run pt-query-digest when installed (default true) */
  pt?: boolean;
  /** give up on pt-query-digest after this long (default 300 s) */
  ptTimeoutMs?: number;
  /** timed passes over each file, the row their median (default 3) */
  passes?: number;
  dir?: string;
}

/** The first `bytes` of a file, as a stream of one chunk. */
async function* prefixOf(path: string, bytes: number): AsyncGenerator<Buffer> {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    yield buf.subarray(0, readSync(fd, buf, 0, bytes, 0));
  } finally {
    closeSync(fd);
  }
}

function writeLines(path: string, bytes: number, next: () => string): void {
  const fd = openSync(path, 'w');
  let written = 0;
  let chunk = '';
  try {
    while (written + chunk.length < bytes) {
      chunk += next();
      if (chunk.length >= MiB) {
        written += writeSync(fd, chunk);
        chunk = '';
      }
    }
    if (chunk) writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
}

/** One statement of the MySQL generator as a PostgreSQL server would log it: its time stamp, backend pid and message. */
interface PgStatement {
  ts: string;
  pid: number;
  /** 1, 2, …: the session line number and transaction ids of csvlog and jsonlog */
  n: number;
  message: string;
}

/** Writes the MySQL generator's statements, each as `line` makes it, in PostgreSQL's time and pid formats. */
function writePostgresStatements(path: string, bytes: number, line: (s: PgStatement) => string): void {
  const g = new MySqlSlowLogGenerator({ seed: 5 });
  let pid = 4000;
  let n = 0;
  writeLines(path, bytes, () => {
    const e = g.next();
    pid = 4000 + ((pid * 7) % 97);
    const ts = new Date(e.ts).toISOString().replace('T', ' ').replace('Z', ' UTC');
    return line({ ts, pid, n: ++n, message: `duration: ${e.durationMs.toFixed(3)} ms  statement: ${e.sql}` });
  });
}

/** PostgreSQL stderr log with Debian's log_line_prefix '%m [%p] %q%u@%d ', the statements of the MySQL generator. */
export function writePostgresLog(path: string, bytes: number): void {
  writePostgresStatements(path, bytes, (s) => `${s.ts} [${s.pid}] app@shop LOG:  ${s.message.replace(/\n/g, '\n\t')}\n`);
}

/** The same statements as PostgreSQL 15's csvlog (26 columns) would hold them: one record per statement, quotes doubled. */
export function writePostgresCsvLog(path: string, bytes: number): void {
  writePostgresStatements(path, bytes, ({ ts, pid, n, message }) =>
    `${ts},"app","shop",${pid},"10.0.0.5:51234",656f1a2b.${pid.toString(16)},${n},"SELECT",2026-12-02 06:00:00 UTC,3/${n},0,LOG,00000,"${message.replace(/"/g, '""')}",,,,,,,,,"psql","client backend",,${-1000 - (n % 500)}\n`);
}

/** The same statements as PostgreSQL 15's jsonlog would hold them. */
export function writePostgresJsonLog(path: string, bytes: number): void {
  writePostgresStatements(path, bytes, ({ ts, pid, n, message }) => JSON.stringify({
    timestamp: ts, user: 'app', dbname: 'shop', pid, remote_host: '10.0.0.5', remote_port: 51234, session_id: `656f1a2b.${pid.toString(16)}`,
    line_num: n, ps: 'SELECT', session_start: '2026-12-02 06:00:00 UTC', vxid: `3/${n}`, txid: 0, error_severity: 'LOG',
    message, application_name: 'psql', backend_type: 'client backend', query_id: -1000 - (n % 500),
  }) + '\n');
}

export function writeJsonl(path: string, bytes: number): void {
  const g = new WorkloadGenerator({ seed: 5 });
  writeLines(path, bytes, () => JSON.stringify(g.next()) + '\n');
}

/** Runs pt-query-digest on a file: wall time, or undefined if it failed or took too long. */
export function runPtQueryDigest(pt: string, file: string, timeoutMs: number): Promise<{ ms: number } | { error: string }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(pt, ['--output', 'json', '--no-version-check', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      resolve({ error: e.message });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ ms: performance.now() - t0 });
      else resolve({ error: signal ? `killed after ${timeoutMs} ms` : `exit ${code}: ${err.trim().split('\n').pop() ?? ''}` });
    });
  });
}

export async function benchParse(opts: ParseOptions = {}): Promise<BenchReport> {
  const bytes = opts.bytes ?? 32 * MiB;
  const passes = Math.max(1, opts.passes ?? 3);
  const dir = mkdtempSync(join(opts.dir ?? tmpdir(), 'slowq-bench-parse-'));
  try {
    // `reference`: the line-at-a-time parser the byte-level one replaced, on the same file in the same run
    const files = [
      { name: 'mysql-slow (MySQL 8)', format: 'mysql-slow', path: join(dir, 'mysql8.log'), make: (p: string) => writeMySqlSlowLog(p, { bytes }, { flavor: 'mysql', seed: 5 }) },
      { name: 'mysql-slow (MySQL 8), reference line parser', format: 'mysql-slow', path: join(dir, 'mysql8.log'), reference: true, make: () => {} },
      { name: 'mysql-slow (MariaDB)', format: 'mysql-slow', path: join(dir, 'mariadb.log'), make: (p: string) => writeMySqlSlowLog(p, { bytes }, { flavor: 'mariadb', seed: 5 }) },
      { name: 'mysql-slow (MariaDB), reference line parser', format: 'mysql-slow', path: join(dir, 'mariadb.log'), reference: true, make: () => {} },
      { name: 'postgres (stderr)', format: 'postgres', path: join(dir, 'postgres.log'), make: (p: string) => writePostgresLog(p, bytes) },
      { name: 'postgres-csv (csvlog)', format: 'postgres-csv', path: join(dir, 'postgres.csv'), make: (p: string) => writePostgresCsvLog(p, bytes) },
      { name: 'postgres-json (jsonlog)', format: 'postgres-json', path: join(dir, 'postgres.json'), make: (p: string) => writePostgresJsonLog(p, bytes) },
      { name: 'jsonl (native)', format: 'jsonl', path: join(dir, 'native.jsonl'), make: (p: string) => writeJsonl(p, bytes) },
    ];
    const rows: Array<Array<string | number | null>> = [];
    const data: Record<string, unknown> = {};
    for (const f of files) {
      f.make(f.path);
      const size = statSync(f.path).size;
      const reference = 'reference' in f && f.reference === true;
      // warm-up on the first MiB (not counted): the rows compare parsers running compiled, not the JIT's start
      await parseStream(prefixOf(f.path, MiB), f.format, () => {}, undefined, {}, undefined, reference);
      // `passes` whole passes, each timed: on this shared machine one pass can be 1.5× another, so the row is their
      // median, beside the first (the parser that has seen only the warm-up MiB: what a freshly started agent gets)
      const timed: Array<{ ms: number; cpuMs: number }> = [];
      const pass = async () => {
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        const summary = await parseFile(f.path, f.format, () => {}, undefined, {}, undefined, reference);
        const ms = performance.now() - t0;
        const cpu = process.cpuUsage(cpu0);
        timed.push({ ms, cpuMs: (cpu.user + cpu.system) / 1000 });
        return summary;
      };
      const s = await pass();
      for (let i = 1; i < passes; i++) await pass();
      const ms = median(timed.map((t) => t.ms));
      const cpuMs = median(timed.map((t) => t.cpuMs));
      const evps = (s.events / ms) * 1000;
      const cpuEvps = (s.events / cpuMs) * 1000;
      const firstEvps = (s.events / timed[0]!.ms) * 1000;
      rows.push([`slowq parse: ${f.name}`, size / MiB, s.events, ms / 1000, Math.round(evps), Math.round(firstEvps), Math.round(cpuEvps), (size / MiB / ms) * 1000, null]);
      data[`parse ${f.name}`] = {
        bytes: size, events: s.events, problems: s.problems, ms, cpuMs, eventsPerSec: evps, eventsPerCpuSec: cpuEvps, firstPassEventsPerSec: firstEvps, passes: timed,
      };
      if (s.problems > 0) throw new Error(`${f.name}: ${s.problems} problems parsing a generated file`);
    }
    // side by side on the MySQL 8 file: our digest and pt-query-digest
    const mysql = files[0]!;
    const size = statSync(mysql.path).size;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const d = await digestFile(mysql.path, 'mysql-slow');
    const digestMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const digestEvps = (d.events / digestMs) * 1000;
    const digestCpuEvps = (d.events / ((cpu.user + cpu.system) / 1000)) * 1000;
    rows.push(['slowq digest: mysql-slow (MySQL 8), one pass', size / MiB, d.events, digestMs / 1000, Math.round(digestEvps), Math.round(digestEvps), Math.round(digestCpuEvps), (size / MiB / digestMs) * 1000, null]);
    data.digest = { events: d.events, ms: digestMs, eventsPerSec: digestEvps };
    const pt = opts.pt === false ? undefined : ptQueryDigestPath();
    const notes = [
      'one process, one core; files generated by src/workload (MySQL: mysql-slow-generator.ts), read from the page cache',
      `each parse row: a warm-up on the file's first MiB, then ${passes} timed passes over the whole file; seconds, events/s, events/CPU-s and MiB/s are their median, "first pass" the first of them (a freshly started parser); events/CPU-s: events per second of this process's CPU time (steadier than events/s on a shared machine)`,
      '"reference line parser": the line-at-a-time MySQL parser the byte-level one replaced (parsers/mysql-slow.ts), on the same file',
    ];
    if (pt) {
      const r = await runPtQueryDigest(pt, mysql.path, opts.ptTimeoutMs ?? 300_000);
      if ('ms' in r) {
        const ptEvps = (d.events / r.ms) * 1000;
        rows.push(['pt-query-digest: same MySQL 8 file, one pass', size / MiB, d.events, r.ms / 1000, Math.round(ptEvps), Math.round(ptEvps), null, (size / MiB / r.ms) * 1000, 1]);
        for (const row of rows) if (row[8] === null) row[8] = Number(row[4]) / ptEvps;
        data.ptQueryDigest = { path: pt, ms: r.ms, eventsPerSec: ptEvps };
      } else {
        notes.push(`pt-query-digest failed: ${r.error}`);
        data.ptQueryDigest = { path: pt, error: r.error };
      }
    } else {
      notes.push(opts.pt === false ? 'pt-query-digest skipped (--no-pt)' : 'pt-query-digest is not installed: no side-by-side row');
    }
    return {
      bench: 'parse',
      tables: [{
        title: 'Parsers: events/s and MiB/s per format (and pt-query-digest on the same MySQL file)',
        columns: ['what', 'MiB', 'events', 'seconds', 'events/s', 'first pass events/s', 'events/CPU-s', 'MiB/s', '× pt-query-digest'],
        rows,
        notes,
      }],
      charts: [{ name: 'events', title: 'Parse throughput, events/s (higher is better)', unit: 'ev/s', bars: rows.map((r) => ({ label: String(r[0]), value: Number(r[4]) })) }],
      data,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
