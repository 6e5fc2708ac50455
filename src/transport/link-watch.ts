import { LIVENESS } from './socket.js';

// A connection a service makes (client → master, consumer → master and → monitor, master → monitor, every
// process → logserver), followed through its socket's events so that an outage is said, counted and acted on
// once. When the connection is lost (the peer closed it, or it went silent: socket.ts's LIVENESS), one warning
// says so and what waits for it. When it is made again (handshake done), the owner sends again what the lost one
// may have taken down with it (onReconnect: what was written into a dead connection is gone; what was queued
// after its loss is kept and goes out on the new one). When the flow has resumed — the first message received if
// the owner waits for an answer, else the reconnection itself — one more line says how long it lasted. The
// attempts failing every second or two in between say nothing. The recovery is logged at the loss's level, so
// whoever saw the loss (stderr shows warnings) sees it end.

/** The socket events it follows (a zeromq socket's `events`). */
export interface ConnectionEvents {
  on(type: 'handshake' | 'disconnect', listener: (event: { address: string }) => void): unknown;
}

export interface LinkWatchOptions {
  /** the peer, as the log names it: master, monitor, logserver */
  peer: string;
  /** a pino logger, or anything that logs a warning the same way */
  log: { warn(obj: object, msg: string): void };
  /** what the outage holds up, said with the loss, e.g. "resending 3 batches when it is back" */
  backlog?: () => string | undefined;
  /** whether the owner waits for an answer now: then the outage ends with the first message received */
  awaitsReply?: () => boolean;
  /** the connection is made again: resend what was sent before `lostAt` (ms since the epoch) and not answered */
  onReconnect?: (lostAt: number) => void;
  /** the connection is lost (after the warning): e.g. send what waited for it another way */
  onLost?: () => void;
  now?: () => number;
}

type State =
  /** never connected yet: a peer not there at start is not an outage */
  | 'connecting'
  | 'up'
  /** lost, not made again yet */
  | 'lost'
  /** made again, waiting for the first answer */
  | 'resuming'
  /** closed by its owner: nothing more to say */
  | 'closed';

export class LinkWatch {
  private state: State = 'connecting';
  private lostAt = 0;
  private losses = 0;
  private lastOutageMs = 0;
  private resumedAt = 0;
  private readonly now: () => number;

  constructor(events: ConnectionEvents, private readonly opts: LinkWatchOptions) {
    this.now = opts.now ?? Date.now;
    events.on('disconnect', (e) => this.onDisconnect(e.address));
    events.on('handshake', () => this.onConnected());
  }

  /** The connection is gone and not made again yet: nothing sent now reaches the peer until it is. */
  get lost(): boolean {
    return this.state === 'lost';
  }

  /** The connection is made (or made again) and not lost since: what is sent now goes out. */
  get connected(): boolean {
    return this.state === 'up' || this.state === 'resuming';
  }

  /** The owner closes the socket: its own closing is no outage. */
  close(): void {
    this.state = 'closed';
  }

  /** A message arrived from the peer. */
  heard(): void {
    if (this.state === 'lost') this.onConnected(); // the message can come before the event that announces it
    if (this.state === 'resuming') this.resumed();
  }

  /**
   * Counters for the service's stats, named after the peer: masterConnectionLosses (outages), …DownMs (how long
   * the current one has lasted, 0 while connected), …LastOutageMs, …ResumedAt (when the last one ended, ms since
   * the epoch; 0 before any).
   */
  stats(): Record<string, number> {
    const p = this.opts.peer;
    const outage = this.state === 'lost' || this.state === 'resuming';
    return {
      [`${p}ConnectionLosses`]: this.losses,
      [`${p}ConnectionDownMs`]: outage ? this.now() - this.lostAt : 0,
      [`${p}ConnectionLastOutageMs`]: this.lastOutageMs,
      [`${p}ConnectionResumedAt`]: this.resumedAt,
    };
  }

  private onDisconnect(endpoint: string): void {
    if (this.state === 'resuming') this.state = 'lost'; // the same outage goes on
    if (this.state !== 'up') return;
    this.state = 'lost';
    this.lostAt = this.now();
    this.losses++;
    const backlog = this.opts.backlog?.();
    this.opts.log.warn({ peer: this.opts.peer, endpoint, silentMs: LIVENESS.heartbeatTimeout },
      `lost the connection to the ${this.opts.peer} (it closed it, or nothing came from it for ${LIVENESS.heartbeatTimeout / 1000} s)${backlog ? `; ${backlog}` : ''}`);
    this.opts.onLost?.();
  }

  private onConnected(): void {
    if (this.state === 'connecting') this.state = 'up';
    if (this.state !== 'lost') return;
    this.state = 'resuming';
    this.opts.onReconnect?.(this.lostAt);
    if (!this.opts.awaitsReply?.()) this.resumed();
  }

  private resumed(): void {
    this.state = 'up';
    this.resumedAt = this.now();
    this.lastOutageMs = this.resumedAt - this.lostAt;
    const waited = this.opts.awaitsReply !== undefined;
    this.opts.log.warn({ peer: this.opts.peer, outageMs: this.lastOutageMs },
      `connection to the ${this.opts.peer} is back after ${(this.lastOutageMs / 1000).toFixed(1)} s${waited ? '; flow resumed' : ''}`);
  }
}
