import type { Logger } from 'pino';
import * as zmq from 'zeromq';
import { curveServerOptions, fingerprint, type AllowList, type CurveKeyPair, type CurveServerSocketOptions } from './curve.js';

// The allow-list of client keys, enforced by libzmq through ZAP (ZeroMQ RFC 27): a CURVE server socket asks the
// handler bound on inproc://zeromq.zap.01 *in its own context* about every client that completes the key exchange,
// and admits it only on a "200" reply. Each secured service owns a private context with one handler in it, so
// several services can share a process (tests) without sharing allow-lists.
//
// Refusals are counted, and logged with the peer's address (carried by the ZAP request) at most once per address
// per minute. Peers that fail before ZAP — no CURVE at all, or the wrong server key — are seen only through socket
// events, which carry the bound endpoint but not the peer address: those are counted and logged once a minute per kind.

export const ZAP_ENDPOINT = 'inproc://zeromq.zap.01';
const ZAP_VERSION = '1.0';

export interface ZapHandlerOptions {
  /** allow-list per ZAP domain; each server socket names its domain (see serverSocketOptions) */
  domains: Record<string, AllowList>;
  log: Logger;
  /** a refusal from the same address (or of the same kind) is logged at most once per this period (default 60 s) */
  logEveryMs?: number;
}

export interface ZapStats {
  /** clients admitted (key in the allow-list) */
  authAccepted: number;
  /** clients refused by the allow-list (unknown key) */
  authRefused: number;
  /** peers refused before ZAP: no CURVE (plain ZeroMQ), when their greeting was read */
  authRefusedNoCurve: number;
  /** peers refused before ZAP otherwise: wrong server key, hung up mid-handshake (often a plain client too), garbage */
  authRefusedHandshake: number;
  /** ZAP requests that were not well-formed (answered 500 where possible) */
  authMalformed: number;
}

/** tracked addresses at most; beyond, refusals from new addresses are counted but not logged until entries expire */
const MAX_TRACKED = 10_000;

interface Throttle {
  loggedAt: number;
  suppressed: number;
}

export class ZapHandler {
  /** the private context of the service's CURVE server sockets and of this handler */
  readonly context = new zmq.Context({ blocky: false });
  private readonly logEveryMs: number;
  private socket: zmq.Router | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private readonly throttles = new Map<string, Throttle>();
  private readonly counts: ZapStats = { authAccepted: 0, authRefused: 0, authRefusedNoCurve: 0, authRefusedHandshake: 0, authMalformed: 0 };

  constructor(private readonly opts: ZapHandlerOptions) {
    this.logEveryMs = opts.logEveryMs ?? 60_000;
  }

  /** Binds the handler; must run before any server socket of the context binds (RFC 27). */
  async start(): Promise<void> {
    if (this.socket) throw new Error('ZAP handler already started');
    const socket = new zmq.Router({ linger: 0, context: this.context });
    await socket.bind(ZAP_ENDPOINT);
    this.socket = socket;
    this.stopping = false;
    this.loop = this.receiveLoop(socket);
  }

  /** Close after the server sockets: a handshake in progress without its handler waits forever. */
  async stop(): Promise<void> {
    this.stopping = true;
    const socket = this.socket;
    this.socket = undefined;
    socket?.close();
    await this.loop?.catch(() => {});
  }

  stats(): ZapStats {
    return { ...this.counts };
  }

  /** Constructor options for a CURVE server socket of `domain`, answered by this handler. */
  serverSocketOptions(keys: CurveKeyPair, domain: string): CurveServerSocketOptions & { context: zmq.Context } {
    if (!this.opts.domains[domain]) throw new Error(`no allow-list for ZAP domain "${domain}"`);
    return { ...curveServerOptions(keys, domain), context: this.context };
  }

  /** Counts (and logs, throttled) the peers a server socket refuses before ZAP is asked. */
  watch(socket: zmq.Socket, domain: string): void {
    socket.events.on('handshake:error:protocol', (event) => {
      const noCurve = event.error.code === 'ERR_ZMTP_MECHANISM_MISMATCH';
      if (noCurve) this.counts.authRefusedNoCurve++;
      else this.counts.authRefusedHandshake++;
      const kind = noCurve ? 'no-curve' : event.error.code;
      this.throttled(`${domain}|${kind}`, (suppressed) => this.opts.log.warn(
        { endpoint: event.address, domain, reason: event.error.code, refusedSinceLastLog: suppressed + 1 },
        noCurve
          ? 'refused a peer before authentication: it does not use CURVE (a client without --curve-secret/--server-key?); libzmq does not report its address'
          : 'refused a peer before authentication: its CURVE handshake failed (wrong --server-key?); libzmq does not report its address',
      ));
    });
    // A peer that gives up first (it saw our greeting and disagrees) may reset the connection before we read its
    // greeting: then all we see is a connection error during the handshake.
    socket.events.on('handshake:error:other', (event) => {
      this.counts.authRefusedHandshake++;
      this.throttled(`${domain}|other`, (suppressed) => this.opts.log.warn(
        { endpoint: event.address, domain, reason: event.error.code ?? event.error.message, refusedSinceLastLog: suppressed + 1 },
        'refused a peer before authentication: it hung up during the security handshake (no CURVE, or a wrong --server-key?); libzmq does not report its address',
      ));
    });
  }

