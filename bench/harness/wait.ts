// Waiting, for the tests and the benches that run real processes: a pause, and polling a condition until it
// holds, bounded in time and in count.

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What a probe answers: a value (done), or undefined / false (not yet). */
export type Probe<T> = () => T | undefined | false | Promise<T | undefined | false>;

/**
 * Polls `probe` every `everyMs` until it returns a value other than undefined or false, and returns that value;
 * throws, naming `what`, after `timeoutMs`. An error the probe throws ends the wait at once.
 */
export async function waitFor<T>(what: string, probe: Probe<T>, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  const maxPolls = Math.ceil(timeoutMs / Math.max(1, everyMs)) + 2; // a second bound, should the clock stall
  for (let i = 0; ; i++) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until || i >= maxPolls) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
