import { boundLabels, MAX_TIME_MS } from '../../model/bounds.js';
import type { ParsedEvent, WireRecord } from '../../model/record.js';
import { recordProblem } from '../../wire/record-schema.js';

export { MAX_TIME_MS };

/** A line or record that could not be used, with where it was. */
export interface ParseProblem {
  /** byte offset of the first line of the problem */
  offset: number;
  /** 1-based line number, when the caller counts lines (0 if unknown) */
  line: number;
  reason: string;
  /** the offending text, cut to a reasonable length */
  text: string;
}

/** Where a parser puts what it finds; the caller owns and drains the arrays. */
export interface ParseOutput {
  events: ParsedEvent[];
  problems: ParseProblem[];
  /** lines that are valid for the format but are not query events (banners, parse/bind steps, …) */
  skipped: number;
}

/**
 * A streaming parser: pure, no I/O. Fed one line at a time, in file order, it emits complete events.
 * An event is emitted only when it is proven complete (by the next header or by `flush`), so a record
 * still being written is never sent half-done.
 */
export interface RecordParser {
  readonly format: string;
  /**
   * One line without its line terminator ("\n" or "\r\n").
   * `offset` is the byte offset of the line's first byte, `end` the offset just past its terminator.
   * `lineNo` is the 1-based line number (0 when unknown, e.g. after resuming mid-file).
   */
  line(text: string, offset: number, end: number, lineNo: number, out: ParseOutput): void;
  /**
   * No more input for now. `final` = true at end of input (a file read whole): everything pending is emitted.
   * `final` = false when a tailed file has been idle: emit the pending event only if the format lets us
   * know it is complete (e.g. a slow-log statement ending in ';').
   */
  flush(final: boolean, out: ParseOutput): void;
  /**
   * Carry-over state (JSON-serialisable) needed to resume at the `end` of the last emitted event with the same
   * results as reading from the start (e.g. the last `# Time:` a later MySQL event inherits). Undefined if none.
   */
  context(): unknown;
  /** Restore what `context()` returned, before feeding lines from the resume offset. */
  restore(context: unknown): void;
}

/**
 * A parser that reads bytes (parsers/mysql-slow-bytes.ts): lines come as ranges of a buffer that is only valid
 * during the call, so it makes strings only for what a record keeps. It still takes text lines (`line()`),
 * and gives the same output either way. chunk-reader.ts feeds it.
 */
export interface ByteRecordParser extends RecordParser {
  /** `line()` for the bytes buf[start, stop) (no line terminator); the other arguments as there */
  lineBytes(buf: Buffer, start: number, stop: number, offset: number, end: number, lineNo: number, out: ParseOutput): void;
  /** The buffer of the last lineBytes() call is about to be reused: copy what is still needed of it. */
  releaseBuffer(): void;
}

/**
 * A parser that can start where its context is not known yet (a chunk parsed ahead of the one before it, in
 * another thread: src/consumer/parse-ahead.ts), and settle the parse later against the real start. Formats whose
 * context a guess cannot be checked against (PostgreSQL's query id allocator) are not.
 */
export interface GuessingParser extends RecordParser {
  /** restore() for an unknown start: what the parse takes from it is written down, for guesses() */
  guessStart(): void;
  /** what the parse took from the start since guessStart() (plain data, to cross to another thread) */
  guesses(): unknown;
  /**
   * Holds `guesses` against the real start (`start`, a context()): the events whose fields hang on it are made
   * again (`fix(k, ts, queryId)` for the k-th event of guessedOffsets(); ts undefined: kept; false if it cannot
   * take them). Returns the context at the parse's end (`guessedEnd`: what context() said there), or NOT_SETTLED
   * if the guess did not hold.
   */
  settle(guesses: unknown, start: unknown, guessedEnd: unknown, fix: (k: number, ts: number | undefined, queryId: string) => boolean): unknown;
  /** the byte offsets of the events `fix` may be called for, by k (to find them among the parse's events) */
  guessedOffsets(guesses: unknown): number[];
}

/**
 * A parser whose whole state can be carried from one chunk to the next, so that a chunk may end anywhere between
 * lines (PostgreSQL's: a message whose lines go on past the cut, a statement held until the next message shows
 * whether auto_explain's plan pairs with it: postgres-join.ts). A chunk of such a format is flushed only where the
 * file went quiet or ended (src/formats/chunk-parse.ts), as the record path flushes.
 */
export interface StateCarryingParser extends RecordParser {
  /** everything the parser holds now, as plain data: restoreState() of it, then the next lines, give what they give now */
  state(): unknown;
  /** Restore what state() returned (anything else, e.g. from a corrupt state file: as restore(undefined)). */
  restoreState(state: unknown): void;
}

export function isStateCarryingParser(p: RecordParser): p is StateCarryingParser {
  return typeof (p as Partial<StateCarryingParser>).restoreState === 'function';
}

export function isGuessingParser(p: RecordParser): p is GuessingParser {
  return typeof (p as Partial<GuessingParser>).guessStart === 'function';
}

/** GuessingParser.settle(): the guess did not hold (parse the chunk again from its real start). */
export const NOT_SETTLED: unique symbol = Symbol('not settled');

export function isByteParser(p: RecordParser): p is ByteRecordParser {
  return typeof (p as Partial<ByteRecordParser>).lineBytes === 'function';
}

export function newParseOutput(): ParseOutput {
  return { events: [], problems: [], skipped: 0 };
}

/** Cut text for error reports. */
export function excerpt(text: string, max = 200): string {
  return text.length <= max ? text : text.slice(0, max) + '…';
}

/**
 * Why an event (or the record made of it) cannot be used, or undefined. A time no Date holds (or a duration of
 * Infinity from "duration: 9999…" in a log) would become the source's event-time watermark and poison every later decision;
 * and an event the wire's record schema refuses (a query id of a megabyte, a negative row count) would be
 * refused by the consumer, and its batch sent again and again.
 */
export function eventProblem(ev: WireRecord): string | undefined {
  if (!Number.isFinite(ev.ts) || Math.abs(ev.ts) > MAX_TIME_MS) return `event time ${ev.ts} is out of range`;
  if (!Number.isFinite(ev.durationMs) || ev.durationMs < 0 || ev.durationMs > MAX_TIME_MS) return `duration ${ev.durationMs} ms is out of range`;
  return recordProblem(ev);
}

/**
 * Moves the events of out.events from index `from` on that eventProblem() refuses to out.problems, keeping
 * the order of the rest; labels beyond the bounds are cut first (model/bounds.ts). Every reader of parser
 * output calls it (tailing and whole files alike), so the pipeline and the oracle drop the same events.
 */
export function rejectBadEvents(out: ParseOutput, from: number, lineOf: (ev: ParsedEvent) => number): void {
  const evs = out.events;
  let w = from;
  for (let r = from; r < evs.length; r++) {
    const ev = evs[r]!;
    if (ev.labels) ev.labels = boundLabels(ev.labels);
    const why = eventProblem(ev);
    if (why === undefined) evs[w++] = ev;
    else out.problems.push({ offset: ev.offset, line: lineOf(ev), reason: why, text: excerpt(ev.sql) });
  }
  evs.length = w;
}
