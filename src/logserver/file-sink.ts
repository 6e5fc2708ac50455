// One log file and its rotated generations. Lines are appended to an in-memory list and written in batches by a
// single async loop (one write per batch, no fsync), so a burst of lines costs a few syscalls, not one each.
// Rotation happens between lines: a line goes into the current file if it still fits under maxFileBytes (or the
// file is empty), otherwise `<file>` becomes `<file>.1`, `.1` becomes `.2`, … and the oldest beyond keepFiles goes.

import { open, rename, unlink, type FileHandle } from 'node:fs/promises';

export interface FileSinkOptions {
  path: string;
  maxFileBytes: number;
  /** rotated generations kept: `<path>.1` … `<path>.<keepFiles>` */
  keepFiles: number;
}

export interface FileSinkStats {
  linesWritten: number;
  bytesWritten: number;
  rotations: number;
  /** lines lost because a write failed */
  linesLost: number;
  writeErrors: number;
  lastError: string | undefined;
}

/** the most written in one write() call */
const MAX_WRITE_BYTES = 1024 * 1024;

export class FileSink {
  private pending: Buffer[] = [];
  private pendingBytesCount = 0;
  private handle: FileHandle | undefined;
  private size = 0;
  private running = false;
  private closed = false;
  private waiters: Array<() => void> = [];
  private readonly counters: FileSinkStats = {
    linesWritten: 0,
    bytesWritten: 0,
    rotations: 0,
    linesLost: 0,
    writeErrors: 0,
    lastError: undefined,
  };

  constructor(private readonly options: FileSinkOptions) {}

  get path(): string {
    return this.options.path;
  }

  /** bytes appended but not yet written */
  get pendingBytes(): number {
    return this.pendingBytesCount;
  }

  stats(): FileSinkStats {
    return { ...this.counters };
  }

  /** Queue one line; it must end with "\n". The Buffer is kept until written: don't reuse it. */
  append(line: Buffer): void {
    if (this.closed) {
      this.counters.linesLost++;
      return;
    }
    this.pending.push(line);
    this.pendingBytesCount += line.length;
    if (!this.running) {
      this.running = true;
      // start on the next turn so lines arriving in the same burst share a write
      setImmediate(() => void this.run());
    }
  }

  /** Resolves once everything appended so far is written (or failed and counted). */
  flush(): Promise<void> {
    if (!this.running && this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Flush, then close the file. Later appends are counted as lost. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    await this.closeHandle();
  }

  private async run(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const lines = this.pending;
        this.pending = [];
        this.pendingBytesCount = 0;
        await this.writeLines(lines);
      }
    } finally {
      this.running = false;
      const waiters = this.waiters;
      this.waiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private async writeLines(lines: Buffer[]): Promise<void> {
    let i = 0;
    while (i < lines.length) {
      try {
        if (this.handle === undefined) await this.openHandle();
        const handle = this.handle!;
        // take the lines that fit in the current file; an empty file takes at least one line, however long
        let end = i;
        let bytes = 0;
        while (end < lines.length) {
          const len = lines[end]!.length;
          const fits = this.size + bytes + len <= this.options.maxFileBytes || (this.size === 0 && end === i);
          if (!fits || (end > i && bytes + len > MAX_WRITE_BYTES)) break;
          bytes += len;
          end++;
        }
        if (end === i) {
          await this.rotate();
          continue;
        }
        const chunk = end - i === 1 ? lines[i]! : Buffer.concat(lines.slice(i, end), bytes);
        await writeAll(handle, chunk);
        this.size += bytes;
        this.counters.bytesWritten += bytes;
        this.counters.linesWritten += end - i;
        i = end;
      } catch (err) {
        // disk full, file removed under us, …: lose this batch (counted), reopen on the next one
        this.counters.writeErrors++;
        this.counters.linesLost += lines.length - i;
        this.counters.lastError = `${this.options.path}: ${err instanceof Error ? err.message : String(err)}`;
        await this.closeHandle();
        return;
      }
    }
  }

  private async openHandle(): Promise<void> {
    const handle = await open(this.options.path, 'a');
    try {
      this.size = (await handle.stat()).size;
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
    this.handle = handle;
  }

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    if (handle !== undefined) await handle.close().catch(() => undefined);
  }

  private async rotate(): Promise<void> {
    await this.closeHandle();
    const { path, keepFiles } = this.options;
    if (keepFiles <= 0) {
      await unlink(path).catch(ignoreMissing);
    } else {
      for (let gen = keepFiles - 1; gen >= 1; gen--) {
        await rename(`${path}.${gen}`, `${path}.${gen + 1}`).catch(ignoreMissing);
      }
      await rename(path, `${path}.1`).catch(ignoreMissing);
    }
    this.counters.rotations++;
    await this.openHandle();
  }
}

async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException | undefined)?.code !== 'ENOENT') throw err;
}
