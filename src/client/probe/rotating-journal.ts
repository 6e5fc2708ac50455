import { rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { syncDirectory } from '../../durable/atomic-file.js';
import type { LineAppender } from './appender.js';
import type { LineSink } from './probe.js';

// Keeps an agent's probe journal bounded on the database host: once the journal passes its size limit it is
// renamed to JOURNAL.1 and a new one is started, the way logrotate's rename rotation does it; the input tailing the
// journal reads the renamed file to its end (src/client/rotation.ts) and then forgets it once every record of it is
// acked. Only one rotated file is kept, and it is removed only when the input no longer holds it (no stream of its
// registry is that file): a journal whose records are not yet acked (the master away for hours) is never deleted,
// it grows past the limit instead until they are.

export interface JournalFiles {
  /** true while the input still has records of the file with this identity to send or to have acked */
  holds(dev: string, ino: string): boolean;
}

export interface RotationEvents {
  rotated(info: { journal: string; to: string; bytes: number }): void;
  /** a rotation is due but the previous rotated file is still being sent */
  deferred(info: { journal: string; held: string }): void;
  failed(info: { journal: string; error: string }): void;
}

export class RotatingJournal implements LineSink {
  readonly rotatedPath: string;
  /** rotations done, and rotations put off because the previous rotated file was still held */
  rotations = 0;
  deferrals = 0;
  private deferredSaid = false;

  constructor(
    private readonly appender: LineAppender,
    private readonly maxBytes: number,
    private readonly files: JournalFiles,
    private readonly events: RotationEvents,
  ) {
    if (!(maxBytes > 0)) throw new Error(`a journal's size limit must be > 0 bytes, got ${maxBytes}`);
    this.rotatedPath = `${appender.path}.1`;
  }

  async append(lines: readonly string[]): Promise<void> {
    const size = await this.appender.append(lines);
    if (size !== undefined && size >= this.maxBytes) await this.rotateIfFull();
  }

  /** Renames the journal away once it is over its limit, unless the rotated file before it is still being sent. */
  async rotateIfFull(): Promise<boolean> {
    const journal = this.appender.path;
    const current = await stat(journal).catch(() => undefined);
    if (!current || current.size < this.maxBytes) return false;
    const previous = await stat(this.rotatedPath).catch(() => undefined);
    if (previous && this.files.holds(String(previous.dev), String(previous.ino))) {
      this.deferrals++;
      if (!this.deferredSaid) this.events.deferred({ journal, held: this.rotatedPath });
      this.deferredSaid = true;
      return false;
    }
    this.deferredSaid = false;
    try {
      if (previous) await rm(this.rotatedPath, { force: true });
      await rename(journal, this.rotatedPath);
      await syncDirectory(dirname(journal));
    } catch (err) {
      this.events.failed({ journal, error: (err as Error).message });
      return false;
    }
    this.rotations++;
    this.events.rotated({ journal, to: this.rotatedPath, bytes: current.size });
    return true;
  }
}
