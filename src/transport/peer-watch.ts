import type { ConnectionEvents } from './link-watch.js';
import { LIVENESS } from './socket.js';

// The bound side of connections (the master's two ports, the monitor's): its peers' connections closing, counted
// and logged at most once a minute per socket. A peer that stops closes its connection too, and one cut can drop
// hundreds at once, so this side only says that it happens and how often; the peer's own side (link-watch.ts)
// says what it lost and when it was back.

export interface PeerWatchOptions {
  /** what the peers are called, singular: client, consumer, peer */
  peers: string;
  /** a pino logger, or anything that logs at info level the same way */
  log: { info(obj: object, msg: string): void };
  /** at most one line per this many ms (default one minute) */
  everyMs?: number;
  now?: () => number;
}

export class PeerWatch {
  private closed = 0;
  /** closes not yet in a log line */
  private unreported = 0;
  private loggedAt = -Infinity;
  private readonly now: () => number;

  constructor(events: ConnectionEvents, private readonly opts: PeerWatchOptions) {
    this.now = opts.now ?? Date.now;
    events.on('disconnect', () => this.onClosed());
  }

  /** e.g. clientDisconnects: connections from peers that closed */
  stats(): Record<string, number> {
    return { [`${this.opts.peers}Disconnects`]: this.closed };
  }

  private onClosed(): void {
    this.closed++;
    this.unreported++;
    const now = this.now();
    if (now - this.loggedAt < (this.opts.everyMs ?? 60_000)) return;
    this.loggedAt = now;
    const peers = this.opts.peers;
    this.opts.log.info({ peers, closed: this.unreported, closedTotal: this.closed },
      `a ${peers}'s connection closed (it stopped, or nothing came from it for ${LIVENESS.heartbeatTimeout / 1000} s)` +
      `${this.unreported > 1 ? `: ${this.unreported} since the last report` : ''}; further ones within a minute are only counted (${peers}Disconnects)`);
    this.unreported = 0;
  }
}
