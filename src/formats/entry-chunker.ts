import { LineSplitter, type ByteLineSink } from './line-splitter.js';
import { CsvLogCuts } from './parsers/postgres-csv-cuts.js';
import { EveryLineCuts } from './parsers/every-line-cuts.js';
import { MySqlSlowCuts } from './parsers/mysql-slow-cuts.js';
import type { ParserOptions } from './parsers/index.js';
import { shippedPrefixProblem } from './parsers/postgres.js';
import { CHUNK_FORMATS } from '../wire/limits.js';

// Cuts a log's bytes into entry-aligned chunks without parsing them: what the client ships in `--ship chunks`
// mode (design B: the consumer parses, src/formats/chunk-parse.ts). Lines are found as the parsers find them
// (line-splitter.ts, the same limit on a line's length), and a format's cut rule (parsers/mysql-slow-cuts.ts)
// says before which lines a chunk may end. A chunk ends at the first good cut past `targetBytes`; when the reader
// has caught up with the file (caughtUp), at the last good cut, so that a quiet log is not held back; when the
// file has been idle, after the last line if the entry it ends is complete (what the record path's idle flush
// emits); at the end of a file that ended (rotated or deleted), everything, marked `eof`.

/** Bytes from..to of a file, cut where a chunk may end. */
export interface RawChunk {
  from: number;
  to: number;
  bytes: Buffer;
  /** the file ended: the last line may lack its newline and the parser flushes everything (flush(true)) */
  eof: boolean;
  /** the file went quiet after it (idle()): the parser emits what the record path's idle flush emits (flush(false)) */
  quiet: boolean;
  /** the line number at `to` (lines up to and including the chunk's last) */
  line: number;
}

/** Where a format's chunks may end (see parsers/mysql-slow-cuts.ts). */
export interface EntryCuts {
  /** the next line; true if a chunk may end just before it */
  line(buf: Buffer, s: number, t: number, offset: number, end: number): boolean;
  /** a chunk may end just after the last line given */
  cuttableNow(): boolean;
  /** a chunk ended just after the last line given */
  cutAfterLast(): void;
  /**
   * When the file is quiet and cuttableNow() is false: true, the chunk ends before the last line (its parser's
   * flush(false) gives the same there: postgres-csv-cuts.ts), or after it when that line is all there is; absent,
   * nothing is shipped until more comes.
   */
  readonly idleBeforeLastLine?: boolean;
}

/**
 * Throws, saying why, if `format` with `options` cannot be shipped as raw chunks: a format with no cut rule, or a
 * log_line_prefix a consumer would refuse to parse (postgres.ts shippedPrefixProblem). Clients ask at start.
 */
export function checkShippable(format: string, options: ParserOptions): void {
  entryCutsFor(format);
  const problem = format === 'postgres' && options.logLinePrefix !== undefined ? shippedPrefixProblem(options.logLinePrefix) : undefined;
  if (problem !== undefined) throw new Error(problem);
}

export function entryCutsFor(format: string): EntryCuts {
  if (format === 'mysql-slow') return new MySqlSlowCuts();
  if (format === 'postgres-csv') return new CsvLogCuts();
  if (format === 'jsonl' || format === 'postgres' || format === 'postgres-json') return new EveryLineCuts();
  throw new Error(`format "${format}" cannot be shipped as raw chunks (only ${CHUNK_FORMATS.join(', ')}); ship records instead`);
}

/**
 * Stores of chunks that were shipped, given back once acked (recycleChunk), for the next chunks of this process.
 * Memory that is new to the process costs its page faults when first written, and on a VM they are dear: copying
 * the file into a fresh store per chunk was 20% of the client's CPU (bench e2e, design B, --cpu-prof). A store
 * is given back only when nothing can read it any more (see recycleChunk); at most 8 of the usual size are kept (a few are enough: acks come back while the next chunks are cut).
 */
