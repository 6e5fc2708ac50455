import { createParser, type ParserOptions } from '../formats/parsers/index.js';
import { entryCutsFor } from '../formats/entry-chunker.js';
import type { RecordParser } from '../formats/parsers/types.js';
import { ChangeHints } from './change-hints.js';
import { FileDiscovery } from './discovery.js';
import { ErrorReporter } from './error-reporter.js';
import type { TailerSink } from './harvester.js';
import { OpenStreams } from './open-streams.js';
import type { Registry } from './registry.js';
import { Restore } from './restore.js';
import { Rotation } from './rotation.js';

export { resumePointAfter, resumePointAfterChunk } from './harvester.js';
export type { StreamInfo, TailedChunk, TailedEvent, TailProblem, TailerError, TailerSink } from './harvester.js';
export type { ResumePoint } from './registry.js';

// Follows log files the way Filebeat does, and runs the poll loop that drives the parts:
// - discovery.ts finds the files the patterns match (chokidar watchers, rescans, a stat per poll);
// - restore.ts matches the registry's streams to files at start-up;
// - rotation.ts sees what became of open files (renamed, deleted, truncated) and drains rotated ones;
// - open-streams.ts keeps the open harvesters and their registry entries in step;
// - harvester.ts reads one file: chunks → lines → parser → numbered events;
// - change-hints.ts wakes the loop when a file being read is written to.
// Open files are polled (fstat + read) every pollIntervalMs, because change notifications are not
// reliable for data; a notification only brings the next cycle forward (to HINT_GAP_MS after the last one
// began at the earliest, so a file written thousands of times a second costs at most one cycle per gap).
// Each file lifetime is a stream (ids persisted in the registry), numbered from seq 1; a stream is
// registered durably before its first event is emitted, so a crash cannot give the same file two stream
// ids (which would defeat the consumer's per-stream duplicate check). Here: pause and resume
// (backpressure), rewinds, and the order of a poll: restore, check open files, finish draining ones, then
// start new files (old before new) and read.

export interface FileTailerOptions {
  /** file paths or globs */
  patterns: string[];
  /** parser format (see parsers/index.ts) */
  format: string;
  /** settings of the format (e.g. postgres log_line_prefix) */
  parserOptions?: ParserOptions;
  registry: Registry;
  sink: TailerSink;
  /** how often open files are checked and read (default 250 ms) */
  pollIntervalMs?: number;
  /** wake up early when an open file is written to (inotify; default true): see change-hints.ts */
  changeHints?: boolean;
  /** a file at EOF this long gets a non-final parser flush (default 1000 ms) */
  idleFlushMs?: number;
  /** read size (default 64 KiB) */
  readChunkBytes?: number;
  /** longer lines are skipped and reported (default 1 MiB) */
  maxLineBytes?: number;
  /** a renamed or deleted file is ended once it has been quiet at EOF this long (late writes by a
   * process still holding it open are read meanwhile); its successor starts after (default 2000 ms) */
  rotatedGraceMs?: number;
  /** full rescan of glob directories, a safety net behind chokidar (default 10 s) */
  rescanIntervalMs?: number;
  /** most bytes read from one file per poll before the others get their turn (default 1 MiB) */
  maxBytesPerPoll?: number;
  /** `chunks`: new streams are shipped as raw entry-aligned chunks, parsed by the consumers (design B); default records */
  ship?: 'records' | 'chunks';
}

/** the shortest time between the starts of two cycles that change notifications bring forward */
export const HINT_GAP_MS = 5;

export interface TailerStats {
  /** poll cycles run (a paused poll counts, but reads nothing) */
  polls: number;
  /** open files without a change notification (it could not be set up): read at the poll interval only */
  unwatchedFiles: number;
  openFiles: number;
  bytesRead: number;
  events: number;
  problems: number;
  skipped: number;
  streamsEnded: number;
}

export class FileTailer {
  private readonly format: string;
  private readonly parserOptions: ParserOptions;
  private readonly pollIntervalMs: number;
  private readonly idleFlushMs: number;
  private readonly maxBytesPerPoll: number;
  private readonly readBuf: Buffer;
  private readonly reporter: ErrorReporter;
  private readonly discovery: FileDiscovery;
  private readonly streams: OpenStreams;
  private readonly restore: Restore;
  private readonly rotation: Rotation;

  /** streams to read again from their first byte, at the start of the next cycle */
  private readonly rewinds = new Set<string>();
  private polls = 0;
  private running = false;
  private isPaused = false;
  private loopDone: Promise<void> | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private wakeUp: (() => void) | undefined;
  private readonly hints: ChangeHints | undefined;
  /** a file was written to since the current cycle began */
  private changed = false;
  /** the sleep was already cut short by a change notification */
  private hintArmed = false;
  private cycleStartedAt = 0;

  constructor(opts: FileTailerOptions) {
    if (opts.patterns.length === 0) throw new Error('no file patterns to tail');
    createParser(opts.format, opts.parserOptions); // fail now on an unknown format or bad options
    if (opts.ship === 'chunks') entryCutsFor(opts.format); // and on a format that cannot be cut into chunks
    this.format = opts.format;
    this.parserOptions = opts.parserOptions ?? {};
    this.pollIntervalMs = opts.pollIntervalMs ?? 250;
    this.idleFlushMs = opts.idleFlushMs ?? 1000;
    this.maxBytesPerPoll = opts.maxBytesPerPoll ?? 1 << 20;
    this.readBuf = Buffer.allocUnsafe(opts.readChunkBytes ?? 1 << 16);
    this.reporter = new ErrorReporter(opts.sink);
    this.discovery = new FileDiscovery(opts.patterns, opts.rescanIntervalMs ?? 10_000, this.reporter);
    this.streams = new OpenStreams({
      registry: opts.registry,
      sink: opts.sink,
      reporter: this.reporter,
      newParser: () => this.newParser(),
      maxLineBytes: opts.maxLineBytes ?? 1 << 20,
      format: opts.format,
      shipChunks: opts.ship === 'chunks',
    });
    this.restore = new Restore(opts.registry, opts.sink, this.streams, this.reporter);
    this.rotation = new Rotation(this.streams, this.discovery, this.reporter, opts.rotatedGraceMs ?? 2000);
    if (opts.changeHints ?? true) this.hints = new ChangeHints(() => this.onChange());
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.restore.begin();
    await this.discovery.start();
    this.loopDone = this.loop();
  }

