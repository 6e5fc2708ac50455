import type { ParsedEvent } from '../model/record.js';
import { ChunkReader } from './chunk-reader.js';
import { createParser, type ParserOptions } from './parsers/index.js';
import { isGuessingParser, newParseOutput, NOT_SETTLED, rejectBadEvents, type ParseOutput, type ParseProblem, type RecordParser } from './parsers/types.js';

// Parses one entry-aligned chunk of a log (entry-chunker.ts cut it) from the context the previous chunk of its
// stream left: what a consumer does with a `chunk` request (design B). Chunk after chunk, with the context carried,
// this gives the records one sequential parse of the file gives (test/chunk-differential.test.ts).

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

  /** `bytes` parsed from `start`; `eof`: the file ended with it (a last line without its newline is one, everything is flushed). */
  parse(format: string, options: ParserOptions, bytes: Buffer, start: ChunkStart, eof: boolean, maxLineBytes = CHUNK_MAX_LINE_BYTES): ChunkParse {
    const parser = this.parser(format, options);
    parser.restore(start.context);
    return this.run(parser, bytes, start, eof, maxLineBytes);
  }

  /**
   * parse() from where the chunk's stream will stand at its turn, not known yet but for its byte `offset`: lines
   * are counted from 0, and what the parse takes from that start is written down for settle() (undefined: the
   * format cannot be parsed so: parsers/index.ts canGuessStart()).
   */
  guess(format: string, options: ParserOptions, bytes: Buffer, offset: number, eof: boolean, maxLineBytes = CHUNK_MAX_LINE_BYTES): ChunkParse | undefined {
    const parser = this.parser(format, options);
    if (!isGuessingParser(parser)) return undefined;
    parser.guessStart();
    const parsed = this.run(parser, bytes, { offset, line: 0, context: undefined }, eof, maxLineBytes);
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

  private run(parser: RecordParser, bytes: Buffer, start: ChunkStart, eof: boolean, maxLineBytes: number): ChunkParse {
    const out: ParseOutput = newParseOutput();
    // events are checked as they come, while their lines are among the last the reader remembers (as the harvester does)
    let checked = 0;
    const check = (): void => {
      if (out.events.length > checked) rejectBadEvents(out, checked, (ev) => reader.lineAt(ev.end));
      checked = out.events.length;
    };
    const reader: ChunkReader = new ChunkReader(parser, { offset: start.offset, line: start.line, maxLineBytes, out, onEvents: check });
    reader.push(bytes);
    let cutInEntry = false;
    if (eof) {
      reader.finish();
      parser.flush(true, out);
    } else {
      parser.flush(false, out);
      // a good cut leaves the parser between entries: its context then holds everything the next chunk needs
      if (!isIdle(parser)) {
        cutInEntry = true;
        parser.flush(true, out);
      }
    }
    check();
    return { events: out.events, problems: out.problems, skipped: out.skipped, line: reader.lines, context: parser.context(), cutInEntry };
  }

  private parser(format: string, options: ParserOptions): RecordParser {
    const key = `${format}\u0000${options.logTimeZone ?? ''}`;
    let p = this.parsers.get(key);
    if (!p) {
      p = createParser(format, options);
      this.parsers.set(key, p);
    }
    return p;
  }
}

/** The parser holds no part of an entry (parsers that can say so: mysql-slow-bytes.ts). */
function isIdle(p: RecordParser): boolean {
  const idle = (p as { idle?: () => boolean }).idle;
  return typeof idle === 'function' ? idle.call(p) : true;
}
