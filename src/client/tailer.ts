import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import {
  errorCode,
  findByInode,
  HEAD_BYTES,
  hashHead,
  identityKey,
  isMissing,
  matchesIdentity,
  openIfExists,
  readHead,
  statHandle,
  statPath,
  type FileStat,
} from './file-identity.js';
import { Harvester, type StreamInfo, type TailerError, type TailerSink } from './harvester.js';
import { createParser, type ParserOptions } from '../formats/parsers/index.js';
import type { RecordParser } from '../formats/parsers/types.js';
import { compilePattern, matchesAny, scanPattern, type PathPattern } from './path-pattern.js';
import type { EndReason, Registry, RegistryEntry } from './registry.js';

export { resumePointAfter } from './harvester.js';
export type { StreamInfo, TailedEvent, TailProblem, TailerError, TailerSink } from './harvester.js';
export type { ResumePoint } from './registry.js';

// Follows log files the way Filebeat does. chokidar finds files that appear; open files are polled
// (fstat + read) every pollIntervalMs, because change notifications are not reliable for data.
// Each file lifetime is a stream (ids persisted in the registry), numbered from seq 1:
// - rename rotation: the old file (found by inode) is read to its end and ended, then the new one starts;
// - copytruncate: a file shorter than what was read, or whose first bytes changed, ends its stream and
//   starts a new one from byte 0;
// - deletion: what is there is read, then the stream ends;
// - restart: each stream resumes at its committed point; a file rotated while stopped is found by its
//   identity in the same directory and finished first.
// A stream is registered durably before its first event is emitted, so a crash cannot give the same
// file two stream ids (which would defeat the consumer's per-stream duplicate check).

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
}

export interface TailerStats {
  /** poll cycles run (a paused poll counts, but reads nothing) */
  polls: number;
  openFiles: number;
  bytesRead: number;
  events: number;
  problems: number;
  skipped: number;
  streamsEnded: number;
}

export class FileTailer {
  private readonly patterns: PathPattern[];
  private readonly registry: Registry;
  private readonly sink: TailerSink;
  private readonly format: string;
  private readonly parserOptions: ParserOptions;
  private readonly pollIntervalMs: number;
  private readonly idleFlushMs: number;
  private readonly maxLineBytes: number;
  private readonly rotatedGraceMs: number;
  private readonly rescanIntervalMs: number;
  private readonly maxBytesPerPoll: number;
  private readonly readBuf: Buffer;

  private readonly watchers = new Map<string, FSWatcher>();
  /** glob-matched paths seen to exist (exact paths are always checked) */
  private readonly discovered = new Set<string>();
  /** open files by dev:ino */
  private readonly harvesters = new Map<string, Harvester>();
  /** registry entries from the last run not yet matched to a file (retried while errors prevent it) */
  private pendingRestore: RegistryEntry[] | undefined;
  /** path → error codes already reported for it */
  private readonly reported = new Map<string, Set<string>>();
  /** streams to read again from their first byte, at the start of the next cycle */
  private readonly rewinds = new Set<string>();
  private readonly totals = { polls: 0, bytesRead: 0, events: 0, problems: 0, skipped: 0, streamsEnded: 0 };

  private running = false;
  private isPaused = false;
  private loopDone: Promise<void> | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private wakeUp: (() => void) | undefined;
  private lastRescan = 0;

  constructor(opts: FileTailerOptions) {
    if (opts.patterns.length === 0) throw new Error('no file patterns to tail');
    createParser(opts.format, opts.parserOptions); // fail now on an unknown format or bad options
    this.patterns = opts.patterns.map(compilePattern);
    this.registry = opts.registry;
    this.sink = opts.sink;
    this.format = opts.format;
    this.parserOptions = opts.parserOptions ?? {};
    this.pollIntervalMs = opts.pollIntervalMs ?? 250;
    this.idleFlushMs = opts.idleFlushMs ?? 1000;
    this.maxLineBytes = opts.maxLineBytes ?? 1 << 20;
    this.rotatedGraceMs = opts.rotatedGraceMs ?? 2000;
    this.rescanIntervalMs = opts.rescanIntervalMs ?? 10_000;
    this.maxBytesPerPoll = opts.maxBytesPerPoll ?? 1 << 20;
    this.readBuf = Buffer.allocUnsafe(opts.readChunkBytes ?? 1 << 16);
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.pendingRestore = this.registry.list();
    for (const p of this.patterns) if (p.isGlob) await this.watchGlob(p);
    this.lastRescan = Date.now();
    this.loopDone = this.loop();
  }

