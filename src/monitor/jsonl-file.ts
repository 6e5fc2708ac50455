import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

// A JSON-lines file that is its own delivery log: the ids already written are read back at open, and a
// last line torn by a crash is cut off, so a writer that skips known ids writes each record exactly once.

export interface OpenedJsonLines {
  fh: FileHandle;
  /** the ids (the `idField` of each line) already in the file */
  ids: Set<string>;
  /** size of the file after the repair: whole lines only */
  size: number;
}

export async function openJsonLinesLog(path: string, idField: string): Promise<OpenedJsonLines> {
  await mkdir(dirname(path), { recursive: true });
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const ids = new Set<string>();
  let good = 0;
  for (let pos = 0; pos < text.length; ) {
    const nl = text.indexOf('\n', pos);
    if (nl === -1) break;
    const line = text.slice(pos, nl);
    try {
      const id = (JSON.parse(line) as Record<string, unknown>)[idField];
      if (typeof id === 'string') ids.add(id);
    } catch {
      // a damaged line in the middle stays as it is: only the tail is ours to repair
    }
    good += Buffer.byteLength(line) + 1;
    pos = nl + 1;
  }
  const fh = await open(path, 'a+');
  if ((await fh.stat()).size > good) await fh.truncate(good); // a line torn by a crash
  return { fh, ids, size: good };
}
