// A source's event time (its watermark), which a bad clock cannot hijack.
//
// The watermark is the latest record time of the source, except that a record more than `maxStepMs` ahead of
// it does not move it on its own: such a record is a *suspected clock step* (a server clock stepped ahead,
// `SET timestamp` in a session, a replica replaying its source's times). It is held as a candidate; if
// `confirmations` records in all (it and the ones after it) are that far ahead before `confirmations` records
// come in at the old time, the source really moved on (the log had a gap) and the watermark jumps to the
// earliest of them. If instead `confirmations` records come in at the old time first, the candidates were a
// clock step: they are dropped and reported once. Either way every decision depends only on the records and
// their order, so one process over a file (the oracle) and the pipeline agree.
//
// What it costs: after a genuine gap longer than `maxStepMs`, the watermark waits for `confirmations` records
// before it moves (stalled queries are found that many records later); a clock that runs ahead for
// `confirmations` records or more in a row is taken at its word. The very first record of a source sets its time.

export interface ClockSettings {
  /** a record further ahead of the watermark than this is a suspected clock step (default 5 min) */
  maxStepMs: number;
  /** records that must agree before the watermark jumps further than maxStepMs, or disagree before a step is refused (default 3) */
  confirmations: number;
}

export const DEFAULT_CLOCK: ClockSettings = { maxStepMs: 5 * 60_000, confirmations: 3 };

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

/** The durable part of a SourceClock (part of the consumer's snapshot). */
export interface SourceClockState {
  watermark: number;
  /** candidates: records too far ahead, not yet confirmed */
  ahead: Array<RecordPlace & { ts: number }>;
  /** records at the old time since the first candidate */
  behind: number;
}

export type ClockOutcome =
  | undefined
  /** the watermark jumped further than maxStepMs, confirmed by later records */
  | { kind: 'jump'; from: number; to: number }
  /** candidates refused as a clock step */
  | { kind: 'step'; step: ClockStep };

export class SourceClock {
  watermark = -Infinity;
  private ahead: Array<RecordPlace & { ts: number }> = [];
  private behind = 0;

  constructor(private readonly settings: ClockSettings = DEFAULT_CLOCK) {}

  /** Takes a record's time into account; says when a jump was confirmed or a clock step refused. */
  observe(ts: number, place: RecordPlace): ClockOutcome {
    if (this.watermark === -Infinity) {
      this.watermark = ts;
      return undefined;
    }
    if (ts <= this.watermark + this.settings.maxStepMs) {
      if (ts > this.watermark) this.watermark = ts;
      if (this.ahead.length === 0) return undefined;
      // candidates that the watermark has come close to are no longer suspicious
      this.ahead = this.ahead.filter((a) => a.ts > this.watermark + this.settings.maxStepMs);
      if (this.ahead.length === 0) {
        this.behind = 0;
        return undefined;
      }
      if (++this.behind < this.settings.confirmations) return undefined;
      const first = this.ahead[0]!;
      const step: ClockStep = { stream: first.stream, seq: first.seq, ts: first.ts, watermark: this.watermark, records: this.ahead.length };
      this.ahead = [];
      this.behind = 0;
      return { kind: 'step', step };
    }
    this.ahead.push({ ts, stream: place.stream, seq: place.seq });
    if (this.ahead.length < this.settings.confirmations) return undefined;
    let to = Infinity;
    for (const a of this.ahead) if (a.ts < to) to = a.ts;
    const from = this.watermark;
    this.watermark = to;
    this.ahead = [];
    this.behind = 0;
    return { kind: 'jump', from, to };
  }

  state(): SourceClockState {
    return { watermark: this.watermark, ahead: this.ahead.map((a) => ({ ...a })), behind: this.behind };
  }

  restore(s: SourceClockState): void {
    this.watermark = s.watermark;
    this.ahead = s.ahead.map((a) => ({ ...a }));
    this.behind = s.behind;
  }
}
