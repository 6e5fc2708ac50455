import type { Logger } from 'pino';
import * as zmq from 'zeromq';
import type { CurveServerConfig } from '../protocol/curve.js';
import { ServerSecurity } from '../protocol/zap.js';
import type { Alert } from '../protocol/record.js';
import { SendQueue, type Frames } from '../protocol/send-queue.js';
import { decodeAlerts, decodeHeader, encodeHeader, packState, PROTOCOL_VERSION, ProtocolError, unpackState } from '../protocol/wire.js';
import { DurableStore } from '../consumer/store.js';
import type { Receiver } from './receivers/receiver.js';

// The monitor accepts alerts from consumers, drops duplicates by alert id (durably: the accepted ids
// are journaled before the ack, so a restart does not forget them), and delivers each new alert to its
// receivers. Routing, grouping, silences and the other receivers build on this (DESIGN.md).

export interface MonitorOptions {
  bind: string;
  dataDir: string;
  receivers: Receiver[];
  log: Logger;
  fsync?: boolean;
  /** journal size that triggers a snapshot of the accepted ids (default 32 MiB) */
  compactBytes?: number;
  /** CURVE on the bound port, admitting only the allow-list's keys (consumers, the master) */
  curve?: CurveServerConfig;
}

export interface MonitorStats {
  messages: number;
  received: number;
  accepted: number;
  duplicates: number;
  malformed: number;
  commitFailures: number;
  deliveryFailures: number;
}

interface Pending {
  alerts: Alert[];
  replies: Frames[];
}

export class Monitor {
  private readonly security: ServerSecurity;
  private readonly sock: zmq.Router;
  private readonly q: SendQueue;
  private readonly store: DurableStore;
  private readonly accepted = new Set<string>();
  private pending: Pending = { alerts: [], replies: [] };
  private committing = false;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private readonly warned = new Set<string>();
  readonly stats: MonitorStats = { messages: 0, received: 0, accepted: 0, duplicates: 0, malformed: 0, commitFailures: 0, deliveryFailures: 0 };

  constructor(private readonly opts: MonitorOptions) {
    this.security = new ServerSecurity(opts.log, opts.curve && { keys: opts.curve.keys, domains: { monitor: opts.curve.allow } });
    this.sock = new zmq.Router({ linger: 0, sendHighWaterMark: 10_000, receiveHighWaterMark: 10_000, ...this.security.socketOptions('monitor') });
    this.security.watch(this.sock, 'monitor');
    this.q = new SendQueue(this.sock, 10_000);
    this.store = new DurableStore(opts.dataDir, { fsync: opts.fsync ?? true });
  }

  async start(): Promise<void> {
    const { snapshot, entries, warnings } = await this.store.open();
    for (const w of warnings) this.opts.log.warn({ dataDir: this.opts.dataDir }, w);
    if (snapshot) for (const id of unpackState<string[]>(snapshot)) this.accepted.add(id);
    const recent: Alert[] = [];
    for (const e of entries) {
      for (const a of unpackState<Alert[]>(e)) {
        this.accepted.add(a.id);
        recent.push(a);
      }
    }
    // Receivers catch up on what was accepted since the last snapshot (a snapshot is taken only after delivery).
    for (const r of this.opts.receivers) await r.open(recent);
    await this.security.start();
    await this.sock.bind(this.opts.bind);
    this.loop = this.receiveLoop();
    this.opts.log.info({ bind: this.opts.bind, accepted: this.accepted.size, receivers: this.opts.receivers.map((r) => r.name) }, 'monitor started');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    while (this.committing) await new Promise((r) => setTimeout(r, 5));
    this.q.close();
    this.sock.close();
    await this.loop?.catch(() => {});
    await this.security.stop();
    for (const r of this.opts.receivers) await r.close();
    await this.store.close();
    this.opts.log.info(this.stats, 'monitor stopped');
  }

  /** CURVE admission counters (empty without CURVE) */
  authStats(): Record<string, number> {
    return this.security.stats();
  }

  private async receiveLoop(): Promise<void> {
    for (;;) {
      let msg: Buffer[];
      try {
        msg = await this.sock.receive();
      } catch (err) {
        if (this.stopping) return;
        throw err;
      }
      this.onMessage(msg);
    }
  }

  private onMessage(msg: Buffer[]): void {
    const peer = msg[0]!;
    let alerts: Alert[];
    let rid = 0;
    try {
      if (msg.length !== 3) throw new ProtocolError('FRAMES', `expected header + payload, got ${msg.length - 1} frames`);
      const h = decodeHeader(msg[1]);
      if (h.t === 'stats') return; // counters: the dispatch rework feeds them to the stats table
      if (h.t !== 'alerts') throw new ProtocolError('UNEXPECTED', `unexpected ${h.t}`);
      rid = h.rid;
      alerts = decodeAlerts(msg[2], h.n);
    } catch (err) {
      this.stats.malformed++;
      this.warnOnce(`malformed:${(err as ProtocolError).code}`, { err: (err as Error).message }, 'malformed message dropped (further ones are only counted)');
      this.q.push([peer, encodeHeader({ v: PROTOCOL_VERSION, t: 'err', rid, code: (err as ProtocolError).code ?? 'BAD', msg: (err as Error).message })]);
      return;
    }
    this.stats.messages++;
    this.stats.received += alerts.length;
    let fresh = 0;
    for (const a of alerts) {
      if (this.accepted.has(a.id)) {
        this.stats.duplicates++;
        continue;
      }
      this.accepted.add(a.id);
      this.pending.alerts.push(a);
      fresh++;
    }
    this.pending.replies.push([peer, encodeHeader({ v: PROTOCOL_VERSION, t: 'alerts-ack', rid, accepted: fresh, dup: alerts.length - fresh })]);
    void this.commit();
  }

  private async commit(): Promise<void> {
    if (this.committing) return;
    this.committing = true;
    try {
      while (this.pending.replies.length > 0) {
        const group = this.pending;
        this.pending = { alerts: [], replies: [] };
        try {
          if (group.alerts.length > 0) await this.store.append([packState(group.alerts)]);
        } catch (err) {
          // Not durable: forget these ids and don't ack; the consumers resend after their ack timeout.
          this.stats.commitFailures++;
          for (const a of group.alerts) this.accepted.delete(a.id);
          this.warnOnce(`commit:${(err as NodeJS.ErrnoException).code}`, { err: (err as Error).message }, 'could not record accepted alerts; not acking until writes succeed');
          continue;
        }
        this.stats.accepted += group.alerts.length;
        for (const r of group.replies) this.q.push(r);
        await this.deliver(group.alerts);
        if (this.store.journalBytes > (this.opts.compactBytes ?? 32 << 20)) await this.store.snapshot(packState([...this.accepted]));
      }
    } finally {
      this.committing = false;
    }
  }

  private async deliver(alerts: Alert[]): Promise<void> {
    if (alerts.length === 0) return;
    for (const r of this.opts.receivers) {
      try {
        await r.deliver(alerts);
      } catch (err) {
        this.stats.deliveryFailures++;
        this.warnOnce(`deliver:${r.name}`, { receiver: r.name, err: (err as Error).message }, 'delivery failed');
      }
    }
  }

  private warnOnce(key: string, obj: object, msg: string): void {
    if (this.warned.has(key)) return;
    if (this.warned.size < 1000) this.warned.add(key);
    this.opts.log.warn(obj, msg);
  }
}
