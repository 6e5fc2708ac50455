import { Worker } from 'node:worker_threads';
import type { OracleDone, OracleJob } from './workers/oracle-worker.js';

// How much parallel work this machine really gives: the oracle (parse + rules, one thread) alone, then one copy
// per core at once over the same file. On a machine whose cores are shared (a VM's vCPUs, SMT siblings, memory
// bandwidth, the GC's helper threads) k copies take longer than one, so k cores give less than k× the work.
// That factor bounds every design (bench/e2e.ts, "What this machine allows"): however well its processes overlap,
// a pipeline that spends c× the oracle's CPU per event cannot run faster than capacity ÷ c × the oracle.

export interface Capacity {
  /** copies run at once (the cores) */
  copies: number;
  /** events/s of one copy alone */
  alone: number;
  /** events/s of all copies together, from the first start to the last end */
  together: number;
  /** together ÷ alone: how many one-core oracles the machine runs at once */
  factor: number;
}

async function runCopies(file: string, copies: number): Promise<{ events: number; ms: number }> {
  const url = new URL('./workers/oracle-worker.js', import.meta.url);
  const workers = Array.from({ length: copies }, (_, i) => new Worker(url, { workerData: { file, source: `capacity-${i}` } satisfies OracleJob }));
  try {
    // every copy loaded before any starts: the timing is the work, not module loading
    await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
      w.once('error', reject);
      w.once('message', () => resolve());
    })));
    const done = await Promise.all(workers.map((w) => new Promise<OracleDone>((resolve, reject) => {
      w.once('error', reject);
      w.once('message', (m: OracleDone) => resolve(m));
      w.postMessage('go');
    })));
    const events = done.reduce((n, d) => n + d.events, 0);
    const ms = Math.max(...done.map((d) => d.end)) - Math.min(...done.map((d) => d.start));
    return { events, ms };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** The oracle alone, then `copies` of it at once, each over `file`. */
export async function measureCapacity(file: string, copies: number): Promise<Capacity> {
  const one = await runCopies(file, 1);
  const all = await runCopies(file, copies);
  const alone = (one.events / one.ms) * 1000;
  const together = (all.events / all.ms) * 1000;
  return { copies, alone, together, factor: together / alone };
}
