import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { ChunkIntake, type ChunkRequest } from '../src/consumer/chunk-intake.js';
import { OrderedInbox } from '../src/consumer/ordered-inbox.js';
import { ParseAhead } from '../src/consumer/parse-ahead.js';
import { EntryChunker, type RawChunk } from '../src/formats/entry-chunker.js';
import type { Alert } from '../src/model/record.js';
import { RulesEngine } from '../src/rules/engine.js';
import { writeMySqlSlowLog, type MySqlSlowFlavor } from '../src/workload/mysql-slow-generator.js';
import { MiB, type BenchReport, type Cell } from './output.js';

// `slowq bench spread`: one log file through a consumer's chunk intake (design B: parse, then the rules in order)
// with 0, 1, 2 … parse threads (src/consumer/parse-ahead.ts): how far one file's parsing spreads over the cores.
// With one thread a stream's chunks form a chain in it; with more, chunks go to the idlest thread from a guessed
// start, settled at their turn on the main thread. The client's window is kept (16 chunks in flight, a new one
// pushed as one is done), so parsing runs at most that far ahead, as in a consumer. No journal and no sockets:
// what this measures is the part that parse threads change. The main thread's CPU time is read from
// /proc/self/task/<pid>/stat (Linux; its event-loop utilisation elsewhere, which also counts time it waited for a
// core while busy).

export interface SpreadOptions {
  /** bytes of each generated log (default 64 MiB) */
  bytes?: number;
  /** parse thread counts to run (default 0, 1, 2 and the machine's cores if more) */
  threads?: number[];
  /** chunk size (default the client's, 512 KiB) */
  chunkBytes?: number;
  /** chunks in flight, as the client's window (default 16) */
  window?: number;
  dir?: string;
}

interface SpreadRun {
  flavor: MySqlSlowFlavor;
  threads: number;
  events: number;
  ms: number;
  /** main thread CPU (or busy time, where its CPU cannot be read), µs per event */
  mainUs: number;
  /** CPU of all threads, µs per event */
  cpuUs: number;
  alerts: number;
  counts: Record<string, number>;
}

/** The main thread's CPU time so far, µs (Linux: its task's utime + stime), or undefined where it cannot be read. */
function mainThreadCpuUs(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields from the state (3rd of the file) on: utime and stime are the file's 14th and 15th, in clock ticks
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * (1e6 / CLOCK_TICKS) : undefined;
  } catch {
    return undefined;
  }
}

/** USER_HZ: what Linux counts a task's times in (100 on every architecture Node runs on) */
const CLOCK_TICKS = 100;

function chunksOf(bytes: Buffer, target: number): ChunkRequest[] {
  const out: RawChunk[] = [];
  const c = new EntryChunker({ format: 'mysql-slow', offset: 0, line: 0, targetBytes: target, maxBytes: 8 << 20 });
  c.push(bytes, out);
  c.finish(true, out);
  return out.map((k) => ({ src: 'db', stream: 'slow.log', first: k.from + 1, last: k.to, eof: k.eof, quiet: k.quiet, fmt: 'mysql-slow', tz: '', pfx: '', bytes: k.bytes }));
}

