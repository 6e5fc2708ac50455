import type { Readable } from 'node:stream';
import { LineSplitter } from '../client/line-splitter.js';
import { createParser, type ParserOptions } from '../client/parsers/index.js';
import { newParseOutput, type ParseProblem } from '../client/parsers/types.js';
import { openInput } from '../client/read-file.js';
import { Digest } from './digest.js';

// Reads a whole log (a file, `.gz`/`.bz2` decompressed by name, or `-` for standard input) through the parser
// of its format into a Digest. Its own read loop rather than parseFile(): a digest is a batch job that must
// see giant statements whole (mysqldump's one-line multi-row INSERTs run to megabytes), so its line limit is
// much larger than the tailer's.

export interface DigestFileOptions {
  /** longest line kept (longer ones are reported and skipped) */
  maxLineBytes?: number;
  /** settings of the format (e.g. postgres log_line_prefix) */
  parser?: ParserOptions;
  onProblem?: (p: ParseProblem) => void;
}

export interface DigestFileResult {
  digest: Digest;
  events: number;
  problems: number;
  skipped: number;
  lines: number;
  bytes: number;
}

export const DIGEST_MAX_LINE_BYTES = 64 << 20;

export async function digestFile(path: string, format: string, opts: DigestFileOptions = {}): Promise<DigestFileResult> {
  const input: Readable = path === '-' ? process.stdin : openInput(path);
  return digestStream(input, format, opts);
}

export async function digestStream(input: AsyncIterable<unknown>, format: string, opts: DigestFileOptions = {}): Promise<DigestFileResult> {
  const parser = createParser(format, opts.parser);
  const digest = new Digest();
  const out = newParseOutput();
  const onProblem = opts.onProblem ?? (() => {});
  const result: DigestFileResult = { digest, events: 0, problems: 0, skipped: 0, lines: 0, bytes: 0 };
  const splitter = new LineSplitter(0, opts.maxLineBytes ?? DIGEST_MAX_LINE_BYTES);
  const drain = (): void => {
    for (const ev of out.events) digest.add(ev);
    result.events += out.events.length;
    out.events.length = 0;
    for (const p of out.problems) onProblem(p);
    result.problems += out.problems.length;
    out.problems.length = 0;
    result.skipped += out.skipped;
    out.skipped = 0;
  };
  const sink = {
    line: (text: string, offset: number, end: number): void => {
      result.lines++;
      parser.line(text, offset, end, result.lines, out);
    },
    oversize: (offset: number, end: number): void => {
      result.lines++;
      out.problems.push({ offset, line: result.lines, reason: `line of ${end - offset} bytes is over the limit; skipped`, text: '' });
    },
  };
  for await (const chunk of input) {
    const buf = chunk as Buffer;
    result.bytes += buf.length;
    splitter.push(buf, sink);
    drain();
  }
  splitter.finish(sink);
  parser.flush(true, out);
  drain();
  return result;
}
