import { isClosing, OPENING_TYPES, type Alert } from '../../model/record.js';
import { commonOf, firingUntil, matchLabels, toLabeled, type Labels, type LabeledAlert, type Notification } from '../model.js';
import type { Inhibitor } from '../inhibit.js';
import type { RateLimits } from '../rate-limit.js';
import type { Clock, TimerHandle } from './clock.js';
import { groupKeyOf, type Route } from './route.js';

// Alertmanager's dispatcher for slowq's alerts. Accepted alerts are labelled (a resolved/stalled alert gets
// the labels of the long_running alert it closes, so they are one problem), routed, and put into aggregation
// groups; each group is flushed group_wait after it was created and every group_interval after that. A flush
// runs the pipeline inhibit → silence → (anything new? or repeat_interval passed?) → rate limit → notify.
//
// What a group holds and when alerts leave it (Alertmanager's semantics, with slowq's point events):
// - a notification carries every unmuted alert of the group with its current status;
// - a long_running alert stays in its group, firing, until its resolved/stalled alert replaces it;
// - a slow_query alert is a point event: it goes out in one notification and then leaves the group (its
//   endsAt tells receivers that model time ranges when it lapses); so does a resolved alert;
// - a muted (inhibited or silenced) point event or resolved alert leaves the group at the flush that finds it
//   muted; a muted long_running alert stays, and is notified if it is still firing when the mute ends.
// A group found empty at a tick is removed (so a steady trickle of slow queries is batched per group_interval,
// not notified group_wait after each one).
//
// Durability: every flush decision is written to the journal (FlushRecord) before anything changes or is
// sent, and every delivery outcome after it; the dispatcher's state is a function of the accepted alerts and
// these records, so replaying them after a crash gives the same groups, the same notification numbers and
// the same pending notifications: nothing notified is notified again and nothing decided is lost.

export interface LastNotified {
  /**
   * ids of the alerts in the last notification that stay in the group (firing long_running and regression
   * alerts). Point events and resolved alerts leave the group when notified, so they are not kept here (records
   * written before kept them too, and `resolved`: harmless).
   */
  firing: string[];
  resolved: string[];
  /** when it was decided (ms since epoch) */
  at: number;
}

export interface FlushRecord {
  group: string;
  receiver: string;
  /** the receiver's notification sequence number this flush used (0: no notification) */
  seq: number;
  /** [fingerprint, alert id] of the alerts that leave the group */
  settled: Array<[string, string]>;
  last?: LastNotified;
  notification?: Notification;
}

export type DispatchEntry = { k: 'f'; t: number; rec: FlushRecord } | { k: 'd'; id: string; ok: boolean };

export interface DispatchJournal {
  /** Makes the entry durable, then calls apply (synchronously, in write order); rejects if it could not be written. */
  write(entry: DispatchEntry, apply: () => void): Promise<void>;
}

export interface DispatchState {
  seq: Record<string, number>;
  /** open long_running alerts (their closing alerts take their labels) */
  open: Alert[];
  groups: Array<{ key: string; routeKey: string; receiver: string; labels: Labels; alerts: StoredGroupAlert[]; last?: LastNotified }>;
  /** notifications decided and not yet delivered or given up */
  pending: Notification[];
}

interface StoredGroupAlert {
  a: Alert;
  o?: Alert;
  r: number;
}

/** An alert in a group. `match` = the labels routes, silences and inhibition see. */
export interface GroupAlert {
  alert: LabeledAlert;
  opened?: Alert;
  receivedAt: number;
  match: Labels;
  /** counted once as silenced/inhibited for this group */
  mutedCounted?: boolean;
}

interface Group {
  key: string;
  route: Route;
  receiver: string;
  labels: Labels;
  alerts: Map<string, GroupAlert>;
  last?: LastNotified;
  timer?: TimerHandle;
  flushing: boolean;
}

export interface DispatcherCounters {
  silenced: number;
  inhibited: number;
  /** notifications held back by the rate limit, per receiver */
  heldBack: Record<string, number>;
  /** notifications decided, per receiver */
  notified: Record<string, number>;
}

