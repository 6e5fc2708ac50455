import { join } from 'node:path';
import type { Logger } from 'pino';
import type { CurveServerConfig } from '../security/curve.js';
import { ServerSecurity } from '../security/zap.js';
import { Quarantine, type SetAside } from '../durable/quarantine.js';
import { Endpoint, type Answer } from '../transport/endpoint.js';
import { WarnOnce } from '../service/warn-once.js';
import { decodeAlerts, decodeHeader, decodeStats, ProtocolError, type AlertsHeader, type Header } from '../wire/protocol.js';
import { alertsAckHeader, errorCode } from '../wire/headers.js';
import { MAX_FRAME_BYTES } from '../wire/limits.js';
import { systemClock, type Clock } from './dispatch/clock.js';
import { Deliveries } from './dispatch/delivery.js';
import { Dispatcher } from './dispatch/dispatcher.js';
import { Route } from './dispatch/route.js';
import { assessHealth } from './health.js';
import { BUILTIN_INHIBIT_RULES, Inhibitor } from './inhibit.js';
import { AlertIntake } from './intake.js';
import type { DeliveryError, LabeledAlert, Notification, Notifier } from './model.js';
import { defaultMonitorConfig, type MonitorConfig } from './monitor-config.js';
import { NotificationLog, type MonitorSnapshot } from './notification-log.js';
import { createNotifier, type ReceiverConfig } from './notifiers/index.js';
import type { RetryOptions } from './notifiers/retry.js';
import type { AlertOutput } from './outputs/output.js';
import { RateLimits } from './rate-limit.js';
import { Refusals, type SetAsideWhere } from './refusals.js';
import { SilenceService } from './silence-service.js';
import { SilenceStore } from './silences.js';
import { ViewState } from './view-state.js';
import type { AcceptedIdsOptions } from './accepted-ids.js';
import type { ConfigStatus, MonitorView } from './view.js';

// The monitor wires its parts to one ZeroMQ port and one durable log (notification-log.ts, its whole state):
// - alert intake (intake.ts): alerts from consumers, deduplicated by id durably, acked, written to the outputs
//   (alerts.jsonl, stdout);
// - the dispatcher (dispatch/): routing, grouping, inhibition, silences, rate limits, and the receivers'
//   notifiers with retries;
// - the silence service (silence-service.ts): `slowq silence` requests on the port, and the dashboard's;
// - the view state (view-state.ts): what the dashboard and /metrics read, services' stats messages included.
// What it cannot use is loud (refusals.ts, health.ts): a refused message is answered, counted per kind and
// logged once per kind; an entry of its state or an alert its dispatcher cannot handle is set aside in
// quarantine.jsonl, reported and counted, and the rest goes on; /healthz says `degraded` meanwhile.

export interface MonitorOptions {
  bind: string;
  dataDir: string;
  /** a source whose client has waited this long for an ack is reported as stuck on /healthz (default 30 s) */
  stuckAfterMs?: number;
  /** outputs: every accepted alert, exactly once, unrouted (alerts.jsonl, stdout) */
  outputs: AlertOutput[];
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
  /** how long, and how many, accepted alert ids are remembered to drop resent alerts (default 24 h, 1,000,000) */
  dedup?: AcceptedIdsOptions;
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
  private readonly endpoint: Endpoint<'router'>;
  private readonly warned: WarnOnce;
  private config: MonitorConfig;
  private readonly nlog: NotificationLog;
  /** the configured receivers' notifiers, by receiver name */
  private notifiers: Map<string, Notifier>;
  private readonly inhibitor: Inhibitor;
  private readonly rateLimits: RateLimits;
  private readonly configStatus: ConfigStatus;
  private readonly dispatcher: Dispatcher;
  private readonly deliveries: Deliveries;
  private readonly intake: AlertIntake;
  private readonly silences: SilenceService;
  private readonly state: ViewState;
  private readonly refusals = new Refusals();
  private readonly quarantine: Quarantine;
  private readonly clock: Clock;
  private started = false;
  private stopping = false;
  /** the read-only view (plus silences) for the HTTP side */
  readonly view: MonitorView;

