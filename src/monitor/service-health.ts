import type { ServiceStats } from '../wire/protocol.js';

// What the services' latest counters (the stats table: reported within the last minute) say is wrong with the
// pipeline while every process is up: each problem one line, for /healthz and the dashboard.

export function serviceProblems(stats: readonly ServiceStats[]): string[] {
  const out: string[] = [];
  for (const s of stats) {
    if (s.kind === 'master') {
      for (const [key, n] of Object.entries(s.counters)) {
        if (!key.startsWith('fenced.') || !(n > 0)) continue;
        out.push(`${s.service}: consumer ${key.slice('fenced.'.length)} was claimed by ${n} more process${n === 1 ? '' : 'es'} in the last minute, ` +
          'fenced off (a stray or stale consumer: see the master\'s log for where it runs)');
      }
    } else if (s.kind === 'consumer' && (s.counters.fenced ?? 0) > 0) {
      out.push(`${s.service}: fenced off by the master, which routes its name to another process (see that consumer's log)`);
    }
  }
  return out;
}
