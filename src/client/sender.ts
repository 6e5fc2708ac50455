import type { Logger } from 'pino';
import { Endpoint, numberedPeer, serverLinkStats, type ServerEndpoint, type ServerLink } from '../transport/endpoint.js';
import { decodeHeader, encodeHeader, encodeRecords, encodeStats, ProtocolError, type ServiceStats } from '../wire/protocol.js';
import { batchHeader, statsHeader } from '../wire/headers.js';
import type { Batch } from './batch.js';
import { WarnOnce } from '../service/warn-once.js';

// Sends sealed batches to the master with a window of unacked batches (docs/delivery.md).
// An unacked batch is resent after a timeout with the same numbers; acks are cumulative per stream;
// "retry" (owner away, disk full) resends after the given delay; "gap" goes back to the first record
// the consumer lacks. When the connection to the master is lost, what it carried may be lost with it: the
// batches sent before are resent as soon as it is back, and none on timeout meanwhile (they would only pile up
// behind the dead connection). The caller learns of each acked batch (to commit its offset) through onAcked.
//
// With several masters (docs/delivery.md, "Several masters") the sender keeps a connection to each and sends
// through one at a time, the active one, so that a stream's batches normally take one path, in order. It moves
// to the next master whose connection is up when the active one's connection is lost (the batches sent through
// it go again at once through the new one), when the active one answers "retry" (it may have lost its
// consumers), and when a batch is not answered in time. A batch that reaches a consumer twice, through two
// masters, is a duplicate like any other.
export interface SenderOptions {
  /** the masters' client endpoints (one or more), each with its public key when CURVE is on */
  masters: readonly ServerEndpoint[];
  source: string;
  log: Logger;
  /** batches in flight at once; when full, the client stops reading (default 16) */
  window?: number;
  ackTimeoutMs?: number;
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
  /** times the sender moved to another master (several masters only) */
  masterFailovers: number;
}