  constructor(private readonly opts: MonitorOptions) {
    const log = opts.log;
    this.security = new ServerSecurity(log, opts.curve && { keys: opts.curve.keys, domains: { monitor: opts.curve.allow } });
    this.warned = new WarnOnce(log);
    this.endpoint = new Endpoint('router', {
      log, warned: this.warned, security: { server: this.security, domain: 'monitor' }, maxQueued: 10_000, peers: 'peer',
      socket: { linger: 0, sendHighWaterMark: 10_000, receiveHighWaterMark: 10_000, maxMessageSize: MAX_FRAME_BYTES.monitor },
    });
    const clock = opts.clock ?? systemClock;
    this.clock = clock;
    this.config = opts.config ?? defaultMonitorConfig();
    this.quarantine = new Quarantine(opts.dataDir, { report: (msg, fields) => log.warn({ dataDir: opts.dataDir, ...fields }, msg) });
    this.nlog = new NotificationLog(opts.dataDir, {
      fsync: opts.fsync ?? true,
      ...(opts.compactBytes !== undefined ? { compactBytes: opts.compactBytes } : {}),
      onWarning: (msg, err) => this.warned.warn(`log:${msg}`, { err: (err as Error).message }, msg),
      setAside: (item, part) => this.setAside(item, part),
    });
    this.configStatus = { lastReloadSuccessful: true, lastReloadSuccessAt: clock.now(), reloadFailures: 0, reloads: 0 };
    this.notifiers = opts.notifiers ?? new Map(this.config.receivers.map((r) => [r.name, this.notifierFor(r)]));
    this.silences = new SilenceService(new SilenceStore(opts.silencesPath ?? join(opts.dataDir, 'silences.json'), clock, opts.fsync ?? true), {
      log, emit: (e) => this.state.emit(e),
    });
    const inhibitor = new Inhibitor([...BUILTIN_INHIBIT_RULES, ...this.config.inhibitRules], clock);
    this.inhibitor = inhibitor;
    this.rateLimits = new RateLimits(this.config.rateLimits, clock);
    this.deliveries = new Deliveries({
      clock,
      notifiers: this.notifiers,
      ...(opts.retry ? { retry: opts.retry } : {}),
      ...(opts.retryRoundPauseMs !== undefined ? { roundPauseMs: opts.retryRoundPauseMs } : {}),
      onDone: (n, ok, error) => this.onDelivered(n, ok, error),
      onAttemptFailed: (n, error, attempt) => {
        this.state.attemptFailed(n);
        this.warned.warn(`attempt:${n.receiver}`, { receiver: n.receiver, attempt, err: error.message }, 'notification attempt failed; retrying with backoff (further failures are counted)');
      },
    });
    this.dispatcher = new Dispatcher({
      route: new Route(this.config.route),
      receivers: new Set(this.notifiers.keys()),
      clock,
      silences: this.silences,
      inhibitor,
      rateLimits: this.rateLimits,
      journal: this.nlog,
      deliver: (n) => this.deliveries.send(n),
      ...(opts.externalURL ? { externalURL: opts.externalURL } : {}),
      onAlert: (l, receivedAt) => this.state.alertSeen(l, receivedAt, this.started),
      onHeld: (n) => this.state.held(n),
      setAside: (what, value, problem) => this.setAside({ what, reason: problem, value }, 'dispatch'),
      warn: (obj, msg) => log.warn(obj, msg),
      info: (obj, msg) => log.info(obj, msg),
    });
    this.intake = new AlertIntake({
      journal: this.nlog, outputs: opts.outputs, clock, warned: this.warned, dispatch: (alerts, t) => this.dispatcher.ingest(alerts, t),
      ...(opts.dedup && { dedup: opts.dedup }),
    });
    this.state = new ViewState({
      clock, dispatcher: this.dispatcher, inhibitor, silences: this.silences, intake: this.intake,
      receiverNames: [...this.notifiers.keys()],
      configStatus: () => ({ ...this.configStatus }),
      malformed: () => this.endpoint.malformedCount,
      refusals: this.refusals,
      extraCounters: () => ({ ...this.security.stats(), ...this.endpoint.connectionStats() }),
      peaks: () => ({ commitMsMax: this.nlog.commitPeak.take() }),
      health: (services) => assessHealth({
        running: this.started && !this.stopping, journalFailing: this.nlog.failing, refusals: this.refusals, services, now: clock.now(),
        ...(opts.stuckAfterMs !== undefined && { stuckAfterMs: opts.stuckAfterMs }),
      }),
      ...(opts.statsIntervalMs !== undefined ? { statsIntervalMs: opts.statsIntervalMs } : {}),
      warned: this.warned,
    });
    this.view = this.state.view;
  }

