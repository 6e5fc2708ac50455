import { join } from 'node:path';
import type { Logger } from 'pino';
import type { CurveServerConfig } from '../security/curve.js';
import { ServerSecurity } from '../security/zap.js';
import type { Alert } from '../model/record.js';
import { Endpoint } from '../transport/endpoint.js';
import { WarnOnce } from '../service/warn-once.js';
import { StatsReporter } from '../service/stats-reporter.js';
import {
  decodeAlerts, decodeHeader, decodeSilenceAdd, decodeSilenceExpire, decodeStats, encodeSilences,
  ProtocolError, type Header, type SilenceRequestHeader,
} from '../wire/protocol.js';
import { alertsAckHeader, errorHeader, silenceReplyHeader } from '../wire/headers.js';
import type { Receiver } from './receivers/receiver.js';
import { systemClock, type Clock } from './dispatch/clock.js';
import { Deliveries } from './dispatch/delivery.js';
import { Dispatcher } from './dispatch/dispatcher.js';
import { MatcherError } from './dispatch/matchers.js';
import { Route } from './dispatch/route.js';
import { BUILTIN_INHIBIT_RULES, Inhibitor } from './inhibit.js';
import type { DeliveryError, LabeledAlert, Notification, Notifier } from './model.js';
import { defaultMonitorConfig, type MonitorConfig } from './monitor-config.js';
import { NotificationLog, type MonitorSnapshot } from './notification-log.js';
import { createNotifier } from './notifiers/index.js';
import type { RetryOptions } from './notifiers/retry.js';
import { RateLimits } from './rate-limit.js';
import { RecentAlerts } from './recent.js';
import { ServiceStatsTable } from './service-stats.js';
import { SilenceError, SilenceStore } from './silences.js';
import type { ActiveAlert, MonitorCounters, MonitorEvent, MonitorView, ReceiverCounters, Silence, SilenceInput } from './view.js';

// The monitor accepts alerts from consumers, drops duplicates by alert id (durably: accepted alerts are
// journaled before the ack, so a restart does not forget them), writes every accepted alert to its plain
// receivers (alerts.jsonl, stdout), and hands it to the dispatcher (routing, grouping, inhibition, silences,
// rate limits, notifiers with retries). Its whole state is the notification log (notification-log.ts).
// It also takes services' stats messages (for the dashboard) and `slowq silence` requests on the same socket.

export interface MonitorOptions {
  bind: string;
  dataDir: string;
  /** plain receivers: every accepted alert, exactly once (alerts.jsonl, stdout) */
  receivers: Receiver[];
  log: Logger;
  fsync?: boolean;
  /** journal size that triggers a snapshot (default 32 MiB) */
  compactBytes?: number;
  /** routing, receivers, inhibition, rate limits (default: no external receiver) */
  config?: MonitorConfig;
  /** notifiers by receiver name, instead of the ones config.receivers describes (tests) */
  notifiers?: Map<string, Notifier>;
  /** default DATA/silences.json */
  silencesPath?: string;
  clock?: Clock;
  retry?: Pick<RetryOptions, 'maxAttempts' | 'baseDelayMs' | 'maxDelayMs' | 'random'>;
  /** wait between rounds of retries to a receiver that is down (default 30 s) */
  retryRoundPauseMs?: number;
  /** the dashboard's URL, for links in notifications */
  externalURL?: string;
  /** how often the monitor puts its own counters into the stats table (default 5 s) */
  statsIntervalMs?: number;
  /** CURVE on the bound port, admitting only the allow-list's keys (consumers, the master, `slowq silence`) */
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
  statsMessages: number;
  silenceRequests: number;
}

export class Monitor {
  private readonly security: ServerSecurity;
  private readonly alertsByType: Record<string, number> = {};
  private readonly endpoint: Endpoint<'router'>;
  private readonly reporter: StatsReporter;
  private readonly nlog: NotificationLog;
  /** every accepted id; `unsettled` are those whose journal write has not completed yet */
  private readonly accepted = new Set<string>();
  private readonly unsettled = new Set<string>();
  /** accepted alerts (durable) still to be written to the plain receivers */
  private toPlain: Alert[] = [];
  private readonly clock: Clock;
  private readonly config: MonitorConfig;
  private readonly notifiers: Map<string, Notifier>;
  private readonly silenceStore: SilenceStore;
  private readonly inhibitor: Inhibitor;
  private readonly dispatcher: Dispatcher;
  private readonly deliveries: Deliveries;
  private readonly recent = new RecentAlerts();
  private readonly listeners = new Set<(e: MonitorEvent) => void>();
  private readonly receiverCounters = new Map<string, ReceiverCounters>();
  private readonly serviceStats = new ServiceStatsTable();
  private started = false;
  private stopping = false;
  private readonly warned: WarnOnce;
  private readonly stats: Omit<MonitorStats, 'malformed'> = {
    messages: 0, received: 0, accepted: 0, duplicates: 0, commitFailures: 0, deliveryFailures: 0, statsMessages: 0, silenceRequests: 0,
  };
  /** the read-only view (plus silences) for the HTTP side */
  readonly view: MonitorView;

