// Where a JSON lines log may be cut into chunks (see mysql-slow-cuts.ts for the slow log): before any line. Each
// line is one record read alone (parsers/jsonl.ts keeps nothing from line to line and has no context), and a line
// too long to read is reported by the reader whichever chunk holds it, so any line boundary gives the records one
// sequential parse gives (test/parser-differential.test.ts checks it).

export class JsonLinesCuts {
  line(): boolean {
    return true;
  }

  cuttableNow(): boolean {
    return true;
  }

  cutAfterLast(): void {}
}
