import type { ParsedEvent } from '../model/record.js';
import { ChunkReader, type RecentLines } from './chunk-reader.js';
import { createParser, type ParserOptions } from './parsers/index.js';
import { checkShippable } from './entry-chunker.js';
import { isGuessingParser, isStateCarryingParser, newParseOutput, NOT_SETTLED, rejectBadEvents, type ParseOutput, type ParseProblem, type RecordParser } from './parsers/types.js';

// Parses one entry-aligned chunk of a log (entry-chunker.ts cut it) from the context the previous chunk of its
// stream left: what a consumer does with a `chunk` request (design B). Chunk after chunk, with the context carried,
// this gives the records one sequential parse of the file gives (test/parser-differential.test.ts).
//
// How a chunk ends (ChunkEnd): where an entry ends (`cut`: entry-chunker.ts found a good cut, and flush(false) there
// changes nothing), where the file went quiet (`quiet`: what the record path's idle flush emits is emitted), or
// where the file ended (`eof`). A format whose parser carries its whole state (StateCarryingParser: PostgreSQL's)
// may be cut between any two lines: at a `cut` nothing is flushed, and the chunk's context is that whole state
// (with the ends of its last lines, to name the line of an event refused in the next chunk).

/** How a chunk ends: at a good cut, where the file went quiet, or where it ended. */
export type ChunkEnd = 'cut' | 'quiet' | 'eof';

/** The ChunkEnd a chunk's flags say. */
export function chunkEnd(eof: boolean, quiet: boolean): ChunkEnd {
  return eof ? 'eof' : quiet ? 'quiet' : 'cut';
}

/** Where a chunk's stream stood before it: what the previous chunk left. */
export interface ChunkStart {
  /** byte offset of the chunk's first byte */
  offset: number;
  /** lines before it */
  line: number;
  /** the parser's carry-over state there (undefined at the start of a file) */
  context: unknown;
}

export interface ChunkParse {
  events: ParsedEvent[];
  problems: ParseProblem[];
  skipped: number;
  /** lines up to the chunk's end, and the context there: the next chunk's start */
  line: number;
  context: unknown;
  /** the chunk did not end where an entry ends (a parser left holding part of one: it was flushed as if the file ended) */
  cutInEntry: boolean;
  /** parsed from a start not known yet (guess()): lines counted from 0, and what settle() needs */
  guess?: GuessedStart;
}

/** What a parse from an unknown start (ChunkParsers.guess) took from it: plain data, to cross to another thread. */
export interface GuessedStart {
  /** the parser's own account (GuessingParser.guesses()) */
  guesses: unknown;
  /** the index among the events of each event the settle makes again, in its order; -1: refused, cannot be */
  events: number[];
}

/** A guess held against the real start: where the chunk's stream stands after it. */
export interface SettledGuess {
  line: number;
  context: unknown;
}

/** The same line limit the client's reader has (tailer.ts): the lines are the same, so are the records. */
export const CHUNK_MAX_LINE_BYTES = 1 << 20;

/** One parser per format and options, reused chunk after chunk (its caches stay warm; restore() resets its state). */
export class ChunkParsers {
  private readonly parsers = new Map<string, RecordParser>();

  /** `bytes` parsed from `start`; at `eof` a last line without its newline is one, and everything is flushed. */
  parse(format: string, options: ParserOptions, bytes: Buffer, start: ChunkStart, end: ChunkEnd, maxLineBytes = CHUNK_MAX_LINE_BYTES): ChunkParse {
    const parser = this.parser(format, options);
    let recent: RecentLines | undefined;
    if (isStateCarryingParser(parser)) {
      const c = start.context as Partial<CarriedState> | undefined;
      parser.restoreState(c?.state);
      recent = recentLines(c?.lines);
    } else parser.restore(start.context);
    return this.run(parser, bytes, start, end, maxLineBytes, recent);
  }

  /**
   * parse() from where the chunk's stream will stand at its turn, not known yet but for its byte `offset`: lines
   * are counted from 0, and what the parse takes from that start is written down for settle() (undefined: the
   * format cannot be parsed so: parsers/index.ts canGuessStart()).
   */
  guess(format: string, options: ParserOptions, bytes: Buffer, offset: number, end: ChunkEnd, maxLineBytes = CHUNK_MAX_LINE_BYTES): ChunkParse | undefined {
    const parser = this.parser(format, options);
    if (!isGuessingParser(parser)) return undefined;
    parser.guessStart();
    const parsed = this.run(parser, bytes, { offset, line: 0, context: undefined }, end, maxLineBytes, undefined);
    const guesses = parser.guesses();
    parser.restore(undefined);
    // the events the settle may make again, found by their byte offsets (events come in file order)
    const index = new Map<number, number>();
    parsed.events.forEach((ev, i) => index.set(ev.offset, i));
    const events = parser.guessedOffsets(guesses).map((at) => index.get(at) ?? -1);
    return { ...parsed, guess: { guesses, events } };
  }

