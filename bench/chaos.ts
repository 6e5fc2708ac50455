import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateFiles } from '../src/rules/evaluate.js';
import { DEFAULT_RULES } from '../src/rules/rules.js';
import type { Alert } from '../src/model/record.js';
import { WorkloadGenerator, type JsonlRecord } from '../src/workload/generator.js';
import { ClassWorkload, type ClassWorkloadOptions } from '../src/workload/class-workload.js';
import type { BenchReport } from './output.js';
import { prng } from '../src/workload/prng.js';
import { readAlerts } from './harness/files.js';
import { Pipeline, type Service } from './harness/pipeline.js';
import { freeBasePort } from './harness/ports.js';
import { slowq, stop } from './harness/processes.js';
import { sleep } from './harness/wait.js';

// The fault-injection harness behind `slowq bench chaos` and test/chaos.test.ts. It runs the whole
// pipeline as real processes on loopback through harness/pipeline.ts (logserver, monitor, master, N consumers,
// K clients each tailing its own growing log; test/e2e-faults.test.ts runs the same with a fixed plan), writes generated records into the logs while SIGKILLing a random process at random
// moments and restarting it, and then checks the delivery guarantee (docs/delivery.md):
//   - the alert ids in alerts.jsonl equal the oracle's (`slowq evaluate` over the same records),
//     and the alerts themselves are identical;
//   - no alert id is written twice;
//   - every record is applied exactly once: the consumers' durable high-water marks add up to the number
//     of records written;
//   - no process died other than by our hand, and every one stops cleanly (exit 0) at the end.
// Everything is seeded: the same seed gives the same records and the same sequence of victims.

export interface ChaosOptions {
  /** records in total, split evenly over the clients (default 500,000) */
  records?: number;
  /** clients, one source and one log file each (default 4) */
  clients?: number;
  /** consumers (default 2) */
  consumers?: number;
  /** SIGKILLs to inject, at least (default 20) */
  faults?: number;
  seed?: number;
  /** working directory (default: a new temporary one, removed afterwards unless `keep`) */
  dir?: string;
  keep?: boolean;
  /** progress lines */
  log?: (line: string) => void;
  /** give up waiting for the pipeline to catch up after this long (default 15 min) */
  timeoutMs?: number;
  /** records written per client per append (default 500) */
  chunk?: number;
  /** most records written but not yet applied, so faults always meet traffic in flight (default 30,000) */
  maxLag?: number;
  /** pause before each fault once its moment has come: uniform in [min, max] ms (default 300..2000) */
  faultGapMs?: [number, number];
  /**
   * The first source's server clock steps an hour ahead now and then: every `clockStepEvery` records one record
   * an hour ahead (a SET timestamp session, a stepped clock); the oracle sees the same records (default 0: none)
   */
  clockStepEvery?: number;
  /**
   * journal size at which a consumer snapshots its state (its --compact-bytes; default: the consumer's 64 MiB),
   * small to make SIGKILLs meet snapshots being written behind the commits
   */
  compactBytes?: number;
  /** a stray `slowq consumer` claiming the first consumer's name, with another data directory, runs for this long mid-run (default 0: none) */
  strayConsumerMs?: number;
  /**
   * The last source (of two or more) runs query classes that get 10× slower now and then (CLASS_SLOWDOWNS), so
   * that regression alerts fire and resolve while the faults hit (default false: the usual workload everywhere)
   */
  classSlowdowns?: boolean;
}

/**
 * Five classes, 200 executions a minute in all: 125,000 records are ~10 hours of event time, and two classes slow
 * down 10× for 20 minutes each, after more history than a baseline needs.
 */
const CLASS_SLOWDOWNS: Omit<ClassWorkloadOptions, 'seed'> = {
  classes: 5, perMinute: 40,
  slowdowns: [{ classIndex: 1, fromMin: 90, toMin: 110, factor: 10 }, { classIndex: 3, fromMin: 250, toMin: 270, factor: 10 }],
};

/**
 * The workload of one source, with a record an hour ahead every `every` records: a finished statement of
 * 1.5 s under an id of its own (so it alerts, in its own time), which the rules must refuse as a clock step
 * without silencing what follows.
 */
