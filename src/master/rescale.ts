import type { Logger } from 'pino';
import type { Frames } from '../transport/send-queue.js';
import { encodeHeader, encodeNames } from '../wire/protocol.js';
import { handoffAckHeader, handoffHeader, releaseHeader } from '../wire/headers.js';
import { OwnerCache } from './rendezvous.js';
import type { RingEdit, RingState, RingStore, RingStoreListener } from './ring-store.js';

// Changing the ring while the cluster runs (docs/delivery.md, "Changing the consumer set"). One change at a time,
// from ring version V to V+1 (one name added or removed):
//
// 1. The new ring is written to the store (`next`) before anything else; from then on a batch for a source whose
//    owner differs between the two rings is answered "retry" until that source has moved.
// 2. Every consumer of the old ring is sent `release` (V+1, the new names): it stops taking the sources the new
//    ring gives to another, journals each one's state as given up (it never applies that source again, even after
//    a restart), and sends each as a `handoff`, then says `released`. Sent again every few seconds until it answers.
//    Its `released` is written to the store with the sources it sent that are still on their way (`moving`): a
//    source of its not among them, nor moved, is one it never had, routed to its new owner at once.
// 3. Each handoff is forwarded to the source's new owner, which journals the state as its own and answers
//    `handoff-ack`: the source is then written to the store as moved, and only once that write is done is it routed
//    there and the old owner told `handoff-done` (it may forget the copy it kept). A handoff not acked within a few
//    seconds is forwarded again (the new owner acks a repeat without applying it twice).
// 4. When every old consumer is released and nothing is moving, the new ring is written as the ring.
//
// Routing reads only the store's ring, so masters that share one (etcd) route alike; one of them drives the change
// (the store says which), the others only route. The handoffs in flight live in the driver's memory: a new driver
// (or a restarted master) sends `release` again, and the consumers send again what is not confirmed (an old owner
// keeps each source's state until `handoff-done`).

export interface RescaleIo {
  /** sends frames to the process routed `name` now; false when it is away */
  send(name: string, frames: Frames): boolean;
  alive(name: string): boolean;
  log: Logger;
}

/** Where a source is routed: a consumer name, or nowhere for now (and why). */
export type Route = { name: string } | { wait: string };

interface InFlight {
  from: string;
  to: string;
  payload: Buffer;
  forwardedAt: number;
  /** its ack is being written to the store */
  acking: boolean;
}

export interface RingReport {
  ok: boolean;
  busy: boolean;
  version: number;
  msg: string;
}

/** a `release` not answered within this is sent again */
const RELEASE_AGAIN_MS = 3000;
/** a handoff not acked within this is forwarded again */
const FORWARD_AGAIN_MS = 5000;
/** names outside the ring that may say hello (consumers started to be added) */
export const MAX_STANDBY = 64;

/** The ring as routing reads it: owners by both rings, and the change's progress as sets. */
class RingView {
  readonly current: OwnerCache;
  readonly target: OwnerCache | undefined;
  readonly released: ReadonlySet<string>;
  readonly moving: ReadonlySet<string>;
  readonly moved: ReadonlySet<string>;
  readonly text: string;

  constructor(readonly ring: RingState, before?: RingView) {
    this.text = JSON.stringify(ring);
    const same = before && before.ring.version === ring.version && before.ring.next?.version === ring.next?.version;
    this.current = same ? before.current : new OwnerCache(ring.names);
    this.target = ring.next ? (same && before.target ? before.target : new OwnerCache(ring.next.names)) : undefined;
    this.released = new Set(ring.next?.released ?? []);
    this.moving = new Set(ring.next?.moving ?? []);
    this.moved = new Set(ring.next?.moved ?? []);
  }
}

export class Rescale implements RingStoreListener {
  private view: RingView;
  /** old-ring consumers that said `released` to this master since it began driving the change */
  private readonly answered = new Set<string>();
  private readonly releaseSentAt = new Map<string, number>();
  private readonly inFlight = new Map<string, InFlight>();
  private changeStartedAt = 0;
  private isDriver: boolean;
  private ending = false;
  readonly counters = { ringChanges: 0, handoffs: 0, handoffsAcked: 0, handoffsRefused: 0 };

