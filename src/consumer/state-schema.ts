import type { OpenQuery } from '../rules/rules.js';
import { BUCKETS, CELLS, HISTORY_WINDOWS, MAX_CELL_COUNT, type OpenRegression, type PastWindow } from '../rules/regression.js';
import type { Candidates } from '../rules/source-clock.js';
import { alert } from '../wire/alert-schema.js';
import { MAX_TIME_MS } from '../model/bounds.js';
import { detail, duration, eventTime, fingerprint, fingerprintId, id, name, seq, sql } from '../wire/fields.js';
import { batchSpanProblem, chunkSpanProblem } from '../wire/header-schema.js';
import { CHUNK_FORMATS, MAX_ALERTS_PER_MESSAGE, MAX_LOG_LINE_PREFIX_CHARS } from '../wire/limits.js';
import { boolean, bytes, echo, fail, integer, listOf, object, oneOf, optional, pair, tagged, text, type Check } from '../wire/schema.js';
import type { ChunkMark } from '../rules/rules.js';
import type { ClassSnapshot, JournalEntry } from './state-codec.js';

// The consumer's durable state, checked when it is read back (state-codec.ts): journal entries with the wire's
// own checks (a batch entry's fields as its header's, its payload as a batch payload), and the snapshot's parts.

/** A source's time: a time, or ±Infinity before it has one (never NaN). */
const watermark: Check<number> = (v, path) => (typeof v === 'number' && !Number.isNaN(v) ? v : fail(path, `must be a number, got ${echo(v)}`));

/** a ring version */
const ringVersion = integer(1, Number.MAX_SAFE_INTEGER);

export const journalEntry: Check<JournalEntry> = tagged<JournalEntry>('k', {
  b: object({ k: oneOf(['b']), src: name, stream: name, first: seq, last: seq, payload: bytes }, (e) => batchSpanProblem(e.first, e.last)),
  c: object({
    k: oneOf(['c']), src: name, stream: name, first: seq, last: seq, eof: boolean, fmt: oneOf(CHUNK_FORMATS), tz: text({ max: 64 }),
    pfx: optional(text({ max: MAX_LOG_LINE_PREFIX_CHARS })), quiet: optional(boolean), bytes,
  },
    (e) => chunkSpanProblem(e.first, e.last) ?? (e.bytes.length === e.last - e.first + 1 ? undefined : `${e.bytes.length} bytes, first..last says ${e.last - e.first + 1}`)),
  a: object({ k: oneOf(['a']), ids: listOf(id, { max: MAX_ALERTS_PER_MESSAGE, what: 'id' }) }),
  o: object({ k: oneOf(['o']), src: name, ver: ringVersion, state: bytes }),
  x: object({ k: oneOf(['x']), src: name, ver: ringVersion }),
  i: object({ k: oneOf(['i']), src: name, ver: ringVersion, state: bytes }),
  r: object({ k: oneOf(['r']), ver: ringVersion }),
});

/** a source given up or received, and the ring version it was for (handoff.ts) */
export const handoffMark = pair(name, ringVersion);
/** a source given up whose new owner has not confirmed it: its state is kept */
export const outgoingState: Check<[string, number, Buffer]> = (v, path) => {
  if (!Array.isArray(v) || v.length !== 3) return fail(path, `must be [source, version, state], got ${echo(v)}`);
  return [name(v[0], `${path}[0]`), ringVersion(v[1], `${path}[1]`), bytes(v[2], `${path}[2]`)];
};

export const openQuery: Check<OpenQuery> = object({
  queryId: id,
  firstTs: eventTime,
  lastTs: eventTime,
  durationMs: duration,
  fired: boolean,
  sql,
  fingerprint,
  fingerprintId,
  db: optional(detail),
  user: optional(detail),
  host: optional(detail),
});

/** records ahead of a source's time awaiting confirmation (rules/source-clock.ts) */
export const clockCandidates: Check<Candidates> = object({
  first: object({ stream: name, seq: integer(0, Number.MAX_SAFE_INTEGER) }),
  count: integer(1, Number.MAX_SAFE_INTEGER),
  run: integer(0, Number.MAX_SAFE_INTEGER),
  minTs: eventTime,
  maxTs: eventTime,
  behind: integer(0, Number.MAX_SAFE_INTEGER),
});

/** an open regression of a query class (rules/regression.ts) */
const openRegression: Check<OpenRegression> = object({
  queryId: id,
  since: eventTime,
  fingerprint,
  sql,
  user: optional(detail),
  host: optional(detail),
});

/** a completed window of a class's history: its p95 bucket and its count */
const pastWindow: Check<PastWindow> = pair(integer(0, BUCKETS - 1), integer(1, Number.MAX_SAFE_INTEGER));

/** a cell's count at most: the window's sum of WINDOW_SLICES cells stays within 32 bits */

/** a class's non-zero cells as [cell, count] pairs, cells ascending (so at most CELLS pairs, none twice) */
const cells: Check<number[]> = (v, path) => {
  if (!Array.isArray(v) || v.length % 2 !== 0 || v.length > 2 * CELLS) return fail(path, `must be a list of at most ${CELLS} [cell, count] pairs, got ${echo(v)}`);
  let last = -1;
  for (let i = 0; i < v.length; i += 2) {
    const cell: unknown = v[i];
    const n: unknown = v[i + 1];
    if (typeof cell !== 'number' || !Number.isInteger(cell) || cell <= last || cell >= CELLS) fail(`${path}[${i}]`, `must be a cell from ${last + 1} to ${CELLS - 1}, got ${echo(cell)}`);
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_CELL_COUNT) fail(`${path}[${i + 1}]`, `must be a count from 1 to ${MAX_CELL_COUNT}, got ${echo(n)}`);
    last = cell as number;
  }
  return v as number[];
};

/** a flag that is only ever written as true */
const isTrue: Check<true> = (v, path) => (v === true ? true : fail(path, `must be true when present, got ${echo(v)}`));

/** a minute of event time */
const minute = integer(-Math.ceil(MAX_TIME_MS / 60_000), Math.ceil(MAX_TIME_MS / 60_000));

/** a query class of a source (rules/regression.ts, in the layout of state-codec.ts's ClassSnapshot) */
export const queryClass: Check<ClassSnapshot> = object({
  fingerprintId,
  db: optional(detail),
  statistics: optional(isTrue),
  head: minute,
  seen: minute,
  cells,
  history: listOf(pastWindow, { max: HISTORY_WINDOWS, what: 'window' }),
  open: optional(openRegression),
});

/** what a source's snapshot cannot be restored without (its lists are checked entry by entry) */
export const sourceHead = object({ name, watermark });
/** a query id that ended, and the source time it ended at */
export const doneQuery = pair(id, watermark);
/** a stream and the highest seq applied from it */
export const streamMark = pair(name, integer(0, Number.MAX_SAFE_INTEGER));
/** the parser's carry-over state: taken as it is (a parser's restore() ignores what it did not write) */
const parserContext: Check<unknown> = (v) => v;
/** a stream shipped as raw chunks, and how far its bytes were parsed (rules.ts ChunkMark) */
export const chunkMark: Check<[string, ChunkMark]> = pair(name, object({
  end: integer(0, Number.MAX_SAFE_INTEGER), line: integer(0, Number.MAX_SAFE_INTEGER), context: optional(parserContext),
}));
/** an alert waiting for the monitor's ack */
export const outboxAlert = alert;
