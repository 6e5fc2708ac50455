import type { Logger } from 'pino';
import * as zmq from 'zeromq';
import { curveClientOptions, watchClientHandshake, type CurveClientConfig } from '../security/curve.js';
import type { ServerSecurity } from '../security/zap.js';

// Every ZeroMQ socket slowq opens is made here: the socket's own options plus its side of CURVE. A server socket
// (one that binds) lives in its service's ZAP context and has its refused peers counted; a client socket carries
// its key pair and the server's public key, and has its failed handshakes logged when it has a logger.

const SOCKETS = { router: zmq.Router, dealer: zmq.Dealer, pull: zmq.Pull, push: zmq.Push };

export type SocketKind = keyof typeof SOCKETS;
export type SocketOf<K extends SocketKind> = InstanceType<(typeof SOCKETS)[K]>;
export type SocketOptionsOf<K extends SocketKind> = zmq.SocketOptions<SocketOf<K>>;

export type SocketSecurity =
  /** binds: CURVE (when the service has keys) admitting `domain`'s allow-list */
  | { server: ServerSecurity; domain: string }
  /** connects to `peer` (named in logs): CURVE when `curve` is given; handshake failures logged when `log` is */
  | { peer: string; curve: CurveClientConfig | undefined; log?: Logger };

export function openSocket<K extends SocketKind>(kind: K, options: SocketOptionsOf<K>, security?: SocketSecurity): SocketOf<K> {
  const Socket = SOCKETS[kind] as unknown as new (o: object) => SocketOf<K>;
  if (security === undefined) return new Socket(options);
  if ('server' in security) {
    const socket = new Socket({ ...options, ...security.server.socketOptions(security.domain) });
    security.server.watch(socket, security.domain);
    return socket;
  }
  const socket = new Socket({ ...options, ...curveClientOptions(security.curve) });
  if (security.log) watchClientHandshake(socket, security.log, security.peer, security.curve);
  return socket;
}
