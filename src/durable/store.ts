import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { framePieces, FRAME_HEADER_BYTES, scanJournal, type EntryBytes } from './journal.js';
import { decodeSnapshot, encodeSnapshotHeader } from './snapshot.js';
import { syncDirectory } from './atomic-file.js';

// The consumer's durable state: generations of (snapshot, journal) in one directory.
//
//   snapshot-<g>   the full state at the start of generation g (none for g = 0: the empty state)
//   journal-<g>    the entries appended during generation g, each framed and checksummed (journal.ts)
//
// An append costs one write and one fdatasync whatever the size of the state; snapshot() compacts by
// starting generation g+1. Its commit point is the rename of snapshot-<g+1>.tmp: journal-<g+1> is
// created before it, so every crash leaves either generation g whole, or g+1 with an empty journal.
//
// open() loads the newest snapshot that verifies (the "base") and replays every journal from the base's
// up to the newest, so a damaged newest snapshot falls back to the one before it plus both journals.
// snapshotBehind() uses the same rule to compact without holding appends up: it makes journal-<g+1> durable
// first and appends go there while snapshot-<g+1> is written; until its rename, the base's snapshot and the
// journals after it are the state, and open() replays them in order.
// snapshot() therefore deletes only generations older than the current base: the previous generation
// is always kept as the fallback.
//
// Damage is set aside (renamed with a .corrupt-/.orphan- suffix), never deleted, and reported once as a
// warning: the next open finds a consistent directory and says nothing. A torn final append (a crash
// mid-write, never acked) is cut off with a note at info level rather than a warning.

export interface StoreOpenResult {
  /** the last good full snapshot, or undefined for the empty initial state */
  snapshot: Buffer | undefined;
  /** the snapshot's file name, when there is one */
  snapshotFile?: string;
  /** journal entries written after that snapshot, in order */
  entries: Buffer[];
  /** where each entry is: its journal file, its index among that file's entries, the byte offset of its frame */
  origins: EntryOrigin[];
  /** damage found and what was done about it, one line per problem, naming file and byte offset */
  warnings: string[];
  /**
   * what was repaired that a crash explains (an incomplete last journal entry cut off): worth a line at
   * info level, since the same cut would also hide a journal truncated by something else
   */
  notes: string[];
}

export interface EntryOrigin {
  file: string;
  entry: number;
  offset: number;
}

export interface DurableStoreOptions {
  /** fdatasync appends and fsync snapshots and the directory (default true); false only for tests and benchmarks */
  fsync?: boolean;
}

/** snapshotBehind() writes and flushes its snapshot this much at a time */
const SNAPSHOT_PIECE_BYTES = 256 << 10;

const GENERATION_FILE = /^(snapshot|journal)-(\d+)$/;
const SNAPSHOT_TMP = /^snapshot-\d+\.tmp$/;

export function snapshotFileName(generation: number): string {
  return `snapshot-${String(generation).padStart(6, '0')}`;
}

