// Appends whole lines to the probe's output file: one write per poll. A reader tailing the file may see the end of
// a write still in progress (tailers take only lines ending in "\n"), but never a torn line left behind: a write
// that fails part-way is cut back off the file, so a retry starts on a line boundary. Log rotation works both
// ways: copytruncate (appends go to the new end) and rename (the path is reopened when it names another file).

import { open, stat, type FileHandle } from 'node:fs/promises';

/** How far back from the end a torn last line is looked for (a probe's line is far shorter). */
const MAX_TORN_BYTES = 1 << 20;

export class LineAppender {
  private handle: FileHandle | undefined;

  constructor(
    readonly path: string,
    private readonly fsync = false,
  ) {}

  async open(): Promise<void> {
    if (this.handle) return;
    try {
      this.handle = await open(this.path, 'a+'); // read too: cutTornLine()
    } catch (err) {
      throw new Error(`cannot open ${this.path} for appending: ${(err as Error).message}`);
    }
  }

  /**
   * Append the lines (each ending in "\n") in one write; repeats the write only if the kernel took part of it.
   * Resolves with the file's size after the write (undefined when there was nothing to write).
   */
  async append(lines: readonly string[]): Promise<number | undefined> {
    if (lines.length === 0) return undefined;
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
    return sizeBefore + buf.length;
  }

  /**
   * Cuts a last line without its "\n" off the file: what a process killed in the middle of a write leaves. A tailer
   * never takes a line without its end, so nothing of it was read; appending after it would glue the next line on.
   * Returns the bytes cut.
   */
  async cutTornLine(): Promise<number> {
    const handle = this.handle;
    if (!handle) throw new Error(`${this.path} is not open`);
    const { size } = await handle.stat();
    if (size === 0) return 0;
    const n = Math.min(size, MAX_TORN_BYTES);
    const tail = Buffer.alloc(n);
    await handle.read(tail, 0, n, size - n);
    if (tail[n - 1] === 0x0a) return 0;
    const lastNewline = tail.lastIndexOf(0x0a);
    const keep = lastNewline >= 0 ? size - n + lastNewline + 1 : size > n ? size : 0;
    if (keep === size) return 0;
    await handle.truncate(keep);
    await handle.datasync();
    return size - keep;
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    if (handle) await handle.close();
  }
}
