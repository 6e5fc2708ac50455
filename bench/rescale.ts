import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ownerOf } from '../src/model/rendezvous.js';
import type { BenchReport, Cell } from './output.js';
import { readJson } from './harness/files.js';
import { oracleRows, type OracleCheck, checkAgainstOracle } from './harness/oracle-check.js';
import { Pipeline } from './harness/pipeline.js';
import { freeBasePort } from './harness/ports.js';
import { slowq } from './harness/processes.js';
import { sleep, waitFor } from './harness/wait.js';
import { WorkloadFile } from './harness/workload-file.js';

// `slowq bench rescale`: throughput before, during and after a change of the consumer set (issue 13's closing
// note). On loopback, the whole pipeline as real processes (harness/pipeline.ts), clients of several sources
// offered a steady load (a fixed number of records every 100 ms); the consumers go 2 → 3 (`slowq cluster
// add-consumer c2`, the new consumer started first) and back 3 → 2 (`remove-consumer c2`). For each change: the
// records/s acked to the clients in a window before it, during it (from the command until it says the change is
// done) and after it, and how long it took; then the oracle check (alerts equal `slowq evaluate`'s, none twice,
// the high-water marks add up to the records written). The sources are chosen so that c2 wins one from each old
// owner and the others stay: a change moves two sources with their state.

export interface RescaleOptions {
  /** records per second offered, over all sources (default 4000) */
  rate?: number;
  /** sources, a client each (default 4; at least 3: two move, one stays) */
  sources?: number;
  /** length of the windows before and after each change (default 20 s) */
  windowMs?: number;
  port?: number;
  dir?: string;
  log?: (line: string) => void;
}

const WRITE_EVERY_MS = 100;

/** n sources: one that c2 wins from c0, one it wins from c1, the rest staying where they are. */
export function pickRescaleSources(n: number): string[] {
  const moving = new Map<string, string>();
  const staying: string[] = [];
  for (let i = 0; i < 10_000 && (moving.size < 2 || staying.length < n - 2); i++) {
    const s = `rescale-db-${i}`;
    const before = ownerOf(s, ['c0', 'c1'])!;
    if (ownerOf(s, ['c0', 'c1', 'c2']) === 'c2') {
      if (!moving.has(before)) moving.set(before, s);
    } else if (staying.length < n - 2) staying.push(s);
  }
  return [...moving.values(), ...staying];
}

export interface RescaleWindow {
  phase: string;
  /** e.g. "2", or "2 → 3" during a change */
  consumers: string;
  ms: number;
  offeredPerS: number;
  ackedPerS: number;
  /** records written but not yet acked at the window's end */
  backlog: number;
}

export interface RescaleChange {
  change: string;
  ms: number;
  /** sources that moved (hand-offs taken in) */
  moved: number;
  ok: boolean;
  output: string;
}

export interface RescaleResult {
  ok: boolean;
  failures: string[];
  rate: number;
  sources: string[];
  windows: RescaleWindow[];
  changes: RescaleChange[];
  check: OracleCheck | undefined;
}

