import type { Logger } from 'pino';
import type { AllowList, CurveClientConfig, CurveServerConfig } from '../security/curve.js';
import { ServerSecurity } from '../security/zap.js';
import { decodeHeader, decodeStats, encodeHeader, encodeStats, ProtocolError, type HandoffAckHeader, type Header, type ReleasedHeader, type ServiceStats } from '../wire/protocol.js';
import { claimHeader, retryHeader, ringHeader, statsHeader } from '../wire/headers.js';
import { MAX_FRAME_BYTES, MAX_STATS_PER_MESSAGE } from '../wire/limits.js';
import { Endpoint } from '../transport/endpoint.js';
import type { Frames } from '../transport/send-queue.js';
import { ConsumerOwnership, type ConsumerInstance, type OwnerChange } from './ownership.js';
import { OwnerFile } from './owner-file.js';
import { MAX_STANDBY, Rescale } from './rescale.js';
import { RingFile } from './ring-file.js';
import { RingInMemory, type RingState, type RingStore } from './ring-store.js';
import { EtcdRingStore } from './etcd-ring-store.js';
import { StatsReporter } from '../service/stats-reporter.js';
import { WarnOnce } from '../service/warn-once.js';

// The master is a router and nothing more (docs/architecture.md): it reads the header frame, picks the consumer
// that owns the source, and forwards the payload frame untouched. Replies from consumers go back to
// the client they name. If the owner is away the client is told to retry; it is never re-routed to a
// consumer that lacks the source's state. Which process a consumer name is routed to, and which ones claiming it are
// fenced off, is ownership.ts's to decide; the master says every change and every refusal once.

export interface MasterOptions {
  /** what its counters are reported as (default master): each of several masters has its own */
  name?: string;
  /** endpoint clients connect to, e.g. tcp://127.0.0.1:5555 */
  clientBind: string;
  /** endpoint consumers connect to, e.g. tcp://127.0.0.1:5556 */
  consumerBind: string;
  /** the first ring: the consumer names sources are hashed over (a ring kept in dataDir/ring.json wins; see rescale.ts) */
  consumers: string[];
  log: Logger;
  /** a consumer not heard from for this long is away (default 3000 ms) */
  consumerTimeoutMs?: number;
  /** a consumer silent this long may be replaced by another state or an older start of its own (default 30 s; see ownership.ts) */
  takeoverAfterMs?: number;
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
  /** where the consumers' owners are kept across restarts (owners.json; see ownership.ts); none: forgotten at a restart */
  dataDir?: string;
  /** etcd://HOST:PORT[,HOST:PORT…]/PREFIX: the ring is kept there, shared with the masters given the same (etcd-ring-store.ts); none: ring.json in dataDir */
  ringStore?: string;
  /** the lease of the master driving a change in the shared ring, in seconds (default 5) */
  ringLeaseSeconds?: number;
}

export interface MasterStats {
  batches: number;
  replies: number;
  retries: number;
  malformed: number;
  consumersAlive: number;
  /** consumer names in the ring (--consumers): consumersAlive below it means one is away */
  consumersConfigured: number;
  /** a consumer name routed to another process (restarts included) */
  ownerChanges: number;
  /** of those, to another state or an older start, after the owner's silence */
  takeovers: number;
  /** processes refused a name another state holds (two processes claim it) */
  claimsRefused: number;
  /** processes refused a name because a later start of the same state holds it */
  staleClaims: number;
  /** replies (acks) and heartbeats of fenced processes, ignored */
  fencedReplies: number;
  fencedHeartbeats: number;
  /** fenced processes heard within the last minute (and per name, `fenced.NAME`) */
  fencedRecently: number;
}