  /** Stops reading and closes files. Unfinished streams stay in the registry and resume on the next start. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake();
    await this.loopDone;
    await Promise.all([...this.watchers.values()].map((w) => w.close()));
    this.watchers.clear();
    for (const h of this.harvesters.values()) await h.close();
    this.harvesters.clear();
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
    if (!this.harvesterOf(stream)) return false;
    this.rewinds.add(stream);
    this.wake();
    return true;
  }

  get paused(): boolean {
    return this.isPaused;
  }

  stats(): TailerStats {
    const s = { ...this.totals, openFiles: this.harvesters.size };
    for (const h of this.harvesters.values()) {
      s.bytesRead += h.bytesRead;
      s.events += h.eventsEmitted;
      s.problems += h.problemsFound;
      s.skipped += h.skipped;
    }
    return s;
  }

  // ---- the poll loop ----

  private async loop(): Promise<void> {
    while (this.running) {
      let busy = false;
      try {
        busy = await this.cycle();
      } catch (err) {
        this.reportOnce('(tailer)', err);
      }
      if (!this.running) break;
      await new Promise<void>((resolve) => {
        this.wakeUp = resolve;
        // a file still behind after its share gets the next turn at once
        this.sleepTimer = setTimeout(resolve, busy && !this.isPaused ? 0 : this.pollIntervalMs);
      });
      this.wakeUp = undefined;
    }
  }

  private wake(): void {
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.sleepTimer = undefined;
    this.wakeUp?.();
  }

  /** One pass over every file. Returns true if some file still has bytes to read. */
  private async cycle(): Promise<boolean> {
    this.totals.polls++;
    if (this.rewinds.size > 0) await this.applyRewinds(Date.now());
    if (this.isPaused) return false;
    const now = Date.now();
    for (const p of this.patterns) if (p.isGlob && !this.watchers.has(p.pattern)) await this.watchGlob(p);
    if (now - this.lastRescan >= this.rescanIntervalMs) {
      this.lastRescan = now;
      for (const p of this.patterns) if (p.isGlob) for (const f of await scanPattern(p)) this.discovered.add(f);
    }
    const seen = await this.statCandidates();
    if (this.pendingRestore?.length) await this.restore(seen, now);
    await this.checkOpenFiles(seen, now);
    await this.readFiles('draining', now);
    if (this.isPaused) return false;
    await this.openNewFiles(seen, now);
    await this.readFiles('active', now);
    if (this.isPaused) return false;
    for (const h of this.harvesters.values()) if (h.behind) return true;
    return false;
  }

  // ---- discovery ----

  private async watchGlob(p: PathPattern): Promise<void> {
    try {
      if (!(await stat(p.baseDir)).isDirectory()) return;
    } catch {
      return; // not there yet: checked again every poll
    }
    const w = watch(p.baseDir, {
      ignoreInitial: true,
      depth: p.depth,
      persistent: true,
      ignored: (path: string, st?: import('node:fs').Stats) => st?.isFile() === true && !p.regex.test(path),
    });
    const found = (path: string): void => {
      if (p.regex.test(path)) this.discovered.add(path);
    };
    w.on('add', found);
    w.on('change', found);
    w.on('error', (err: unknown) => this.reportOnce(p.baseDir, err));
    await new Promise<void>((resolve) => w.once('ready', resolve));
    this.watchers.set(p.pattern, w);
    // files that were there before the watch (or appeared while it started)
    for (const f of await scanPattern(p)) this.discovered.add(f);
  }

