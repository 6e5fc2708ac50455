// Time for the dispatcher: group timers, silences, rate limits and point-event expiry all read this, so
// tests drive them with a fake clock instead of waiting.

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  now(): number;
  /** runs fn after ms (never before now() has advanced by ms) */
  setTimer(fn: () => void, ms: number): TimerHandle;
  /** resolves after ms */
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};
