// Which `THREAD-START` query ids a MySQL slow log has already given out (see MySqlSlowParser.queryIdFor).
//
// A thread runs one statement at a time, so with an honest clock the statements of a thread that run past their
// start second start in ever later seconds, and thread + start second names one execution. Clocks that lie break
// that: a replica replaying its source's timestamps (`SET timestamp=X; r1; SET timestamp=X+1; r2; SET
// timestamp=X; r3`) logs r1 and r3 with one thread and one start. The first keeps the plain id (the one a live
// probe derives for a running statement); a repeat must get another, or the consumer drops it as a duplicate.
//
// Remembered per thread: its latest MAX_STARTS distinct starts exactly, and below them a floor — a start at or
// under the floor may have been seen and is treated as a repeat (exact for repeats of recent starts; an old
// start met again for the first time is given the longer id too, never a taken one). MAX_THREADS threads, the
// least recently seen forgotten first.

const MAX_THREADS = 64;
const MAX_STARTS = 8;

interface ThreadStarts {
  /** every start at or below it counts as seen (null: none) */
  floor: number | null;
  /** distinct starts above the floor, ascending */
  starts: number[];
}

/** [thread, floor, starts] per thread, least recently seen first: what context() carries over a resume. */
export type StartsSeenContext = Array<[thread: string, floor: number | null, starts: number[]]>;

/** What a query id asks of the thread memory (StartsSeen, or a stand-in while a chunk's start is guessed). */
export interface StartsMemory {
  /** Records `startMs` for `thread`; true if that thread and start were (or may have been) recorded before. */
  repeat(thread: string, startMs: number): boolean;
}

export class StartsSeen implements StartsMemory {
  /** in touch order, oldest first */
  private readonly threads = new Map<string, ThreadStarts>();
  /** bumped by every change (what context() returns is rebuilt only after one) */
  version = 0;

  /** Records `startMs` for `thread`; true if that thread and start were (or may have been) recorded before. */
  repeat(thread: string, startMs: number): boolean {
    this.version++;
    let t = this.threads.get(thread);
    if (t !== undefined) this.threads.delete(thread);
    else t = { floor: null, starts: [] };
    this.threads.set(thread, t);
    if (this.threads.size > MAX_THREADS) this.threads.delete(this.threads.keys().next().value!);
    if (t.floor !== null && startMs <= t.floor) return true;
    const s = t.starts;
    let i = s.length;
    while (i > 0 && s[i - 1]! > startMs) i--;
    if (i > 0 && s[i - 1] === startMs) return true;
    s.splice(i, 0, startMs);
    if (s.length > MAX_STARTS) t.floor = s.shift()!;
    return false;
  }

  /** A copy of the state (the parser shares it until the next change), or undefined when empty. */
  context(): StartsSeenContext | undefined {
    if (this.threads.size === 0) return undefined;
    const out: StartsSeenContext = [];
    for (const [thread, t] of this.threads) out.push([thread, t.floor, [...t.starts]]);
    return out;
  }

  /**
   * Restores what context() returned. Entries it did not write are skipped; `[thread, start]` pairs (the form
   * before floors) are read as one start.
   */
  restore(ctx: unknown): void {
    this.threads.clear();
    if (!Array.isArray(ctx)) return;
    for (const entry of ctx) {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string') continue;
      if (entry.length === 2 && typeof entry[1] === 'number') {
        this.threads.set(entry[0], { floor: null, starts: [entry[1]] });
        continue;
      }
      const [thread, floor, starts] = entry as unknown[];
      if ((floor !== null && typeof floor !== 'number') || !Array.isArray(starts)) continue;
      const kept = starts.filter((v): v is number => typeof v === 'number').sort((a, b) => a - b).slice(-MAX_STARTS);
      this.threads.set(thread as string, { floor, starts: kept });
    }
    while (this.threads.size > MAX_THREADS) this.threads.delete(this.threads.keys().next().value!);
  }
}
