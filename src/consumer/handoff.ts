import type { Alert } from '../model/record.js';
import { ownerOf } from '../model/rendezvous.js';
import type { RulesEngine } from '../rules/engine.js';
import type { Frames } from '../transport/send-queue.js';
import { encodeHeader } from '../wire/protocol.js';
import { MAX_HANDOFF_BYTES } from '../wire/limits.js';
import { handoffAckHeader, handoffHeader, releasedHeader } from '../wire/headers.js';
import type { Outbox } from './outbox.js';
import { encodeEntry, encodeSourceState, installSourceState, type HandoffEntry, type HandoffsSnapshot } from './state-codec.js';
import type { EntryBytes } from '../durable/journal.js';

// A consumer's side of a change of the ring (docs/delivery.md, "Changing the consumer set"; the master's side is
// src/master/rescale.ts). Giving a source up is one journal entry holding the source's whole state: from it on,
// in memory and in every replay, the source is not this consumer's (its batches are answered "retry"), and the
// state is kept until the master says the new owner has it durably (`handoff-done`), so it can be sent again.
// Receiving a source is one journal entry too, made durable before the `handoff-ack`; a repeat of a handoff this
// consumer already has (same ring version or older) is acked without being applied again.
//
// The highest ring version had in a `release` or a handoff is kept too (in those entries, an `r` entry, and the
// snapshot): a batch a master routed by an older ring is refused ("retry"), so that a master whose ring is stale
// (cut off from the shared ring's store) can never have a source applied by a consumer that is no longer its
// owner, or that is not yet (docs/delivery.md, "When a master's view is stale").

/** What handoffs need of the consumer: its state, and a durable step to join. */
export interface HandoffHost {
  readonly name: string;
  readonly engine: RulesEngine;
  readonly outbox: Outbox;
  /**
   * alerts of requests applied in memory, not yet durable (they enter the outbox with their commit): the group
   * being written, if any, then the group waiting (last: where new ones go)
   */
  readonly staged: Alert[][];
  /** queues journal entries; `after` is sent to the master once they (and everything before them) are durable */
  stage(entries: EntryBytes[], after: Frames[]): void;
}

/** Frames for the master itself carrying a payload start with an empty frame (a reply's place for a client id). */
const TO_MASTER = Buffer.alloc(0);

export class Handoffs {
  /** sources given up, by the ring version they were given up for */
  readonly released = new Map<string, number>();
  /** sources given up whose new owner has not confirmed them yet: their state, to send again */
  readonly outgoing = new Map<string, { ver: number; state: Buffer }>();
  /** sources received, by ring version */
  readonly received = new Map<string, number>();
  /** the highest ring version had in a release or handoff: batches routed by an older ring are refused */
  ring = 0;
  readonly counters = { handoffsOut: 0, handoffsIn: 0, handoffsRepeated: 0, handoffsRefused: 0 };

  /** A batch routed by ring version `routedBy` (none: an older master's) must not be applied: a newer ring was had. */
  staleRoute(routedBy: number | undefined): boolean {
    return (routedBy ?? 0) < this.ring;
  }

  /** A batch for this source must not be applied here: it was given up. */
  gaveUp(source: string): boolean {
    return this.released.has(source);
  }

  /** A journal entry of a handoff, applied to memory: at run time as it is staged, and in a replay. */
  apply(e: HandoffEntry, engine: RulesEngine, outbox: Outbox): void {
    if (e.k !== 'x') this.ring = Math.max(this.ring, e.ver);
    switch (e.k) {
      case 'o':
        engine.sources.delete(e.src);
        for (const [id, a] of outbox.alerts) if (a.source === e.src) outbox.alerts.delete(id);
        this.released.set(e.src, e.ver);
        this.received.delete(e.src);
        this.outgoing.set(e.src, { ver: e.ver, state: e.state });
        return;
      case 'x':
        if (this.outgoing.get(e.src)?.ver === e.ver) this.outgoing.delete(e.src);
        return;
      case 'i':
        outbox.add(installSourceState(e.state, e.src, engine));
        this.released.delete(e.src);
        this.outgoing.delete(e.src);
        this.received.set(e.src, e.ver);
    }
  }

