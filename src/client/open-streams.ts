import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { RecordParser } from '../formats/parsers/types.js';
import type { ErrorReporter } from './error-reporter.js';
import { HEAD_BYTES, hashHead, openIfExists, readHead, statHandle, type FileStat } from './file-identity.js';
import { Harvester, type HarvestCounts, type StreamInfo, type TailerSink } from './harvester.js';
import type { EndReason, Registry, RegistryEntry } from './registry.js';

// The open files, one harvester each by file key (dev:ino), and their streams' entries in the registry.
// Every change of a stream goes to its harvester and to the registry here, together: opened (a new file
// is registered durably before its first event), moved, draining, read again from the start, ended.

export interface OpenStreamsOptions {
  registry: Registry;
  sink: TailerSink;
  reporter: ErrorReporter;
  /** a fresh parser for the format, with its options */
  newParser: () => RecordParser;
  maxLineBytes: number;
  /** the format read */
  format: string;
  /** new streams are shipped as raw chunks (a stream keeps the way it started: the registry says which) */
  shipChunks?: boolean;
}

export interface StreamCounts extends HarvestCounts {
  streamsEnded: number;
}

export class OpenStreams {
  private readonly registry: Registry;
  private readonly sink: TailerSink;
  private readonly reporter: ErrorReporter;
  private readonly newParser: () => RecordParser;
  private readonly maxLineBytes: number;
  private readonly format: string;
  private readonly shipChunks: boolean;
  private readonly harvesters = new Map<string, Harvester>();
  /** what harvesters no longer open (ended, or replaced by a rewind) read and emitted */
  private readonly closed: StreamCounts = { bytesRead: 0, events: 0, problems: 0, skipped: 0, streamsEnded: 0 };

  constructor(opts: OpenStreamsOptions) {
    this.registry = opts.registry;
    this.sink = opts.sink;
    this.reporter = opts.reporter;
    this.newParser = opts.newParser;
    this.maxLineBytes = opts.maxLineBytes;
    this.format = opts.format;
    this.shipChunks = opts.shipChunks === true;
  }

  get size(): number {
    return this.harvesters.size;
  }

  has(key: string): boolean {
    return this.harvesters.has(key);
  }

  /** The open harvesters, as a list that stays the same while streams open and end. */
  list(): Harvester[] {
    return [...this.harvesters.values()];
  }

  byStream(stream: string): Harvester | undefined {
    for (const h of this.harvesters.values()) if (h.info.id === stream) return h;
    return undefined;
  }

  /** Totals over every harvester, open or gone. */
  counts(): StreamCounts {
    const s = { ...this.closed };
    for (const h of this.harvesters.values()) addCounts(s, h.counts());
    return s;
  }

  /** Opens a harvester on `fh` (the file at `path`) for the registered stream `e`, at its committed point. */
  async open(path: string, fh: FileHandle, e: RegistryEntry, now: number): Promise<Harvester> {
    const st = await statHandle(fh);
    const head = await readHead(fh, Math.min(HEAD_BYTES, st.size));
    const h = new Harvester({
      info: { id: e.stream, path },
      fh,
      key: st.key,
      start: { offset: e.offset, nextSeq: e.nextSeq, line: e.line, context: e.context },
      head,
      size: st.size,
      mtimeMs: st.mtimeMs,
      parser: this.newParser(),
      sink: this.sink,
      maxLineBytes: this.maxLineBytes,
      now,
      ...(e.ship === 'chunks' && { chunksOf: this.format }),
    });
    if (head.length !== e.headLen) this.registry.update(e.stream, { headLen: head.length, headHash: hashHead(head) });
    this.harvesters.set(st.key, h);
    this.reporter.clear(path);
    return h;
  }

