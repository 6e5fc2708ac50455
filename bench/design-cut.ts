// The cutter the design bench measures: whole MySQL slow-log entries per chunk, so a chunk can be parsed on
// its own. A chunk ends just before the `# Time:` or `# User@Host:` line that opens the entry nearest the
// target size (searched backwards from it: the cost is one entry's bytes, not the chunk's).

const USER_HOST = Buffer.from('\n# User@Host: ');
const TIME = Buffer.from('# Time: ');

/** the offset of the entry start at or before `at` in `buf` (after `from`), or -1 */
function entryStartBefore(buf: Buffer, at: number, from: number): number {
  const i = buf.lastIndexOf(USER_HOST, at);
  if (i < from) return -1;
  const start = i + 1;
  // a `# Time:` line right before belongs to the same entry
  const prevLine = buf.lastIndexOf(0x0a, i - 1) + 1;
  if (prevLine > from && buf.compare(TIME, 0, TIME.length, prevLine, prevLine + TIME.length) === 0) return prevLine;
  return start;
}

/** Cuts `buf` into chunks of about `target` bytes that each hold whole entries (views, not copies). */
export function cutEntryAligned(buf: Buffer, target: number): Buffer[] {
  const chunks: Buffer[] = [];
  let from = 0;
  while (buf.length - from > target) {
    let end = entryStartBefore(buf, from + target, from);
    // an entry longer than the target: cut after it instead
    if (end <= from) end = nextEntryStart(buf, from + target);
    chunks.push(buf.subarray(from, end));
    from = end;
  }
  if (from < buf.length) chunks.push(buf.subarray(from));
  return chunks;
}

function nextEntryStart(buf: Buffer, at: number): number {
  const i = buf.indexOf(USER_HOST, at);
  return i < 0 ? buf.length : i + 1;
}
