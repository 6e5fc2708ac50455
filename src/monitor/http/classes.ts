import type { QueryClassSummary } from '../../model/query-class.js';
import type { ServiceStats } from '../../wire/protocol.js';

// The dashboard's query classes: what the consumers reported with their counters (each its busiest classes of
// the last hour), put together busiest first. A source moves between consumers only with its state, but two
// reports may still name the same class for a while (the old owner's last report): the one that saw further wins.

export function busiestClasses(services: readonly ServiceStats[], limit: number): QueryClassSummary[] {
  const byClass = new Map<string, QueryClassSummary>();
  for (const s of services) {
    if (s.kind !== 'consumer' || !s.classes) continue;
    for (const c of s.classes) {
      const key = `${c.source}\u0000${c.fingerprintId}`;
      const seen = byClass.get(key);
      if (!seen || c.until > seen.until) byClass.set(key, c);
    }
  }
  return [...byClass.values()].sort((a, b) => b.totalMs - a.totalMs).slice(0, limit);
}