export function journalFileName(generation: number): string {
  return `journal-${String(generation).padStart(6, '0')}`;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/** Writes every byte of `chunks` at `position`, continuing after short writes. */
async function writeFully(fh: FileHandle, chunks: readonly Uint8Array[], position: number): Promise<void> {
  let pending = chunks.filter((c) => c.length > 0);
  while (pending.length > 0) {
    const { bytesWritten } = await fh.writev(pending, position);
    if (bytesWritten <= 0) throw new Error(`write at byte ${position} made no progress`);
    position += bytesWritten;
    let skip = bytesWritten;
    const rest: Uint8Array[] = [];
    for (const c of pending) {
      if (skip >= c.length) {
        skip -= c.length;
        continue;
      }
      rest.push(skip > 0 ? c.subarray(skip) : c);
      skip = 0;
    }
    pending = rest;
  }
}

/** A journal cut short by damage: where, and the bytes from there on (set aside, not replayed). */
interface JournalCut {
  generation: number;
  at: number;
  tail: Buffer;
}

export class DurableStore {
  private readonly fsync: boolean;
  private journal: FileHandle | undefined;
  /** generation appends go to */
  private generation = 0;
  /** generation of the snapshot the current state is built on (0: the empty state) */
  private base = 0;
  private size = 0;
  /** bytes of the latest snapshot (load's base, or the last one taken; 0: none) */
  private snapshotBytes = 0;
  /** set when a failure leaves the files in a state only a reopen can sort out */
  private broken: Error | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** the snapshot being written behind appends (snapshotBehind); settles either way */
  private behind: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    options: DurableStoreOptions = {},
  ) {
    this.fsync = options.fsync ?? true;
  }

  /** bytes in the current journal; the caller compacts with snapshot() when this grows too large */
  get journalBytes(): number {
    return this.size;
  }

  /**
   * Whether the journal has grown enough to be worth a snapshot: past `minBytes`, and past the size of the last
   * snapshot. The second half keeps snapshot work proportional to what is journaled (Redis's rule for rewriting its
   * append-only file): a state larger than `minBytes` is not encoded and written again after every `minBytes`.
   */
  compactionDue(minBytes: number): boolean {
    return this.size > minBytes && this.size > this.snapshotBytes;
  }

  /** Loads the newest good state, repairing (and reporting) damage; creates the directory if needed. */
  open(): Promise<StoreOpenResult> {
    return this.serial(async () => {
      await this.behind;
      return this.load();
    });
  }

  /** Makes `entries` durable in order: one write and one fdatasync for all of them. */
  append(entries: readonly EntryBytes[]): Promise<void> {
    return this.serial(() => this.write(entries));
  }

  /** Starts a new generation from `full`, the whole state including every entry appended so far. */
  snapshot(full: Buffer): Promise<void> {
    return this.serial(async () => {
      await this.behind;
      await this.compact(full);
    });
  }

  /**
   * Starts a new generation from `full` (the whole state including every entry appended so far) without holding
   * appends up while the snapshot is written: journal-<g+1> is created and its name made durable (a directory
   * fsync), appends go to it from then on, and snapshot-<g+1> is written behind them. A crash before its rename
   * leaves the base's snapshot and the journals up to g+1, which open() replays in order: nothing appended is
   * lost, nothing is replayed twice. Resolves once appends go to the new journal, with `written`, which settles
   * when the snapshot is committed, or has failed (generation g+1 then has none; the next snapshot covers it).
   * One at a time: a second waits for the first's write.
   */
  snapshotBehind(full: Buffer): Promise<{ written: Promise<void> }> {
    return this.serial(async () => {
      await this.behind;
      const current = this.usableJournal();
      const next = this.generation + 1;
      const journal = await this.createJournal(next);
      try {
        await this.syncDir();
      } catch (err) {
        await this.discardJournal(next, journal);
        throw err;
      }
      await this.appendTo(next, journal, current);
      this.snapshotBytes = full.length;
      const written = this.writeSnapshotBehind(next, full);
      // one that failed does not count: the next is due after the caller's minimum again, as before any snapshot
      this.behind = written.catch(() => {
        this.snapshotBytes = 0;
      });
      return { written };
    });
  }

  close(): Promise<void> {
    return this.serial(async () => {
      await this.behind;
      const fh = this.journal;
      this.journal = undefined;
      this.broken = undefined;
      await fh?.close();
    });
  }

  /** Operations run one at a time, in call order, whatever the caller awaits. */
  private serial<T>(op: () => Promise<T>): Promise<T> {
    const result = this.queue.then(op);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private usableJournal(): FileHandle {
    if (this.broken) throw this.broken;
    if (!this.journal) throw new Error(`DurableStore ${this.dir} is not open`);
    return this.journal;
  }

  private breakStore(what: string, cause: unknown): void {
    this.broken = new Error(
      `DurableStore ${this.dir}: ${what} (${errorMessage(cause)}); close and open the store again to recover`,
      { cause },
    );
  }

  private path(name: string): string {
    return join(this.dir, name);
  }

  private async syncDir(): Promise<void> {
    if (this.fsync) await syncDirectory(this.dir);
  }

  private async write(entries: readonly EntryBytes[]): Promise<void> {
    const fh = this.usableJournal();
    if (entries.length === 0) return;
    const frames = framePieces(entries, this.generation, this.size);
    try {
      await writeFully(fh, frames.pieces, this.size);
      if (this.fsync) await fh.datasync();
    } catch (err) {
      // Nothing of this call was acked: cut the journal back so the next append continues a valid one.
      try {
        await fh.truncate(this.size);
      } catch (truncErr) {
        this.breakStore(`could not cut ${journalFileName(this.generation)} back to ${this.size} bytes after a failed append`, truncErr);
      }
      throw err;
    }
    this.size += frames.bytes;
  }

  private async compact(full: Buffer): Promise<void> {
    const current = this.usableJournal();
    const next = this.generation + 1;
    let journal: FileHandle | undefined;
    let committed = false;
    try {
      // Created before the commit point, so a crash never leaves snapshot g+1 without its journal.
      journal = await this.createJournal(next);
      await this.writeSnapshotFile(next, full, Infinity);
      committed = true;
      await this.syncDir();
    } catch (err) {
      if (committed) {
        // The new generation is visible but maybe not durable: neither generation can take appends safely.
        this.breakStore(`snapshot ${snapshotFileName(next)} was written but the directory could not be synced`, err);
        await journal?.close().catch(() => undefined);
        throw err;
      }
      // An empty journal-<g+1> left behind is harmless: open() replays it as an empty journal.
      if (journal) await this.discardJournal(next, journal);
      throw err;
    }
    await this.appendTo(next, journal, current);
    this.snapshotBytes = full.length;
    await this.baseIs(next);
  }

  /** Appends go to journal-<g> from now on; the journal they went to is closed. */
  private async appendTo(g: number, journal: FileHandle, previous: FileHandle): Promise<void> {
    this.journal = journal;
    this.generation = g;
    this.size = 0;
    await previous.close().catch(() => undefined);
  }

  /** A new journal-<g> that will take no appends: closed and removed (it is empty). */
  private async discardJournal(g: number, journal: FileHandle): Promise<void> {
    await journal.close().catch(() => undefined);
    await unlink(this.path(journalFileName(g))).catch(() => undefined);
  }

  /** An empty journal-<g> (one left empty by an interrupted snapshot is taken; one with entries is refused). */
  private async createJournal(g: number): Promise<FileHandle> {
    const name = journalFileName(g);
    const fh = await open(this.path(name), constants.O_RDWR | constants.O_CREAT, 0o644);
    const { size } = await fh.stat();
    if (size > 0) {
      await fh.close();
      throw new Error(`${name} already exists in ${this.dir} with ${size} bytes; not overwriting it`);
    }
    return fh;
  }

  /** snapshotBehind()'s write of snapshot-<g>, while appends go on in journal-<g>. */
  private async writeSnapshotBehind(g: number, full: Buffer): Promise<void> {
    // In pieces, each made durable before the next: one flush of the whole snapshot would stall the appends'
    // fdatasyncs behind it (the file system commits their metadata with its data), a piece at a time only a little.
    await this.writeSnapshotFile(g, full, SNAPSHOT_PIECE_BYTES);
    // Not synced, the rename may be undone by a crash: the journals cover the state either way, but the older
    // generations stay until a snapshot is known durable.
    await this.syncDir();
    await this.baseIs(g);
  }

  /**
   * Writes snapshot-<g> through its .tmp and renames it into place (the commit point); a failure removes the .tmp
   * and throws. `pieceBytes` is how much is written and flushed at a time (Infinity: all of it, one flush).
   */
  private async writeSnapshotFile(g: number, full: Buffer, pieceBytes: number): Promise<void> {
    const snapshotName = snapshotFileName(g);
    const tmpPath = this.path(`${snapshotName}.tmp`);
    let tmp: FileHandle | undefined;
    try {
      tmp = await open(tmpPath, 'w', 0o644);
      const header = encodeSnapshotHeader(g, full);
      let at = 0;
      do {
        const piece = full.subarray(at, at + pieceBytes);
        await writeFully(tmp, at === 0 ? [header, piece] : [piece], at === 0 ? 0 : header.length + at);
        if (this.fsync) await tmp.datasync();
        at += piece.length;
      } while (at < full.length);
      await tmp.close();
      tmp = undefined;
      await rename(tmpPath, this.path(snapshotName));
    } catch (err) {
      await tmp?.close().catch(() => undefined);
      await unlink(tmpPath).catch(() => undefined);
      throw err;
    }
  }

  /** Snapshot `g` is durable: it is the base now, and generations no fallback can need any more go. */
  private async baseIs(g: number): Promise<void> {
    const previousBase = this.base;
    this.base = g;
    await this.removeGenerationsBefore(previousBase);
  }

  /** Deletes generations no fallback can need. Failures only leave extra files, retried next time. */
  private async removeGenerationsBefore(limit: number): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return;
    }
    for (const name of names) {
      const m = GENERATION_FILE.exec(name);
      if (m && Number(m[2]) < limit) await unlink(this.path(name)).catch(() => undefined);
    }
  }

  private async load(): Promise<StoreOpenResult> {
    if (this.journal) throw new Error(`DurableStore ${this.dir} is already open`);
    await mkdir(this.dir, { recursive: true });
    const snapshots = new Set<number>();
    const journals = new Set<number>();
    for (const name of await readdir(this.dir)) {
      if (SNAPSHOT_TMP.test(name)) {
        await unlink(this.path(name)).catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
        continue;
      }
      const m = GENERATION_FILE.exec(name);
      if (!m) continue;
      (m[1] === 'snapshot' ? snapshots : journals).add(Number(m[2]));
    }
    if (snapshots.size === 0 && journals.size === 0) {
      await this.startOn(0, 0, 0, undefined);
      return { snapshot: undefined, entries: [], origins: [], warnings: [], notes: [] };
    }
    const newest = Math.max(...snapshots, ...journals);

    // The base: the newest snapshot that verifies. Newer ones that do not are damage.
    let base = 0;
    let snapshot: Buffer | undefined;
    const corrupt: { name: string; reason: string }[] = [];
    for (const g of [...snapshots].sort((a, b) => b - a)) {
      const name = snapshotFileName(g);
      const check = decodeSnapshot(name, await readFile(this.path(name)), g);
      if (check.ok) {
        base = g;
        snapshot = check.payload;
        this.snapshotBytes = snapshot.length;
        break;
      }
      corrupt.push({ name, reason: check.reason });
    }
    if (snapshot === undefined && !journals.has(0)) {
      const why = corrupt.map((c) => `${c.name} is corrupt (${c.reason})`);
      if (snapshots.size === 0) why.push('there is no snapshot');
      why.push(`${journalFileName(0)}, needed to rebuild from the empty state, is missing`);
      throw new Error(
        `no usable state in ${this.dir}: ${why.join('; ')}. Refusing to start from an empty state; ` +
          'move the directory aside to start afresh',
      );
    }

    // Replay journals base..newest; stop at the first damage, except a torn tail of the newest journal.
    const entries: Buffer[] = [];
    const origins: EntryOrigin[] = [];
    const warnings: string[] = [];
    const notes: string[] = [];
    const stamp = Date.now();
    let current = newest;
    let currentSize = 0;
    let cut: JournalCut | undefined;
    let stoppedAt: number | undefined;
    for (let g = base; g <= newest; g++) {
      const name = journalFileName(g);
      if (!journals.has(g)) {
        currentSize = 0;
        if (g === newest) break; // a crash before its creation: an empty journal
        warnings.push(
          `${name} is missing; its entries are lost and the state stops at the start of generation ${g}` +
            this.orphanNote(g + 1, newest, journals, stamp),
        );
        stoppedAt = g;
        break;
      }
      const buf = await readFile(this.path(name));
      const scan = scanJournal(buf, g);
      scan.entries.forEach((e, entry) => {
        entries.push(e);
        origins.push({ file: name, entry, offset: e.byteOffset - buf.byteOffset - FRAME_HEADER_BYTES });
      });
      const problem = scan.problem;
      if (!problem) {
        currentSize = buf.length;
        continue;
      }
      cut = { generation: g, at: scan.end, tail: buf.subarray(scan.end) };
      currentSize = scan.end;
      if (g === newest && !problem.framesAfter) {
        // torn final append: never acked, cut without a warning
        notes.push(`${name}: cut off an incomplete last entry at byte ${problem.offset} (${problem.reason}): a write interrupted by a crash`);
        break;
      }
      warnings.push(
        `${name} is corrupt at byte ${problem.offset} (${problem.reason}); kept the ${scan.entries.length} entries before it, ` +
          `set aside bytes ${scan.end}-${buf.length - 1} as ${name}.corrupt-${stamp}${this.orphanNote(g + 1, newest, journals, stamp)}`,
      );
      stoppedAt = g;
      break;
    }
    if (stoppedAt !== undefined) current = stoppedAt;
    const using = `${base > 0 ? snapshotFileName(base) : 'the empty initial state'} and journals ${base}..${current}`;
    const snapshotWarnings = corrupt.map(
      (c) => `${c.name} is corrupt (${c.reason}); using generation ${base} (${using}); set aside as ${c.name}.corrupt-${stamp}`,
    );

    // Repairs, in an order that a crash part-way leaves for the next open to redo.
    for (const c of corrupt) await rename(this.path(c.name), this.path(`${c.name}.corrupt-${stamp}`));
    if (stoppedAt !== undefined) {
      for (let g = newest; g > stoppedAt; g--) {
        if (journals.has(g)) await rename(this.path(journalFileName(g)), this.path(`${journalFileName(g)}.orphan-${stamp}`));
      }
      if (cut) await this.writeAside(`${journalFileName(cut.generation)}.corrupt-${stamp}`, cut.tail);
    }
    await this.startOn(current, base, currentSize, cut);
    return {
      snapshot, ...(snapshot !== undefined && { snapshotFile: snapshotFileName(base) }), entries, origins, warnings: [...snapshotWarnings, ...warnings], notes,
    };
  }

  /** Keeps damaged bytes for a post-mortem, durably: the journal is cut right after. */
  private async writeAside(name: string, bytes: Buffer): Promise<void> {
    const fh = await open(this.path(name), 'w', 0o644);
    try {
      await writeFully(fh, [bytes], 0);
      if (this.fsync) await fh.datasync();
    } finally {
      await fh.close();
    }
  }

  /** " ; journal-… set aside as …" for the journals after a stop, or "". */
  private orphanNote(from: number, newest: number, journals: Set<number>, stamp: number): string {
    const names: string[] = [];
    for (let g = from; g <= newest; g++) if (journals.has(g)) names.push(journalFileName(g));
    if (names.length === 0) return '';
    return `; ${names.join(', ')} (after the damage) set aside with suffix .orphan-${stamp}`;
  }

  /** Opens (creating if needed) the journal appends go to, cut to its good length. */
  private async startOn(generation: number, base: number, size: number, cut: JournalCut | undefined): Promise<void> {
    const fh = await open(this.path(journalFileName(generation)), constants.O_RDWR | constants.O_CREAT, 0o644);
    try {
      if (cut && cut.generation === generation) {
        await fh.truncate(size);
        if (this.fsync) await fh.datasync();
      }
      await this.syncDir();
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
    this.journal = fh;
    this.generation = generation;
    this.base = base;
    this.size = size;
    this.broken = undefined;
  }
}