  async start(): Promise<void> {
    const { snapshot, entries, warnings } = await this.nlog.open();
    for (const w of warnings) this.opts.log.warn({ dataDir: this.opts.dataDir }, w);
    if (snapshot) {
      this.intake.restore(snapshot.ids, snapshot.plain, snapshot.idTimes);
      if (snapshot.dispatch) this.dispatcher.restore(snapshot.dispatch);
    }
    let replayed = 0;
    for (const { entry: e, origin, bytes } of entries) {
      try {
        if (e.k === 'a') this.intake.replay(e);
        else if (e.k === 'f') this.dispatcher.applyFlush(e.rec);
        else this.dispatcher.applyDone(e.id);
        replayed++;
      } catch (err) {
        this.setAside({ ...origin, reason: `could not be applied: ${(err as Error).message}`, bytes }, 'journal');
      }
    }
    this.quarantine.summarise();
    this.nlog.setSnapshotSource(() => this.snapshot());
    // A snapshot is taken only after this, so the outputs' catch-up (below) never misses an alert.
    this.nlog.setAfterBatch(() => this.intake.writeOutputs());
    await this.silences.open();
    await this.intake.openOutputs();
    // What was set aside is in quarantine.jsonl: a snapshot now, so the next start neither reads nor reports it again.
    if (this.quarantine.count > 0) await this.nlog.compact();
    // Notifiers that re-send firing alerts (Alertmanager's) get back the ones they were sending.
    for (const [name, n] of this.notifiers) this.restoreFiring(name, n);
    await this.endpoint.bind(this.opts.bind);
    this.started = true;
    this.dispatcher.start();
    this.endpoint.receive((msg) => {
      if (!this.stopping) this.onMessage(msg); // after stop() began: not acked, the sender resends to the next monitor
    });
    this.state.start();
    this.opts.log.info({
      bind: this.opts.bind, accepted: this.intake.accepted.size, replayed, setAside: this.quarantine.count, groups: this.dispatcher.groupCount(), pending: this.dispatcher.pendingCount(),
      outputs: this.intake.outputNames, receivers: [...this.notifiers.keys()], silences: this.silences.activeCount(),
    }, 'monitor started');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.dispatcher.stop();
    await this.nlog.flush(); // acks for what was written go out before the socket closes
    await new Promise((r) => setTimeout(r, 20));
    await this.endpoint.close();
    await this.deliveries.stop();
    await this.nlog.close();
    await this.intake.closeOutputs();
    for (const n of this.notifiers.values()) await n.close?.().catch(() => {});
    this.state.stop();
    this.opts.log.info({ ...this.stats(), pending: this.dispatcher.pendingCount() }, 'monitor stopped');
  }