  constructor(private readonly opts: MonitorOptions) {
    this.security = new ServerSecurity(opts.log, opts.curve && { keys: opts.curve.keys, domains: { monitor: opts.curve.allow } });
    this.warned = new WarnOnce(opts.log);
    this.endpoint = new Endpoint('router', {
      log: opts.log, warned: this.warned, security: { server: this.security, domain: 'monitor' }, maxQueued: 10_000,
      socket: { linger: 0, sendHighWaterMark: 10_000, receiveHighWaterMark: 10_000 },
    });
    this.clock = opts.clock ?? systemClock;
    this.config = opts.config ?? defaultMonitorConfig();
    this.nlog = new NotificationLog(opts.dataDir, {
      fsync: opts.fsync ?? true,
      ...(opts.compactBytes !== undefined ? { compactBytes: opts.compactBytes } : {}),
      onWarning: (msg, err) => this.warnOnce(`log:${msg}`, { err: (err as Error).message }, msg),
    });
    this.notifiers = opts.notifiers ?? new Map(this.config.receivers.map((r) => [r.name, createNotifier(r, {
      alertmanager: { onResendError: (err) => this.warnOnce(`resend:${r.name}`, { receiver: r.name, err: err.message }, 'alertmanager re-send failed (further ones are not logged)') },
    })]));
    for (const name of this.notifiers.keys()) this.receiverCounters.set(name, { sent: 0, failed: 0, retries: 0, heldBack: 0, pending: 0 });
    this.silenceStore = new SilenceStore(opts.silencesPath ?? join(opts.dataDir, 'silences.json'), this.clock, opts.fsync ?? true);
    this.inhibitor = new Inhibitor([...BUILTIN_INHIBIT_RULES, ...this.config.inhibitRules], this.clock);
    this.deliveries = new Deliveries({
      clock: this.clock,
      notifiers: this.notifiers,
      ...(opts.retry ? { retry: opts.retry } : {}),
      ...(opts.retryRoundPauseMs !== undefined ? { roundPauseMs: opts.retryRoundPauseMs } : {}),
      onDone: (n, ok, error) => this.onDelivered(n, ok, error),
      onAttemptFailed: (n, error, attempt) => {
        this.counter(n.receiver).retries++;
        this.warnOnce(`attempt:${n.receiver}`, { receiver: n.receiver, attempt, err: error.message }, 'notification attempt failed; retrying with backoff (further failures are counted)');
      },
    });
    this.dispatcher = new Dispatcher({
      route: new Route(this.config.route),
      receivers: new Set(this.notifiers.keys()),
      clock: this.clock,
      silences: this.silenceStore,
      inhibitor: this.inhibitor,
      rateLimits: new RateLimits(this.config.rateLimits, this.clock),
      journal: this.nlog,
      deliver: (n) => this.deliveries.send(n),
      ...(opts.externalURL ? { externalURL: opts.externalURL } : {}),
      onAlert: (l, receivedAt, match) => {
        this.recent.add(l, receivedAt, match);
        if (this.started) this.emit({ type: 'alert', alert: l });
      },
      onHeld: (n) => {
        this.counter(n.receiver).heldBack++;
        this.emit({ type: 'notification', receiver: n.receiver, outcome: 'held', notification: n });
      },
      warn: (obj, msg) => this.opts.log.warn(obj, msg),
      info: (obj, msg) => this.opts.log.info(obj, msg),
    });
    this.view = this.makeView();
    this.reporter = new StatsReporter({
      service: 'monitor', kind: 'monitor', counters: () => this.ownCounters(), now: () => this.clock.now(),
      intervalMs: opts.statsIntervalMs ?? 5000, unref: true, report: (st) => this.serviceStats.update([st]),
    });
  }

