import { MAX_COUNTERS } from '../wire/limits.js';
import type { ServiceStats } from '../wire/protocol.js';
import { LoopDelay } from './loop-delay.js';

// Every service reports its counters the same way: every interval, its own numbers plus any extra ones (its
// logger's dropped lines), the worst of some things over the interval (its slowest commit: peak.ts) and, once
// started, how late its event loop ran over the interval (loop-delay.ts), stamped with its name and kind, handed
// to `report` (a stats message towards the monitor, or the monitor's own table).

export interface StatsReporterOptions {
  /** e.g. "master", "consumer-c0", "client-db-01"; a function when it can change (a fenced consumer's) */
  service: string | (() => string);
  /** client, master, consumer, monitor */
  kind: string;
  /** a client's source */
  source?: string;
  counters: () => Record<string, number>;
  /** counters added to the service's own (e.g. the logger's dropped lines) */
  extra?: () => Record<string, number>;
  /** the worst of something over the interval (peak.ts): read once per report, which starts them over */
  peaks?: () => Record<string, number>;
  /** short texts reported with the counters while there is something to say (e.g. why nothing is acked) */
  notes?: () => Record<string, string> | undefined;
  report: (stats: ServiceStats) => void;
  intervalMs: number;
  /** the time a report is stamped with (default Date.now) */
  now?: () => number;
  /** let the process exit while the timer runs (default false) */
  unref?: boolean;
}

export class StatsReporter {
  private timer: NodeJS.Timeout | undefined;
  private loopDelay: LoopDelay | undefined;

  constructor(private readonly opts: StatsReporterOptions) {}

  /** Reports every interval from now on; `immediately`: once now, too. */
  start(immediately = false): void {
    this.loopDelay ??= new LoopDelay();
    this.loopDelay.start();
    if (immediately) this.report();
    this.timer = setInterval(() => this.report(), this.opts.intervalMs);
    if (this.opts.unref) this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.loopDelay?.stop();
  }

  /** The counters now, as a stats entry. */
  take(): ServiceStats {
    const { kind, source } = this.opts;
    const service = typeof this.opts.service === 'string' ? this.opts.service : this.opts.service();
    const at = (this.opts.now ?? Date.now)();
    const counters = withinLimit({ ...this.opts.counters(), ...this.opts.extra?.(), ...this.opts.peaks?.(), ...this.loopDelay?.take() });
    const notes = this.opts.notes?.();
    // keys in the order the services always sent them (the stats payload is msgpack)
    const st: ServiceStats = source === undefined ? { service, kind, at, counters } : { service, kind, source, at, counters };
    if (notes && Object.keys(notes).length > 0) st.notes = notes;
    return st;
  }

  private report(): void {
    this.opts.report(this.take());
  }
}

/**
 * The counters a stats message may carry: at most MAX_COUNTERS, else the monitor refuses the whole report and the
 * service vanishes from its view. Past the limit the rest are left out and their number said in countersNotSent.
 */
export function withinLimit(counters: Record<string, number>): Record<string, number> {
  const keys = Object.keys(counters);
  if (keys.length <= MAX_COUNTERS) return counters;
  const out: Record<string, number> = {};
  for (const k of keys.slice(0, MAX_COUNTERS - 1)) out[k] = counters[k]!;
  out.countersNotSent = keys.length - (MAX_COUNTERS - 1);
  return out;
}