export async function runRescale(options: RescaleOptions = {}): Promise<RescaleResult> {
  const rate = Math.max(10, options.rate ?? 4000);
  const nSources = Math.max(3, options.sources ?? 4);
  const windowMs = options.windowMs ?? 20_000;
  const log = options.log ?? (() => {});
  const dir = options.dir ? mkdtempSync(join(options.dir, 'slowq-bench-rescale-')) : mkdtempSync(join(tmpdir(), 'slowq-bench-rescale-'));
  const failures: string[] = [];
  const sources = pickRescaleSources(nSources);
  const perWrite = Math.max(1, Math.round((rate * WRITE_EVERY_MS) / 1000 / sources.length));
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const workloads = sources.map((s, i) => new WorkloadFile(join(dir, 'logs', `${s}.jsonl`), { seed: 1500 + i, idPrefix: `${s}-` }));
  for (const w of workloads) w.append(perWrite);
  const p = Pipeline.start({
    data: join(dir, 'server'),
    base: await freeBasePort({ count: 5, ...(options.port ? { preferred: options.port } : {}) }),
    consumers: ['c0', 'c1'],
    clients: sources.map((source, i) => ({ source, files: [workloads[i]!.path], format: 'jsonl', data: join(dir, `client-${source}`), args: ['--ack-timeout-ms', '1000'] })),
    serviceArgs: ['--log-level', 'warn'],
    onUnexpectedExit: (service, _proc, exit) => failures.push(`${service.name} exited by itself (code ${exit.code}, signal ${exit.signal}): ${service.output().slice(-1000)}`),
  });
  let writer: NodeJS.Timeout | undefined;
  let sampler: NodeJS.Timeout | undefined;
  try {
    await p.ready();
    const written = () => workloads.reduce((n, w) => n + w.written, 0);
    const acked = () => sources.reduce((n, s) => n + (readJson<Record<string, number>>(join(dir, `client-${s}`, 'stats.json'))?.recordsAcked ?? 0), 0);
    writer = setInterval(() => {
      for (const w of workloads) w.append(perWrite);
    }, WRITE_EVERY_MS);
    await waitFor('every client\'s first ack', () => sources.every((s) => (readJson<Record<string, number>>(join(dir, `client-${s}`, 'stats.json'))?.acked ?? 0) > 0), 60_000);
    // the stats files are rewritten every 0.5 s: a sample every 250 ms, and a window's ends read from the samples
    const samples: Array<{ t: number; written: number; acked: number }> = [];
    const sample = () => samples.push({ t: Date.now(), written: written(), acked: acked() });
    sample();
    sampler = setInterval(sample, 250);
    const at = (t: number) => samples.reduce((best, s) => (s.t <= t ? s : best), samples[0]!);
    const windows: RescaleWindow[] = [];
    let consumers = '2';
    const window = (phase: string, from: number, to: number) => {
      sample();
      const [a, b] = [at(from), at(to)];
      const secs = Math.max(0.001, (b.t - a.t) / 1000);
      windows.push({ phase, consumers, ms: to - from, offeredPerS: (b.written - a.written) / secs, ackedPerS: (b.acked - a.acked) / secs, backlog: b.written - b.acked });
    };
    const hold = async (phase: string) => {
      const from = Date.now();
      await sleep(windowMs);
      window(phase, from, Date.now());
    };
    await sleep(Math.min(5000, windowMs / 2)); // the clients past their start
    const handoffsIn = () => ['c0', 'c1', 'c2'].reduce((n, c) => n + (p.consumerStats(c)?.handoffsIn ?? 0), 0);
    const changes: RescaleChange[] = [];
    const change = async (phase: string, args: string[], after: string) => {
      const moved0 = handoffsIn();
      const from = Date.now();
      log(`rescale: ${args.join(' ')}…`);
      const proc = slowq(`cluster-${args[0]}`, ['cluster', ...args, '--master', p.ports.consumers]);
      const code = await proc.exited;
      const to = Date.now();
      const before = consumers;
      consumers = `${before} → ${after}`;
      window(phase, from, to);
      consumers = after;
      changes.push({ change: phase, ms: to - from, moved: handoffsIn() - moved0, ok: code === 0, output: proc.output().trim() });
      if (code !== 0) failures.push(`slowq cluster ${args.join(' ')} exited ${code}: ${proc.output().slice(-1000)}`);
    };

    log('rescale: 2 consumers…');
    await hold('before the scale-out');
    const c2 = p.addConsumer('c2');
    await waitFor('c2 started', () => p.consumerStats('c2')?.pid === c2.pid, 30_000);
    await change('scale-out 2 → 3', ['add-consumer', 'c2'], '3');
    await hold('after the scale-out');
    await change('scale-in 3 → 2', ['remove-consumer', 'c2'], '2');
    await hold('after the scale-in');
    clearInterval(writer);
    writer = undefined;
    log('rescale: the oracle check…');
    const check = await checkAgainstOracle({
      alertsFile: p.alertsFile,
      sources: sources.map((source, i) => ({ source, files: [workloads[i]!.path] })),
      written: written(),
      highWater: () => p.highWaterTotal(),
      timeoutMs: 120_000,
    });
    failures.push(...check.failures);
    for (const { service, exit } of await p.stop(15_000)) {
      if (exit.code !== 0) failures.push(`${service.name} did not stop cleanly (code ${exit.code}, signal ${exit.signal})`);
    }
    return { ok: failures.length === 0, failures, rate: (perWrite * sources.length * 1000) / WRITE_EVERY_MS, sources, windows, changes, check };
  } finally {
    if (writer) clearInterval(writer);
    if (sampler) clearInterval(sampler);
    await p.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** seconds with one decimal, as text (a number column would print 0.500 and 2 alike) */
const s1 = (ms: number): string => (ms / 1000).toFixed(1);

export async function benchRescale(options: RescaleOptions = {}): Promise<BenchReport> {
  const r = await runRescale({ log: (line) => process.stderr.write(line + '\n'), ...options });
  const report: BenchReport = {
    bench: 'rescale',
    tables: [
      {
        title: `Throughput across a scale-out and a scale-in (loopback, ${r.sources.length} sources, ${Math.round(r.rate)} records/s offered)`,
        columns: ['window', 'consumers', 's', 'records/s offered', 'records/s acked', 'backlog at its end'],
        rows: r.windows.map((w): Cell[] => [w.phase, w.consumers, s1(w.ms), Math.round(w.offeredPerS), Math.round(w.ackedPerS), w.backlog]),
        notes: [
          'acked: records acked to the clients (their stats files, rewritten every 0.5 s: a short window is rough); during a change: from the `slowq cluster` command until it says the change is done',
        ],
      },
      {
        title: 'The changes',
        columns: ['change', 'took s', 'sources moved with their state'],
        rows: r.changes.map((c): Cell[] => [c.change, s1(c.ms), c.moved]),
      },
      {
        title: 'Afterwards: the oracle check',
        columns: ['check', 'expected', 'got'],
        rows: r.check ? oracleRows(r.check) : [],
        notes: [r.ok ? 'the guarantee held' : `FAILED: ${r.failures.join('; ')}`],
      },
    ],
    charts: [],
    data: { ...r },
  };
  if (!r.ok) process.exitCode = 1;
  return report;
}
