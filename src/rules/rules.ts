import { MAX_TIME_MS } from '../model/bounds.js';
import { alertId } from '../model/ids.js';
import { isoTimeOf } from '../model/iso-time.js';
import type { Alert, AlertType, QueryRecord, Severity } from '../model/record.js';
import { DeadlineHeap } from '../model/deadline-heap.js';
import { OldestEntries } from '../model/oldest-entries.js';
import { RegressionClasses, type ClassSettings } from './regression-classes.js';
import { DEFAULT_MAX_CLASSES, DEFAULT_REGRESSION, type RegressionThresholds } from './regression.js';
import { DEFAULT_CLOCK, SourceClock, type ClockOutcome, type ClockSettings } from './source-clock.js';

// The A/B state machine of README "When it alerts". Pure: no I/O, no wall clock. Only event time
// (record ts and the per-source watermark) drives it, so one process over a file (the oracle) and the
// distributed pipeline give the same alerts for the same per-source record order.

export interface Thresholds extends RegressionThresholds {
  /** a finished query at or above this alerts as slow_query */
  finishedMs: number;
  /** a running query reaching this alerts once as long_running */
  runningMs: number;
  /** a running query not seen for this long (by the source's watermark) is stalled */
  stalledMs: number;
  /** alerts for queries at or above this are critical, below it warnings */
  criticalMs: number;
}

export interface ThresholdOverride {
  match: { source?: string; db?: string; fingerprintId?: string };
  thresholds: Partial<Thresholds>;
}

export interface RulesConfig {
  defaults: Thresholds;
  /** first match wins; list the most specific first */
  overrides: ThresholdOverride[];
  /** how long (event time) a finished query id is remembered, so a second `finished` is a duplicate */
  doneRetentionMs: number;
  /** how a source's event time guards against clock steps (source-clock.ts) */
  clock: ClockSettings;
  /** query classes kept per source for regressions (regression-classes.ts): the least recently seen go first */
  maxClasses: number;
}

export const DEFAULT_RULES: RulesConfig = {
  defaults: { finishedMs: 1_000, runningMs: 10_000, stalledMs: 5 * 60_000, criticalMs: 30_000, ...DEFAULT_REGRESSION },
  overrides: [],
  doneRetentionMs: 10 * 60_000,
  clock: { ...DEFAULT_CLOCK },
  maxClasses: DEFAULT_MAX_CLASSES,
};

/** A query seen running and not finished yet. */
export interface OpenQuery {
  queryId: string;
  firstTs: number;
  lastTs: number;
  durationMs: number;
  /** long_running has been sent for it */
  fired: boolean;
  sql: string;
  fingerprint: string;
  fingerprintId: string;
  db?: string;
  user?: string;
  host?: string;
}

/**
 * How far a stream shipped as raw chunks was parsed: bytes 0..end applied, the lines up to there, and the parser's
 * carry-over state there (what the next chunk is parsed from). Its records are numbered in `streams` as any others.
 */
export interface ChunkMark {
  end: number;
  line: number;
  context?: unknown;
}

/** Everything the rules remember about one source. */
export class SourceState {
  /** the source's event time, guarded against clock steps */
  readonly clock: SourceClock;
  /** running queries not finished yet */
  readonly open = new Map<string, OpenQuery>();
  /** the open queries by the event time at which they are stalled */
  readonly stalling = new DeadlineHeap();
  /** query ids that finished (or stalled), with the event time they ended: late and repeated records are ignored.
   * Insertion order is time order (the times are the watermark, which never goes back). */
  readonly done = new Map<string, number>();
  /** the oldest tombstone, from a cursor kept between sweeps (a fresh iterator would walk the deleted ones first) */
  readonly oldestDone = new OldestEntries(this.done);
  /** per stream: the highest seq applied (duplicate suppression) */
  readonly streams = new Map<string, number>();
  /** per stream shipped as raw chunks (`--ship chunks`): how far its bytes were parsed and applied (src/consumer/chunk-intake.ts) */
  readonly chunks = new Map<string, ChunkMark>();
  /** the source's query classes, for regressions */
  readonly classes = new RegressionClasses();

  constructor(clock: ClockSettings = DEFAULT_CLOCK) {
    this.clock = new SourceClock(clock);
  }

  get watermark(): number {
    return this.clock.watermark;
  }
}

export function newSourceState(clock: ClockSettings = DEFAULT_CLOCK): SourceState {
  return new SourceState(clock);
}

/** What happened to a source's event time while records were applied (for counters and reports). */
export interface ClockEvents {
  outcomes: Array<Exclude<ClockOutcome, undefined>>;
}