class ClockSteppingWorkload {
  private n = 0;
  private steps = 0;
  /** the record a step was put before: it comes next */
  private held: JsonlRecord | undefined;
  constructor(private readonly g: WorkloadGenerator, private readonly every: number, private readonly prefix: string) {}

  next(): JsonlRecord {
    if (this.held) {
      const r = this.held;
      this.held = undefined;
      return r;
    }
    const r = this.g.next();
    if (this.every <= 0 || ++this.n % this.every !== 0) return r;
    this.held = r;
    return { ts: r.ts + 3_600_000, state: 'finished', id: `${this.prefix}clock-step-${++this.steps}`, duration_ms: 1500, sql: 'SELECT SLEEP(1.5)', db: r.db, user: r.user };
  }
}

export interface ChaosFault {
  /** ms since the start of the run */
  at: number;
  process: string;
  pid: number | undefined;
  /** records applied (durably) when it happened, of `records` */
  applied: number;
  /** records written to the logs by then */
  written: number;
  /** ms the process stayed down */
  downMs: number;
}

export interface ChaosResult {
  ok: boolean;
  /** what failed, empty when ok */
  failures: string[];
  seed: number;
  records: number;
  clients: number;
  consumers: number;
  faults: ChaosFault[];
  /** faults per process kind: client, master, consumer, monitor, logserver */
  faultsByKind: Record<string, number>;
  /** processes that exited without being killed by the harness, with the tail of their output */
  unexpectedExits: Array<{ process: string; code: number | null; signal: string | null; output: string }>;
  expectedAlerts: number;
  /** the oracle's alerts by type */
  expectedByType: Record<string, number>;
  alerts: number;
  missingAlerts: number;
  extraAlerts: number;
  /** alerts whose content differs from the oracle's alert with the same id */
  changedAlerts: number;
  duplicateAlerts: number;
  highWaterTotal: number;
  /** wall time of the pipeline run (writing + catching up), ms */
  durationMs: number;
  /** the kept working directory, when `keep` */
  dir?: string;
}

/** Key order does not matter: compare alerts as sorted JSON. */
function canonical(a: Alert): string {
  const o = a as unknown as Record<string, unknown>;
  return JSON.stringify(Object.keys(o).sort().map((k) => [k, o[k]]));
}

