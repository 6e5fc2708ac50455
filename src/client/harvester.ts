import type { FileHandle } from 'node:fs/promises';
import type { ParsedEvent } from '../model/record.js';
import { HEAD_BYTES, readHead, statHandle, type FileStat } from './file-identity.js';
import { ChunkReader } from '../formats/chunk-reader.js';
import { CHUNK_MAX_LINE_BYTES } from '../formats/chunk-parse.js';
import { EntryChunker, type RawChunk } from '../formats/entry-chunker.js';
import { MAX_CHUNK_BYTES } from '../wire/limits.js';
import { newParseOutput, rejectBadEvents, type ParseOutput, type ParseProblem, type RecordParser } from '../formats/parsers/types.js';
import type { EndReason, ResumePoint } from './registry.js';

// Reads one open file, one stream (one file lifetime): bounded chunks → lines → parser → numbered events.
// It knows nothing of discovery or the registry: the tailer's modules decide when it reads, flushes,
// drains, moves, starts over or ends, and tell it through its methods; its state is read-only outside.

/** A stream as the sink sees it. `path` is where the file is now (it changes if the file is renamed). */
export interface StreamInfo {
  readonly id: string;
  readonly path: string;
}

/** A parsed event numbered in its stream, with what is needed to resume just after it. */
export interface TailedEvent extends ParsedEvent {
  seq: number;
  /** line number at `end` (the number of lines up to and including the event's last line; 0 if unknown) */
  line: number;
  /** the parser's carry-over state at `end` */
  context: unknown;
}

export interface TailProblem extends ParseProblem {
  path: string;
}

/** Trouble with a file (not with its content), reported once per file and kind. */
export interface TailerError {
  path: string;
  stream?: string;
  code: string;
  message: string;
}

/** Raw bytes of a stream cut where entries end (`--ship chunks`), with the line number at their end. */
export type TailedChunk = RawChunk;

export interface TailerSink {
  /** events of one stream, in file order; `context` is the parser state after the last of them */
  events(stream: StreamInfo, events: TailedEvent[], context: unknown): void;
  /** a stream shipped as raw chunks: its next chunks, in file order (its bytes are never parsed here) */
  chunks?(stream: StreamInfo, chunks: TailedChunk[]): void;
  /** malformed lines, with path, byte offset and line number */
  problems(stream: StreamInfo, problems: TailProblem[]): void;
  /** the stream's file was rotated away, deleted or truncated and everything in it has been emitted; no more events follow */
  ended(stream: StreamInfo): void;
  error?(err: TailerError): void;
}

/** The point to commit once chunk `c` is acked: its seqs count bytes (offset + 1). */
export function resumePointAfterChunk(c: TailedChunk): ResumePoint {
  return { offset: c.to, nextSeq: c.to + 1, line: c.line };
}

/** The point to commit once `ev` (the last event of an acked batch) is acked. */
export function resumePointAfter(ev: TailedEvent): ResumePoint {
  return { offset: ev.end, nextSeq: ev.seq + 1, line: ev.line, context: ev.context };
}

export interface HarvesterInit {
  info: StreamInfo;
  fh: FileHandle;
  key: string;
  start: ResumePoint;
  /** the file's first bytes as read when it was opened (up to HEAD_BYTES) */
  head: Buffer;
  size: number;
  mtimeMs: number;
  parser: RecordParser;
  sink: TailerSink;
  maxLineBytes: number;
  now: number;
  /** ship raw chunks of this format instead of parsed records (the parser is then not used) */
  chunksOf?: string;
}

/** A file renamed away or deleted: read until it has been quiet a while, then ended. */
export interface Draining {
  /** the watched path it was rotated away from (a new file there waits until this one ends) */
  readonly from: string;
  /** when draining began */
  readonly since: number;
  /** why it will end: renamed away, or deleted */
  readonly reason: EndReason;
}

/** What a harvester has read and emitted so far. */
export interface HarvestCounts {
  bytesRead: number;
  events: number;
  problems: number;
  skipped: number;
}

export class Harvester {
  /** the file's `dev:ino` */
  readonly key: string;

  private readonly stream: { readonly id: string; path: string };
  private readonly fh: FileHandle;
  /** next byte to read (past any held-back partial line) */
  private pos: number;
  /** seq the next event gets */
  private seq: number;
  /** file size and mtime at the last check */
  private size: number;
  private mtimeMs: number;
  private head: Buffer;
  /** `head` grew since the last takeGrownHead() */
  private headGrew = false;
  private lastData: number;
  /** the idle flush has been done since the last data */
  private idleFlushed = true;
  private drainState: Draining | undefined;
  private readonly counters: HarvestCounts = { bytesRead: 0, events: 0, problems: 0, skipped: 0 };

