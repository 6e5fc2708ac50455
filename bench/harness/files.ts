import { readFileSync } from 'node:fs';
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