  /**
   * A configuration reload (SIGHUP, POST /-/reload), the way Alertmanager does it: `load` reads and checks the
   * file; if it throws, nothing changes, the error (which names the file and the key) is logged once and
   * counted, and the previous configuration stays in force. Otherwise the new routes, receivers, inhibition
   * rules and rate limits apply to alerts accepted from now on; groups and rate-limit state of receivers that
   * stay carry over, and notifications already decided are delivered (see dispatcher.reconfigure).
   *
   * The change is made in the notification log's write order, at a snapshot: alerts accepted before it are in
   * the snapshot with the groups they were placed in, and the journal after it holds only what the new routes
   * placed, so a restart (with the same file) replays to what was live and notifies nothing twice.
   */
  async reload(load: () => MonitorConfig): Promise<{ ok: true; summary: string } | { ok: false; error: string }> {
    let next: MonitorConfig;
    try {
      next = load();
    } catch (err) {
      return this.reloadRefused((err as Error).message);
    }
    let summary = '';
    let snapshotOk: boolean;
    try {
      snapshotOk = await this.nlog.changeAtSnapshot(() => {
        summary = this.applyConfig(next);
      });
    } catch (err) {
      return this.reloadRefused(`could not record the change in the notification log: ${(err as Error).message}`);
    }
    if (!snapshotOk) {
      summary += '; the snapshot at the change failed (logged): a restart before the next snapshot may place alerts accepted before the reload by the new routes';
    }
    return { ok: true, summary };
  }

  private reloadRefused(error: string): { ok: false; error: string } {
    this.configStatus.lastReloadSuccessful = false;
    this.configStatus.reloadFailures++;
    this.opts.log.error({ err: error }, 'configuration reload refused; the previous configuration stays in force');
    return { ok: false, error };
  }

  /** Swaps the new configuration in (reload); returns a summary of what changed. */
  private applyConfig(next: MonitorConfig): string {
    const before = new Map(this.config.receivers.map((r) => [r.name, JSON.stringify(r)]));
    const added: string[] = [];
    const changed: string[] = [];
    const retiredNotifiers: Notifier[] = [];
    if (!this.opts.notifiers) {
      const notifiers = new Map<string, Notifier>();
      for (const r of next.receivers) {
        const old = this.notifiers.get(r.name);
        if (old && before.get(r.name) === JSON.stringify(r)) {
          notifiers.set(r.name, old);
          continue;
        }
        const n = this.notifierFor(r);
        notifiers.set(r.name, n);
        (old ? changed : added).push(r.name);
        if (old) retiredNotifiers.push(old);
        this.restoreFiring(r.name, n);
      }
      for (const [name, old] of this.notifiers) if (!notifiers.has(name)) retiredNotifiers.push(old);
      this.notifiers = notifiers;
      this.deliveries.setNotifiers(notifiers);
    }
    const removed = [...before.keys()].filter((name) => !this.notifiers.has(name));
    const groups = this.dispatcher.reconfigure(new Route(next.route), new Set(this.notifiers.keys()));
    this.inhibitor.setRules([...BUILTIN_INHIBIT_RULES, ...next.inhibitRules], this.state.firingSources());
    this.rateLimits.reconfigure(next.rateLimits);
    this.state.setReceivers([...this.notifiers.keys()]);
    this.config = next;
    // An attempt under way finishes first: close() waits for it. A file notifier reopens if it is used again.
    for (const n of retiredNotifiers) void n.close?.().catch(() => {});
    this.configStatus.lastReloadSuccessful = true;
    this.configStatus.lastReloadSuccessAt = this.clock.now();
    this.configStatus.reloads++;
    const summary = `receivers ${[...this.notifiers.keys()].join(', ') || '(none)'}` +
      `${added.length ? `; added ${added.join(', ')}` : ''}${changed.length ? `; changed ${changed.join(', ')}` : ''}${removed.length ? `; removed ${removed.join(', ')}` : ''}` +
      `; groups kept ${groups.kept}, retired ${groups.retired}, alerts placed again ${groups.replaced}`;
    this.opts.log.info({ receivers: [...this.notifiers.keys()], added, changed, removed, ...groups }, 'configuration reloaded');
    return summary;
  }

  private notifierFor(r: ReceiverConfig): Notifier {
    return createNotifier(r, {
      alertmanager: { onResendError: (err) => this.warned.warn(`resend:${r.name}`, { receiver: r.name, err: err.message }, 'alertmanager re-send failed (further ones are not logged)') },
    });
  }

