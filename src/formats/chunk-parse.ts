import type { ParsedEvent } from '../model/record.js';
import { ChunkReader } from './chunk-reader.js';
import { createParser, type ParserOptions } from './parsers/index.js';
import { newParseOutput, rejectBadEvents, type ParseOutput, type ParseProblem, type RecordParser } from './parsers/types.js';

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
