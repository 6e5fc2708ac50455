import { closeSync, fdatasyncSync, fsyncSync, mkdtempSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RulesEngine } from '../src/rules/engine.js';
import { DEFAULT_RULES } from '../src/rules/rules.js';
import { encodeEntry, encodeSnapshot } from '../src/consumer/state-codec.js';
import { stampRecords } from '../src/model/record.js';
import { DurableStore } from '../src/durable/store.js';
import { encodeRecords, decodeRecords } from '../src/wire/protocol.js';
import { bytesLabel, median, MiB, percentile, type BenchReport, type Table } from './output.js';
import { sampleRecords } from './records.js';
import { openQueriesState } from './state.js';

// `slowq bench snapshot`: why "snapshot per request" had to become "journal per request + compaction".
// 1. Overwriting a whole state file atomically (temp, [fsync], rename) 1,000 times, per size.
// 2. The consumer's real durable commit of one request (decode, rules, journal append with fdatasync) with
//    0, 10,000 and 100,000 open queries in state — and, for comparison, what a full snapshot of that state
//    costs (what a snapshot per request would pay every time).

export interface SnapshotOptions {
  /** overwrites per size (default 1,000) */
  iterations?: number;
  sizes?: number[];
  /** open queries in state for the commit rows (default 0, 10,000, 100,000) */
  openQueries?: number[];
  /** requests committed per state size (default 300) */
  requests?: number;
  /** records per request (default 1,000: a full client batch) */
  batch?: number;
  dir?: string;
}

function overwrite(dir: string, bytes: number, iterations: number, sync: boolean): number {
  const payload = Buffer.alloc(bytes, 0x61);
  const path = join(dir, 'state');
  const tmp = join(dir, 'state.tmp');
  const dirFd = sync ? openSync(dir, 'r') : -1;
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) {
    const fd = openSync(tmp, 'w');
    writeSync(fd, payload);
    if (sync) fdatasyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
    if (sync) fsyncSync(dirFd);
  }
  const ms = performance.now() - t0;
  if (dirFd >= 0) closeSync(dirFd);
  return ms;
}

export async function benchSnapshot(opts: SnapshotOptions = {}): Promise<BenchReport> {
  const iterations = opts.iterations ?? 1000;
  const sizes = opts.sizes ?? [1024, 4096, 10 * 1024, MiB];
  const opens = opts.openQueries ?? [0, 10_000, 100_000];
  const requests = opts.requests ?? 300;
  const batch = opts.batch ?? 1000;
  const root = mkdtempSync(join(opts.dir ?? tmpdir(), 'slowq-bench-snapshot-'));
  try {
    const rows: Array<Array<string | number>> = [];
    const data: Record<string, unknown> = {};
    for (const bytes of sizes) {
      for (const sync of [false, true]) {
        const ms = overwrite(root, bytes, iterations, sync);
        rows.push([bytesLabel(bytes), sync ? 'yes' : 'no', iterations, ms, (ms * 1000) / iterations, Math.round((iterations / ms) * 1000)]);
        data[`overwrite ${bytesLabel(bytes)} fsync=${sync}`] = { ms, perOpUs: (ms * 1000) / iterations };
      }
    }
    const overwriteTable: Table = {
      title: `Atomic overwrite of a state file (temp file, write, [fdatasync + dir fsync], rename), ${iterations} times`,
      columns: ['size', 'fsync', 'times', 'total ms', 'µs each', 'per second'],
      rows,
    };

    // The real commit: what Consumer.onRequest + commit() do for one batch, against a real DurableStore.
    const records = sampleRecords(batch);
    const commitRows: Array<Array<string | number>> = [];
    const bars: Array<{ label: string; value: number }> = [];
    for (const open of opens) {
      const dir = join(root, `store-${open}`);
      const store = new DurableStore(dir, { fsync: true });
      await store.open();
      const engine = new RulesEngine(DEFAULT_RULES);
      const src = 'bench-db';
      const lastTs = records[records.length - 1]!.ts;
      if (open > 0) openQueriesState(engine, src, open, lastTs + 3_600_000);
      const payloads = [encodeRecords(records)];
      const times: number[] = [];
      let first = 1;
      for (let i = 0; i < requests; i++) {
        const payload = payloads[0]!;
        const t0 = performance.now();
        const recs = stampRecords(decodeRecords(payload, records.length), src, 'stream-1', first);
        engine.applyBatch(src, 'stream-1', recs, []);
        await store.append([encodeEntry({ k: 'b', src, stream: 'stream-1', first, last: first + records.length - 1, payload })]);
        times.push(performance.now() - t0);
        first += records.length;
      }
      const t0 = performance.now();
      const full = encodeSnapshot(engine, []);
      await store.snapshot(full);
      const snapMs = performance.now() - t0;
      await store.close();
      const p50 = median(times);
      commitRows.push([open, batch, p50, percentile(times, 99), Math.round((batch / p50) * 1000), full.length / MiB, snapMs]);
      bars.push({ label: `${open.toLocaleString('en-US')} open queries`, value: p50 });
      data[`commit open=${open}`] = { p50Ms: p50, p99Ms: percentile(times, 99), snapshotBytes: full.length, snapshotMs: snapMs };
    }
    const commitTable: Table = {
      title: `Consumer durable commit per request (${batch}-record batch: decode, rules, journal append + fdatasync), ${requests} requests`,
      columns: ['open queries', 'records/request', 'p50 ms', 'p99 ms', 'records/s', 'full snapshot MiB', 'full snapshot ms'],
      rows: commitRows,
      notes: [
        'one request at a time, so no group commit helps here: this is the worst case per request',
        'the last two columns are what a snapshot per request would pay on every request instead (the journal is compacted into one only every 64 MiB)',
      ],
    };
    return {
      bench: 'snapshot',
      tables: [overwriteTable, commitTable],
      charts: [
        {
          name: 'overwrite',
          title: `Atomic overwrite, µs each (lower is better)`,
          unit: 'µs',
          bars: rows.map((r) => ({ label: `${r[0]}${r[1] === 'yes' ? ' + fsync' : ''}`, value: Number(r[4]) })),
        },
        { name: 'commit', title: `Durable commit of one ${batch}-record request, p50 ms`, unit: 'ms', bars },
      ],
      data,
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
