import type { Clock } from './dispatch/clock.js';
import type { RateLimitConfig } from './monitor-config.js';

// A token bucket per receiver: `burst` notifications may go at once, then `rate` per `perMs`. What the bucket
// refuses is not dropped: the dispatcher keeps those alerts in their groups and counts them, and the next
// notification that goes through to the receiver carries the count (Notification.heldBack).

export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(private readonly cfg: Pick<RateLimitConfig, 'rate' | 'perMs' | 'burst'>, private readonly clock: Clock) {
    this.tokens = cfg.burst;
    this.at = clock.now();
  }

  /** Takes one token if there is one. */
  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** ms until a token is available (0: now) */
  waitMs(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * this.cfg.perMs) / this.cfg.rate);
  }

  private refill(): void {
    const now = this.clock.now();
    if (now > this.at) this.tokens = Math.min(this.cfg.burst, this.tokens + ((now - this.at) * this.cfg.rate) / this.cfg.perMs);
    this.at = Math.max(this.at, now);
  }
}

/** What a rate limit held back for one receiver since its last notification went through. */
export class HeldBack {
  private readonly ids = new Set<string>();
  private notifications = 0;
  private extra = 0;

  hold(alertIds: readonly string[]): void {
    this.notifications++;
    for (const id of alertIds) {
      if (this.ids.has(id)) continue;
      if (this.ids.size < 100_000) this.ids.add(id);
      else this.extra++;
    }
  }

  /** distinct alerts held back */
  get alerts(): number {
    return this.ids.size + this.extra;
  }

  /** Returns the counts and starts over. */
  take(): { alerts: number; notifications: number } {
    const r = { alerts: this.alerts, notifications: this.notifications };
    this.ids.clear();
    this.extra = 0;
    this.notifications = 0;
    return r;
  }
}

export class RateLimits {
  private readonly buckets = new Map<string, { cfg: RateLimitConfig; bucket: TokenBucket }>();
  private readonly held = new Map<string, HeldBack>();

  constructor(limits: readonly RateLimitConfig[], private readonly clock: Clock) {
    this.reconfigure(limits);
  }

  /**
   * A configuration reload: a receiver whose limit is unchanged keeps its bucket (the tokens it has used stay
   * used); a new or changed limit starts with a full bucket; a receiver without a limit now has none. What was
   * held back stays counted for the receiver's next notification.
   */
  reconfigure(limits: readonly RateLimitConfig[]): void {
    const old = new Map(this.buckets);
    this.buckets.clear();
    for (const l of limits) {
      const was = old.get(l.receiver);
      const same = was && was.cfg.rate === l.rate && was.cfg.perMs === l.perMs && was.cfg.burst === l.burst;
      this.buckets.set(l.receiver, same ? was : { cfg: l, bucket: new TokenBucket(l, this.clock) });
    }
  }

  /** True when a notification may go to this receiver now (and uses up a token). */
  allow(receiver: string): boolean {
    return this.buckets.get(receiver)?.bucket.take() ?? true;
  }

  heldBack(receiver: string): HeldBack {
    let h = this.held.get(receiver);
    if (!h) this.held.set(receiver, (h = new HeldBack()));
    return h;
  }
}
