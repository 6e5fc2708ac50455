import { errorCode, isMissing } from './file-identity.js';
import type { TailerError, TailerSink } from './harvester.js';

// Trouble with files (not with their content) goes to the sink once per path and error code, so a file
// that stays unreadable is not reported again every poll. Opening the file clears what was said about it.

export class ErrorReporter {
  /** path → error codes already reported for it */
  private readonly reported = new Map<string, Set<string>>();

  constructor(private readonly sink: TailerSink) {}

  report(path: string, err: unknown, stream?: string): void {
    const code = errorCode(err);
    let codes = this.reported.get(path);
    if (!codes) this.reported.set(path, (codes = new Set()));
    if (codes.has(code)) return;
    codes.add(code);
    const e: TailerError = { path, code, message: `${path}: ${(err as Error)?.message ?? String(err)}` };
    if (stream) e.stream = stream;
    if (isMissing(err)) e.message = `${path}: vanished before it could be read`;
    this.sink.error?.(e);
  }

  /** The file at `path` opened: its next trouble is news again. */
  clear(path: string): void {
    this.reported.delete(path);
  }
}
