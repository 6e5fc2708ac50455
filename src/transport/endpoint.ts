import type { Logger } from 'pino';
import { WarnOnce } from '../service/warn-once.js';
import { errorCode, errorHeader } from '../wire/headers.js';
import { encodeHeader, type Header } from '../wire/protocol.js';
import { LinkWatch, type LinkWatchOptions } from './link-watch.js';
import { PeerWatch } from './peer-watch.js';
import { receiveLoop, type MessageHandler, type Receivable } from './receive-loop.js';
import { SendQueue, type Frames, type Sendable } from './send-queue.js';
import type { CurveClientConfig } from '../security/curve.js';
import { openSocket, type SocketKind, type SocketOf, type SocketOptionsOf, type SocketSecurity } from './socket.js';

// A service's socket with everything around it: its options and CURVE (socket.ts), the send queue in front of
// it (zeromq.js allows one send at a time), its receive loop, the CURVE server side held while it is bound,
// replies built from header objects, the accounting of messages it could not use, and its connections' outages
// (link-watch.ts when it connects, peer-watch.ts when it binds). A service opens one per port or peer and calls
// bind/connect, receive, send/reply, close; it writes none of this itself.

export interface EndpointOptions<K extends SocketKind> {
  log: Logger;
  /** the socket's own options: linger, high-water marks, routing id, … */
  socket: SocketOptionsOf<K>;
  /** the server or client side of CURVE (see socket.ts); none: a plain socket */
  security?: SocketSecurity;
  /** messages waiting to be sent beyond this many are dropped and counted (default 100 000) */
  maxQueued?: number;
  /** called once per message the socket refused (e.g. EHOSTUNREACH from a mandatory ROUTER) */
  onSendError?: (err: unknown, msg: Frames) => void;
  /** where its warnings are limited to once per kind; default its own */
  warned?: WarnOnce;
  /** connecting: what an outage of the connection holds up, and what to resend when it is back (link-watch.ts) */
  link?: Omit<LinkWatchOptions, 'peer' | 'log'>;
  /** binding: what its peers are called in logs and stats (client, consumer); without it peers' losses are not watched */
  peers?: string;
}

/** A server a service connects to: its endpoint, and its public key when the connection uses CURVE. */
export interface ServerEndpoint {
  endpoint: string;
  curve?: CurveClientConfig;
}

/**
 * What the logs and stats call the i-th of several servers of one kind: the first keeps the plain name (`master`), the
 * others are numbered (`master2`, `master3`), so a single server reads as it always did.
 */
export function numberedPeer(kind: string, index: number): string {
  return index === 0 ? kind : `${kind}${index + 1}`;
}

/** The connection to one of several servers of a kind (the masters a client or consumer connects to). */
export interface ServerLink {
  address: string;
  /** as logs and stats name it (numberedPeer): master, master2, … */
  peer: string;
  endpoint: Endpoint<'dealer'>;
}

/** Messages the links could not use, and their connections' counters (each named after its peer), together. */
export function serverLinkStats(links: readonly ServerLink[]): { malformed: number; connections: Record<string, number> } {
  let malformed = 0;
  let connections: Record<string, number> = {};
  for (const l of links) {
    malformed += l.endpoint.malformedCount;
    connections = { ...connections, ...l.endpoint.connectionStats() };
  }
  return { malformed, connections };
}

/** Whom to answer, with which request id, when a message is rejected. */
export interface Answer {
  peer: Buffer;
  rid: number;
}

export class Endpoint<K extends SocketKind = SocketKind> {
  readonly socket: SocketOf<K>;
  private readonly queue: SendQueue | undefined;
  private readonly warned: WarnOnce;
  private loop: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private closed = false;
  private holdsSecurity = false;
  private rejected = 0;
  private link: LinkWatch | undefined;
  private peerWatch: PeerWatch | undefined;

  constructor(kind: K, private readonly opts: EndpointOptions<K>) {
    this.socket = openSocket(kind, opts.socket, opts.security);
    this.warned = opts.warned ?? new WarnOnce(opts.log);
    // a PULL socket cannot send
    this.queue = kind === 'pull' ? undefined : new SendQueue(this.socket as unknown as Sendable, opts.maxQueued, opts.onSendError);
  }

