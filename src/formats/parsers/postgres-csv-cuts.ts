// Where a csvlog may be cut into chunks: before any line (the parser carries a record open across a cut:
// StateCarryingParser), as every-line-cuts.ts; and whether a record is open after the last line, as
// PostgresCsvParser (postgres-csv.ts) sees it: a record starts with its time stamp and goes on over lines until its
// quotes balance. A quiet moment inside a record is cut before its last line (EntryCuts.idleBeforeLastLine): the
// consumer's flush(false) there emits what the record path's idle flush emits (a record still open gives nothing
// yet), and that line stays for a later chunk, so a file that ends there still ends with an `eof` chunk, whose
// flush(true) says the record was cut off, as the record path says. When that line is all the chunker holds (it cut
// before it when it caught up), the quiet chunk ends after it: the records are the record path's, but a file that
// then ends with no byte more has no `eof` chunk, and the record cut off is not said (the one difference left,
// for a file that ends inside a record). A record over the parser's 8 MiB limit, which the parser drops, stays open
// here until a line balances it: such a quiet moment is cut before its last line too.

const QUOTE = 34;

/** `"?YYYY-MM-DD HH:MM:SS` at buf[s, t): what the parser's RECORD_START matches */
function recordStart(buf: Buffer, s: number, t: number): boolean {
  let i = s;
  if (i < t && buf[i] === QUOTE) i++;
  if (t - i < 19) return false;
  const pattern = 'dddd-dd-dd dd:dd:dd';
  for (let k = 0; k < 19; k++) {
    const c = buf[i + k]!;
    if (pattern.charCodeAt(k) === 100 ? c < 48 || c > 57 : c !== pattern.charCodeAt(k)) return false;
  }
  return true;
}

/** buf[s, t) holds an odd number of quotes (counted within the line: indexOf would search the buffer past it) */
function oddQuotes(buf: Buffer, s: number, t: number): boolean {
  let odd = false;
  for (let i = s; i < t; i++) if (buf[i] === QUOTE) odd = !odd;
  return odd;
}

export class CsvLogCuts {
  /** a record's quotes do not balance yet */
  private open = false;

  /** at a quiet moment with a record open, cut before the last line (see above) */
  readonly idleBeforeLastLine = true;

  line(buf: Buffer, s: number, t: number): boolean {
    if (!this.open) {
      if (recordStart(buf, s, t) && oddQuotes(buf, s, t)) this.open = true;
    } else if (oddQuotes(buf, s, t)) this.open = false;
    return true;
  }

  cuttableNow(): boolean {
    return !this.open;
  }

  cutAfterLast(): void {}
}
