// Which consumer instance the master routes a consumer name to, and which instances it fences off.
//
// Every consumer connection has a routing id of its own (random per process), and says in its hello/hb which
// name it claims, which state it carries (the state id, made with its data directory) and which start of that
// state it is (the generation, one more at every start). Per name the master keeps one owner instance:
//
// - the first instance to claim a name gets it;
// - the same state with a higher generation takes over at once: a restart;
// - anything else (a lower or equal generation of the same state, or another state) while the owner is alive,
//   or was heard from within `takeoverAfterMs`, is fenced: its hello/hb are answered "fenced", its replies
//   (acks!) are ignored and counted, and nothing is routed to it;
// - once the owner has been silent for `takeoverAfterMs`, a fenced or new instance may take the name, with a
//   warning: it carries another state (fresh, or from elsewhere) or an older start of this one.
//
// A master that restarts would forget its owners, and the first heartbeat after it — a stray's as well as the
// rightful consumer's — would win. So the owners' state ids and generations are remembered (the master keeps
// them in its data directory): after a restart, a claim that does not match the remembered owner (another state,
// or an older start) is fenced as if that owner had spoken at the master's start, and may take the name only
// once takeoverAfterMs has passed without the remembered state claiming it.
//
// Nothing here logs, sends or writes: the master does, from what claim() returns and remembered(), so that every
// change of owner and every refusal is said once, with both instances.

/** One process of a consumer, as its hello/hb describe it. */
/** Names with a counter of their own in stats() (fenced.NAME); more are counted in fencedNamesNotListed. */
const MAX_FENCED_NAMES_REPORTED = 32;

export interface ConsumerInstance {
  /** its routing id on the master's consumer socket, as a latin1 string */
  id: string;
  /** state id */
  sid: string;
  /** generation: which start of that state */
  gen: number;
  pid: number;
  host: string;
}

export interface OwnershipOptions {
  /** an owner not heard from for this long is away: nothing is routed to it (default 3000 ms) */
  timeoutMs?: number;
  /** an owner not heard from for this long may be replaced by another state or an older start (default 30 s) */
  takeoverAfterMs?: number;
  /** a fenced instance heard within this long counts in fencedRecently (default 60 s) */
  recentMs?: number;
  /** fenced instances remembered at most (default 1000) */
  maxFenced?: number;
}

/** Which state, at which start, owned a consumer name: what a master keeps across its restarts. */
export interface RememberedOwner {
  name: string;
  sid: string;
  gen: number;
}

/** What a claim changed: nothing, a new owner, or a refusal. */
export type ClaimResult =
  | { outcome: 'owner'; change?: OwnerChange }
  | { outcome: 'fenced'; kind: 'stale' | 'conflict'; owner: ConsumerInstance; reason: string; /** first refusal of this instance: say it */ first: boolean };

export interface OwnerChange {
  /** first: no owner before; back: the owner was away and speaks again; restart: same state, higher generation; takeover: another state or an older start, after the owner's silence */
  kind: 'first' | 'back' | 'restart' | 'takeover';
  previous?: ConsumerInstance;
  /** ms the previous owner had been silent */
  silentMs?: number;
  /** for a takeover: what is suspicious about it */
  warning?: string;
}

interface Owner extends ConsumerInstance {
  /** when it was last heard from */
  lastSeen: number;
  /** a send to it failed since: away until it speaks again (its silence still counts from lastSeen) */
  unreachable: boolean;
}

interface Fenced extends ConsumerInstance {
  name: string;
  fencedAt: number;
  /** when it last spoke after being fenced (undefined: not since: an owner replaced while it was silent) */
  heard?: number;
  /** its refusal has been reported (at its first hello/hb since it was fenced) */
  reported: boolean;
}

export class ConsumerOwnership {
  private readonly owners = new Map<string, Owner>();
  /** routing id → the name it owns */
  private readonly ownerIds = new Map<string, string>();
  private readonly fenced = new Map<string, Fenced>();
  private readonly timeoutMs: number;
  private readonly takeoverAfterMs: number;
  private readonly recentMs: number;
  private readonly maxFenced: number;
  private readonly rememberedOwners = new Map<string, RememberedOwner>();
  private startedAt: number | undefined;
  /** set when an owner changed since remembered() was last read */
  private changed = false;
  readonly counters = { ownerChanges: 0, takeovers: 0, claimsRefused: 0, staleClaims: 0, fencedReplies: 0, fencedHeartbeats: 0 };

