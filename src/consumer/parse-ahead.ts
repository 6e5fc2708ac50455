import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { GuessedStart } from '../formats/chunk-parse.js';
import { canGuessStart } from '../formats/parsers/index.js';
import type { ParseProblem } from '../formats/parsers/types.js';
import type { WireRecord } from '../model/record.js';
import type { ChunkRequest } from './chunk-intake.js';
import type { ChunkMark } from '../rules/rules.js';
import { decodeRecords, Interner, type RecordColumns } from './record-columns.js';

// Parses raw chunks (design B) in worker threads (parse-worker.ts) while the main thread applies the chunks
// before them: one file's parsing spread over the parse threads, its rules on the main thread. The main thread
// stays the one place where state changes, in the order requests came; a chunk parsed ahead is only a guess of
// what parsing it at its turn would give, and it is used only if the guess holds then:
//
// - a chunk is offered when it arrives. Where its start is known as far as can be known now, it goes on a chain:
//   to the thread that parsed the stream's last chunk, ending where this one starts (the worker continues with
//   the context it left there), or, with none in the queue before it, to any thread with the stream's mark and
//   its context. At its turn (ChunkIntake.apply) the stream's mark must be the very object the parse started
//   from: the mark the chunk before it left when it was applied from its parse, or the mark seen when it was
//   offered. Anything that changed the stream in between (a chunk that went another way, a handoff, a reload of
//   the state, a failed parse) fails that check;
// - otherwise, or when another thread is idler than the chain's, a chunk of a format that allows it
//   (canGuessStart: mysql-slow, jsonl) is parsed from a guessed start by the idlest thread: from its byte offset
//   alone, writing down what it takes from the start it does not know (formats/chunk-parse.ts guess()). At its
//   turn it must start at the stream's mark, and it is settled against the mark's context (the times and ids that
//   hang on it made again); a guess that does not hold is parsed again. So one stream keeps every thread busy;
// - a chunk not parsed ahead, or whose parse fails a check, is parsed at its turn on the main thread, as without
//   parse threads.
//
// So parse threads can only make things faster, never different: test/parse-ahead.test.ts holds the records and
// alerts equal to a sequential parse, with chains broken in every way above and with guessed starts;
// test/parser-differential.test.ts holds settled guesses equal to parses from the real start.

/** What the main thread asks a parse thread (parse-worker.ts). */
export interface ParseJob {
  id: number;
  /** the stream: source and stream name */
  key: string;
  fmt: string;
  tz: string;
  pfx: string;
  /** byte offset of the chunk's first byte, and the lines before it */
  offset: number;
  line: number;
  /** start from `context` (true), or from where the thread left `key` (which must end at `offset`) */
  fresh: boolean;
  /** start where the stream will stand at the chunk's turn, not known yet: settled then (`fresh` and `context` unused) */
  guess: boolean;
  context?: unknown;
  eof: boolean;
  quiet: boolean;
  /** the chunk's bytes in [0, length): a buffer handed over, and handed back with the reply for reuse */
  buffer: ArrayBuffer;
  length: number;
}

export type ParseReply =
  | { id: number; ok: true; buffer: ArrayBuffer; columns: RecordColumns; problems: ParseProblem[]; line: number; context: unknown; cutInEntry: boolean; guess?: GuessedStart }
  | { id: number; ok: false; buffer: ArrayBuffer; error: string };

/** A stream's key: its source and its name. */
export function streamKey(c: { src: string; stream: string }): string {
  return `${c.src}\u0000${c.stream}`;
}

/** A chunk's parse done ahead: what ChunkIntake would have parsed at its turn. */
export interface ParsedAhead {
  records: WireRecord[];
  problems: ParseProblem[];
  line: number;
  context: unknown;
  cutInEntry: boolean;
  /** parsed from a guessed start (lines counted from 0): to be settled against the real one at its turn */
  guess?: GuessedStart;
}

/** One chunk parsed ahead (or being parsed). */
export class AheadTicket {
  settled = false;
  /** a chunk before it in its chain will not be applied from its parse: neither will this one (offer it again) */
  doomed = false;
  result: ParsedAhead | undefined;
  /** the mark the chunk's stream got when this chunk was applied from its parse (the next chunk's check) */
  appliedMark: ChunkMark | undefined;
  /** parsed from a guessed start that, settled at its turn, did not hold */
  notHeld = false;

  constructor(
    readonly id: number,
    readonly key: string,
    /** the chunk before it in its chain (the parse continued from it); undefined: started from `startMark` */
    private prev: AheadTicket | undefined,
    private readonly startMark: ChunkMark | undefined,
    /** the chunk's bytes: first..last (seqs: byte offset + 1) */
    readonly first: number,
    readonly last: number,
    /** the parse thread it went to */
    readonly thread: number,
    /** parsed from a guessed start: it needs only to start where the stream stands at its turn (then settled) */
    readonly guessed = false,
  ) {}

