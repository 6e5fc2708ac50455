import type { Alert, QueryRecord } from '../model/record.js';
import { stampRecords, toWire } from '../model/record.js';
import { chunkEnd, ChunkParsers, type ChunkParse, type ChunkStart } from '../formats/chunk-parse.js';
import type { ParserOptions } from '../formats/parsers/index.js';
import type { ChunkHeader } from '../wire/protocol.js';
import { eventProblem, type ParseProblem } from '../formats/parsers/types.js';
import type { BatchResult, RulesEngine } from '../rules/engine.js';
import type { ChunkMark } from '../rules/rules.js';
import type { AheadTicket, ParsedAhead } from './parse-ahead.js';

// A raw chunk of a log (`chunk`, design B: docs/delivery.md, "Raw chunks"): parsed here, from where its stream's
// previous chunk left the parser, then applied like a batch. A stream's chunks are numbered by byte: a chunk is
// bytes first-1..last of the file, and the stream's ChunkMark says how far its bytes were applied. So a chunk that
// comes again is a duplicate even if the client cut it differently the second time (after a restart it may cut a
// longer one from its last committed offset): what lies at or below the mark is skipped, the rest is parsed from the
// mark (every chunk ends where an entry ends, so the mark is always such a place). The records are numbered in
// the stream's record high-water mark (engine.streams) in parse order, and the mark with the parser's context is
// part of the source's state: a snapshot, a replay of the journal and a handoff all carry it.

export interface ChunkRequest {
  src: string;
  stream: string;
  /** seq of its first byte (the byte offset + 1) and of its last */
  first: number;
  last: number;
  eof: boolean;
  /** the file went quiet after it (what the record path's idle flush emits is emitted) */
  quiet: boolean;
  fmt: string;
  /** the log's time zone, '' for none */
  tz: string;
  /** `postgres` only: the server's log_line_prefix, '' for the default */
  pfx: string;
  bytes: Buffer;
}

/** What parsing a chunk takes besides its bytes. */
export type ChunkFormat = Pick<ChunkRequest, 'fmt' | 'tz' | 'pfx' | 'eof' | 'quiet'>;

/** The request a `chunk` message carries: its header's fields and its bytes. */
export function chunkRequest(h: ChunkHeader, bytes: Buffer): ChunkRequest {
  return { src: h.src, stream: h.stream, first: h.first, last: h.last, eof: h.eof === 1, quiet: h.quiet === 1, fmt: h.fmt, tz: h.tz, pfx: h.pfx ?? '', bytes };
}

/**
 * `bytes` of a chunk parsed from `start` into records: what the consumer's main thread does at a chunk's turn, and
 * a parse thread ahead of it (parse-worker.ts).
 */
export function parseChunkRecords(parsers: ChunkParsers, req: ChunkFormat, bytes: Buffer, start: ChunkStart): ParsedAhead {
  return asRecords(parsers.parse(req.fmt, parserOptions(req), bytes, start, chunkEnd(req.eof, req.quiet)));
}

/**
 * `bytes` of a chunk that starts at byte `offset` parsed from a start not known yet (a parse thread, ahead of the
 * chunks before it): settled against the real start at its turn (ChunkIntake.apply). Undefined if the format
 * cannot be parsed so.
 */
export function guessChunkRecords(parsers: ChunkParsers, req: ChunkFormat, bytes: Buffer, offset: number): ParsedAhead | undefined {
  const parsed = parsers.guess(req.fmt, parserOptions(req), bytes, offset, chunkEnd(req.eof, req.quiet));
  return parsed && asRecords(parsed);
}

function parserOptions(req: Pick<ChunkRequest, 'tz' | 'pfx'>): ParserOptions {
  const o: ParserOptions = {};
  if (req.tz) o.logTimeZone = req.tz;
  if (req.pfx) o.logLinePrefix = req.pfx;
  return o;
}

function asRecords(parsed: ChunkParse): ParsedAhead {
  const out: ParsedAhead = { records: parsed.events.map(toWire), problems: parsed.problems, line: parsed.line, context: parsed.context, cutInEntry: parsed.cutInEntry };
  if (parsed.guess) out.guess = parsed.guess;
  return out;
}

export interface ChunkResult extends BatchResult {
  /** bytes of the chunk at or below the mark (already applied) */
  dupBytes: number;
  /** the records applied (for the dashboard's class view) */
  records: QueryRecord[];
  problems: ParseProblem[];
  /** the chunk did not end where an entry ends (a client that cut it wrong): what it held was flushed */
  cutInEntry: boolean;
  /** what to journal, if anything was applied: the part of the chunk past the mark */
  journal?: { first: number; bytes: Buffer };
}

export class ChunkIntake {
  private readonly parsers = new ChunkParsers();

  /**
   * Parses and applies `req` (throws, applying nothing, for a format or time zone it cannot parse in). `ahead`: the
   * chunk's parse done in a parse thread, used if it started from where the stream stands now (else it is parsed here).
   */
  apply(engine: RulesEngine, req: ChunkRequest, alerts: Alert[], ahead?: AheadTicket): ChunkResult {
    const state = engine.source(req.src);
    const markNow = state.chunks.get(req.stream);
    const mark: ChunkMark = markNow ?? { end: 0, line: 0 };
    const from = req.first - 1;
    const hwm = state.streams.get(req.stream) ?? 0;
    const none: ChunkResult = { applied: 0, duplicates: 0, late: 0, last: mark.end, dupBytes: 0, records: [], problems: [], cutInEntry: false };
    if (from > mark.end) return { ...none, gapExpected: mark.end + 1 };
    if (req.last <= mark.end) return { ...none, dupBytes: req.last - from };
    const skip = mark.end - from;
    const bytes = skip > 0 ? req.bytes.subarray(skip) : req.bytes;
    const start: ChunkStart = { offset: mark.end, line: mark.line, context: mark.context };
    const usable = ahead?.usable(markNow);
    const early = this.settled(req, usable, start);
    if (ahead && usable && !early) ahead.notHeld = true;
    const parsed = early ?? parseChunkRecords(this.parsers, req, bytes, start);
    const records = stampRecords(parsed.records, req.src, req.stream, hwm + 1);
    const r = engine.applyBatch(req.src, req.stream, records, alerts);
    const next: ChunkMark = { end: req.last, line: parsed.line };
    if (parsed.context !== undefined) next.context = parsed.context;
    state.chunks.set(req.stream, next);
    if (ahead && early) ahead.appliedMark = next;
    return { ...r, last: req.last, dupBytes: skip, records, problems: parsed.problems, cutInEntry: parsed.cutInEntry, journal: { first: mark.end + 1, bytes } };
  }

  /**
   * A parse done ahead, as parsing at `start` would have made it: a guessed start settled against it (its records'
   * times and ids that hang on the start made again), or undefined if the guess did not hold.
   */
  private settled(req: ChunkRequest, ahead: ParsedAhead | undefined, start: ChunkStart): ParsedAhead | undefined {
    if (ahead?.guess === undefined) return ahead;
    const { records } = ahead;
    const at = this.parsers.settle(req.fmt, parserOptions(req), { ...ahead, guess: ahead.guess }, start, (i, ts, queryId) => {
      const r = records[i];
      if (r === undefined) return false;
      if (ts !== undefined) r.ts = ts;
      r.queryId = queryId;
      // what the parse would have refused with this time or id: then parse it again
      return eventProblem(r) === undefined;
    });
    return at && { records, problems: ahead.problems, line: at.line, context: at.context, cutInEntry: ahead.cutInEntry };
  }
}