  /**
   * A guess() held against the chunk's real start, at its turn: `fix(i, ts, queryId)` gives the i-th event
   * (record) a time (undefined: kept) and id that hang on the start (false: it cannot take them), the problems' lines are counted
   * from `start.line`. Returns where the stream stands after the chunk, or undefined if the guess did not hold
   * (parse the chunk again: nothing it returned may be used).
   */
  settle(format: string, options: ParserOptions, guessed: Pick<ChunkParse, 'line' | 'context' | 'problems'> & { guess: GuessedStart }, start: ChunkStart, fix: (i: number, ts: number | undefined, queryId: string) => boolean): SettledGuess | undefined {
    const parser = this.parser(format, options);
    if (!isGuessingParser(parser)) return undefined;
    const { guesses, events } = guessed.guess;
    const context = parser.settle(guesses, start.context, guessed.context, (k, ts, queryId) => {
      const i = events[k] ?? -1;
      return i >= 0 && fix(i, ts, queryId);
    });
    if (context === NOT_SETTLED) return undefined;
    for (const p of guessed.problems) if (p.line > 0) p.line += start.line;
    return { line: start.line + guessed.line, context };
  }

  private run(parser: RecordParser, bytes: Buffer, start: ChunkStart, end: ChunkEnd, maxLineBytes: number, recent: RecentLines | undefined): ChunkParse {
    const out: ParseOutput = newParseOutput();
    // events are checked as they come, while their lines are among the last the reader remembers (as the harvester does)
    let checked = 0;
    const check = (): void => {
      if (out.events.length > checked) rejectBadEvents(out, checked, (ev) => reader.lineAt(ev.end));
      checked = out.events.length;
    };
    const reader: ChunkReader = new ChunkReader(parser, { offset: start.offset, line: start.line, maxLineBytes, out, onEvents: check, ...(recent && { recent }) });
    reader.push(bytes);
    let cutInEntry = false;
    const carrying = isStateCarryingParser(parser);
    if (end === 'eof') {
      reader.finish();
      parser.flush(true, out);
    } else if (!carrying || end === 'quiet') {
      parser.flush(false, out);
      // a good cut leaves the parser between entries: its context then holds everything the next chunk needs
      if (!carrying && !isIdle(parser)) {
        cutInEntry = true;
        parser.flush(true, out);
      }
    }
    check();
    const context: unknown = carrying ? ({ state: parser.state(), lines: reader.recentLines() } satisfies CarriedState) : parser.context();
    return { events: out.events, problems: out.problems, skipped: out.skipped, line: reader.lines, context, cutInEntry };
  }

  private parser(format: string, options: ParserOptions): RecordParser {
    const key = `${format}\u0000${options.logTimeZone ?? ''}\u0000${options.logLinePrefix ?? ''}`;
    let p = this.parsers.get(key);
    if (!p) {
      // what the client checked at its start, checked again: the format and prefix came from a client, and a prefix
      // whose lines could each cost seconds is refused (the chunk with it)
      checkShippable(format, options);
      p = createParser(format, options);
      // bounded: the time zone and prefix come from clients (the oldest made goes; it is only a cache)
      if (this.parsers.size >= MAX_PARSERS) this.parsers.delete(this.parsers.keys().next().value!);
      this.parsers.set(key, p);
    }
    return p;
  }
}

const MAX_PARSERS = 64;

/** A StateCarryingParser's chunk context: its state, and the ends of the last lines read (ChunkReader.recentLines). */
interface CarriedState {
  state: unknown;
  lines: RecentLines;
}

/** The recent lines of a context, if they are what recentLines() gave. */
function recentLines(v: unknown): RecentLines | undefined {
  if (!Array.isArray(v) || v.length > 1024) return undefined;
  for (const p of v) if (!Array.isArray(p) || p.length !== 2 || !Number.isSafeInteger(p[0]) || !Number.isSafeInteger(p[1])) return undefined;
  return v as RecentLines;
}

/** The parser holds no part of an entry (parsers that can say so: mysql-slow-bytes.ts). */
function isIdle(p: RecordParser): boolean {
  const idle = (p as { idle?: () => boolean }).idle;
  return typeof idle === 'function' ? idle.call(p) : true;
}
