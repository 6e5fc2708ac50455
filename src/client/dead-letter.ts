import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { TailProblem } from './harvester.js';

// Lines that could not be used go to a dead-letter file (JSON lines: file, byte offset, line, reason,
// text) so nothing is dropped without a trace. Writes are synchronous and rare (bad input only).

export class DeadLetters {
  count = 0;
  private failed = false;

  constructor(private readonly path: string, private readonly onWriteError: (err: Error) => void) {
    mkdirSync(dirname(path), { recursive: true });
  }

  add(stream: string, problems: readonly TailProblem[]): void {
    if (problems.length === 0) return;
    this.count += problems.length;
    const at = new Date().toISOString();
    let out = '';
    for (const p of problems) {
      out += JSON.stringify({ at, file: p.path, stream, offset: p.offset, line: p.line, reason: p.reason, text: p.text }) + '\n';
    }
    try {
      appendFileSync(this.path, out);
      this.failed = false;
    } catch (err) {
      if (!this.failed) this.onWriteError(err as Error);
      this.failed = true;
    }
  }
}
