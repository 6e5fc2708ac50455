import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { parseStream } from '../src/formats/read-file.js';
import { Packr } from 'msgpackr';
import { stampRecords, toWire, type Alert, type ParsedEvent, type WireRecord } from '../src/model/record.js';
import { RulesEngine } from '../src/rules/engine.js';
import { DEFAULT_RULES } from '../src/rules/rules.js';
import { decodeRecords, encodeRecords } from '../src/wire/protocol.js';
import { writeMySqlSlowLog } from '../src/workload/mysql-slow-generator.js';
import { cutEntryAligned } from './design-cut.js';
import { MiB, type BenchReport, type Cell } from './output.js';
import type { ParseJob, ParseReply } from './workers/parse-worker.js';

// `slowq bench design`: the measurement that decides where one file's parsing runs (issue 11, item 3).
//
//   A  parallel parse in the client: the reader cuts entry-aligned chunks, worker threads parse and encode
//      them, the main thread numbers and sends the encoded batches; the consumer decodes and applies rules.
//   B  parse where the cores are: the client cuts entry-aligned chunks and ships them raw; consumers parse
//      them in worker threads, hand the records to the thread that applies the rules, and journal the raw bytes.
//
// Part 1 times every stage of either path alone, on one thread, over the same generated MariaDB slow log, as
// CPU time per event (process.cpuUsage: what the stage costs, whatever else the shared machine is doing;
// the median of --repeats runs). Part 2 adds them up per design and per host. Part 3 runs the stage both
// designs parallelise — parse (+ encode for A, + hand-over for B) — in 1 and 2 real worker threads.

export interface DesignOptions {
  /** bytes of the generated log (default 32 MiB) */
  bytes?: number;
  /** runs of each stage; the median is reported (default 3) */
  repeats?: number;
  /** chunk size the cutter aims at (default 1 MiB) */
  chunkBytes?: number;
  /** worker counts for the parallel run (default [1, 2]) */
  workers?: number[];
  dir?: string;
}

const BATCH = 1000;

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** CPU µs of `fn`, median of `repeats` runs (each run's result is returned from the last one) */
async function timed<T>(repeats: number, fn: () => T | Promise<T>): Promise<{ us: number; result: T }> {
  const runs: number[] = [];
  let result!: T;
  for (let i = 0; i < repeats; i++) {
    const t0 = cpuMicros();
    result = await fn();
    runs.push(cpuMicros() - t0);
  }
  runs.sort((a, b) => a - b);
  return { us: runs[Math.floor(runs.length / 2)]!, result };
}

async function* chunksOf(list: readonly Buffer[]): AsyncIterable<Buffer> {
  for (const b of list) yield b;
}

async function parseAll(chunks: readonly Buffer[]): Promise<ParsedEvent[]> {
  const events: ParsedEvent[] = [];
  await parseStream(chunksOf(chunks), 'mysql-slow', (evs) => {
    for (const e of evs) events.push(e);
  });
  return events;
}

function batches<T>(list: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += BATCH) out.push(list.slice(i, i + BATCH));
  return out;
}