  constructor(opts: OwnershipOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 3000;
    this.takeoverAfterMs = opts.takeoverAfterMs ?? 30_000;
    this.recentMs = opts.recentMs ?? 60_000;
    this.maxFenced = opts.maxFenced ?? 1000;
  }

  /** The owners before the master (re)started (what remembered() gave then); `startedAt` counts as their last word. */
  restore(owners: readonly RememberedOwner[], startedAt: number): void {
    for (const r of owners) this.rememberedOwners.set(r.name, { ...r });
    this.startedAt = startedAt;
  }

  /** The owners to keep across a restart; undefined when nothing changed since the last call. */
  remembered(): RememberedOwner[] | undefined {
    if (!this.changed) return undefined;
    this.changed = false;
    return [...this.rememberedOwners.values()].map((r) => ({ ...r }));
  }

  /** A hello or hb from `inst` claiming `name`. */
  claim(name: string, inst: ConsumerInstance, now: number): ClaimResult {
    const owner = this.owners.get(name);
    if (owner && owner.id === inst.id) {
      const silentMs = now - owner.lastSeen;
      const wasAway = owner.unreachable || silentMs >= this.timeoutMs;
      this.heard(owner, now);
      return wasAway ? { outcome: 'owner', change: { kind: 'back', silentMs } } : { outcome: 'owner' };
    }
    const silentMs = owner ? now - owner.lastSeen : Infinity;
    if (!owner) {
      const r = this.rememberedOwners.get(name);
      const since = this.startedAt ?? now;
      if (!r || (inst.sid === r.sid && inst.gen >= r.gen) || now - since >= this.takeoverAfterMs) return this.grant(name, inst, now, { kind: 'first' });
      // the name was someone else's before the master started: that one has takeoverAfterMs to claim it back
      const kind = inst.sid === r.sid ? 'stale' : 'conflict';
      const reason = `consumer ${name} was owned, before the master started, by state ${r.sid} at generation ${r.gen}; this claim (state id ${inst.sid}, ` +
        `generation ${inst.gen}) is refused until that state claims it back, or for ${Math.round(this.takeoverAfterMs / 1000)} s after the master's start`;
      const first = this.fence(name, inst, now, true);
      if (first) this.counters[kind === 'stale' ? 'staleClaims' : 'claimsRefused']++;
      this.counters.fencedHeartbeats++;
      return { outcome: 'fenced', kind, owner: { id: '', sid: r.sid, gen: r.gen, pid: 0, host: 'unknown (remembered from before the master started)' }, reason, first };
    }
    if (inst.sid === owner.sid && inst.gen > owner.gen) return this.grant(name, inst, now, { kind: 'restart', previous: strip(owner), silentMs });
    if (silentMs >= this.takeoverAfterMs) {
      const warning = inst.sid !== owner.sid
        ? `another state (state id ${inst.sid}, not ${owner.sid}): a fresh data directory, or one from elsewhere; the records its sources sent before are not in it, and their clients will send them again`
        : `an older or equal start of the same state (generation ${inst.gen}, the owner had ${owner.gen}): a copy of the data directory?`;
      return this.grant(name, inst, now, { kind: 'takeover', previous: strip(owner), silentMs, warning });
    }
    const kind = inst.sid === owner.sid ? 'stale' : 'conflict';
    const reason = kind === 'stale'
      ? `consumer ${name} is owned by generation ${owner.gen} of the same state (state id ${owner.sid}, pid ${owner.pid} on ${owner.host}); this is generation ${inst.gen}: an older process, or a copy of its data directory`
      : `consumer ${name} is owned by another process (state id ${owner.sid}, generation ${owner.gen}, pid ${owner.pid} on ${owner.host}); ` +
        `this one (state id ${inst.sid}) is refused while that one is alive, and may take the name only after it has been silent for ${Math.round(this.takeoverAfterMs / 1000)} s`;
    const first = this.fence(name, inst, now, true);
    if (first) this.counters[kind === 'stale' ? 'staleClaims' : 'claimsRefused']++;
    this.counters.fencedHeartbeats++;
    return { outcome: 'fenced', kind, owner: strip(owner), reason, first };
  }

  /** The instance `name` is routed to: its owner, if heard from within the timeout. */
  route(name: string, now: number): ConsumerInstance | undefined {
    const o = this.owners.get(name);
    return o && !o.unreachable && now - o.lastSeen < this.timeoutMs ? o : undefined;
  }