export type RecordOutcome = 'applied' | 'late';

/** Resolves thresholds for a record, caching per (db, fingerprint) since overrides rarely change. */
export class ThresholdResolver {
  private readonly cache = new Map<string, Thresholds>();
  private readonly classSettings = new Map<string, ClassSettings>();
  constructor(private readonly config: RulesConfig) {}

  /** What a source's query classes are judged by. */
  classesOf(source: string): ClassSettings {
    let s = this.classSettings.get(source);
    if (!s) {
      s = { maxClasses: this.config.maxClasses, thresholds: (db, fingerprintId) => this.for(source, db, fingerprintId) };
      if (this.classSettings.size > 10_000) this.classSettings.clear();
      this.classSettings.set(source, s);
    }
    return s;
  }

  get retentionMs(): number {
    return this.config.doneRetentionMs;
  }

  get clock(): ClockSettings {
    return this.config.clock;
  }

  for(source: string, db: string | undefined, fingerprintId: string): Thresholds {
    if (this.config.overrides.length === 0) return this.config.defaults;
    const key = `${source}\0${db ?? ''}\0${fingerprintId}`;
    let t = this.cache.get(key);
    if (!t) {
      t = { ...this.config.defaults };
      for (const o of this.config.overrides) {
        const m = o.match;
        if (m.source !== undefined && m.source !== source) continue;
        if (m.db !== undefined && m.db !== db) continue;
        if (m.fingerprintId !== undefined && !sameFingerprintId(m.fingerprintId, fingerprintId)) continue;
        Object.assign(t, o.thresholds);
        break;
      }
      if (this.cache.size > 50_000) this.cache.clear();
      this.cache.set(key, t);
    }
    return t;
  }
}

/** pt-query-digest shows the last 16 hex digits of the id; accept either form in config. */
function sameFingerprintId(configured: string, actual: string): boolean {
  const a = configured.toUpperCase().replace(/^0X/, '');
  const b = actual.toUpperCase().replace(/^0X/, '');
  return a === b || b.endsWith(a);
}

/**
 * Applies one record (already known not to be a duplicate) to its source's state; appends any alerts.
 * Returns 'late' when the record is about a query that already ended (a repeat or a straggler).
 */
export function applyRecord(
  state: SourceState, rec: QueryRecord, resolver: ThresholdResolver, alerts: Alert[], clockEvents?: ClockEvents,
): RecordOutcome {
  const change = state.clock.observe(rec.ts, rec);
  if (change && clockEvents) clockEvents.outcomes.push(change);
  // The server's statistics of a class are not an execution: they move the source's time and count in the
  // class's regression statistics (a class of their own), nothing else.
  if (rec.kind === 'statement_stats') {
    state.classes.apply(rec, state.watermark, resolver.classesOf(rec.source), alerts);
    sweep(state, rec.source, resolver, alerts);
    return 'applied';
  }
  const wm = state.watermark;
  let outcome: RecordOutcome = 'applied';
  const t = resolver.for(rec.source, rec.db, rec.fingerprintId);

  if (state.done.has(rec.queryId)) {
    outcome = 'late';
  } else if (rec.state === 'running') {
    let q = state.open.get(rec.queryId);
    if (q) {
      if (rec.ts > q.lastTs) q.lastTs = rec.ts;
      if (rec.durationMs > q.durationMs) q.durationMs = rec.durationMs;
    } else {
      q = {
        queryId: rec.queryId,
        firstTs: rec.ts,
        lastTs: rec.ts,
        durationMs: rec.durationMs,
        fired: false,
        sql: rec.sql,
        fingerprint: rec.fingerprint,
        fingerprintId: rec.fingerprintId,
      };
      if (rec.db !== undefined) q.db = rec.db;
      if (rec.user !== undefined) q.user = rec.user;
      if (rec.host !== undefined) q.host = rec.host;
      state.open.set(rec.queryId, q);
    }
    // each query has its own deadline (thresholds differ per query, and a record from a clock running ahead
    // puts its query's far off): the heap finds every one that is due, whatever the order they came in
    state.stalling.set(q.queryId, q.lastTs + t.stalledMs);
    if (!q.fired && q.durationMs >= t.runningMs) {
      q.fired = true;
      alerts.push(makeAlert('long_running', rec.source, q, q.durationMs, q.lastTs, severityOf(q.durationMs, t), rec));
    }
  } else {
    const q = state.open.get(rec.queryId);
    if (q) {
      state.open.delete(rec.queryId);
      state.stalling.delete(rec.queryId);
    }
    // Remember the id only where a repeat could change an alert: a query seen running, or one long enough
    // to alert. A fast query seen only finished needs no tombstone: a repeated `finished` of it is again
    // below the threshold, and a late `running` of it (duration ≤ its total) stays under the running
    // threshold and is dropped quietly. Most of a slow log is such queries (kept, they made a consumer's
    // state grow to millions of ids on a busy log).
    if (q || rec.durationMs >= Math.min(t.finishedMs, t.runningMs)) state.done.set(rec.queryId, wm);
    if (q?.fired) {
      alerts.push(makeAlert('resolved', rec.source, describe(rec, q), rec.durationMs, rec.ts, 'info', rec));
    } else if (rec.durationMs >= t.finishedMs) {
      alerts.push(makeAlert('slow_query', rec.source, describe(rec, q), rec.durationMs, rec.ts, severityOf(rec.durationMs, t), rec));
    }
    state.classes.apply(rec, wm, resolver.classesOf(rec.source), alerts);
  }
  sweep(state, rec.source, resolver, alerts);
  return outcome;
}

