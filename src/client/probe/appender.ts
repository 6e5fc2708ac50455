// Appends whole lines to the probe's output file: one write per poll. A reader tailing the file may see the end of
// a write still in progress (tailers take only lines ending in "\n"), but never a torn line left behind: a write
// that fails part-way is cut back off the file, so a retry starts on a line boundary.

import { open, type FileHandle } from 'node:fs/promises';

export class LineAppender {
  private handle: FileHandle | undefined;
  /** file size after our last complete append (single writer assumed) */
  private size = 0;

  constructor(
    readonly path: string,
    private readonly fsync = false,
  ) {}

  async open(): Promise<void> {
    if (this.handle) return;
    try {
      this.handle = await open(this.path, 'a');
      this.size = (await this.handle.stat()).size;
    } catch (err) {
      throw new Error(`cannot open ${this.path} for appending: ${(err as Error).message}`);
    }
  }

  /** Append the lines (each ending in "\n") in one write; repeats the write only if the kernel took part of it. */
  async append(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    const handle = this.handle;
    if (!handle) throw new Error(`${this.path} is not open`);
    const buf = Buffer.from(lines.join(''), 'utf8');
    let done = 0;
    try {
      for (let attempt = 0; done < buf.length && attempt < 1000; attempt++) {
        const { bytesWritten } = await handle.write(buf, done, buf.length - done);
        done += bytesWritten;
      }
      if (done < buf.length) throw new Error(`short write to ${this.path}: ${done} of ${buf.length} bytes`);
      if (this.fsync) await handle.datasync();
    } catch (err) {
      if (done > 0) await handle.truncate(this.size).catch(() => {});
      throw err;
    }
    this.size += buf.length;
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    if (handle) await handle.close();
  }
}
