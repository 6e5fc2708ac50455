// What the monitor could not use, counted per kind for /metrics and /healthz: messages refused on its port (by
// message type and error code) and entries set aside from its state or its dispatcher (by where).

/** where a set-aside entry came from */
export type SetAsideWhere = 'journal' | 'snapshot' | 'dispatch';

export class Refusals {
  /** messages refused: message type (or `unreadable`: wrong frames, or a header that could not be read) → error code → count */
  readonly messages = new Map<string, Map<string, number>>();
  /** entries set aside since start, by where */
  readonly setAside: Record<SetAsideWhere, number> = { journal: 0, snapshot: 0, dispatch: 0 };
  /** when the latest message was refused (ms since epoch) */
  lastRefusedAt: number | undefined;
  refusedTotal = 0;

  refused(type: string, code: string, now: number): void {
    let byCode = this.messages.get(type);
    if (!byCode) this.messages.set(type, (byCode = new Map()));
    byCode.set(code, (byCode.get(code) ?? 0) + 1);
    this.refusedTotal++;
    this.lastRefusedAt = now;
  }

  setAsideOne(where: SetAsideWhere): void {
    this.setAside[where]++;
  }

  get setAsideTotal(): number {
    return this.setAside.journal + this.setAside.snapshot + this.setAside.dispatch;
  }

  /** the refused messages as a plain object: type → code → count */
  refusedByKind(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [type, byCode] of this.messages) out[type] = Object.fromEntries(byCode);
    return out;
  }
}
