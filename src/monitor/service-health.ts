import type { ServiceStats } from '../wire/protocol.js';

// What the services' latest counters (the stats table: reported within the last minute) say is wrong with the
// pipeline while every process is up: each problem one line, for /healthz and the dashboard.

/** A client whose oldest unacked batch has waited this long is a source that cannot make progress (default 30 s). */
export const DEFAULT_STUCK_AFTER_MS = 30_000;

export function serviceProblems(stats: readonly ServiceStats[], stuckAfterMs = DEFAULT_STUCK_AFTER_MS): string[] {
  const out: string[] = [];
  for (const s of stats) {
    if (s.kind === 'client') {
      const source = s.source ?? s.service;
      const waiting = s.counters.waitingMs ?? 0;
      if (waiting >= stuckAfterMs) {
        out.push(`source ${source} cannot make progress: nothing acknowledged for ${Math.round(waiting / 1000)} s (${s.notes?.waitingFor ?? 'no reason given'})`);
      }
      if ((s.counters.read ?? 0) === 0 && (s.counters.deadLettered ?? 0) > 0) {
        out.push(`source ${source}: none of the ${s.counters.deadLettered} lines read so far is in its format (see dead-letter.jsonl in its client's data directory)`);
      }
      continue;
    }
    if (s.kind === 'master') {
      for (const [key, n] of Object.entries(s.counters)) {
        if (!key.startsWith('fenced.') || !(n > 0)) continue;
        out.push(`${s.service}: consumer ${key.slice('fenced.'.length)} was claimed by ${n} more process${n === 1 ? '' : 'es'} in the last minute, ` +
          'fenced off (a stray or stale consumer: see the master\'s log for where it runs)');
      }
      if ((s.counters.ringStoreDown ?? 0) > 0) {
        out.push(`${s.service}: cannot reach the shared ring's store (etcd, --ring-store): it routes by the last ring it read, and changes of the consumer set wait (see its log)`);
      }
    } else if (s.kind === 'consumer' && (s.counters.fenced ?? 0) > 0) {
      out.push(`${s.service}: fenced off by the master, which routes its name to another process (see that consumer's log)`);
    }
  }
  return out;
}
