import { CLASS_RECENT, CLASS_SLICE_MS, CLASS_SLICES, type QueryClassSummary } from '../model/query-class.js';
import type { QueryRecord } from '../model/record.js';
import { OldestKeys } from '../model/oldest-keys.js';

// Per statement class (source + fingerprint), what ran over the last hour of the source's event time, for the
// dashboard's class view: a view, not state — it is not in the journal or the snapshot; after a restart it holds
// what the journal replayed and what came since. Finished executions count once each; a statement_stats
// record counts as its `calls` executions at their mean. Durations go into log-scale buckets (4 per doubling,
// ±9%), kept sparse per 5-minute slice, so a percentile is a walk over a few dozen numbers.
//
// Memory: at most maxClasses classes (least recently seen, to the 5-minute slice, evicted first); a class holds at most 12 slices of a
// few buckets each, 5 recent executions and one example statement (≤ 4 KiB): ~1–6 KiB a class.

const BUCKETS_PER_DOUBLING = 4;

function bucketOf(ms: number): number {
  return ms <= 1 ? 0 : Math.ceil(Math.log2(ms) * BUCKETS_PER_DOUBLING);
}
/** the upper bound of a bucket, in ms: what a percentile reports */
function bucketUpper(b: number): number {
  return b === 0 ? 1 : Math.round(2 ** (b / BUCKETS_PER_DOUBLING) * 10) / 10;
}

interface Slice {
  /** floor(ts / CLASS_SLICE_MS) */
  index: number;
  count: number;
  totalMs: number;
  maxMs: number;
  buckets: Map<number, number>;
}

interface ClassState {
  source: string;
  fingerprintId: string;
  fingerprint: string;
  example: string;
  db?: string;
  lastTs: number;
  /** newest last; at most CLASS_SLICES */
  slices: Slice[];
  /** newest first */
  recent: QueryClassSummary['recent'];
  /** the slice it last moved to the end of the least-recently-seen order in */
  seenSlice: number;
}

/** Puts an execution among the latest CLASS_RECENT (newest first); records mostly come in time order. */
function keepRecent(recent: QueryClassSummary['recent'], rec: QueryRecord): void {
  if (recent.length >= CLASS_RECENT && rec.ts < recent[recent.length - 1]!.ts) return;
  let i = 0;
  while (i < recent.length && recent[i]!.ts > rec.ts) i++;
  recent.splice(i, 0, { ts: rec.ts, durationMs: rec.durationMs, queryId: rec.queryId });
  if (recent.length > CLASS_RECENT) recent.length = CLASS_RECENT;
}

/** The q-th percentile's bucket bound, never above the longest duration counted (a bucket's bound can be beyond any time). */
function percentile(buckets: Iterable<[number, number]>, count: number, q: number, maxMs: number): number {
  if (count === 0) return 0;
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const rank = Math.ceil(q * count);
  let seen = 0;
  for (const [b, n] of sorted) {
    seen += n;
    if (seen >= rank) return Math.min(bucketUpper(b), maxMs);
  }
  return Math.min(bucketUpper(sorted[sorted.length - 1]![0]), maxMs);
}

export class QueryClasses {
  /** insertion order = least recently seen first */
  private readonly classes = new Set<ClassState>();
  private readonly leastRecent = new OldestKeys(this.classes);
  /**
   * The same classes by source, then fingerprint id: found by the record's own strings (their hashes cached),
   * without making a `source NUL id` key string for each record.
   */
  private readonly bySource = new Map<string, Map<string, ClassState>>();
  /** per source: its latest event time */
  private readonly sourceTime = new Map<string, number>();
  evicted = 0;

  constructor(private readonly maxClasses = 5000) {}

  get size(): number {
    return this.classes.size;
  }

