import type { WarnOnce } from '../service/warn-once.js';
import { StatsReporter } from '../service/stats-reporter.js';
import type { ServiceStats } from '../wire/protocol.js';
import type { Health } from './health.js';
import type { Clock } from './dispatch/clock.js';
import type { Dispatcher } from './dispatch/dispatcher.js';
import type { FiringSource, Inhibitor } from './inhibit.js';
import type { AlertIntake } from './intake.js';
import { firingUntil, type DeliveryError, type LabeledAlert, type Notification } from './model.js';
import { RecentAlerts } from './recent.js';
import type { Refusals } from './refusals.js';
import { ServiceStatsTable } from './service-stats.js';
import type { SilenceService } from './silence-service.js';
import type { ActiveAlert, ConfigStatus, MonitorCounters, MonitorEvent, MonitorView, ReceiverCounters } from './view.js';

// What the dashboard and /metrics read: the recent alerts, the live events, the counters per receiver, the latest
// counters of every service (the monitor's own included, reported here every interval), and the MonitorView
// (view.ts) over all of it and the parts of the monitor it asks (dispatcher, inhibitor, silences, intake).

export interface ViewStateOptions {
  clock: Clock;
  dispatcher: Dispatcher;
  inhibitor: Inhibitor;
  silences: SilenceService;
  intake: AlertIntake;
  /** the configured receivers (setReceivers() after a reload) */
  receiverNames: readonly string[];
  /** how the latest configuration reload went */
  configStatus(): ConfigStatus;
  /** messages the monitor's port could not use */
  malformed(): number;
  /** those messages by kind, and what was set aside */
  refusals: Refusals;
  /** counters added to the monitor's own report (CURVE admissions and refusals, peers' closed connections) */
  extraCounters(): Record<string, number>;
  /** the worst of some things since the last report (its slowest journal commit): read once per report */
  peaks?(): Record<string, number>;
  /** what /healthz says, given the latest counters of every service */
  health(services: readonly ServiceStats[]): Health;
  /** how often the monitor's own counters go into the stats table (default 5 s) */
  statsIntervalMs?: number;
  warned: WarnOnce;
}

export class ViewState {
  readonly view: MonitorView & { health(): Health };
  private readonly recent = new RecentAlerts();
  private readonly listeners = new Set<(e: MonitorEvent) => void>();
  private readonly receiverCounters = new Map<string, ReceiverCounters>();
  private readonly serviceStats = new ServiceStatsTable();
  private readonly reporter: StatsReporter;
  /** stats messages received */
  statsMessages = 0;

  private receiverNames: readonly string[];

  constructor(private readonly opts: ViewStateOptions) {
    this.receiverNames = opts.receiverNames;
    for (const name of opts.receiverNames) this.counter(name);
    this.reporter = new StatsReporter({
      service: 'monitor', kind: 'monitor', counters: () => this.ownCounters(), now: () => opts.clock.now(),
      ...(opts.peaks && { peaks: opts.peaks }),
      intervalMs: opts.statsIntervalMs ?? 5000, unref: true, report: (st) => this.serviceStats.update([st]),
    });
    this.view = this.makeView();
  }

  /** The receivers after a configuration reload (a removed one's counters stay: they are cumulative). */
  setReceivers(names: readonly string[]): void {
    this.receiverNames = [...names];
    for (const name of names) this.counter(name);
  }

  /** Reports the monitor's own counters now and every interval. */
  start(): void {
    this.reporter.start(true);
  }

  stop(): void {
    this.reporter.stop();
    this.listeners.clear();
  }

  /** Another service's counters, from a stats message. */
  statsReceived(list: readonly ServiceStats[]): void {
    this.serviceStats.update(list);
    this.statsMessages++;
  }

  /** An alert accepted (live, or replayed at start: then it is not announced). */
  alertSeen(l: LabeledAlert, receivedAt: number, live: boolean): void {
    this.recent.add(l, receivedAt);
    if (live) this.emit({ type: 'alert', alert: l });
  }

  /** The alerts firing now, as the inhibitor indexes them (a reload's new rules). */
  firingSources(): FiringSource[] {
    return this.recent.firing(this.opts.clock.now()).map((e) => ({
      labels: e.match,
      fingerprint: e.alert.fingerprint,
      until: firingUntil(e.alert.alert, e.receivedAt),
    }));
  }