  constructor(initial: RingState, private readonly store: RingStore, private readonly io: RescaleIo) {
    this.view = new RingView(initial);
    this.isDriver = store.driving;
    if (initial.next) this.changeStartedAt = Date.now();
    if (initial.next && this.isDriver) this.beginDriving(Date.now());
  }

  private get ring(): RingState {
    return this.view.ring;
  }

  get version(): number {
    return this.ring.version;
  }

  /** the ring version batches are routed by now (the change's while one is under way): the consumers' fence */
  get routeVersion(): number {
    return this.ring.next?.version ?? this.ring.version;
  }

  /** whether the consumers of several masters may take part in its changes */
  get shared(): boolean {
    return this.store.shared;
  }

  /** the names of the ring, and of the next one while a change is under way */
  get names(): readonly string[] {
    return this.ring.next ? [...new Set([...this.ring.names, ...this.ring.next.names])] : this.ring.names;
  }

  inRing(name: string): boolean {
    return this.ring.names.includes(name) || (this.ring.next?.names.includes(name) ?? false);
  }

  route(source: string): Route {
    const v = this.view;
    const o = v.current.get(source)!;
    if (!v.target) return { name: o };
    const n = v.target.get(source)!;
    if (o === n || v.moved.has(source)) return { name: n };
    if (v.released.has(o) && !v.moving.has(source)) return { name: n }; // its old owner never had it
    return { wait: `source ${source} is moving from consumer ${o} to ${n} (ring version ${this.ring.next!.version})` };
  }

  /** `slowq cluster` asks: the ring, or a change of it. */
  async request(op: 'get' | 'add' | 'remove', name: string, now: number): Promise<RingReport> {
    if (op === 'get') return this.report(true, '');
    if (op === 'add' && !this.ring.names.includes(name) && !this.io.alive(name)) {
      return this.report(false, `consumer ${name} is not connected to the master: start it first (slowq consumer --name ${name} …), then add it`);
    }
    const edit: RingEdit = (ring) => {
      if (ring.next) return 'a change of the ring is under way; try again when it is done';
      const names = ring.names;
      if (op === 'add' && names.includes(name)) return `consumer ${name} is in the ring already`;
      if (op === 'remove' && !names.includes(name)) return `consumer ${name} is not in the ring`;
      if (op === 'remove' && names.length === 1) return `consumer ${name} is the last one in the ring`;
      const next = op === 'add' ? [...names, name] : names.filter((n) => n !== name);
      return { version: ring.version, names, next: { version: ring.version + 1, names: next } };
    };
    const r = await this.store.update(edit, false);
    if (typeof r === 'string') return this.report(false, `${r}; nothing changed`);
    this.counters.ringChanges++;
    this.io.log.warn({ version: r.next!.version, from: r.names, to: r.next!.names, store: this.store.where },
      `ring change: ${op} consumer ${name}; the sources whose owner changes move with their state`);
    this.onRing(r, now);
    return this.report(true, `${op === 'add' ? 'adding' : 'removing'} consumer ${name}: ring version ${r.next!.version} [${r.next!.names.join(', ')}]`);
  }

  /** The store has another ring: written by another master, or by this one. */
  onRing(ring: RingState, now = Date.now()): void {
    if (JSON.stringify(ring) === this.view.text) return;
    const before = this.ring;
    this.view = new RingView(ring, this.view);
    const newChange = ring.next && ring.next.version !== before.next?.version;
    if (newChange) this.changeStartedAt = now;
    if (!ring.next && before.next) {
      const seconds = (now - this.changeStartedAt) / 1000;
      this.io.log.warn({ version: ring.version, names: ring.names, moved: before.next.moved?.length ?? 0, seconds },
        `ring version ${ring.version} in force: ${before.next.moved?.length ?? 0} sources moved in ${seconds.toFixed(1)} s`);
    }
    if (newChange || !ring.next) this.forgetDriving();
    if (newChange && this.isDriver) this.beginDriving(now);
  }

