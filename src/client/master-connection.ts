import type { Logger } from 'pino';
import { Endpoint, numberedPeer, serverLinkStats, type ServerEndpoint, type ServerLink } from '../transport/endpoint.js';
import { decodeHeader, encodeStats, ProtocolError, type Header, type ServiceStats } from '../wire/protocol.js';
import { statsHeader } from '../wire/headers.js';
import { WarnOnce } from '../service/warn-once.js';

// The agent's connection to the master (a DEALER), shared by every input's sender. Request ids are numbered here,
// across inputs, so each reply (every reply carries the rid of the batch it answers) goes back to the sender that
// sent that batch; an ack or gap for a batch no sender holds any more (acked cumulatively, or discarded) goes to
// the sender that holds batches of its stream, else nowhere. The master routes by the source in each batch's
// header, so one connection carries any number of sources.
//
// With several masters (docs/delivery.md, "Several masters") it keeps a DEALER to each and sends through one at a
// time, the active one, so that a stream's batches normally take one path, in order. It moves to the next master
// whose connection is up (failOver) when the active one's connection is lost, when a sender saw a batch go
// unanswered through it in time, and (without resending) when it answered "retry" (moveOn: it may have lost its
// consumers while another has not); the senders then send again through the new one what they had sent through
// the old. The move is sticky. Replies come back through whichever master carried the request.

export interface MasterConnectionOptions {
  /** the masters' client endpoints (one or more), each with its public key when CURVE is on */
  masters: readonly ServerEndpoint[];
  log: Logger;
}

export type ReplyHeader = Extract<Header, { t: 'ack' | 'retry' | 'gap' | 'err' }>;

/** A sender as the connection sees it. */
export interface ReplyTarget {
  /** whether it holds the batch sent with this rid */
  holdsRid(rid: number): boolean;
  /** whether it holds a batch of this stream */
  holdsStream(stream: string): boolean;
  onReply(h: ReplyHeader): void;
  /** batches sent through master `via` (an index into the masters) and not answered yet */
  inFlightVia(via: number): number;
  /** master `via`'s connection is back after an outage that began at `lostAt` */
  resendSentBefore(via: number, lostAt: number): void;
  /** the flow moved off master `from`: what was sent through it and not answered goes again (through the new one) */
  resendAfterFailover(from: number): void;
}

/** How often a lost active master is checked for a replacement that has come up since. */
const CHECK_MS = 200;

export class MasterConnection {
  private readonly links: ServerLink[];
  /** the master batches are sent through now */
  private active = 0;
  private failovers = 0;
  readonly warned: WarnOnce;
  private readonly targets = new Set<ReplyTarget>();
  private rid = 1;
  private started = false;
  private timer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;

  constructor(readonly opts: MasterConnectionOptions) {
    if (opts.masters.length === 0) throw new Error('at least one master is needed');
    const log = opts.log;
    this.warned = new WarnOnce(log, 100);
    const several = opts.masters.length > 1;
    this.links = opts.masters.map((m, i) => {
      const peer = numberedPeer('master', i);
      const endpoint = new Endpoint('dealer', {
        log, warned: this.warned, security: { peer, curve: m.curve, log }, maxQueued: 10_000,
        socket: { linger: 0, sendHighWaterMark: 1000, receiveHighWaterMark: 1000 },
        link: {
          backlog: () => several
            ? `the ${this.inFlightVia(i)} unacked batches sent through it go through another master if one is up`
            : `resending ${this.inFlightVia(i)} unacked batches when it is back`,
          awaitsReply: () => this.inFlightVia(i) > 0,
          onReconnect: (lostAt) => {
            for (const t of this.targets) t.resendSentBefore(i, lostAt);
          },
          onLost: () => this.failOver(i),
        },
      });
      return { address: m.endpoint, peer, endpoint };
    });
  }

  /** The masters' endpoints, in the order given. */
  get masters(): string[] {
    return this.links.map((l) => l.address);
  }

  /** The master batches are sent through now (an index into the masters). */
  get activeIndex(): number {
    return this.active;
  }