  async start(): Promise<void> {
    const { snapshot, entries, warnings } = await this.nlog.open();
    for (const w of warnings) this.opts.log.warn({ dataDir: this.opts.dataDir }, w);
    if (snapshot) {
      for (const id of snapshot.ids) this.accepted.add(id);
      if (snapshot.dispatch) this.dispatcher.restore(snapshot.dispatch);
    }
    // the plain receivers skip what they already wrote
    const recent: Alert[] = [...(snapshot?.plain ?? [])];
    let replayed = 0;
    for (const e of entries) {
      if (e.k === 'a') {
        for (const a of e.alerts) {
          this.accepted.add(a.id);
          recent.push(a);
        }
        this.dispatcher.ingest(e.alerts, e.t || this.clock.now());
      } else if (e.k === 'f') {
        this.dispatcher.applyFlush(e.rec);
      } else {
        this.dispatcher.applyDone(e.id);
      }
      replayed++;
    }
    this.nlog.setSnapshotSource(() => this.snapshot());
    // A snapshot is taken only after this, so the plain receivers' catch-up (below) never misses an alert.
    this.nlog.setAfterBatch(() => this.deliverPlain());
    await this.silenceStore.open();
    // Plain receivers catch up on what was accepted since the last snapshot (a snapshot is taken only after delivery).
    for (const r of this.opts.receivers) await r.open(recent);
    // Notifiers that re-send firing alerts (Alertmanager's) get back the ones they were sending.
    for (const [name, n] of this.notifiers) {
      const restore = (n as Notifier & { restoreFiring?: (a: LabeledAlert[], url?: string) => void }).restoreFiring;
      if (typeof restore === 'function') restore.call(n, this.dispatcher.notifiedFiring(name), this.opts.externalURL);
    }
    await this.endpoint.bind(this.opts.bind);
    this.started = true;
    this.dispatcher.start();
    this.endpoint.receive((msg) => {
      if (!this.stopping) this.onMessage(msg); // after stop() began: not acked, the sender resends to the next monitor
    });
    this.reporter.start(true);
    this.opts.log.info({
      bind: this.opts.bind, accepted: this.accepted.size, replayed, groups: this.dispatcher.groupCount(), pending: this.dispatcher.pendingCount(),
      receivers: [...this.opts.receivers.map((r) => r.name), ...this.notifiers.keys()], silences: this.silenceStore.activeCount(),
    }, 'monitor started');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.reporter.stop();
    this.dispatcher.stop();
    await this.nlog.flush(); // acks for what was written go out before the socket closes
    await new Promise((r) => setTimeout(r, 20));
    await this.endpoint.close();
    await this.deliveries.stop();
    await this.nlog.close();
    for (const r of this.opts.receivers) await r.close();
    for (const n of this.notifiers.values()) await n.close?.().catch(() => {});
    this.listeners.clear();
    this.opts.log.info({ ...this.stats, malformed: this.endpoint.malformedCount, pending: this.dispatcher.pendingCount() }, 'monitor stopped');
  }

  private snapshot(): MonitorSnapshot {
    const ids: string[] = [];
    for (const id of this.accepted) if (!this.unsettled.has(id)) ids.push(id);
    // Alerts accepted but not yet in alerts.jsonl (waiting for the batch's write, or for disk space) go into the
    // snapshot whole: their journal entries are about to be compacted away.
    const plain = [...this.toPlain];
    for (const r of this.opts.receivers) plain.push(...(r.pendingAlerts?.() ?? []));
    return { v: 2, ids, dispatch: this.dispatcher.state(), ...(plain.length > 0 && { plain }) };
  }

  private onMessage(msg: Buffer[]): void {
    const peer = msg[0]!;
    let h: Header;
    try {
      if (msg.length < 2 || msg.length > 3) throw new ProtocolError('FRAMES', `expected header + payload, got ${msg.length - 1} frames`);
      h = decodeHeader(msg[1]);
    } catch (err) {
      this.endpoint.malformed('peer', err, { peer, rid: 0 });
      return;
    }
    switch (h.t) {
      case 'alerts':
        this.onAlerts(peer, h.rid, h.n, msg);
        return;
      case 'stats':
        try {
          this.serviceStats.update(decodeStats(msg[2]));
          this.stats.statsMessages++;
        } catch (err) {
          this.endpoint.malformed('stats', err);
        }
        return;
      case 'silence-add':
      case 'silence-ls':
      case 'silence-expire':
        this.stats.silenceRequests++;
        void this.onSilenceRequest(peer, h, msg[2]);
        return;
      default: {
        // a header of another type may carry a 'rid' of any type: only an integer goes back in the error
        const rid = 'rid' in h && Number.isSafeInteger(h.rid) ? h.rid : 0;
        this.endpoint.malformed('peer', new ProtocolError('UNEXPECTED', `unexpected ${h.t}`), { peer, rid });
      }
    }
  }

