import { closeSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Replaces `path` with `text` all at once: written to PATH.tmp, fsynced, renamed over the old file, and the
 * directory fsynced so the rename itself survives a crash. A crash leaves the old content or the new, never half.
 * `fsync` false skips both syncs (tests and benchmarks).
 */
export async function writeFileAtomic(path: string, text: string, fsync = true): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(text, 'utf8');
    if (fsync) await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  if (fsync) await syncDirectory(dirname(path));
}

/** Makes the names in a directory durable (a rename, a new or removed file) by fsyncing the directory itself. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP') throw err; // some file systems cannot sync a directory
  } finally {
    await handle.close();
  }
}

/**
 * Overwrites an existing small file in place and fsyncs it: the file's block is reused, so this works on a full
 * disk, where writeFileAtomic cannot make its temporary file. Not atomic against a crash mid-write beyond what the
 * device guarantees for one small write: for files of a few hundred bytes whose loss is detected and survivable.
 */
export function rewriteFileInPlace(path: string, text: string): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, text, 0);
    ftruncateSync(fd, Buffer.byteLength(text));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The file's text, or undefined when there is no such file (any other error is thrown). */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Moves a file that cannot be used out of the way, never deleting it: to PATH.corrupt-TIME, which it returns. */
export async function setAsideCorrupt(path: string): Promise<string> {
  const aside = `${path}.corrupt-${Date.now()}`;
  await rename(path, aside);
  return aside;
}
