import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

// What the process-level benches share besides the process harness (./harness/): finding tools, and
// per-process CPU time and peak RSS from /proc.

/** pt-query-digest's path if it is on PATH and executable (it is optional). */
export function ptQueryDigestPath(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, 'pt-query-digest');
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface ProcSample {
  /** user + system CPU time so far, ms */
  cpuMs: number;
  /** peak resident set size, bytes (VmHWM) */
  peakRss: number;
}

/** CPU time and peak RSS of a live process (Linux /proc); undefined if it is gone or /proc is not there. */
export function procSample(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15
    const cpuMs = ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmHWM:\s+(\d+) kB/.exec(status);
    return { cpuMs, peakRss: m ? Number(m[1]) * 1024 : 0 };
  } catch {
    return undefined;
  }
}

/** CPU time and peak RSS of each live process, by name (the ones gone or without /proc left out). */
export function procSamples(procs: Iterable<{ name: string; pid: number | undefined }>): Map<string, ProcSample> {
  const m = new Map<string, ProcSample>();
  for (const p of procs) {
    const s = p.pid !== undefined ? procSample(p.pid) : undefined;
    if (s) m.set(p.name, s);
  }
  return m;
}