  private onAlerts(peer: Buffer, rid: number, n: number, msg: Buffer[]): void {
    let alerts: Alert[];
    try {
      if (msg.length !== 3) throw new ProtocolError('FRAMES', `expected header + payload, got ${msg.length - 1} frames`);
      alerts = decodeAlerts(msg[2], n);
    } catch (err) {
      this.endpoint.malformed('peer', err, { peer, rid });
      return;
    }
    this.stats.messages++;
    this.stats.received += alerts.length;
    const fresh: Alert[] = [];
    for (const a of alerts) {
      if (this.accepted.has(a.id)) {
        this.stats.duplicates++;
        continue;
      }
      this.accepted.add(a.id);
      this.unsettled.add(a.id);
      fresh.push(a);
    }
    const ack = alertsAckHeader(rid, fresh.length, alerts.length - fresh.length);
    const t = this.clock.now();
    // Even a message of duplicates is acked only after the writes before it: its alerts may be in one of them.
    const entry = fresh.length > 0 ? { k: 'a' as const, t, alerts: fresh } : undefined;
    this.nlog.write(entry, () => {
      for (const a of fresh) {
        this.unsettled.delete(a.id);
        this.alertsByType[a.type] = (this.alertsByType[a.type] ?? 0) + 1;
      }
      this.stats.accepted += fresh.length;
      this.endpoint.reply(peer, ack);
      if (fresh.length === 0) return;
      this.toPlain.push(...fresh); // written by deliverPlain once the whole batch is applied
      this.dispatcher.ingest(fresh, t);
    }).catch((err: unknown) => {
      // Not durable: forget these ids and don't ack; the consumer resends after its ack timeout.
      this.stats.commitFailures++;
      for (const a of fresh) {
        this.accepted.delete(a.id);
        this.unsettled.delete(a.id);
      }
      this.warnOnce(`commit:${(err as NodeJS.ErrnoException).code}`, { err: (err as Error).message }, 'could not record accepted alerts; not acking until writes succeed');
    });
  }

  /** Writes what the last journal batch accepted to the plain receivers: one write (and fsync) per batch. */
  private async deliverPlain(): Promise<void> {
    if (this.toPlain.length === 0) return;
    const alerts = this.toPlain;
    this.toPlain = [];
    for (const r of this.opts.receivers) {
      try {
        await r.deliver(alerts);
      } catch (err) {
        this.stats.deliveryFailures++;
        this.warnOnce(`deliver:${r.name}`, { receiver: r.name, err: (err as Error).message }, 'delivery failed');
      }
    }
  }

  private onDelivered(n: Notification, ok: boolean, error?: DeliveryError): Promise<void> {
    const c = this.counter(n.receiver);
    if (ok) c.sent++;
    else {
      c.failed++;
      this.opts.log.error({ receiver: n.receiver, notification: n.id, alerts: n.alerts.length, err: error?.message, status: error?.status },
        'notification rejected by the receiver (not retried: fix the receiver configuration)');
    }
    const e: MonitorEvent = { type: 'notification', receiver: n.receiver, outcome: ok ? 'sent' : 'failed', notification: n };
    if (error) e.error = error.message;
    this.emit(e);
    return this.dispatcher.done(n, ok).catch((err: unknown) => {
      // Still pending in the log: sent again after a restart (same id, so receivers can drop it).
      this.warnOnce('done', { err: (err as Error).message }, 'could not record a delivery; it may be repeated after a restart');
    });
  }

