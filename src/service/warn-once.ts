import type { Logger } from 'pino';

// Bad input and failing peers are reported once per kind (then only counted), so a flood of garbage
// can neither fill the logs nor slow the service down.

export class WarnOnce {
  private readonly seen = new Set<string>();
  private full = false;

  constructor(private readonly log: Logger, private readonly maxKinds = 1000) {}

  /**
   * Logs at warn level the first time `key` is seen; returns whether it logged. Keys can carry what a peer
   * sent (a source name, a reason), so past `maxKinds` new kinds are no longer logged either: one last line
   * says so, instead of a line per message for a peer that invents a new kind each time.
   */
  warn(key: string, obj: object, msg: string): boolean {
    if (this.seen.has(key)) return false;
    if (this.seen.size >= this.maxKinds) {
      if (!this.full) {
        this.full = true;
        this.log.warn({ kinds: this.maxKinds }, 'too many kinds of problems to report each once; further new ones are only counted');
      }
      return false;
    }
    this.seen.add(key);
    this.log.warn(obj, msg);
    return true;
  }

  /** Forget a key, so the next occurrence is reported again (e.g. after a failure has cleared). */
  clear(key: string): void {
    if (this.seen.delete(key)) this.full = false;
  }
}