const spareStores: Buffer[] = [];
/** the stores chunkers allocated: only those are ever taken back */
const ownStores = new WeakSet<ArrayBuffer>();
const SPARE_MAX = 8;

/**
 * The bytes of a shipped chunk will never be read again (acked, after being sent exactly once: ZeroMQ, which
 * sends a large buffer without copying it, wrote all of it before the consumer could ack it): its store may hold the
 * next chunks. Bytes that are not a whole store of a chunker are left alone.
 */
export function recycleChunk(bytes: Buffer): void {
  const store = bytes.buffer;
  if (bytes.byteOffset !== 0 || !(store instanceof ArrayBuffer) || !ownStores.has(store) || spareStores.length >= SPARE_MAX) return;
  ownStores.delete(store); // never taken twice
  spareStores.push(Buffer.from(store));
}

/** A store of `size` bytes: a spare one of that size, or a new one. */
function newStore(size: number): Buffer {
  for (let i = spareStores.length - 1; i >= 0; i--) {
    if (spareStores[i]!.length === size) {
      const s = spareStores.splice(i, 1)[0]!;
      ownStores.add(s.buffer as ArrayBuffer);
      return s;
    }
  }
  const s = Buffer.allocUnsafeSlow(size); // its own memory, not a slice of the shared pool
  ownStores.add(s.buffer as ArrayBuffer);
  return s;
}

/** A chunk's size when nothing else cuts it (a good cut past this many bytes ends it). */
export const DEFAULT_CHUNK_TARGET_BYTES = 512 * 1024;

export interface EntryChunkerInit {
  format: string;
  /** byte offset of the first byte pushed (a cut: the start of the file or a resume point) */
  offset: number;
  /** lines before it */
  line: number;
  maxLineBytes?: number;
  /** see DEFAULT_CHUNK_TARGET_BYTES */
  targetBytes?: number;
  /** no chunk is longer: past it with no good cut, a chunk is cut at a line's end anyway (counted as forced) */
  maxBytes: number;
}

export class EntryChunker {
  private readonly cuts: EntryCuts;
  private readonly splitter: LineSplitter;
  private readonly sink: ByteLineSink;
  private readonly targetBytes: number;
  private readonly maxBytes: number;
  /** bytes pushed and not shipped yet: [start, start + held) of the file, store[0, held) (one copy of each byte) */
  private store: Buffer;
  private held = 0;
  private start: number;
  private lineNo: number;
  /** the last good cut past `start` (-1: none), and the lines before it */
  private boundary = -1;
  private boundaryLine = 0;
  private out: RawChunk[] = [];
  /** cuts made with no good cut in reach (an entry longer than maxBytes) */
  forced = 0;

  constructor(init: EntryChunkerInit) {
    this.cuts = entryCutsFor(init.format);
    this.splitter = new LineSplitter(init.offset, init.maxLineBytes);
    this.start = init.offset;
    this.lineNo = init.line;
    this.targetBytes = init.targetBytes ?? DEFAULT_CHUNK_TARGET_BYTES;
    this.maxBytes = init.maxBytes;
    this.store = newStore(this.storeSize(0));
    this.sink = {
      lineBytes: (buf, s, t, offset, end) => {
        const before = this.lineNo++;
        if (!this.cuts.line(buf, s, t, offset, end) || offset <= this.start) return;
        this.boundary = offset;
        this.boundaryLine = before;
        if (offset - this.start >= this.targetBytes) this.cutAt(offset, before, false);
      },
      oversize: () => {
        this.lineNo++;
      },
    };
  }

  /** The first byte not shipped yet. */
  get offset(): number {
    return this.start;
  }

  /** Bytes held back, not shipped yet. */
  get pending(): number {
    return this.held;
  }

