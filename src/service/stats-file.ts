import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

// A service's counters as a small JSON file in its data dir, rewritten atomically every interval: what an
// operator (or a test) reads to see what a process did without a metrics server. Errors are ignored
// after the first: stats are never worth failing for.
//
// The periodic writes are asynchronous: a rename over an existing file makes ext4 flush the new file's data
// first (auto_da_alloc), which on a disk busy with the consumer's fdatasyncs took up to tens of ms, and done
// synchronously that stalled the service's event loop every interval (1 s of a consumer's CPU profile in a
// 20 s benchmark run). The last write, at stop(), is synchronous and always the last to land.

export class StatsFile {
  private timer: NodeJS.Timeout | undefined;
  private failed = false;
  private writing = false;
  private stopped = false;

  constructor(private readonly path: string, private readonly read: () => object, private readonly intervalMs = 500) {}

  start(): void {
    mkdirSync(dirname(this.path), { recursive: true });
    this.timer = setInterval(() => this.writeAsync(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.stopped = true;
    this.write();
  }

  /** Writes now, synchronously. */
  write(): void {
    try {
      writeFileSync(this.path + '.tmp', this.text());
      renameSync(this.path + '.tmp', this.path);
      this.failed = false;
    } catch {
      this.failed = true;
    }
  }

  get failing(): boolean {
    return this.failed;
  }

  private text(): string {
    return JSON.stringify({ at: new Date().toISOString(), pid: process.pid, ...this.read() }) + '\n';
  }

  private writeAsync(): void {
    if (this.writing || this.stopped) return;
    this.writing = true;
    const tmp = this.path + '.tmp-async';
    writeFile(tmp, this.text())
      .then(() => rename(tmp, this.path))
      .then(() => (this.failed = false), () => (this.failed = true))
      .finally(() => {
        this.writing = false;
        // stop() ran meanwhile: its write may have landed before this one, so it goes again, last
        if (this.stopped) this.write();
      });
  }
}