  /** The store says whether this master drives the change under way. */
  onDriving(yes: boolean): void {
    if (yes === this.isDriver) return;
    this.isDriver = yes;
    this.forgetDriving();
    if (yes && this.ring.next) this.beginDriving(Date.now());
  }

  /** A consumer (the owner of `from`) gave up a source and sends its state. */
  onHandoff(from: string, ver: number, src: string, payload: Buffer, now: number): void {
    const next = this.ring.next;
    if (!next || ver < next.version) {
      // a change that ended: the new owner had acked it, or the change could not have ended
      if (ver <= this.ring.version) this.io.send(from, [encodeHeader(handoffAckHeader('handoff-done', ver, src))]);
      return;
    }
    if (!this.isDriver) return; // sent to this master when it drove the change: the driver asks again
    const o = this.view.current.get(src)!;
    const n = this.view.target!.get(src)!;
    if (ver !== next.version || from !== o || o === n) {
      this.counters.handoffsRefused++;
      this.io.log.warn({ from, ver, src, version: next.version }, `a handoff of source ${src} from consumer ${from} that this change does not move from it; ignored`);
      return;
    }
    if (this.view.moved.has(src)) {
      this.io.send(from, [encodeHeader(handoffAckHeader('handoff-done', ver, src))]);
      return;
    }
    if (this.inFlight.has(src)) return; // sent again with a release: the first is on its way
    this.counters.handoffs++;
    const f: InFlight = { from, to: n, payload, forwardedAt: now, acking: false };
    this.inFlight.set(src, f);
    this.forward(src, f, now);
  }

  /** The new owner (`from`) holds the source's state durably: written as moved, then routed there. */
  onHandoffAck(from: string, ver: number, src: string): void {
    const f = this.inFlight.get(src);
    if (!this.isDriver || !this.ring.next || ver !== this.ring.next.version || !f || f.to !== from || f.acking) return;
    f.acking = true;
    void this.store.update((ring) => {
      if (!ring.next || ring.next.version !== ver) return `the change to ring version ${ver} is over`;
      return { ...ring, next: { ...ring.next, moving: without(ring.next.moving, src), moved: withAlso(ring.next.moved, [src]) } };
    }, true).then((r) => {
      f.acking = false;
      if (typeof r === 'string') {
        // forwarded again after FORWARD_AGAIN_MS (by this master, or by the next driver after a release)
        this.io.log.warn({ source: src, version: ver, why: r }, `source ${src}: its new owner's ack could not be written to the ring store`);
        return;
      }
      this.inFlight.delete(src);
      this.counters.handoffsAcked++;
      this.onRing(r);
      this.io.send(f.from, [encodeHeader(handoffAckHeader('handoff-done', ver, src))]);
      this.io.log.info({ source: src, from: f.from, to: from, version: ver }, `source ${src} moved from consumer ${f.from} to ${from}`);
      this.endIfDone();
    });
  }

  /** An old-ring consumer sent every source it gives up: written with those still on their way. */
  onReleased(from: string, ver: number, n: number): void {
    if (!this.isDriver || !this.ring.next || ver !== this.ring.next.version || !this.ring.names.includes(from)) return;
    if (!this.answered.has(from)) this.io.log.info({ consumer: from, version: ver, unconfirmed: n }, `consumer ${from} released its sources for ring version ${ver}`);
    this.answered.add(from);
    const sent = [...this.inFlight].filter(([, f]) => f.from === from).map(([src]) => src);
    void this.store.update((ring) => {
      if (!ring.next || ring.next.version !== ver) return `the change to ring version ${ver} is over`;
      const moved = new Set(ring.next.moved ?? []);
      const moving = withAlso(ring.next.moving, sent.filter((s) => !moved.has(s)));
      const released = withAlso(ring.next.released, [from]);
      if (released.length === (ring.next.released?.length ?? 0) && moving.length === (ring.next.moving?.length ?? 0)) return ring;
      return { ...ring, next: { ...ring.next, released, moving } };
    }, true).then((r) => {
      if (typeof r === 'string') {
        this.answered.delete(from); // asked again at the next tick
        this.io.log.warn({ consumer: from, version: ver, why: r }, `consumer ${from}'s release could not be written to the ring store`);
        return;
      }
      this.onRing(r);
      this.endIfDone();
    });
  }

