import { crc32 } from './crc32.js';

// Snapshot file format (pure, no I/O): a 28-byte header, then the payload.
//
//   0  4 bytes  magic "SQSN"
//   4  u16 LE   format version (1)
//   6  u16 LE   flags (0)
//   8  u32 LE   generation (must match the file name: a copied or renamed file is not taken for another)
//  12  u64 LE   payload length
//  20  u32 LE   CRC-32 of the payload
//  24  u32 LE   CRC-32 of bytes 0..23

export const SNAPSHOT_HEADER_BYTES = 28;
export const SNAPSHOT_VERSION = 1;
const MAGIC = Buffer.from('SQSN', 'latin1');

export function encodeSnapshotHeader(generation: number, payload: Uint8Array): Buffer {
  const h = Buffer.alloc(SNAPSHOT_HEADER_BYTES);
  MAGIC.copy(h, 0);
  h.writeUInt16LE(SNAPSHOT_VERSION, 4);
  h.writeUInt16LE(0, 6);
  h.writeUInt32LE(generation, 8);
  h.writeUInt32LE(payload.length % 0x1_0000_0000, 12);
  h.writeUInt32LE(Math.floor(payload.length / 0x1_0000_0000), 16);
  h.writeUInt32LE(crc32(payload), 20);
  h.writeUInt32LE(crc32(h.subarray(0, 24)), 24);
  return h;
}

/** A snapshot written by a newer format: not damage, so no fallback to older state may hide it. */
export class SnapshotVersionError extends Error {
  constructor(readonly file: string, readonly version: number) {
    super(`${file} has snapshot format version ${version}; this slowq reads version ${SNAPSHOT_VERSION}`);
    this.name = 'SnapshotVersionError';
  }
}

export type SnapshotCheck = { ok: true; payload: Buffer } | { ok: false; reason: string };

/**
 * Verifies a whole snapshot file's bytes. Damage gives a reason naming the byte offset; an unknown format
 * version throws SnapshotVersionError.
 */
export function decodeSnapshot(file: string, buf: Buffer, generation: number): SnapshotCheck {
  if (buf.length < SNAPSHOT_HEADER_BYTES) {
    return { ok: false, reason: `truncated at byte ${buf.length}, inside the ${SNAPSHOT_HEADER_BYTES}-byte header` };
  }
  if (!buf.subarray(0, 4).equals(MAGIC)) return { ok: false, reason: 'bad magic at byte 0' };
  if (buf.readUInt32LE(24) !== crc32(buf.subarray(0, 24))) return { ok: false, reason: 'header checksum mismatch over bytes 0-23' };
  const version = buf.readUInt16LE(4);
  if (version !== SNAPSHOT_VERSION) throw new SnapshotVersionError(file, version);
  const gen = buf.readUInt32LE(8);
  if (gen !== generation) return { ok: false, reason: `header at byte 8 says generation ${gen}` };
  const length = buf.readUInt32LE(12) + buf.readUInt32LE(16) * 0x1_0000_0000;
  const end = SNAPSHOT_HEADER_BYTES + length;
  if (buf.length < end) return { ok: false, reason: `truncated at byte ${buf.length}, header declares ${end} bytes` };
  if (buf.length > end) return { ok: false, reason: `${buf.length - end} unexpected bytes after the payload at byte ${end}` };
  const payload = buf.subarray(SNAPSHOT_HEADER_BYTES);
  if (crc32(payload) !== buf.readUInt32LE(20)) {
    return { ok: false, reason: `payload checksum mismatch over bytes ${SNAPSHOT_HEADER_BYTES}-${end - 1}` };
  }
  return { ok: true, payload };
}