  /**
   * The parse, if it started from where `mark` (the stream's mark now, at the chunk's turn) says; a guessed start
   * is only known to start at the mark's byte, and is settled against the mark (ChunkIntake).
   */
  usable(mark: ChunkMark | undefined): ParsedAhead | undefined {
    const from = this.prev ? this.prev.appliedMark : this.startMark;
    const at = (mark?.end ?? 0) === this.first - 1;
    const ok = this.result !== undefined && at && (this.guessed || (!this.doomed && mark === from));
    this.prev = undefined; // consumed in order: nothing after needs the chain behind it
    return ok ? this.result : undefined;
  }
}

export interface ParseAheadOptions {
  /** parse threads (at least 1) */
  threads: number;
  /** a ticket settled: the queue may go on */
  onSettled: () => void;
  log: Logger;
}

interface Thread {
  worker: Worker;
  online: boolean;
}

/**
 * Spare chunk buffers kept for reuse: more than a client's window of chunks in flight (16), so that a copy into a
 * fresh buffer (its page faults) is rare.
 */
const POOL_MAX = 20;
const MIN_BUFFER = 768 << 10;
/** parse threads that may stop unasked before the consumer parses on its main thread only */
const MAX_EXITS = 3;

export class ParseAhead {
  private readonly threads: Array<Thread | undefined>;
  /** per stream, the last chunk parsed ahead: the next one may continue from it */
  private readonly chains = new Map<string, AheadTicket>();
  /** per stream, its chunks parsed ahead and not done yet, in order */
  private readonly live = new Map<string, AheadTicket[]>();
  private readonly inFlight = new Map<number, AheadTicket>();
  private readonly pool: ArrayBuffer[] = [];
  /** fingerprints and names of the records read back, shared across chunks */
  private readonly interner = new Interner();
  private nextId = 1;
  private stopped = false;
  /** parse threads that stopped without being asked to */
  private exits = 0;
  /** chunks parsed ahead and applied from their parse, and those parsed again at their turn */
  readonly counts = { chunksParsedAhead: 0, chunksParsedAgain: 0, chunksGuessed: 0, guessesNotHeld: 0, parseThreadFailures: 0 };
  /** jobs sent to each thread and not answered yet */
  private readonly load: number[];

  constructor(private readonly opts: ParseAheadOptions) {
    this.threads = new Array<Thread | undefined>(Math.max(1, opts.threads)).fill(undefined);
    this.load = new Array<number>(this.threads.length).fill(0);
  }

  /**
   * A chunk has come (before the requests queued ahead of it are done): parse it ahead. `mark`: its stream's mark
   * now; `queuedBefore`: chunks of its stream queued ahead of it. It goes where its start is known (the thread
   * that holds the stream's last chunk, going on from where that one ends; or, with none queued before it, any
   * thread with the mark's context), unless another thread is idler: then, as when its start is not known, it is
   * parsed from a guessed start by the idlest thread, if its format allows (canGuessStart), so one stream keeps
   * every parse thread busy.
   */
  offer(req: ChunkRequest, mark: ChunkMark | undefined, queuedBefore: number): AheadTicket | undefined {
    if (this.stopped) return undefined;
    const key = streamKey(req);
    const chain = this.chains.get(key);
    let how: 'chain' | 'fresh' | 'guess' | undefined;
    let w = 0;
    if (chain && req.first - 1 === chain.last) {
      how = 'chain';
      w = chain.thread;
    } else if (!chain && queuedBefore === 0 && req.first - 1 === (mark?.end ?? 0)) {
      how = 'fresh';
      w = this.idlest();
    }
    if (canGuessStart(req.fmt)) {
      const idle = this.idlest();
      if (how === undefined || this.load[idle]! < this.load[w]!) {
        how = 'guess';
        w = idle;
      }
    }
    if (how === undefined) return undefined;
    const thread = this.thread(w);
    if (!thread.online) return undefined;
    const id = this.nextId++;
    const fresh = how === 'fresh';
    const ticket = how === 'guess'
      ? new AheadTicket(id, key, undefined, undefined, req.first, req.last, w, true)
      : new AheadTicket(id, key, fresh ? undefined : chain, fresh ? mark : undefined, req.first, req.last, w);
    const buffer = this.buffer(req.bytes.length);
    new Uint8Array(buffer, 0, req.bytes.length).set(req.bytes);
    const job: ParseJob = {
      id, key, fmt: req.fmt, tz: req.tz, pfx: req.pfx, offset: req.first - 1, line: fresh ? (mark?.line ?? 0) : 0, fresh, guess: how === 'guess', eof: req.eof, quiet: req.quiet, buffer, length: req.bytes.length,
      ...(fresh && mark?.context !== undefined && { context: mark.context }),
    };
    thread.worker.postMessage(job, [buffer]);
    this.inFlight.set(id, ticket);
    this.load[w]!++;
    if (how === 'guess') return ticket; // no chain goes on from a guess: the next chunk of the stream is guessed too, or starts one
    this.chains.set(key, ticket);
    const live = this.live.get(key);
    if (live) live.push(ticket);
    else this.live.set(key, [ticket]);
    return ticket;
  }

