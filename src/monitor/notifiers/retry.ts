import { setTimeout as delay } from 'node:timers/promises';
import { DeliveryError, type Notification, type Notifier } from '../model.js';

// Delivery of one notification with retries: exponential backoff with jitter on retryable failures (5xx, 429,
// network errors, timeouts), none on permanent ones (other 4xx, bad config). The caller sends the
// notifications of one group one after another, each to its end, so their order holds.

export interface RetryOptions {
  /** attempts in all, the first included (default 8) */
  maxAttempts?: number;
  /** delay before the second attempt; doubles each time (default 500 ms) */
  baseDelayMs?: number;
  /** ceiling of one delay, Retry-After included (default 30 s) */
  maxDelayMs?: number;
  /** injectable for tests */
  sleep?: (ms: number) => Promise<void>;
  /** injectable for tests: a number in [0, 1) */
  random?: () => number;
  onAttemptFailed?: (err: DeliveryError, attempt: number) => void;
  /** stops retrying (e.g. at shutdown): the result is then a retryable failure, to be tried again later */
  signal?: AbortSignal;
}

export interface DeliveryResult {
  ok: boolean;
  attempts: number;
  error?: DeliveryError;
}

export async function deliverWithRetry(notifier: Notifier, n: Notification, opts: RetryOptions = {}): Promise<DeliveryResult> {
  const maxAttempts = Math.max(1, opts.maxAttempts ?? 8);
  const sleep = opts.sleep ?? ((ms: number) => delay(ms, undefined, opts.signal ? { signal: opts.signal } : undefined));
  const random = opts.random ?? Math.random;
  let attempt = 0;
  for (;;) {
    if (opts.signal?.aborted) {
      return { ok: false, attempts: attempt, error: new DeliveryError(`${notifier.name}: delivery stopped before attempt ${attempt + 1}`, true) };
    }
    attempt++;
    let error: DeliveryError;
    try {
      await notifier.send(n);
      return { ok: true, attempts: attempt };
    } catch (err) {
      error = asDeliveryError(err, notifier.name);
    }
    opts.onAttemptFailed?.(error, attempt);
    if (!error.retryable || attempt >= maxAttempts) return { ok: false, attempts: attempt, error };
    try {
      await sleep(backoffMs(attempt, opts, random, (error as { retryAfterMs?: number }).retryAfterMs));
    } catch {
      // the sleep was aborted: the loop's signal check reports it
    }
  }
}

/**
 * Delay after failed attempt `attempt` (1-based): base·2^(attempt-1) capped at maxDelayMs, of which a random
 * half is kept ("equal jitter": receivers recovering from an outage are not hit by every sender at once, and
 * the delay never collapses to zero). A receiver's Retry-After is honoured up to maxDelayMs.
 */
export function backoffMs(attempt: number, opts: Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs'>, random: () => number = Math.random, retryAfterMs?: number): number {
  const base = opts.baseDelayMs ?? 500;
  const max = opts.maxDelayMs ?? 30_000;
  const exp = Math.min(max, base * 2 ** Math.min(attempt - 1, 30));
  const jittered = exp / 2 + random() * (exp / 2);
  return Math.round(Math.max(jittered, Math.min(retryAfterMs ?? 0, max)));
}

/**
 * Notifiers throw DeliveryError; anything else is a bug in the notifier (a TypeError, say), which another
 * attempt would only repeat: reported as permanent so it is seen rather than retried away.
 */
function asDeliveryError(err: unknown, name: string): DeliveryError {
  if (err instanceof DeliveryError) return err;
  return new DeliveryError(`${name}: ${err instanceof Error ? err.message : String(err)}`, false);
}