/** Parses entry-aligned chunks in `n` worker threads; wall ms and process CPU µs (all threads). */
async function parallelParse(chunks: readonly Buffer[], n: number, mode: ParseJob['mode']): Promise<{ wallMs: number; cpuUs: number; events: number; outBytes: number }> {
  const url = new URL('./workers/parse-worker.js', import.meta.url);
  const workers = Array.from({ length: n }, () => new Worker(url));
  try {
    await Promise.all(workers.map((w) => new Promise((r) => w.once('online', r))));
    const t0 = performance.now();
    const c0 = cpuMicros();
    let next = 0;
    let events = 0;
    let outBytes = 0;
    await Promise.all(workers.map(async (w) => {
      while (next < chunks.length) {
        const i = next++;
        // a copy the worker may own: the chunk moves to it without a second copy
        const copy = new Uint8Array(chunks[i]!);
        const reply = await new Promise<ParseReply>((resolve, reject) => {
          w.once('message', resolve);
          w.once('error', reject);
          w.postMessage({ mode, chunk: copy } satisfies ParseJob, [copy.buffer]);
        });
        w.removeAllListeners('error');
        events += reply.events;
        outBytes += reply.out.byteLength;
        // what the receiving thread does with it: B's rules thread takes the records out of the clone
        if (mode === 'clone') deserialize(reply.out);
      }
    }));
    return { wallMs: performance.now() - t0, cpuUs: cpuMicros() - c0, events, outBytes };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

export async function benchDesign(opts: DesignOptions = {}): Promise<BenchReport> {
  const bytes = opts.bytes ?? 32 * MiB;
  const repeats = opts.repeats ?? 3;
  const dir = mkdtempSync(join(opts.dir ?? tmpdir(), 'slowq-bench-design-'));
  try {
    const path = join(dir, 'mariadb.log');
    writeMySqlSlowLog(path, { bytes }, { flavor: 'mariadb', seed: 5 });

    const read = await timed(repeats, () => readFileSync(path));
    const file = read.result;
    const cut = await timed(repeats, () => cutEntryAligned(file, opts.chunkBytes ?? MiB));
    const chunks = cut.result;
    const parse = await timed(repeats, () => parseAll(chunks));
    const events = parse.result;
    const n = events.length;
    if (n === 0) throw new Error('the generated log gave no events');

    const groups = batches(events);
    const encode = await timed(repeats, () => groups.map((g) => encodeRecords(g.map(toWire))));
    const frames = encode.result;
    const wireBytes = frames.reduce((s, f) => s + f.length, 0);
    const decode = await timed(repeats, () => frames.map((f, i) => stampRecords(decodeRecords(f, groups[i]!.length), 'db', 's', i * BATCH + 1)));
    const records = decode.result;
    // B's hand-over from a parse worker to the rules thread: records its own parser made need no schema check
    const clone = await timed(repeats, () => groups.map((g) => deserialize(serialize(g.map(toWire))) as WireRecord[]));
    const trusted = new Packr({ useRecords: true, moreTypes: false });
    const unpack = await timed(repeats, () => frames.map((f) => trusted.unpack(f) as WireRecord[]));
    const rules = await timed(repeats, () => {
      const engine = new RulesEngine(DEFAULT_RULES);
      const alerts: Alert[] = [];
      let count = 0;
      for (const b of records) {
        engine.applyBatch('db', 's', b, alerts);
        count += alerts.length;
        alerts.length = 0;
      }
      return count;
    });

    const per = (us: number) => us / n;
    const stage = { read: per(read.us), cut: per(cut.us), parse: per(parse.us), encode: per(encode.us), decode: per(decode.us), clone: per(clone.us), unpack: per(unpack.us), rules: per(rules.us) };
    const handOver = Math.min(stage.clone, stage.encode + stage.unpack);
    const stageRows: Cell[][] = [
      ['read the file (page cache)', stage.read, 'client', 'client'],
      ['cut entry-aligned chunks', stage.cut, 'client', 'client'],
      ['parse + fingerprint', stage.parse, 'client (workers)', 'consumer (workers)'],
      ['toWire + msgpack encode, 1,000 a batch', stage.encode, 'client (workers)', '—'],
      ['msgpack decode + schema checks + stamp', stage.decode, 'consumer', '—'],
      ['hand-over worker → rules thread: structured clone', stage.clone, '—', 'consumer (or the row below)'],
      ['hand-over worker → rules thread: msgpack unpack, no checks (+ encode above)', stage.unpack, '—', 'consumer (or the row above)'],
      ['rules (DEFAULT_RULES)', stage.rules, 'consumer', 'consumer'],
    ];
    const clientA = stage.read + stage.cut + stage.parse + stage.encode;
    const consumerA = stage.decode + stage.rules;
    const clientB = stage.read + stage.cut;
    const consumerB = stage.parse + handOver + stage.rules;
    const rawBytes = file.length;
    const modelRows: Cell[][] = [
      ['A: parallel parse in the client', clientA, consumerA, clientA + consumerA, (clientA * 10_000) / 1e4, wireBytes / n, Math.round(2e6 / (clientA + consumerA))],
      ['B: parse where the cores are', clientB, consumerB, clientB + consumerB, (clientB * 10_000) / 1e4, rawBytes / n, Math.round(2e6 / (clientB + consumerB))],
    ];

    const parallelRows: Cell[][] = [];
    const data: Record<string, unknown> = { events: n, bytes: rawBytes, wireBytes, chunks: chunks.length, stageMicrosPerEvent: stage };
    for (const w of opts.workers ?? [1, 2]) {
      for (const [design, mode] of [['A', 'wire'], ['B', 'clone']] as const) {
        const r = await parallelParse(chunks, w, mode);
        parallelRows.push([`${design}: ${w} worker${w > 1 ? 's' : ''} parse${mode === 'wire' ? ' + encode' : ' + hand over'}`, w, r.events, Math.round((r.events / r.wallMs) * 1000), r.cpuUs / r.events, Math.round(r.events / (r.cpuUs / 1e6))]);
        data[`parallel ${design} ${w}`] = r;
      }
    }
    return {
      bench: 'design',
      tables: [
        {
          title: `Stages alone: CPU µs per event (one thread, median of ${repeats}), and where each design runs them`,
          columns: ['stage', 'µs/event', 'design A runs it on', 'design B runs it on'],
          rows: stageRows,
          notes: [`${n.toLocaleString('en-US')} events, ${(rawBytes / MiB).toFixed(1)} MiB generated MariaDB slow log (src/workload), ${chunks.length} chunks; CPU time, so other load on the machine matters less than for wall time`],
        },
        {
          title: 'Per design: CPU µs per event on each host, and what that allows on this 2-core machine',
          columns: ['design', 'client µs/ev', 'consumer µs/ev', 'total µs/ev', 'client % of a core per 10k ev/s', 'bytes/ev on the wire and in the journal', 'ceiling ev/s on 2 cores'],
          rows: modelRows,
          notes: [`B's hand-over is the cheaper of its two rows: ${handOver.toFixed(2)} µs/event`, 'sum of the stages above; the master (~1 µs/ev forwarding) and the monitor (per alert) come on top of both alike', 'the ceiling is 2 cores ÷ total µs/event: what no overlap can beat'],
        },
        {
          title: 'Parse in real worker threads (the stage both designs parallelise): wall events/s and CPU per event',
          columns: ['run', 'workers', 'events', 'events/s (wall)', 'CPU µs/event (all threads)', 'events per CPU-second'],
          rows: parallelRows,
          notes: ['each worker parses whole entry-aligned chunks with a fresh parser (the carry-over across chunks is the chunk format\'s job, not measured here); A returns msgpack frames, B a structured clone its rules thread decodes'],
        },
      ],
      charts: [{ name: 'design', title: 'CPU µs per event, client and consumer, per design (lower is better)', unit: 'µs/ev', bars: [
        { label: 'A client', value: clientA }, { label: 'A consumer', value: consumerA }, { label: 'B client', value: clientB }, { label: 'B consumer', value: consumerB },
      ] }],
      data,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
