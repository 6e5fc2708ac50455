import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ServerEndpoint } from '../transport/endpoint.js';
import { Batcher, type Batch } from './batch.js';
import { DeadLetters } from '../service/dead-letter.js';
import { resumePointAfter, resumePointAfterChunk, type StreamInfo, type TailedChunk, type TailedEvent, type TailProblem, type TailerError } from './harvester.js';
import { Registry, type ResumePoint } from './registry.js';
import { Sender, type SenderStats } from './sender.js';
import type { MasterConnection } from './master-connection.js';
import type { ParserOptions } from '../formats/parsers/index.js';
import { FileTailer } from './tailer.js';
import { StatsFile } from '../service/stats-file.js';
import { StatsReporter } from '../service/stats-reporter.js';

// One input of the agent on a database host (src/client/agent.ts; `slowq client` is an agent of one input):
// tail → parse → number → batch → send; commit the resume point of a
// batch to the registry only after the server acked it. When the window of unacked batches is full the
// tailer pauses (backpressure), so memory stays bounded and nothing is read that cannot be sent.

export interface ClientOptions {
  /** the masters' client endpoints (one or more, each with its CURVE key), for a connection of its own */
  masters: ServerEndpoint[];
  source: string;
  format: string;
  /** settings of the format (e.g. postgres log_line_prefix) */
  parserOptions?: ParserOptions;
  dataDir: string;
  patterns: string[];
  log: Logger;
  batchSize?: number;
  lingerMs?: number;
  window?: number;
  ackTimeoutMs?: number;
  pollIntervalMs?: number;
  statsIntervalMs?: number;
  /** counters to add to the client's own (e.g. the logger's dropped lines) */
  extraCounters?: () => Record<string, number>;
  /** the agent's connection to the master, shared by its inputs (default: one of its own) */
  connection?: MasterConnection;
  /** the name its counters are reported under (default client-SOURCE) */
  service?: string;
  /** rewrite DATA/stats.json (default true; an agent keeps one stats file for all its inputs) */
  statsFile?: boolean;
  /**
   * `chunks`: ship the log's raw bytes cut where entries end, and let the consumers parse them (design B: README,
   * "Where one file's parsing runs"); mysql-slow and jsonl. Default `records`: parse here and ship records.
   */
  ship?: 'records' | 'chunks';
}

export interface ClientStats extends SenderStats {
  read: number;
  deadLettered: number;
  streams: number;
  /** how long the oldest unacked batch has waited for its ack, ms (0: nothing waits) */
  waitingMs: number;
  /** open files without a change notification (inotify refused it): read at the poll interval only */
  unwatchedFiles: number;
}

export class Client {
  private registry: Registry | undefined;
  private tailer: FileTailer | undefined;
  private readonly sender: Sender<ResumePoint>;
  private readonly batcher: Batcher<ResumePoint>;
  private readonly deadLetters: DeadLetters;
  /** streams whose file ended: forget them once everything read from them is acked */
  private readonly ended = new Map<string, number>();
  private readonly lastRead = new Map<string, number>();
  private readonly lastAcked = new Map<string, number>();
  /** streams being read again from the start: their events are dropped until seq 1 comes round */
  private readonly rewinding = new Set<string>();
  private rewinds = 0;
  private timer: NodeJS.Timeout | undefined;
  private paused = false;
  private read = 0;
  /** ms since epoch of the first events read and of the last ack (what `slowq bench e2e` times) */
  private firstReadAt = 0;
  private lastAckAt = 0;
  private readonly statsFile: StatsFile | undefined;
  private readonly reporter: StatsReporter;