export async function runChaos(options: ChaosOptions = {}): Promise<ChaosResult> {
  const seed = options.seed ?? 1;
  const rand = prng(seed);
  const nClients = Math.max(1, options.clients ?? 4);
  const nConsumers = Math.max(1, options.consumers ?? 2);
  const total = Math.max(nClients, options.records ?? 500_000);
  const perClient = Math.floor(total / nClients);
  const records = perClient * nClients;
  const faultTarget = options.faults ?? 20;
  const chunk = Math.max(1, options.chunk ?? 500);
  const maxLag = options.maxLag ?? 30_000;
  const [gapMin, gapMax] = options.faultGapMs ?? [300, 2000];
  const timeoutMs = options.timeoutMs ?? 15 * 60_000;
  const log = options.log ?? (() => {});
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'slowq-chaos-'));
  mkdirSync(dir, { recursive: true });

  const failures: string[] = [];
  const unexpectedExits: ChaosResult['unexpectedExits'] = [];
  const faults: ChaosFault[] = [];
  let pipeline: Pipeline | undefined;

  const sources = Array.from({ length: nClients }, (_, i) => `chaos-db-${i}`);
  const consumerNames = Array.from({ length: nConsumers }, (_, i) => `c${i}`);
  const logFiles = sources.map((s) => join(dir, 'logs', `${s}.jsonl`));
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const genOpts = (i: number) => ({ seed: seed * 1000 + i, idPrefix: `${sources[i]}-` });
  /** the records of source i, in order (the first source's with clock steps when asked) */
  const workload = (i: number): { next(): JsonlRecord } =>
    options.classSlowdowns && i === nClients - 1 && nClients > 1
      ? new ClassWorkload({ ...CLASS_SLOWDOWNS, seed: seed * 1000 + i, idPrefix: `${sources[i]}-` })
      : new ClockSteppingWorkload(new WorkloadGenerator(genOpts(i)), i === 0 ? options.clockStepEvery ?? 0 : 0, `${sources[i]}-`);

  try {
    // ---- the oracle, from the same records written to a side file ----
    log(`chaos: seed ${seed}, ${records} records over ${nClients} clients, ${nConsumers} consumers, ${faultTarget} faults, in ${dir}`);
    const want = new Map<string, string>();
    const expectedByType: Record<string, number> = {};
    for (let i = 0; i < nClients; i++) {
      const file = join(dir, `oracle-${i}.jsonl`);
      const g = workload(i);
      writeFileSync(file, '');
      for (let n = 0; n < perClient; n += 10_000) {
        let text = '';
        for (let k = n; k < Math.min(perClient, n + 10_000); k++) text += JSON.stringify(g.next()) + '\n';
        appendFileSync(file, text);
      }
      await evaluateFiles([file], 'jsonl', sources[i]!, DEFAULT_RULES, (alerts) => {
        for (const a of alerts) {
          want.set(a.id, canonical(a));
          expectedByType[a.type] = (expectedByType[a.type] ?? 0) + 1;
        }
      });
      rmSync(file);
    }
    log(`chaos: the oracle expects ${want.size} alerts`);

    // ---- the processes: one pipeline; a process that dies on its own is noted and started again ----
    for (const f of logFiles) writeFileSync(f, '');
    const p = (pipeline = Pipeline.start({
      data: join(dir, 'server'),
      base: await freeBasePort({ count: 4, random: rand }),
      consumers: consumerNames,
      ...(options.compactBytes !== undefined && { consumerArgs: ['--compact-bytes', String(options.compactBytes)] }),
      clients: sources.map((source, i) => ({ source, files: [logFiles[i]!], format: 'jsonl', data: join(dir, `client-${i}`), args: ['--ack-timeout-ms', '1000'] })),
      onUnexpectedExit: (service, proc, exit) => {
        unexpectedExits.push({ process: service.name, code: exit.code, signal: exit.signal, output: proc.output().slice(-4000) });
        log(`chaos: ${service.name} exited by itself (code ${exit.code}, signal ${exit.signal}); restarting it`);
        setTimeout(() => {
          if (service.proc === proc && !p.stopping) service.start();
        }, 500);
      },
    }));

    // Records durably applied, as far as the consumers running now say; while one is (re)starting, the last
    // complete count stands.
    let lastApplied = 0;
    const applied = (): number => (lastApplied = p.liveHighWaterTotal() ?? lastApplied);
    const t0 = Date.now();
    const deadline = t0 + timeoutMs;

    // ---- the writer: appends records in chunks, keeping at most maxLag written but not yet applied ----
    let written = 0;
    const writer = (async () => {
      const gens = sources.map((_, i) => workload(i));
      const done = sources.map(() => 0);
      while (written < records && Date.now() < deadline) {
        if (written - applied() > maxLag) {
          await sleep(50);
          continue;
        }
        for (let i = 0; i < nClients; i++) {
          const n = Math.min(chunk, perClient - done[i]!);
          if (n <= 0) continue;
          let text = '';
          for (let k = 0; k < n; k++) text += JSON.stringify(gens[i]!.next()) + '\n';
          appendFileSync(logFiles[i]!, text);
          done[i]! += n;
          written += n;
        }
        await sleep(20);
      }
    })();

    // ---- a stray consumer: another process claims the first consumer's name for a while; it must be fenced off ----
    const stray = (options.strayConsumerMs ?? 0) > 0 ? (async () => {
      while (applied() < records * 0.4 && Date.now() < deadline) await sleep(100);
      const name = consumerNames[0]!;
      const proc = slowq('stray-consumer', ['consumer', '--name', name, '--data', join(dir, 'stray'), '--master', p.ports.consumers,
        '--monitor', p.ports.monitor, '--logserver', p.ports.logserver]);
      log(`chaos: a stray consumer claims ${name} for ${options.strayConsumerMs} ms, at ${applied()} applied`);
      await sleep(options.strayConsumerMs!);
      await stop(proc);
      if (!/fenced/.test(proc.output())) failures.push(`the stray consumer was not told it is fenced off:\n${proc.output().slice(-2000)}`);
    })() : undefined;

    // ---- the faults: every kind of process at least once, then random ones ----
    const kinds = ['client', 'master', 'consumer', 'monitor', 'logserver'] as const;
    const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
    const victims: Service[] = [];
    for (const k of kinds) victims.push(pick(p.ofKind(k)));
    for (let i = victims.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [victims[i], victims[j]] = [victims[j]!, victims[i]!];
    }
    // then a kind at random, and a process of that kind (4 clients must not get most of the faults)
    while (victims.length < faultTarget) victims.push(pick(p.ofKind(pick(kinds))));

    // Moments: random points of the run by records applied (so faults are spread over the whole run however fast
    // it goes), each followed by a random pause, and never two faults closer than gapMin.
    const marks = victims.map(() => Math.floor(rand() * records * 0.95)).sort((a, b) => a - b);
    for (const [k, m] of victims.entries()) {
      while (applied() < marks[k]! && Date.now() < deadline) await sleep(50);
      if (Date.now() > deadline) break;
      await sleep(gapMin + rand() * (gapMax - gapMin));
      if (!m.running) await m.proc?.exited; // died on its own just now: its restart is on the way
      const fault: ChaosFault = { at: Date.now() - t0, process: m.name, pid: m.pid, applied: applied(), written, downMs: 0 };
      await m.kill9();
      // sometimes back at once, sometimes after the others noticed it was gone
      const down = rand() < 0.3 ? 0 : Math.round(rand() * 1500);
      await sleep(down);
      fault.downMs = down;
      m.start();
      faults.push(fault);
      log(`chaos: fault ${faults.length}/${victims.length}: SIGKILL ${m.name} (pid ${fault.pid}) at ${(fault.at / 1000).toFixed(1)} s, ` +
        `${fault.written} written, ${fault.applied} applied; restarted after ${down} ms`);
    }
    await writer;
    await stray;
    if (written < records) failures.push(`only ${written} of ${records} records were written before the timeout`);

    // ---- wait for the pipeline to catch up ----
    let hwm = 0;
    let got: Alert[] = [];
    for (;;) {
      hwm = applied();
      got = readAlerts(p.alertsFile);
      const ids = new Set(got.map((a) => a.id));
      let all = hwm >= records;
      if (all) for (const id of want.keys()) if (!ids.has(id)) { all = false; break; }
      if (all) break;
      if (Date.now() > deadline) {
        failures.push(`timed out: ${hwm} of ${records} records applied, ${ids.size} of ${want.size} alerts delivered`);
        break;
      }
      await sleep(250);
    }
    const durationMs = Date.now() - t0;
    await sleep(1500); // anything still in flight that would be a duplicate lands now
    // every process past its start-up, so the SIGTERM below tests an orderly stop, not a start interrupted
    for (const m of p.services.values()) await sleep(Math.max(0, m.startedAt + 5000 - Date.now()));

    // ---- stop everything, clients first; each must exit 0 ----
    for (const { service, exit } of await p.stop(15_000)) {
      if (exit.code !== 0) failures.push(`${service.name} did not stop cleanly on SIGTERM (code ${exit.code}, signal ${exit.signal})`);
    }

    // ---- the verdict: counts written by each consumer as it stopped ----
    hwm = p.highWaterTotal();
    got = readAlerts(p.alertsFile);
    const seen = new Set<string>();
    let duplicateAlerts = 0;
    let extraAlerts = 0;
    let changedAlerts = 0;
    for (const a of got) {
      if (seen.has(a.id)) duplicateAlerts++;
      seen.add(a.id);
      const w = want.get(a.id);
      if (w === undefined) extraAlerts++;
      else if (w !== canonical(a)) changedAlerts++;
    }
    let missingAlerts = 0;
    for (const id of want.keys()) if (!seen.has(id)) missingAlerts++;
    if (missingAlerts) failures.push(`${missingAlerts} alerts of the oracle's are missing`);
    if (extraAlerts) failures.push(`${extraAlerts} alerts the oracle does not give`);
    if (changedAlerts) failures.push(`${changedAlerts} alerts differ from the oracle's`);
    if (duplicateAlerts) failures.push(`${duplicateAlerts} alert ids written more than once`);
    if (hwm !== records) failures.push(`high-water marks add up to ${hwm}, not ${records}: records ${hwm > records ? 'applied twice' : 'lost'}`);
    if (unexpectedExits.length) failures.push(`${unexpectedExits.length} processes died without being killed: ${unexpectedExits.map((u) => u.process).join(', ')}`);
    if (faults.length < faultTarget) failures.push(`only ${faults.length} of ${faultTarget} faults were injected`);

    const faultsByKind: Record<string, number> = {};
    for (const f of faults) {
      const k = p.service(f.process).kind;
      faultsByKind[k] = (faultsByKind[k] ?? 0) + 1;
    }
    const result: ChaosResult = {
      ok: failures.length === 0,
      failures,
      seed,
      records,
      clients: nClients,
      consumers: nConsumers,
      faults,
      faultsByKind,
      unexpectedExits,
      expectedAlerts: want.size,
      expectedByType,
      alerts: got.length,
      missingAlerts,
      extraAlerts,
      changedAlerts,
      duplicateAlerts,
      highWaterTotal: hwm,
      durationMs,
    };
    if (options.keep) result.dir = dir;
    return result;
  } finally {
    await pipeline?.kill();
    if (!options.keep && !options.dir) rmSync(dir, { recursive: true, force: true });
  }
}

