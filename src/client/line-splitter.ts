// Splits a byte stream into lines while keeping exact byte offsets (the registry commits byte offsets,
// so offsets must count bytes, not UTF-16 characters). A trailing partial line is held back until its
// newline arrives: a line still being written is never parsed.

export interface LineSink {
  /** a complete line, without "\n" / "\r\n"; offset of its first byte, end = offset just past the newline */
  line(text: string, offset: number, end: number): void;
  /** a line longer than the limit was skipped whole (its bytes are not kept in memory) */
  oversize(offset: number, end: number): void;
}

const NL = 0x0a;
const CR = 0x0d;

export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** file offset of the first byte not yet part of an emitted line */
  private lineStart: number;
  private skipping = false;

  constructor(startOffset: number, private readonly maxLineBytes = 1 << 20) {
    this.lineStart = startOffset;
  }

  /** Offset of the first byte of the held-back partial line (= everything before it was emitted). */
  get offset(): number {
    return this.lineStart;
  }

  /** Bytes held back waiting for a newline. */
  get pendingLength(): number {
    return this.pendingBytes;
  }

  push(chunk: Buffer, sink: LineSink): void {
    let from = 0;
    while (from < chunk.length) {
      const nl = chunk.indexOf(NL, from);
      if (nl === -1) {
        this.hold(chunk.subarray(from));
        return;
      }
      const end = this.lineStart + this.pendingBytes + (nl - from) + 1;
      if (this.skipping) {
        sink.oversize(this.lineStart, end);
        this.skipping = false;
      } else if (this.pendingBytes + (nl - from) > this.maxLineBytes) {
        sink.oversize(this.lineStart, end);
      } else {
        let bytes = this.pendingBytes === 0 ? chunk.subarray(from, nl) : Buffer.concat([...this.pending, chunk.subarray(from, nl)]);
        if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
        sink.line(bytes.toString('utf8'), this.lineStart, end);
      }
      this.pending = [];
      this.pendingBytes = 0;
      this.lineStart = end;
      from = nl + 1;
    }
  }

  /** End of input: a last line without a newline is emitted as a line (used for whole files, never when tailing). */
  finish(sink: LineSink): void {
    if (this.pendingBytes === 0 && !this.skipping) return;
    const end = this.lineStart + this.pendingBytes;
    if (this.skipping) sink.oversize(this.lineStart, end);
    else {
      let bytes = Buffer.concat(this.pending);
      if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
      sink.line(bytes.toString('utf8'), this.lineStart, end);
    }
    this.pending = [];
    this.pendingBytes = 0;
    this.skipping = false;
    this.lineStart = end;
  }

  private hold(part: Buffer): void {
    if (part.length === 0) return;
    if (this.skipping || this.pendingBytes + part.length > this.maxLineBytes) {
      // Too long to keep: drop what we hold and skip to the next newline, remembering the length.
      this.skipping = true;
      this.pendingBytes += part.length;
      this.pending = [];
      return;
    }
    // Copy: the caller may reuse its read buffer.
    this.pending.push(Buffer.from(part));
    this.pendingBytes += part.length;
  }
}
