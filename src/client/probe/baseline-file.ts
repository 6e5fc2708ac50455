// The statement statistics' last counters in a JSON file (replaced atomically), so a probe restart diffs
// against what it last wrote instead of starting a new baseline and losing the interval it was down.
// A file that cannot be read as one is reported and set aside: the next poll becomes a new baseline.

import { readTextIfExists, setAsideCorrupt, writeFileAtomic } from '../../durable/atomic-file.js';
import type { BaselineStore } from './probe.js';
import type { StatementBaseline, StatementCounters } from './statement-stats.js';

interface BaselineJson {
  version: 1;
  atMs: number;
  resetMs?: number;
  entries: StatementCounters[];
}

export class BaselineFile implements BaselineStore {
  constructor(
    readonly path: string,
    private readonly warn: (msg: string) => void,
    private readonly fsync = true,
  ) {}

  async load(): Promise<StatementBaseline | undefined> {
    const text = await readTextIfExists(this.path);
    if (text === undefined) return undefined;
    const b = parseBaseline(text);
    if (typeof b === 'string') {
      const aside = await setAsideCorrupt(this.path).catch(() => undefined);
      this.warn(`${this.path}: ${b}; ${aside ? `moved to ${aside}` : 'could not be moved aside'}, the next read of the statistics starts a new baseline`);
      return undefined;
    }
    return b;
  }

  async save(b: StatementBaseline): Promise<void> {
    const json: BaselineJson = { version: 1, atMs: b.atMs, entries: [...b.byKey.values()] };
    if (b.resetMs !== undefined) json.resetMs = b.resetMs;
    await writeFileAtomic(this.path, JSON.stringify(json), this.fsync);
  }
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** The baseline in `text`, or what is wrong with it. */
export function parseBaseline(text: string): StatementBaseline | string {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (err) {
    return `not JSON (${(err as Error).message})`;
  }
  const j = o as Partial<BaselineJson> | null;
  if (!j || typeof j !== 'object' || j.version !== 1 || !isNum(j.atMs) || !Array.isArray(j.entries)) return 'not a statement statistics baseline of version 1';
  if (j.resetMs !== undefined && !isNum(j.resetMs)) return 'resetMs is not a number';
  const byKey = new Map<string, StatementCounters>();
  for (const [i, e] of j.entries.entries()) {
    const c = e as Partial<StatementCounters> | null;
    if (!c || typeof c.key !== 'string' || typeof c.serverQueryId !== 'string' || typeof c.text !== 'string' || !isNum(c.calls) || !isNum(c.totalMs) || !isNum(c.rows)) {
      return `entries[${i}] is not a statement class's counters`;
    }
    const kept: StatementCounters = { key: c.key, serverQueryId: c.serverQueryId, text: c.text, calls: c.calls, totalMs: c.totalMs, rows: c.rows };
    if (typeof c.db === 'string') kept.db = c.db;
    if (typeof c.user === 'string') kept.user = c.user;
    byKey.set(c.key, kept);
  }
  const b: StatementBaseline = { atMs: j.atMs, byKey };
  if (j.resetMs !== undefined) b.resetMs = j.resetMs;
  return b;
}
