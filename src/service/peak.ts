// The longest time seen since the last take, in ms: for counters that report the worst of each report interval (a
// consumer's or the monitor's slowest commit), so that one stall between two reports is neither averaged away nor
// reported again.

/** A time in ms to a tenth of a ms, as services report times. */
export function tenthsOfMs(ms: number): number {
  return Math.round(ms * 10) / 10;
}

export class PeakMs {
  private max = 0;

  observe(ms: number): void {
    if (ms > this.max) this.max = ms;
  }

  /** The longest time since the last take, to a tenth of a ms (0: none), then starts over. */
  take(): number {
    const m = this.max;
    this.max = 0;
    return tenthsOfMs(m);
  }
}
