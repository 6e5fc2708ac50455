import type { Alert } from '../model/record.js';
import { PeakMs } from '../service/peak.js';
import { packState, unpackState } from '../durable/codec.js';
import type { SetAside } from '../durable/quarantine.js';
import { DurableStore, type EntryOrigin } from '../durable/store.js';
import { alert } from '../wire/alert-schema.js';
import { id as alertId } from '../wire/fields.js';
import { echo, SchemaError, sift, type Check } from '../wire/schema.js';
import type { DispatchEntry, DispatchJournal, DispatchState } from './dispatch/dispatcher.js';
import { dispatchSeq, idTimeRuns, logEntry, notification, storedGroup } from './log-schema.js';
import type { TimeRuns } from './accepted-ids.js';

// The monitor's durable log: the alerts it accepted, every notification decision (recorded before the
// notification is sent) and every delivery outcome (recorded after), in one journal with snapshots
// (DurableStore: checksummed, group-committed, previous generation kept). The whole monitor state — the
// accepted ids that make dedup durable, the aggregation groups, what each group last notified, the
// notifications still to deliver — is a function of this log, so a restart (even after SIGKILL) replays it
// and carries on: an alert acked to a consumer is never lost, a notification recorded as delivered is never
// sent again, and one recorded but not delivered is sent again (with the same id, so a receiver that saw it
// just before the crash can tell; that window is the at-least-once part).
//
// Writes are group-committed: everything queued while a write is in flight goes in the next one (one
// fdatasync). After a write, each entry's `apply` runs in order, before anything else is written, so the
// in-memory state always equals the log when the snapshot is taken.
//
// Read back, every entry and every part of the snapshot is checked (log-schema.ts, the wire's alert schema):
// one that does not pass is set aside (the caller's setAside: quarantine.jsonl) and the rest is replayed.

export interface AcceptedEntry {
  k: 'a';
  t: number;
  alerts: Alert[];
  /**
   * The message's payload as it came on the wire, when every alert in it was accepted: journaled as it is
   * (an 'A' entry) instead of being encoded again, and checked again when read back (log-schema.ts).
   */
  payload?: Buffer;
}
export type LogEntry = AcceptedEntry | DispatchEntry;

export interface MonitorSnapshot {
  v: 2;
  /** the accepted alert ids dedup remembers, oldest first */
  ids: string[];
  /** when each of `ids` was accepted, as runs (absent in snapshots written before ids were forgotten) */
  idTimes?: TimeRuns;
  dispatch?: DispatchState;
  /** accepted alerts the outputs (alerts.jsonl) had not written yet when the snapshot was taken */
  plain?: Alert[];
}

/** A journal entry read back: checked, with where it was and its bytes (to set it aside should it fail to apply). */
export interface ReplayedEntry {
  entry: LogEntry;
  origin: EntryOrigin;
  bytes: Buffer;
}

export interface OpenedLog {
  snapshot: MonitorSnapshot | undefined;
  entries: ReplayedEntry[];
  warnings: string[];
}

/** where a set-aside part of the state was */
export type LogPart = 'journal' | 'snapshot';

export interface NotificationLogOptions {
  fsync?: boolean;
  /** journal size that triggers a snapshot (default 32 MiB) */
  compactBytes?: number;
  onWarning?(msg: string, err: unknown): void;
  /** what does not pass its check when read back (default: dropped) */
  setAside?(item: SetAside, part: LogPart): void;
}

interface Op {
  entry: LogEntry | undefined;
  apply: () => void | Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
  /** a snapshot after the batch this op is in (see changeAtSnapshot) */
  snapshot?: boolean;
}

/** An entry's bytes: an acceptance that kept its wire payload is journaled with it, not encoded again. */
function encodeEntry(e: LogEntry): Buffer {
  if (e.k === 'a' && e.payload) return packState({ k: 'A', t: e.t, p: e.payload });
  return packState(e);
}

const SNAPSHOT_FAILED = 'snapshot failed; the journal keeps growing until one succeeds';

