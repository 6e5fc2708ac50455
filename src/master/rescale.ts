import type { Logger } from 'pino';
import type { Frames } from '../transport/send-queue.js';
import { encodeHeader, encodeNames } from '../wire/protocol.js';
import { handoffAckHeader, handoffHeader, releaseHeader } from '../wire/headers.js';
import { OwnerCache } from './rendezvous.js';
import type { RingFile, RingState } from './ring-file.js';

// Changing the ring while the cluster runs (docs/delivery.md, "Changing the consumer set"). One change at a time,
// from ring version V to V+1 (one name added or removed):
//
// 1. The new ring is saved (ring.json, `next`) before anything else; from then on a batch for a source whose
//    owner differs between the two rings is answered "retry" until that source has moved.
// 2. Every consumer of the old ring is sent `release` (V+1, the new names): it stops taking the sources the new
//    ring gives to another, journals each one's state as given up (it never applies that source again, even after
//    a restart), and sends each as a `handoff`, then says `released`. Sent again every few seconds until it answers.
// 3. Each handoff is forwarded to the source's new owner, which journals the state as its own and answers
//    `handoff-ack`: only then is the source routed there, and the old owner told `handoff-done` (it may forget the
//    copy it kept). A handoff not acked within a few seconds is forwarded again (the new owner acks a repeat
//    without applying it twice).
// 4. When every old consumer said `released` and every handoff is acked, the new ring is saved as the ring.
//
// Nothing here survives a master restart but the ring file: a restarted master sends `release` again, and the
// consumers send again what is not confirmed (an old owner keeps each source's state until `handoff-done`).

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

export class Rescale {
  private ring: RingState;
  private current: OwnerCache;
  private target: OwnerCache | undefined;
  /** old-ring consumers that said `released` for the change under way */
  private readonly released = new Set<string>();
  private readonly releaseSentAt = new Map<string, number>();
  private readonly inFlight = new Map<string, InFlight>();
  private readonly moved = new Set<string>();
  private changeStartedAt = 0;
  readonly counters = { ringChanges: 0, handoffs: 0, handoffsAcked: 0, handoffsRefused: 0 };

  constructor(initial: RingState, private readonly file: RingFile | undefined, private readonly io: RescaleIo) {
    this.ring = initial;
    this.current = new OwnerCache(initial.names);
    if (initial.next) this.beginNext(initial.next, Date.now());
  }

  get version(): number {
    return this.ring.version;
  }

  /** the names of the ring, and of the next one while a change is under way */
  get names(): readonly string[] {
    return this.ring.next ? [...new Set([...this.ring.names, ...this.ring.next.names])] : this.ring.names;
  }

  inRing(name: string): boolean {
    return this.ring.names.includes(name) || (this.ring.next?.names.includes(name) ?? false);
  }

  route(source: string): Route {
    const o = this.current.get(source)!;
    if (!this.target) return { name: o };
    const n = this.target.get(source)!;
    if (o === n || this.moved.has(source)) return { name: n };
    if (this.released.has(o) && !this.inFlight.has(source)) return { name: n }; // its old owner never had it
    return { wait: `source ${source} is moving from consumer ${o} to ${n} (ring version ${this.ring.next!.version})` };
  }

  /** `slowq cluster` asks: the ring, or a change of it. */
  async request(op: 'get' | 'add' | 'remove', name: string, now: number): Promise<RingReport> {
    if (op === 'get') return this.report(true, '');
    if (this.ring.next) return this.report(false, 'a change of the ring is under way; try again when it is done');
    const names = this.ring.names;
    let next: string[];
    if (op === 'add') {
      if (names.includes(name)) return this.report(false, `consumer ${name} is in the ring already`);
      if (!this.io.alive(name)) return this.report(false, `consumer ${name} is not connected to the master: start it first (slowq consumer --name ${name} …), then add it`);
      next = [...names, name];
    } else {
      if (!names.includes(name)) return this.report(false, `consumer ${name} is not in the ring`);
      if (names.length === 1) return this.report(false, `consumer ${name} is the last one in the ring`);
      next = names.filter((n) => n !== name);
    }
    const state: RingState = { ...this.ring, next: { version: this.ring.version + 1, names: next } };
    try {
      await this.file?.save(state);
    } catch (err) {
      return this.report(false, `cannot save the ring (${(err as Error).message}); nothing changed`);
    }
    if (this.ring.next) return this.report(false, 'a change of the ring began meanwhile'); // a second request while saving
    this.ring = state;
    this.counters.ringChanges++;
    this.io.log.warn({ version: state.next!.version, from: names, to: next }, `ring change: ${op} consumer ${name}; the sources whose owner changes move with their state`);
    this.beginNext(state.next!, now);
    return this.report(true, `${op === 'add' ? 'adding' : 'removing'} consumer ${name}: ring version ${state.next!.version} [${next.join(', ')}]`);
  }

