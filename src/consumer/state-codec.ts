import type { Alert, QueryRecord } from '../model/record.js';
import { packState, unpackState } from '../durable/codec.js';
import type { WireRecord } from '../model/record.js';
import { decodeRecords } from '../wire/protocol.js';
import type { RulesEngine } from '../rules/engine.js';
import type { OpenQuery, SourceState } from '../rules/rules.js';
import type { SourceClockState } from '../rules/source-clock.js';

// How the consumer's state and its per-request changes are laid out on disk. The journal holds what
// came in (the batches, and the outbox acks), not derived values: replaying it through the same
// deterministic rules rebuilds the same state and outbox. Replaying an entry already reflected in a
// snapshot is harmless: the per-stream high-water mark makes it a duplicate.

export type JournalEntry =
  /** a batch as it came off the wire: the payload frame is stored as is, not re-encoded */
  | { k: 'b'; src: string; stream: string; first: number; last: number; payload: Buffer }
  | { k: 'a'; ids: string[] };

export function encodeEntry(e: JournalEntry): Buffer {
  return packState(e);
}

export function decodeEntry(buf: Buffer): JournalEntry {
  return unpackState<JournalEntry>(buf);
}

/** Stamps wire records with the fields their batch header implies. */
export function stampRecords(recs: WireRecord[], source: string, stream: string, first: number): QueryRecord[] {
  const out = recs as QueryRecord[];
  for (let i = 0; i < out.length; i++) {
    const r = out[i]!;
    r.source = source;
    r.stream = stream;
    r.seq = first + i;
  }
  return out;
}

/** Restores a batch entry's records. */
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
}

export interface StateSnapshot {
  v: 1;
  sources: SourceSnapshot[];
  outbox: Alert[];
}

export function encodeSnapshot(engine: RulesEngine, outbox: Iterable<Alert>): Buffer {
  const sources: SourceSnapshot[] = [];
  for (const [name, s] of engine.sources) {
    sources.push({
      name,
      watermark: s.watermark === -Infinity ? Number.MIN_SAFE_INTEGER : s.watermark,
      ...clockExtra(s.clock.state()),
      open: [...s.open.values()],
      done: [...s.done],
      streams: [...s.streams],
    });
  }
  const snap: StateSnapshot = { v: 1, sources, outbox: [...outbox] };
  return packState(snap);
}

export function decodeSnapshot(buf: Buffer, engine: RulesEngine, outbox: Map<string, Alert>): void {
  const snap = unpackState<StateSnapshot>(buf);
  if (!snap || snap.v !== 1 || !Array.isArray(snap.sources)) throw new Error('snapshot has an unknown layout');
  for (const s of snap.sources) {
    const st: SourceState = engine.source(s.name);
    const watermark = s.watermark === Number.MIN_SAFE_INTEGER ? -Infinity : s.watermark;
    st.clock.restore(s.clockCandidates ? { watermark, candidates: s.clockCandidates } : { watermark });
    for (const q of s.open) st.open.set(q.queryId, q);
    engine.indexLoaded(s.name);
    for (const [id, ts] of s.done) st.done.set(id, ts);
    for (const [stream, seq] of s.streams) st.streams.set(stream, seq);
  }
  for (const a of snap.outbox) outbox.set(a.id, a);
}

/** The clock's pending candidates, only when there are some (most snapshots have none). */
function clockExtra(c: SourceClockState): Pick<SourceSnapshot, 'clockCandidates'> {
  return c.candidates ? { clockCandidates: c.candidates } : {};
}
