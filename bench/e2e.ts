import { appendFileSync, closeSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { cpus, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import * as zmq from 'zeromq';
import type { Batch } from '../src/client/batch.js';
import { toWire } from '../src/model/record.js';
import { parseFile } from '../src/formats/read-file.js';
import { Sender } from '../src/client/sender.js';
import { evaluateFiles } from '../src/rules/evaluate.js';
import { DEFAULT_RULES } from '../src/rules/rules.js';
import { defaultConsumerNames, ownerOf } from '../src/master/rendezvous.js';
import type { Alert, QueryRecord } from '../src/model/record.js';
import type { WireRecord } from '../src/wire/protocol.js';
import { MySqlSlowLogGenerator, writeMySqlSlowLog, type WrittenLog } from '../src/workload/mysql-slow-generator.js';
import { startServerSide } from './cluster.js';
import { flushDirtyPages } from './harness/disk.js';
import { AppendedLines, readJson } from './harness/files.js';
import { PipelinePorts, type Pipeline } from './harness/pipeline.js';
import { freeBasePort } from './harness/ports.js';
import { slowq, startProcess, stop, type Proc } from './harness/processes.js';
import { sleep, waitFor } from './harness/wait.js';
import { MiB, percentile, median, type BenchReport, type Cell, type Table } from './output.js';
import { measureCapacity, type Capacity } from './capacity.js';
import { runPtQueryDigest } from './parse.js';
import { writeConsumerState } from './state.js';
import { procSamples, ptQueryDigestPath } from './tools.js';

// `slowq bench e2e`: the real processes on this host (K clients, M consumers, master, monitor, logserver) over a
// generated MySQL slow log, with durable commits on, and in the same run the baselines the design must beat:
// the single-process oracle (parse + rules in one process), the raw transport (the same batches through the
// same sockets, nothing parsed, no state), the naive design (one JSON request and reply per record) and
// pt-query-digest on the same file.

export interface E2eOptions {
  /** size of the generated slow log per client (default 64 MiB) */
  bytes?: number;
  /**
   * share of the generated entries that are slow queries, each an alert (default 0.02). A server logging at
   * long_query_time = the alert threshold alerts on nearly every entry: 1 measures that, where the monitor's
   * per-alert work decides the rate.
   */
  slowFraction?: number;
  clients?: number;
  consumers?: number;
  /** offered rate of the latency run, events/s (default 20,000) */
  rate?: number;
  /** length of the latency run (default 5 s) */
  latencySeconds?: number;
  /** open queries preloaded for the large-state run and the restart (default 100,000; 0 skips both) */
  openQueries?: number;
  /** how long the naive baseline runs (default 5 s) */
  naiveSeconds?: number;
  /** size of the log for the client-RSS run (default 1 GiB; 0 skips it) */
  rssBytes?: number;
  /** run pt-query-digest when installed (default true) */
  pt?: boolean;
  /** add a clearly labelled run without fsync (default true) */
  noFsyncRow?: boolean;
  dir?: string;
  port?: number;
  /** progress lines (default: stderr) */
  progress?: (line: string) => void;
}

export interface ProcRow {
  name: string;
  cpuMs: number;
  peakRss: number;
}

export interface RunResult {
  label: string;
  entries: number;
  bytes: number;
  /** from the clients' first read to the last ack or the last alert written, whichever is later */
  ms: number;
  /** from the clients' first read to their last ack (every record durable at a consumer) */
  msToAck: number;
  eventsPerSec: number;
  procs: ProcRow[];
  alerts: number;
}

export const SOURCE = 'bench-db';

/** CPU ms the run's clients spent (on the database host) */
export function clientCpuMs(r: RunResult): number {
  return r.procs.filter((p) => p.name.startsWith('client')).reduce((n, p) => n + p.cpuMs, 0);
}

/** The client arguments of design B (README, "Where one file's parsing runs"): raw entry-aligned chunks, the consumers parse. */
export const DESIGN_B = ['--ship', 'chunks'];

interface LatencySummary {
  /** of the entries appended after the warm-up */
  p50: number;
  /** of the entries appended after the warm-up: the target */
  p99: number;
  /** the same, with each alert timed when the bench's own loop read it back (its pauses in), as before alert-tail */
  p99BenchLoop: number;
  /** of every entry, from the client's first line on (the start-up transient in) */
  p99Cold: number;
  /** of every entry */
  max: number;
  /** alerts timed */
  n: number;
  offered: number;
  missing: number;
  /** the services with the worst event-loop delays in the timed window, e.g. `consumer-c0 41 ms, monitor 12 ms` */
  worstLoops: string;
  /** the same for the slowest durable commit (journal write and fsync) */
  worstCommits: string;
}

interface LatencySamples {
  /** every entry's, warm-up included: from its append to the moment alert-tail saw its alert line */
  samples: number[];
  /** the entries' appended after the warm-up, timed when the bench's own loop read the alert back */
  settledBenchLoop: number[];
  /** per service, the worst event-loop delay and commit (ms) it reported for an interval overlapping the timed window */
  worst: ServiceWorst;
  /** the entries' appended after the warm-up */
  settled: number[];
  offered: number;
  missing: number;
}

/**
 * How long a latency run offers its rate before the entries it times: a service is not judged by its first second,
 * when a freshly started client and the consumer that owns the latency source (idle until then, its parser not yet
 * compiled by V8) take 0.2–2 s to catch up. The table shows the p99 with that start in as well.
 */
const LATENCY_WARMUP_SECONDS = 2;

function latencySummary(l: LatencySamples): LatencySummary {
  return {
    p50: median(l.settled), p99: percentile(l.settled, 99), p99BenchLoop: percentile(l.settledBenchLoop, 99), p99Cold: percentile(l.samples, 99), max: l.samples.length ? Math.max(...l.samples) : NaN,
    n: l.settled.length, offered: l.offered, missing: l.missing,
    worstLoops: worstFirst(l.worst.loopDelayMs), worstCommits: worstFirst(l.worst.commitMs),
  };
}

function worstFirst(byService: Map<string, number>): string {
  return [...byService].sort((a, b) => b[1] - a[1]).map(([svc, ms]) => `${svc} ${Math.round(ms)} ms`).join(', ') || 'none reported';
}

interface ServiceWorst {
  loopDelayMs: Map<string, number>;
  commitMs: Map<string, number>;
}

/**
 * Every 2 s until stopped, each service's event-loop delay and slowest commit as the monitor's /metrics has them (the
 * worst of the service's last report interval: 2 s for clients, master and consumers, 5 s for the monitor); keeps the
 * worst per service. Where a latency tail comes from, without a profiler. Not more often: a scrape costs the monitor
 * some milliseconds of its loop, which is what the run times.
 */
function watchServiceWorst(metricsUrl: string): { stop(): ServiceWorst } {
  const worst: ServiceWorst = { loopDelayMs: new Map(), commitMs: new Map() };
  const gauges: Array<[RegExp, Map<string, number>]> = [
    [/^slowq_event_loop_delay_max_seconds\{service="([^"]+)"[^}]*\} (\S+)$/gm, worst.loopDelayMs],
    [/^slowq_commit_duration_max_seconds\{service="([^"]+)"[^}]*\} (\S+)$/gm, worst.commitMs],
  ];
  const poll = () => fetch(metricsUrl).then((r) => r.text()).then((text) => {
    for (const [line, into] of gauges) {
      for (const m of text.matchAll(line)) into.set(m[1]!, Math.max(into.get(m[1]!) ?? 0, Number(m[2]) * 1000));
    }
  }).catch(() => {}); // a missed poll only narrows the view
  const timer = setInterval(() => void poll(), 2000);
  return { stop: () => { clearInterval(timer); return worst; } };
}

function clientArgs(server: Pipeline, source: string, dataDir: string, file: string, extra: string[] = [], format = 'mysql-slow'): string[] {
  return ['client', '--master', server.ports.clients, '--source', source, '--format', format, '--data', dataDir,
    '--logserver', server.ports.logserver, ...extra, file];
}

function countLines(path: string): number {
  try {
    const fd = openSync(path, 'r');
    const buf = Buffer.allocUnsafe(1 << 20);
    let n = 0;
    let pos = 0;
    for (;;) {
      const got = readSync(fd, buf, 0, buf.length, pos);
      if (got === 0) break;
      for (let i = 0; i < got; i++) if (buf[i] === 10) n++;
      pos += got;
    }
    closeSync(fd);
    return n;
  } catch {
    return 0;
  }
}

/**
 * One measured pass: start the server side, K clients over their files (`format`, default mysql-slow; `entries` of a
 * log are its records), until every record is durably applied.
 */
export async function throughputRun(
  label: string,
  dir: string,
  logs: Array<Pick<WrittenLog, 'path' | 'entries' | 'bytes'>>,
  opts: { consumers: number; fsync: boolean; port?: number; preloadOpen?: number; expectAlerts?: number; clientArgs?: string[]; consumerArgs?: string[]; format?: string },
): Promise<RunResult & { server?: Pipeline }> {
  const data = join(dir, 'server');
  const base = await freeBasePort({ preferred: opts.port });
  const sources = logs.map((_, i) => (i === 0 ? SOURCE : `${SOURCE}-${i}`));
  if (opts.preloadOpen) {
    // the open queries sit in the state of the consumer that owns the (first) source, as if it had seen them
    const owner = ownerOf(SOURCE, defaultConsumerNames(opts.consumers))!;
    await writeConsumerState(join(data, 'consumers', owner), SOURCE, opts.preloadOpen, Date.UTC(2030, 0, 1));
  }
  const server = await startServerSide({
    data, base, consumers: opts.consumers, fsync: opts.fsync, logLevel: 'warn', monitorHttp: true, ...(opts.consumerArgs && { consumerArgs: opts.consumerArgs }),
  });
  const clients: Proc[] = [];
  try {
    const before = procSamples(server.services.values());
    const total = logs.reduce((n, l) => n + l.entries, 0);
    for (let i = 0; i < logs.length; i++) {
      clients.push(slowq(`client-${i}`, clientArgs(server, sources[i]!, join(dir, `client-${i}`), logs[i]!.path, ['--log-level', 'warn', ...(opts.clientArgs ?? [])], opts.format)));
    }
    const started = Date.now();
    await waitFor('every record durably applied', () => {
      for (const c of clients) if (c.child.exitCode !== null) throw new Error(`${c.name} exited: ${c.output().slice(-1500)}`);
      return server.highWaterTotal() >= total;
    }, 120_000 + total / 5, 50);
    const doneAt = Date.now();
    // the clients' own first-read and last-ack times (stats.json is rewritten every 500 ms)
    const times = await waitFor('client stats', () => {
      const all = clients.map((_, i) => readJson<Record<string, number | string>>(join(dir, `client-${i}`, 'stats.json')));
      if (all.some((s) => !s || Date.parse(String(s.at)) < doneAt || !Number(s.lastAckAt))) return undefined;
      return all as Array<Record<string, number>>;
    }, 10_000, 50);
    const first = Math.min(...times.map((t) => Number(t.firstReadAt)));
    const last = Math.max(...times.map((t) => Number(t.lastAckAt)));
    const msToAck = Math.max(1, last - first);
    let alerts = 0;
    if (opts.expectAlerts !== undefined) {
      // alerts trail the acks (by little when few entries alert, by seconds when nearly all do): the run ends
      // when the last of them is written, as on-call sees it
      await waitFor('alerts', () => (alerts = countLines(server.alertsFile)) >= opts.expectAlerts! || undefined, 60_000, 20).catch(() => undefined);
    } else alerts = countLines(server.alertsFile);
    const lastAlertAt = alerts > 0 ? statSync(server.alertsFile).mtimeMs : 0;
    const ms = Math.max(msToAck, lastAlertAt - first);
    // the processes' counters as of the end of the run (the monitor's included, which works on after the last ack)
    const after = procSamples([...server.services.values(), ...clients.map((c) => ({ name: c.name, pid: c.child.pid }))]);
    const procs: ProcRow[] = [];
    for (const [name, s] of after) procs.push({ name, cpuMs: s.cpuMs - (before.get(name)?.cpuMs ?? 0), peakRss: s.peakRss });
    void started;
    return { label, entries: total, bytes: logs.reduce((n, l) => n + l.bytes, 0), ms, msToAck, eventsPerSec: (total / ms) * 1000, procs, alerts, server };
  } finally {
    for (const c of clients) await stop(c);
  }
}

/**
 * Pairs each alert with the append of its statement: `appends` in the order written, `seen` the alert lines in the
 * order read. A statement can be appended more than once (the generator repeats some), and its alerts come in the
 * order of its appends, so each alert takes its statement's oldest append not yet taken.
 */
function pairAlerts(appends: ReadonlyArray<readonly [string, number]>, seen: ReadonlyArray<readonly [string, number]>): { pairs: Array<[number, number]>; unmatched: number } {
  const waiting = new Map<string, number[]>();
  for (const [sql, at] of appends) {
    const q = waiting.get(sql);
    if (q) q.push(at);
    else waiting.set(sql, [at]);
  }
  const pairs: Array<[number, number]> = [];
  for (const [sql, at] of seen) {
    const t = waiting.get(sql)?.shift();
    if (t !== undefined) pairs.push([t, at - t]);
  }
  let unmatched = 0;
  for (const q of waiting.values()) unmatched += q.length;
  return { pairs, unmatched };
}

/**
 * Appends entries at a fixed rate and times each slow one from append to its alert in alerts.jsonl.
 * `extraClientArgs` picks the client's path (`['--ship', 'chunks']`: design B, against a server run for it); `what`
 * names the path in the trace (SLOWQ_BENCH_LATENCY_TRACE), where design B with and without a parse thread have the
 * same client arguments.
 */
async function latencyRun(server: Pipeline, dir: string, rate: number, seconds: number, what: string, extraClientArgs: string[] = []): Promise<LatencySamples> {
  const file = join(dir, 'latency.log');
  const fd = openSync(file, 'w');
  // 5% slow at this rate keeps thousands of statements running at once: enough threads for them not to overlap
  const g = new MySqlSlowLogGenerator({ seed: 99, meanGapMs: 1000 / rate, slowFraction: 0.05, threads: 65_536, startTs: Date.UTC(2027, 0, 1) });
  writeSync(fd, g.banner());
  const client = slowq('client-latency', clientArgs(server, 'bench-latency', join(dir, 'client-latency'), file,
    ['--log-level', 'warn', '--poll-ms', '5', '--linger-ms', '5', ...extraClientArgs]));
  /** each slow statement appended, with the moment its write returned (this process's performance clock) */
  const appends: Array<[string, number]> = [];
  /** alert lines as this process's loop read them back: statement, moment */
  const readBack: Array<[string, number]> = [];
  let settledFrom = Infinity;
  const alertsFd = openSync(server.alertsFile, 'a+');
  const alertsFrom = statSync(server.alertsFile).size;
  // the alerts as a lean process of its own saw them (workers/alert-tail.ts): "seen at (epoch ms)<TAB>statement as JSON"
  const tail = startProcess('alert-tail', process.execPath, [new URL('./workers/alert-tail.js', import.meta.url).pathname, server.alertsFile, String(alertsFrom)]);
  const tailLines: string[] = [];
  const tailDone = new Promise<void>((resolve) => createInterface({ input: tail.child.stdout! }).on('line', (l) => tailLines.push(l)).once('close', resolve));
  const alerts = new AppendedLines(alertsFd, alertsFrom, server.alertsFile);
  const readAlerts = () => alerts.read((line) => readBack.push([(JSON.parse(line) as Alert).sql, performance.now()]));
  let offered = 0;
  // SLOWQ_BENCH_LATENCY_TRACE=FILE: every sample as "ms since the start<TAB>latency ms", to see when the tail happens
  const traceFile = process.env.SLOWQ_BENCH_LATENCY_TRACE;
  const trace: string[] | undefined = traceFile ? [] : undefined;
  let t0 = 0;
  try {
    // the client is up and tailing: its registry holds the file's stream
    await waitFor('the latency client to open its file', () => {
      const reg = readJson<{ streams?: unknown[]; entries?: unknown[] }>(join(dir, 'client-latency', 'registry.json'));
      return reg !== undefined && JSON.stringify(reg).includes('latency.log');
    }, 30_000, 20);
    // the writeback of files written before (the generated logs, the last run's latency log) must not land in the window
    flushDirtyPages();
    await sleep(200);
    t0 = performance.now();
    trace?.push(`# t0 = ${Date.now()} ms since the epoch (to line the samples up with other processes' timelines)`);
    settledFrom = t0 + LATENCY_WARMUP_SECONDS * 1000;
    const end = settledFrom + seconds * 1000;
    let loops: ReturnType<typeof watchServiceWorst> | undefined;
    const metricsUrl = `http://127.0.0.1:${server.ports.http}/metrics`;
    while (performance.now() < end) {
      // reports made from a second into the timed window on cover mostly timed time
      if (!loops && performance.now() >= settledFrom + 1000) loops = watchServiceWorst(metricsUrl);
      const now = performance.now();
      const due = Math.floor(((now - t0) / 1000) * rate) - offered;
      if (due > 0) {
        let text = '';
        const slow: string[] = [];
        for (let i = 0; i < due; i++) {
          const e = g.next();
          text += e.text;
          if (e.slow) slow.push(e.sql);
        }
        writeSync(fd, text);
        const at = performance.now();
        for (const s of slow) appends.push([s, at]);
        offered += due;
      }
      readAlerts();
      await sleep(1);
    }
    // the last entry is complete only once the next one starts: end with a line that closes it
    writeSync(fd, g.next().text);
    const until = performance.now() + 5000;
    while (pairAlerts(appends, readBack).unmatched > 0 && performance.now() < until) {
      readAlerts();
      await sleep(2);
    }
    await sleep(2500); // the reports that cover the window's last seconds (sent every 2 s) reach the monitor
    const worst = loops?.stop() ?? { loopDelayMs: new Map<string, number>(), commitMs: new Map<string, number>() };
    await stop(tail);
    await tailDone;
    // alert-tail's moments are on the epoch; this process's appends on its performance clock
    const seen = tailLines.map((line): [string, number] => {
      const tab = line.indexOf('\t');
      return [JSON.parse(line.slice(tab + 1)) as string, Number(line.slice(0, tab)) - performance.timeOrigin];
    });
    const { pairs, unmatched } = pairAlerts(appends, seen);
    const samples = pairs.map(([, ms]) => ms);
    const settled = pairs.filter(([t]) => t >= settledFrom).map(([, ms]) => ms);
    const settledBenchLoop = pairAlerts(appends, readBack).pairs.filter(([t]) => t >= settledFrom).map(([, ms]) => ms);
    for (const [t, ms] of pairs) trace?.push(`${(t - t0).toFixed(1)}\t${ms.toFixed(1)}`);
    if (traceFile && trace) appendFileSync(traceFile, `# ${what}\n${trace.join('\n')}\n`);
    return { samples, settled, settledBenchLoop, offered, missing: unmatched, worst };
  } finally {
    closeSync(fd);
    closeSync(alertsFd);
    await stop(client);
    await stop(tail);
  }
}

/** Time from starting a consumer process on an existing state directory to its "consumer started" line. */
async function restartTime(dataDir: string, name: string, ports: PipelinePorts): Promise<number> {
  const t0 = performance.now();
  const c = slowq(`restart-${name}`, ['consumer', '--name', name, '--data', dataDir, '--master', ports.consumers,
    '--monitor', ports.monitor, '--log-level', 'info']);
  try {
    await c.waitForOutput('consumer started', 60_000);
    return performance.now() - t0;
  } finally {
    await stop(c);
  }
}

async function parseBatches(file: string, source: string): Promise<{ batches: Array<Batch<undefined>>; records: QueryRecord[] }> {
  const records: QueryRecord[] = [];
  let seq = 0;
  await parseFile(file, 'mysql-slow', (events) => {
    for (const e of events) records.push({ ...toWire(e), source, stream: 'raw-1', seq: ++seq });
  });
  const batches: Array<Batch<undefined>> = [];
  for (let i = 0; i < records.length; i += 1000) {
    const slice = records.slice(i, i + 1000);
    const wire: WireRecord[] = slice.map((r) => {
      const { source: _s, stream: _st, seq: _q, ...w } = r;
      return w;
    });
    batches.push({ stream: 'raw-1', first: slice[0]!.seq, last: slice[slice.length - 1]!.seq, records: wire, resume: undefined });
  }
  return { batches, records };
}

/** The same batches through the real master to consumers that ack without decoding: the transport's ceiling. */
async function rawTransportRun(batches: Array<Batch<undefined>>, consumers: number, port?: number): Promise<{ ms: number; records: number }> {
  const ports = new PipelinePorts(await freeBasePort({ preferred: port }));
  const names = defaultConsumerNames(consumers);
  const master = slowq('raw-master', ['master', '--port', String(ports.base), '--consumers', names.join(','), '--monitor', 'none', '--log-level', 'warn']);
  const nullConsumer = startProcess('raw-consumers', process.execPath, [new URL('./workers/null-consumer.js', import.meta.url).pathname, ports.consumers, ...names]);
  const log = pino({ level: 'silent' });
  let acked = 0;
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((r) => (resolveDone = r));
  const total = batches.reduce((n, b) => n + b.records.length, 0);
  const sender = new Sender<undefined>({ masters: [{ endpoint: ports.clients }], source: 'bench-raw', log, window: 16, ackTimeoutMs: 10_000 }, (b) => {
    acked = b.last;
    if (acked >= total) resolveDone();
  }, () => {});
  try {
    await nullConsumer.waitForOutput('null consumer ready', 10_000);
    await sleep(1500); // the master has heard the consumers' hello
    sender.start();
    const t0 = performance.now();
    for (const b of batches) sender.submit(b);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`raw transport: ${acked} of ${total} acked after 120 s`)), 120_000);
    });
    try {
      await Promise.race([done, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return { ms: performance.now() - t0, records: total };
  } finally {
    await sender.stop();
    await stop(nullConsumer);
    await stop(master);
  }
}

/** One JSON request and reply per record, each made durable before the reply, for up to `seconds`. */
async function naiveRun(records: QueryRecord[], dir: string, seconds: number, port?: number): Promise<{ ms: number; records: number }> {
  const endpoint = `tcp://127.0.0.1:${await freeBasePort({ preferred: port })}`;
  const server = startProcess('naive-server', process.execPath, [new URL('./workers/naive-server.js', import.meta.url).pathname, endpoint, join(dir, 'naive'), 'fsync']);
  const sock = new zmq.Dealer({ linger: 0 });
  try {
    await server.waitForOutput('naive server ready', 10_000);
    sock.connect(endpoint);
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    let n = 0;
    while (n < records.length && performance.now() < end) {
      await sock.send(JSON.stringify(records[n]));
      await sock.receive();
      n++;
    }
    return { ms: performance.now() - t0, records: n };
  } finally {
    sock.close();
    await stop(server);
  }
}

const mib = (n: number) => n / MiB;

/** CPU ms of the busiest consumer of a run: the one that owns the source (one client) */
const busiestConsumerMs = (r: RunResult): number => Math.max(...r.procs.filter((p) => p.name.startsWith('consumer')).map((p) => p.cpuMs));

/**
 * What this machine allows each run: its CPU per event (every process) against the oracle's, and the ceiling
 * that sets. However well the processes overlap, a run spending c× the oracle's CPU per event on a machine that
 * runs `capacity.factor` oracles at once cannot beat factor ÷ c × the oracle; and if the consumer that owns the
 * source spent no more than the oracle does, the rest of the pipeline alone still sets factor ÷ (1 + rest ÷ oracle).
 */
function machineAllows(capacity: Capacity, oracleCpuUs: number, oracleEvps: number, runs: RunResult[]): Table {
  const rows: Cell[][] = runs.map((r) => {
    const total = r.procs.reduce((n, p) => n + p.cpuMs, 0);
    const owner = busiestConsumerMs(r);
    const us = (ms: number) => (ms * 1000) / r.entries;
    return [r.label, Math.round(r.eventsPerSec), r.eventsPerSec / oracleEvps, us(total), us(total) / oracleCpuUs, us(owner), us(total - owner),
      capacity.factor / (us(total) / oracleCpuUs), capacity.factor / (1 + us(total - owner) / oracleCpuUs)];
  });
  return {
    title: 'What this machine allows: each run\'s CPU per event against the oracle\'s, and the ceiling that sets',
    columns: ['run', 'events/s', '× oracle', 'CPU µs/event, all processes', '÷ oracle\'s CPU/event', 'owning consumer µs/event', 'the rest µs/event',
      'ceiling × oracle', 'ceiling × oracle if the owner cost only what the oracle does'],
    rows,
    notes: [
      `the oracle: ${oracleCpuUs.toFixed(2)} µs of CPU per event (its process, GC threads in), ${Math.round(oracleEvps).toLocaleString('en-US')} events/s`,
      `capacity: the oracle on one worker thread ${Math.round(capacity.alone).toLocaleString('en-US')} events/s; ${capacity.copies} copies at once over the same file ${Math.round(capacity.together).toLocaleString('en-US')} events/s in all: this machine runs ${capacity.factor.toFixed(2)} oracles at once, not ${capacity.copies}`,
      'the rest: the client, the master, the monitor, the logserver and the consumers that do not own the source',
      'ceiling × oracle = capacity ÷ (CPU per event ÷ the oracle\'s): what no overlap of the processes can beat; the last column takes the owning consumer at exactly the oracle\'s cost, so only the rest of the pipeline is on top of the work itself',
      'the 1.2× target needs the whole pipeline at ≤ capacity ÷ 1.2 of the oracle\'s CPU per event, and the owning consumer\'s serial part below the oracle\'s',
    ],
  };
}

/**
 * A tailed slow log's last entry is known complete only when the next one starts (or after the tailer's idle
 * flush, 1 s later). A live log always has a next entry; the benches' files end with the first line of one,
 * so the timing ends with the last real entry, not with an idle wait.
 */
function withTrailer(log: WrittenLog): WrittenLog {
  const line = '# Time: 2030-01-01T00:00:00.000000Z\n';
  appendFileSync(log.path, line);
  return { ...log, bytes: log.bytes + line.length };
}

export async function benchE2e(opts: E2eOptions = {}): Promise<BenchReport> {
  const began = Date.now();
  const progress = opts.progress ?? ((l: string) => process.stderr.write(`slowq bench e2e: [${((Date.now() - began) / 1000).toFixed(1)} s] ${l}\n`));
  const bytes = opts.bytes ?? 64 * MiB;
  const consumers = opts.consumers ?? 2;
  const clientsN = opts.clients ?? 1;
  const rate = opts.rate ?? 20_000;
  const latencySeconds = opts.latencySeconds ?? 5;
  const openQueries = opts.openQueries ?? 100_000;
  const naiveSeconds = opts.naiveSeconds ?? 5;
  const rssBytes = opts.rssBytes ?? 1024 * MiB;
  const root = mkdtempSync(join(opts.dir ?? tmpdir(), 'slowq-bench-e2e-'));
  const data: Record<string, unknown> = { host: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version }, bytes, consumers, clients: clientsN };
  const rows: Cell[][] = [];
  const procTables: Table[] = [];
  const notes: string[] = [];
  let running: Pipeline | undefined;
  try {
    progress(`generating ${clientsN} × ${mib(bytes).toFixed(0)} MiB MySQL slow log`);
    const logs: WrittenLog[] = [];
    for (let i = 0; i < clientsN; i++) logs.push(withTrailer(writeMySqlSlowLog(join(root, `slow-${i}.log`), { bytes }, { seed: 1 + i, flavor: 'mysql', ...(opts.slowFraction !== undefined && { slowFraction: opts.slowFraction }) })));
    flushDirtyPages();
    const main = logs[0]!;
    const totalEntries = logs.reduce((n, l) => n + l.entries, 0);
    const totalBytes = logs.reduce((n, l) => n + l.bytes, 0);

    // the oracle: the same parser and rules in one process (what `slowq evaluate` does)
    progress('single-process oracle');
    let oracleAlerts = 0;
    let t0 = performance.now();
    // the bench's process does nothing else meanwhile: its CPU (the GC's helper threads in) is the oracle's
    const oracleCpu0 = process.cpuUsage();
    for (let i = 0; i < logs.length; i++) {
      await evaluateFiles([logs[i]!.path], 'mysql-slow', i === 0 ? SOURCE : `${SOURCE}-${i}`, DEFAULT_RULES, (a) => (oracleAlerts += a.length));
    }
    const oracleMs = performance.now() - t0;
    const oracleCpu = process.cpuUsage(oracleCpu0);
    const oracleCpuUsPerEvent = (oracleCpu.user + oracleCpu.system) / totalEntries;
    const oracleEvps = (totalEntries / oracleMs) * 1000;

    const runRow = (r: RunResult, what: string): Cell[] => [what, r.entries, mib(r.bytes), r.ms / 1000, Math.round(r.eventsPerSec), mib(r.bytes) / (r.ms / 1000), r.eventsPerSec / oracleEvps];
    const procTable = (r: RunResult): Table => ({
      title: `Processes during "${r.label}" (CPU over the run; peak RSS)`,
      columns: ['process', 'CPU s', 'CPU % of run', 'peak RSS MiB'],
      rows: r.procs.map((p) => [p.name, p.cpuMs / 1000, (p.cpuMs / r.ms) * 100, mib(p.peakRss)]),
    });

    /**
     * One way of running the pipeline, durable: its throughput run, then (unless skipped) its latency run against
     * the same server. `what` names it in progress lines and notes; the results go to `data[key]` and
     * `data[latencyKey]`; `inspect` reads the server before it stops.
     */
    const pipelinePath = async (p: { what: string; label: string; row: string; dir: string; key: string; latencyKey: string; clientArgs?: string[];
      consumerArgs?: string[]; inspect?: (server: Pipeline) => void }): Promise<{ run: RunResult; latency: LatencySummary | undefined }> => {
      progress(`pipeline, ${p.what}: ${clientsN} client(s), ${consumers} consumers, fsync on`);
      const run = await throughputRun(p.label, join(root, p.dir), logs, { consumers, fsync: true, port: opts.port, expectAlerts: oracleAlerts,
        ...(p.clientArgs && { clientArgs: p.clientArgs }), ...(p.consumerArgs && { consumerArgs: p.consumerArgs }) });
      running = run.server;
      rows.push(runRow(run, p.row));
      procTables.push(procTable(run));
      data[p.key] = { ...run, server: undefined };
      if (run.alerts !== oracleAlerts) notes.push(`alerts written by the pipeline (${p.what}): ${run.alerts}, oracle: ${oracleAlerts}`);
      let latency: LatencySummary | undefined;
      if (latencySeconds > 0) {
        progress(`latency at ${rate} events/s offered for ${latencySeconds} s (${p.what})`);
        latency = latencySummary(await latencyRun(run.server!, join(root, p.dir), rate, latencySeconds, p.what, p.clientArgs));
        data[p.latencyKey] = latency;
      }
      p.inspect?.(run.server!);
      await run.server!.stop();
      running = undefined;
      rmSync(join(root, p.dir), { recursive: true, force: true });
      return { run, latency };
    };

    const { run: durable, latency } = await pipelinePath({ what: 'record path', label: `${clientsN} client, ${consumers} consumers, durable`,
      row: `slowq pipeline: ${clientsN} client, ${consumers} consumers, fsync on`, dir: 'run-durable', key: 'durable', latencyKey: 'latency' });
    // design B (README, "Where one file's parsing runs"): the client ships raw entry-aligned chunks, the consumers parse
    const { run: chunked, latency: latencyB } = await pipelinePath({ what: 'design B (--ship chunks)', label: `design B: --ship chunks, ${clientsN} client, ${consumers} consumers, durable`,
      row: `slowq pipeline, design B (--ship chunks: consumers parse), fsync on`, dir: 'run-chunks', key: 'chunks', latencyKey: 'latencyChunks', clientArgs: DESIGN_B });
    // design B with a parse thread on the consumers (parse-ahead.ts): the owning consumer parses ahead on a second core
    const { run: threaded, latency: latencyT } = await pipelinePath({ what: 'design B + parse thread (--parse-threads 1)',
      label: `design B + parse thread: --ship chunks, consumers --parse-threads 1, durable`, row: `slowq pipeline, design B + a parse thread on the consumer (--parse-threads 1), fsync on`,
      dir: 'run-chunks-threaded', key: 'chunksThreaded', latencyKey: 'latencyChunksThreaded', clientArgs: DESIGN_B, consumerArgs: ['--parse-threads', '1'],
      inspect: (server) => {
        for (const name of defaultConsumerNames(consumers)) {
          const st = server.consumerStats(name);
          if (st && (st.chunksParsedAhead ?? 0) + (st.chunksParsedAgain ?? 0) > 0) notes.push(`design B + parse thread, consumer ${name}: chunks parsed ahead ${st.chunksParsedAhead}, parsed again on the main thread ${st.chunksParsedAgain ?? 0}`);
        }
      } });
    const clientCpu = (r: RunResult): Cell[] => {
      const cpuMs = clientCpuMs(r);
      const busiest = busiestConsumerMs(r);
      // share of one core the client needs per 10,000 events/s: its CPU per event × 10,000
      return [r.label, Math.round(r.eventsPerSec), cpuMs / 1000, (cpuMs * 1000) / r.entries, ((cpuMs / 1000) / r.entries) * 10_000 * 100, (busiest * 1000) / r.entries];
    };
    const cpuRows = [clientCpu(durable), clientCpu(chunked), clientCpu(threaded)];
    data.clientCpu = cpuRows;

    progress(`this machine's parallel capacity: the oracle alone, then ${cpus().length} copies at once`);
    const capacity = await measureCapacity(main.path, cpus().length);
    data.capacity = capacity;

    let large: RunResult | undefined;
    let restartMs: number | undefined;
    if (openQueries > 0) {
      progress(`pipeline with ${openQueries} open queries in state`);
      const r = await throughputRun(`with ${openQueries} open queries`, join(root, 'run-open'), logs, { consumers, fsync: true, port: opts.port, preloadOpen: openQueries });
      running = r.server;
      large = r;
      rows.push(runRow(r, `  … with ${openQueries.toLocaleString('en-US')} open queries in state`));
      data.openQueries = { ...r, server: undefined, ratio: r.eventsPerSec / durable.eventsPerSec };
      await r.server!.stop();
      running = undefined;
      const owner = ownerOf(SOURCE, defaultConsumerNames(consumers))!;
      progress('consumer restart with the large state');
      restartMs = await restartTime(r.server!.consumerDir(owner), owner, r.server!.ports);
      data.restartMs = restartMs;
    }

    if (opts.noFsyncRow !== false) {
      progress('pipeline without fsync (labelled, not the contract)');
      const r = await throughputRun('no fsync', join(root, 'run-nofsync'), logs, { consumers, fsync: false, port: opts.port });
      running = r.server;
      rows.push(runRow(r, `  … --no-fsync (NOT crash-safe, for comparison only)`));
      data.noFsync = { ...r, server: undefined };
      await r.server!.stop();
      running = undefined;
      rmSync(join(root, 'run-nofsync'), { recursive: true, force: true });
    }

    rows.push([`oracle: parse + rules in one process`, totalEntries, mib(totalBytes), oracleMs / 1000, Math.round(oracleEvps), mib(totalBytes) / (oracleMs / 1000), 1]);
    data.oracle = { ms: oracleMs, eventsPerSec: oracleEvps, alerts: oracleAlerts };

    progress('raw transport (same batches, same sockets, no parse, no state)');
    const { batches, records } = await parseBatches(main.path, 'bench-raw');
    const raw = await rawTransportRun(batches, consumers, opts.port);
    const rawEvps = (raw.records / raw.ms) * 1000;
    rows.push(['raw transport: batches → master → null consumers', raw.records, mib(main.bytes), raw.ms / 1000, Math.round(rawEvps), mib(main.bytes) / (raw.ms / 1000), rawEvps / oracleEvps]);
    data.rawTransport = { ...raw, eventsPerSec: rawEvps };

    progress(`naive design (one JSON request + reply per record, fsync each) for ${naiveSeconds} s`);
    const naive = await naiveRun(records, root, naiveSeconds, opts.port);
    const naiveEvps = (naive.records / naive.ms) * 1000;
    rows.push(['naive: one JSON request + reply per record', naive.records, null, naive.ms / 1000, Math.round(naiveEvps), null, naiveEvps / oracleEvps]);
    data.naive = { ...naive, eventsPerSec: naiveEvps };
    batches.length = 0;
    records.length = 0;

    let ptEvps: number | undefined;
    const pt = opts.pt === false ? undefined : ptQueryDigestPath();
    if (pt) {
      progress('pt-query-digest on the same file');
      const r = await runPtQueryDigest(pt, main.path, 600_000);
      if ('ms' in r) {
        ptEvps = (main.entries / r.ms) * 1000;
        rows.push(['pt-query-digest: same file (parse + report)', main.entries, mib(main.bytes), r.ms / 1000, Math.round(ptEvps), mib(main.bytes) / (r.ms / 1000), ptEvps / oracleEvps]);
        data.ptQueryDigest = { ms: r.ms, eventsPerSec: ptEvps };
      } else notes.push(`pt-query-digest failed: ${r.error}`);
    } else notes.push(opts.pt === false ? 'pt-query-digest skipped (--no-pt)' : 'pt-query-digest not installed: no comparison row');

    let rss: RunResult | undefined;
    let rssB: RunResult | undefined;
    if (rssBytes > 0) {
      const big = withTrailer(writeMySqlSlowLog(join(root, 'big.log'), { bytes: rssBytes }, { seed: 77 }));
      flushDirtyPages();
      // the same file for both paths, each run against its own fresh server side
      const bigRun = async (what: string, runDir: string, extra: string[] | undefined): Promise<RunResult> => {
        progress(`client tailing a ${mib(rssBytes).toFixed(0)} MiB log (peak RSS, ${what})`);
        const { server, ...r } = await throughputRun(`${mib(rssBytes).toFixed(0)} MiB log, ${what}`, join(root, runDir), [big], { consumers, fsync: true, port: opts.port, ...(extra && { clientArgs: extra }) });
        running = server;
        rows.push(runRow(r, `slowq pipeline on a ${mib(rssBytes).toFixed(0)} MiB log, ${what}, fsync on`));
        procTables.push(procTable(r));
        await server!.stop();
        running = undefined;
        rmSync(join(root, runDir), { recursive: true, force: true });
        return r;
      };
      rss = await bigRun('record path', 'run-big', undefined);
      data.big = rss;
      rssB = await bigRun('design B (--ship chunks)', 'run-big-chunks', DESIGN_B);
      data.bigChunks = rssB;
      rmSync(big.path, { force: true });
    }

    // targets from the issue, each with what was measured in this run
    const targets: Cell[][] = [];
    const target = (what: string, want: string, got: number | undefined, ok: boolean | undefined, unit = '') =>
      targets.push([what, want, got === undefined ? null : `${got.toLocaleString('en-US', { maximumFractionDigits: got >= 100 ? 0 : 2 })}${unit}`, ok === undefined ? 'not measured' : ok ? 'met' : 'NOT met']);
    // the throughput targets, for each path: design B is the one chosen for one file on every core
    for (const [r, what] of [[durable, 'record path'], [chunked, 'design B']] as const) {
      target(`end-to-end events/s, ${clientsN} client, ${consumers} consumers (${what})`, '≥ 250,000', Math.round(r.eventsPerSec), r.eventsPerSec >= 250_000);
      target(`end-to-end ÷ pt-query-digest, same file (${what})`, '≥ 20×', ptEvps && r.eventsPerSec / ptEvps, ptEvps ? r.eventsPerSec / ptEvps >= 20 : undefined, '×');
      target(`end-to-end ÷ single-process oracle (${what})`, '≥ 1.2×', r.eventsPerSec / oracleEvps, r.eventsPerSec / oracleEvps >= 1.2, '×');
    }
    target('end-to-end ÷ naive per-record JSON', 'report', durable.eventsPerSec / naiveEvps, undefined, '×');
    targets[targets.length - 1]![3] = 'reported';
    for (const [l, what] of [[latency, 'record path'], [latencyB, 'design B'], [latencyT, 'design B + parse thread']] as const) {
      target(`p99 append → alert at ${rate.toLocaleString('en-US')} events/s offered, after a ${LATENCY_WARMUP_SECONDS} s warm-up (${what})`, '≤ 50 ms', l?.p99, l ? l.p99 <= 50 : undefined, ' ms');
    }
    target(`throughput with ${openQueries.toLocaleString('en-US')} open queries ÷ with none`, '≥ 0.8', large && large.eventsPerSec / durable.eventsPerSec, large ? large.eventsPerSec / durable.eventsPerSec >= 0.8 : undefined);
    target(`consumer restart to ready, ${openQueries.toLocaleString('en-US')} open queries`, '≤ 1 s', restartMs, restartMs === undefined ? undefined : restartMs <= 1000, ' ms');
    for (const [r, what] of [[rss, 'record path'], [rssB, 'design B']] as const) {
      const clientRss = r?.procs.find((p) => p.name.startsWith('client'))?.peakRss;
      target(`client peak RSS tailing a ${mib(rssBytes).toFixed(0)} MiB log (${what})`, '≤ 100 MB', clientRss && clientRss / 1e6, clientRss === undefined ? undefined : clientRss <= 100e6, ' MB');
    }
    data.targets = targets;
    const allowed = machineAllows(capacity, oracleCpuUsPerEvent, oracleEvps, [durable, chunked, threaded, ...(rssB ? [rssB] : [])]);
    data.machineAllows = allowed.rows;

    const tables: Table[] = [
      {
        title: `End-to-end throughput: generated MySQL 8 slow log, ${mib(bytes).toFixed(0)} MiB per client (${totalEntries.toLocaleString('en-US')} events), from first byte read to last ack`,
        columns: ['what', 'events', 'MiB', 'seconds', 'events/s', 'MiB/s', '× oracle'],
        rows,
        notes: [
          `pipeline rows: real processes on loopback (client → master → consumers → monitor, logserver); a run is timed from the client's first events read to its last ack (every record durable at a consumer) or to the last alert written to alerts.jsonl, whichever is later (until ${durable.msToAck.toFixed(0)} ms to the last ack, record path; ${chunked.msToAck.toFixed(0)} ms, design B)`,
          'oracle: `slowq evaluate` work (same parser, same rules) in one process over the same file',
          'raw transport: the same 1,000-record batches through the real master to consumers that ack from the header alone (no payload decoding, no rules, no disk)',
          `naive: a client sending one JSON request per record and waiting for the reply; the server applies the rules and appends with fdatasync before replying (run for ${naiveSeconds} s)`,
          'a source is the unit of ownership: one client (one source) keeps one consumer busy and the other idle, as the process table shows; more sources spread over the consumers',
          `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node.js ${process.version}, ${platform()} ${release()}`,
          ...notes,
        ],
      },
      ...procTables,
    ];
    if (latency && latencyB) {
      const latencyRow = (what: string, l: LatencySummary): Cell[] => [what, l.n, l.offered, l.p50, l.p99, l.p99BenchLoop, l.p99Cold, l.max, l.missing];
      tables.push({
        title: `Latency from a line appended to the log to its alert in alerts.jsonl, ${rate.toLocaleString('en-US')} events/s offered for ${LATENCY_WARMUP_SECONDS} s of warm-up, then ${latencySeconds} s timed`,
        columns: ['client', 'alerts timed', 'events offered', 'p50 ms', 'p99 ms', 'p99 ms, read in the bench\'s loop', 'p99 ms with the warm-up', 'max ms with the warm-up', 'missing'],
        rows: [latencyRow('record path (client parses)', latency), latencyRow('design B (--ship chunks: consumers parse)', latencyB),
          ...(latencyT ? [latencyRow('design B + a parse thread on the consumer (--parse-threads 1)', latencyT)] : [])],
        notes: ['client with --poll-ms 5 --linger-ms 5 (the defaults, 100 and 20, favour throughput); 5% of entries are slow queries, each timed from the write that appended it to the moment its alert line is seen in alerts.jsonl by a lean process of its own (bench/workers/alert-tail.ts, polling every ms); "read in the bench\'s loop": the same alerts timed when the bench\'s own process read them back, its garbage collections in (how this table measured before alert-tail); each path against its own server side, same generator, same rate',
          `p50 and p99 (the target) are of the entries appended after the warm-up; the next columns count every entry from the client's first line on, while the freshly started client and the consumer that owns the latency source (idle until then) warm up`,
          `worst event-loop delay per process, from the services' reports over the timed window (the monitor's /metrics, polled every 2 s): record path ${latency.worstLoops}; design B ${latencyB.worstLoops}${latencyT ? `; design B + parse thread ${latencyT.worstLoops}` : ''}`,
          `slowest durable commit (journal write and fsync) per process, the same way: record path ${latency.worstCommits}; design B ${latencyB.worstCommits}${latencyT ? `; design B + parse thread ${latencyT.worstCommits}` : ''}`],
      });
    }
    tables.push({
      title: 'Client CPU on the database host, records (today) and design B (raw chunks), same file, same run',
      columns: ['run', 'events/s', 'client CPU s', 'client CPU µs/event', 'client % of a core per 10,000 events/s', 'busiest consumer CPU µs/event'],
      rows: cpuRows,
      notes: ['the client\'s CPU over the run divided by the events: what 10,000 events/s cost the database host, whatever rate the run reached'],
    });
    tables.push(allowed);
    tables.push({ title: 'Targets (the throughput issue), measured in this run', columns: ['target', 'wanted', 'measured', 'result'], rows: targets });
    return {
      bench: 'e2e',
      tables,
      charts: [{ name: 'throughput', title: 'End-to-end and baselines, events/s (higher is better)', unit: 'ev/s', bars: rows.map((r) => ({ label: String(r[0]).trim(), value: Number(r[4]) })) }],
      data,
    };
  } finally {
    if (running) await running.stop().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
}