  /** Stops reading and closes files. Unfinished streams stay in the registry and resume on the next start. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake();
    await this.loopDone;
    this.hints?.close();
    await this.discovery.close();
    await this.streams.closeAll();
  }

  /** Backpressure: stop reading (takes effect after the chunk being parsed). */
  pause(): void {
    this.isPaused = true;
  }

  resume(): void {
    if (!this.isPaused) return;
    this.isPaused = false;
    this.wake();
  }

  /**
   * Reads a stream again from its first byte, with the same seqs (the server lost records it had acked: they
   * are only in the file now; what it still has comes back as duplicates). Takes effect between two polls, so
   * events already emitted still carry the old numbering: the next event of the stream has seq 1.
   * False if the stream's file is no longer open (ended, or its file is gone).
   */
  rewind(stream: string): boolean {
    if (!this.streams.byStream(stream)) return false;
    this.rewinds.add(stream);
    this.wake();
    return true;
  }

  get paused(): boolean {
    return this.isPaused;
  }

  stats(): TailerStats {
    const c = this.streams.counts();
    return {
      polls: this.polls,
      bytesRead: c.bytesRead,
      events: c.events,
      problems: c.problems,
      skipped: c.skipped,
      streamsEnded: c.streamsEnded,
      openFiles: this.streams.size,
      unwatchedFiles: this.hints?.unwatchedCount ?? 0,
    };
  }

  // ---- the poll loop ----

  private async loop(): Promise<void> {
    while (this.running) {
      let busy = false;
      this.changed = false;
      this.cycleStartedAt = performance.now();
      try {
        busy = await this.cycle();
      } catch (err) {
        this.reporter.report('(tailer)', err);
      }
      if (!this.running) break;
      this.watchOpenFiles();
      await new Promise<void>((resolve) => {
        this.wakeUp = resolve;
        this.hintArmed = this.changed;
        // a file still behind after its share gets the next turn at once; one written to during the cycle, soon
        const delay = this.isPaused ? this.pollIntervalMs : busy ? 0 : this.changed ? this.hintDelay() : this.pollIntervalMs;
        this.sleepTimer = setTimeout(resolve, delay);
      });
      this.wakeUp = undefined;
    }
  }

  private wake(): void {
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.sleepTimer = undefined;
    this.wakeUp?.();
  }

  /** A file being read was written to: run the next cycle soon (at most one per HINT_GAP_MS), not at the next poll. */
  private onChange(): void {
    this.changed = true;
    if (!this.wakeUp || this.hintArmed || this.isPaused) return; // mid-cycle (the loop sees `changed`), or already soon
    this.hintArmed = true;
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.sleepTimer = setTimeout(this.wakeUp, this.hintDelay());
  }

  private hintDelay(): number {
    const gap = Math.min(HINT_GAP_MS, this.pollIntervalMs);
    return Math.max(0, this.cycleStartedAt + gap - performance.now());
  }

  /** Change notifications for the files being read (not for rotated ones draining: their path is another file's now). */
  private watchOpenFiles(): void {
    if (!this.hints) return;
    const files = new Map<string, string>();
    for (const h of this.streams.list()) if (!h.draining) files.set(h.info.id, h.info.path);
    this.hints.track(files);
  }

  /** One pass over every file. Returns true if some file still has bytes to read. */
  private async cycle(): Promise<boolean> {
    this.polls++;
    if (this.rewinds.size > 0) await this.applyRewinds(Date.now());
    if (this.isPaused) return false;
    const now = Date.now();
    const seen = await this.discovery.candidates(now);
    await this.restore.run(seen, now);
    await this.rotation.checkOpenFiles(seen, now);
    await this.readFiles('draining', now);
    if (this.isPaused) return false;
    await this.streams.openNew(seen, this.restore.waitingPaths(), now);
    await this.readFiles('active', now);
    if (this.isPaused) return false;
    return this.streams.list().some((h) => h.behind);
  }

  private async readFiles(which: 'active' | 'draining', now: number): Promise<void> {
    for (const h of this.streams.list()) {
      if ((h.draining ? 'draining' : 'active') !== which) continue;
      if (this.isPaused) return;
      try {
        await h.read(this.readBuf, this.maxBytesPerPoll, () => this.isPaused, now);
      } catch (err) {
        this.reporter.report(h.info.path, err, h.info.id);
        continue;
      }
      this.streams.recordHead(h);
      if (h.behind || this.isPaused) continue;
      if (which === 'draining') await this.rotation.endIfDrained(h, this.readBuf, now);
      else h.flushIfIdle(now, this.idleFlushMs);
    }
  }

  private async applyRewinds(now: number): Promise<void> {
    for (const stream of [...this.rewinds]) {
      this.rewinds.delete(stream);
      await this.streams.rewind(stream, now);
    }
  }

  /** A fresh parser with the format's options, for every harvester (a rewound one too: without its
   * log_line_prefix a postgres parser would refuse every line). */
  private newParser(): RecordParser {
    return createParser(this.format, this.parserOptions);
  }
}
