import { stampRecords, type Alert, type QueryRecord } from '../model/record.js';
import { packState, unpackState } from '../durable/codec.js';
import type { EntryBytes } from '../durable/journal.js';
import type { SetAside } from '../durable/quarantine.js';
import { decodeRecords } from '../wire/protocol.js';
import { SchemaError, sift, type Check } from '../wire/schema.js';
import { RulesEngine } from '../rules/engine.js';
import type { ChunkMark, OpenQuery, SourceState } from '../rules/rules.js';
import { BUCKETS, CELLS, classKey, recountWindow, setBaseline, type OpenRegression, type PastWindow, type QueryClass } from '../rules/regression.js';
import type { SourceClockState } from '../rules/source-clock.js';
import { chunkMark, clockCandidates, doneQuery, handoffMark, journalEntry, openQuery, outboxAlert, outgoingState, queryClass, sourceHead, streamMark } from './state-schema.js';

// How the consumer's state and its per-request changes are laid out on disk. The journal holds what
// came in (the batches, and the outbox acks), not derived values: replaying it through the same
// deterministic rules rebuilds the same state and outbox. Replaying an entry already reflected in a
// snapshot is harmless: the per-stream high-water mark makes it a duplicate.
//
// Read back, everything is checked (state-schema.ts, with the wire's own checks for batches and alerts): the
// caller sets aside a journal entry that does not pass, and decodeSnapshot hands it the parts of a snapshot
// that do not (a source, an open query, an alert of the outbox), restoring the rest.

export type JournalEntry =
  /** a batch as it came off the wire: the payload frame is stored as is, not re-encoded */
  | { k: 'b'; src: string; stream: string; first: number; last: number; payload: Buffer }
  /** the part of a raw chunk that was applied (chunk-intake.ts): its bytes, parsed again on replay */
  | { k: 'c'; src: string; stream: string; first: number; last: number; eof: boolean; fmt: string; tz: string; pfx?: string; quiet?: boolean; bytes: Buffer }
  | { k: 'a'; ids: string[] }
  | HandoffEntry;

/**
 * A source changing hands (handoff.ts): `o` given up for ring version `ver`, with its whole state (this consumer
 * never applies it again, and keeps the state until the new owner has it); `x` the new owner has it (the copy is
 * forgotten); `i` received from its old owner, with its state, which replaces whatever was here of it; `r` a
 * `release` of ring version `ver` was had (batches routed by an older ring are refused from then on: the fence).
 */
export type HandoffEntry =
  | { k: 'o'; src: string; ver: number; state: Buffer }
  | { k: 'x'; src: string; ver: number }
  | { k: 'i'; src: string; ver: number; state: Buffer }
  | { k: 'r'; ver: number };

// A batch's payload and a chunk's bytes are most of a journal, and they are already a Buffer: such an entry is
// written as a small header and the bytes after it, not packed into one msgpack value (a copy of half a MiB into
// fresh memory per chunk). 0xc1 is the one byte msgpack never uses, so it tells this layout from a packed entry:
//   0xc1, u32 LE length of the head, the head (msgpack: the entry without its bytes), the bytes
const WITH_TAIL = 0xc1;

/** An entry as the journal writes it (durable/journal.ts frames it; the parts are not joined). */
export function encodeEntry(e: JournalEntry): EntryBytes {
  if (e.k !== 'b' && e.k !== 'c') return packState(e);
  const { payload, bytes, ...head } = e as JournalEntry & { payload?: Buffer; bytes?: Buffer };
  const packed = packState(head);
  const lead = Buffer.allocUnsafe(5);
  lead[0] = WITH_TAIL;
  lead.writeUInt32LE(packed.length, 1);
  return [lead, packed, (payload ?? bytes)!];
}

/** A journal entry, checked (a batch's records are, by entryRecords); throws a SchemaError saying what is wrong. */
export function decodeEntry(buf: Buffer): JournalEntry {
  if (buf.length === 0 || buf[0] !== WITH_TAIL) return journalEntry(unpackState<unknown>(buf), '');
  if (buf.length < 5) throw new SchemaError('', `entry of ${buf.length} bytes cut short in its head`);
  const end = 5 + buf.readUInt32LE(1);
  if (end > buf.length) throw new SchemaError('', `entry head of ${end - 5} bytes runs past the entry's ${buf.length} bytes`);
  const head = unpackState<unknown>(buf.subarray(5, end));
  const k = typeof head === 'object' && head !== null ? (head as { k?: unknown }).k : undefined;
  if (k !== 'b' && k !== 'c') throw new SchemaError('', `entry with bytes after its head is of kind ${String(k).slice(0, 16)}, not b or c`);
  return journalEntry({ ...(head as object), [k === 'b' ? 'payload' : 'bytes']: buf.subarray(end) }, '');
}

/** One buffer holding an entry (tests, and what is set aside). */
export function entryBuffer(e: EntryBytes): Buffer {
  return e instanceof Uint8Array ? Buffer.from(e.buffer, e.byteOffset, e.length) : Buffer.concat(e);
}

