import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { ParseProblem } from '../formats/parsers/types.js';
import type { WireRecord } from '../model/record.js';
import type { ChunkRequest } from './chunk-intake.js';
import type { ChunkMark } from '../rules/rules.js';
import { decodeRecords, Interner, type RecordColumns } from './record-columns.js';

// Parses raw chunks (design B) in worker threads (parse-worker.ts) while the main thread applies the chunks
// before them: one file's parsing and its rules run on two cores. The main thread stays the one place where
// state changes, in the order requests came; a chunk parsed ahead is only a guess of what parsing it at its turn
// would give, and it is used only if the guess holds then:
//
// - a chunk is offered when it arrives. It is parsed ahead only if it starts exactly where its stream's bytes
//   will stand at its turn as far as can be known now: where the last chunk parsed ahead of that stream ends
//   (the worker continues with the context it left there), or, with none in the queue before it, at the
//   stream's mark (the worker starts from the mark's context, sent along);
// - at its turn (ChunkIntake.apply) the stream's mark must be the very object the guess started from: the mark
//   the chunk before it left when it was applied from its parse, or the mark seen when it was offered. Anything
//   that changed the stream in between (a chunk that went another way, a handoff, a reload of the state, a
//   failed parse) fails that check, and the chunk is parsed then, on the main thread, as without parse threads.
//
// So a parse thread can only make things faster, never different: test/parse-ahead.test.ts holds the records and
// alerts equal to a sequential parse, with chains broken in every way above.

/** What the main thread asks a parse thread (parse-worker.ts). */
export interface ParseJob {
  id: number;
  /** the stream: source and stream name */
  key: string;
  fmt: string;
  tz: string;
  /** byte offset of the chunk's first byte, and the lines before it */
  offset: number;
  line: number;
  /** start from `context` (true), or from where the thread left `key` (which must end at `offset`) */
  fresh: boolean;
  context?: unknown;
  eof: boolean;
  /** the chunk's bytes in [0, length): a buffer handed over, and handed back with the reply for reuse */
  buffer: ArrayBuffer;
  length: number;
}

export type ParseReply =
  | { id: number; ok: true; buffer: ArrayBuffer; columns: RecordColumns; problems: ParseProblem[]; line: number; context: unknown; cutInEntry: boolean }
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
}

/** One chunk parsed ahead (or being parsed). */
export class AheadTicket {
  settled = false;
  /** a chunk before it in its chain will not be applied from its parse: neither will this one (offer it again) */
  doomed = false;
  result: ParsedAhead | undefined;
  /** the mark the chunk's stream got when this chunk was applied from its parse (the next chunk's check) */
  appliedMark: ChunkMark | undefined;

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
  ) {}

  /** The parse, if it started from where `mark` (the stream's mark now, at the chunk's turn) says. */
  usable(mark: ChunkMark | undefined): ParsedAhead | undefined {
    const from = this.prev ? this.prev.appliedMark : this.startMark;
    const ok = this.result !== undefined && !this.doomed && mark === from && (mark?.end ?? 0) === this.first - 1;
    this.prev = undefined; // consumed in order: nothing after needs the chain behind it
    return ok ? this.result : undefined;
  }
}

export interface ParseAheadOptions {
  /** parse threads (at least 1; a stream always goes to the same one) */
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
  readonly counts = { chunksParsedAhead: 0, chunksParsedAgain: 0, parseThreadFailures: 0 };

  constructor(private readonly opts: ParseAheadOptions) {
    this.threads = new Array<Thread | undefined>(Math.max(1, opts.threads)).fill(undefined);
  }

  /**
   * A chunk has come (before the requests queued ahead of it are done): parse it ahead if where it starts is
   * known. `mark`: its stream's mark now; `queuedBefore`: chunks of its stream queued ahead of it.
   */
  offer(req: ChunkRequest, mark: ChunkMark | undefined, queuedBefore: number): AheadTicket | undefined {
    if (this.stopped) return undefined;
    const key = streamKey(req);
    const chain = this.chains.get(key);
    let fresh: boolean;
    let w: number;
    if (chain) {
      // the last chunk parsed ahead ends where this one starts: the thread goes on from there
      if (req.first - 1 !== chain.last) return undefined;
      fresh = false;
      w = chain.thread;
    } else {
      if (queuedBefore > 0 || req.first - 1 !== (mark?.end ?? 0)) return undefined;
      fresh = true;
      w = this.threadFor(key);
    }
    const thread = this.thread(w);
    if (!thread.online) return undefined;
    const id = this.nextId++;
    const ticket = new AheadTicket(id, key, fresh ? undefined : chain, fresh ? mark : undefined, req.first, req.last, w);
    const buffer = this.buffer(req.bytes.length);
    new Uint8Array(buffer, 0, req.bytes.length).set(req.bytes);
    const job: ParseJob = {
      id, key, fmt: req.fmt, tz: req.tz, offset: req.first - 1, line: fresh ? (mark?.line ?? 0) : 0, fresh, eof: req.eof, buffer, length: req.bytes.length,
      ...(fresh && mark?.context !== undefined && { context: mark.context }),
    };
    thread.worker.postMessage(job, [buffer]);
    this.inFlight.set(id, ticket);
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
      const live = this.live.get(ticket.key);
      if (live?.[0] === ticket) live.shift();
      if (live?.length === 0) this.live.delete(ticket.key);
      return;
    }
    this.counts.chunksParsedAgain++;
    this.breakChain(ticket);
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

  private threadFor(key: string): number {
    let h = 0;
    for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) | 0;
    return Math.abs(h) % this.threads.length;
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
      } catch (err) {
        this.opts.log.error({ err: (err as Error).message }, 'a parse thread\'s records could not be read: the chunk is parsed at its turn');
      }
    }
    this.settle(ticket, result);
    this.opts.onSettled();
  }

  private settle(ticket: AheadTicket, result: ParsedAhead | undefined): void {
    this.inFlight.delete(ticket.id);
    ticket.settled = true;
    ticket.result = result;
    if (result === undefined) this.breakChain(ticket);
  }

  /** `ticket` will not be applied from its parse: the chunks after it in its chain are doomed. */
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