  /** Stats every exact path and every discovered glob match. */
  private async statCandidates(): Promise<Map<string, FileStat>> {
    const paths = new Set<string>();
    for (const p of this.patterns) if (!p.isGlob) paths.add(p.pattern);
    for (const d of this.discovered) paths.add(d);
    const seen = new Map<string, FileStat>();
    for (const path of paths) {
      let st: FileStat | undefined;
      try {
        st = await statPath(path);
      } catch (err) {
        this.reportOnce(path, err);
        continue;
      }
      if (!st) {
        this.discovered.delete(path);
        continue;
      }
      if (st.isFile) seen.set(path, st);
    }
    return seen;
  }

  // ---- restart ----

  /** Matches the registry's streams to files: resume those still watched, finish those rotated away, report the gone. */
  private async restore(seen: Map<string, FileStat>, now: number): Promise<void> {
    const byKey = pathsByKey(seen);
    const order = { active: 0, rotated: 1, ended: 2 } as const;
    const entries = (this.pendingRestore ?? []).sort((a, b) => order[a.status] - order[b.status]);
    const retry: RegistryEntry[] = [];
    for (const e of entries) {
      const info: StreamInfo = { id: e.stream, path: e.rotatedTo ?? e.path };
      if (e.status === 'ended' && e.endSeq !== undefined && e.nextSeq >= e.endSeq) {
        this.sink.ended(info); // finished and acked before the restart: the client can forget it
        continue;
      }
      if (e.status === 'ended' && (e.endReason === 'truncated' || e.endReason === 'gone')) {
        this.streamGone(e, info, 'its file was truncated before every event of it was acked');
        continue;
      }
      const key = identityKey(e);
      let found: { path: string; fh: FileHandle } | undefined;
      let failed = false;
      const tryPath = async (path: string): Promise<void> => {
        if (found || failed) return;
        try {
          const fh = await openIfExists(path);
          if (!fh) return;
          if (await matchesIdentity(fh, e, e.offset)) found = { path, fh };
          else await fh.close();
        } catch (err) {
          failed = true;
          this.reportOnce(path, err, e.stream);
        }
      };
      if (!this.harvesters.has(key)) {
        for (const path of byKey.get(key) ?? []) await tryPath(path);
        const watched = found !== undefined;
        if (!found) {
          for (const dir of new Set([dirname(e.path), dirname(e.rotatedTo ?? e.path)])) {
            const path = await findByInode(dir, e.dev, e.ino);
            if (path) await tryPath(path);
          }
        }
        if (failed && !found) {
          retry.push(e); // e.g. EACCES: try again next poll rather than declare it gone
          continue;
        }
        if (found) {
          const h = await this.openHarvester(found.path, found.fh, e, now);
          if (watched && e.status === 'active') {
            if (found.path !== e.path) this.registry.update(e.stream, { path: found.path });
          } else if (watched) {
            this.registry.update(e.stream, { status: 'active', path: found.path, rotatedTo: undefined, endReason: undefined, endSeq: undefined });
          } else {
            this.startDraining(h, e.path, found.path, now);
          }
          continue;
        }
      }
      const replaced = byKey.has(key) || this.harvesters.has(key);
      this.streamGone(e, info, replaced ? 'its file was truncated or replaced while the client was stopped' : 'its file is gone');
    }
    this.pendingRestore = retry;
  }

  /** A stream whose file cannot be found any more: say so once, end it. */
  private streamGone(e: RegistryEntry, info: StreamInfo, why: string): void {
    this.sink.error?.({
      path: info.path,
      stream: e.stream,
      code: 'EGONE',
      message: `${info.path}: stream ${e.stream}: ${why}; events from seq ${e.nextSeq} (byte ${e.offset}) on cannot be read`,
    });
    this.registry.update(e.stream, { status: 'ended', endReason: 'gone', endSeq: e.nextSeq });
    this.totals.streamsEnded++;
    this.sink.ended(info);
  }

  // ---- open files: rotation, rename, truncation ----