  private readonly parser: RecordParser;
  private readonly sink: TailerSink;
  private readonly maxLineBytes: number;
  private readonly reader: ChunkReader;
  private readonly out: ParseOutput = newParseOutput();
  private stamped = 0;
  /** set when the stream is shipped as raw chunks: it cuts them, nothing is parsed */
  private readonly chunker: EntryChunker | undefined;
  private readonly chunksFormat: string | undefined;
  private readonly chunksOut: RawChunk[] = [];

  constructor(init: HarvesterInit) {
    this.stream = { id: init.info.id, path: init.info.path };
    this.key = init.key;
    this.fh = init.fh;
    this.parser = init.parser;
    this.sink = init.sink;
    this.maxLineBytes = init.maxLineBytes;
    this.pos = init.start.offset;
    this.seq = init.start.nextSeq;
    this.size = init.size;
    this.mtimeMs = init.mtimeMs;
    this.head = init.head;
    this.lastData = init.now;
    this.chunksFormat = init.chunksOf;
    if (init.chunksOf !== undefined) {
      this.chunker = new EntryChunker({ format: init.chunksOf, offset: init.start.offset, line: init.start.line, maxBytes: MAX_CHUNK_BYTES, maxLineBytes: CHUNK_MAX_LINE_BYTES });
    } else if (init.start.context !== undefined) this.parser.restore(init.start.context);
    this.reader = new ChunkReader(this.parser, {
      offset: init.start.offset,
      line: init.start.line,
      maxLineBytes: init.maxLineBytes,
      out: this.out,
      onEvents: () => {
        if (this.out.events.length > this.stamped) this.stamp();
      },
    });
  }

  /** The stream as the sink sees it; `path` follows the file when it is renamed. */
  get info(): StreamInfo {
    return this.stream;
  }

  /** next byte to read (past any held-back partial line) */
  get readPos(): number {
    return this.pos;
  }

  /** seq the next event gets (shipping chunks: the first byte not shipped yet, + 1) */
  get nextSeq(): number {
    return this.chunker ? this.chunker.offset + 1 : this.seq;
  }

  /** when the last bytes were read (or the harvester was made) */
  get lastDataAt(): number {
    return this.lastData;
  }

  /** set while the file is being drained (renamed away or deleted), undefined while it is the watched one */
  get draining(): Draining | undefined {
    return this.drainState;
  }

  counts(): HarvestCounts {
    return { ...this.counters };
  }

  /** The file holds bytes not read yet (by the last stat). */
  get behind(): boolean {
    return this.pos < this.size;
  }

  /** Records the file's size and mtime from a new stat; true if either differs from the last one. */
  noteStat(size: number, mtimeMs: number): boolean {
    const changed = size !== this.size || mtimeMs !== this.mtimeMs;
    this.size = size;
    this.mtimeMs = mtimeMs;
    return changed;
  }

  async stat(): Promise<FileStat> {
    return statHandle(this.fh);
  }

  /** The file still starts with the bytes this harvester saw there (false: rewritten in place). */
  async headIntact(): Promise<boolean> {
    if (this.head.length === 0) return true;
    const now = await readHead(this.fh, this.head.length);
    return now.equals(this.head);
  }

  /** The file's first bytes if they grew since the last call (the identity to record), else undefined. */
  takeGrownHead(): Buffer | undefined {
    if (!this.headGrew) return undefined;
    this.headGrew = false;
    return this.head;
  }

  /** The file was renamed to another watched path: the stream carries on there, no longer draining. */
  movedTo(path: string): void {
    this.stream.path = path;
    this.drainState = undefined;
  }

  /** The file left the watched path `from`: renamed to `movedTo`, or deleted (undefined). */
  startDraining(from: string, movedTo: string | undefined, now: number): void {
    this.drainState = { from, since: now, reason: movedTo ? 'rotated' : 'deleted' };
    if (movedTo) this.stream.path = movedTo;
  }

  /**
   * A harvester of the same open file and stream that reads it again from byte 0, numbering from seq 1,
   * with a fresh `parser`; it keeps the file's identity and draining state. This one is not used after.
   */
  rewound(parser: RecordParser, st: FileStat, now: number): Harvester {
    const h = new Harvester({
      info: this.stream,
      fh: this.fh,
      key: this.key,
      start: { offset: 0, nextSeq: 1, line: 0 },
      head: this.head,
      size: st.size,
      mtimeMs: st.mtimeMs,
      parser,
      sink: this.sink,
      maxLineBytes: this.maxLineBytes,
      now,
      ...(this.chunksFormat !== undefined && { chunksOf: this.chunksFormat }),
    });
    h.drainState = this.drainState;
    return h;
  }

