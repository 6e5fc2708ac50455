import { LineSplitter, type ByteLineSink, type LineSink } from './line-splitter.js';
import { isByteParser, type ByteRecordParser, type ParseOutput, type RecordParser } from './parsers/types.js';

// Read buffers → lines → a parser, for every reader of files (read-file.ts for whole files, the client's
// harvester for tailed ones): one place that counts lines, remembers which line ended where (to name the line
// of an event refused after parsing), reports lines over the length limit and picks the parser's way in: a
// byte-level parser (parsers/mysql-slow-bytes.ts) gets ranges of the read buffer, any other gets decoded text.

export interface ChunkReaderInit {
  /** byte offset of the first byte pushed */
  offset: number;
  /** lines before it (line numbers continue from there; 0 when unknown) */
  line: number;
  maxLineBytes?: number;
  /** where the parser puts what it finds (read on every line: its arrays may be swapped between pushes) */
  out: ParseOutput;
  /** called after a line that made the parser emit events, before the next line (their context() is the parser's now) */
  onEvents?: () => void;
  /** the reason given for a line over the length limit */
  oversizeReason?: (bytes: number) => string;
  /** the last lines read before `offset`, as recentLines() gave them (a chunk's parser carried across a cut) */
  recent?: RecentLines;
}

/** [end offset, line number] of lines, oldest first */
export type RecentLines = [end: number, line: number][];

const LINE_RING = 64;

export class ChunkReader {
  private readonly splitter: LineSplitter;
  private readonly out: ParseOutput;
  private readonly onEvents: (() => void) | undefined;
  private readonly oversizeReason: (bytes: number) => string;
  private readonly byteParser: ByteRecordParser | undefined;
  private lineNo: number;
  private readonly ringEnd: number[] = new Array<number>(LINE_RING).fill(-1);
  private readonly ringLine: number[] = new Array<number>(LINE_RING).fill(0);
  private ringAt = 0;
  private readonly textSink: LineSink;
  private readonly byteSink: ByteLineSink;

  constructor(readonly parser: RecordParser, init: ChunkReaderInit) {
    this.splitter = new LineSplitter(init.offset, init.maxLineBytes);
    this.out = init.out;
    this.onEvents = init.onEvents;
    this.lineNo = init.line;
    this.byteParser = isByteParser(parser) ? parser : undefined;
    for (const [end, line] of init.recent?.slice(-LINE_RING) ?? []) this.remember(end, line);
    const maxLineBytes = init.maxLineBytes ?? 1 << 20;
    this.oversizeReason = init.oversizeReason ?? ((bytes) => `line of ${bytes} bytes is over the ${maxLineBytes}-byte limit; skipped`);
    const oversize = (offset: number, end: number): void => {
      const n = this.noteLine(end);
      this.out.problems.push({ offset, line: n, reason: this.oversizeReason(end - offset), text: '' });
    };
    this.textSink = {
      line: (text, offset, end) => {
        const n = this.noteLine(end);
        const before = this.out.events.length;
        parser.line(text, offset, end, n, this.out);
        if (this.out.events.length !== before && this.onEvents) this.onEvents();
      },
      oversize,
    };
    const bp = this.byteParser;
    this.byteSink = {
      lineBytes: (buf, start, stop, offset, end) => {
        const n = this.noteLine(end);
        const before = this.out.events.length;
        bp!.lineBytes(buf, start, stop, offset, end, n, this.out);
        if (this.out.events.length !== before && this.onEvents) this.onEvents();
      },
      oversize,
    };
  }

  /** lines read so far (the number of the last one) */
  get lines(): number {
    return this.lineNo;
  }

  /** Offset of the first byte of the held-back partial line. */
  get offset(): number {
    return this.splitter.offset;
  }

  /** The next bytes of the input; `chunk` may be reused by the caller once this returns. */
  push(chunk: Buffer): void {
    if (this.byteParser) {
      this.splitter.pushBytes(chunk, this.byteSink);
      this.byteParser.releaseBuffer();
    } else this.splitter.push(chunk, this.textSink);
  }

  /** End of input: a last line without a newline is taken as a line (whole files, never when tailing). */
  finish(): void {
    if (this.byteParser) this.splitter.finishBytes(this.byteSink);
    else this.splitter.finish(this.textSink);
  }

  /** line number of the line ending at byte `end` (0 if it is not one of the last 64 lines) */
  lineAt(end: number): number {
    for (let i = 1; i <= LINE_RING; i++) {
      const j = (this.ringAt - i + LINE_RING) % LINE_RING;
      if (this.ringEnd[j] === end) return this.ringLine[j]!;
      if (this.ringEnd[j]! < end) break;
    }
    return 0;
  }

  /** The lines lineAt() knows, oldest first (to go on with: init.recent). */
  recentLines(): RecentLines {
    const out: RecentLines = [];
    for (let i = LINE_RING; i >= 1; i--) {
      const j = (this.ringAt - i + LINE_RING) % LINE_RING;
      if (this.ringEnd[j]! >= 0) out.push([this.ringEnd[j]!, this.ringLine[j]!]);
    }
    return out;
  }

  private noteLine(end: number): number {
    const n = ++this.lineNo;
    this.remember(end, n);
    return n;
  }

  private remember(end: number, line: number): void {
    this.ringEnd[this.ringAt] = end;
    this.ringLine[this.ringAt] = line;
    this.ringAt = (this.ringAt + 1) % LINE_RING;
  }
}