export class NotificationLog implements DispatchJournal {
  private readonly store: DurableStore;
  private queue: Op[] = [];
  private running: Promise<void> | undefined;
  private snapshotSource: (() => MonitorSnapshot) | undefined;
  private afterBatch: (() => void | Promise<void>) | undefined;
  /** journal writes that failed */
  writeFailures = 0;
  /** the latest write failed (cleared by the next one that succeeds) */
  failing = false;
  /** the slowest journal write (and fsync) since the monitor's last stats report */
  readonly commitPeak = new PeakMs();
  /** a snapshot is wanted at the end of the next batch whatever the journal's size */
  private compactWanted = false;
  private lastSnapshotOk = true;

  constructor(readonly dir: string, private readonly opts: NotificationLogOptions = {}) {
    this.store = new DurableStore(dir, { fsync: opts.fsync ?? true });
  }

  async open(): Promise<OpenedLog> {
    const { snapshot, snapshotFile, entries, origins, warnings } = await this.store.open();
    const setAside = (item: SetAside, part: LogPart) => this.opts.setAside?.(item, part);
    const out: ReplayedEntry[] = [];
    entries.forEach((bytes, i) => {
      const origin = origins[i]!;
      try {
        out.push({ entry: logEntry(unpackState(bytes), ''), origin, bytes });
      } catch (err) {
        setAside({ ...origin, reason: problemOf(err), bytes }, 'journal');
      }
    });
    return { snapshot: snapshot ? decodeSnapshot(snapshot, (item) => setAside({ file: snapshotFile, ...item }, 'snapshot')) : undefined, entries: out, warnings };
  }

  /** Takes a snapshot once the writes queued now are done (after parts of the log were set aside: not read again). */
  compact(): Promise<void> {
    this.compactWanted = true;
    return this.write(undefined, () => {});
  }

  /**
   * Runs `apply` in write order (after the writes queued before it) and takes a snapshot right after it, so that
   * what was decided before `apply` is in the snapshot and the journal after it holds only what came after: a
   * configuration reload, so that a replay never routes alerts accepted before it by the new routes. Resolves
   * whether the snapshot was written (false: it failed and was reported; the journal stays current).
   */
  changeAtSnapshot(apply: () => void): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.queue.push({ entry: undefined, apply, resolve: () => resolve(this.lastSnapshotOk), reject, snapshot: true });
      this.running ??= this.run().finally(() => (this.running = undefined));
    });
  }

  /** What a snapshot holds; called only between writes, when the state equals the log. */
  setSnapshotSource(fn: () => MonitorSnapshot): void {
    this.snapshotSource = fn;
  }

  /** Runs after the applies of each written batch (before a snapshot): one place for per-batch work. */
  setAfterBatch(fn: () => void | Promise<void>): void {
    this.afterBatch = fn;
  }

  /**
   * Makes the entry durable, then runs apply (in write order); rejects, without applying, if it could not be
   * written. With no entry, apply just waits for the writes queued before it (and fails with them).
   */
  write(entry: LogEntry | undefined, apply: () => void | Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ entry, apply, resolve, reject });
      this.running ??= this.run().finally(() => (this.running = undefined));
    });
  }

  /** Waits until every queued write is done. */
  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Waits for queued writes, then closes. */
  async close(): Promise<void> {
    await this.flush();
    await this.store.close();
  }

  private async run(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      const entries: Buffer[] = [];
      for (const op of batch) if (op.entry) entries.push(encodeEntry(op.entry));
      try {
        if (entries.length > 0) {
          const t0 = performance.now();
          await this.store.append(entries);
          this.commitPeak.observe(performance.now() - t0);
        }
        this.failing = false;
      } catch (err) {
        this.writeFailures++;
        this.failing = true;
        for (const op of batch) op.reject(err);
        continue;
      }
      const afterSnapshot: Op[] = [];
      for (const op of batch) {
        try {
          await op.apply();
        } catch (err) {
          this.opts.onWarning?.('applying a journal entry failed (it is durable and will be replayed at the next start)', err);
        }
        if (op.snapshot) afterSnapshot.push(op);
        else op.resolve();
      }
      if (this.afterBatch) {
        try {
          await this.afterBatch();
        } catch (err) {
          this.opts.onWarning?.('after-batch work failed', err);
        }
      }
      if (this.snapshotSource && (afterSnapshot.length > 0 || this.compactWanted)) {
        // asked for (a reload's change, parts set aside): committed before anything after it is written
        this.compactWanted = false;
        try {
          await this.store.snapshot(packState(this.snapshotSource()));
          this.lastSnapshotOk = true;
        } catch (err) {
          this.lastSnapshotOk = false;
          this.opts.onWarning?.(SNAPSHOT_FAILED, err);
        }
      } else if (this.snapshotSource && this.store.compactionDue(this.opts.compactBytes ?? 32 << 20)) {
        // the periodic one: written behind the next batches (store.ts, snapshotBehind). In line, its write held
        // every ack up; it grows with the accepted ids (~0.45 s for 20 MiB in bench snapshot).
        try {
          const { written } = await this.store.snapshotBehind(packState(this.snapshotSource()));
          written.catch((err: unknown) => this.opts.onWarning?.(SNAPSHOT_FAILED, err));
        } catch (err) {
          this.opts.onWarning?.(SNAPSHOT_FAILED, err);
        }
      }
      for (const op of afterSnapshot) op.resolve();
    }
  }
}