  add(rec: QueryRecord): void {
    if (rec.state !== 'finished') return;
    const calls = rec.kind === 'statement_stats' ? (rec.calls ?? 0) : 1;
    if (!(calls > 0) || !Number.isFinite(rec.durationMs) || !Number.isFinite(rec.ts)) return;
    const now = this.sourceTime.get(rec.source);
    if (now === undefined || rec.ts > now) this.sourceTime.set(rec.source, rec.ts);
    const index = Math.floor(rec.ts / CLASS_SLICE_MS);
    let ofSource = this.bySource.get(rec.source);
    if (!ofSource) {
      ofSource = new Map();
      this.bySource.set(rec.source, ofSource);
    }
    let c = ofSource.get(rec.fingerprintId);
    if (!c) {
      if (this.classes.size >= this.maxClasses) {
        this.remove(this.leastRecent.take()!);
        this.evicted++;
      }
      c = { source: rec.source, fingerprintId: rec.fingerprintId, fingerprint: rec.fingerprint, example: rec.sql, lastTs: rec.ts, slices: [], recent: [], seenSlice: index };
      this.classes.add(c);
      ofSource.set(rec.fingerprintId, c);
    } else if (c.seenSlice !== index) {
      // most recently seen last, to the slice: a move per record would cost more than all the rest of add()
      c.seenSlice = index;
      this.classes.delete(c);
      this.classes.add(c);
    }
    if (rec.ts >= c.lastTs) {
      c.lastTs = rec.ts;
      c.example = rec.sql;
      if (rec.db !== undefined) c.db = rec.db;
    }
    const newest = c.slices[c.slices.length - 1];
    let slice = newest !== undefined && newest.index === index ? newest : c.slices.find((s) => s.index === index);
    if (!slice) {
      if (newest && index < newest.index - CLASS_SLICES + 1) return; // older than the window
      slice = { index, count: 0, totalMs: 0, maxMs: 0, buckets: new Map() };
      c.slices.push(slice);
      if (newest && index < newest.index) c.slices.sort((a, b) => a.index - b.index);
      const last = c.slices[c.slices.length - 1]!.index;
      while (c.slices.length > 0 && c.slices[0]!.index <= last - CLASS_SLICES) c.slices.shift();
    }
    slice.count += calls;
    slice.totalMs += rec.durationMs * calls;
    if (rec.durationMs > slice.maxMs) slice.maxMs = rec.durationMs;
    const b = bucketOf(rec.durationMs);
    slice.buckets.set(b, (slice.buckets.get(b) ?? 0) + calls);
    if (rec.kind !== 'statement_stats') keepRecent(c.recent, rec);
  }

  private remove(c: ClassState): void {
    this.classes.delete(c);
    const ofSource = this.bySource.get(c.source);
    ofSource?.delete(c.fingerprintId);
    if (ofSource?.size === 0) this.bySource.delete(c.source);
  }

  /** Forgets the classes of sources no longer here (given to another consumer when the ring changed). */
  forget(gone: (source: string) => boolean): void {
    for (const c of [...this.classes.values()]) if (gone(c.source)) this.remove(c);
    for (const source of this.sourceTime.keys()) if (gone(source)) this.sourceTime.delete(source);
  }

  /** The `limit` classes with the most total time in their source's last hour, busiest first. */
  top(limit: number): QueryClassSummary[] {
    const scored: Array<{ c: ClassState; total: number; last: number }> = [];
    for (const c of this.classes.values()) {
      const until = this.sourceTime.get(c.source) ?? c.lastTs;
      const last = Math.floor(until / CLASS_SLICE_MS);
      let total = 0;
      for (const s of c.slices) if (s.index > last - CLASS_SLICES) total += s.totalMs;
      if (total > 0) scored.push({ c, total, last });
    }
    scored.sort((a, b) => b.total - a.total);
    return scored.slice(0, limit).map(({ c, last }) => this.summary(c, last));
  }

  private summary(c: ClassState, last: number): QueryClassSummary {
    const trendCount: number[] = [];
    const trendP95Ms: number[] = [];
    const all = new Map<number, number>();
    let count = 0;
    let totalMs = 0;
    let maxMs = 0;
    for (let i = last - CLASS_SLICES + 1; i <= last; i++) {
      const s = c.slices.find((x) => x.index === i);
      trendCount.push(s?.count ?? 0);
      trendP95Ms.push(s ? percentile(s.buckets, s.count, 0.95, s.maxMs) : 0);
      if (!s) continue;
      count += s.count;
      totalMs += s.totalMs;
      if (s.maxMs > maxMs) maxMs = s.maxMs;
      for (const [b, n] of s.buckets) all.set(b, (all.get(b) ?? 0) + n);
    }
    const out: QueryClassSummary = {
      source: c.source,
      fingerprintId: c.fingerprintId,
      fingerprint: c.fingerprint,
      example: c.example,
      until: this.sourceTime.get(c.source) ?? c.lastTs,
      count,
      totalMs: Math.round(totalMs * 1000) / 1000,
      p95Ms: percentile(all, count, 0.95, maxMs),
      maxMs,
      lastTs: c.lastTs,
      trendCount,
      trendP95Ms,
      recent: c.recent.map((r) => ({ ...r })),
    };
    if (c.db !== undefined) out.db = c.db;
    return out;
  }
}