  /**
   * Reads up to `budget` bytes in chunks of `buf.length`, emitting what they complete. Stops early at
   * end of file or as soon as `stop()` says so (checked between chunks: backpressure). Returns bytes read.
   */
  async read(buf: Buffer, budget: number, stop: () => boolean, now: number): Promise<number> {
    let total = 0;
    let atEnd = false;
    while (total < budget && !stop()) {
      const { bytesRead } = await this.fh.read(buf, 0, Math.min(buf.length, budget - total), this.pos);
      if (bytesRead === 0) {
        atEnd = true;
        break;
      }
      const chunk = buf.subarray(0, bytesRead);
      this.trackHead(chunk);
      this.pos += bytesRead;
      total += bytesRead;
      if (this.chunker) this.chunker.push(chunk, this.chunksOut);
      else this.reader.push(chunk);
      this.deliver();
    }
    // caught up with the file: what ends at the last good cut goes now rather than when the next chunk fills
    if (atEnd && this.chunker) {
      this.chunker.caughtUp(this.chunksOut);
      this.deliver();
    }
    if (total > 0) {
      this.counters.bytesRead += total;
      this.lastData = now;
      this.idleFlushed = false;
      if (this.pos > this.size) this.size = this.pos;
    }
    return total;
  }

  /**
   * Once the file has been quiet `quietMs` since its last data: let a multi-line parser emit a record it
   * can prove complete (once per quiet spell).
   */
  flushIfIdle(now: number, quietMs: number): void {
    if (this.idleFlushed || now - this.lastData < quietMs) return;
    this.idleFlushed = true;
    if (this.chunker) {
      this.chunker.idle(this.chunksOut);
      return this.deliver();
    }
    this.parser.flush(false, this.out);
    this.stamp();
    this.deliver();
  }

  /**
   * No more data will come. `complete` = the file is whole (rotated or deleted): a last line without a
   * newline is taken as a line and everything pending is emitted. Otherwise (truncated under us) only
   * what the parser can prove complete is emitted.
   */
  finish(complete: boolean): void {
    if (this.chunker) {
      this.chunker.finish(complete, this.chunksOut);
      return this.deliver();
    }
    if (complete) {
      this.reader.finish();
      this.parser.flush(true, this.out);
    } else this.parser.flush(false, this.out);
    this.stamp();
    this.deliver();
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => {});
  }

  private trackHead(chunk: Buffer): void {
    const have = this.head.length;
    if (have >= HEAD_BYTES || this.pos > have || this.pos + chunk.length <= have) return;
    const from = have - this.pos;
    const to = Math.min(chunk.length, HEAD_BYTES - this.pos);
    this.head = Buffer.concat([this.head, chunk.subarray(from, to)]);
    this.headGrew = true;
  }

  /** Numbers the events the parser just emitted and attaches the resume data. */
  private stamp(): void {
    // refused events never get a seq (the stream's numbers stay consecutive)
    if (this.out.events.length > this.stamped) rejectBadEvents(this.out, this.stamped, (ev) => this.reader.lineAt(ev.end));
    const evs = this.out.events;
    if (evs.length <= this.stamped) return;
    const context = this.parser.context();
    for (let i = this.stamped; i < evs.length; i++) {
      const ev = evs[i] as TailedEvent;
      ev.seq = this.seq++;
      ev.line = this.reader.lineAt(ev.end);
      ev.context = context;
    }
    this.stamped = evs.length;
  }

  private deliver(): void {
    // shipping raw chunks: nothing is parsed here, so there are no problems or skipped lines (the consumer finds them);
    // `events` counts chunks
    if (this.chunksOut.length > 0) {
      const chunks = this.chunksOut.splice(0);
      this.counters.events += chunks.length;
      this.sink.chunks?.(this.info, chunks);
      return;
    }
    const out = this.out;
    if (out.events.length > 0) {
      const evs = out.events as TailedEvent[];
      out.events = [];
      this.stamped = 0;
      this.counters.events += evs.length;
      this.sink.events(this.info, evs, evs[evs.length - 1]!.context);
    }
    if (out.problems.length > 0) {
      const probs: TailProblem[] = out.problems.map((p) => ({ ...p, path: this.info.path }));
      out.problems = [];
      this.counters.problems += probs.length;
      this.sink.problems(this.info, probs);
    }
    this.counters.skipped += out.skipped;
    out.skipped = 0;
  }
}