  private async onSilenceRequest(peer: Buffer, h: SilenceRequestHeader, payload: Buffer | undefined): Promise<void> {
    let list: Silence[];
    try {
      if (h.t === 'silence-add') {
        list = [await this.addSilence(decodeSilenceAdd(payload))];
      } else if (h.t === 'silence-expire') {
        const { id } = decodeSilenceExpire(payload);
        const s = await this.expireSilence(id);
        if (!s) throw new ProtocolError('NOT_FOUND', `no silence with id ${id}`);
        list = [s];
      } else {
        list = this.silenceStore.all();
      }
    } catch (err) {
      const code = err instanceof ProtocolError ? err.code : err instanceof MatcherError || err instanceof SilenceError ? 'BAD_SILENCE' : 'FAILED';
      this.endpoint.reply(peer, errorHeader(h.rid, err, code));
      return;
    }
    this.endpoint.reply(peer, silenceReplyHeader(h.rid, list.length), encodeSilences(list));
  }

  private async addSilence(input: SilenceInput): Promise<Silence> {
    const s = await this.silenceStore.add(input);
    this.opts.log.info({ silence: s.id, matchers: s.matchers, endsAt: s.endsAt, createdBy: s.createdBy }, 'silence added');
    this.emit({ type: 'silence', action: 'add', silence: s });
    return s;
  }

  private async expireSilence(id: string): Promise<Silence | undefined> {
    const s = await this.silenceStore.expire(id);
    if (s) {
      this.opts.log.info({ silence: s.id }, 'silence expired');
      this.emit({ type: 'silence', action: 'expire', silence: s });
    }
    return s;
  }

  private counter(receiver: string): ReceiverCounters {
    let c = this.receiverCounters.get(receiver);
    if (!c) this.receiverCounters.set(receiver, (c = { sent: 0, failed: 0, retries: 0, heldBack: 0, pending: 0 }));
    return c;
  }

  private counters(): MonitorCounters {
    const receivers: Record<string, ReceiverCounters> = {};
    for (const [name, c] of this.receiverCounters) receivers[name] = { ...c, pending: this.dispatcher.pendingCount(name) };
    return {
      messages: this.stats.messages,
      received: this.stats.received,
      accepted: this.stats.accepted,
      duplicates: this.stats.duplicates,
      malformed: this.endpoint.malformedCount,
      commitFailures: this.stats.commitFailures,
      statsMessages: this.stats.statsMessages,
      silenced: this.dispatcher.counters.silenced,
      inhibited: this.dispatcher.counters.inhibited,
      activeAlerts: this.recent.firing(this.clock.now()).length,
      groups: this.dispatcher.groupCount(),
      activeSilences: this.silenceStore.activeCount(),
      receivers,
      alertsByType: { ...this.alertsByType },
    };
  }

  /** The monitor's counters flattened, as it reports them to its own stats table. */
  private ownCounters(): Record<string, number> {
    const c = this.counters();
    const counters: Record<string, number> = {};
    for (const [k, v] of Object.entries(c)) if (typeof v === 'number') counters[k] = v;
    for (const [name, r] of Object.entries(c.receivers)) for (const [k, v] of Object.entries(r)) counters[`${k}.${name}`] = v;
    for (const [type, n] of Object.entries(c.alertsByType ?? {})) counters[`alerts.${type}`] = n;
    Object.assign(counters, this.security.stats()); // CURVE admissions and refusals
    return counters;
  }

  private emit(e: MonitorEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.warnOnce('listener', { err: (err as Error).message }, 'a monitor event listener threw');
      }
    }
  }

  private makeView(): MonitorView & { healthy(): boolean } {
    return {
      activeAlerts: (): ActiveAlert[] => this.recent.firing(this.clock.now()).map((e) => ({
        ...e.alert,
        silencedBy: this.silenceStore.mutes(e.match),
        inhibitedBy: this.inhibitor.inhibitedBy(e.match, e.alert.fingerprint),
        receivers: this.dispatcher.receiversFor(e.match),
        receivedAt: e.receivedAt,
      })),
      recentResolved: (limit) => this.recent.recentResolved(limit),
      silences: () => this.silenceStore.all(),
      addSilence: (input) => this.addSilence(input),
      expireSilence: (id) => this.expireSilence(id),
      slowestFingerprints: (windowMs, limit) => this.recent.slowest(this.clock.now(), windowMs, limit),
      stats: this.serviceStats,
      counters: () => this.counters(),
      receiverNames: () => [...this.notifiers.keys()],
      subscribe: (listener) => {
        this.listeners.add(listener);
        return () => this.listeners.delete(listener);
      },
      healthy: () => this.started && !this.stopping && !this.nlog.failing,
    };
  }

  private warnOnce(key: string, obj: object, msg: string): void {
    this.warned.warn(key, obj, msg);
  }
}
