import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DeliveryError, type Notification, type Notifier } from '../model.js';
import { webhookPayload, type WebhookPayload } from './payload.js';

// Notifications as JSON lines: Alertmanager's webhook payload plus the notification id, appended and
// fsynced before send() resolves. The file is idempotent on that id: at the first send the ids already in it
// are read (a line torn by a crash is cut off), and a notification already there is not written again, so a
// delivery retried after a crash does not repeat a line.

export type FileLine = { notificationId: string } & WebhookPayload;

// Errors that another attempt will meet again: the path is wrong, not the moment.
const PERMANENT_CODES = new Set(['EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'EEXIST' /* a file where the directory should be */, 'EROFS', 'ENAMETOOLONG', 'ELOOP']);

export class FileNotifier implements Notifier {
  readonly kind = 'file';
  private fh: FileHandle | undefined;
  private readonly written = new Set<string>();
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
      const fh = this.fh ?? (await this.open());
      if (this.written.has(n.id)) return;
      const line: FileLine = { notificationId: n.id, ...webhookPayload(n) };
      await fh.write(JSON.stringify(line) + '\n');
      await fh.datasync();
      this.written.add(n.id);
    } catch (err) {
      // A failed write may have left part of a line: reopen (and repair) on the next attempt.
      const fh = this.fh;
      this.fh = undefined;
      await fh?.close().catch(() => {});
      const code = (err as NodeJS.ErrnoException).code;
      throw new DeliveryError(`file ${this.path}: ${(err as Error).message}`, !(code && PERMANENT_CODES.has(code)));
    }
  }

  private async open(): Promise<FileHandle> {
    await mkdir(dirname(this.path), { recursive: true });
    let text = '';
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    let good = 0;
    for (let pos = 0; pos < text.length; ) {
      const nl = text.indexOf('\n', pos);
      if (nl === -1) break;
      const line = text.slice(pos, nl);
      try {
        const id = (JSON.parse(line) as { notificationId?: unknown }).notificationId;
        if (typeof id === 'string') this.written.add(id);
      } catch {
        // a damaged line in the middle stays as it is: only the tail is ours to repair
      }
      good += Buffer.byteLength(line) + 1;
      pos = nl + 1;
    }
    const fh = await open(this.path, 'a');
    if ((await fh.stat()).size > good) await fh.truncate(good); // a line torn by a crash
    this.fh = fh;
    return fh;
  }
}
