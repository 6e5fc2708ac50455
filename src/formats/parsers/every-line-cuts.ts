// Where a JSON lines log or a PostgreSQL log may be cut into chunks (see mysql-slow-cuts.ts for the slow log): before
// any line. So the client reads no header and runs no regular expression to cut them.
//  - JSON lines: each line is one record read alone (parsers/jsonl.ts keeps nothing from line to line and has no
//    context).
//  - PostgreSQL (stderr, csvlog, jsonlog): its parsers carry their whole state across a cut (StateCarryingParser,
//    types.ts): a message whose continuation or DETAIL lines come after the cut, a csvlog record with newlines in
//    its quotes, a duration entry held until the next message shows whether auto_explain's plan pairs with it. The
//    consumer flushes such a parser only where the client saw the file go quiet (a chunk from idle()), as the record
//    path's idle flush does.
// A line too long to read is reported by the reader whichever chunk holds it, so any line boundary gives the records
// one sequential parse gives (test/parser-differential.test.ts checks it). The chunker cuts at the last good cut when
// it catches up with the file: before the last line, which so waits for the next one or for the file to go quiet.

export class EveryLineCuts {
  line(): boolean {
    return true;
  }

  cuttableNow(): boolean {
    return true;
  }

  cutAfterLast(): void {}
}
