import { toWire, type ParsedEvent, type WireRecord } from '../model/record.js';
import { MAX_BATCH_PAYLOAD_BYTES, recordBytesBound } from '../wire/limits.js';

// Batching by the Nagle rule: a stream's events are sent when the batch is full or when the linger
// time since its first event has passed, whichever comes first. Full is `maxRecords` records, or records that
// could take MAX_BATCH_PAYLOAD_BYTES (only pathological input comes near: the master refuses bigger frames).

export type NumberedEvent = ParsedEvent & { seq: number };

/** Sealed: consecutive records first..last of one stream, and where to resume once it is acked. */
export interface Batch<R> {
  stream: string;
  first: number;
  last: number;
  records: WireRecord[];
  /** opaque resume point for the registry, taken after the batch's last event */
  resume: R;
  /** a raw chunk instead of records (`--ship chunks`): first..last then count bytes (offset + 1) */
  chunk?: RawChunkPayload;
}

/** What a `chunk` request carries besides its numbers (docs/wire.md). */
export interface RawChunkPayload {
  bytes: Buffer;
  eof: boolean;
  /** the file went quiet after it */
  quiet: boolean;
  format: string;
  /** the log's time zone ('' for none) */
  timeZone: string;
  /** `postgres`: the server's log_line_prefix ('' for the default) */
  logLinePrefix: string;
}

interface Open<R> {
  batch: Batch<R>;
  since: number;
  /** recordBytesBound of its records */
  bytes: number;
}

export class Batcher<R> {
  private readonly open = new Map<string, Open<R>>();

  constructor(
    private readonly maxRecords: number,
    private readonly lingerMs: number,
    private readonly seal: (b: Batch<R>) => void,
  ) {}

  /** Adds one stream's events (consecutive seqs, in order); `resumeAfter` gives the resume point after an event. */
  add(stream: string, events: readonly NumberedEvent[], resumeAfter: (e: NumberedEvent) => R, now: number): void {
    for (const e of events) {
      let o = this.open.get(stream);
      if (o && e.seq !== o.batch.last + 1) {
        // not consecutive (should not happen for one stream): never mix, seal what we have
        this.open.delete(stream);
        this.seal(o.batch);
        o = undefined;
      }
      if (!o) {
        o = { batch: { stream, first: e.seq, last: e.seq - 1, records: [], resume: resumeAfter(e) }, since: now, bytes: 0 };
        this.open.set(stream, o);
      }
      const r = toWire(e);
      o.batch.records.push(r);
      o.batch.last = e.seq;
      o.bytes += recordBytesBound(r);
      if (o.batch.records.length >= this.maxRecords || o.bytes >= MAX_BATCH_PAYLOAD_BYTES) {
        o.batch.resume = resumeAfter(e);
        this.open.delete(stream);
        this.seal(o.batch);
      }
    }
    const o = this.open.get(stream);
    const lastEvent = events[events.length - 1];
    if (o && lastEvent && o.batch.last === lastEvent.seq) o.batch.resume = resumeAfter(lastEvent);
  }

  /** Seals batches whose linger has expired (or all, with force). */
  tick(now: number, force = false): void {
    for (const [stream, o] of this.open) {
      if (force || now - o.since >= this.lingerMs) {
        this.open.delete(stream);
        this.seal(o.batch);
      }
    }
  }

  /** Drops the open batch of `stream`, unsent. */
  discard(stream: string): void {
    this.open.delete(stream);
  }

  get openRecords(): number {
    let n = 0;
    for (const o of this.open.values()) n += o.batch.records.length;
    return n;
  }
}
