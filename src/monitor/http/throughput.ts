import type { ServiceStats } from '../../wire/protocol.js';
import type { ServiceStatsTable } from '../service-stats.js';

// Rates for the dashboard, sampled from the stats table at a fixed interval: records acked per second per
// source (the throughput chart, a short history so a freshly opened page has a chart at once) and each
// service's main rate (the pipeline table). Rates come from the difference of cumulative counters between
// two reports; a counter that went down means the service restarted, and its new value is the increase.

/**
 * The counter whose rate says how much a service of that kind is doing, first one reported: a client's
 * records acked if it counts them, else its records sent (its `acked` counts batches).
 */
const MAIN_COUNTER: Record<string, string[]> = { client: ['recordsAcked', 'records'], consumer: ['applied'], master: ['batches'] };

function mainCounter(s: ServiceStats): string | undefined {
  return MAIN_COUNTER[s.kind]?.find((c) => s.counters[c] !== undefined);
}

export interface ThroughputPoint {
  /** ms since epoch */
  at: number;
  /** records per second by source: acked, or sent for clients that count only batches acked */
  perSource: Record<string, number>;
}

export interface ServiceRow {
  service: string;
  kind: string;
  source?: string;
  /** ms since epoch of its latest report */
  at: number;
  /** per second, of the kind's main counter (client: records acked or sent, consumer: records applied, master: batches routed) */
  rate: number;
  /** the counter `rate` is of */
  rateOf?: string;
  /** client: records sent and not yet acked (when it counts records acked) */
  unacked?: number;
  /** client: batches sent and not yet acked */
  unackedBatches?: number;
  /** consumer: alerts waiting for the monitor's ack */
  outbox?: number;
  /** consumer: running queries tracked */
  openQueries?: number;
  counters: Record<string, number>;
}

export class ThroughputSampler {
  private readonly points: ThroughputPoint[] = [];
  private prev = new Map<string, { at: number; value: number; rate: number }>();

  constructor(private readonly stats: ServiceStatsTable, private readonly maxPoints = 120) {}

  sample(now = Date.now()): ThroughputPoint {
    const services = this.stats.all(now);
    const next = new Map<string, { at: number; value: number; rate: number }>();
    const perSource: Record<string, number> = {};
    for (const s of services) {
      const counter = mainCounter(s);
      if (!counter) continue;
      const value = s.counters[counter] ?? 0;
      const before = this.prev.get(s.service);
      // Between the reports seen at two samples, by the reports' own times (services report on their own
      // schedule); no new report since the last sample keeps the last rate.
      let rate = 0;
      if (before && s.at > before.at) {
        const delta = value >= before.value ? value - before.value : value;
        rate = (delta * 1000) / (s.at - before.at);
      } else if (before) {
        rate = before.rate;
      }
      next.set(s.service, before && s.at <= before.at ? before : { at: s.at, value, rate });
      if (s.kind === 'client' && s.source !== undefined) perSource[s.source] = (perSource[s.source] ?? 0) + rate;
    }
    this.prev = next;
    const point = { at: now, perSource };
    this.points.push(point);
    if (this.points.length > this.maxPoints) this.points.splice(0, this.points.length - this.maxPoints);
    return point;
  }

  history(): ThroughputPoint[] {
    return this.points.slice();
  }

  /** Every live service with its latest rate and backlog figures. */
  rows(now = Date.now()): ServiceRow[] {
    return this.stats.all(now).map((s) => rowOf(s, this.prev.get(s.service)?.rate ?? 0));
  }
}

function rowOf(s: ServiceStats, rate: number): ServiceRow {
  const c = s.counters;
  const row: ServiceRow = { service: s.service, kind: s.kind, at: s.at, rate, counters: { ...c } };
  if (s.source !== undefined) row.source = s.source;
  const main = mainCounter(s);
  if (main) row.rateOf = main;
  if (s.kind === 'client') {
    if (c.records !== undefined && c.recordsAcked !== undefined) row.unacked = Math.max(0, c.records - c.recordsAcked);
    if (c.batches !== undefined && c.acked !== undefined) row.unackedBatches = Math.max(0, c.batches - c.acked);
  }
  if (s.kind === 'consumer') {
    if (c.outbox !== undefined) row.outbox = c.outbox;
    if (c.openQueries !== undefined) row.openQueries = c.openQueries;
  }
  return row;
}
