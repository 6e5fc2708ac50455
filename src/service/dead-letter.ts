import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ParseProblem } from '../formats/parsers/types.js';

// Lines that could not be used go to a dead-letter file (JSON lines: file or source, stream, byte offset, line,
// reason, text) so nothing is dropped without a trace. Writes are synchronous and rare (bad input only). The client
// writes one for the records it parses, a consumer one for the raw chunks it parses (--ship chunks).

/** A problem, with the file it is in when the writer knows it (the client does; a consumer knows the source). */
export type DeadLetter = ParseProblem & { path?: string };

export class DeadLetters {
  count = 0;
  private failed = false;

  constructor(private readonly path: string, private readonly onWriteError: (err: Error) => void) {
    mkdirSync(dirname(path), { recursive: true });
  }

  /** `source`: named in each line when the problems come from a consumer (which does not know the file's path). */
  add(stream: string, problems: readonly DeadLetter[], source?: string): void {
    if (problems.length === 0) return;
    this.count += problems.length;
    const at = new Date().toISOString();
    let out = '';
    for (const p of problems) {
      const where = source === undefined ? { file: p.path } : { source };
      out += JSON.stringify({ at, ...where, stream, offset: p.offset, line: p.line, reason: p.reason, text: p.text }) + '\n';
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
