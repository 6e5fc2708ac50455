import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchReport, Cell } from './output.js';
import { freeBasePort } from './harness/ports.js';
import { slowq, startProcess, stop, type Proc } from './harness/processes.js';
import { sleep, waitFor } from './harness/wait.js';

// `slowq bench logging`: what a log line per record costs. Each process applies N records to the rules and
// logs one line per record: not at all, with pino to a file (alone, and 4 processes into the same file),
// and with pino over ZeroMQ to the logserver from 4 processes (what every slowq service does).

export interface LoggingOptions {
  /** records per process (default 2,000) */
  records?: number;
  /** processes for the multi-process rows (default 4) */
  processes?: number;
  dir?: string;
  port?: number;
}

interface WorkerResult {
  ms: number;
  records: number;
  dropped: number;
}

const WORKER = new URL('./workers/log-worker.js', import.meta.url).pathname;

async function runWorkers(k: number, mode: string, records: number, target: string): Promise<WorkerResult[]> {
  const kids: Proc[] = [];
  try {
    for (let i = 0; i < k; i++) kids.push(startProcess(`log-worker-${i}`, process.execPath, [WORKER, mode, String(records), target, `bench-${i}`]));
    const codes = await Promise.all(kids.map((c) => c.exited));
    return kids.map((c, i) => {
      if (codes[i] !== 0) throw new Error(`${c.name} (${mode}) failed: ${c.output().slice(-1500)}`);
      return JSON.parse(c.output().trim().split('\n').pop()!) as WorkerResult;
    });
  } finally {
    for (const c of kids) await stop(c);
  }
}

function countLinesIn(dir: string, prefix: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) if (f.startsWith(prefix)) n += readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean).length;
  return n;
}

export async function benchLogging(opts: LoggingOptions = {}): Promise<BenchReport> {
  const records = opts.records ?? 2000;
  const k = opts.processes ?? 4;
  const root = mkdtempSync(join(opts.dir ?? tmpdir(), 'slowq-bench-logging-'));
  const rows: Cell[][] = [];
  const data: Record<string, unknown> = { records, processes: k };
  let logserver: Proc | undefined;
  const add = (what: string, procs: number, res: WorkerResult[], delivered: number | null) => {
    const ms = Math.max(...res.map((r) => r.ms));
    const total = res.reduce((n, r) => n + r.records, 0);
    const evps = (total / ms) * 1000;
    rows.push([what, procs, total, ms, Math.round(evps), (ms * 1000) / (total / procs), delivered]);
    data[what] = { ms, total, eventsPerSec: evps, delivered, dropped: res.reduce((n, r) => n + r.dropped, 0) };
  };
  try {
    add('no logging', 1, await runWorkers(1, 'none', records, '-'), null);
    add('no logging', k, await runWorkers(k, 'none', records, '-'), null);
    const one = join(root, 'one.log');
    add('pino → file (sync writes)', 1, await runWorkers(1, 'file', records, one), countLinesIn(root, 'one.log'));
    const shared = join(root, 'shared.log');
    add(`pino → one file from ${k} processes (sync writes)`, k, await runWorkers(k, 'file', records, shared), countLinesIn(root, 'shared.log'));
    const sharedAsync = join(root, 'shared-async.log');
    add(`pino → one file from ${k} processes (buffered)`, k, await runWorkers(k, 'file-async', records, sharedAsync), countLinesIn(root, 'shared-async.log'));
    const base = await freeBasePort({ preferred: opts.port });
    const logs = join(root, 'logserver');
    logserver = slowq('logserver', ['logserver', '--data', logs, '--port', String(base + 3)]);
    await logserver.waitForOutput('listening on', 10_000);
    const res = await runWorkers(k, 'zmq', records, `tcp://127.0.0.1:${base + 3}`);
    const want = k * records;
    let delivered = 0;
    await waitFor('log lines at the logserver', () => (delivered = countLinesIn(logs, 'bench-')) >= want || undefined, 5000, 100).catch(() => undefined);
    add(`pino → logserver over ZeroMQ from ${k} processes`, k, res, delivered);
    await sleep(0);
  } finally {
    if (logserver) await stop(logserver);
    rmSync(root, { recursive: true, force: true });
  }
  return {
    bench: 'logging',
    tables: [{
      title: `Logging one line per record: ${records.toLocaleString('en-US')} records per process (rules applied to each)`,
      columns: ['logging', 'processes', 'records', 'ms (slowest process)', 'records/s (all)', 'µs per record', 'lines delivered'],
      rows,
      notes: [
        'each process applies its records to the rules and logs one pino line per record; timed inside the process, from the first record to the last line handed over (buffers flushed)',
        '"sync writes": one write(2) per line (what a shared, locked log file amounts to); "buffered": pino\'s async destination',
        'ZeroMQ: slowq\'s transport (src/logserver/transport.ts): lines queued in memory, shipped by PUSH to the logserver, never blocking the caller',
      ],
    }],
    charts: [{ name: 'records', title: 'Records/s with one log line per record (higher is better)', unit: 'rec/s', bars: rows.map((r) => ({ label: `${r[0]} ×${r[1]}`, value: Number(r[4]) })) }],
    data,
  };
}
