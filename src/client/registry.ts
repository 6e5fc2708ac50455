import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../durable/atomic-file.js';

// The client's offsets registry (Filebeat's registry): one JSON file, one entry per stream (one file
// lifetime), holding the file's identity and the point to resume from once the server has acked.
//
// Writes are coalesced (at most one every `flushIntervalMs`) and atomic: temp file, fsync, rename,
// fsync of the directory, so a crash at any moment leaves either the previous or the new file, never a
// mix. A failed write is reported once, kept in memory and retried; the previous file stays intact.

/** Where to resume a stream: the byte offset just past the last acked event, the seq the next event gets,
 * the line number at that offset, and the parser's carry-over state there. */
export interface ResumePoint {
  offset: number;
  nextSeq: number;
  line: number;
  context?: unknown;
}

/**
 * active  — being tailed at `path`;
 * rotated — renamed away or deleted, still being read to its end;
 * ended   — read to its end and closed (or gone); kept until the client has every event of it acked and forgets it.
 */
export type StreamStatus = 'active' | 'rotated' | 'ended';
export type EndReason = 'rotated' | 'deleted' | 'truncated' | 'gone';

export interface RegistryEntry extends ResumePoint {
  stream: string;
  /** the watched path the stream was tailed at */
  path: string;
  /** where the file was last seen after it was rotated away from `path` */
  rotatedTo?: string;
  dev: string;
  ino: string;
  headLen: number;
  headHash: string;
  status: StreamStatus;
  endReason?: EndReason;
  /** for an ended stream: the seq after its last event; everything is acked once nextSeq reaches it */
  endSeq?: number;
  /** ms since epoch, when the stream was first seen */
  createdAt: number;
  /**
   * `chunks`: the stream is shipped as raw chunks (`--ship chunks`): its seqs count bytes (offset + 1) and it has no
   * parser context. Set when the stream starts, kept to its end (absent: records).
   */
  ship?: 'chunks';
}

/** The fields of an entry the tailer maintains (the resume point is the client's, via commit). */
export type EntryPatch = Partial<Omit<RegistryEntry, 'stream' | 'offset' | 'nextSeq' | 'line' | 'context'>>;

export interface RegistryOptions {
  /** file name under the data dir (default registry.json) */
  fileName?: string;
  /** coalescing window for writes (default 150 ms) */
  flushIntervalMs?: number;
  /** delay before retrying a failed write (default 1000 ms) */
  retryMs?: number;
  /** a write failed (called once until a write succeeds again) */
  onError?: (err: Error) => void;
}

export class RegistryError extends Error {
  override readonly name = 'RegistryError';
}

const VERSION = 1;

export class Registry {
  readonly file: string;
  private readonly tmpFile: string;
  private readonly entriesById = new Map<string, RegistryEntry>();
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private queue: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private closed = false;
  private readonly flushIntervalMs: number;
  private readonly retryMs: number;
  private readonly onError: (err: Error) => void;
  /** completed writes (for tests and metrics) */
  writes = 0;

  private constructor(
    readonly dir: string,
    opts: RegistryOptions,
  ) {
    this.file = join(dir, opts.fileName ?? 'registry.json');
    this.tmpFile = this.file + '.tmp';
    this.flushIntervalMs = opts.flushIntervalMs ?? 150;
    this.retryMs = opts.retryMs ?? 1000;
    this.onError = opts.onError ?? (() => {});
  }