export class Master {
  private readonly security: ServerSecurity;
  /** clients connect here */
  private readonly front: Endpoint<'router'>;
  /** consumers connect here */
  private readonly back: Endpoint<'router'>;
  private readonly ownership: ConsumerOwnership;
  private readonly ownerFile: OwnerFile | undefined;
  /** where the ring is kept: etcd, ring.json, or memory (ring-store.ts) */
  private readonly ringStore: RingStore;
  /** the ring and its changes (rescale.ts); set by start() */
  private rescale!: Rescale;
  /** names outside the ring that said hello: consumers started to be added */
  private readonly standby = new Set<string>();
  private ticker: NodeJS.Timeout | undefined;
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
      socket: { linger: 0, sendHighWaterMark: 100_000, receiveHighWaterMark: 100_000, maxMessageSize: MAX_FRAME_BYTES.clients },
    });
    // mandatory: sending to a consumer that is not connected fails at once instead of vanishing. Every consumer
    // process has a routing id of its own (random), so handover only lets a process that reconnects take back its
    // own id at once, before the old connection is found dead; a name passes between processes by ownership.ts.
    this.back = new Endpoint('router', {
      log, warned, security: { server: this.security, domain: 'consumers' }, peers: 'consumer',
      socket: { linger: 0, mandatory: true, handover: true, sendHighWaterMark: 100_000, receiveHighWaterMark: 100_000, maxMessageSize: MAX_FRAME_BYTES.consumers },
      onSendError: (err, msg) => this.onBackSendError(err, msg),
    });
    this.ownership = new ConsumerOwnership({
      ...(opts.consumerTimeoutMs !== undefined && { timeoutMs: opts.consumerTimeoutMs }),
      ...(opts.takeoverAfterMs !== undefined && { takeoverAfterMs: opts.takeoverAfterMs }),
    });
    if (opts.dataDir) this.ownerFile = new OwnerFile(opts.dataDir, log);
    const ringFile = opts.dataDir ? new RingFile(opts.dataDir) : undefined;
    this.ringStore = opts.ringStore
      ? new EtcdRingStore({ url: opts.ringStore, master: opts.name ?? 'master', log, ...(opts.ringLeaseSeconds !== undefined && { leaseSeconds: opts.ringLeaseSeconds }), ...(ringFile && { cache: ringFile }) })
      : ringFile ?? new RingInMemory();
    if (opts.monitor) {
      this.monitor = new Endpoint('dealer', {
        log, warned, security: { peer: 'monitor', curve: opts.monitorCurve, log }, maxQueued: 10,
        socket: { linger: 0, sendHighWaterMark: 10, sendTimeout: 0 },
      });
      this.reporter = new StatsReporter({
        service: opts.name ?? 'master', kind: 'master', counters: () => this.getStats(), extra: opts.extraCounters,
        intervalMs: opts.statsIntervalMs ?? 2000, report: (own) => this.forwardStats(own),
      });
    }
  }

  async start(): Promise<void> {
    if (this.opts.dataDir) this.ownership.restore(await this.ownerFile!.load(), Date.now());
    this.rescale = new Rescale(await this.openRing(), this.ringStore, {
      log: this.opts.log,
      alive: (name) => this.ownership.alive(name, Date.now()),
      send: (name, frames) => {
        const inst = this.ownership.route(name, Date.now());
        return inst !== undefined && this.back.forward([Buffer.from(inst.id, 'latin1'), ...frames]);
      },
    });
    await this.front.bind(this.opts.clientBind);
    await this.back.bind(this.opts.consumerBind);
    this.front.receive((msg) => this.onClientMessage(msg));
    this.back.receive((msg) => this.onConsumerMessage(msg));
    if (this.monitor && this.opts.monitor) {
      this.monitor.connect(this.opts.monitor);
      this.reporter?.start();
    }
    this.ticker = setInterval(() => this.rescale.tick(Date.now()), 1000);
    this.opts.log.info({ name: this.opts.name ?? 'master', clientBind: this.opts.clientBind, consumerBind: this.opts.consumerBind, consumers: this.rescale.names, ringVersion: this.rescale.version }, 'master started');
  }

  /** The ring kept (ring.json, or etcd), else the configured names as version 1 (saved, so a later --consumers cannot silently change it). */
  private async openRing(): Promise<RingState> {
    const first: RingState = { version: 1, names: [...new Set(this.opts.consumers)] };
    const kept = await this.ringStore.open(first, { onRing: (r) => this.rescale?.onRing(r), onDriving: (yes) => this.rescale?.onDriving(yes) });
    if (kept !== first && (kept.names.join(',') !== first.names.join(',') || kept.next)) {
      this.opts.log.warn({ store: this.ringStore.where, ring: kept, consumers: first.names },
        `the ring kept in ${this.ringStore.where} (version ${kept.version}) is used, not --consumers: it is changed only with slowq cluster add-consumer/remove-consumer`);
    }
    return kept;
  }

  async stop(): Promise<void> {
    this.reporter?.stop();
    clearInterval(this.ticker);
    await this.ownerFile?.flushed();
    await this.ringStore.close();
    await this.monitor?.close();
    await Promise.all([this.front.close(), this.back.close()]);
    this.opts.log.info(this.getStats(), 'master stopped');
  }

  getStats(): MasterStats & Record<string, number> {
    const now = Date.now();
    return {
      ...this.stats, malformed: this.front.malformedCount + this.back.malformedCount, ...this.security.stats(),
      consumersAlive: this.rescale.names.filter((c) => this.ownership.alive(c, now)).length, consumersConfigured: this.rescale.names.length,
      ...this.ownership.stats(now), ...this.rescale.stats(),
      ...this.front.connectionStats(), ...this.back.connectionStats(), ...this.monitor?.connectionStats(),
    };
  }

  private onClientMessage(msg: Buffer[]): void {
    const client = msg[0]!;
    let h: Header;
    try {
      if (msg.length !== 3) throw new ProtocolError('FRAMES', `expected header + payload, got ${msg.length - 1} frames`);
      h = decodeHeader(msg[1]);
      if (h.t === 'stats') return this.onClientStats(msg[2]);
      if (h.t !== 'batch' && h.t !== 'chunk') throw new ProtocolError('UNEXPECTED', `clients send batches or chunks, not ${h.t}`);
    } catch (err) {
      this.front.malformed('client', err, { peer: client, rid: 0 });
      return;
    }
    this.stats.batches++;
    const route = this.rescale.route(h.src);
    if ('wait' in route) {
      this.retry(client, h.rid, route.wait);
      return;
    }
    const owner = route.name;
    const instance = this.ownership.route(owner, Date.now());
    if (!instance) {
      this.retry(client, h.rid, `consumer ${owner} that owns source ${h.src} is away`);
      return;
    }
    // the ring version it was routed by goes with it: a consumer that has seen a newer one refuses it (docs/delivery.md)
    this.back.forward([Buffer.from(instance.id, 'latin1'), client, encodeHeader({ ...h, ring: this.rescale.routeVersion }), msg[2]!]);
  }

  private onClientStats(payload: Buffer | undefined): void {
    for (const st of decodeStats(payload)) {
      if (st.kind !== 'client' && st.kind !== 'agent') continue; // what agents and their inputs report
      // one stats message carries them all to the monitor, with the master's own
      if (!this.clientStats.has(st.service) && this.clientStats.size >= MAX_STATS_PER_MESSAGE - 1) continue;
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
      const owner = this.ownership.unreachable((msg[0] as Buffer).toString('latin1')) ?? 'of this source';
      try {
        const h = decodeHeader(msg[2] as Buffer);
        this.retry(msg[1] as Buffer, 'rid' in h ? h.rid : 0, `consumer ${owner} is unreachable (${(err as Error).message})`);
      } catch {
        // headers were validated before forwarding
      }
    }
  }

  private onConsumerMessage(msg: Buffer[]): void {
    const id = msg[0]!.toString('latin1');
    const now = Date.now();
    try {
      if (msg.length === 4 && msg[1]!.length === 0) return this.onHandoff(id, msg[2], msg[3], now);
      if (msg.length === 2) {
        const h = decodeHeader(msg[1]);
        if (h.t === 'ring-req') return void this.onRingRequest(msg[0]!, h.rid, h.op, h.name);
        if (h.t === 'released' || h.t === 'handoff-ack') return this.onHandoffReply(id, h, now);
        if (h.t !== 'hello' && h.t !== 'hb') throw new ProtocolError('UNEXPECTED', `unexpected ${h.t} from consumer`);
        if (!this.rescale.inRing(h.name)) {
          // a consumer started to be added (slowq cluster add-consumer): heard, routed nothing until the ring names it
          if (!this.standby.has(h.name) && this.standby.size >= MAX_STANDBY) {
            throw new ProtocolError('UNKNOWN_CONSUMER', `consumer ${h.name.slice(0, 100)} is not in the ring, and ${MAX_STANDBY} others wait to be added; ignored`);
          }
          this.standby.add(h.name);
        }
        const instance: ConsumerInstance = { id, sid: h.sid, gen: h.gen, pid: h.pid, host: h.host };
        const r = this.ownership.claim(h.name, instance, now);
        if (r.outcome === 'owner') {
          if (r.change) this.sayOwnerChange(h.name, instance, r.change);
          const keep = this.ownership.remembered();
          if (keep) this.ownerFile?.save(keep);
          this.back.reply(msg[0]!, claimHeader('owner', h.name, ''));
        } else {
          if (r.first) {
            this.opts.log.error({ consumer: h.name, refused: describe(instance), owner: describe(r.owner), kind: r.kind },
              `consumer ${h.name}: a second process claims the name and is fenced off (its answers are ignored): ${r.reason}`);
          }
          this.back.reply(msg[0]!, claimHeader('fenced', h.name, r.reason));
        }
        return;
      }
      if (msg.length === 3) {
        // a reply for a client: forwarded untouched if it comes from the owner of a name; we only check the header is sane
        decodeHeader(msg[2]);
        const from = this.ownership.reply(id, now);
        if (from.fenced) return; // counted: a fenced process's ack must not reach a client
        // Only owners are heard: a reply from anyone else could be a forged ack (a client would then commit
        // offsets of records never applied).
        if (from.name === undefined) throw new ProtocolError('UNKNOWN_PEER', 'a reply from a peer that is not a registered consumer');
        this.stats.replies++;
        this.front.forward([msg[1]!, msg[2]!]);
        return;
      }
      throw new ProtocolError('FRAMES', `consumer message with ${msg.length} frames`);
    } catch (err) {
      this.back.malformed('consumer port', err);
    }
  }

  /** `slowq cluster`: the ring, or a change of it (rescale.ts). */
  private async onRingRequest(peer: Buffer, rid: number, op: 'get' | 'add' | 'remove', name: string): Promise<void> {
    const r = await this.rescale.request(op, name, Date.now());
    if (r.ok && op === 'add') this.standby.delete(name);
    this.back.reply(peer, ringHeader({ rid, version: r.version, busy: r.busy ? 1 : 0, ok: r.ok ? 1 : 0, msg: r.msg, ...(this.rescale.shared && { shared: 1 }) }));
  }

  /** [id, '', handoff header, state]: a consumer gives up a source (only the owner of a name is heard). */
  private onHandoff(id: string, header: Buffer | undefined, payload: Buffer | undefined, now: number): void {
    const h = decodeHeader(header);
    if (h.t !== 'handoff' || !payload) throw new ProtocolError('UNEXPECTED', `unexpected ${h.t} with a payload from a consumer`);
    const from = this.ownership.reply(id, now);
    if (from.fenced) return;
    if (from.name === undefined) throw new ProtocolError('UNKNOWN_PEER', 'a handoff from a peer that is not a registered consumer');
    this.rescale.onHandoff(from.name, h.ver, h.src, payload, now);
  }

  private onHandoffReply(id: string, h: ReleasedHeader | HandoffAckHeader, now: number): void {
    const from = this.ownership.reply(id, now);
    if (from.fenced) return;
    if (from.name === undefined) throw new ProtocolError('UNKNOWN_PEER', `${h.t} from a peer that is not a registered consumer`);
    if (h.t === 'released') this.rescale.onReleased(from.name, h.ver, h.n);
    else this.rescale.onHandoffAck(from.name, h.ver, h.src);
  }

  /** Every change of a name's process is said once: a restart at info, a takeover by another state as a warning. */
  private sayOwnerChange(name: string, next: ConsumerInstance, change: OwnerChange): void {
    const log = this.opts.log;
    const fields = { consumer: name, instance: describe(next), ...(change.previous && { previous: describe(change.previous) }), ...(change.silentMs !== undefined && { silentMs: change.silentMs }) };
    switch (change.kind) {
      case 'first':
      case 'back':
        log.info(fields, 'consumer registered');
        return;
      case 'restart':
        log.info(fields, `consumer ${name} restarted: routed to its new process (same state, generation ${next.gen})`);
        return;
      case 'takeover':
        log.warn({ ...fields, warning: change.warning }, `consumer ${name} taken over by another process after ${Math.round((change.silentMs ?? 0) / 1000)} s of silence from its owner: ${change.warning}`);
    }
  }
}

/** An instance for the log: where it runs and which state it carries. */
function describe(i: ConsumerInstance): Record<string, string | number> {
  return { stateId: i.sid, generation: i.gen, pid: i.pid, host: i.host, routingId: Buffer.from(i.id, 'latin1').toString('hex') };
}
