import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchReport, Cell } from './output.js';
import { oracleRows, type OracleCheck } from './harness/oracle-check.js';
import { EAST, NetScenario, sevenHosts, WEST, type FaultResult } from './net-scenarios.js';

// `slowq bench chaos --hosts`: the network faults of issue 13 at full length, on the network-namespace bed the
// tests use (bench/net-scenarios.ts: the same scenarios as test/e2e-network*.test.ts, which run them short). Two
// database hosts with a client each, two masters, two consumer hosts and the alert host (monitor, logserver), CURVE
// on every link and every server port behind a forwarder that can make it slow and lossy; a bounded load (a fixed
// number of records every 100 ms). Then, in turn: each link cut (client ↔ master, master ↔ consumer, consumer ↔
// monitor), a master SIGKILLed, a partition healed while batches are in flight, every process of the alert host
// killed at once, 200 ms latency with 5% loss on every link. A row per fault: its length, how long from the link's
// return (or the restart) until the flow caught up, the records written and acked meanwhile; then the oracle check.
// Needs root (network namespaces).

export interface HostsChaosOptions {
  /** length of each cut, partition, master's and host's death (default 20 s) */
  cutMs?: number;
  /** length of the slow, lossy phase (default 60 s) */
  latencyMs?: number;
  /** records per second offered, over the two sources (default 500) */
  rate?: number;
  /** working directory (default: a new temporary one, removed afterwards) */
  dir?: string;
  /** progress lines */
  log?: (line: string) => void;
}

const WRITE_EVERY_MS = 100;

export interface HostsChaosResult {
  ok: boolean;
  failures: string[];
  cutMs: number;
  latencyMs: number;
  rate: number;
  faults: FaultResult[];
  check: OracleCheck | undefined;
  /** records that reached a consumer twice (through the two masters) and were skipped */
  duplicatesSkipped: number;
  masterFailovers: number;
  durationMs: number;
}

/** Refuses, saying why, where the bed cannot be made. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('slowq bench chaos --hosts runs every service in a network namespace of its own, which needs root (and iproute2: ip, bridge); ' +
      `this process runs as uid ${process.getuid?.()}. Run it as root, or without --hosts for the loopback SIGKILL run`);
  }
}

export async function runHostsChaos(options: HostsChaosOptions = {}): Promise<HostsChaosResult> {
  requireRoot();
  const cutMs = options.cutMs ?? 20_000;
  const latencyMs = options.latencyMs ?? 60_000;
  const rate = Math.max(20, options.rate ?? 500);
  const log = options.log ?? (() => {});
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'slowq-chaos-hosts-'));
  const failures: string[] = [];
  const faults: FaultResult[] = [];
  let check: OracleCheck | undefined;
  const t0 = Date.now();
  const net = await NetScenario.start(sevenHosts({
    dir,
    subnet: '10.215.0',
    seed: 1401,
    recordsPerWrite: Math.max(1, Math.round((rate * WRITE_EVERY_MS) / 1000 / 2)),
    writeEveryMs: WRITE_EVERY_MS,
    // a minute of latency leaves a backlog; anything slower than this counts as not recovered
    recoveryLimitMs: Math.max(120_000, latencyMs * 2),
  }));
  try {
    log(`chaos --hosts: 7 hosts up in ${((Date.now() - t0) / 1000).toFixed(1)} s (in ${dir}); ${cutMs / 1000} s faults, ${latencyMs / 1000} s of latency`);
    const bed = net.bed;
    const plan: Array<[string, () => Promise<FaultResult>]> = [
      ['client ↔ master', () => net.outage('client ↔ master: dba cut off from both masters', cutMs,
        () => bed.partition(['dba'], ['m1', 'm2']), () => bed.heal(['dba'], ['m1', 'm2']))],
      ['master ↔ consumer', () => net.outage('master ↔ consumer: c0 cut off from both masters', cutMs,
        () => bed.partition(['c0'], ['m1', 'm2']), () => bed.heal(['c0'], ['m1', 'm2']))],
      ['consumer ↔ monitor', () => net.outage('consumer ↔ monitor: c0 cut off from the alert host', cutMs,
        () => bed.cutBetween('c0', 'mon'), () => bed.restoreBetween('c0', 'mon'))],
      ['master killed', () => net.masterKilled(cutMs)],
      ['partition', () => net.partition(WEST, EAST, cutMs)],
      ['host power loss', () => net.powerLoss('mon', cutMs)],
      ['latency', () => net.latency(latencyMs)],
    ];
    for (const [name, run] of plan) {
      log(`chaos --hosts: ${name}…`);
      try {
        const r = await run();
        faults.push(r);
        for (const line of r.notes) log(`  ${line}`);
      } catch (err) {
        // a fault the flow did not recover from: the next ones would measure its leftovers
        failures.push(`${name}: ${(err as Error).message}`);
        break;
      }
    }
    log('chaos --hosts: the oracle check…');
    check = await net.check(Math.max(120_000, latencyMs * 2));
    failures.push(...check.failures);
    return {
      ok: failures.length === 0, failures, cutMs, latencyMs, rate, faults, check,
      duplicatesSkipped: net.consumersSum('duplicates'),
      masterFailovers: net.opts.sources.reduce((n, s) => n + (net.clientStats(s.source)?.masterFailovers ?? 0), 0),
      durationMs: Date.now() - t0,
    };
  } finally {
    await net.close();
    if (!options.dir) rmSync(dir, { recursive: true, force: true });
  }
}

/** seconds with one decimal, as text (a number column would print 0.500 and 2 alike) */
const s1 = (ms: number): string => (ms / 1000).toFixed(1);

/** The bench report: a row per fault, then the oracle check; exit code 1 when the guarantee did not hold. */
export async function benchHostsChaos(options: HostsChaosOptions = {}): Promise<BenchReport> {
  const r = await runHostsChaos({ log: (line) => process.stderr.write(line + '\n'), ...options });
  const rows: Cell[][] = r.faults.map((f) => [f.fault, s1(f.lengthMs), s1(f.recoveredMs), f.writtenDuring, f.ackedDuring]);
  const report: BenchReport = {
    bench: 'chaos-hosts',
    tables: [
      {
        title: `Network faults on 7 hosts (network namespaces, CURVE, 2 masters, 2 consumers), ${r.rate} records/s offered`,
        columns: ['fault', 'length s', 'caught up s after the return', 'records written during', 'records acked during'],
        rows,
        notes: [
          'caught up: every record written by the link\'s return (or the restart) acked to its client, and every alert the consumers had made by then acked by the monitor (stats files, rewritten every 0.5 s)',
          ...r.faults.flatMap((f) => f.notes.filter((n) => !n.includes(': caught up ')).map((n) => (n.startsWith('from the network') ? `${f.fault}, ${n}` : n))),
          ...r.failures.filter((f) => r.check === undefined || !r.check.failures.includes(f)).map((f) => `FAILED: ${f}`),
        ],
      },
      {
        title: 'Afterwards: the oracle check',
        columns: ['check', 'expected', 'got'],
        rows: r.check ? oracleRows(r.check) : [],
        notes: [
          r.ok ? 'the guarantee held' : `FAILED: ${r.failures.join('; ')}`,
          `${r.duplicatesSkipped} records reached a consumer twice (through the two masters) and were skipped; ${r.masterFailovers} moves of a client between masters`,
          `${(r.durationMs / 1000).toFixed(0)} s in all`,
        ],
      },
    ],
    charts: [],
    data: { ...r },
  };
  if (!r.ok) process.exitCode = 1; // the report is still printed; the command fails
  return report;
}