export interface DispatcherOptions {
  route: Route;
  /** receivers that can be notified (a route to another name is only recorded) */
  receivers: ReadonlySet<string>;
  clock: Clock;
  silences: { mutes(labels: Labels): string[] };
  inhibitor: Inhibitor;
  rateLimits: RateLimits;
  journal: DispatchJournal;
  /** hands a decided notification over for delivery (live only; replayed ones are handed over at start()) */
  deliver(n: Notification): void;
  externalURL?: string;
  /** every accepted alert, labelled, live or replayed */
  onAlert?(l: LabeledAlert, receivedAt: number): void;
  onHeld?(n: Notification): void;
  /**
   * An alert (or a part of restored state) that could not be handled: the dispatcher goes on without it. Alerts
   * are checked before they get here, so this is defence in depth against a bug, not a path for bad input.
   */
  setAside?(what: string, value: unknown, problem: string): void;
  warn?(obj: object, msg: string): void;
  info?(obj: object, msg: string): void;
}

export class Dispatcher {
  private readonly groups = new Map<string, Group>();
  private readonly open = new Map<string, Alert>();
  private readonly pending = new Map<string, Notification>();
  private readonly seq = new Map<string, number>();
  private readonly routes = new Map<string, Route>();
  private route: Route;
  private receivers: ReadonlySet<string>;
  /** reloads that retired groups (part of a retired group's key, so keys stay unique) */
  private retirements = 0;
  /** groups retired by a reload, flushed to their receivers until they are empty */
  private readonly retired = new Set<Group>();
  private live = false;
  private stopped = false;
  readonly counters: DispatcherCounters = { silenced: 0, inhibited: 0, heldBack: {}, notified: {} };

  constructor(private readonly opts: DispatcherOptions) {
    this.route = opts.route;
    this.receivers = opts.receivers;
    for (const r of opts.route.all()) this.routes.set(r.key, r);
  }

  /**
   * A configuration reload: a new routing tree and the receivers that exist now. Alerts accepted from now on
   * are routed by the new tree. A group whose route still exists (same key) with the same receiver carries on
   * (its alerts, its last notification, its timer; the new timings from its next flush). A group whose route is
   * gone or now goes elsewhere is retired: it keeps its alerts and its receiver and is flushed as before until
   * it is empty, under a key of its own so that new alerts start new groups. A group whose receiver no longer
   * exists cannot be notified: its alerts are placed again by the new tree.
   */
  reconfigure(route: Route, receivers: ReadonlySet<string>): { kept: number; retired: number; replaced: number } {
    this.route = route;
    this.receivers = receivers;
    this.routes.clear();
    for (const r of route.all()) this.routes.set(r.key, r);
    let kept = 0;
    let retired = 0;
    const orphans: GroupAlert[] = [];
    const now = this.opts.clock.now();
    for (const g of [...this.groups.values()]) {
      const same = this.routes.get(g.route.key);
      if (!receivers.has(g.receiver)) {
        this.dropGroup(g);
        orphans.push(...g.alerts.values());
      } else if (!isRetired(g.key) && same && same.receiver === g.receiver) {
        g.route = same;
        kept++;
      } else if (!isRetired(g.key)) {
        this.groups.delete(g.key);
        g.key = `${g.key}${RETIRED}${now}.${++this.retirements}`;
        this.groups.set(g.key, g);
        this.retired.add(g);
        retired++;
      }
    }
    for (const ga of orphans) this.guarded(`alert ${ga.alert.id}`, ga.alert.alert, () => this.place(ga));
    return { kept, retired, replaced: orphans.length };
  }

