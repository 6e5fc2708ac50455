// How late a service's event loop ran: a timer every RESOLUTION_MS records how much later than due each tick came.
// A loop that is late holds up everything the service does — acks, alerts, heartbeats — so the worst delay and the
// 99th percentile over each report interval go out with the service's counters (`loopDelayMaxMs`,
// `loopDelayP99Ms`; /metrics: slowq_event_loop_delay_*_seconds), to tell which process a latency tail comes from
// without a profiler.
//
// Not perf_hooks.monitorEventLoopDelay: its reset() makes it skip the next tick's delay, so a stall that starts
// right after a report (the report is a timer callback too) would be missed.

const RESOLUTION_MS = 10;

export interface LoopDelaySample {
  /** the worst delay over the interval, ms (0: never late) */
  loopDelayMaxMs: number;
  loopDelayP99Ms: number;
}

export class LoopDelay {
  private timer: NodeJS.Timeout | undefined;
  private last = 0;
  /** each tick's delay since the last take, ms */
  private delays: number[] = [];

  start(): void {
    if (this.timer) return;
    this.last = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      this.delays.push(Math.max(0, now - this.last - RESOLUTION_MS));
      this.last = now;
    }, RESOLUTION_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The delays since the last take, then starts over. */
  take(): LoopDelaySample {
    const d = this.delays.sort((a, b) => a - b);
    this.delays = [];
    if (d.length === 0) return { loopDelayMaxMs: 0, loopDelayP99Ms: 0 };
    const ms = (v: number) => Math.round(v * 10) / 10;
    return { loopDelayMaxMs: ms(d[d.length - 1]!), loopDelayP99Ms: ms(d[Math.min(d.length - 1, Math.ceil(d.length * 0.99) - 1)]!) };
  }
}
