import { crc32 } from './crc32.js';

// Journal framing (pure, no I/O). A journal file is a sequence of frames, one per entry, no file header:
//
//   u32 LE  payload length
//   u32 LE  CRC-32 of the payload
//   u32 LE  CRC-32 of (generation u32, frame offset u64, length u32, payload CRC u32)
//   payload
//
// The header has its own checksum so a damaged length is recognised as damage rather than read as an
// entry that runs past the end of the file (which would pass for a torn tail and drop acked entries
// silently). Seeding it with the generation and the frame's own offset means a frame can only verify
// where it was written: not inside another entry's payload, not in another generation's file, and a
// zero-filled region never verifies either.

export const FRAME_HEADER_BYTES = 12;
/** largest payload one frame can carry */
export const MAX_ENTRY_BYTES = 0xffff_ffff;

const scratch = Buffer.alloc(20);

function headerCrc(generation: number, offset: number, length: number, payloadCrc: number): number {
  scratch.writeUInt32LE(generation >>> 0, 0);
  scratch.writeUInt32LE(offset % 0x1_0000_0000, 4);
  scratch.writeUInt32LE(Math.floor(offset / 0x1_0000_0000), 8);
  scratch.writeUInt32LE(length, 12);
  scratch.writeUInt32LE(payloadCrc, 16);
  return crc32(scratch);
}

/** An entry's payload: its bytes, or the parts they are made of, in order (written one after the other, not joined). */
export type EntryBytes = Uint8Array | readonly Uint8Array[];

/**
 * Frames `entries`, to be written at `startOffset` of journal `generation`: each entry's header, then the entry's
 * parts as they are. Nothing is copied: a raw chunk is half a MiB, and a copy into fresh memory costs more than the
 * write (page faults). The parts must not change until the write is done.
 */
export function framePieces(entries: readonly EntryBytes[], generation: number, startOffset: number): { pieces: Uint8Array[]; bytes: number } {
  const headers = Buffer.allocUnsafe(entries.length * FRAME_HEADER_BYTES);
  const pieces: Uint8Array[] = [];
  let pos = 0;
  entries.forEach((e, i) => {
    const parts: readonly Uint8Array[] = e instanceof Uint8Array ? [e] : e;
    let length = 0;
    let pcrc = 0;
    for (const p of parts) {
      length += p.length;
      pcrc = crc32(p, pcrc);
    }
    if (length > MAX_ENTRY_BYTES) throw new RangeError(`journal entry of ${length} bytes exceeds ${MAX_ENTRY_BYTES}`);
    const h = i * FRAME_HEADER_BYTES;
    headers.writeUInt32LE(length, h);
    headers.writeUInt32LE(pcrc, h + 4);
    headers.writeUInt32LE(headerCrc(generation, startOffset + pos, length, pcrc), h + 8);
    pieces.push(headers.subarray(h, h + FRAME_HEADER_BYTES), ...parts);
    pos += FRAME_HEADER_BYTES + length;
  });
  return { pieces, bytes: pos };
}

/** Frames `entries` as one buffer, to be written at `startOffset` of journal `generation`. */
export function encodeFrames(entries: readonly EntryBytes[], generation: number, startOffset: number): Buffer {
  const { pieces, bytes } = framePieces(entries, generation, startOffset);
  return Buffer.concat(pieces, bytes);
}

export interface JournalProblem {
  /** byte offset of the first frame that does not verify */
  offset: number;
  reason: string;
  /**
   * a verifying frame exists somewhere after the bad one: the damage is in the middle of the journal,
   * not a torn final write
   */
  framesAfter: boolean;
}

export interface JournalScan {
  /** payloads of the verifying frames before the first problem, in order (views into the input) */
  entries: Buffer[];
  /** offset just after the last verifying frame: the journal's good length */
  end: number;
  problem?: JournalProblem;
}

/** Why the frame at `pos` does not verify, or undefined when it does. */
function frameProblem(buf: Buffer, pos: number, generation: number): string | undefined {
  const left = buf.length - pos;
  if (left < FRAME_HEADER_BYTES) return `incomplete entry header (${left} of ${FRAME_HEADER_BYTES} bytes)`;
  const length = buf.readUInt32LE(pos);
  const pcrc = buf.readUInt32LE(pos + 4);
  if (buf.readUInt32LE(pos + 8) !== headerCrc(generation, pos, length, pcrc)) return 'entry header checksum mismatch';
  const payloadEnd = pos + FRAME_HEADER_BYTES + length;
  if (payloadEnd > buf.length) return `entry of ${length} bytes runs past the end of the file (${buf.length} bytes)`;
  if (crc32(buf.subarray(pos + FRAME_HEADER_BYTES, payloadEnd)) !== pcrc) return 'entry payload checksum mismatch';
  return undefined;
}

/** Cheap-first check used when looking for intact frames after a bad one. */
function frameVerifies(buf: Buffer, pos: number, generation: number): boolean {
  if (buf.length - pos < FRAME_HEADER_BYTES) return false;
  const length = buf.readUInt32LE(pos);
  if (pos + FRAME_HEADER_BYTES + length > buf.length) return false;
  return frameProblem(buf, pos, generation) === undefined;
}

/** Reads the frames of journal `generation` up to the first one that does not verify. */
export function scanJournal(buf: Buffer, generation: number): JournalScan {
  const entries: Buffer[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const reason = frameProblem(buf, pos, generation);
    if (reason !== undefined) {
      let framesAfter = false;
      for (let q = pos + 1; q + FRAME_HEADER_BYTES <= buf.length && !framesAfter; q++) framesAfter = frameVerifies(buf, q, generation);
      return { entries, end: pos, problem: { offset: pos, reason, framesAfter } };
    }
    const length = buf.readUInt32LE(pos);
    entries.push(buf.subarray(pos + FRAME_HEADER_BYTES, pos + FRAME_HEADER_BYTES + length));
    pos += FRAME_HEADER_BYTES + length;
  }
  return { entries, end: pos };
}
