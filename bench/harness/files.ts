import { readFileSync, readSync } from 'node:fs';
import { LineSplitter } from '../../src/formats/line-splitter.js';
import type { Alert } from '../../src/model/record.js';

// Reading what running services write: JSON lines files (alerts.jsonl, dead letters) and the stats.json files
// they rewrite now and then, all of them possibly mid-write while read.

/**
 * The records of a JSON lines file ([] while it does not exist). A last line without its newline is being
 * written: it counts only if it parses already. Any other line that does not parse throws (the services
 * never leave one: a line torn by a crash is cut off when they start again).
 */
export function readJsonLines<T>(path: string): T[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const lines = text.split('\n');
  const last = lines.pop()!; // '' when the file ends with a newline
  const out: T[] = [];
  for (const line of lines) if (line.trim()) out.push(JSON.parse(line) as T);
  if (last.trim()) {
    try {
      out.push(JSON.parse(last) as T);
    } catch {
      // still being written
    }
  }
  return out;
}

export function readAlerts(path: string): Alert[] {
  return readJsonLines<Alert>(path);
}

/** A JSON file's content, or undefined while it is missing or caught mid-write (a stats file). */
export function readJson<T = Record<string, number>>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/**
 * The complete lines appended to an open file from a byte offset on, as they come (alerts.jsonl while a latency run
 * writes it): each read() hands over the lines completed since the last; a line still being written waits for its
 * newline. A line over 64 MiB is not an alert: it throws, naming where it is.
 */
export class AppendedLines {
  private readonly splitter: LineSplitter;
  private readonly buf = Buffer.allocUnsafe(1 << 20);

  constructor(private readonly fd: number, from: number, private readonly name: string) {
    this.splitter = new LineSplitter(from, 64 << 20);
  }

  read(line: (text: string) => void): void {
    const sink = {
      line,
      oversize: (offset: number, end: number) => {
        throw new Error(`${this.name}: a line of ${end - offset} bytes at byte ${offset}`);
      },
    };
    for (;;) {
      // the splitter has taken every byte up to here: its complete lines, and the start of one still being written
      const got = readSync(this.fd, this.buf, 0, this.buf.length, this.splitter.offset + this.splitter.pendingLength);
      if (got === 0) return;
      this.splitter.push(this.buf.subarray(0, got), sink);
    }
  }
}
