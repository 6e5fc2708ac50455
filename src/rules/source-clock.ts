// A source's event time (its watermark), which a bad clock cannot hijack.
//
// The watermark is the latest record time of the source, except that a record more than `maxStepMs` ahead of
// it does not move it on its own: such a record is a *suspected clock step* (a server clock stepped ahead,
// `SET timestamp` in a session, a replica replaying its source's times). It becomes a candidate. The watermark
// jumps to the candidates' earliest time only once at least `confirmations` of them have come in a row and
// their own times span at least `confirmSpanMs`: that is what a log resuming after a genuine gap looks like
// (time moves on in the new records), and not what a session with a fixed or stepped `SET timestamp` does
// among the others. If instead `confirmations` records come in at the old time first, the candidates were a
// clock step: they are dropped and reported once. Every decision depends only on the records and their order,
// so one process over a file (the oracle) and the pipeline agree.
//
// What it costs: after a genuine gap longer than `maxStepMs`, the watermark waits until the new records span
// `confirmSpanMs` (and number `confirmations`) before it moves, so stalled queries are found that much later; a
// whole server whose clock steps ahead is believed after the same wait. The very first record of a source sets
// its time (there is nothing to compare it with).

export interface ClockSettings {
  /** a record further ahead of the watermark than this is a suspected clock step (default 5 min) */
  maxStepMs: number;
  /** records in a row that must be ahead before the watermark jumps, or be at the old time before a step is refused (default 3) */
  confirmations: number;
  /** how much of their own time the records ahead must span before the watermark jumps (default 1 min) */
  confirmSpanMs: number;
}

export const DEFAULT_CLOCK: ClockSettings = { maxStepMs: 5 * 60_000, confirmations: 3, confirmSpanMs: 60_000 };

/** Where a record came from, for reports. */
export interface RecordPlace {
  stream: string;
  seq: number;
}

/** A record that was too far ahead of its source's time and was not confirmed by the records after it. */
export interface ClockStep extends RecordPlace {
  /** the record's own time */
  ts: number;
  /** the source's time when it came */
  watermark: number;
  /** how many records were ahead (1 = a single record) */
  records: number;
}

/** Records ahead of the watermark, not yet confirmed nor refused: where the first was, how many, their times. */
export interface Candidates {
  first: RecordPlace;
  count: number;
  /** records ahead in a row (since the last record at the old time) */
  run: number;
  minTs: number;
  maxTs: number;
  /** records at the old time since the first candidate */
  behind: number;
}

/** The durable part of a SourceClock (part of the consumer's snapshot). */
export interface SourceClockState {
  watermark: number;
  candidates?: Candidates;
}

export type ClockOutcome =
  | undefined
  /** the watermark jumped further than maxStepMs, confirmed by later records */
  | { kind: 'jump'; from: number; to: number }
  /** candidates refused as a clock step */
  | { kind: 'step'; step: ClockStep };

export class SourceClock {
  watermark = -Infinity;
  private candidates: Candidates | undefined;

  constructor(private readonly settings: ClockSettings = DEFAULT_CLOCK) {}

  /** Takes a record's time into account; says when a jump was confirmed or a clock step refused. */
  observe(ts: number, place: RecordPlace): ClockOutcome {
    if (this.watermark === -Infinity) {
      this.watermark = ts;
      return undefined;
    }
    const limit = this.watermark + this.settings.maxStepMs;
    const c = this.candidates;
    if (ts <= limit) {
      if (ts > this.watermark) this.watermark = ts;
      if (!c) return undefined;
      if (c.maxTs <= this.watermark + this.settings.maxStepMs) {
        // the source's time came close to them: no longer suspicious
        this.candidates = undefined;
        return undefined;
      }
      c.run = 0;
      if (++c.behind < this.settings.confirmations) return undefined;
      this.candidates = undefined;
      return { kind: 'step', step: { stream: c.first.stream, seq: c.first.seq, ts: c.minTs, watermark: this.watermark, records: c.count } };
    }
    if (!c) {
      this.candidates = { first: { stream: place.stream, seq: place.seq }, count: 1, run: 1, minTs: ts, maxTs: ts, behind: 0 };
    } else {
      c.count++;
      c.run++;
      if (ts < c.minTs) c.minTs = ts;
      if (ts > c.maxTs) c.maxTs = ts;
    }
    const k = this.candidates!;
    if (k.run < this.settings.confirmations || k.maxTs - k.minTs < this.settings.confirmSpanMs) return undefined;
    const from = this.watermark;
    this.watermark = k.minTs;
    this.candidates = undefined;
    return { kind: 'jump', from, to: k.minTs };
  }

  state(): SourceClockState {
    return this.candidates ? { watermark: this.watermark, candidates: { ...this.candidates, first: { ...this.candidates.first } } } : { watermark: this.watermark };
  }

  restore(s: SourceClockState): void {
    this.watermark = s.watermark;
    this.candidates = s.candidates ? { ...s.candidates, first: { ...s.candidates.first } } : undefined;
  }
}