  /**
   * The master moves to ring version `ver` of `names`: give up every source the new ring gives to another. A
   * source whose state is too big for one message stays (said by `tooBig`), and `released` is then not said: the
   * change waits rather than let another consumer start that source from nothing.
   */
  release(host: HandoffHost, ver: number, names: readonly string[], tooBig: (src: string, bytes: number) => void): void {
    const entries: EntryBytes[] = [];
    if (ver > this.ring) {
      // the fence, from now on in memory, durable before `released` is said
      const r: HandoffEntry = { k: 'r', ver };
      this.apply(r, host.engine, host.outbox);
      entries.push(encodeEntry(r));
    }
    let kept = 0;
    for (const src of [...host.engine.sources.keys()]) {
      if (ownerOf(src, names) === host.name) continue;
      // its alerts go with it, those waiting for the monitor and those of requests not yet durable
      const alerts = [...host.outbox.alerts.values()].filter((a) => a.source === src);
      for (const list of host.staged) for (const a of list) if (a.source === src) alerts.push(a);
      const state = encodeSourceState(host.engine, src, alerts);
      if (state.length > MAX_HANDOFF_BYTES) {
        kept++;
        tooBig(src, state.length);
        continue;
      }
      for (const list of host.staged) {
        for (let i = 0; i < list.length; i++) if (list[i]!.source === src) list.splice(i--, 1);
      }
      const e: HandoffEntry = { k: 'o', src, ver, state };
      this.apply(e, host.engine, host.outbox);
      entries.push(encodeEntry(e));
      this.counters.handoffsOut++;
    }
    // everything not confirmed goes (again): the master drops what it has already
    const after: Frames[] = [];
    for (const [src, o] of this.outgoing) after.push([TO_MASTER, encodeHeader(handoffHeader(o.ver, src)), o.state]);
    if (kept === 0) after.push([encodeHeader(releasedHeader(ver, this.outgoing.size))]);
    host.stage(entries, after);
  }

  /** A source's state from its old owner. Throws (nothing changed) when the state does not pass its checks. */
  receive(host: HandoffHost, ver: number, src: string, state: Buffer): void {
    const ack: Frames = [encodeHeader(handoffAckHeader('handoff-ack', ver, src))];
    if ((this.received.get(src) ?? 0) >= ver) {
      // a repeat (the ack was lost): acked once what holds it is durable, never applied twice
      this.counters.handoffsRepeated++;
      host.stage([], [ack]);
      return;
    }
    const e: HandoffEntry = { k: 'i', src, ver, state };
    const scratch = { outbox: [] as Alert[] };
    try {
      scratch.outbox = installSourceState(state, src, host.engine);
    } catch (err) {
      this.counters.handoffsRefused++;
      throw err;
    }
    // its alerts enter the outbox with the commit, like those of a batch
    host.staged.at(-1)!.push(...scratch.outbox);
    this.ring = Math.max(this.ring, ver);
    this.released.delete(src);
    this.outgoing.delete(src);
    this.received.set(src, ver);
    this.counters.handoffsIn++;
    host.stage([encodeEntry(e)], [ack]);
  }

  /** The new owner has the source: forget the copy. */
  done(host: HandoffHost, ver: number, src: string): void {
    if (this.outgoing.get(src)?.ver !== ver) return;
    const e: HandoffEntry = { k: 'x', src, ver };
    this.apply(e, host.engine, host.outbox);
    host.stage([encodeEntry(e)], []);
  }

  snapshot(): HandoffsSnapshot {
    return {
      released: [...this.released],
      outgoing: [...this.outgoing].map(([src, o]) => [src, o.ver, o.state]),
      received: [...this.received],
      ring: this.ring,
    };
  }

  restore(s: HandoffsSnapshot): void {
    for (const [src, ver] of s.released) this.released.set(src, ver);
    for (const [src, ver, state] of s.outgoing) this.outgoing.set(src, { ver, state });
    for (const [src, ver] of s.received) this.received.set(src, ver);
    this.ring = Math.max(this.ring, s.ring ?? 0);
  }

  stats(): Handoffs['counters'] & { sourcesGivenUp: number; handoffsUnconfirmed: number; ringSeen: number } {
    return { ...this.counters, sourcesGivenUp: this.released.size, handoffsUnconfirmed: this.outgoing.size, ringSeen: this.ring };
  }
}
