// The largest value seen since the last take: for counters that report the worst of each report interval (a
// consumer's slowest commit), so that one stall between two reports is neither averaged away nor reported again.

export class Peak {
  private max = 0;

  observe(v: number): void {
    if (v > this.max) this.max = v;
  }

  /** The largest value since the last take (0: none), then starts over. */
  take(): number {
    const m = this.max;
    this.max = 0;
    return m;
  }
}