  /** A consumer (the owner of `from`) gave up a source and sends its state. */
  onHandoff(from: string, ver: number, src: string, payload: Buffer, now: number): void {
    const next = this.ring.next;
    if (!next || ver < next.version) {
      // a change that ended: the new owner had acked it, or the change could not have ended
      if (ver <= this.ring.version) this.io.send(from, [encodeHeader(handoffAckHeader('handoff-done', ver, src))]);
      return;
    }
    const o = this.current.get(src)!;
    const n = this.target!.get(src)!;
    if (ver !== next.version || from !== o || o === n) {
      this.counters.handoffsRefused++;
      this.io.log.warn({ from, ver, src, version: next.version }, `a handoff of source ${src} from consumer ${from} that this change does not move from it; ignored`);
      return;
    }
    if (this.moved.has(src)) {
      this.io.send(from, [encodeHeader(handoffAckHeader('handoff-done', ver, src))]);
      return;
    }
    if (this.inFlight.has(src)) return; // sent again with a release: the first is on its way
    this.counters.handoffs++;
    const f: InFlight = { from, to: n, payload, forwardedAt: now };
    this.inFlight.set(src, f);
    this.forward(src, f, now);
  }

  /** The new owner (`from`) holds the source's state durably. */
  onHandoffAck(from: string, ver: number, src: string): void {
    const f = this.inFlight.get(src);
    if (!this.ring.next || ver !== this.ring.next.version || !f || f.to !== from) return;
    this.inFlight.delete(src);
    this.moved.add(src);
    this.counters.handoffsAcked++;
    this.io.send(f.from, [encodeHeader(handoffAckHeader('handoff-done', ver, src))]);
    this.io.log.info({ source: src, from: f.from, to: from, version: ver }, `source ${src} moved from consumer ${f.from} to ${from}`);
    void this.endIfDone();
  }

  /** An old-ring consumer sent every source it gives up. */
  onReleased(from: string, ver: number, n: number): void {
    if (!this.ring.next || ver !== this.ring.next.version || !this.ring.names.includes(from)) return;
    if (!this.released.has(from)) this.io.log.info({ consumer: from, version: ver, unconfirmed: n }, `consumer ${from} released its sources for ring version ${ver}`);
    this.released.add(from);
    void this.endIfDone();
  }

  /** Every second: ask again what was not answered. */
  tick(now: number): void {
    const next = this.ring.next;
    if (!next) return;
    for (const name of this.ring.names) {
      if (this.released.has(name) || now - (this.releaseSentAt.get(name) ?? 0) < RELEASE_AGAIN_MS) continue;
      this.sendRelease(name, now);
    }
    for (const [src, f] of this.inFlight) if (now - f.forwardedAt >= FORWARD_AGAIN_MS) this.forward(src, f, now);
  }

  stats(): Rescale['counters'] & { ringVersion: number; ringMoving: number; ringSourcesMoved: number; ringChangeSeconds: number } {
    return {
      ...this.counters, ringVersion: this.ring.version, ringMoving: this.ring.next ? 1 : 0, ringSourcesMoved: this.moved.size,
      ringChangeSeconds: this.ring.next ? Math.round((Date.now() - this.changeStartedAt) / 1000) : 0,
    };
  }

  private report(ok: boolean, msg: string): RingReport {
    const next = this.ring.next;
    const state = next
      ? `ring version ${this.ring.version} [${this.ring.names.join(', ')}] moving to version ${next.version} [${next.names.join(', ')}]: ` +
        `${this.released.size} of ${this.ring.names.length} consumers released, ${this.moved.size} sources moved, ${this.inFlight.size} in flight`
      : `ring version ${this.ring.version} [${this.ring.names.join(', ')}]`;
    return { ok, busy: next !== undefined, version: this.ring.version, msg: msg ? `${msg}\n${state}` : state };
  }

  private beginNext(next: { version: number; names: string[] }, now: number): void {
    this.target = new OwnerCache(next.names);
    this.released.clear();
    this.releaseSentAt.clear();
    this.inFlight.clear();
    this.moved.clear();
    this.changeStartedAt = now;
    for (const name of this.ring.names) this.sendRelease(name, now);
  }

  private sendRelease(name: string, now: number): void {
    this.releaseSentAt.set(name, now);
    this.io.send(name, [encodeHeader(releaseHeader(this.ring.next!.version)), encodeNames(this.ring.next!.names)]);
  }

  private forward(src: string, f: InFlight, now: number): void {
    f.forwardedAt = now;
    this.io.send(f.to, [encodeHeader(handoffHeader(this.ring.next!.version, src)), f.payload]);
  }

  private async endIfDone(): Promise<void> {
    const next = this.ring.next;
    if (!next || this.inFlight.size > 0 || !this.ring.names.every((n) => this.released.has(n))) return;
    const done: RingState = { version: next.version, names: next.names };
    const seconds = (Date.now() - this.changeStartedAt) / 1000;
    this.ring = done;
    this.current = new OwnerCache(done.names);
    this.target = undefined;
    const moved = this.moved.size;
    this.moved.clear();
    this.released.clear();
    this.io.log.warn({ version: done.version, names: done.names, moved, seconds }, `ring version ${done.version} in force: ${moved} sources moved in ${seconds.toFixed(1)} s`);
    try {
      await this.file?.save(done);
    } catch (err) {
      // the change is done either way: a restart with the file still naming it re-runs it, and nothing moves twice
      this.io.log.error({ err: (err as Error).message }, 'cannot save the ring after a change (a restarted master will finish the change again)');
    }
  }
}