  /** Restores a snapshot (before replaying the journal entries written after it). */
  restore(state: DispatchState): void {
    for (const [k, v] of Object.entries(state.seq)) this.seq.set(k, v);
    for (const a of state.open) {
      this.guarded(`open alert ${a.id}`, a, () => {
        this.open.set(openKey(a), a);
        // Still firing: it inhibits what its rules say, and the dashboard shows it.
        const ga = this.labelled(a, undefined, this.opts.clock.now());
        this.opts.inhibitor.firing(ga.match, ga.alert.fingerprint, Infinity);
        this.opts.onAlert?.(ga.alert, ga.receivedAt);
      });
    }
    for (const g of state.groups) {
      this.guarded(`group ${g.key}`, g, () => {
        const route = this.routes.get(g.routeKey);
        const alerts = g.alerts.map((s) => this.labelled(s.a, s.o, s.r));
        // A group retired by a reload is flushed to its receiver until empty, whatever the routes say now.
        const retiredRoute = isRetired(g.key) && this.receivers.has(g.receiver) ? (route ?? this.route) : undefined;
        if (retiredRoute || (route && route.receiver === g.receiver && this.receivers.has(g.receiver))) {
          const group = this.newGroup(g.key, retiredRoute ?? route!, g.labels, g.receiver);
          if (retiredRoute) this.retired.add(group);
          if (g.last) group.last = g.last;
          for (const ga of alerts) group.alerts.set(ga.alert.fingerprint, ga);
        } else {
          // The routing changed since: place the alerts again.
          for (const ga of alerts) this.place(ga);
        }
      });
    }
    for (const n of state.pending) this.pending.set(n.id, n);
  }

  state(): DispatchState {
    const groups: DispatchState['groups'] = [];
    for (const g of this.groups.values()) {
      const alerts: StoredGroupAlert[] = [];
      for (const ga of g.alerts.values()) {
        const s: StoredGroupAlert = { a: ga.alert.alert, r: ga.receivedAt };
        if (ga.opened) s.o = ga.opened;
        alerts.push(s);
      }
      const sg: DispatchState['groups'][number] = { key: g.key, routeKey: g.route.key, receiver: g.receiver, labels: g.labels, alerts };
      if (g.last) sg.last = g.last;
      groups.push(sg);
    }
    return { seq: Object.fromEntries(this.seq), open: [...this.open.values()], groups, pending: [...this.pending.values()] };
  }

  /** Accepted alerts (durable already), in order; `receivedAt` is when the monitor accepted them. One that fails is set aside. */
  ingest(alerts: readonly Alert[], receivedAt: number): void {
    for (const a of alerts) this.guarded(`alert ${a.id}`, a, () => this.ingestOne(a, receivedAt));
  }

  private ingestOne(a: Alert, receivedAt: number): void {
    const key = openKey(a);
    const closing = isClosing(a.type);
    const opened = closing ? this.open.get(key) : undefined;
    if (OPENING_TYPES.includes(a.type)) this.open.set(key, a);
    else if (closing) this.open.delete(key);
    const ga = this.labelled(a, opened, receivedAt);
    const l = ga.alert;
    if (l.status === 'firing') this.opts.inhibitor.firing(ga.match, l.fingerprint, firingUntil(a, receivedAt));
    else this.opts.inhibitor.ended(ga.match, l.fingerprint);
    this.opts.onAlert?.(l, receivedAt);
    this.place(ga);
  }

