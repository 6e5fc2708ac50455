import { boundSql, type Labels, type ParsedEvent } from '../../model/record.js';
import { FingerprintCache } from '../fingerprint-cache.js';
import { excerpt, type GuessingParser, type ParseOutput } from './types.js';

// Native JSON lines (README "Formats", jsonl): one object per line,
// {"ts":…,"state":"running"|"finished","id":…,"duration_ms":…,"sql":…,"db":…,"user":…}; unknown fields become labels.
// A line with "kind":"statement_stats" (written by `slowq probe --statements`) is not one execution but "calls"
// executions of a statement class in the interval ending at "ts", "duration_ms" their mean (model/record.ts).

const KNOWN = new Set(['ts', 'state', 'id', 'duration_ms', 'sql', 'db', 'user', 'host', 'lock_ms', 'rows_sent', 'rows_examined', 'kind', 'calls']);

export class JsonLinesParser implements GuessingParser {
  readonly format = 'jsonl';
  private readonly fingerprints = new FingerprintCache();

  line(text: string, offset: number, end: number, lineNo: number, out: ParseOutput): void {
    if (text.length === 0 || text.trim().length === 0) return;
    const problem = (reason: string): void => {
      out.problems.push({ offset, line: lineNo, reason, text: excerpt(text) });
    };
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (err) {
      problem(`not valid JSON: ${(err as Error).message}`);
      return;
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      problem('not a JSON object');
      return;
    }
    const o = obj as Record<string, unknown>;
    const ts = parseTs(o.ts);
    if (ts === undefined) return problem('missing or invalid "ts" (ISO time or epoch ms)');
    if (o.state !== 'running' && o.state !== 'finished') return problem('"state" must be "running" or "finished"');
    if ((typeof o.id !== 'string' || o.id.length === 0) && typeof o.id !== 'number') return problem('missing "id"');
    const durationMs = o.duration_ms;
    if (typeof durationMs !== 'number' || !Number.isFinite(durationMs) || durationMs < 0) {
      return problem('missing or invalid "duration_ms" (a number ≥ 0)');
    }
    if (o.sql !== undefined && typeof o.sql !== 'string') return problem('"sql" must be a string');
    if (o.kind !== undefined && o.kind !== 'statement_stats') return problem('"kind" must be "statement_stats" when given');
    const calls = o.calls;
    if (o.kind !== undefined && (typeof calls !== 'number' || !Number.isSafeInteger(calls) || calls < 1)) {
      return problem('a statement_stats line needs "calls", a whole number ≥ 1');
    }
    const sql = boundSql(typeof o.sql === 'string' ? o.sql : '');
    const fp = this.fingerprints.get(sql);
    const ev: ParsedEvent = {
      state: o.state,
      queryId: String(o.id),
      ts,
      durationMs,
      sql,
      fingerprint: fp.fingerprint,
      fingerprintId: fp.fingerprintId,
      offset,
      end,
    };
    if (typeof o.db === 'string') ev.db = o.db;
    if (typeof o.user === 'string') ev.user = o.user;
    if (typeof o.host === 'string') ev.host = o.host;
    if (typeof o.lock_ms === 'number') ev.lockMs = o.lock_ms;
    if (typeof o.rows_sent === 'number') ev.rowsSent = o.rows_sent;
    if (typeof o.rows_examined === 'number') ev.rowsExamined = o.rows_examined;
    if (o.kind === 'statement_stats') {
      ev.kind = 'statement_stats';
      ev.calls = calls as number;
    }
    let labels: Labels | undefined;
    for (const key in o) {
      if (KNOWN.has(key)) continue;
      const v = o[key];
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') (labels ??= {})[key] = v;
    }
    if (labels) ev.labels = labels;
    out.events.push(ev);
  }

  flush(): void {}
  context(): unknown {
    return undefined;
  }
  restore(): void {}

  // a line is read alone: any start is as good as the real one
  guessStart(): void {}
  guesses(): undefined {
    return undefined;
  }
  settle(): undefined {
    return undefined;
  }
  guessedOffsets(): number[] {
    return [];
  }
}

/** Largest time a Date holds (±100,000,000 days around 1970): beyond it a record's time is nonsense. */
const MAX_TS = 8.64e15;

function parseTs(v: unknown): number | undefined {
  // An absurd time would become the source's event-time watermark and make every running query look stalled.
  if (typeof v === 'number') return Number.isFinite(v) && Math.abs(v) <= MAX_TS ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}
