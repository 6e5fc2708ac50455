import type { DeliveryError, Notification, Notifier } from '../model.js';
import { deliverWithRetry, type DeliveryResult, type RetryOptions } from '../notifiers/retry.js';
import type { Clock } from './clock.js';

// Sends the notifications the dispatcher decided on, per receiver. The notifications of one group go one
// after another, in order (a resolve never overtakes its firing); different groups go in parallel up to
// `concurrency`. A delivery that keeps failing with a retryable error (receiver down) is not given up: after
// the retries of one round it waits and starts another round, so nothing is lost while a receiver is away.
// A permanent failure (4xx, bad config) is reported and not retried.

export interface DeliveryOptions {
  clock: Clock;
  /** per receiver name */
  notifiers: ReadonlyMap<string, Notifier>;
  retry?: Pick<RetryOptions, 'maxAttempts' | 'baseDelayMs' | 'maxDelayMs' | 'random'>;
  /** wait between two rounds of retries (default: the retry's maxDelayMs, 30 s) */
  roundPauseMs?: number;
  /** deliveries in flight per receiver (default 4) */
  concurrency?: number;
  /**
   * The outcome: delivered (ok) or given up (permanent error); resolves once it is recorded. The delivery's
   * slot is free only then, so at most `concurrency` notifications per receiver are ever delivered but not
   * yet recorded — all a crash can make a receiver see twice. Not called for a delivery cut short by stop().
   */
  onDone(n: Notification, ok: boolean, error?: DeliveryError): Promise<void> | void;
  /** a failed attempt (it will be retried when retryable) */
  onAttemptFailed?(n: Notification, error: DeliveryError, attempt: number): void;
}

class ReceiverQueue {
  private readonly queue: Notification[] = [];
  private readonly busyGroups = new Set<string>();
  private inFlight = 0;
  private readonly running = new Set<Promise<void>>();

  /** replaced by a reload: an attempt under way finishes with the notifier it began with, the next uses this */
  constructor(public notifier: Notifier, private readonly owner: Deliveries) {}

  get length(): number {
    return this.queue.length + this.inFlight;
  }

  push(n: Notification): void {
    this.queue.push(n);
    this.pump();
  }

  pump(): void {
    while (!this.owner.stopping && this.inFlight < this.owner.concurrency) {
      const i = this.queue.findIndex((n) => !this.busyGroups.has(n.groupKey));
      if (i === -1) return;
      const n = this.queue.splice(i, 1)[0]!;
      this.busyGroups.add(n.groupKey);
      this.inFlight++;
      const p = this.run(n).finally(() => {
        this.busyGroups.delete(n.groupKey);
        this.inFlight--;
        this.running.delete(p);
        this.pump();
      });
      this.running.add(p);
    }
  }

  async drain(): Promise<void> {
    await Promise.all([...this.running]);
  }

  private async run(n: Notification): Promise<void> {
    for (let round = 0; ; round++) {
      const result: DeliveryResult = await deliverWithRetry(this.notifier, n, {
        ...this.owner.retry,
        sleep: (ms) => this.owner.sleep(ms),
        signal: this.owner.abort.signal,
        onAttemptFailed: (err, attempt) => this.owner.opts.onAttemptFailed?.(n, err, attempt),
      });
      if (this.owner.stopping && !result.ok) return; // stays pending: sent again after the restart
      if (result.ok || !result.error?.retryable) {
        await this.owner.opts.onDone(n, result.ok, result.error);
        return;
      }
      await this.owner.sleep(this.owner.roundPauseMs);
      if (this.owner.stopping) return;
    }
  }
}

export class Deliveries {
  readonly abort = new AbortController();
  stopping = false;
  readonly concurrency: number;
  readonly roundPauseMs: number;
  readonly retry: Pick<RetryOptions, 'maxAttempts' | 'baseDelayMs' | 'maxDelayMs' | 'random'>;
  private readonly queues = new Map<string, ReceiverQueue>();

  constructor(readonly opts: DeliveryOptions) {
    this.concurrency = Math.max(1, opts.concurrency ?? 4);
    this.retry = opts.retry ?? {};
    this.roundPauseMs = opts.roundPauseMs ?? this.retry.maxDelayMs ?? 30_000;
    this.setNotifiers(opts.notifiers);
  }

  /**
   * A configuration reload: new or changed receivers' notifiers. Notifications queued or being retried for a
   * receiver that stays go on in order, their next attempt with its new notifier; a removed receiver's queue
   * still delivers what it holds (decided before the reload) with its last notifier.
   */
  setNotifiers(notifiers: ReadonlyMap<string, Notifier>): void {
    for (const [name, notifier] of notifiers) {
      const q = this.queues.get(name);
      if (q) q.notifier = notifier;
      else this.queues.set(name, new ReceiverQueue(notifier, this));
    }
  }

  has(receiver: string): boolean {
    return this.queues.has(receiver);
  }

  /** Queues a notification; false when its receiver has no notifier. */
  send(n: Notification): boolean {
    const q = this.queues.get(n.receiver);
    if (!q || this.stopping) return false;
    q.push(n);
    return true;
  }

  /** notifications queued or in flight for a receiver */
  backlog(receiver: string): number {
    return this.queues.get(receiver)?.length ?? 0;
  }

  /** A sleep that stop() cuts short. */
  sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const signal = this.abort.signal;
      const finish = (): void => {
        signal.removeEventListener('abort', finish);
        timer.cancel();
        resolve();
      };
      const timer = this.opts.clock.setTimer(finish, ms);
      signal.addEventListener('abort', finish, { once: true });
    });
  }

  /** Stops sending: waits up to waitMs for deliveries in flight; what is not delivered stays pending in the log. */
  async stop(waitMs = 5000): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all([...this.queues.values()].map((q) => q.drain())),
      new Promise<void>((r) => (timer = setTimeout(r, waitMs))),
    ]);
    if (timer) clearTimeout(timer);
  }
}
