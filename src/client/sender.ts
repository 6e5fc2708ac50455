import type { Logger } from 'pino';
import type { ServerEndpoint } from '../transport/endpoint.js';
import { encodeHeader, encodeRecords, type ServiceStats } from '../wire/protocol.js';
import { batchHeader, chunkHeader } from '../wire/headers.js';
import type { Batch } from './batch.js';
import { MasterConnection, type ReplyHeader, type ReplyTarget } from './master-connection.js';
import { recycleChunk } from '../formats/entry-chunker.js';

// Sends sealed batches to the master with a window of unacked batches (docs/delivery.md).
// An unacked batch is resent after a timeout with the same numbers; acks are cumulative per stream;
// "retry" (owner away, disk full) resends after the given delay; "gap" goes back to the first record
// the consumer lacks. When the connection to the master is lost, what it carried may be lost with it: the
// batches sent before are resent as soon as it is back, and none on timeout meanwhile (they would only pile up
// behind the dead connection). The caller learns of each acked batch (to commit its offset) through onAcked.
// The connection may be shared with other senders (an agent's inputs, master-connection.ts): each has its own
// source and window, so one input held up (its consumer away) does not hold up the others.
// With several masters the connection sends through one at a time and moves to another when it fails
// (master-connection.ts); each batch remembers which master it went through, so that what went through a master
// that failed goes again through the next, and a retry or a silence from it moves the flow on.

export interface SenderOptions {
  /** the masters' client endpoints (one or more, each with its CURVE key), for a connection of its own */
  masters: readonly ServerEndpoint[];
  source: string;
  log: Logger;
  /** batches in flight at once; when full, the client stops reading (default 16) */
  window?: number;
  /** bytes of unacked batches (sent or waiting) at which the client stops reading too (default 4 MiB) */
  windowBytes?: number;
  ackTimeoutMs?: number;
  /** a connection shared with other senders (started and stopped by its owner); default: one of its own */
  connection?: MasterConnection;
}

interface InFlight<R> {
  rid: number;
  batch: Batch<R>;
  header: Buffer;
  payload: Buffer;
  sentAt: number;
  /** when it was first sent: how long it has waited for its ack */
  firstSentAt: number;
  /** not before this time (after a retry answer) */
  holdUntil: number;
  attempts: number;
  /** the master it was last sent through (an index into the masters) */
  via: number;
}

/** Whether the batches get acked, and if not, since when and why not. */
export interface SenderProgress {
  /** how long the oldest unacked batch has waited for its ack (0: none waits) */
  waitingMs: number;
  /** the latest reason the server gave for not acking (retry, error), or what the sender saw (no answer, no connection) */
  reason?: string;
}

export interface SenderStats {
  batches: number;
  records: number;
  /** batches acked */
  acked: number;
  /** records in acked batches: durable at a consumer */
  recordsAcked: number;
  resends: number;
  retries: number;
  gaps: number;
  errors: number;
  /** bytes sent as raw chunks (`--ship chunks`: then `batches` counts chunks, `records` none) */
  chunkBytes: number;
}

export const DEFAULT_WINDOW_BYTES = 4 * 1024 * 1024;

export class Sender<R> implements ReplyTarget {
  private readonly master: MasterConnection;
  /** the connection is this sender's own (it starts and stops it) */
  private readonly ownsConnection: boolean;
  private readonly inFlight = new Map<number, InFlight<R>>();
  private readonly waiting: Batch<R>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly counts: SenderStats = { batches: 0, records: 0, acked: 0, recordsAcked: 0, resends: 0, retries: 0, gaps: 0, errors: 0, chunkBytes: 0 };
  /** the latest reason the server gave for not acking, cleared by an ack */
  private refusal: string | undefined;

  constructor(
    private readonly opts: SenderOptions,
    private readonly onAcked: (b: Batch<R>) => void,
    /** called when the window frees up, so the reader can go on */
    private readonly onRoom: () => void,
    /**
     * The server asks for records of `stream` from `expected` on, below every batch still held: it lost
     * records it had acked (its state was damaged and rolled back to an older generation). Only the file
     * has them now; the caller re-reads it and discard()s what is held of the stream.
     */
    private readonly onBehind: (stream: string, expected: number) => void = () => {},
  ) {
    this.ownsConnection = opts.connection === undefined;
    this.master = opts.connection ?? new MasterConnection({ masters: opts.masters, log: opts.log });
  }

  start(): void {
    this.master.attach(this);
    this.master.start();
    this.timer = setInterval(() => this.checkTimeouts(), 100);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.master.detach(this);
    if (this.ownsConnection) await this.master.stop();
  }