  private async checkOpenFiles(seen: Map<string, FileStat>, now: number): Promise<void> {
    const byKey = pathsByKey(seen);
    for (const h of [...this.harvesters.values()]) {
      let st: FileStat;
      try {
        st = await statHandle(h.fh);
      } catch (err) {
        this.reportOnce(h.info.path, err, h.info.id);
        continue;
      }
      const changed = st.size !== h.size || st.mtimeMs !== h.mtimeMs;
      if (st.size < h.readPos || (changed && !(await this.headIntact(h)))) {
        // copytruncate (or rewritten in place): what was not read before the truncation is gone
        await this.endStream(h, 'truncated');
        continue;
      }
      h.size = st.size;
      h.mtimeMs = st.mtimeMs;
      const paths = byKey.get(h.key);
      if (paths?.length) {
        if (!paths.includes(h.info.path)) this.movedWithinWatch(h, paths[0]!);
        continue;
      }
      if (h.status === 'draining') continue;
      // the watched path no longer leads to this file: renamed away, or deleted
      const [dev, ino] = h.key.split(':') as [string, string];
      const movedTo = await findByInode(dirname(h.info.path), dev, ino);
      if (movedTo && matchesAny(this.patterns, movedTo)) {
        this.discovered.add(movedTo);
        this.movedWithinWatch(h, movedTo);
      } else this.startDraining(h, h.info.path, movedTo, now);
    }
  }

  /** Renamed to another watched name: the same stream carries on there. */
  private movedWithinWatch(h: Harvester, path: string): void {
    h.info.path = path;
    if (h.status === 'draining') {
      h.status = 'active';
      h.rotatedFrom = undefined;
    }
    this.registry.update(h.info.id, { path, status: 'active', rotatedTo: undefined });
  }

  private startDraining(h: Harvester, from: string, movedTo: string | undefined, now: number): void {
    h.status = 'draining';
    h.rotatedFrom = from;
    h.drainingSince = now;
    h.endReason = movedTo ? 'rotated' : 'deleted';
    if (movedTo) h.info.path = movedTo;
    this.registry.update(h.info.id, { status: 'rotated', path: from, rotatedTo: movedTo });
  }

  private async headIntact(h: Harvester): Promise<boolean> {
    if (h.head.length === 0) return true;
    const now = await readHead(h.fh, h.head.length);
    return now.equals(h.head);
  }

  // ---- reading ----

  private async readFiles(which: 'active' | 'draining', now: number): Promise<void> {
    for (const h of [...this.harvesters.values()]) {
      if (h.status !== which) continue;
      if (this.isPaused) return;
      try {
        await h.read(this.readBuf, this.maxBytesPerPoll, () => this.isPaused, now);
      } catch (err) {
        this.reportOnce(h.info.path, err, h.info.id);
        continue;
      }
      if (h.headGrew) {
        h.headGrew = false;
        this.registry.update(h.info.id, { headLen: h.head.length, headHash: hashHead(h.head) });
      }
      if (h.behind || this.isPaused) continue;
      if (which === 'draining') {
        if (now - Math.max(h.drainingSince, h.lastDataAt) >= this.rotatedGraceMs) {
          // last look: anything written since the stat is still read before the end
          if ((await h.read(this.readBuf, Number.MAX_SAFE_INTEGER, () => false, now)) === 0) await this.endStream(h, h.endReason);
        }
      } else if (!h.idleFlushed && now - h.lastDataAt >= this.idleFlushMs) h.idleFlush();
    }
  }

  private harvesterOf(stream: string): Harvester | undefined {
    for (const h of this.harvesters.values()) if (h.info.id === stream) return h;
    return undefined;
  }

