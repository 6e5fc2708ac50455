import type { FileHandle } from 'node:fs/promises';
import type { ParsedEvent } from '../model/record.js';
import { HEAD_BYTES } from './file-identity.js';
import { LineSplitter, type LineSink } from '../formats/line-splitter.js';
import { newParseOutput, rejectBadEvents, type ParseOutput, type ParseProblem, type RecordParser } from '../formats/parsers/types.js';
import type { EndReason, ResumePoint } from './registry.js';

// Reads one open file, one stream (one file lifetime): bounded chunks → lines → parser → numbered events.
// It knows nothing of rotation or discovery (tailer.ts decides when to read, flush, finish or close).

/** A stream as the sink sees it. `path` is where the file is now (it changes if the file is renamed). */
export interface StreamInfo {
  readonly id: string;
  path: string;
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

export interface TailerSink {
  /** events of one stream, in file order; `context` is the parser state after the last of them */
  events(stream: StreamInfo, events: TailedEvent[], context: unknown): void;
  /** malformed lines, with path, byte offset and line number */
  problems(stream: StreamInfo, problems: TailProblem[]): void;
  /** the stream's file was rotated away, deleted or truncated and everything in it has been emitted; no more events follow */
  ended(stream: StreamInfo): void;
  error?(err: TailerError): void;
}

/** The point to commit once `ev` (the last event of an acked batch) is acked. */
export function resumePointAfter(ev: TailedEvent): ResumePoint {
  return { offset: ev.end, nextSeq: ev.seq + 1, line: ev.line, context: ev.context };
}

const LINE_RING = 64;

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
}

export class Harvester {
  readonly info: StreamInfo;
  readonly key: string;
  readonly fh: FileHandle;
  /** next byte to read (past any held-back partial line) */
  readPos: number;
  /** seq the next event gets */
  nextSeq: number;
  /** file size and mtime at the last check */
  size: number;
  mtimeMs: number;
  head: Buffer;
  /** set when `head` grew: the tailer records the new identity */
  headGrew = false;
  lastDataAt: number;
  /** the idle flush has been done since the last data */
  idleFlushed = true;
  status: 'active' | 'draining' = 'active';
  /** the watched path this file was rotated away from (a new file there waits until this one ends) */
  rotatedFrom: string | undefined;
  drainingSince = 0;
  /** why a draining file will end: renamed away, or deleted */
  endReason: EndReason = 'deleted';
  bytesRead = 0;
  eventsEmitted = 0;
  problemsFound = 0;
  skipped = 0;

  private readonly parser: RecordParser;
  private readonly sink: TailerSink;
  private readonly splitter: LineSplitter;
  private readonly out: ParseOutput = newParseOutput();
  private lineNo: number;
  private stamped = 0;
  private readonly ringEnd: number[] = new Array<number>(LINE_RING).fill(-1);
  private readonly ringLine: number[] = new Array<number>(LINE_RING).fill(0);
  private ringAt = 0;
  private readonly lineSink: LineSink;

  constructor(init: HarvesterInit) {
    this.info = init.info;
    this.key = init.key;
    this.fh = init.fh;
    this.parser = init.parser;
    this.sink = init.sink;
    this.readPos = init.start.offset;
    this.nextSeq = init.start.nextSeq;
    this.lineNo = init.start.line;
    this.size = init.size;
    this.mtimeMs = init.mtimeMs;
    this.head = init.head;
    this.lastDataAt = init.now;
    this.splitter = new LineSplitter(init.start.offset, init.maxLineBytes);
    if (init.start.context !== undefined) this.parser.restore(init.start.context);
    this.lineSink = {
      line: (text, offset, end) => {
        const n = ++this.lineNo;
        this.noteLineEnd(end, n);
        this.parser.line(text, offset, end, n, this.out);
        if (this.out.events.length > this.stamped) this.stamp();
      },
      oversize: (offset, end) => {
        const n = ++this.lineNo;
        this.noteLineEnd(end, n);
        this.out.problems.push({ offset, line: n, reason: `line of ${end - offset} bytes is over the ${init.maxLineBytes}-byte limit; skipped`, text: '' });
      },
    };
  }

  /** The file holds bytes not read yet (by the last stat). */
  get behind(): boolean {
    return this.readPos < this.size;
  }

  /**
   * Reads up to `budget` bytes in chunks of `buf.length`, emitting what they complete. Stops early at
   * end of file or as soon as `stop()` says so (checked between chunks: backpressure). Returns bytes read.
   */
  async read(buf: Buffer, budget: number, stop: () => boolean, now: number): Promise<number> {
    let total = 0;
    while (total < budget && !stop()) {
      const { bytesRead } = await this.fh.read(buf, 0, Math.min(buf.length, budget - total), this.readPos);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      this.trackHead(chunk);
      this.readPos += bytesRead;
      total += bytesRead;
      this.splitter.push(chunk, this.lineSink);
      this.deliver();
    }
    if (total > 0) {
      this.bytesRead += total;
      this.lastDataAt = now;
      this.idleFlushed = false;
      if (this.readPos > this.size) this.size = this.readPos;
    }
    return total;
  }

  /** The file has been quiet: let a multi-line parser emit a record it can prove complete. */
  idleFlush(): void {
    this.idleFlushed = true;
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
    if (complete) {
      this.splitter.finish(this.lineSink);
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
    if (have >= HEAD_BYTES || this.readPos > have || this.readPos + chunk.length <= have) return;
    const from = have - this.readPos;
    const to = Math.min(chunk.length, HEAD_BYTES - this.readPos);
    this.head = Buffer.concat([this.head, chunk.subarray(from, to)]);
    this.headGrew = true;
  }

  private noteLineEnd(end: number, line: number): void {
    this.ringEnd[this.ringAt] = end;
    this.ringLine[this.ringAt] = line;
    this.ringAt = (this.ringAt + 1) % LINE_RING;
  }

  /** line number of the line ending at byte `end` (0 if it fell out of the recent-lines ring) */
  private lineAt(end: number): number {
    for (let i = 1; i <= LINE_RING; i++) {
      const j = (this.ringAt - i + LINE_RING) % LINE_RING;
      if (this.ringEnd[j] === end) return this.ringLine[j]!;
      if (this.ringEnd[j]! < end) break;
    }
    return 0;
  }

  /** Numbers the events the parser just emitted and attaches the resume data. */
  private stamp(): void {
    // refused events never get a seq (the stream's numbers stay consecutive)
    if (this.out.events.length > this.stamped) rejectBadEvents(this.out, this.stamped, (ev) => this.lineAt(ev.end));
    const evs = this.out.events;
    if (evs.length <= this.stamped) return;
    const context = this.parser.context();
    for (let i = this.stamped; i < evs.length; i++) {
      const ev = evs[i] as TailedEvent;
      ev.seq = this.nextSeq++;
      ev.line = this.lineAt(ev.end);
      ev.context = context;
    }
    this.stamped = evs.length;
  }

  private deliver(): void {
    const out = this.out;
    if (out.events.length > 0) {
      const evs = out.events as TailedEvent[];
      out.events = [];
      this.stamped = 0;
      this.eventsEmitted += evs.length;
      this.sink.events(this.info, evs, evs[evs.length - 1]!.context);
    }
    if (out.problems.length > 0) {
      const probs: TailProblem[] = out.problems.map((p) => ({ ...p, path: this.info.path }));
      out.problems = [];
      this.problemsFound += probs.length;
      this.sink.problems(this.info, probs);
    }
    this.skipped += out.skipped;
    out.skipped = 0;
  }
}
