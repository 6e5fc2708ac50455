import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { ParsedEvent } from '../model/record.js';
import { bunzip2 } from './bunzip2.js';
import { ChunkReader } from './chunk-reader.js';
import { createParser, type ParserOptions } from './parsers/index.js';
import { newParseOutput, rejectBadEvents, type ParseOutput, type ParseProblem } from './parsers/types.js';

// Whole-file parsing for `slowq parse`, `digest` and `evaluate` (not for tailing: see tailer.ts).
// Compressed files are read through a decompressor chosen by the file name; offsets are then offsets
// in the decompressed text.

export interface FileParseSummary {
  events: number;
  problems: number;
  skipped: number;
  bytes: number;
  lines: number;
}

/** bytes parsed between two hand-overs of events */
const DRAIN_BYTES = 1 << 16;

/** Opens a file as a byte stream, decompressing `.gz` (and whatever else is registered) on the way. */
export function openInput(path: string): Readable {
  const raw = createReadStream(path, { highWaterMark: 1 << 20 });
  if (path.endsWith('.gz')) return raw.pipe(createGunzip());
  if (path.endsWith('.bz2')) return bunzip2(raw, path);
  return raw;
}

/**
 * Streams a file through the parser for `format`; `onEvents` receives events in file order, in chunks
 * (the array is reused: copy what you keep). Problems are reported with the file's line numbers.
 */
export function parseFile(
  path: string,
  format: string,
  onEvents: (events: ParsedEvent[]) => void,
  onProblem: (p: ParseProblem) => void = () => {},
  parserOptions: ParserOptions = {},
  maxLineBytes?: number,
  reference = false,
): Promise<FileParseSummary> {
  return parseStream(openInput(path), format, onEvents, onProblem, parserOptions, maxLineBytes, reference);
}

/**
 * parseFile() over any byte stream (standard input, a decompressor, …). Lines over `maxLineBytes` (default 1 MiB)
 * are problems. `reference`: the line-at-a-time parser where a byte-level one replaced it (benchmarks, tests).
 */
export async function parseStream(
  input: AsyncIterable<unknown>,
  format: string,
  onEvents: (events: ParsedEvent[]) => void,
  onProblem: (p: ParseProblem) => void = () => {},
  parserOptions: ParserOptions = {},
  maxLineBytes?: number,
  reference = false,
): Promise<FileParseSummary> {
  const parser = createParser(format, parserOptions, reference);
  const out: ParseOutput = newParseOutput();
  const summary: FileParseSummary = { events: 0, problems: 0, skipped: 0, bytes: 0, lines: 0 };
  const reader = new ChunkReader(parser, {
    offset: 0,
    line: 0,
    out,
    oversizeReason: (bytes) => `line of ${bytes} bytes is over the limit; skipped`,
    ...(maxLineBytes !== undefined ? { maxLineBytes } : {}),
  });
  const lineOf = (ev: ParsedEvent): number => reader.lineAt(ev.end);
  const drain = () => {
    if (out.events.length > 0) rejectBadEvents(out, 0, lineOf);
    if (out.events.length > 0) {
      summary.events += out.events.length;
      onEvents(out.events);
      out.events.length = 0;
    }
    for (const p of out.problems) onProblem(p);
    summary.problems += out.problems.length;
    out.problems.length = 0;
    summary.skipped += out.skipped;
    out.skipped = 0;
  };
  for await (const chunk of input) {
    const buf = chunk as Buffer;
    summary.bytes += buf.length;
    // read in large chunks (fewer waits on the thread pool), parsed and drained 64 KiB at a time (events handed
    // on young: a whole chunk's worth would outlive a scavenge and be copied into the old generation)
    for (let at = 0; at < buf.length; at += DRAIN_BYTES) {
      reader.push(at === 0 && buf.length <= DRAIN_BYTES ? buf : buf.subarray(at, at + DRAIN_BYTES));
      drain();
    }
  }
  reader.finish();
  parser.flush(true, out);
  drain();
  summary.lines = reader.lines;
  return summary;
}