  /** The next bytes of the file (`chunk` may be reused by the caller); chunks that end go to `out`. */
  push(chunk: Buffer, out: RawChunk[]): void {
    this.out = out;
    let at = 0;
    while (at < chunk.length) {
      // never more than maxBytes held: an entry that long is cut where a line ends (or, one line that long, anywhere)
      const room = Math.max(1, this.start + this.maxBytes - (this.start + this.held));
      const piece = chunk.subarray(at, at + room);
      at += piece.length;
      if (this.held + piece.length > this.store.length) this.store = this.moved(this.store.subarray(0, this.held), this.held + piece.length);
      piece.copy(this.store, this.held);
      this.held += piece.length;
      this.splitter.pushBytes(piece, this.sink);
      if (this.held >= this.maxBytes) this.force();
    }
  }

  /** The reader has caught up with the file: ship what ends at the last good cut. */
  caughtUp(out: RawChunk[]): void {
    this.out = out;
    if (this.boundary > this.start) this.cutAt(this.boundary, this.boundaryLine, false);
  }

  /** The file has been quiet: ship everything up to the last line if the entry there is complete. */
  idle(out: RawChunk[]): void {
    this.out = out;
    const end = this.splitter.offset;
    if (end <= this.start) return;
    if (!this.cuts.cuttableNow()) {
      if (!this.cuts.idleBeforeLastLine) return;
      if (this.boundary > this.start) return this.cutAt(this.boundary, this.boundaryLine, false, true);
    }
    this.cutAt(end, this.lineNo, false, true);
    this.cuts.cutAfterLast();
  }

  /**
   * No more data. `complete` (the file ended): everything, a last line without its newline too, as an `eof` chunk.
   * Otherwise (truncated under us) what idle() would ship; the rest is dropped, as the record path drops it.
   */
  finish(complete: boolean, out: RawChunk[]): void {
    this.out = out;
    if (!complete) return this.idle(out);
    this.splitter.finishBytes(this.sink);
    if (this.held > 0) this.cutAt(this.start + this.held, this.lineNo, true);
  }

  /** Held bytes reached maxBytes: cut at the last good cut, else at the last line's end, else anywhere. */
  private force(): void {
    if (this.boundary > this.start) return this.cutAt(this.boundary, this.boundaryLine, false);
    this.forced++;
    const lineEnd = this.splitter.offset;
    if (lineEnd > this.start) {
      this.cutAt(lineEnd, this.lineNo, false);
      this.cuts.cutAfterLast();
      return;
    }
    // one line longer than maxBytes (the splitter skips it as too long): its bytes go as they are
    this.cutAt(this.start + this.held, this.lineNo, false);
  }

  /**
   * A chunk of most of the store takes its bytes as they are, and what follows (a part of an entry, usually small)
   * moves to a new store; a small chunk (cut when the reader caught up with a live log) is copied out instead.
   */
  private cutAt(to: number, line: number, eof: boolean, quiet = false): void {
    const n = to - this.start;
    if (n * 4 < this.store.length) {
      const bytes = Buffer.allocUnsafe(n);
      this.store.copy(bytes, 0, 0, n);
      this.out.push({ from: this.start, to, bytes, eof, quiet, line });
      this.store.copy(this.store, 0, n, this.held);
    } else {
      this.out.push({ from: this.start, to, bytes: this.store.subarray(0, n), eof, quiet, line });
      this.store = this.moved(this.store.subarray(n, this.held), 0);
    }
    this.held -= n;
    this.start = to;
    if (this.boundary <= to) this.boundary = -1;
  }

  /** A new store holding `bytes`, with room for at least `need` bytes. */
  private moved(bytes: Buffer, need: number): Buffer {
    const store = newStore(this.storeSize(Math.max(need, bytes.length)));
    bytes.copy(store, 0);
    return store;
  }

  /** Room for a chunk of the target size and a read or two past it, doubled when an entry needs more. */
  private storeSize(need: number): number {
    let size = Math.min(this.maxBytes, this.targetBytes + 256 * 1024);
    while (size < need) size *= 2;
    return size;
  }
}
