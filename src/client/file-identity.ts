import { createHash } from 'node:crypto';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

// What makes "this file" this file across renames and restarts (Filebeat's file state):
// device + inode, plus a hash of the first bytes so that a reused inode, or a file truncated and
// written again while we were not looking, is not mistaken for the one we knew.

/** How many leading bytes of a file take part in its identity. */
export const HEAD_BYTES = 1024;

export interface FileIdentity {
  /** device and inode as decimal strings (inodes can exceed 2^53 on some file systems) */
  dev: string;
  ino: string;
  /** how many leading bytes `headHash` covers (grows up to HEAD_BYTES as the file grows) */
  headLen: number;
  headHash: string;
}

/** What one stat says about a path or an open file. */
export interface FileStat {
  /** `dev:ino`, the key of the file while it exists */
  key: string;
  dev: string;
  ino: string;
  size: number;
  mtimeMs: number;
  isFile: boolean;
}

export function identityKey(id: { dev: string; ino: string }): string {
  return `${id.dev}:${id.ino}`;
}

export function hashHead(head: Buffer): string {
  return createHash('sha256').update(head).digest('hex').slice(0, 32);
}

function toFileStat(s: import('node:fs').BigIntStats): FileStat {
  const dev = s.dev.toString();
  const ino = s.ino.toString();
  return { key: `${dev}:${ino}`, dev, ino, size: Number(s.size), mtimeMs: Number(s.mtimeMs), isFile: s.isFile() };
}

/** Stat by path (following symlinks); undefined if it does not exist. Other errors are thrown. */
export async function statPath(path: string): Promise<FileStat | undefined> {
  try {
    return toFileStat(await stat(path, { bigint: true }));
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

export async function statHandle(fh: FileHandle): Promise<FileStat> {
  return toFileStat(await fh.stat({ bigint: true }));
}

/** Reads up to `len` bytes from the start of the file. */
export async function readHead(fh: FileHandle, len: number): Promise<Buffer> {
  const buf = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(buf, got, len - got, got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/**
 * Whether the open file is the one `id` describes and still holds at least `minSize` bytes:
 * same device and inode, and its first `headLen` bytes hash the same.
 */
export async function matchesIdentity(fh: FileHandle, id: FileIdentity, minSize: number): Promise<boolean> {
  const st = await statHandle(fh);
  if (st.dev !== id.dev || st.ino !== id.ino || st.size < minSize || st.size < id.headLen) return false;
  if (id.headLen === 0) return true;
  const head = await readHead(fh, id.headLen);
  return head.length === id.headLen && hashHead(head) === id.headHash;
}

/**
 * Looks in `dir` for a regular file with the given device and inode (a file renamed by rotation keeps both).
 * Returns its path, or undefined. Unreadable entries are skipped.
 */
export async function findByInode(dir: string, dev: string, ino: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return undefined;
  }
  for (const name of names) {
    const p = join(dir, name);
    try {
      const s = await stat(p, { bigint: true });
      if (s.isFile() && s.dev.toString() === dev && s.ino.toString() === ino) return p;
    } catch {
      // vanished or unreadable: not ours to report
    }
  }
  return undefined;
}

/** Opens a file for reading, or undefined if it no longer exists. */
export async function openIfExists(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

export function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

export function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? 'ERROR';
}