  /** Connects to every master and starts receiving (once; later calls do nothing). */
  start(): void {
    if (this.started) return;
    this.started = true;
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
    if (this.links.length > 1) {
      // the active master's connection is lost and no other was up then: the first that comes up takes the flow
      this.timer = setInterval(() => {
        if (this.links[this.active]!.endpoint.connectionLost) this.failOver(this.active);
      }, CHECK_MS);
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.closing ??= Promise.all(this.links.map((l) => l.endpoint.close())).then(() => {});
    await this.closing;
  }

  attach(target: ReplyTarget): void {
    this.targets.add(target);
  }

  detach(target: ReplyTarget): void {
    this.targets.delete(target);
  }

  /** A request id no other batch on this connection has. */
  nextRid(): number {
    return this.rid++;
  }

  /** The master sent through has lost its connection (and no other has taken over): what is sent now waits for it. */
  get connectionLost(): boolean {
    return this.links[this.active]!.endpoint.connectionLost;
  }

  /** Replies that could not be read, the connections' outages (each named after its master), and the moves between masters. */
  stats(): Record<string, number> {
    const { malformed, connections } = serverLinkStats(this.links);
    return { malformed, ...connections, ...(this.links.length > 1 && { masterFailovers: this.failovers, activeMaster: this.active }) };
  }

  /**
   * Sends a batch through the active master; returns which master that is. `frozen`: nothing ever writes to
   * `payload` again (a raw chunk's bytes), so it goes as it is.
   */
  transmit(header: Buffer, payload: Buffer, frozen = false): number {
    // zeromq hands a Buffer over 128 bytes to libzmq without copying and reads it later, from its I/O thread: a
    // payload not known to stay as it is (msgpack output, a slice of the buffer the encoder goes on packing into) is
    // copied. A raw chunk is not: a copy into fresh memory costs page faults, ~3 µs of the client's CPU per event
    // (bench e2e, design B, --cpu-prof).
    this.links[this.active]!.endpoint.forward([copyOf(header), frozen ? payload : copyOf(payload)]);
    return this.active;
  }

  /** Reports counters to the master (which forwards them to the monitor); dropped if the queue is busy. */
  sendStats(stats: ServiceStats): void {
    const endpoint = this.links[this.active]!.endpoint;
    if (endpoint.queued > 100) return;
    endpoint.send(statsHeader(), encodeStats([stats]));
  }

  /**
   * Moves the flow off master `from` (if it is the active one) to the next master whose connection is up, and has
   * every sender send again through it what it sent through `from` and was not answered. False if it did not move.
   */
  failOver(from: number): boolean {
    const next = this.next(from);
    if (next === undefined) return false;
    this.active = next;
    this.failovers++;
    this.warned.warn(`failover:${next}`, { from: this.links[from]!.address, to: this.links[next]!.address },
      `sending through the ${this.links[next]!.peer} now (further moves to it are only counted)`);
    for (const t of this.targets) t.resendAfterFailover(from);
    return true;
  }

  /** Master `via` answered "retry": if it is the active one, the next one that is up gets the batches from now on. */
  moveOn(via: number): void {
    const next = this.next(via);
    if (next === undefined) return;
    this.active = next;
    this.failovers++;
  }

  /** The next master after `from` whose connection is up, if `from` is the active one and there is one. */
  private next(from: number): number | undefined {
    if (this.links.length < 2 || this.active !== from) return undefined;
    for (let k = 1; k < this.links.length; k++) {
      const j = (from + k) % this.links.length;
      if (this.links[j]!.endpoint.connected) return j;
    }
    return undefined;
  }

  private inFlightVia(via: number): number {
    let n = 0;
    for (const t of this.targets) n += t.inFlightVia(via);
    return n;
  }

  private onReply(msg: Buffer[]): void {
    const h = decodeHeader(msg[0]);
    if (h.t !== 'ack' && h.t !== 'retry' && h.t !== 'gap' && h.t !== 'err') throw new ProtocolError('UNEXPECTED', `unexpected ${h.t} reply`);
    const stream = h.t === 'ack' || h.t === 'gap' ? h.stream : undefined;
    let target: ReplyTarget | undefined;
    for (const t of this.targets) if (t.holdsRid(h.rid)) target = t;
    if (!target && stream !== undefined) for (const t of this.targets) if (t.holdsStream(stream)) target = t;
    target?.onReply(h);
  }
}

/** A copy of `buf` (Buffer.from(buf) zero-fills the new memory first: a raw chunk is half a MiB). */
function copyOf(buf: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(buf.length); // not a slice of the shared pool: libzmq may keep it a while
  buf.copy(out);
  return out;
}
