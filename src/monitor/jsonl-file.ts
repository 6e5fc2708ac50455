import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

// A JSON-lines file that is its own delivery log: a writer that skips the ids already written writes each record
// exactly once across crashes. At open a last line torn by a crash is cut off; the ids a writer must check are
// only those of the file's last lines (a record it may have written just before a crash), so they are read from
// the end, never the whole file: alerts.jsonl grows for as long as the monitor runs, and reading it whole (as a
// string) failed past V8's string limit (~512 MiB), which kept the monitor from starting at all.

export interface OpenedJsonLines {
  fh: FileHandle;
  /** size of the file after the repair: whole lines only */
  size: number;
}

/** Bytes read from the end at a time. */
const BLOCK = 1 << 16;
/**
 * A line longer than this is not one of ours (an alert or a notification is at most a few hundred KiB): it is
 * passed over without being held in memory, whatever is in the file.
 */
const MAX_LINE_BYTES = 16 << 20;

/** Opens (creating it and its directory) for appending, and cuts off a last line without its newline. */
export async function openJsonLinesLog(path: string): Promise<OpenedJsonLines> {
  await mkdir(dirname(path), { recursive: true });
  const fh = await open(path, 'a+');
  try {
    const { size } = await fh.stat();
    const good = await endOfLastLine(fh, size);
    if (good < size) await fh.truncate(good); // a line torn by a crash
    return { fh, size: good };
  } catch (err) {
    await fh.close().catch(() => {});
    throw err;
  }
}

/** The offset just past the last newline before `size` (0 when there is none). */
async function endOfLastLine(fh: FileHandle, size: number): Promise<number> {
  const buf = Buffer.allocUnsafe(BLOCK);
  for (let end = size; end > 0; end -= BLOCK) {
    const start = Math.max(0, end - BLOCK);
    const { bytesRead } = await fh.read(buf, 0, end - start, start);
    const nl = buf.lastIndexOf(10, bytesRead - 1);
    if (nl !== -1) return start + nl + 1;
  }
  return 0;
}

/**
 * The `idField` of the lines before `size`, last line first, until `visit` returns false or the file's start.
 * A line that is not a JSON object with a string id (damaged in the middle, longer than any of ours) is passed
 * over: only the tail is ours to repair.
 */
export async function forEachIdFromEnd(fh: FileHandle, size: number, idField: string, visit: (id: string) => boolean): Promise<void> {
  const buf = Buffer.allocUnsafe(BLOCK);
  /** the part of a line read so far: it continues into the next block read (towards the start) */
  let tail: Buffer[] = [];
  let tailBytes = 0;
  let tooLong = false;
  const line = (bytes: Buffer): boolean => {
    if (tooLong || bytes.length === 0) return true;
    let id: unknown;
    try {
      id = (JSON.parse(bytes.toString('utf8')) as Record<string, unknown>)[idField];
    } catch {
      return true;
    }
    return typeof id === 'string' ? visit(id) : true;
  };
  // `size` is just past a newline (or 0): the last line ends there
  for (let end = size; end > 0;) {
    const start = Math.max(0, end - BLOCK);
    const { bytesRead } = await fh.read(buf, 0, end - start, start);
    let to = bytesRead; // lines end before `to` in buf (the newline at `to` excluded)
    if (end === size && to > 0 && buf[to - 1] === 10) to--; // the newline that ends the last line
    for (let nl = to > 0 ? buf.lastIndexOf(10, to - 1) : -1; nl !== -1; nl = to > 0 ? buf.lastIndexOf(10, to - 1) : -1) {
      const piece = buf.subarray(nl + 1, to);
      const whole = tailBytes === 0 ? piece : Buffer.concat([piece, ...tail]);
      tail = [];
      tailBytes = 0;
      const go = line(whole);
      tooLong = false;
      if (!go) return;
      to = nl;
    }
    // what is left in this block begins a line that starts in an earlier block
    if (!tooLong && to > 0) {
      tail.unshift(Buffer.from(buf.subarray(0, to)));
      tailBytes += to;
      if (tailBytes > MAX_LINE_BYTES) {
        tooLong = true;
        tail = [];
        tailBytes = 0;
      }
    }
    end = start;
  }
  if (tailBytes > 0) line(Buffer.concat(tail));
}

/**
 * Whether `path` still names the open file, and that file's size. A file rotated away by renaming (logrotate's
 * `create`) or deleted is not: its writer opens a new one at the path, or it would go on writing where nobody
 * looks. One truncated in place (logrotate's `copytruncate`) is, with its new size.
 */
export async function stillAtPath(path: string, fh: FileHandle): Promise<{ same: boolean; size: number }> {
  const own = await fh.stat();
  let named;
  try {
    named = await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return { same: false, size: own.size };
  }
  return { same: named.ino === own.ino && named.dev === own.dev, size: own.size };
}