/** Restores a batch entry's records (checked as a batch payload). */
export function entryRecords(e: Extract<JournalEntry, { k: 'b' }>): QueryRecord[] {
  return stampRecords(decodeRecords(e.payload, e.last - e.first + 1), e.src, e.stream, e.first);
}

interface SourceSnapshot {
  name: string;
  watermark: number;
  /** records ahead of the watermark awaiting confirmation (source-clock.ts) */
  clockCandidates?: SourceClockState['candidates'];
  /** in Map order: the order is part of the state (oldest first) */
  open: OpenQuery[];
  done: Array<[string, number]>;
  streams: Array<[string, number]>;
  /** streams shipped as raw chunks: how far their bytes were parsed, and the parser's context there (absent: none) */
  chunks?: Array<[string, ChunkMark]>;
  /** query classes (rules/regression.ts), least recently seen first: the order is part of the state */
  classes?: ClassSnapshot[];
}

/** A query class: its counts as [cell, count] pairs of the non-zero cells (most are zero), cells ascending. */
export interface ClassSnapshot {
  fingerprintId: string;
  db?: string;
  /** counted from the server's statement statistics (QueryClass.statistics) */
  statistics?: true;
  head: number;
  /** the minute it last moved in the least-recently-seen order (QueryClass.seenMinute) */
  seen: number;
  cells: number[];
  history: PastWindow[];
  open?: OpenRegression;
}

/** Sources that changed hands (handoff.ts): given up (with the state kept until confirmed), and received, by ring version. */
export interface HandoffsSnapshot {
  released: Array<[string, number]>;
  outgoing: Array<[string, number, Buffer]>;
  received: Array<[string, number]>;
  /** the highest ring version had in a release or a handoff (absent in snapshots from before the fence: 0) */
  ring?: number;
}

export interface StateSnapshot {
  v: 1;
  sources: SourceSnapshot[];
  outbox: Alert[];
  /** absent in snapshots from before sources could move */
  handoffs?: HandoffsSnapshot;
}

function sourceSnapshot(name: string, s: SourceState): SourceSnapshot {
  return {
    name,
    watermark: s.watermark === -Infinity ? Number.MIN_SAFE_INTEGER : s.watermark,
    ...clockExtra(s.clock.state()),
    open: [...s.open.values()],
    done: [...s.done],
    streams: [...s.streams],
    ...(s.chunks.size > 0 && { chunks: [...s.chunks] }),
    classes: [...s.classes.classes.values()].map(classSnapshot),
  };
}

export function encodeSnapshot(engine: RulesEngine, outbox: Iterable<Alert>, handoffs?: HandoffsSnapshot): Buffer {
  const sources: SourceSnapshot[] = [];
  for (const [name, s] of engine.sources) sources.push(sourceSnapshot(name, s));
  const snap: StateSnapshot = { v: 1, sources, outbox: [...outbox], ...(handoffs && { handoffs }) };
  return packState(snap);
}

/** One source's whole state, as it moves to another consumer: its rules' state and its alerts not yet acked by the monitor. */
interface SourceHandoffState {
  v: 1;
  source: SourceSnapshot;
  outbox: Alert[];
}

export function encodeSourceState(engine: RulesEngine, name: string, alerts: Alert[]): Buffer {
  const s = engine.sources.get(name);
  const state: SourceHandoffState = { v: 1, source: s ? sourceSnapshot(name, s) : { name, watermark: Number.MIN_SAFE_INTEGER, open: [], done: [], streams: [] }, outbox: alerts };
  return packState(state);
}

/**
 * Installs a source's state received from another consumer in place of whatever the engine had of it, and returns
 * its alerts (for the outbox). Checked whole first: anything that does not pass refuses all of it (throws), and
 * the engine is left untouched.
 */
export function installSourceState(buf: Buffer, name: string, engine: RulesEngine): Alert[] {
  let st: SourceHandoffState;
  try {
    st = unpackState<SourceHandoffState>(buf);
  } catch (err) {
    throw new Error(`the state of source ${name} is not msgpack: ${(err as Error).message}`);
  }
  if (!st || typeof st !== 'object' || st.v !== 1) throw new Error(`the state of source ${name} has an unknown layout`);
  const scratch = new RulesEngine(engine.rules);
  restoreSource(st.source, 0, scratch, refuseAll);
  const alerts = sift(st.outbox, outboxAlert, (_v, index, problem) => refuseAll({ what: `outbox alert ${index}`, reason: problem }));
  const got = scratch.sources.get(name);
  if (scratch.sources.size !== 1 || !got) throw new Error(`the state received for source ${name} is another source's`);
  if (alerts.some((a) => a.source !== name)) throw new Error(`the state received for source ${name} holds another source's alerts`);
  engine.sources.set(name, got);
  engine.indexLoaded(name);
  return alerts;
}