  constructor(private readonly opts: ClientOptions) {
    this.sender = new Sender<ResumePoint>(
      {
        masters: opts.masters, source: opts.source, log: opts.log, window: opts.window ?? 16, ackTimeoutMs: opts.ackTimeoutMs ?? 5000,
        ...(opts.connection && { connection: opts.connection }),
      },
      (b) => this.onAcked(b),
      () => this.maybeResume(),
      (stream, expected) => this.onServerBehind(stream, expected),
    );
    this.batcher = new Batcher<ResumePoint>(opts.batchSize ?? 1000, opts.lingerMs ?? 20, (b) => this.sender.submit(b));
    this.deadLetters = new DeadLetters(join(opts.dataDir, 'dead-letter.jsonl'), (err) =>
      opts.log.error({ err: err.message }, 'cannot write the dead-letter file'));
    if (opts.statsFile !== false) this.statsFile = new StatsFile(join(opts.dataDir, 'stats.json'), () => this.stats());
    this.reporter = new StatsReporter({
      service: opts.service ?? `client-${opts.source}`, kind: 'client', source: opts.source, counters: () => this.stats(), extra: opts.extraCounters,
      notes: () => this.notes(),
      intervalMs: opts.statsIntervalMs ?? 2000, report: (st) => this.sender.sendStats(st),
    });
  }

  async start(): Promise<void> {
    this.registry = await Registry.open(this.opts.dataDir, {
      onError: (err) => this.opts.log.error({ err: err.message, dataDir: this.opts.dataDir }, 'cannot write the offsets registry; keeping offsets in memory and retrying'),
    });
    this.sender.start();
    const tailerOpts: ConstructorParameters<typeof FileTailer>[0] = {
      patterns: this.opts.patterns,
      format: this.opts.format,
      registry: this.registry,
      sink: {
        events: (stream: StreamInfo, events: TailedEvent[]) => this.onEvents(stream, events),
        chunks: (stream: StreamInfo, chunks: TailedChunk[]) => this.onChunks(stream, chunks),
        problems: (stream: StreamInfo, problems: TailProblem[]) => this.onProblems(stream, problems),
        ended: (stream: StreamInfo) => this.onEnded(stream),
        error: (err: TailerError) => this.opts.log.warn({ path: err.path, code: err.code }, err.message),
      },
    };
    if (this.opts.pollIntervalMs !== undefined) tailerOpts.pollIntervalMs = this.opts.pollIntervalMs;
    if (this.opts.parserOptions !== undefined) tailerOpts.parserOptions = this.opts.parserOptions;
    if (this.opts.ship !== undefined) tailerOpts.ship = this.opts.ship;
    this.tailer = new FileTailer(tailerOpts);
    await this.tailer.start();
    this.timer = setInterval(() => this.batcher.tick(Date.now()), Math.max(5, Math.min(50, this.opts.lingerMs ?? 20)));
    this.statsFile?.start();
    this.reporter.start();
    this.opts.log.info({ source: this.opts.source, format: this.opts.format, ship: this.opts.ship ?? 'records', patterns: this.opts.patterns, masters: this.opts.masters.map((m) => m.endpoint) }, 'client started');
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.reporter.stop();
    await this.tailer?.stop();
    await this.sender.stop();
    await this.registry?.close();
    this.statsFile?.stop();
    this.opts.log.info(this.stats(), 'client stopped');
  }

  stats(): ClientStats & Record<string, number> {
    return {
      ...this.sender.stats, read: this.read, deadLettered: this.deadLetters.count, streams: this.lastRead.size, rewinds: this.rewinds,
      firstReadAt: this.firstReadAt, lastAckAt: this.lastAckAt, waitingMs: this.sender.progress().waitingMs,
      unwatchedFiles: this.tailer?.stats().unwatchedFiles ?? 0,
    };
  }

  /** Why nothing is acked, while something waits (the monitor shows it when it has waited long: src/monitor/service-health.ts). */
  private notes(): Record<string, string> | undefined {
    const p = this.sender.progress();
    return p.waitingMs > 0 && p.reason ? { waitingFor: p.reason } : undefined;
  }

  private onEvents(stream: StreamInfo, events: TailedEvent[]): void {
    if (events.length === 0) return;
    if (this.rewinding.has(stream.id)) {
      if (events[0]!.seq !== 1) return; // read before the rewind took effect: numbered the old way
      this.rewinding.delete(stream.id);
    }
    if (this.read === 0) this.firstReadAt = Date.now();
    this.read += events.length;
    this.lastRead.set(stream.id, events[events.length - 1]!.seq);
    this.batcher.add(stream.id, events, (e) => resumePointAfter(e as TailedEvent), Date.now());
    if (this.sender.full && !this.paused) {
      this.paused = true;
      this.tailer?.pause();
    }
  }

