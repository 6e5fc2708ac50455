import type { Alert } from '../model/record.js';
import { packState, unpackState } from '../durable/codec.js';
import { DurableStore } from '../durable/store.js';
import type { DispatchEntry, DispatchJournal, DispatchState } from './dispatch/dispatcher.js';

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

export type AcceptedEntry = { k: 'a'; t: number; alerts: Alert[] };
export type LogEntry = AcceptedEntry | DispatchEntry;

export interface MonitorSnapshot {
  v: 2;
  /** every accepted alert id */
  ids: string[];
  dispatch?: DispatchState;
  /** accepted alerts the outputs (alerts.jsonl) had not written yet when the snapshot was taken */
  plain?: Alert[];
}

export interface OpenedLog {
  snapshot: MonitorSnapshot | undefined;
  entries: LogEntry[];
  warnings: string[];
}

export interface NotificationLogOptions {
  fsync?: boolean;
  /** journal size that triggers a snapshot (default 32 MiB) */
  compactBytes?: number;
  onWarning?(msg: string, err: unknown): void;
}

interface Op {
  entry: LogEntry | undefined;
  apply: () => void | Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class NotificationLog implements DispatchJournal {
  private readonly store: DurableStore;
  private queue: Op[] = [];
  private running: Promise<void> | undefined;
  private snapshotSource: (() => MonitorSnapshot) | undefined;
  private afterBatch: (() => Promise<void>) | undefined;
  /** journal writes that failed */
  writeFailures = 0;
  /** the latest write failed (cleared by the next one that succeeds) */
  failing = false;

  constructor(readonly dir: string, private readonly opts: NotificationLogOptions = {}) {
    this.store = new DurableStore(dir, { fsync: opts.fsync ?? true });
  }

  async open(): Promise<OpenedLog> {
    const { snapshot, entries, warnings } = await this.store.open();
    return { snapshot: snapshot ? decodeSnapshot(snapshot) : undefined, entries: entries.map(decodeEntry), warnings };
  }

  /** What a snapshot holds; called only between writes, when the state equals the log. */
  setSnapshotSource(fn: () => MonitorSnapshot): void {
    this.snapshotSource = fn;
  }

  /** Runs after the applies of each written batch (before a snapshot): one place for per-batch work. */
  setAfterBatch(fn: () => Promise<void>): void {
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
      for (const op of batch) if (op.entry) entries.push(packState(op.entry));
      try {
        if (entries.length > 0) await this.store.append(entries);
        this.failing = false;
      } catch (err) {
        this.writeFailures++;
        this.failing = true;
        for (const op of batch) op.reject(err);
        continue;
      }
      for (const op of batch) {
        try {
          await op.apply();
        } catch (err) {
          this.opts.onWarning?.('applying a journal entry failed (it is durable and will be replayed at the next start)', err);
        }
        op.resolve();
      }
      if (this.afterBatch) {
        try {
          await this.afterBatch();
        } catch (err) {
          this.opts.onWarning?.('after-batch work failed', err);
        }
      }
      if (this.snapshotSource && this.store.journalBytes > (this.opts.compactBytes ?? 32 << 20)) {
        try {
          await this.store.snapshot(packState(this.snapshotSource()));
        } catch (err) {
          this.opts.onWarning?.('snapshot failed; the journal keeps growing until one succeeds', err);
        }
      }
    }
  }
}

function decodeSnapshot(buf: Buffer): MonitorSnapshot {
  const v = unpackState<unknown>(buf);
  // Before the dispatcher, a snapshot was the list of accepted ids.
  if (Array.isArray(v)) return { v: 2, ids: v as string[] };
  return v as MonitorSnapshot;
}

function decodeEntry(buf: Buffer): LogEntry {
  const v = unpackState<unknown>(buf);
  // Before the dispatcher, an entry was a list of accepted alerts.
  if (Array.isArray(v)) return { k: 'a', t: 0, alerts: v as Alert[] };
  return v as LogEntry;
}
