import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

// A service's counters as a small JSON file in its data dir, rewritten atomically every interval: what an
// operator (or a test) reads to see what a process did without a metrics server. Errors are ignored
// after the first: stats are never worth failing for.

export class StatsFile {
  private timer: NodeJS.Timeout | undefined;
  private failed = false;

  constructor(private readonly path: string, private readonly read: () => object, private readonly intervalMs = 500) {}

  start(): void {
    mkdirSync(dirname(this.path), { recursive: true });
    this.timer = setInterval(() => this.write(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.write();
  }

  write(): void {
    try {
      writeFileSync(this.path + '.tmp', JSON.stringify({ at: new Date().toISOString(), pid: process.pid, ...this.read() }) + '\n');
      renameSync(this.path + '.tmp', this.path);
      this.failed = false;
    } catch {
      this.failed = true;
    }
  }

  get failing(): boolean {
    return this.failed;
  }
}
