import type { Logger } from 'pino';
import * as zmq from 'zeromq';
import { curveClientOptions, watchClientHandshake, type CurveClientConfig } from '../security/curve.js';
import type { ServerSecurity } from '../security/zap.js';

// Every ZeroMQ socket slowq opens is made here: how its connections are kept alive (LIVENESS), the socket's own
// options, and its side of CURVE. A server socket (one that binds) lives in its service's ZAP context and has its
// refused peers counted; a client socket carries its key pair and the server's public key, and has its failed
// handshakes logged when it has a logger.

const SOCKETS = { router: zmq.Router, dealer: zmq.Dealer, pull: zmq.Pull, push: zmq.Push };

export type SocketKind = keyof typeof SOCKETS;
export type SocketOf<K extends SocketKind> = InstanceType<(typeof SOCKETS)[K]>;
export type SocketOptionsOf<K extends SocketKind> = zmq.SocketOptions<SocketOf<K>>;

export type SocketSecurity =
  /** binds: CURVE (when the service has keys) admitting `domain`'s allow-list */
  | { server: ServerSecurity; domain: string }
  /** connects to `peer` (named in logs): CURVE when `curve` is given; handshake failures logged when `log` is */
  | { peer: string; curve: CurveClientConfig | undefined; log?: Logger };

/**
 * How every connection finds out that its peer is gone and comes back, on every socket slowq opens (README,
 * Guarantees: network faults). Without these a cut link is noticed by nothing but TCP's retransmission timer,
 * which after a long cut waits up to a minute before it tries again, and a connection attempt made during the
 * cut waits on TCP's SYN backoff (1, 2, 4 … s) after the network is back. With them:
 * - each side sends a ZMTP PING every second and drops the connection when nothing at all arrived within 3 s of
 *   one (any traffic counts), and asks its peer to do the same (time to live);
 * - the connecting side tries again at once, then at most a second apart, and gives each attempt 2 s (one SYN
 *   resend) before it starts a fresh one: at most about 3 s pass between the network's return and a new SYN;
 * - heartbeats start only once the ZMTP handshake is done, so a handshake gets 5 s (libzmq: 30 s), and the
 *   kernel closes a connection whose data stays unacknowledged for 5 s (TCP_USER_TIMEOUT) whatever its state.
 * What a lost connection had in flight may be lost with it: the senders resend on reconnection (link-watch.ts).
 */
export const LIVENESS = {
  heartbeatInterval: 1000,
  heartbeatTimeout: 3000,
  heartbeatTimeToLive: 3000,
  reconnectInterval: 100,
  reconnectMaxInterval: 1000,
  connectTimeout: 2000,
  handshakeInterval: 5000,
  tcpMaxRetransmitTimeout: 5000,
} as const;

export function openSocket<K extends SocketKind>(kind: K, options: SocketOptionsOf<K>, security?: SocketSecurity): SocketOf<K> {
  const Socket = SOCKETS[kind] as unknown as new (o: object) => SocketOf<K>;
  const own = { ...LIVENESS, ...options };
  if (security === undefined) return new Socket(own);
  if ('server' in security) {
    const socket = new Socket({ ...own, ...security.server.socketOptions(security.domain) });
    security.server.watch(socket, security.domain);
    return socket;
  }
  const socket = new Socket({ ...own, ...curveClientOptions(security.curve) });
  if (security.log) watchClientHandshake(socket, security.log, security.peer, security.curve);
  return socket;
}
