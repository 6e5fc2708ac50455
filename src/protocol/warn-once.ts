import type { Logger } from 'pino';

// Bad input and failing peers are reported once per kind (then only counted), so a flood of garbage
// can neither fill the logs nor slow the service down.

export class WarnOnce {
  private readonly seen = new Set<string>();

  constructor(private readonly log: Logger, private readonly maxKinds = 1000) {}

  /** Logs at warn level the first time `key` is seen; returns whether it logged. */
  warn(key: string, obj: object, msg: string): boolean {
    if (this.seen.has(key)) return false;
    if (this.seen.size < this.maxKinds) this.seen.add(key);
    this.log.warn(obj, msg);
    return true;
  }

  /** Forget a key, so the next occurrence is reported again (e.g. after a failure has cleared). */
  clear(key: string): void {
    this.seen.delete(key);
  }
}
