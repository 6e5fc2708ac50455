import type { Readable } from 'node:stream';
import type { ParserOptions } from '../formats/parsers/index.js';
import type { ParseProblem } from '../formats/parsers/types.js';
import { openInput, parseStream } from '../formats/read-file.js';
import { Digest } from './digest.js';

// Reads a whole log (a file, `.gz`/`.bz2` decompressed by name, or `-` for standard input) through the parser
// of its format into a Digest. A digest is a batch job that must see giant statements whole (mysqldump's
// one-line multi-row INSERTs run to megabytes), so its line limit is much larger than the tailer's.

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
  const digest = new Digest();
  const summary = await parseStream(input, format, (events) => {
    for (const ev of events) digest.add(ev);
  }, opts.onProblem, opts.parser, opts.maxLineBytes ?? DIGEST_MAX_LINE_BYTES);
  return { digest, ...summary };
}
