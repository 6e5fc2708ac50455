import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { packState } from './codec.js';

// Where a service sets aside what it cannot use from its own state: a journal entry or a part of a snapshot
// that does not pass its schema (well-formed and checksummed, but wrong: written by another version, planted,
// or a bug), or an alert its dispatcher could not handle. Each one is appended to `quarantine.jsonl` beside
// the state, with where it was, why, and its bytes, so nothing is dropped silently; it is reported once (the
// first few at warn level, then one line saying how many more); the caller counts it and goes on without it.
//
// A line of quarantine.jsonl: {"at": ISO time, "file"?, "entry"?, "offset"?, "what"?, "reason", "bytes": base64
// of the entry as it was stored (msgpack), "value"?: the decoded value as JSON when it has one}.

export const QUARANTINE_FILE = 'quarantine.jsonl';

/** What is set aside, and where it was. */
export interface SetAside {
  /** the file it was read from (journal-000003, snapshot-000002) */
  file?: string;
  /** its index among the file's entries, and the byte offset of its frame */
  entry?: number;
  offset?: number;
  /** which part, when not a whole entry (`open query 3 of source db-1`, `alert a1b2…`) */
  what?: string;
  reason: string;
  /** the stored bytes; when absent, `value` is packed as the state codec would */
  bytes?: Buffer;
  value?: unknown;
}

export interface QuarantineOptions {
  /** the report of one set-aside item (a warn-level log line) */
  report(msg: string, fields: object): void;
  /** items reported one by one before the rest are only summed up (default 20) */
  maxReports?: number;
}

export class Quarantine {
  readonly path: string;
  /** items set aside since the service started */
  count = 0;
  private reported = 0;
  private unreported = 0;

  constructor(dir: string, private readonly opts: QuarantineOptions) {
    this.path = join(dir, QUARANTINE_FILE);
  }

  /** Appends the item to quarantine.jsonl (durably) and reports it; never throws (a failure is reported instead). */
  setAside(item: SetAside): void {
    this.count++;
    let stored = `set aside in ${this.path}`;
    try {
      this.append(item);
    } catch (err) {
      stored = `could not be written to ${this.path} (${(err as Error).message}): it is lost`;
    }
    if (this.reported >= (this.opts.maxReports ?? 20)) {
      this.unreported++;
      return;
    }
    this.reported++;
    this.opts.report(`${where(item)}: ${item.reason}; ${stored}`, { quarantine: this.path });
  }

  /** Reports how many were set aside without a line of their own, if any (call after a replay). */
  summarise(): void {
    if (this.unreported === 0) return;
    this.opts.report(`${this.unreported} more entries set aside in ${this.path} (not reported one by one)`, { quarantine: this.path, count: this.unreported });
    this.unreported = 0;
  }

  private append(item: SetAside): void {
    let bytes: Buffer | undefined = item.bytes;
    if (!bytes && item.value !== undefined) {
      try {
        bytes = packState(item.value);
      } catch {
        bytes = undefined;
      }
    }
    const line: Record<string, unknown> = { at: new Date().toISOString() };
    if (item.file !== undefined) line.file = item.file;
    if (item.entry !== undefined) line.entry = item.entry;
    if (item.offset !== undefined) line.offset = item.offset;
    if (item.what !== undefined) line.what = item.what;
    line.reason = item.reason;
    if (bytes) line.bytes = bytes.toString('base64');
    if (item.value !== undefined) line.value = item.value;
    let text: string;
    try {
      text = JSON.stringify(line, jsonSafe);
    } catch {
      delete line.value;
      text = JSON.stringify(line);
    }
    mkdirSync(dirname(this.path), { recursive: true });
    const fd = openSync(this.path, 'a', 0o644);
    try {
      writeSync(fd, text + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

function where(item: SetAside): string {
  const parts: string[] = [];
  if (item.file !== undefined) parts.push(item.file);
  if (item.entry !== undefined) parts.push(`entry ${item.entry}`);
  if (item.offset !== undefined) parts.push(`at byte ${item.offset}`);
  if (item.what !== undefined) parts.push(item.what);
  return parts.join(' ') || 'an entry';
}

/** JSON for what msgpack decodes: binary as base64, big integers as text. */
function jsonSafe(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return { base64: Buffer.from(v).toString('base64') };
  if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
    return { base64: Buffer.from((v as { data: number[] }).data).toString('base64') };
  }
  return v;
}