async function runOnce(flavor: MySqlSlowFlavor, chunks: ChunkRequest[], threads: number, window: number): Promise<SpreadRun> {
  const engine = new RulesEngine();
  const intake = new ChunkIntake();
  let events = 0;
  let alerts = 0;
  const apply = (req: ChunkRequest, ticket?: Parameters<ChunkIntake['apply']>[3]): void => {
    const out: Alert[] = [];
    events += intake.apply(engine, req, out, ticket).records.length;
    alerts += out.length;
  };
  let ahead: ParseAhead | undefined;
  let inbox: OrderedInbox<number> | undefined;
  let done = 0;
  let finished: () => void = () => {};
  const all = new Promise<void>((resolve) => (finished = resolve));
  let next = 0;
  const pushNext = (): void => {
    if (next >= chunks.length) return;
    const i = next++; // before push(): it may run requests, and this, again
    inbox!.push(i, chunks[i]!);
  };
  if (threads > 0) {
    ahead = new ParseAhead({ threads, onSettled: () => inbox?.drain(), log: pino({ level: 'silent' }) });
    ahead.start();
    inbox = new OrderedInbox<number>(ahead, {
      markOf: (src, stream) => engine.sources.get(src)?.chunks.get(stream),
      run: (i, ticket) => {
        apply(chunks[i]!, ticket);
        if (++done === chunks.length) finished();
        else pushNext();
      },
    });
    // every thread online before the clock starts (a thread still loading is passed over)
    await new Promise((r) => setTimeout(r, 300 + 100 * threads));
  }
  const elu0 = performance.eventLoopUtilization();
  const main0 = mainThreadCpuUs();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  if (inbox) {
    for (let k = 0; k < window; k++) pushNext();
    await all;
  } else {
    // as a consumer without parse threads: each chunk parsed and applied on the main thread, a turn of the loop apart
    for (const req of chunks) {
      apply(req);
      await new Promise<void>((r) => setImmediate(r));
    }
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  const main1 = mainThreadCpuUs();
  const counts = { ...(ahead?.counts ?? {}) };
  await ahead?.stop();
  const mainUs = main0 !== undefined && main1 !== undefined ? main1 - main0 : elu.active * 1000;
  return { flavor, threads, events, ms, mainUs: mainUs / events, cpuUs: (cpu.user + cpu.system) / events, alerts, counts };
}

export async function benchSpread(opts: SpreadOptions = {}): Promise<BenchReport> {
  const bytes = opts.bytes ?? 64 * MiB;
  const cores = availableParallelism();
  const threads = opts.threads ?? [...new Set([0, 1, 2, cores])].sort((a, b) => a - b);
  const window = opts.window ?? 16;
  const dir = mkdtempSync(join(opts.dir ?? tmpdir(), 'slowq-bench-spread-'));
  const runs: SpreadRun[] = [];
  try {
    for (const flavor of ['mysql', 'mariadb'] as const) {
      const path = join(dir, `${flavor}.log`);
      writeMySqlSlowLog(path, { bytes }, { flavor, seed: 11 });
      const chunks = chunksOf(readFileSync(path), opts.chunkBytes ?? 512 * 1024);
      for (const t of threads) runs.push(await runOnce(flavor, chunks, t, window));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const rows: Cell[][] = runs.map((r) => {
    const base = runs.find((b) => b.flavor === r.flavor && b.threads === 0);
    const rate = (r.events / r.ms) * 1000;
    const baseRate = base ? (base.events / base.ms) * 1000 : null;
    const c = r.counts;
    return [r.flavor === 'mysql' ? 'MySQL 8' : 'MariaDB', r.threads, rate, baseRate ? rate / baseRate : null, r.mainUs, r.cpuUs,
      r.threads > 0 ? `${c.chunksParsedAhead ?? 0} ahead (${c.chunksGuessed ?? 0} guessed), ${c.chunksParsedAgain ?? 0} on the main thread (${c.guessesNotHeld ?? 0} guesses not held)` : 'all on the main thread'];
  });
  return {
    bench: 'spread',
    tables: [{
      title: `One file over the parse threads: a consumer's chunk intake (parse + rules), ${(bytes / MiB).toFixed(0)} MiB generated log, ${cores} cores`,
      columns: ['log', 'parse threads', 'events/s', '× no thread', 'main thread CPU µs/event', 'CPU µs/event (all threads)', 'chunks'],
      rows,
      notes: [
        `${window} chunks in flight (the client's window), ${((opts.chunkBytes ?? 512 * 1024) / 1024).toFixed(0)} KiB chunks; no journal, no sockets`,
        'one parse thread: the stream\'s chunks chain in it; more: each chunk to the idlest thread, from a guessed start settled at its turn (parse-ahead.ts)',
        'the main thread\'s CPU per event bounds the intake however many cores parse: 1 ÷ it is the most events/s one file can go through a consumer',
        `the parse spreads over every thread, but on this machine the threads share ${cores} cores with the main thread: events/s grows with threads only while a core is free`,
      ],
    }],
    charts: [{ name: 'spread', title: 'one file, events/s by parse threads', unit: 'events/s', bars: runs.map((r) => ({ label: `${r.flavor} ${r.threads}`, value: (r.events / r.ms) * 1000 })) }],
    data: { cores, runs },
  };
}