  private async applyRewinds(now: number): Promise<void> {
    for (const stream of [...this.rewinds]) {
      this.rewinds.delete(stream);
      const h = this.harvesterOf(stream);
      if (!h) continue; // ended meanwhile
      let st: FileStat;
      try {
        st = await statHandle(h.fh);
      } catch (err) {
        this.reportOnce(h.info.path, err, stream);
        continue;
      }
      const fresh = new Harvester({
        info: h.info,
        fh: h.fh,
        key: h.key,
        start: { offset: 0, nextSeq: 1, line: 0 },
        head: h.head,
        size: st.size,
        mtimeMs: st.mtimeMs,
        parser: this.newParser(),
        sink: this.sink,
        maxLineBytes: this.maxLineBytes,
        now,
      });
      fresh.status = h.status;
      fresh.rotatedFrom = h.rotatedFrom;
      fresh.drainingSince = h.drainingSince;
      fresh.endReason = h.endReason;
      this.totals.bytesRead += h.bytesRead;
      this.totals.events += h.eventsEmitted;
      this.totals.problems += h.problemsFound;
      this.totals.skipped += h.skipped;
      this.harvesters.set(h.key, fresh);
    }
  }

  private async endStream(h: Harvester, reason: EndReason): Promise<void> {
    h.finish(reason !== 'truncated');
    this.harvesters.delete(h.key);
    await h.close();
    this.totals.bytesRead += h.bytesRead;
    this.totals.events += h.eventsEmitted;
    this.totals.problems += h.problemsFound;
    this.totals.skipped += h.skipped;
    this.totals.streamsEnded++;
    this.registry.update(h.info.id, { status: 'ended', endReason: reason, endSeq: h.nextSeq });
    this.sink.ended(h.info);
  }

  // ---- new files ----

  private async openNewFiles(seen: Map<string, FileStat>, now: number): Promise<void> {
    // a new file at a path whose previous file is still being finished waits for it (old before new)
    const waiting = new Set<string>();
    for (const h of this.harvesters.values()) if (h.rotatedFrom) waiting.add(h.rotatedFrom);
    for (const e of this.pendingRestore ?? []) waiting.add(e.path);
    const fresh: Array<{ path: string; fh: FileHandle; entry: RegistryEntry }> = [];
    const taken = new Set<string>();
    for (const [path, st] of seen) {
      if (this.harvesters.has(st.key) || taken.has(st.key) || waiting.has(path)) continue;
      let fh: FileHandle | undefined;
      try {
        fh = await openIfExists(path);
        if (!fh) {
          this.reportOnce(path, Object.assign(new Error('vanished between stat and open'), { code: 'ENOENT' }));
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
        };
        this.registry.add(entry);
        fresh.push({ path, fh, entry });
      } catch (err) {
        if (fh) await fh.close().catch(() => {});
        this.reportOnce(path, err);
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
      this.reportOnce('(registry)', err);
      return;
    }
    for (const f of fresh) await this.openHarvester(f.path, f.fh, f.entry, now);
  }

  private async openHarvester(path: string, fh: FileHandle, e: RegistryEntry, now: number): Promise<Harvester> {
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
    });
    if (head.length !== e.headLen) this.registry.update(e.stream, { headLen: head.length, headHash: hashHead(head) });
    this.harvesters.set(st.key, h);
    this.reported.delete(path);
    return h;
  }

  /** A fresh parser with the format's options, for every harvester (a rewound one too: without its
   * log_line_prefix a postgres parser would refuse every line). */
  private newParser(): RecordParser {
    return createParser(this.format, this.parserOptions);
  }

  private reportOnce(path: string, err: unknown, stream?: string): void {
    const code = errorCode(err);
    let codes = this.reported.get(path);
    if (!codes) this.reported.set(path, (codes = new Set()));
    if (codes.has(code)) return;
    codes.add(code);
    const e: TailerError = { path, code, message: `${path}: ${(err as Error)?.message ?? String(err)}` };
    if (stream) e.stream = stream;
    if (isMissing(err)) e.message = `${path}: vanished before it could be read`;
    this.sink.error?.(e);
  }
}

function pathsByKey(seen: Map<string, FileStat>): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const [path, st] of seen) {
    const list = m.get(st.key);
    if (list) list.push(path);
    else m.set(st.key, [path]);
  }
  return m;
}

/** 64 random bits: unique across rotations, inode reuse and hosts; persisted, so stable across restarts. */
function newStreamId(): string {
  return randomBytes(8).toString('hex');
}