  /** errors: `err` answers and replies that could not be read (on a shared connection: by any of its senders) */
  get stats(): SenderStats & Record<string, number> {
    const { malformed, ...connection } = this.master.stats();
    return { ...this.counts, errors: this.counts.errors + (malformed ?? 0), ...connection };
  }

  private get warned(): MasterConnection['warned'] {
    return this.master.warned;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  inFlightVia(via: number): number {
    let n = 0;
    for (const f of this.inFlight.values()) if (f.via === via) n++;
    return n;
  }

  holdsRid(rid: number): boolean {
    return this.inFlight.has(rid);
  }

  holdsStream(stream: string): boolean {
    for (const f of this.inFlight.values()) if (f.batch.stream === stream) return true;
    return this.waiting.some((b) => b.stream === stream);
  }

  /** How long the oldest unacked batch has waited, and why (for the stats: a source that cannot make progress). */
  progress(now = Date.now()): SenderProgress {
    let oldest = Infinity;
    for (const f of this.inFlight.values()) if (f.firstSentAt < oldest) oldest = f.firstSentAt;
    if (oldest === Infinity) return { waitingMs: 0 };
    const masters = this.master.masters;
    const reason = this.master.connectionLost
      ? `no connection to the master${masters.length > 1 ? 's' : ''} ${masters.join(', ')}`
      : this.refusal ?? `no answer from the master ${masters[this.master.activeIndex]}`;
    return { waitingMs: Math.max(0, now - oldest), reason };
  }

  /** Batches sent or waiting, not yet acked. */
  get unacked(): number {
    return this.inFlight.size + this.waiting.length;
  }

  /** Bytes of the batches sent or waiting, not yet acked (a waiting batch of records is not encoded yet: 0). */
  get unackedBytes(): number {
    let n = 0;
    for (const f of this.inFlight.values()) n += f.payload.length;
    for (const b of this.waiting) n += b.chunk?.bytes.length ?? 0;
    return n;
  }

  /**
   * True when the reader should pause: the window is full in batches, or in bytes. The bytes bound what an agent
   * holds on the database host whatever a batch weighs (a raw chunk is ~512 KiB on a ~768 KiB store, a batch of
   * 1,000 records ~330 KB encoded); ~4 MiB in flight keeps a consumer's fsync-per-ack pipeline busy at any rate
   * measured here.
   */
  get full(): boolean {
    return this.unacked >= this.windowSize || this.unackedBytes >= (this.opts.windowBytes ?? DEFAULT_WINDOW_BYTES);
  }

  private get windowSize(): number {
    return this.opts.window ?? 16;
  }

  /** Reports counters to the master (which forwards them to the monitor); dropped if the queue is busy. */
  sendStats(stats: ServiceStats): void {
    this.master.sendStats(stats);
  }

  /** Forgets every batch of `stream`, sent or waiting (it is being read again from the start). */
  discard(stream: string): void {
    for (const [rid, f] of this.inFlight) if (f.batch.stream === stream) this.inFlight.delete(rid);
    for (let i = this.waiting.length - 1; i >= 0; i--) if (this.waiting[i]!.stream === stream) this.waiting.splice(i, 1);
    this.pump();
    if (!this.full) this.onRoom();
  }

  submit(batch: Batch<R>): void {
    this.waiting.push(batch);
    this.pump();
  }

  private pump(): void {
    while (this.waiting.length > 0 && this.inFlight.size < this.windowSize) {
      const batch = this.waiting.shift()!;
      const rid = this.master.nextRid();
      const c = batch.chunk;
      const f: InFlight<R> = {
        rid,
        batch,
        header: encodeHeader(c
          ? chunkHeader({ rid, src: this.opts.source, stream: batch.stream, first: batch.first, last: batch.last, eof: c.eof ? 1 : 0, fmt: c.format, tz: c.timeZone, pfx: c.logLinePrefix, quiet: c.quiet ? 1 : 0 })
          : batchHeader({ rid, src: this.opts.source, stream: batch.stream, first: batch.first, last: batch.last })),
        payload: c ? c.bytes : encodeRecords(batch.records),
        sentAt: 0,
        firstSentAt: 0,
        holdUntil: 0,
        attempts: 0,
        via: this.master.activeIndex,
      };
      this.counts.batches++;
      this.counts.records += batch.records.length;
      if (c) this.counts.chunkBytes += c.bytes.length;
      this.inFlight.set(rid, f);
      this.transmit(f);
    }
  }

  private transmit(f: InFlight<R>): void {
    f.attempts++;
    f.sentAt = Date.now();
    if (f.attempts === 1) f.firstSentAt = f.sentAt;
    if (f.attempts > 1) this.counts.resends++;
    f.via = this.master.transmit(f.header, f.payload, f.batch.chunk !== undefined);
  }

  /** Master `via`'s connection is back: everything sent through it before it was lost and not answered goes again, in order. */
  resendSentBefore(via: number, lostAt: number): void {
    for (const f of this.inFlight.values()) {
      if (f.via !== via || f.sentAt >= lostAt) continue; // queued behind the dead connection: ZeroMQ sends it on the new one
      f.holdUntil = 0;
      this.transmit(f);
    }
  }

  /** The flow moved off master `from`: what was sent through it and not answered goes again, in order, through the new one. */
  resendAfterFailover(from: number): void {
    for (const f of this.inFlight.values()) if (f.via === from && f.holdUntil === 0) this.transmit(f);
  }

  private checkTimeouts(): void {
    if (this.master.connectionLost) return; // resent when it is back
    const now = Date.now();
    const timeout = this.opts.ackTimeoutMs ?? 5000;
    for (const f of this.inFlight.values()) {
      if (f.holdUntil > 0) {
        if (now >= f.holdUntil) {
          f.holdUntil = 0;
          this.transmit(f);
        }
      } else if (now - f.sentAt >= timeout) {
        this.warned.warn('timeout', { master: this.master.masters[f.via] }, 'no answer from the master in time; resending (further resends only counted)');
        // a master that answers nothing in time (cut off from its consumers, say) gives way to the next one, which
        // gets every batch sent through it again (this one among them)
        this.master.failOver(f.via);
        if (now - f.sentAt >= timeout) this.transmit(f);
      }
    }
  }

  onReply(h: ReplyHeader): void {
    switch (h.t) {
      case 'ack': {
        // cumulative: everything of this stream up to h.last is durable
        let newest: InFlight<R> | undefined;
        for (const f of this.inFlight.values()) {
          if (f.batch.stream === h.stream && f.batch.last <= h.last) {
            this.inFlight.delete(f.rid);
            // sent once and acked: nothing reads its bytes any more (a resent one may still sit in a queue)
            if (f.batch.chunk && f.attempts === 1) recycleChunk(f.batch.chunk.bytes);
            this.counts.acked++;
            this.counts.recordsAcked += f.batch.records.length;
            if (!newest || f.batch.last > newest.batch.last) newest = f;
          }
        }
        if (newest) {
          this.refusal = undefined;
          this.onAcked(newest.batch);
        }
        this.pump();
        if (!this.full) this.onRoom();
        return;
      }
      case 'retry': {
        this.counts.retries++;
        const f = this.inFlight.get(h.rid);
        this.refusal = h.reason;
        this.warned.warn(`retry:${h.reason.slice(0, 40)}`, { reason: h.reason }, 'server asked to retry later');
        if (f) {
          f.holdUntil = Date.now() + Math.max(50, Math.min(h.after, 30_000));
          // the master that said it may have lost the consumer; another one may still reach it
          this.master.moveOn(f.via);
        }
        return;
      }
      case 'gap': {
        this.counts.gaps++;
        // About a request acked since (its batch is no longer held): the answer is older than that ack. Through two
        // masters the replies of one consumer can overtake each other, and an old gap must not read as a consumer
        // that lost what it acked. A consumer that really did answers the batches still held with gaps too.
        if (!this.inFlight.has(h.rid)) return;
        let oldest = Infinity;
        for (const f of this.inFlight.values()) if (f.batch.stream === h.stream) oldest = Math.min(oldest, f.batch.first);
        for (const b of this.waiting) if (b.stream === h.stream) oldest = Math.min(oldest, b.first);
        if (h.expected < oldest) {
          this.onBehind(h.stream, h.expected);
          return;
        }
        // go back: resend, in order, every batch of the stream from the expected seq on
        const again = [...this.inFlight.values()].filter((f) => f.batch.stream === h.stream && f.batch.last >= h.expected && f.holdUntil === 0);
        again.sort((a, b) => a.batch.first - b.batch.first);
        for (const f of again) if (Date.now() - f.sentAt > 50) this.transmit(f);
        return;
      }
      case 'err': {
        this.counts.errors++;
        this.refusal = `the server rejected a batch: ${h.code} ${h.msg}`;
        this.warned.warn(`err:${h.code}`, { code: h.code, msg: h.msg }, 'the server rejected a batch; it will be resent after a pause');
        const f = this.inFlight.get(h.rid);
        if (f) f.holdUntil = Date.now() + 5000;
        return;
      }
    }
  }

}
