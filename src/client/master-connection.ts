import type { Logger } from 'pino';
import type { CurveClientConfig } from '../security/curve.js';
import { Endpoint } from '../transport/endpoint.js';
import { decodeHeader, encodeStats, ProtocolError, type Header, type ServiceStats } from '../wire/protocol.js';
import { statsHeader } from '../wire/headers.js';
import { WarnOnce } from '../service/warn-once.js';

// The one connection of an agent to the master (a DEALER), shared by every input's sender. Request ids are
// numbered here, across inputs, so each reply (every reply carries the rid of the batch it answers) goes back to
// the sender that sent that batch; an ack or gap for a batch no sender holds any more (acked cumulatively, or
// discarded) goes to the sender that holds batches of its stream, else nowhere. The master routes by the
// source in each batch's header, so one connection carries any number of sources.

export interface MasterConnectionOptions {
  master: string;
  log: Logger;
  /** CURVE for the connection to the master (own key pair and the master's public key) */
  curve?: CurveClientConfig;
}

export type ReplyHeader = Extract<Header, { t: 'ack' | 'retry' | 'gap' | 'err' }>;

/** A sender as the connection sees it. */
export interface ReplyTarget {
  /** whether it holds the batch sent with this rid */
  holdsRid(rid: number): boolean;
  /** whether it holds a batch of this stream */
  holdsStream(stream: string): boolean;
  onReply(h: ReplyHeader): void;
  /** batches sent and not answered yet */
  readonly inFlightCount: number;
  /** the connection is back after an outage that began at `lostAt` */
  resendSentBefore(lostAt: number): void;
}

export class MasterConnection {
  private readonly endpoint: Endpoint<'dealer'>;
  readonly warned: WarnOnce;
  private readonly targets = new Set<ReplyTarget>();
  private rid = 1;
  private started = false;
  private closing: Promise<void> | undefined;

  constructor(readonly opts: MasterConnectionOptions) {
    this.warned = new WarnOnce(opts.log, 100);
    this.endpoint = new Endpoint('dealer', {
      log: opts.log, warned: this.warned, security: { peer: 'master', curve: opts.curve, log: opts.log }, maxQueued: 10_000,
      socket: { linger: 0, sendHighWaterMark: 1000, receiveHighWaterMark: 1000 },
      link: {
        backlog: () => `resending ${this.inFlight()} unacked batches when it is back`,
        awaitsReply: () => this.inFlight() > 0,
        onReconnect: (lostAt) => {
          for (const t of this.targets) t.resendSentBefore(lostAt);
        },
      },
    });
  }

  get master(): string {
    return this.opts.master;
  }

  /** Connects and starts receiving (once; later calls do nothing). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.endpoint.connect(this.opts.master);
    this.endpoint.receive((msg) => {
      try {
        this.onReply(msg);
      } catch (err) {
        this.endpoint.malformed('master', err);
      }
    });
  }

  async stop(): Promise<void> {
    this.closing ??= this.endpoint.close();
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

  get connectionLost(): boolean {
    return this.endpoint.connectionLost;
  }

  /** Replies that could not be read, and the connection's outages. */
  stats(): Record<string, number> {
    return { malformed: this.endpoint.malformedCount, ...this.endpoint.connectionStats() };
  }

  transmit(header: Buffer, payload: Buffer): void {
    // zeromq may hand a Buffer to libzmq without copying: send copies, the sender keeps its own for resends.
    this.endpoint.forward([Buffer.from(header), Buffer.from(payload)]);
  }

  /** Reports counters to the master (which forwards them to the monitor); dropped if the queue is busy. */
  sendStats(stats: ServiceStats): void {
    if (this.endpoint.queued > 100) return;
    this.endpoint.send(statsHeader(), encodeStats([stats]));
  }

  private inFlight(): number {
    let n = 0;
    for (const t of this.targets) n += t.inFlightCount;
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
