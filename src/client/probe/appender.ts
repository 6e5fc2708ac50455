// Appends whole lines to the probe's output file: one write per poll. A reader tailing the file may see the end of
// a write still in progress (tailers take only lines ending in "\n"), but never a torn line left behind: a write
// that fails part-way is cut back off the file, so a retry starts on a line boundary. Log rotation works both
// ways: copytruncate (appends go to the new end) and rename (the path is reopened when it names another file).

import { open, stat, type FileHandle } from 'node:fs/promises';

export class LineAppender {
  private handle: FileHandle | undefined;

  constructor(
    readonly path: string,
    private readonly fsync = false,
  ) {}

  async open(): Promise<void> {
    if (this.handle) return;
    try {
      this.handle = await open(this.path, 'a');
    } catch (err) {
      throw new Error(`cannot open ${this.path} for appending: ${(err as Error).message}`);
    }
  }

  /** Append the lines (each ending in "\n") in one write; repeats the write only if the kernel took part of it. */
  async append(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    let handle = this.handle;
    if (!handle) throw new Error(`${this.path} is not open`);
    const buf = Buffer.from(lines.join(''), 'utf8');
    // Measured before each write, not remembered: logrotate's copytruncate may have emptied the file meanwhile.
    let sizeBefore: number;
    const [ours, atPath] = await Promise.all([handle.stat(), stat(this.path).catch(() => undefined)]);
    if (atPath && atPath.ino === ours.ino && atPath.dev === ours.dev) {
      sizeBefore = ours.size;
    } else {
      // renamed away or deleted: start (or continue) the file that the path names now
      await handle.close().catch(() => {});
      this.handle = undefined;
      await this.open();
      handle = this.handle as FileHandle | undefined;
      if (!handle) throw new Error(`cannot reopen ${this.path}`);
      sizeBefore = (await handle.stat()).size;
    }
    let done = 0;
    try {
      for (let attempt = 0; done < buf.length && attempt < 1000; attempt++) {
        const { bytesWritten } = await handle.write(buf, done, buf.length - done);
        done += bytesWritten;
      }
      if (done < buf.length) throw new Error(`short write to ${this.path}: ${done} of ${buf.length} bytes`);
      if (this.fsync) await handle.datasync();
    } catch (err) {
      if (done > 0) await handle.truncate(sizeBefore).catch(() => {});
      throw err;
    }
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    if (handle) await handle.close();
  }
}
