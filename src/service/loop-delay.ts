import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { tenthsOfMs } from './peak.js';

// How late a service's event loop ran: libuv's timer every RESOLUTION_MS (perf_hooks, no JavaScript per tick)
// records how long each tick really took. A loop that is late holds up everything the service does — acks,
// alerts, heartbeats — so the worst delay and the 99th percentile over each report interval go out with the
// service's counters (`loopDelayMaxMs`, `loopDelayP99Ms`; /metrics: slowq_event_loop_delay_*_seconds), to tell
// which process a latency tail comes from without a profiler.
//
// Cost: one wake-up per RESOLUTION_MS. On this project's VM an idle process pays ~0.45% of a core at 20 ms
// (~0.9% at 10 ms, ~2% with a JavaScript timer at 10 ms), so 20 ms: a stall shows up to 20 ms shorter than it was.
//
// The histogram skips the first tick after a reset, so a stall in the rest of the loop turn a report runs in
// would go unseen: a setImmediate after each take measures that turn and adds it to the next report's worst.

const RESOLUTION_MS = 20;

export interface LoopDelaySample {
  /** the worst delay over the interval, ms (0: never late) */
  loopDelayMaxMs: number;
  loopDelayP99Ms: number;
}

export class LoopDelay {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  /** how long the rest of the loop turn of the last take ran, ms */
  private afterTakeMs = 0;

  start(): void {
    this.histogram.enable();
  }

  stop(): void {
    this.histogram.disable();
  }

  /** The delays since the last take (a tick's time beyond the timer's period), then starts over. */
  take(): LoopDelaySample {
    const h = this.histogram;
    const late = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
    const max = Math.max(h.count > 0 ? late(h.max) : 0, this.afterTakeMs);
    const p99 = h.count > 0 ? late(h.percentile(99)) : 0;
    h.reset();
    this.afterTakeMs = 0;
    const at = performance.now();
    setImmediate(() => (this.afterTakeMs = performance.now() - at)).unref();
    return { loopDelayMaxMs: tenthsOfMs(max), loopDelayP99Ms: tenthsOfMs(p99) };
  }
}