/** Restores a snapshot into the engine and the outbox; each part that does not pass its check goes to `setAside`. */
export function decodeSnapshot(
  buf: Buffer, engine: RulesEngine, outbox: Map<string, Alert>, setAside: (item: Omit<SetAside, 'file'>) => void = refuseAll, handoffs?: HandoffsSnapshot,
): void {
  const snap = unpackState<StateSnapshot>(buf);
  if (!snap || snap.v !== 1 || !Array.isArray(snap.sources)) throw new Error('snapshot has an unknown layout');
  const keep = <T>(list: unknown, check: Check<T>, what: string): T[] =>
    sift(list, check, (value, index, problem) => setAside({ what: index < 0 ? what : `${what} ${index}`, reason: problem, value }));
  snap.sources.forEach((s, i) => restoreSource(s, i, engine, setAside));
  for (const a of keep(snap.outbox, outboxAlert, 'outbox: alert')) outbox.set(a.id, a);
  if (snap.handoffs !== undefined && handoffs) {
    const h = snap.handoffs;
    for (const [src, ver] of keep(h.released, handoffMark, 'handoffs: released')) handoffs.released.push([src, ver]);
    for (const [src, ver, state] of keep(h.outgoing, outgoingState, 'handoffs: outgoing')) handoffs.outgoing.push([src, ver, state]);
    for (const [src, ver] of keep(h.received, handoffMark, 'handoffs: received')) handoffs.received.push([src, ver]);
    if (h.ring !== undefined) {
      if (Number.isSafeInteger(h.ring) && h.ring >= 0) handoffs.ring = h.ring;
      else setAside({ what: 'handoffs: ring', reason: 'must be a ring version', value: h.ring });
    }
  }
}

/** Restores one source of a snapshot into the engine; each part that does not pass its check goes to `setAside`. */
function restoreSource(s: SourceSnapshot, i: number, engine: RulesEngine, setAside: (item: Omit<SetAside, 'file'>) => void): void {
  const keep = <T>(list: unknown, check: Check<T>, what: string): T[] =>
    sift(list, check, (value, index, problem) => setAside({ what: index < 0 ? what : `${what} ${index}`, reason: problem, value }));
  let head;
  try {
    head = sourceHead(s, `source ${i}`);
  } catch (err) {
    setAside({ what: `source ${i}`, reason: (err as Error).message, value: s });
    return;
  }
  const st: SourceState = engine.source(head.name);
  const where = `source ${head.name}`;
  const watermark = head.watermark === Number.MIN_SAFE_INTEGER ? -Infinity : head.watermark;
  const [candidates] = s.clockCandidates === undefined ? [] : keep([s.clockCandidates], clockCandidates, `${where}: clock candidates`);
  st.clock.restore(candidates ? { watermark, candidates } : { watermark });
  for (const q of keep(s.open, openQuery, `${where}: open query`)) st.open.set(q.queryId, q as OpenQuery);
  engine.indexLoaded(head.name);
  for (const [id, ts] of keep(s.done, doneQuery, `${where}: done query`)) st.done.set(id, ts);
  for (const [stream, seq] of keep(s.streams, streamMark, `${where}: stream`)) st.streams.set(stream, seq);
  if (s.chunks !== undefined) for (const [stream, mark] of keep(s.chunks, chunkMark, `${where}: chunk stream`)) st.chunks.set(stream, mark);
  if (s.classes !== undefined) {
    for (const c of keep(s.classes, queryClass, `${where}: query class`)) {
      const restored = restoreClass(c);
      st.classes.classes.set(classKey(restored.db, restored.fingerprintId, restored.statistics === true), restored);
    }
    st.classes.indexLoaded();
  }
}

function classSnapshot(c: QueryClass): ClassSnapshot {
  const cells: number[] = [];
  for (let i = 0; i < CELLS; i++) if (c.slices[i] !== 0) cells.push(i, c.slices[i]!);
  const snap: ClassSnapshot = { fingerprintId: c.fingerprintId, head: c.head, seen: c.seenMinute, cells, history: c.history };
  if (c.db !== undefined) snap.db = c.db;
  if (c.statistics) snap.statistics = true;
  if (c.open) snap.open = c.open;
  return snap;
}

/** A checked class snapshot (state-schema.ts) back in memory. */
function restoreClass(s: ClassSnapshot): QueryClass {
  const c: QueryClass = {
    fingerprintId: s.fingerprintId, head: s.head, slices: new Uint32Array(CELLS), window: new Uint32Array(BUCKETS), count: 0, seenMinute: s.seen, history: s.history,
  };
  for (let i = 0; i < s.cells.length; i += 2) c.slices[s.cells[i]!] = s.cells[i + 1]!;
  recountWindow(c);
  setBaseline(c);
  if (s.db !== undefined) c.db = s.db;
  if (s.statistics) c.statistics = true;
  if (s.open) c.open = s.open;
  return c;
}

/** Without anywhere to set parts aside, a part that does not pass fails the whole snapshot. */
function refuseAll(item: Omit<SetAside, 'file'>): never {
  throw new Error(`snapshot ${item.what ?? ''}: ${item.reason}`);
}

/** The clock's pending candidates, only when there are some (most snapshots have none). */
function clockExtra(c: SourceClockState): Pick<SourceSnapshot, 'clockCandidates'> {
  return c.candidates ? { clockCandidates: c.candidates } : {};
}