export class Sender<R> {
  private readonly links: ServerLink[];
  /** the master batches are sent through */
  private active = 0;
  private readonly inFlight = new Map<number, InFlight<R>>();
  private readonly waiting: Batch<R>[] = [];
  private nextRid = 1;
  private timer: NodeJS.Timeout | undefined;
  private readonly warned: WarnOnce;
  private readonly counts: SenderStats = { batches: 0, records: 0, acked: 0, recordsAcked: 0, resends: 0, retries: 0, gaps: 0, errors: 0, masterFailovers: 0 };
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
    this.warned = new WarnOnce(opts.log, 100);
    if (opts.masters.length === 0) throw new Error('the sender needs at least one master');
    this.links = opts.masters.map((m, i) => {
      const peer = numberedPeer('master', i);
      const sentHere = () => [...this.inFlight.values()].filter((f) => f.via === i).length;
      const endpoint = new Endpoint('dealer', {
        log: opts.log, warned: this.warned, security: { peer, curve: m.curve, log: opts.log }, maxQueued: 10_000,
        socket: { linger: 0, sendHighWaterMark: 1000, receiveHighWaterMark: 1000 },
        link: {
          backlog: () => this.links.length > 1 ? `${sentHere()} unacked batches sent through it go through another master if one is up` : `resending ${sentHere()} unacked batches when it is back`,
          awaitsReply: () => sentHere() > 0,
          onReconnect: (lostAt) => this.resendSentBefore(i, lostAt),
          onLost: () => this.failOver(i),
        },
      });
      return { address: m.endpoint, peer, endpoint };
    });
  }

  start(): void {
    for (const link of this.links) {
      link.endpoint.connect(link.address);
      link.endpoint.receive((msg) => {
        try {
          this.onReply(msg);
        } catch (err) {
          link.endpoint.malformed(link.peer, err);
        }
      });
    }
    this.timer = setInterval(() => this.checkTimeouts(), 100);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.all(this.links.map((l) => l.endpoint.close()));
  }

  /** errors: `err` answers and replies that could not be read */
  get stats(): SenderStats & Record<string, number> {
    const { malformed, connections } = serverLinkStats(this.links);
    return { ...this.counts, errors: this.counts.errors + malformed, ...connections, activeMaster: this.active };
  }

  /** How long the oldest unacked batch has waited, and why (for the stats: a source that cannot make progress). */
  progress(now = Date.now()): SenderProgress {
    let oldest = Infinity;
    for (const f of this.inFlight.values()) if (f.firstSentAt < oldest) oldest = f.firstSentAt;
    if (oldest === Infinity) return { waitingMs: 0 };
    const active = this.links[this.active]!;
    const reason = this.links.every((l) => l.endpoint.connectionLost)
      ? `no connection to the master${this.links.length > 1 ? 's' : ''} ${this.links.map((l) => l.address).join(', ')}`
      : this.refusal ?? `no answer from the master ${active.address}`;
    return { waitingMs: Math.max(0, now - oldest), reason };
  }

  /** Batches sent or waiting, not yet acked. */
  get unacked(): number {
    return this.inFlight.size + this.waiting.length;
  }

  /** True when the reader should pause. */
  get full(): boolean {
    return this.unacked >= this.windowSize;
  }

  private get windowSize(): number {
    return this.opts.window ?? 16;
  }

  /** Reports counters to the master (which forwards them to the monitor); dropped if the queue is busy. */
  sendStats(stats: ServiceStats): void {
    const master = this.links[this.active]!.endpoint;
    if (master.queued > 100) return;
    master.send(statsHeader(), encodeStats([stats]));
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
      const rid = this.nextRid++;
      const f: InFlight<R> = {
        rid,
        batch,
        header: encodeHeader(batchHeader({ rid, src: this.opts.source, stream: batch.stream, first: batch.first, last: batch.last })),
        payload: encodeRecords(batch.records),
        sentAt: 0,
        firstSentAt: 0,
        holdUntil: 0,
        attempts: 0,
        via: this.active,
      };
      this.counts.batches++;
      this.counts.records += batch.records.length;
      this.inFlight.set(rid, f);
      this.transmit(f);
    }
  }

  private transmit(f: InFlight<R>): void {
    f.via = this.active;
    f.attempts++;
    f.sentAt = Date.now();
    if (f.attempts === 1) f.firstSentAt = f.sentAt;
    if (f.attempts > 1) this.counts.resends++;
    // zeromq may hand a Buffer to libzmq without copying: send copies, keep ours for resends.
    this.links[f.via]!.endpoint.forward([Buffer.from(f.header), Buffer.from(f.payload)]);
  }

  /** Master `i`'s connection is back: everything sent through it before it was lost and not answered goes again, in order. */
  private resendSentBefore(i: number, lostAt: number): void {
    for (const f of this.inFlight.values()) {
      if (f.via !== i || f.sentAt >= lostAt) continue; // queued behind the dead connection: ZeroMQ sends it on the new one
      if (this.active !== i && this.usable(this.active)) continue; // another master carries the flow now
      this.active = i;
      f.holdUntil = 0;
      this.transmit(f);
    }
  }

  /** Whether batches sent through master `i` now go out (its connection is up, or was never lost: it may be coming up). */
  private usable(i: number): boolean {
    return !this.links[i]!.endpoint.connectionLost;
  }

  /**
   * Moves the flow off master `from` to the next master whose connection is up (if there is one), and sends again
   * through it, in order, what was sent through `from` and not answered. False if no other master is up.
   */
  private failOver(from: number): boolean {
    if (this.links.length < 2 || this.active !== from) return false;
    let next = -1;
    for (let k = 1; k < this.links.length && next < 0; k++) {
      const j = (from + k) % this.links.length;
      if (this.links[j]!.endpoint.connected) next = j;
    }
    if (next < 0) return false;
    this.active = next;
    this.counts.masterFailovers++;
    this.warned.warn(`failover:${next}`, { from: this.links[from]!.address, to: this.links[next]!.address },
      `sending through the ${this.links[next]!.peer} now (further moves to it are only counted)`);
    for (const f of this.inFlight.values()) {
      if (f.via !== from || f.holdUntil > 0) continue;
      this.transmit(f);
    }
    return true;
  }

  private checkTimeouts(): void {
    // the active master's connection is lost: another one that came up since takes the flow
    if (!this.usable(this.active)) this.failOver(this.active);
    if (!this.usable(this.active)) return; // resent when a connection is back
    const now = Date.now();
    const timeout = this.opts.ackTimeoutMs ?? 5000;
    let movedOn = false;
    for (const f of this.inFlight.values()) {
      if (f.holdUntil > 0) {
        if (now >= f.holdUntil) {
          f.holdUntil = 0;
          this.transmit(f);
        }
      } else if (now - f.sentAt >= timeout) {
        this.warned.warn('timeout', { master: this.links[f.via]!.address }, 'no answer from the master in time; resending (further resends only counted)');
        // once per round: a master that answers nothing in time (cut off from its consumers, say) gives way to the
        // next one, which gets every batch sent through it again
        if (!movedOn && f.via === this.active) movedOn = this.failOver(this.active);
        if (now - f.sentAt >= timeout) this.transmit(f);
      }
    }
  }

  /** The active master cannot pass the batches on now: the next one that is up gets them (it is sticky from there). */
  private moveOn(): void {
    if (this.links.length < 2) return;
    for (let k = 1; k < this.links.length; k++) {
      const j = (this.active + k) % this.links.length;
      if (this.links[j]!.endpoint.connected) {
        this.active = j;
        this.counts.masterFailovers++;
        return;
      }
    }
  }

  private onReply(msg: Buffer[]): void {
    const h = decodeHeader(msg[0]);
    switch (h.t) {
      case 'ack': {
        // cumulative: everything of this stream up to h.last is durable
        let newest: InFlight<R> | undefined;
        for (const f of this.inFlight.values()) {
          if (f.batch.stream === h.stream && f.batch.last <= h.last) {
            this.inFlight.delete(f.rid);
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
          if (f.via === this.active) this.moveOn();
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
      default:
        throw new ProtocolError('UNEXPECTED', `unexpected ${h.t} reply`);
    }
  }

}