  /** Loads DIR/registry.json (creating DIR if needed). A missing file is an empty registry; an unreadable one is an error. */
  static async open(dataDir: string, opts: RegistryOptions = {}): Promise<Registry> {
    await mkdir(dataDir, { recursive: true });
    const reg = new Registry(dataDir, opts);
    let text: string;
    try {
      text = await readFile(reg.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return reg;
      throw new RegistryError(`cannot read registry ${reg.file}: ${(err as Error).message}`);
    }
    for (const e of parseRegistry(text, reg.file)) reg.entriesById.set(e.stream, e);
    // a temp file left by a crash mid-write is incomplete by definition
    await rm(reg.tmpFile, { force: true, recursive: true }).catch(() => {});
    return reg;
  }

  /** Copies of every entry. */
  list(): RegistryEntry[] {
    return [...this.entriesById.values()].map((e) => ({ ...e }));
  }

  get(stream: string): RegistryEntry | undefined {
    const e = this.entriesById.get(stream);
    return e && { ...e };
  }

  get size(): number {
    return this.entriesById.size;
  }

  /** The last write error, until a write succeeds. */
  get lastError(): Error | undefined {
    return this.failure;
  }

  /** A new stream. Call `flush()` before sending its first event, so a restart finds the same stream id. */
  add(entry: RegistryEntry): void {
    this.entriesById.set(entry.stream, { ...entry });
    this.changed();
  }

  update(stream: string, patch: EntryPatch): boolean {
    const e = this.entriesById.get(stream);
    if (!e) return false;
    Object.assign(e, patch);
    this.changed();
    return true;
  }

  /**
   * The events of `stream` up to `point` are acked. Unknown (forgotten) streams and points behind the
   * committed one are ignored (returns false).
   */
  commit(stream: string, point: ResumePoint): boolean {
    const e = this.entriesById.get(stream);
    if (!e || point.nextSeq < e.nextSeq) return false;
    e.offset = point.offset;
    e.nextSeq = point.nextSeq;
    e.line = point.line;
    if (point.context === undefined) delete e.context;
    else e.context = point.context;
    this.changed();
    return true;
  }

  /** Removes a finished stream whose events are all acked. */
  forget(stream: string): boolean {
    if (!this.entriesById.delete(stream)) return false;
    this.changed();
    return true;
  }

  /** Writes pending changes now; resolves once they are on disk, rejects if the write failed (it is retried later). */
  flush(): Promise<void> {
    this.clearTimer();
    return this.enqueueWrite();
  }

  /** Flushes and stops the write timer. Later changes are kept in memory only until the next flush(). */
  async close(): Promise<void> {
    this.closed = true;
    this.clearTimer();
    await this.enqueueWrite();
  }

  private changed(): void {
    this.dirty = true;
    if (!this.closed) this.schedule(this.failure ? this.retryMs : this.flushIntervalMs);
  }

  private schedule(delay: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.enqueueWrite().catch(() => {}); // reported through onError; retried by doWrite
    }, delay);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private enqueueWrite(): Promise<void> {
    const p = this.queue.then(() => this.doWrite());
    this.queue = p.catch(() => {});
    return p;
  }

  private async doWrite(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    const text = JSON.stringify({ version: VERSION, streams: [...this.entriesById.values()] }) + '\n';
    try {
      await writeFileAtomic(this.file, text);
      this.failure = undefined;
      this.writes++;
    } catch (err) {
      this.dirty = true;
      const e = new RegistryError(`cannot write registry ${this.file}: ${(err as Error).message}`, { cause: err });
      if (!this.failure) this.onError(e);
      this.failure = e;
      if (!this.closed) this.schedule(this.retryMs);
      throw e;
    }
  }
}

/** Parses and validates a registry file's text; throws a RegistryError naming the file and what is wrong. */
export function parseRegistry(text: string, file: string): RegistryEntry[] {
  const fail = (why: string): never => {
    throw new RegistryError(
      `registry ${file} is corrupt: ${why}. Refusing to start over silently: move the file aside to re-read every file from the start.`,
    );
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return fail(`not valid JSON (${(err as Error).message})`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return fail('not a JSON object');
  const d = doc as { version?: unknown; streams?: unknown };
  if (d.version !== VERSION) return fail(`unknown version ${JSON.stringify(d.version)} (expected ${VERSION})`);
  if (!Array.isArray(d.streams)) return fail('"streams" is not an array');
  const seen = new Set<string>();
  return d.streams.map((raw: unknown, i: number) => {
    const where = `stream #${i}`;
    if (raw === null || typeof raw !== 'object') return fail(`${where} is not an object`);
    const e = raw as Record<string, unknown>;
    const str = (k: string) => (typeof e[k] === 'string' ? (e[k] as string) : fail(`${where}: "${k}" must be a string`));
    const int = (k: string) => (Number.isSafeInteger(e[k]) && (e[k] as number) >= 0 ? (e[k] as number) : fail(`${where}: "${k}" must be an integer ≥ 0`));
    const status = e.status;
    if (status !== 'active' && status !== 'rotated' && status !== 'ended') return fail(`${where}: bad "status"`);
    const entry: RegistryEntry = {
      stream: str('stream'),
      path: str('path'),
      dev: str('dev'),
      ino: str('ino'),
      headLen: int('headLen'),
      headHash: str('headHash'),
      offset: int('offset'),
      nextSeq: int('nextSeq'),
      line: int('line'),
      status,
      createdAt: int('createdAt'),
    };
    if (entry.nextSeq < 1) fail(`${where}: "nextSeq" must be ≥ 1`);
    if (seen.has(entry.stream)) fail(`${where}: duplicate stream id ${entry.stream}`);
    seen.add(entry.stream);
    if (e.context !== undefined) entry.context = e.context;
    if (e.ship !== undefined) {
      if (e.ship !== 'chunks') fail(`${where}: bad "ship"`);
      entry.ship = 'chunks';
    }
    if (e.rotatedTo !== undefined) entry.rotatedTo = str('rotatedTo');
    if (e.endSeq !== undefined) entry.endSeq = int('endSeq');
    if (e.endReason !== undefined) {
      const r = e.endReason;
      if (r !== 'rotated' && r !== 'deleted' && r !== 'truncated' && r !== 'gone') fail(`${where}: bad "endReason"`);
      entry.endReason = r as EndReason;
    }
    return entry;
  });
}