/** A few lines for people: what was done and whether the guarantee held. */
export function formatChaosReport(r: ChaosResult): string {
  const kinds = Object.entries(r.faultsByKind).map(([k, n]) => `${k} ${n}`).join(', ');
  const lines = [
    `chaos (seed ${r.seed}): ${r.records} records from ${r.clients} clients over ${r.consumers} consumers in ${(r.durationMs / 1000).toFixed(1)} s ` +
      `(${Math.round(r.records / (r.durationMs / 1000))} records/s with faults)`,
    `  ${r.faults.length} SIGKILLs (${kinds}), each process restarted`,
    `  alerts: ${r.alerts} delivered, oracle ${r.expectedAlerts} (${Object.entries(r.expectedByType).sort().map(([t, n]) => `${t} ${n}`).join(', ')}); missing ${r.missingAlerts}, extra ${r.extraAlerts}, changed ${r.changedAlerts}, duplicate ids ${r.duplicateAlerts}`,
    `  records applied (sum of durable high-water marks): ${r.highWaterTotal} of ${r.records}`,
    r.ok ? '  OK: every record applied once, alerts equal the oracle, none twice' : `  FAILED: ${r.failures.join('; ')}`,
  ];
  if (r.dir) lines.push(`  kept in ${r.dir}`);
  return lines.join('\n');
}