  /** Every second: ask again what was not answered. */
  tick(now: number): void {
    if (!this.ring.next || !this.isDriver) return;
    for (const name of this.ring.names) {
      if (this.answered.has(name) || now - (this.releaseSentAt.get(name) ?? 0) < RELEASE_AGAIN_MS) continue;
      this.sendRelease(name, now);
    }
    for (const [src, f] of this.inFlight) if (!f.acking && now - f.forwardedAt >= FORWARD_AGAIN_MS) this.forward(src, f, now);
    this.endIfDone();
  }

  stats(): Rescale['counters'] & Record<string, number> {
    const next = this.ring.next;
    return {
      ...this.counters, ringVersion: this.ring.version, ringMoving: next ? 1 : 0, ringSourcesMoved: next?.moved?.length ?? 0,
      ringChangeSeconds: next ? Math.round((Date.now() - this.changeStartedAt) / 1000) : 0, ...this.store.stats(),
    };
  }

  private report(ok: boolean, msg: string): RingReport {
    const next = this.ring.next;
    const state = next
      ? `ring version ${this.ring.version} [${this.ring.names.join(', ')}] moving to version ${next.version} [${next.names.join(', ')}]: ` +
        `${next.released?.length ?? 0} of ${this.ring.names.length} consumers released, ${next.moved?.length ?? 0} sources moved, ${this.view.moving.size} in flight` +
        (this.store.shared ? (this.isDriver ? ' (driven by this master)' : ' (driven by another master)') : '')
      : `ring version ${this.ring.version} [${this.ring.names.join(', ')}]`;
    const where = this.store.shared ? `\nkept in ${this.store.where}` : '';
    return { ok, busy: next !== undefined, version: this.ring.version, msg: `${msg ? `${msg}\n` : ''}${state}${where}` };
  }

  /** What a driver holds in memory: gone when the change changes or another master drives it. */
  private forgetDriving(): void {
    this.answered.clear();
    this.releaseSentAt.clear();
    this.inFlight.clear();
  }

  private beginDriving(now: number): void {
    for (const name of this.ring.names) this.sendRelease(name, now);
  }

  private sendRelease(name: string, now: number): void {
    this.releaseSentAt.set(name, now);
    this.io.send(name, [encodeHeader(releaseHeader(this.ring.next!.version, this.store.shared)), encodeNames(this.ring.next!.names)]);
  }

  private forward(src: string, f: InFlight, now: number): void {
    f.forwardedAt = now;
    this.io.send(f.to, [encodeHeader(handoffHeader(this.ring.next!.version, src, this.store.shared)), f.payload]);
  }

  /** Every old owner released and nothing moving: the new ring is written as the ring. */
  private endIfDone(): void {
    const next = this.ring.next;
    if (!this.isDriver || this.ending || !next || this.inFlight.size > 0 || this.view.moving.size > 0 || !this.ring.names.every((n) => this.view.released.has(n))) return;
    this.ending = true;
    void this.store.update((ring) => {
      const n = ring.next;
      if (!n || n.version !== next.version) return `the change to ring version ${next.version} is over`;
      if ((n.moving?.length ?? 0) > 0 || !ring.names.every((c) => n.released?.includes(c))) return 'not done yet';
      return { version: n.version, names: n.names };
    }, true).then((r) => {
      this.ending = false;
      if (typeof r === 'string') return; // tried again at the next tick
      this.onRing(r);
    });
  }
}

function without(list: readonly string[] | undefined, item: string): string[] {
  return (list ?? []).filter((x) => x !== item);
}

function withAlso(list: readonly string[] | undefined, items: readonly string[]): string[] {
  const out = [...(list ?? [])];
  for (const i of items) if (!out.includes(i)) out.push(i);
  return out;
}
