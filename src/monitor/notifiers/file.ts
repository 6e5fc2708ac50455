import type { FileHandle } from 'node:fs/promises';
import { DeliveryError, type Notification, type Notifier } from '../model.js';
import { OldestKeys } from '../../model/oldest-keys.js';
import { forEachIdFromEnd, openJsonLinesLog, stillAtPath } from '../jsonl-file.js';
import { webhookPayload, type WebhookPayload } from './payload.js';

// Notifications as JSON lines: Alertmanager's webhook payload plus the notification id, appended and
// fsynced before send() resolves. The file is idempotent on that id: at the first send the ids of its last
// RECENT_IDS lines are read (a line torn by a crash is cut off), and a notification among them is not written
// again, so a delivery retried after a crash does not repeat a line. A retried delivery is one of the latest
// (the monitor's log re-sends what it recorded as due and not as delivered), so the ids remembered are the
// newest RECENT_IDS, not every one the file ever held: those grew without bound, and reading the whole file
// at the first send failed once it passed V8's string limit.

/** notification ids remembered, the newest */
const RECENT_IDS = 100_000;

export type FileLine = { notificationId: string } & WebhookPayload;

// Errors that another attempt will meet again: the path is wrong, not the moment.
const PERMANENT_CODES = new Set(['EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'EEXIST' /* a file where the directory should be */, 'EROFS', 'ENAMETOOLONG', 'ELOOP']);

export class FileNotifier implements Notifier {
  readonly kind = 'file';
  private fh: FileHandle | undefined;
  private readonly written = new Set<string>();
  private readonly oldestWritten = new OldestKeys(this.written);
  private chain: Promise<unknown> = Promise.resolve();

  constructor(readonly name: string, private readonly path: string) {}

  send(n: Notification): Promise<void> {
    const run = this.chain.then(() => this.write(n));
    this.chain = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    await this.chain;
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }

  private async write(n: Notification): Promise<void> {
    try {
      // rotated away (renamed, deleted): a new file at the path; the ids remembered still keep a retry from repeating a line
      if (this.fh && !(await stillAtPath(this.path, this.fh)).same) await this.reset();
      const fh = this.fh ?? (await this.open());
      if (this.written.has(n.id)) return;
      const line: FileLine = { notificationId: n.id, ...webhookPayload(n) };
      await fh.write(JSON.stringify(line) + '\n');
      await fh.datasync();
      this.remember(n.id);
    } catch (err) {
      // A failed write may have left part of a line: reopen (and repair) on the next attempt.
      await this.reset();
      const code = (err as NodeJS.ErrnoException).code;
      throw new DeliveryError(`file ${this.path}: ${(err as Error).message}`, !(code && PERMANENT_CODES.has(code)));
    }
  }

  private async reset(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => {});
  }

  private async open(): Promise<FileHandle> {
    const { fh, size } = await openJsonLinesLog(this.path);
    const newestFirst: string[] = [];
    await forEachIdFromEnd(fh, size, 'notificationId', (id) => newestFirst.push(id) < RECENT_IDS);
    for (let i = newestFirst.length - 1; i >= 0; i--) this.remember(newestFirst[i]!);
    this.fh = fh;
    return fh;
  }

  private remember(id: string): void {
    this.written.add(id);
    if (this.written.size > RECENT_IDS) this.oldestWritten.take();
  }
}
