import type { Proc } from '../../bench/harness/processes.js';

// What a service said: its JSON log lines (pino, on stderr) read back from a process's output.

/** The warn-level (40) and worse log lines of a service's output, parsed. */
export function warnings(p: Proc): Array<{ msg: string }> {
  const out: Array<{ msg: string }> = [];
  for (const line of p.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as { level?: number; msg: string };
      if ((o.level ?? 0) >= 40) out.push(o);
    } catch {
      // not a log line
    }
  }
  return out;
}
