import { isBanner } from './mysql-slow.js';
import { ADMIN, headerAfterHash, isMetaSetBytes, maybeBanner, SET, startsWithBytes, USE, utf8 } from './mysql-slow-bytes.js';

// Where a MySQL / MariaDB slow log may be cut into chunks that parse, one after the other with the carried-over
// context (context()/restore()), into exactly the records one sequential parse gives: design B of the throughput
// issue, the client ships such chunks raw and the consumer parses them (src/formats/entry-chunker.ts cuts,
// src/formats/chunk-parse.ts parses). It follows the few bits of MySqlSlowByteParser's state that decide where an
// entry ends (mysql-slow-bytes.ts, lineBytes(): its modes, whether the entry has a statement, whether the last
// line ended with `;`, a line skipped as too long), and reads none of the headers. When in doubt it says no: a cut
// not made only makes a chunk longer. test/chunk-differential.test.ts checks it on every corpus file.
//
// A cut is good before a line when the parser, there, is between entries (idle), or is about to end the entry
// it holds because the line starts with `#` after a statement ending in `;` — what flush(false) at the end of
// the chunk does too, and the next chunk then starts from idle with the same context. The same holds at the end
// of the lines read so far when cuttableNow() (what the client's idle flush emits).

const IDLE = 0;
const ENTRY = 1;
const PIECE = 2;
const HASH = 35;
const SEMI = 59;

export class MySqlSlowCuts {
  private mode = IDLE;
  /** the entry has a statement (or an administrator command): flush(false) emits it once a line ended with `;` */
  private hasStmt = false;
  private prevSemicolon = false;
  private expectOffset = -1;

  /** The next line (buf[s, t), no terminator; `offset`..`end` in the file). True: a cut just before it is good. */
  line(buf: Buffer, s: number, t: number, offset: number, end: number): boolean {
    // a line skipped as too long before this one: the parser only notices it now, so no cut here
    const notRead = offset > this.expectOffset && this.expectOffset >= 0;
    if (notRead && this.mode !== IDLE) {
      if (this.mode === PIECE) this.toIdle();
      else {
        this.hasStmt = true;
        this.prevSemicolon = true;
      }
    }
    this.expectOffset = end;
    const idleBefore = this.mode === IDLE && !notRead;
    const hash = t > s && buf[s] === HASH;
    if (!hash && t - s >= 10 && maybeBanner(buf, s, t) && isBanner(utf8(buf, s, t))) return idleBefore;
    const semicolon = t > s && buf[t - 1] === SEMI;
    if (this.mode === PIECE) {
      if (semicolon) this.toIdle();
      return false;
    }
    let cut = false;
    if (this.mode === ENTRY && hash && this.prevSemicolon) {
      if (this.hasStmt) {
        cut = !notRead;
        this.toIdle();
      } else if (headerAfterHash(buf, s + 1, t)) {
        this.toIdle(); // a headers-only entry ends here ("No query"): flush(false) would not emit it, so no cut
      } else {
        this.mode = PIECE;
        if (semicolon) this.toIdle();
        return false;
      }
    }
    this.prevSemicolon = semicolon;
    if (this.mode === IDLE) {
      cut ||= idleBefore;
      this.mode = ENTRY;
      this.hasStmt = false;
      if (!hash) return cut; // the parser reads an entry's first line as a header
    }
    if (this.hasStmt) return cut;
    if (hash) {
      if (startsWithBytes(buf, s, t, ADMIN)) this.hasStmt = true;
    } else if (!startsWithBytes(buf, s, t, USE) && !(startsWithBytes(buf, s, t, SET) && isMetaSetBytes(buf, s, t))) {
      this.hasStmt = true;
    }
    return cut;
  }

  /** A cut just after the last line given is good (flush(false) there leaves the parser idle). */
  cuttableNow(): boolean {
    return this.mode === IDLE || (this.mode === ENTRY && this.hasStmt && this.prevSemicolon);
  }

  /** A cut was made just after the last line given (cuttableNow()): the next chunk starts from idle. */
  cutAfterLast(): void {
    this.toIdle();
    this.expectOffset = -1;
  }

  private toIdle(): void {
    this.mode = IDLE;
    this.hasStmt = false;
    this.prevSemicolon = false;
  }
}
