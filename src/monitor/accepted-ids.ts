import { OldestEntries } from '../model/oldest-entries.js';

// The alert ids the monitor has accepted, remembered so that an alert sent again is dropped as a duplicate.
//
// A duplicate can only come from a consumer's outbox: an ack lost on the way (the message is sent again after
// 3 s), the removal of acked alerts lost in a consumer's crash (sent again when it restarts), or the two owners
// of a source during a handoff. So an id needs remembering for as long as a consumer may still hold its alert,
// not forever: the set used to keep every id ever accepted (~140 bytes of heap each, all of them written into
// every snapshot), which at 1,000 alerts/s is ~12 GB a day. Ids are forgotten when older than the retention
// (Alertmanager's notification log keeps 120 h by the same reasoning) or, oldest first, beyond a count that
// bounds the memory at high alert rates; the counters say how many went each way, and how old the youngest id
// forgotten for room was (the window in which a resend is still recognised).

export interface AcceptedIdsOptions {
  /** how long an id is remembered (default 24 h) */
  retentionMs?: number;
  /** at most this many ids are remembered, the newest (default 1,000,000: ~170 MB of heap) */
  maxIds?: number;
}

export const DEFAULT_DEDUP_RETENTION_MS = 24 * 3600_000;
export const DEFAULT_DEDUP_MAX_IDS = 1_000_000;

/** An id's acceptance time as a snapshot keeps it: runs of [time, how many ids in a row have it]. */
export type TimeRuns = Array<[number, number]>;

/** Accepted alert ids in order of acceptance, each with when it was accepted (ms since epoch, the monitor's clock). */
export class AcceptedIds {
  readonly retentionMs: number;
  readonly maxIds: number;
  /** id → accepted at; insertion order is acceptance order (times go back only when the clock does) */
  private readonly at = new Map<string, number>();
  private readonly oldest = new OldestEntries(this.at);
  /** ids forgotten for their age, and to stay within maxIds */
  forgottenForAge = 0;
  forgottenForRoom = 0;
  /** how long ago (ms) the last id forgotten for room had been accepted: the dedup window at that moment */
  lastRoomWindowMs: number | undefined;

  constructor(opts: AcceptedIdsOptions = {}) {
    this.retentionMs = opts.retentionMs ?? DEFAULT_DEDUP_RETENTION_MS;
    this.maxIds = opts.maxIds ?? DEFAULT_DEDUP_MAX_IDS;
  }

  get size(): number {
    return this.at.size;
  }

  has(id: string): boolean {
    return this.at.has(id);
  }

  add(id: string, acceptedAt: number): void {
    this.at.set(id, acceptedAt);
  }

  /** An acceptance undone (its write failed): the id is not remembered. */
  delete(id: string): void {
    this.at.delete(id);
  }

  /** Forgets the ids older than the retention and those beyond maxIds (oldest first). Cheap when nothing is due. */
  expire(now: number): void {
    const oldest = now - this.retentionMs;
    for (let e = this.oldest.peek(); e !== undefined; e = this.oldest.peek()) {
      const t = e[1];
      if (t < oldest) this.forgottenForAge++;
      else if (this.at.size > this.maxIds) {
        this.forgottenForRoom++;
        this.lastRoomWindowMs = now - t;
      } else break;
      this.oldest.take();
    }
  }

  /** For a snapshot: the ids `keep` lets through, in order, and their times as runs. */
  snapshot(keep: (id: string) => boolean): { ids: string[]; times: TimeRuns } {
    const ids: string[] = [];
    const times: TimeRuns = [];
    let run: [number, number] | undefined;
    for (const [id, t] of this.at) {
      if (!keep(id)) continue;
      ids.push(id);
      if (run && run[0] === t) run[1]++;
      else times.push((run = [t, 1]));
    }
    return { ids, times };
  }

  /**
   * From a snapshot: the ids and their times. Ids the runs do not cover (a snapshot written before ids had
   * times, or runs set aside as damaged) count as accepted at `now`: remembered a whole retention from here.
   */
  restore(ids: readonly string[], times: TimeRuns | undefined, now: number): void {
    let i = 0;
    for (const [t, n] of times ?? []) for (let k = 0; k < n && i < ids.length; k++) this.add(ids[i++]!, t);
    for (; i < ids.length; i++) this.add(ids[i]!, now);
  }
}
