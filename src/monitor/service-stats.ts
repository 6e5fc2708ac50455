import type { ServiceStats } from '../wire/protocol.js';

// The latest counters of every service, as reported in stats messages (consumers, clients and the master
// report through the master; the monitor adds its own). The dashboard and /metrics read from here.

export class ServiceStatsTable {
  private readonly latest = new Map<string, ServiceStats>();
  /** per service: the previous report, for rates (records/s) */
  private readonly previous = new Map<string, ServiceStats>();

  constructor(private readonly maxServices = 10_000, private readonly staleMs = 60_000) {}

  update(list: readonly ServiceStats[]): void {
    for (const s of list) {
      const old = this.latest.get(s.service);
      if (old && old.at >= s.at) continue;
      if (!old && this.latest.size >= this.maxServices) continue;
      if (old) this.previous.set(s.service, old);
      this.latest.set(s.service, s);
    }
  }

  /** Every service reported within the stale time (default 60 s), by name. */
  all(now = Date.now()): ServiceStats[] {
    return [...this.latest.values()].filter((s) => now - s.at <= this.staleMs).sort((a, b) => a.service.localeCompare(b.service));
  }

  /** Rate per second of one counter between the last two reports of a service (0 if unknown). */
  rate(service: string, counter: string): number {
    const a = this.previous.get(service);
    const b = this.latest.get(service);
    if (!a || !b || b.at <= a.at) return 0;
    const d = (b.counters[counter] ?? 0) - (a.counters[counter] ?? 0);
    return d > 0 ? (d * 1000) / (b.at - a.at) : 0;
  }
}