  /** Runs `fn` for one alert or part of state; if it throws, that one is set aside and the caller goes on. */
  private guarded(what: string, value: unknown, fn: () => void): boolean {
    try {
      fn();
      return true;
    } catch (err) {
      this.opts.setAside?.(what, value, `the dispatcher could not handle it: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
  }

  /** Applies a flush decision (live, or replayed from the journal). */
  applyFlush(rec: FlushRecord): void {
    if (rec.seq > (this.seq.get(rec.receiver) ?? 0)) this.seq.set(rec.receiver, rec.seq);
    for (const g of this.groupsOf(rec)) {
      for (const [fp, id] of rec.settled) if (g.alerts.get(fp)?.alert.id === id) g.alerts.delete(fp);
      if (rec.last) g.last = rec.last;
      // An emptied group lives on until its next tick, so alerts that come meanwhile wait for group_interval
      // (batched with the group's rhythm) instead of starting a new group_wait.
    }
    if (rec.notification) {
      this.pending.set(rec.notification.id, rec.notification);
      this.counters.notified[rec.receiver] = (this.counters.notified[rec.receiver] ?? 0) + 1;
      if (this.live) this.opts.deliver(rec.notification);
    }
  }

  /**
   * The group a flush record is about. A reload may have retired it (a new key) while its record was being
   * written, or before a restart replays it: then the retired groups of that key and receiver (settling is by
   * alert id, so applying it to each is safe).
   */
  private groupsOf(rec: FlushRecord): Group[] {
    const g = this.groups.get(rec.group);
    if (g && g.receiver === rec.receiver) return [g];
    const out: Group[] = [];
    const prefix = rec.group + RETIRED;
    for (const r of this.groups.values()) if (r.receiver === rec.receiver && r.key.startsWith(prefix)) out.push(r);
    return out;
  }

  /** A notification was delivered, or given up on: it is no longer pending. */
  applyDone(id: string): void {
    this.pending.delete(id);
  }

  /** Goes live: timers for every group, and pending notifications handed over for delivery (oldest first). */
  start(): void {
    this.live = true;
    for (const g of this.groups.values()) this.schedule(g, g.route.timings.groupWaitMs);
    const pending = [...this.pending.values()].sort((a, b) => seqOf(a) - seqOf(b));
    for (const n of pending) this.opts.deliver(n);
  }

  stop(): void {
    this.stopped = true;
    this.live = false;
    for (const g of this.groups.values()) g.timer?.cancel();
  }

  /** Records a delivery outcome in the journal, then forgets the pending notification. */
  async done(n: Notification, ok: boolean): Promise<void> {
    await this.opts.journal.write({ k: 'd', id: n.id, ok }, () => this.applyDone(n.id));
  }

  pendingCount(receiver?: string): number {
    if (receiver === undefined) return this.pending.size;
    let n = 0;
    for (const p of this.pending.values()) if (p.receiver === receiver) n++;
    return n;
  }

  groupCount(): number {
    return this.groups.size;
  }

  /** The receivers an alert with these labels is routed to. */
  receiversFor(match: Labels): string[] {
    const out: string[] = [];
    for (const r of this.route.match(match)) if (r.receiver && !out.includes(r.receiver)) out.push(r.receiver);
    return out;
  }

  /** Firing long_running alerts already notified to a receiver (to restore notifiers that re-send, like Alertmanager's). */
  notifiedFiring(receiver: string): LabeledAlert[] {
    const out: LabeledAlert[] = [];
    for (const g of this.groups.values()) {
      if (g.receiver !== receiver || !g.last) continue;
      for (const ga of g.alerts.values()) if (ga.alert.status === 'firing' && g.last.firing.includes(ga.alert.id)) out.push(ga.alert);
    }
    return out;
  }

  /** Flushes every group now (tests; not a normal path). */
  async flushAll(): Promise<void> {
    await Promise.all([...this.groups.values()].map((g) => this.flush(g)));
  }

  private labelled(a: Alert, opened: Alert | undefined, receivedAt: number): GroupAlert {
    const alert = toLabeled(a, opened);
    const ga: GroupAlert = { alert, receivedAt, match: matchLabels(alert) };
    if (opened) ga.opened = opened;
    return ga;
  }

  private place(ga: GroupAlert): void {
    // A problem notified before a reload is closed where it was opened: the alert that ends it replaces its
    // long_running alert in the groups that hold it (retired ones included), and is not sent to receivers that
    // never heard of it. Without a reload those are exactly the groups its routes give.
    const fp = ga.alert.fingerprint;
    const opener = ga.opened !== undefined && this.retired.size > 0 ? [...this.retired].filter((g) => g.alerts.has(fp)) : [];
    for (const g of opener) g.alerts.set(fp, ga);
    for (const route of this.route.match(ga.match)) {
      if (!route.receiver || !this.receivers.has(route.receiver)) continue;
      const labels = route.groupLabels(ga.match);
      const key = groupKeyOf(route, labels);
      let g = this.groups.get(key);
      if (opener.length > 0 && !g?.alerts.has(fp)) continue;
      if (!g) {
        g = this.newGroup(key, route, labels);
        if (this.live) this.schedule(g, route.timings.groupWaitMs);
      }
      g.alerts.set(ga.alert.fingerprint, ga);
    }
  }

  private newGroup(key: string, route: Route, labels: Labels, receiver = route.receiver!): Group {
    const g: Group = { key, route, receiver, labels, alerts: new Map(), flushing: false };
    this.groups.set(key, g);
    return g;
  }

  private dropGroup(g: Group): void {
    this.retired.delete(g);
    g.timer?.cancel();
    g.timer = undefined;
    if (this.groups.get(g.key) === g) this.groups.delete(g.key);
  }

  private schedule(g: Group, ms: number): void {
    g.timer?.cancel();
    g.timer = this.opts.clock.setTimer(() => {
      g.timer = undefined;
      void this.flush(g).finally(() => {
        if (this.live && !this.stopped && this.groups.get(g.key) === g && !g.timer) this.schedule(g, g.route.timings.groupIntervalMs);
      });
    }, ms);
  }

  private async flush(g: Group): Promise<void> {
    if (g.flushing || this.stopped) return;
    g.flushing = true;
    try {
      if (g.alerts.size === 0) {
        this.dropGroup(g);
        return;
      }
      let rec: FlushRecord | undefined;
      try {
        rec = this.decide(g, this.opts.clock.now());
      } catch (err) {
        // Not reached with alerts that passed their schema (decide sets aside an alert it cannot judge); never
        // let a timer's flush reject unhandled.
        this.opts.warn?.({ group: g.key, err: (err as Error).message }, 'could not decide a notification for a group; will try again at the next group interval');
        return;
      }
      if (!rec) return;
      try {
        await this.opts.journal.write({ k: 'f', t: this.opts.clock.now(), rec }, () => this.applyFlush(rec));
      } catch (err) {
        // Nothing changed: the next group_interval decides again.
        this.opts.warn?.({ group: g.key, err: (err as Error).message }, 'could not record a notification; will try again at the next group interval');
      }
    } finally {
      g.flushing = false;
    }
  }

  private decide(g: Group, now: number): FlushRecord | undefined {
    const firing: GroupAlert[] = [];
    const resolved: GroupAlert[] = [];
    const settled: Array<[string, string]> = [];
    for (const [fp, ga] of g.alerts) {
      const l = ga.alert;
      const leaves = l.status === 'resolved' || l.alert.type === 'slow_query';
      let inhibited = false;
      let silenced = false;
      const judged = this.guarded(`alert ${l.id}`, l.alert, () => {
        inhibited = this.opts.inhibitor.inhibitedBy(ga.match, l.fingerprint).length > 0;
        silenced = !inhibited && this.opts.silences.mutes(ga.match).length > 0;
      });
      if (!judged) {
        g.alerts.delete(fp);
        continue;
      }
      if (inhibited || silenced) {
        if (!ga.mutedCounted) {
          ga.mutedCounted = true;
          if (inhibited) this.counters.inhibited++;
          else this.counters.silenced++;
        }
        if (leaves) settled.push([l.fingerprint, l.id]);
        continue;
      }
      (l.status === 'firing' ? firing : resolved).push(ga);
    }
    if (!this.needsNotification(g, firing, resolved, now)) {
      return settled.length > 0 ? { group: g.key, receiver: g.receiver, seq: 0, settled } : undefined;
    }
    const alerts = [...firing, ...resolved].map((ga) => ga.alert);
    const seq = (this.seq.get(g.receiver) ?? 0) + 1;
    const n = this.notification(g, seq, alerts, firing.length > 0 ? 'firing' : 'resolved');
    if (!this.opts.rateLimits.allow(g.receiver)) {
      this.opts.rateLimits.heldBack(g.receiver).hold(alerts.map((a) => a.id));
      this.counters.heldBack[g.receiver] = (this.counters.heldBack[g.receiver] ?? 0) + 1;
      this.opts.onHeld?.(n);
      // Muted alerts still leave; the rest wait in the group for its next flush.
      return settled.length > 0 ? { group: g.key, receiver: g.receiver, seq: 0, settled } : undefined;
    }
    const held = this.opts.rateLimits.heldBack(g.receiver).take();
    if (held.alerts > 0) {
      n.heldBack = held.alerts;
      this.opts.info?.({ receiver: g.receiver, heldBackAlerts: held.alerts, heldBackNotifications: held.notifications }, 'rate limit held back notifications since the last one; their alerts follow in their groups\' next notifications');
    }
    this.seq.set(g.receiver, seq);
    const stays: string[] = [];
    for (const ga of firing) {
      if (ga.alert.alert.type === 'slow_query') settled.push([ga.alert.fingerprint, ga.alert.id]);
      else stays.push(ga.alert.id);
    }
    for (const ga of resolved) settled.push([ga.alert.fingerprint, ga.alert.id]);
    return { group: g.key, receiver: g.receiver, seq, settled, last: { firing: stays, resolved: [], at: now }, notification: n };
  }

  private needsNotification(g: Group, firing: GroupAlert[], resolved: GroupAlert[], now: number): boolean {
    if (firing.length + resolved.length === 0) return false;
    const last = g.last;
    if (!last) return true;
    const lastFiring = new Set(last.firing);
    if (firing.some((ga) => !lastFiring.has(ga.alert.id))) return true;
    const lastResolved = new Set(last.resolved);
    if (resolved.some((ga) => !lastResolved.has(ga.alert.id))) return true;
    return firing.length > 0 && now - last.at >= g.route.timings.repeatIntervalMs;
  }

  /** A notification about `alerts`, listing at most the route's max_alerts of them (common labels are of all, as Alertmanager's). */
  private notification(g: Group, seq: number, alerts: LabeledAlert[], status: 'firing' | 'resolved'): Notification {
    const listed = listedAlerts(alerts, g.route.maxAlerts);
    const n: Notification = {
      id: `${g.receiver}/${g.key}/${seq}`,
      receiver: g.receiver,
      groupKey: g.key,
      groupLabels: g.labels,
      commonLabels: commonOf(alerts.map((a) => a.labels)),
      commonAnnotations: commonOf(alerts.map((a) => a.annotations)),
      status,
      alerts: listed,
    };
    if (listed.length < alerts.length) n.truncated = alerts.length - listed.length;
    if (this.opts.externalURL) n.externalURL = this.opts.externalURL;
    return n;
  }
}

/**
 * The alerts a notification lists, oldest first: every one, or at most `max` (0: no limit). Over the limit, the
 * alerts that change a problem's state (long_running, resolved, regression) come before point events, so a
 * burst of slow queries never hides the end of a long-running one.
 */
export function listedAlerts(alerts: readonly LabeledAlert[], max: number): LabeledAlert[] {
  // Plain string order, not localeCompare: ISO times and hex fingerprints order the same by code unit, and a
  // group can hold tens of thousands of alerts (the input is nearly sorted: V8's TimSort is then ~linear).
  const oldestFirst = (a: LabeledAlert, b: LabeledAlert): number =>
    a.startsAt < b.startsAt ? -1 : a.startsAt > b.startsAt ? 1 : a.fingerprint < b.fingerprint ? -1 : a.fingerprint > b.fingerprint ? 1 : 0;
  if (max === 0 || alerts.length <= max) return [...alerts].sort(oldestFirst);
  const state: LabeledAlert[] = [];
  const point: LabeledAlert[] = [];
  for (const a of alerts) (a.alert.type === 'slow_query' && a.status === 'firing' ? point : state).push(a);
  state.sort(oldestFirst);
  if (state.length >= max) return state.slice(0, max);
  point.sort(oldestFirst);
  return [...state, ...point.slice(0, max - state.length)].sort(oldestFirst);
}

/** Marks the key of a group retired by a reload (dispatcher.reconfigure). */
const RETIRED = '@retired:';

function isRetired(key: string): boolean {
  return key.includes(RETIRED);
}

function openKey(a: Alert): string {
  return `${a.source}\0${a.queryId}`;
}

function seqOf(n: Notification): number {
  return Number(n.id.slice(n.id.lastIndexOf('/') + 1)) || 0;
}