  private async receiveLoop(socket: zmq.Router): Promise<void> {
    for (;;) {
      let msg: Buffer[];
      try {
        msg = await socket.receive();
      } catch (err) {
        if (this.stopping) return;
        throw err;
      }
      const reply = this.answer(msg);
      if (reply) {
        try {
          await socket.send(reply);
        } catch (err) {
          if (this.stopping) return;
          throw err;
        }
      }
    }
  }

  /** The reply frames for one request: [routing id, '', version, request id, domain, address, identity, mechanism, credentials...]. */
  private answer(msg: Buffer[]): Buffer[] | undefined {
    const [route, delimiter, version, requestId, domainFrame, addressFrame, , mechanismFrame, ...credentials] = msg;
    if (!route || !delimiter || delimiter.length !== 0 || !requestId) {
      this.counts.authMalformed++;
      return undefined; // no envelope to answer to
    }
    const reply = (status: string, text: string, userId = ''): Buffer[] =>
      [route, delimiter, Buffer.from(ZAP_VERSION), requestId, Buffer.from(status), Buffer.from(text), Buffer.from(userId), Buffer.alloc(0)];
    if (version?.toString() !== ZAP_VERSION || !domainFrame || !addressFrame || !mechanismFrame) {
      this.counts.authMalformed++;
      return reply('500', 'malformed ZAP request');
    }
    const domain = domainFrame.toString();
    const address = addressFrame.toString();
    const mechanism = mechanismFrame.toString();
    const allow = this.opts.domains[domain];
    const key = mechanism === 'CURVE' && credentials.length === 1 ? credentials[0]! : undefined;
    const who = key && allow ? allow.lookup(key) : undefined;
    if (allow?.reloadError) {
      const problem = allow.reloadError;
      this.throttled(`${domain}|reload`, () => this.opts.log.error({ domain, err: problem }, 'cannot re-read the allow-list; the keys read before stay in force'));
    }
    if (who) {
      this.counts.authAccepted++;
      return reply('200', 'OK', userIdOf(who.name));
    }
    this.counts.authRefused++;
    this.throttled(`${domain}|${address}`, (suppressed) => this.opts.log.warn(
      {
        address,
        domain,
        mechanism,
        ...(key && { key: fingerprint(key) }),
        refusedSinceLastLog: suppressed + 1,
        refusedTotal: this.counts.authRefused,
      },
      key ? 'refused a connection: its CURVE public key is not in the allow-list' : `refused a connection: ${mechanism} is not accepted here`,
    ));
    return reply('400', key ? 'key not allowed' : 'CURVE required');
  }

  /** Runs `log` unless the same key was logged within the period; counts what it suppressed. */
  private throttled(key: string, log: (suppressed: number) => void): void {
    const now = Date.now();
    const t = this.throttles.get(key);
    if (t && now - t.loggedAt < this.logEveryMs) {
      t.suppressed++;
      return;
    }
    if (!t && this.throttles.size >= MAX_TRACKED) {
      for (const [k, v] of this.throttles) if (now - v.loggedAt >= this.logEveryMs) this.throttles.delete(k);
      if (this.throttles.size >= MAX_TRACKED) return;
    }
    log(t?.suppressed ?? 0);
    this.throttles.set(key, { loggedAt: now, suppressed: 0 });
  }
}

/** ZAP user ids are short ASCII strings. */
function userIdOf(name: string): string {
  return name.replace(/[^\x20-\x7e]/g, '_').slice(0, 255);
}

/**
 * A service's CURVE server side in one object, or nothing at all when the service runs without CURVE: the services
 * spread socketOptions(domain) into their server sockets' options, watch() them, start() before binding, stop()
 * after closing, and add stats() to their counters. Every method is a no-op without keys.
 *
 * Several sockets may share it (the master's two ports): each start() is matched by one stop(), and the ZAP
 * handler runs from the first start() to the last stop(), so it outlives every socket that needs it.
 */
export class ServerSecurity {
  private readonly zap: ZapHandler | undefined;
  private users = 0;
  private starting: Promise<void> | undefined;

  /** `domains`: one allow-list per kind of peer (e.g. clients and consumers of the master) */
  constructor(log: Logger, config: { keys: CurveKeyPair; domains: Record<string, AllowList> } | undefined, private readonly keys = config?.keys) {
    this.zap = config ? new ZapHandler({ domains: config.domains, log }) : undefined;
  }

  get secured(): boolean {
    return this.zap !== undefined;
  }

  /** CURVE server options (with the ZAP handler's context) for a socket of `domain`; {} without keys. */
  socketOptions(domain: string): (CurveServerSocketOptions & { context: zmq.Context }) | Record<string, never> {
    return this.zap && this.keys ? this.zap.serverSocketOptions(this.keys, domain) : {};
  }

  watch(socket: zmq.Socket, domain: string): void {
    this.zap?.watch(socket, domain);
  }

  async start(): Promise<void> {
    this.users++;
    this.starting ??= this.zap?.start();
    await this.starting;
  }

  async stop(): Promise<void> {
    if (this.users === 0 || --this.users > 0) return;
    this.starting = undefined;
    await this.zap?.stop();
  }

  stats(): Record<string, number> {
    return this.zap ? { ...this.zap.stats() } : {};
  }
}
