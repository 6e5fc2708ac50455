// Where the ring is kept (docs/delivery.md, "Changing the consumer set"): the consumer names sources are hashed
// over, its version, and the change under way with how far it got. A master alone keeps it in its ring.json
// (ring-file.ts); masters that share one ring keep it in etcd (etcd-ring-store.ts). Either way every change of it
// is one write that applies a change to the ring as the store holds it then (for etcd a compare-and-swap on the
// revision read), and only the master that drives a change (rescale.ts) writes its progress.

/** The change under way: from the ring to `version` of `names`. */
export interface RingChange {
  version: number;
  names: string[];
  /** old owners that said `released` (every source they give up was sent as a handoff before) */
  released?: string[];
  /** sources given up by a released owner and not yet acked by their new owner, recorded with its `released` */
  moving?: string[];
  /** sources whose new owner holds their state durably: routed there by every master */
  moved?: string[];
}

export interface RingState {
  version: number;
  names: string[];
  /** the ring being moved to: sources whose owner differs are handed over (rescale.ts) */
  next?: RingChange;
}

/** A change to apply to the ring as the store holds it: the ring to write, or why nothing is to be written. */
export type RingEdit = (ring: RingState) => RingState | string;

/** What the store tells the master that reads it. */
export interface RingStoreListener {
  /** a ring written by another master (or read again after an outage) */
  onRing(ring: RingState): void;
  /** this master drives the change under way now (true), or no longer (false) */
  onDriving(yes: boolean): void;
}

export interface RingStore {
  /** true when several masters share the ring (their consumers then take part in its changes) */
  readonly shared: boolean;
  /** where it is, for messages: a file, or etcd's endpoints and prefix */
  readonly where: string;
  /** whether this master drives the change under way (a lone master always does) */
  readonly driving: boolean;
  /** The ring kept, else `first` written as the ring; throws naming the store when it cannot be used. */
  open(first: RingState, listener: RingStoreListener): Promise<RingState>;
  /**
   * Applies `edit` to the ring as the store holds it and writes the result, after the writes before it: the ring
   * written, or why nothing was (the edit said so, the store cannot be reached, or — `asDriver` — this master no
   * longer drives the change).
   */
  update(edit: RingEdit, asDriver: boolean): Promise<RingState | string>;
  /** counters for the master's stats */
  stats(): Record<string, number>;
  close(): Promise<void>;
}

function names(v: unknown, allowEmpty = false): string[] | undefined {
  if (!Array.isArray(v) || (v.length === 0 && !allowEmpty) || v.length > 100_000) return undefined;
  if (!v.every((n) => typeof n === 'string' && n.length > 0 && n.length <= 512)) return undefined;
  return new Set(v).size === v.length ? (v as string[]) : undefined;
}

/** A ring as JSON (one line). */
export function ringText(state: RingState): string {
  return JSON.stringify({ v: 1, ...state });
}

/** Parses and checks a ring; a string says what is wrong with it. */
export function parseRing(text: string): RingState | string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  if (o === null || typeof o !== 'object' || o.v !== 1) return 'not a version 1 ring';
  const version = o.version;
  const list = names(o.names);
  if (!Number.isSafeInteger(version) || (version as number) < 1 || !list || list.length > 1000) return 'version or names missing or wrong';
  const state: RingState = { version: version as number, names: list };
  if (o.next !== undefined) {
    const n = o.next as Record<string, unknown> | null;
    const nextNames = n && typeof n === 'object' ? names(n.version === (version as number) + 1 ? n.names : undefined) : undefined;
    if (!n || !nextNames || nextNames.length > 1000) return 'next: must be the version after and a list of names';
    const next: RingChange = { version: (version as number) + 1, names: nextNames };
    for (const key of ['released', 'moving', 'moved'] as const) {
      if (n[key] === undefined) continue;
      const l = names(n[key], true);
      if (!l) return `next.${key}: must be a list of distinct names`;
      next[key] = l;
    }
    state.next = next;
  }
  return state;
}

/** The ring and the change under way without its progress: what a master may route by after a restart. */
export function withoutProgress(state: RingState): RingState {
  return { version: state.version, names: state.names, ...(state.next && { next: { version: state.next.version, names: state.next.names } }) };
}

/** The ring of a master with no --data: kept in memory only (a restart starts again from --consumers). */
export class RingInMemory implements RingStore {
  readonly shared = false;
  readonly driving = true;
  readonly where = 'memory (no --data)';
  private ring: RingState | undefined;

  async open(first: RingState): Promise<RingState> {
    this.ring = first;
    return first;
  }

  async update(edit: RingEdit): Promise<RingState | string> {
    const next = edit(this.ring!);
    if (typeof next !== 'string') this.ring = next;
    return next;
  }

  stats(): Record<string, number> {
    return {};
  }

  async close(): Promise<void> {}
}