  /**
   * Starts a stream for every candidate file not open yet, from its first byte. A new file at a path whose
   * previous file is still to be finished (draining, or `alsoWaiting`: not restored yet) waits for it.
   */
  async openNew(seen: Map<string, FileStat>, alsoWaiting: Iterable<string>, now: number): Promise<void> {
    const waiting = new Set<string>();
    for (const h of this.harvesters.values()) if (h.draining) waiting.add(h.draining.from);
    for (const path of alsoWaiting) waiting.add(path);
    const fresh: Array<{ path: string; fh: FileHandle; entry: RegistryEntry }> = [];
    const taken = new Set<string>();
    for (const [path, st] of seen) {
      if (this.harvesters.has(st.key) || taken.has(st.key) || waiting.has(path)) continue;
      let fh: FileHandle | undefined;
      try {
        fh = await openIfExists(path);
        if (!fh) {
          this.reporter.report(path, Object.assign(new Error('vanished between stat and open'), { code: 'ENOENT' }));
          continue;
        }
        const st2 = await statHandle(fh);
        if (st2.key !== st.key) {
          await fh.close(); // replaced between stat and open: next poll
          continue;
        }
        const head = await readHead(fh, Math.min(HEAD_BYTES, st2.size));
        taken.add(st.key);
        const entry: RegistryEntry = {
          stream: newStreamId(),
          path,
          dev: st2.dev,
          ino: st2.ino,
          headLen: head.length,
          headHash: hashHead(head),
          offset: 0,
          nextSeq: 1,
          line: 0,
          status: 'active',
          createdAt: now,
          ...(this.shipChunks && { ship: 'chunks' as const }),
        };
        this.registry.add(entry);
        fresh.push({ path, fh, entry });
      } catch (err) {
        if (fh) await fh.close().catch(() => {});
        this.reporter.report(path, err);
      }
    }
    if (fresh.length === 0) return;
    try {
      await this.registry.flush(); // durable before the first event: a restart must find the same ids
    } catch (err) {
      for (const f of fresh) {
        this.registry.forget(f.entry.stream);
        await f.fh.close().catch(() => {});
      }
      this.reporter.report('(registry)', err);
      return;
    }
    for (const f of fresh) await this.open(f.path, f.fh, f.entry, now);
  }

  /** After a read: if the file's first bytes grew, its recorded identity grows with them. */
  recordHead(h: Harvester): void {
    const head = h.takeGrownHead();
    if (head) this.registry.update(h.info.id, { headLen: head.length, headHash: hashHead(head) });
  }

  /** Renamed to another watched name: the same stream carries on there. */
  moved(h: Harvester, path: string): void {
    h.movedTo(path);
    this.registry.update(h.info.id, { path, status: 'active', rotatedTo: undefined });
  }

  /** The file left the watched path `from`: renamed to `movedTo` (outside the watch), or deleted. */
  drain(h: Harvester, from: string, movedTo: string | undefined, now: number): void {
    h.startDraining(from, movedTo, now);
    this.registry.update(h.info.id, { status: 'rotated', path: from, rotatedTo: movedTo });
  }

  /** Replaces the stream's harvester by one that reads its file again from byte 0, numbering from seq 1. */
  async rewind(stream: string, now: number): Promise<void> {
    const h = this.byStream(stream);
    if (!h) return; // ended meanwhile
    let st: FileStat;
    try {
      st = await h.stat();
    } catch (err) {
      this.reporter.report(h.info.path, err, stream);
      return;
    }
    const fresh = h.rewound(this.newParser(), st, now);
    addCounts(this.closed, h.counts());
    this.harvesters.set(h.key, fresh);
  }

  /** No more data will come from the file: emit what is pending, close it, record the end. */
  async end(h: Harvester, reason: EndReason): Promise<void> {
    h.finish(reason !== 'truncated');
    this.harvesters.delete(h.key);
    await h.close();
    addCounts(this.closed, h.counts());
    this.closed.streamsEnded++;
    this.registry.update(h.info.id, { status: 'ended', endReason: reason, endSeq: h.nextSeq });
    this.sink.ended(h.info);
  }

  /** A registered stream whose file cannot be found any more (never opened in this run): say so once, end it. */
  endUnreadable(e: RegistryEntry, info: StreamInfo, why: string): void {
    this.sink.error?.({
      path: info.path,
      stream: e.stream,
      code: 'EGONE',
      message: `${info.path}: stream ${e.stream}: ${why}; events from seq ${e.nextSeq} (byte ${e.offset}) on cannot be read`,
    });
    this.registry.update(e.stream, { status: 'ended', endReason: 'gone', endSeq: e.nextSeq });
    this.closed.streamsEnded++;
    this.sink.ended(info);
  }

  async closeAll(): Promise<void> {
    for (const h of this.harvesters.values()) await h.close();
    this.harvesters.clear();
  }
}

function addCounts(to: HarvestCounts, c: HarvestCounts): void {
  to.bytesRead += c.bytesRead;
  to.events += c.events;
  to.problems += c.problems;
  to.skipped += c.skipped;
}

/** 64 random bits: unique across rotations, inode reuse and hosts; persisted, so stable across restarts. */
function newStreamId(): string {
  return randomBytes(8).toString('hex');
}