/** Why a stored value could not be used: its schema's problem, or the decoder's. */
function problemOf(err: unknown): string {
  if (err instanceof SchemaError) return err.message;
  return `not readable: ${err instanceof Error ? err.message : String(err)}`;
}

/**
 * The snapshot, each part checked on its own: an id, an alert, a group or a notification that does not pass is
 * handed to `setAside` and left out; the rest is restored.
 */
function decodeSnapshot(buf: Buffer, setAside: (item: SetAside) => void): MonitorSnapshot {
  let v: unknown;
  try {
    v = unpackState<unknown>(buf);
  } catch (err) {
    setAside({ what: 'the whole snapshot', reason: problemOf(err), bytes: buf });
    return { v: 2, ids: [] };
  }
  const keep = <T>(list: unknown, check: Check<T>, what: string): T[] =>
    sift(list, check, (value, index, problem) => setAside({ what: index < 0 ? what : `${what} ${index}`, reason: problem, value }));
  // Before the dispatcher, a snapshot was the list of accepted ids.
  if (Array.isArray(v)) return { v: 2, ids: keep(v, alertId, 'ids') };
  const o = (v !== null && typeof v === 'object' ? v : {}) as Record<string, unknown>;
  if (o.v !== 2) setAside({ what: 'the snapshot\'s layout', reason: `unknown snapshot version ${echo(o.v)}; restoring what passes its check`, value: { v: o.v } });
  const snap: MonitorSnapshot = { v: 2, ids: keep(o.ids, alertId, 'ids') };
  if (o.idTimes !== undefined) {
    // runs are positional: one that does not pass would shift every time after it, so the times go as a whole
    // (the ids then count as accepted at the restart: remembered longer, never shorter)
    try {
      snap.idTimes = idTimeRuns(o.idTimes, 'idTimes');
      if (snap.ids.length !== (o.ids as unknown[]).length) throw new SchemaError('idTimes', 'ids were set aside, so the runs no longer line up');
    } catch (err) {
      delete snap.idTimes;
      setAside({ what: 'idTimes', reason: `${problemOf(err)} (the ids count as accepted at this start)`, value: o.idTimes });
    }
  }
  if (o.plain !== undefined) snap.plain = keep(o.plain, alert, 'plain');
  if (o.dispatch !== undefined) {
    const d = (o.dispatch !== null && typeof o.dispatch === 'object' ? o.dispatch : {}) as Record<string, unknown>;
    let seq: DispatchState['seq'] = {};
    try {
      seq = dispatchSeq(d.seq, 'dispatch: seq');
    } catch (err) {
      setAside({ what: 'dispatch: seq', reason: `${problemOf(err)} (notification numbers start again)`, value: d.seq });
    }
    snap.dispatch = {
      seq,
      open: keep(d.open, alert, 'dispatch: open'),
      groups: keep(d.groups, storedGroup, 'dispatch: groups'),
      pending: keep(d.pending, notification, 'dispatch: pending'),
    };
  }
  return snap;
}