  /** The chunk of `ticket` was done at its turn: applied from its parse (it has an appliedMark), or otherwise (its chain is broken then). */
  done(ticket: AheadTicket): void {
    if (ticket.appliedMark !== undefined) {
      this.counts.chunksParsedAhead++;
      if (ticket.guessed) this.counts.chunksGuessed++;
      const live = this.live.get(ticket.key);
      if (live?.[0] === ticket) live.shift();
      if (live?.length === 0) this.live.delete(ticket.key);
      return;
    }
    this.counts.chunksParsedAgain++;
    if (ticket.notHeld) this.counts.guessesNotHeld++;
    if (!ticket.guessed) this.breakChain(ticket);
  }

  /** Starts the parse threads now (else each starts at its first chunk): they load their modules while the consumer starts. */
  start(): void {
    for (let w = 0; w < this.threads.length; w++) this.thread(w);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const threads = this.threads.filter((t): t is Thread => t !== undefined);
    this.threads.fill(undefined);
    this.failAll();
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }

  /** The thread with the fewest jobs waiting (the lowest of equals). */
  private idlest(): number {
    let best = 0;
    for (let w = 1; w < this.load.length; w++) if (this.load[w]! < this.load[best]!) best = w;
    return best;
  }

  /** Thread `w`, started if it is not running (it takes jobs once it is online: until then chunks are parsed at their turn). */
  private thread(w: number): Thread {
    const have = this.threads[w];
    if (have) return have;
    const worker = new Worker(new URL('./parse-worker.js', import.meta.url));
    const t: Thread = { worker, online: false };
    this.threads[w] = t;
    worker.unref();
    worker.once('online', () => (t.online = true));
    worker.on('message', (reply: ParseReply) => this.onReply(reply));
    worker.on('error', (err) => {
      this.counts.parseThreadFailures++;
      this.opts.log.error({ err: err.message, thread: w }, 'a parse thread failed: the chunks it held are parsed at their turn on the main thread, and a new thread is started');
    });
    worker.once('exit', (code) => {
      if (this.threads[w] !== t) return;
      this.threads[w] = undefined;
      if (++this.exits >= MAX_EXITS && !this.stopped) {
        this.stopped = true;
        this.opts.log.error({ exits: this.exits, code }, 'parse threads keep stopping: chunks are parsed on the main thread from now on');
      }
      // what it held is parsed again at its turn; its streams start fresh chains
      for (const [key, chain] of this.chains) if (chain.thread === w) this.chains.delete(key);
      for (const ticket of [...this.inFlight.values()]) if (ticket.thread === w) this.settle(ticket, undefined);
      this.opts.onSettled();
    });
    return t;
  }

  private onReply(reply: ParseReply): void {
    this.recycle(reply.buffer);
    const ticket = this.inFlight.get(reply.id);
    if (!ticket) return;
    let result: ParsedAhead | undefined;
    if (reply.ok) {
      try {
        const records = decodeRecords(reply.columns, this.interner);
        result = { records, problems: reply.problems, line: reply.line, context: reply.context, cutInEntry: reply.cutInEntry };
        if (reply.guess) result.guess = reply.guess;
      } catch (err) {
        this.opts.log.error({ err: (err as Error).message }, 'a parse thread\'s records could not be read: the chunk is parsed at its turn');
      }
    }
    this.settle(ticket, result);
    this.opts.onSettled();
  }

  private settle(ticket: AheadTicket, result: ParsedAhead | undefined): void {
    if (this.inFlight.delete(ticket.id)) this.load[ticket.thread] = Math.max(0, this.load[ticket.thread]! - 1);
    ticket.settled = true;
    ticket.result = result;
    if (result === undefined && !ticket.guessed) this.breakChain(ticket);
  }

  /** `ticket` (on a chain) will not be applied from its parse: the chunks after it in its chain are doomed. */
  private breakChain(ticket: AheadTicket): void {
    const chain = this.chains.get(ticket.key);
    if (chain && chain.id >= ticket.id) this.chains.delete(ticket.key);
    const live = this.live.get(ticket.key);
    if (!live) return;
    const at = live.indexOf(ticket);
    if (at < 0) return;
    for (const t of live.splice(at)) if (t !== ticket) t.doomed = true;
    if (live.length === 0) this.live.delete(ticket.key);
  }

  private failAll(): void {
    for (const ticket of [...this.inFlight.values()]) this.settle(ticket, undefined);
    this.chains.clear();
    this.live.clear();
  }

  /** A buffer of at least `n` bytes to hand to a thread: a spare one if one is big enough. */
  private buffer(n: number): ArrayBuffer {
    for (let i = this.pool.length - 1; i >= 0; i--) {
      if (this.pool[i]!.byteLength >= n) return this.pool.splice(i, 1)[0]!;
    }
    return new ArrayBuffer(Math.max(n, MIN_BUFFER));
  }

  private recycle(buffer: ArrayBuffer): void {
    if (this.pool.length < POOL_MAX) this.pool.push(buffer);
  }
}