  /**
   * A reply from routing id `id`: the name it owns (its liveness refreshed), or undefined: a fenced instance's
   * (counted, to be ignored) or an unknown peer's (`fenced` false).
   */
  reply(id: string, now: number): { name?: string; fenced: boolean } {
    const name = this.ownerIds.get(id);
    if (name !== undefined) {
      this.heard(this.owners.get(name)!, now);
      return { name, fenced: false };
    }
    const f = this.fenced.get(id);
    if (!f) return { fenced: false };
    f.heard = now;
    this.counters.fencedReplies++;
    return { fenced: true };
  }

  /** A send to routing id `id` failed: its owner is away until it speaks again (its silence counts from when it last spoke). */
  unreachable(id: string): string | undefined {
    const name = this.ownerIds.get(id);
    if (name !== undefined) this.owners.get(name)!.unreachable = true;
    return name;
  }

  alive(name: string, now: number): boolean {
    return this.route(name, now) !== undefined;
  }

  /** Counters, plus fenced instances heard within the last minute: in all, and per name as `fenced.NAME`. */
  stats(now: number): ConsumerOwnership['counters'] & { fencedRecently: number } & Record<string, number> {
    const out: ConsumerOwnership['counters'] & { fencedRecently: number } & Record<string, number> = { ...this.counters, fencedRecently: 0 };
    let named = 0;
    for (const f of this.fenced.values()) {
      if (f.heard === undefined || now - f.heard >= this.recentMs) continue;
      out.fencedRecently++;
      const key = `fenced.${f.name}`;
      // A counter per name, for the first few names only: a flood of claimants under made-up names would otherwise
      // push the master's counters past what a stats message may carry, and the monitor would refuse them all.
      if (out[key] === undefined && named >= MAX_FENCED_NAMES_REPORTED) {
        out.fencedNamesNotListed = (out.fencedNamesNotListed ?? 0) + 1;
        continue;
      }
      if (out[key] === undefined) named++;
      out[key] = (out[key] ?? 0) + 1;
    }
    return out;
  }

  private grant(name: string, inst: ConsumerInstance, now: number, change: OwnerChange): ClaimResult {
    const previous = this.owners.get(name);
    if (previous) {
      this.ownerIds.delete(previous.id);
      // it is fenced from now on, but counts as such only if it speaks again
      this.fence(name, previous, previous.lastSeen, false);
      this.counters.ownerChanges++;
      if (change.kind === 'takeover') this.counters.takeovers++;
    }
    this.fenced.delete(inst.id);
    // an instance owns one name: a claim for another name ends its first ownership
    const other = this.ownerIds.get(inst.id);
    if (other !== undefined) this.owners.delete(other);
    this.owners.set(name, { ...strip(inst), lastSeen: now, unreachable: false });
    this.ownerIds.set(inst.id, name);
    const r = this.rememberedOwners.get(name);
    if (!r || r.sid !== inst.sid || r.gen !== inst.gen) {
      this.rememberedOwners.set(name, { name, sid: inst.sid, gen: inst.gen });
      this.changed = true;
    }
    return { outcome: 'owner', change };
  }

  private heard(owner: Owner, now: number): void {
    owner.lastSeen = now;
    owner.unreachable = false;
  }

  /** Marks an instance fenced; `claiming`: it is claiming now. True the first time it claims as such (the time to say so). */
  private fence(name: string, inst: ConsumerInstance, now: number, claiming: boolean): boolean {
    let f = this.fenced.get(inst.id);
    if (!f) {
      if (this.fenced.size >= this.maxFenced) this.forgetOldest();
      f = { ...strip(inst), name, fencedAt: now, reported: false };
      this.fenced.set(inst.id, f);
    }
    if (!claiming) return false;
    f.heard = now;
    const first = !f.reported;
    f.reported = true;
    return first;
  }

  private forgetOldest(): void {
    let oldest: string | undefined;
    let at = Infinity;
    for (const [id, f] of this.fenced) {
      const t = f.heard ?? f.fencedAt;
      if (t < at) {
        at = t;
        oldest = id;
      }
    }
    if (oldest !== undefined) this.fenced.delete(oldest);
  }
}

function strip(i: ConsumerInstance): ConsumerInstance {
  return { id: i.id, sid: i.sid, gen: i.gen, pid: i.pid, host: i.host };
}
