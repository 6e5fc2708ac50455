import type { Logger } from 'pino';
import type { AllowList, CurveClientConfig, CurveServerConfig } from '../security/curve.js';
import { ServerSecurity } from '../security/zap.js';
import { decodeHeader, decodeStats, encodeStats, ProtocolError, type Header, type ServiceStats } from '../wire/protocol.js';
import { retryHeader, statsHeader } from '../wire/headers.js';
import { Endpoint } from '../transport/endpoint.js';
import type { Frames } from '../transport/send-queue.js';
import { OwnerCache } from './rendezvous.js';
import { StatsReporter } from '../service/stats-reporter.js';
import { WarnOnce } from '../service/warn-once.js';

// The master is a router and nothing more (docs/architecture.md): it reads the header frame, picks the consumer
// that owns the source, and forwards the payload frame untouched. Replies from consumers go back to
// the client they name. If the owner is away the client is told to retry; it is never re-routed to a
// consumer that lacks the source's state.

export interface MasterOptions {
  /** endpoint clients connect to, e.g. tcp://127.0.0.1:5555 */
  clientBind: string;
  /** endpoint consumers connect to, e.g. tcp://127.0.0.1:5556 */
  consumerBind: string;
  /** the configured consumer names; sources are hashed over these */
  consumers: string[];
  log: Logger;
  /** a consumer not heard from for this long is away (default 3000 ms) */
  consumerTimeoutMs?: number;
  /** what a client is told to wait before resending when the owner is away (default 500 ms) */
  retryAfterMs?: number;
  /** the monitor's endpoint: the master forwards its own and its clients' counters there */
  monitor?: string;
  statsIntervalMs?: number;
  /** counters to add to the master's own (e.g. the logger's dropped lines) */
  extraCounters?: () => Record<string, number>;
  /** CURVE on both ports: `allow` admits clients, `allowConsumers` (default: the same) admits consumers */
  curve?: CurveServerConfig & { allowConsumers?: AllowList };
  /** CURVE for the connection to the monitor */
  monitorCurve?: CurveClientConfig;
}

export interface MasterStats {
  batches: number;
  replies: number;
  retries: number;
  malformed: number;
  consumersAlive: number;
}

export class Master {
  private readonly security: ServerSecurity;
  /** clients connect here */
  private readonly front: Endpoint<'router'>;
  /** consumers connect here */
  private readonly back: Endpoint<'router'>;
  private readonly owners: OwnerCache;
  private readonly lastSeen = new Map<string, number>();
  private readonly known: Set<string>;
  private readonly stats = { batches: 0, replies: 0, retries: 0 };
  /** the latest counters each client reported, forwarded to the monitor with the master's own */
  private readonly clientStats = new Map<string, ServiceStats>();
  private readonly monitor: Endpoint<'dealer'> | undefined;
  private readonly reporter: StatsReporter | undefined;

  constructor(private readonly opts: MasterOptions) {
    if (opts.consumers.length === 0) throw new Error('master needs at least one consumer name');
    const curve = opts.curve;
    const log = opts.log;
    const warned = new WarnOnce(log);
    this.security = new ServerSecurity(log, curve && { keys: curve.keys, domains: { clients: curve.allow, consumers: curve.allowConsumers ?? curve.allow } });
    this.front = new Endpoint('router', {
      log, warned, security: { server: this.security, domain: 'clients' }, peers: 'client',
      socket: { linger: 0, sendHighWaterMark: 100_000, receiveHighWaterMark: 100_000 },
    });
    // mandatory: sending to a consumer that is not connected fails at once instead of vanishing;
    // handover: a restarted consumer with the same name takes over its routing id.
    this.back = new Endpoint('router', {
      log, warned, security: { server: this.security, domain: 'consumers' }, peers: 'consumer',
      socket: { linger: 0, mandatory: true, handover: true, sendHighWaterMark: 100_000, receiveHighWaterMark: 100_000 },
      onSendError: (err, msg) => this.onBackSendError(err, msg),
    });
    this.owners = new OwnerCache(opts.consumers);
    this.known = new Set(opts.consumers);
    if (opts.monitor) {
      this.monitor = new Endpoint('dealer', {
        log, warned, security: { peer: 'monitor', curve: opts.monitorCurve, log }, maxQueued: 10,
        socket: { linger: 0, sendHighWaterMark: 10, sendTimeout: 0 },
      });
      this.reporter = new StatsReporter({
        service: 'master', kind: 'master', counters: () => this.getStats(), extra: opts.extraCounters,
        intervalMs: opts.statsIntervalMs ?? 2000, report: (own) => this.forwardStats(own),
      });
    }
  }

  async start(): Promise<void> {
    await this.front.bind(this.opts.clientBind);
    await this.back.bind(this.opts.consumerBind);
    this.front.receive((msg) => this.onClientMessage(msg));
    this.back.receive((msg) => this.onConsumerMessage(msg));
    if (this.monitor && this.opts.monitor) {
      this.monitor.connect(this.opts.monitor);
      this.reporter?.start();
    }
    this.opts.log.info({ clientBind: this.opts.clientBind, consumerBind: this.opts.consumerBind, consumers: this.opts.consumers }, 'master started');
  }

