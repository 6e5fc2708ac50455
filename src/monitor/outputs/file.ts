import type { FileHandle } from 'node:fs/promises';
import type { Alert } from '../../model/record.js';
import type { AlertOutput } from './output.js';
import { forEachIdFromEnd, openJsonLinesLog, stillAtPath } from '../jsonl-file.js';
import { jsonLines } from '../../model/json-lines.js';

// Alerts as JSON lines. The file is its own notification log: at start a torn last line from a crash is cut off,
// and of the alerts the monitor's log says the file may have missed (its catch-up) those already in it are
// skipped, so each alert is in the file exactly once across restarts.
//
// Only the file's last lines are read for that: every line written after the monitor's last snapshot is an alert
// of the catch-up (the snapshot holds the alerts not yet written when it was taken, the journal after it the ones
// accepted since, and each is written once), so an alert of the catch-up that is in the file is among its last
// (catch-up size) lines; a margin covers alerts whose journal entry was set aside at start (not in the catch-up,
// perhaps in the file). Nothing else is remembered: the intake hands each accepted alert over once (its dedup
// is the one with a bound, accepted-ids.ts). Keeping every id ever written, as this did, grew without bound
// (~10 GB a day at 1,000 alerts/s) and read the whole file at start.
//
// Rotation: before each write the file is checked to be the one at the path. Renamed or deleted (logrotate's
// `create`), a new file is opened there and the alerts go on in it; truncated in place (`copytruncate`), writing
// goes on at its new end. (An alert written just before a crash that also rotated the file may be written again
// into the new file at the next start: the old one is not read.)
//
// A write that fails (disk full, I/O error) is cut back to the last whole line and kept: the alerts stay
// pending, in order, and are written by the next delivery or by a retry every second, so none is lost or
// written twice while the disk is in trouble. (Pending alerts are held in memory for the outage.)

const RETRY_MS = 1000;

export class FileOutput implements AlertOutput {
  readonly name: string;
  private fh: FileHandle | undefined;
  /** accepted, not yet in the file because a write failed */
  private pending: Alert[] = [];
  private readonly pendingIds = new Set<string>();
  /** bytes of whole lines in the file */
  private size = 0;
  private chain: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly path: string, private readonly fsync = true) {
    this.name = `file:${path}`;
  }

  async open(catchUp: readonly Alert[]): Promise<void> {
    const log = await openJsonLinesLog(this.path);
    this.fh = log.fh;
    this.size = log.size;
    const missing = new Set(catchUp.map((a) => a.id));
    const lines = missing.size === 0 ? 0 : 2 * missing.size + 10_000;
    let seen = 0;
    if (lines > 0) {
      await forEachIdFromEnd(log.fh, log.size, 'id', (id) => {
        missing.delete(id);
        return ++seen < lines && missing.size > 0;
      });
    }
    // A full disk must not stop the monitor from starting: what cannot be written yet stays pending.
    await this.deliver(catchUp.filter((a) => missing.has(a.id))).catch(() => {});
  }

  /** Alerts accepted but not yet written (a write failed; retried). */
  pendingAlerts(): readonly Alert[] {
    return this.pending;
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  /** Writes the alerts not yet in the file, after any still pending; throws if the write failed (they stay pending). */
  async deliver(alerts: readonly Alert[]): Promise<void> {
    if (!this.fh) throw new Error('file output is not open');
    for (const a of alerts) {
      if (this.pendingIds.has(a.id)) continue;
      this.pending.push(a);
      this.pendingIds.add(a.id);
    }
    await this.flushPending();
  }

  async close(): Promise<void> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.chain;
    await this.fh?.close();
    this.fh = undefined;
  }

  /** One write at a time, in order, whoever asks (a delivery or the retry timer). */
  private flushPending(): Promise<void> {
    const run = this.chain.then(() => this.writePending());
    this.chain = run.catch(() => {});
    return run;
  }

  private async writePending(): Promise<void> {
    if (!this.fh || this.pending.length === 0) return;
    const batch = this.pending.slice();
    const bytes = jsonLines(batch, 512 * batch.length);
    let fh: FileHandle | undefined;
    try {
      fh = await this.atPath(this.fh);
      for (let off = 0; off < bytes.length;) {
        const { bytesWritten } = await fh.write(bytes, off, bytes.length - off);
        if (bytesWritten <= 0) throw new Error(`write to ${this.path} made no progress`);
        off += bytesWritten;
      }
      if (this.fsync) await fh.datasync();
    } catch (err) {
      await fh?.truncate(this.size).catch(() => {}); // no partial line; the whole batch is written again later
      this.scheduleRetry();
      throw err;
    }
    this.size += bytes.length;
    this.pending.splice(0, batch.length);
    for (const a of batch) this.pendingIds.delete(a.id);
  }

  /** The open file if the path still names it, else a new one opened at the path (see Rotation, above). */
  private async atPath(fh: FileHandle): Promise<FileHandle> {
    const { same, size } = await stillAtPath(this.path, fh);
    if (same) {
      this.size = Math.min(this.size, size);
      return fh;
    }
    const log = await openJsonLinesLog(this.path);
    this.fh = log.fh;
    this.size = log.size;
    await fh.close().catch(() => {});
    return log.fh;
  }

  private scheduleRetry(): void {
    if (this.retryTimer || !this.fh) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.flushPending().catch(() => {}); // a new failure schedules the next try
    }, RETRY_MS);
    this.retryTimer.unref();
  }
}