/**
 * `slowq bench chaos`: the harness as a bench report (a table of the verdict and one of the faults). When the
 * guarantee did not hold, the exit code is set to 1 (the report is printed all the same).
 */
export async function benchChaos(options: ChaosOptions = {}): Promise<BenchReport> {
  const r = await runChaos({ log: (line) => process.stderr.write(line + '\n'), ...options });
  const report: BenchReport = {
    bench: 'chaos',
    tables: [
      {
        title: `Chaos: ${r.records.toLocaleString('en-US')} records, ${r.clients} clients, ${r.consumers} consumers, ${r.faults.length} SIGKILLs (seed ${r.seed})`,
        columns: ['check', 'expected', 'got'],
        rows: [
          ['alerts delivered (ids)', r.expectedAlerts, r.alerts - r.duplicateAlerts],
          ['alerts missing', 0, r.missingAlerts],
          ['alerts the oracle does not give', 0, r.extraAlerts],
          ['alerts differing from the oracle', 0, r.changedAlerts],
          ['alert ids written twice', 0, r.duplicateAlerts],
          ['records applied (sum of durable high-water marks)', r.records, r.highWaterTotal],
          ['processes that died on their own', 0, r.unexpectedExits.length],
        ],
        notes: [
          r.ok ? 'the guarantee held' : `FAILED: ${r.failures.join('; ')}`,
          `${(r.durationMs / 1000).toFixed(1)} s of writing and catching up, ${Math.round(r.records / (r.durationMs / 1000))} records/s with the faults`,
          `faults by kind: ${Object.entries(r.faultsByKind).map(([k, n]) => `${k} ${n}`).join(', ')}`,
        ],
      },
      {
        title: 'Faults',
        columns: ['#', 'at s', 'SIGKILL', 'records written', 'records applied', 'down ms'],
        rows: r.faults.map((f, i) => [i + 1, Math.round(f.at / 100) / 10, f.process, f.written, f.applied, f.downMs]),
      },
    ],
    charts: [],
    data: { ...r },
  };
  if (!r.ok) process.exitCode = 1; // the report is still printed; the command fails
  return report;
}
