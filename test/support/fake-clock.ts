import type { Clock, TimerHandle } from '../../src/monitor/dispatch/clock.js';

// A clock for tests of the dispatcher: time moves only when the test says so.

/** A clock that moves only when told to; due timers run in time order. */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start = Date.parse('2026-01-01T00:00:00Z')) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return { cancel: () => this.timers.delete(id) };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimer(resolve, ms));
  }

  get pending(): number {
    return this.timers.size;
  }

  /**
   * Moves time forward by ms, running each due timer at its own time, and letting promise callbacks
   * (journal writes, deliveries) run between timers.
   */
  async advance(ms: number): Promise<void> {
    const until = this.t + ms;
    for (let guard = 0; guard < 1_000_000; guard++) {
      await settle();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= until && (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[0] < next[0]))) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = until;
    await settle();
  }
}

/** Lets queued promise callbacks and immediates run (a few rounds, for chains of awaits). */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}
