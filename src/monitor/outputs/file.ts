import type { FileHandle } from 'node:fs/promises';
import type { Alert } from '../../model/record.js';
import type { AlertOutput } from './output.js';
import { openJsonLinesLog } from '../jsonl-file.js';

// Alerts as JSON lines. The file is its own notification log: at start the ids already in it are read
// (a torn last line from a crash is cut off), and accepted alerts missing from it are written, so each
// alert is in the file exactly once across restarts.
//
// A write that fails (disk full, I/O error) is cut back to the last whole line and kept: the alerts stay
// pending, in order, and are written by the next delivery or by a retry every second, so none is lost or
// written twice while the disk is in trouble. (Pending alerts are held in memory for the outage.)

const RETRY_MS = 1000;

export class FileOutput implements AlertOutput {
  readonly name: string;
  private fh: FileHandle | undefined;
  private readonly written = new Set<string>();
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

  async open(accepted: readonly Alert[]): Promise<void> {
    const log = await openJsonLinesLog(this.path, 'id');
    this.fh = log.fh;
    for (const id of log.ids) this.written.add(id);
    this.size = log.size;
    // A full disk must not stop the monitor from starting: what cannot be written yet stays pending.
    await this.deliver(accepted.filter((a) => !this.written.has(a.id))).catch(() => {});
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
      if (this.written.has(a.id) || this.pendingIds.has(a.id)) continue;
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
    const fh = this.fh;
    if (!fh || this.pending.length === 0) return;
    const batch = this.pending.slice();
    const bytes = Buffer.from(batch.map((a) => JSON.stringify(a) + '\n').join(''));
    try {
      for (let off = 0; off < bytes.length;) {
        const { bytesWritten } = await fh.write(bytes, off, bytes.length - off);
        if (bytesWritten <= 0) throw new Error(`write to ${this.path} made no progress`);
        off += bytesWritten;
      }
      if (this.fsync) await fh.datasync();
    } catch (err) {
      await fh.truncate(this.size).catch(() => {}); // no partial line; the whole batch is written again later
      this.scheduleRetry();
      throw err;
    }
    this.size += bytes.length;
    this.pending.splice(0, batch.length);
    for (const a of batch) {
      this.pendingIds.delete(a.id);
      this.written.add(a.id);
    }
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