  /** A notifier that re-sends firing alerts (Alertmanager's) gets the ones already notified to its receiver. */
  private restoreFiring(name: string, n: Notifier): void {
    const restore = (n as Notifier & { restoreFiring?: (a: LabeledAlert[], url?: string) => void }).restoreFiring;
    if (typeof restore === 'function') restore.call(n, this.dispatcher.notifiedFiring(name), this.opts.externalURL);
  }

  private stats(): MonitorStats {
    const { deliveryFailures, ...c } = this.intake.counters;
    return {
      ...c, malformed: this.endpoint.malformedCount, deliveryFailures, statsMessages: this.state.statsMessages, silenceRequests: this.silences.requests,
    };
  }

  private snapshot(): MonitorSnapshot {
    const { ids, times } = this.intake.settledIds();
    const plain = this.intake.unwritten();
    return { v: 2, ids, idTimes: times, dispatch: this.dispatcher.state(), ...(plain.length > 0 && { plain }) };
  }

  /** One message on the port: alerts, a stats report, or a silence request. */
  private onMessage(msg: Buffer[]): void {
    const peer = msg[0]!;
    let h: Header;
    try {
      if (msg.length < 2 || msg.length > 3) throw new ProtocolError('FRAMES', `expected header + payload, got ${msg.length - 1} frames`);
      h = decodeHeader(msg[1]);
    } catch (err) {
      this.refuse('unreadable', err, { peer, rid: 0 });
      return;
    }
    switch (h.t) {
      case 'alerts':
        this.onAlerts(peer, h, msg);
        return;
      case 'stats':
        try {
          this.state.statsReceived(decodeStats(msg[2]));
        } catch (err) {
          this.refuse('stats', err);
        }
        return;
      case 'silence-add':
      case 'silence-ls':
      case 'silence-expire': {
        const t = h.t;
        void this.silences.answer(h, msg[2]).then((a) => {
          if (a.malformed) this.refuse(t, a.malformed);
          this.endpoint.reply(peer, a.header, a.payload);
        });
        return;
      }
      default: {
        // a header of another type may carry a 'rid' of any type: only an integer goes back in the error
        const rid = 'rid' in h && Number.isSafeInteger(h.rid) ? h.rid : 0;
        this.refuse(h.t, new ProtocolError('UNEXPECTED', `unexpected ${h.t}`), { peer, rid });
      }
    }
  }

  private onAlerts(peer: Buffer, h: AlertsHeader, msg: Buffer[]): void {
    let alerts;
    try {
      if (msg.length !== 3) throw new ProtocolError('FRAMES', `expected header + payload, got ${msg.length - 1} frames`);
      alerts = decodeAlerts(msg[2], h.n);
    } catch (err) {
      this.refuse('alerts', err, { peer, rid: h.rid });
      return;
    }
    this.intake.accept(alerts, (accepted, dup) => this.endpoint.reply(peer, alertsAckHeader(h.rid, accepted, dup)), msg[2]);
  }

  /** A message it cannot use: counted per type and code, logged once per kind, answered when `answer` says whom to. */
  private refuse(type: string, err: unknown, answer?: Answer): void {
    this.refusals.refused(type, errorCode(err), this.clock.now());
    this.endpoint.malformed(type === 'stats' ? 'stats' : 'peer', err, answer);
  }

  /** Something of its state or its dispatcher it cannot use: in quarantine.jsonl, reported, counted. */
  private setAside(item: SetAside, where: SetAsideWhere): void {
    this.refusals.setAsideOne(where);
    this.quarantine.setAside(item);
  }

  private onDelivered(n: Notification, ok: boolean, error?: DeliveryError): Promise<void> {
    if (!ok) {
      this.opts.log.error({ receiver: n.receiver, notification: n.id, alerts: n.alerts.length, err: error?.message, status: error?.status },
        'notification rejected by the receiver (not retried: fix the receiver configuration)');
    }
    this.state.delivered(n, ok, error);
    return this.dispatcher.done(n, ok).catch((err: unknown) => {
      // Still pending in the log: sent again after a restart (same id, so receivers can drop it).
      this.warned.warn('done', { err: (err as Error).message }, 'could not record a delivery; it may be repeated after a restart');
    });
  }
}