  held(n: Notification): void {
    this.counter(n.receiver).heldBack++;
    this.emit({ type: 'notification', receiver: n.receiver, outcome: 'held', notification: n });
  }

  attemptFailed(n: Notification): void {
    this.counter(n.receiver).retries++;
  }

  delivered(n: Notification, ok: boolean, error?: DeliveryError): void {
    const c = this.counter(n.receiver);
    if (ok) c.sent++;
    else c.failed++;
    const e: MonitorEvent = { type: 'notification', receiver: n.receiver, outcome: ok ? 'sent' : 'failed', notification: n };
    if (error) e.error = error.message;
    this.emit(e);
  }

  emit(e: MonitorEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.opts.warned.warn('listener', { err: (err as Error).message }, 'a monitor event listener threw');
      }
    }
  }

  counters(): MonitorCounters {
    const { dispatcher, intake, clock } = this.opts;
    const receivers: Record<string, ReceiverCounters> = {};
    for (const [name, c] of this.receiverCounters) receivers[name] = { ...c, pending: dispatcher.pendingCount(name) };
    const i = intake.counters;
    return {
      messages: i.messages,
      received: i.received,
      accepted: i.accepted,
      duplicates: i.duplicates,
      dedupIds: intake.accepted.size,
      dedupForgottenForAge: intake.accepted.forgottenForAge,
      dedupForgottenForRoom: intake.accepted.forgottenForRoom,
      ...(intake.accepted.lastRoomWindowMs !== undefined && { dedupWindowMs: intake.accepted.lastRoomWindowMs }),
      malformed: this.opts.malformed(),
      refused: this.opts.refusals.refusedByKind(),
      setAside: { ...this.opts.refusals.setAside },
      commitFailures: i.commitFailures,
      statsMessages: this.statsMessages,
      silenced: dispatcher.counters.silenced,
      inhibited: dispatcher.counters.inhibited,
      activeAlerts: this.recent.firingCount(clock.now()),
      groups: dispatcher.groupCount(),
      activeSilences: this.opts.silences.activeCount(),
      receivers,
      alertsByType: { ...intake.alertsByType },
      config: this.opts.configStatus(),
    };
  }

  private counter(receiver: string): ReceiverCounters {
    let c = this.receiverCounters.get(receiver);
    if (!c) this.receiverCounters.set(receiver, (c = { sent: 0, failed: 0, retries: 0, heldBack: 0, pending: 0 }));
    return c;
  }

  /** The counters flattened, as the monitor reports them to its own stats table. */
  private ownCounters(): Record<string, number> {
    const c = this.counters();
    const counters: Record<string, number> = {};
    for (const [k, v] of Object.entries(c)) if (typeof v === 'number') counters[k] = v;
    for (const [name, r] of Object.entries(c.receivers)) for (const [k, v] of Object.entries(r)) counters[`${k}.${name}`] = v;
    for (const [type, n] of Object.entries(c.alertsByType ?? {})) counters[`alerts.${type}`] = n;
    for (const [where, n] of Object.entries(c.setAside ?? {})) counters[`setAside.${where}`] = n;
    return Object.assign(counters, this.opts.extraCounters());
  }

  private makeView(): MonitorView & { health(): Health } {
    const { clock, dispatcher, inhibitor, silences } = this.opts;
    return {
      activeAlerts: (): ActiveAlert[] => this.recent.firing(clock.now()).map((e) => ({
        ...e.alert,
        silencedBy: silences.mutes(e.match),
        inhibitedBy: inhibitor.inhibitedBy(e.match, e.alert.fingerprint),
        receivers: dispatcher.receiversFor(e.match),
        receivedAt: e.receivedAt,
      })),
      recentResolved: (limit) => this.recent.recentResolved(limit),
      silences: () => silences.all(),
      addSilence: (input) => silences.add(input),
      expireSilence: (id) => silences.expire(id),
      slowestFingerprints: (windowMs, limit) => this.recent.slowest(clock.now(), windowMs, limit),
      stats: this.serviceStats,
      counters: () => this.counters(),
      receiverNames: () => [...this.receiverNames],
      subscribe: (listener) => {
        this.listeners.add(listener);
        return () => this.listeners.delete(listener);
      },
      health: () => this.opts.health(this.serviceStats.all(clock.now())),
    };
  }
}