  /** Raw chunks of a stream (`--ship chunks`): each goes as it is, numbered by its bytes. */
  private onChunks(stream: StreamInfo, chunks: TailedChunk[]): void {
    if (chunks.length === 0) return;
    if (this.rewinding.has(stream.id)) {
      if (chunks[0]!.from !== 0) return; // read before the rewind took effect
      this.rewinding.delete(stream.id);
    }
    if (this.firstReadAt === 0) this.firstReadAt = Date.now();
    const format = this.opts.format;
    const timeZone = this.opts.parserOptions?.logTimeZone ?? '';
    const logLinePrefix = this.opts.parserOptions?.logLinePrefix ?? '';
    for (const c of chunks) {
      this.lastRead.set(stream.id, c.to);
      this.sender.submit({
        stream: stream.id, first: c.from + 1, last: c.to, records: [], resume: resumePointAfterChunk(c), chunk: { bytes: c.bytes, eof: c.eof, quiet: c.quiet, format, timeZone, logLinePrefix },
      });
    }
    if (this.sender.full && !this.paused) {
      this.paused = true;
      this.tailer?.pause();
    }
  }

  /**
   * The server lost records of `stream` it had acked (its state was damaged and it fell back to an older
   * generation): the offsets committed for them are past, so the only copy is the file. Read it again from
   * the start; the server drops what it still has as duplicates and applies the rest.
   */
  private onServerBehind(stream: string, expected: number): void {
    if (this.rewinding.has(stream)) return;
    const path = this.registry?.get(stream)?.path ?? stream;
    if (!this.tailer?.rewind(stream)) {
      this.opts.log.error({ stream, path, expected },
        'the server lost records it had acknowledged and their file is no longer open: records of this stream from seq `expected` on are missing from the alert state');
      this.sender.discard(stream);
      return;
    }
    this.rewinds++;
    this.opts.log.warn({ stream, path, expected },
      'the server lost records it had acknowledged (its state was rolled back); reading the file again from the start to resend them');
    this.rewinding.add(stream);
    this.batcher.discard(stream);
    this.sender.discard(stream);
    this.lastRead.delete(stream);
  }

  private onProblems(stream: StreamInfo, problems: TailProblem[]): void {
    const first = this.deadLetters.count === 0;
    this.deadLetters.add(stream.id, problems);
    if (first && problems[0]) {
      const p = problems[0];
      this.opts.log.warn({ file: p.path, offset: p.offset, line: p.line, reason: p.reason },
        'malformed input written to dead-letter.jsonl (further ones are only counted there)');
    }
  }

  private onEnded(stream: StreamInfo): void {
    this.batcher.tick(Date.now(), true);
    const last = this.lastRead.get(stream.id) ?? 0;
    this.ended.set(stream.id, last);
    this.forgetIfDone(stream.id);
  }

  private onAcked(b: Batch<ResumePoint>): void {
    this.lastAckAt = Date.now();
    this.registry?.commit(b.stream, b.resume);
    this.lastAcked.set(b.stream, b.last);
    this.forgetIfDone(b.stream);
  }

  /** Whether a stream of this input is the file with this identity and still has events to send or to have acked. */
  holdsFile(dev: string, ino: string): boolean {
    if (!this.registry) return true;
    return this.registry.list().some((e) => e.dev === dev && e.ino === ino);
  }

  /** An ended stream leaves the registry once its last event is acked. */
  private forgetIfDone(stream: string): void {
    const last = this.ended.get(stream);
    if (last === undefined || last > (this.lastAcked.get(stream) ?? 0)) return;
    this.ended.delete(stream);
    this.lastRead.delete(stream);
    this.lastAcked.delete(stream);
    this.registry?.forget(stream);
  }

  private maybeResume(): void {
    if (this.paused && !this.sender.full) {
      this.paused = false;
      this.tailer?.resume();
    }
  }
}