/** Stalled queries (every one that is due, whatever order they were touched in) and expired tombstones. */
function sweep(state: SourceState, source: string, resolver: ThresholdResolver, alerts: Alert[]): void {
  const wm = state.watermark;
  for (let id = state.stalling.popDue(wm); id !== undefined; id = state.stalling.popDue(wm)) {
    const q = state.open.get(id);
    if (!q) continue;
    state.open.delete(id);
    state.done.set(id, wm);
    if (q.fired) alerts.push(makeAlert('stalled', source, q, q.durationMs, wm, 'warning'));
  }
  const keep = resolver.retentionMs;
  for (let e = state.oldestDone.peek(); e !== undefined && wm - e[1] > keep; e = state.oldestDone.peek()) state.oldestDone.take();
}

/** Rebuilds a source's stall deadlines after its open queries were loaded (from a snapshot). */
export function indexOpenQueries(state: SourceState, source: string, resolver: ThresholdResolver): void {
  state.stalling.clear();
  for (const q of state.open.values()) {
    state.stalling.set(q.queryId, q.lastTs + resolver.for(source, q.db, q.fingerprintId).stalledMs);
  }
}

/** The statement's details: from the open query if one was seen running, else from the record. */
function describe(rec: QueryRecord, q: OpenQuery | undefined): OpenQuery {
  const d: OpenQuery = {
    queryId: rec.queryId,
    firstTs: q?.firstTs ?? rec.ts,
    lastTs: rec.ts,
    durationMs: rec.durationMs,
    fired: q?.fired ?? false,
    sql: rec.sql || q?.sql || '',
    fingerprint: rec.sql ? rec.fingerprint : (q?.fingerprint ?? rec.fingerprint),
    fingerprintId: rec.sql ? rec.fingerprintId : (q?.fingerprintId ?? rec.fingerprintId),
  };
  const db = rec.db ?? q?.db;
  const user = rec.user ?? q?.user;
  const host = rec.host ?? q?.host;
  if (db !== undefined) d.db = db;
  if (user !== undefined) d.user = user;
  if (host !== undefined) d.host = host;
  return d;
}

function severityOf(durationMs: number, t: Thresholds): Severity {
  return durationMs >= t.criticalMs ? 'critical' : 'warning';
}

/** `raisedBy`: the record whose arrival raised the alert; its plan, if it has one, goes with the alert. */
function makeAlert(type: AlertType, source: string, q: OpenQuery, durationMs: number, at: number, severity: Severity, raisedBy?: QueryRecord): Alert {
  const a: Alert = {
    id: alertId(source, q.queryId, type),
    type,
    source,
    queryId: q.queryId,
    fingerprint: q.fingerprint,
    fingerprintId: q.fingerprintId,
    sql: q.sql,
    durationMs,
    startedAt: isoTime(type === 'slow_query' || type === 'resolved' ? at - durationMs : q.lastTs - q.durationMs),
    at: isoTime(at),
    severity,
  };
  if (q.db !== undefined) a.db = q.db;
  if (q.user !== undefined) a.user = q.user;
  if (q.host !== undefined) a.host = q.host;
  if (raisedBy?.plan !== undefined) a.plan = raisedBy.plan;
  if (raisedBy?.planFacts !== undefined) a.planFacts = raisedBy.planFacts;
  return a;
}

/** An event time as an alert carries it (the epoch for one a Date cannot hold). */
export function isoTime(ms: number): string {
  // what a Date cannot hold (NaN, beyond ±MAX_TIME_MS) is written as the epoch
  return Math.abs(ms) <= MAX_TIME_MS ? isoTimeOf(ms) : '1970-01-01T00:00:00.000Z';
}