  async stop(): Promise<void> {
    this.reporter?.stop();
    await this.monitor?.close();
    await Promise.all([this.front.close(), this.back.close()]);
    this.opts.log.info(this.getStats(), 'master stopped');
  }

  getStats(): MasterStats & Record<string, number> {
    return {
      ...this.stats, malformed: this.front.malformedCount + this.back.malformedCount, ...this.security.stats(),
      consumersAlive: this.opts.consumers.filter((c) => this.isAlive(c)).length,
      ...this.front.connectionStats(), ...this.back.connectionStats(), ...this.monitor?.connectionStats(),
    };
  }

  private isAlive(name: string): boolean {
    const t = this.lastSeen.get(name);
    return t !== undefined && Date.now() - t < (this.opts.consumerTimeoutMs ?? 3000);
  }

  private onClientMessage(msg: Buffer[]): void {
    const client = msg[0]!;
    let h: Header;
    try {
      if (msg.length !== 3) throw new ProtocolError('FRAMES', `expected header + payload, got ${msg.length - 1} frames`);
      h = decodeHeader(msg[1]);
      if (h.t === 'stats') return this.onClientStats(msg[2]);
      if (h.t !== 'batch') throw new ProtocolError('UNEXPECTED', `clients send batches, not ${h.t}`);
    } catch (err) {
      this.front.malformed('client', err, { peer: client, rid: 0 });
      return;
    }
    this.stats.batches++;
    const owner = this.owners.get(h.src)!;
    if (!this.isAlive(owner)) {
      this.retry(client, h.rid, `consumer ${owner} that owns source ${h.src} is away`);
      return;
    }
    this.back.forward([owner, client, msg[1]!, msg[2]!]);
  }

  private onClientStats(payload: Buffer | undefined): void {
    for (const st of decodeStats(payload)) {
      if (st.kind !== 'client') continue;
      if (!this.clientStats.has(st.service) && this.clientStats.size >= 10_000) continue;
      this.clientStats.set(st.service, st);
    }
  }

  /** Sends the master's counters and the clients' latest to the monitor; never waits for it. */
  private forwardStats(own: ServiceStats): void {
    const list: ServiceStats[] = [own];
    for (const [name, st] of this.clientStats) {
      if (own.at - st.at > 60_000) this.clientStats.delete(name);
      else list.push(st);
    }
    this.monitor?.send(statsHeader(), encodeStats(list));
  }

  private retry(client: Buffer, rid: number, reason: string): void {
    this.stats.retries++;
    this.front.reply(client, retryHeader(rid, this.opts.retryAfterMs ?? 500, reason));
  }

  /** A batch could not be handed to its consumer (it went away between heartbeats): tell the client. */
  private onBackSendError(err: unknown, msg: Frames): void {
    if (msg.length === 4) {
      const owner = String(msg[0]);
      this.lastSeen.delete(owner);
      try {
        const h = decodeHeader(msg[2] as Buffer);
        this.retry(msg[1] as Buffer, 'rid' in h ? h.rid : 0, `consumer ${owner} is unreachable (${(err as Error).message})`);
      } catch {
        // headers were validated before forwarding
      }
    }
  }

  private onConsumerMessage(msg: Buffer[]): void {
    const name = msg[0]!.toString();
    // Only configured consumers are heard: a reply from anyone else could be a forged ack (a client would
    // then commit offsets of records never applied), and remembering every peer's name would grow memory.
    const known = this.known.has(name);
    try {
      if (msg.length === 2) {
        const h = decodeHeader(msg[1]);
        if (h.t !== 'hello' && h.t !== 'hb') throw new ProtocolError('UNEXPECTED', `unexpected ${h.t} from consumer`);
        if (!known || h.name !== name) {
          throw new ProtocolError('UNKNOWN_CONSUMER', `consumer ${h.name.slice(0, 100)} is not in the configured list; ignored`);
        }
        if (h.t === 'hello' || !this.isAlive(name)) this.opts.log.info({ consumer: name }, 'consumer registered');
        this.lastSeen.set(name, Date.now());
        return;
      }
      if (msg.length === 3) {
        // a reply for a client: forward it untouched, we only check the header is sane
        decodeHeader(msg[2]);
        if (!known) throw new ProtocolError('UNKNOWN_PEER', 'a reply from a peer that is not a configured consumer');
        this.lastSeen.set(name, Date.now());
        this.stats.replies++;
        this.front.forward([msg[1]!, msg[2]!]);
        return;
      }
      throw new ProtocolError('FRAMES', `consumer message with ${msg.length} frames`);
    } catch (err) {
      this.back.malformed(known ? `consumer ${name}` : 'unknown peer', err);
    }
  }
}