  /** Binds; a server socket's CURVE handler is started first (RFC 27). On failure the endpoint is closed. */
  async bind(address: string): Promise<void> {
    const security = this.opts.security;
    try {
      if (security && 'server' in security && !this.holdsSecurity) {
        this.holdsSecurity = true;
        await security.server.start();
      }
      if (this.opts.peers !== undefined) this.peerWatch ??= new PeerWatch(this.socket.events, { peers: this.opts.peers, log: this.opts.log });
      await this.socket.bind(address);
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  connect(address: string): void {
    const security = this.opts.security;
    const peer = security && 'peer' in security ? security.peer : address;
    this.link ??= new LinkWatch(this.socket.events, { ...this.opts.link, peer, log: this.opts.log });
    this.socket.connect(address);
  }

  /** Connecting: the connection is lost and not made again yet (what is sent now waits for it, or is lost with it). */
  get connectionLost(): boolean {
    return this.link?.lost ?? false;
  }

  /** Connecting: the connection is up (made, and not lost since): what is sent now goes out at once. */
  get connected(): boolean {
    return this.link?.connected ?? false;
  }

  /** Outages of its connection (connecting) or its peers' closed connections (binding), for the service's stats. */
  connectionStats(): Record<string, number> {
    return { ...this.link?.stats(), ...this.peerWatch?.stats() };
  }

  /** the address last bound or connected (the real port when a bind used `*`) */
  get address(): string | null {
    return this.socket.lastEndpoint;
  }

  /**
   * Starts the receive loop (receive-loop.ts): every message to `onMessage` until close(). An unexpected receive
   * error goes to `onError` when given; otherwise it rejects the loop, unhandled: the process fails loudly.
   */
  receive(onMessage: MessageHandler, onError?: (err: unknown) => Promise<void>): void {
    if (this.loop) throw new Error('the endpoint is already receiving');
    const heard: MessageHandler = (msg) => {
      this.link?.heard();
      return onMessage(msg);
    };
    this.loop = receiveLoop(this.socket as unknown as Receivable, () => this.closed, heard, onError);
  }

  /** Queues [header, payload?]; false if it was dropped (queue full, or closed). */
  send(header: Header, payload?: Buffer): boolean {
    return this.forward(payload ? [encodeHeader(header), payload] : [encodeHeader(header)]);
  }

  /** Queues [peer, header, payload?]: an answer routed back to `peer`. */
  reply(peer: Buffer, header: Header, payload?: Buffer): boolean {
    return this.forward(payload ? [peer, encodeHeader(header), payload] : [peer, encodeHeader(header)]);
  }

  /** Queues frames as they are (a message passed on untouched, or one encoded earlier). */
  forward(frames: Frames): boolean {
    if (!this.queue) throw new Error('this endpoint cannot send');
    return this.queue.push(frames);
  }

  /** messages waiting to be sent */
  get queued(): number {
    return this.queue?.length ?? 0;
  }

  /**
   * Accounts for a message that cannot be used: counted, logged once per kind (who sent it and the error's code),
   * and answered with an `err` when there is someone to answer.
   */
  malformed(from: string, err: unknown, answer?: Answer): void {
    this.rejected++;
    this.warned.warn(`malformed:${from}:${errorCode(err)}`, { from, err: err instanceof Error ? err.message : String(err) },
      'malformed message dropped (further ones of this kind are only counted)');
    if (answer) this.reply(answer.peer, errorHeader(answer.rid, err));
  }

  /** messages counted by malformed() */
  get malformedCount(): number {
    return this.rejected;
  }

  /** Drops what is queued, closes the socket, waits for the receive loop, then lets go of the CURVE server side. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.link?.close();
      this.queue?.close();
      this.socket.close();
      await this.loop?.catch(() => {});
      const security = this.opts.security;
      if (this.holdsSecurity && security && 'server' in security) {
        this.holdsSecurity = false;
        await security.server.stop();
      }
    })();
    return this.closing;
  }
}
