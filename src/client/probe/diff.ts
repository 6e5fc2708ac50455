// The probe's bookkeeping, pure: given what was tracked and a new snapshot, which `running` and `finished`
// records to write and what to track next. No I/O, no wall clock: only the snapshot's server times.

import { boundSql, type QueryState } from '../../model/record.js';
import type { ActivitySnapshot, IdleSession, RunningStatement } from './activity.js';

/** A record as `slowq probe` writes it (README "Formats", jsonl). */
export interface ProbeRecord {
  /** event time, ms since epoch */
  ts: number;
  state: QueryState;
  id: string;
  durationMs: number;
  sql: string;
  db?: string;
  user?: string;
  host?: string;
}

/** A statement seen running, by (session, execution). */
export interface TrackedStatement {
  id: string;
  session: string;
  execution: string;
  /** pinned when first seen, so jitter between polls never changes the id */
  startMs: number;
  lastElapsedMs: number;
  /** a `running` record was written for it, so it is owed a `finished` one */
  reported: boolean;
  sql: string;
  db?: string;
  user?: string;
  host?: string;
}

export type Tracking = ReadonlyMap<string, TrackedStatement>;

export interface DiffOptions {
  /** statements running at least this long get `running` records (and later a `finished` one) */
  minDurationMs: number;
  /** the start time in ids is cut to a multiple of this (see executionId) */
  idResolutionMs: number;
}

export interface DiffResult {
  /** finished records first (they end at or before the snapshot), then running ones */
  records: ProbeRecord[];
  tracking: Map<string, TrackedStatement>;
}

/** Elapsed may dip by clock noise; more than this means the session started the same statement again. */
const RESTART_TOLERANCE_MS = 5;

/**
 * The id of one execution: `${session}-${start}`, start in ms since epoch cut down to a multiple of
 * `resolutionMs`. With 1000 (the default) the server's own log gives the same id: MariaDB's slow log has the start
 * in whole seconds only (`SET timestamp=`), PostgreSQL's can be rebuilt to the millisecond only approximately.
 */
export function executionId(session: string, startMs: number, resolutionMs: number): string {
  const res = resolutionMs >= 1 ? resolutionMs : 1;
  return `${session}-${Math.floor(startMs / res) * res}`;
}

function trackingKey(session: string, execution: string): string {
  return `${session}\0${execution}`;
}

/** The sessions whose reported statements are still tracked: the source is asked whether they went idle. */
export function watchedSessions(tracking: Tracking): Set<string> {
  const out = new Set<string>();
  for (const t of tracking.values()) if (t.reported) out.add(t.session);
  return out;
}

export function diffActivity(prev: Tracking, snap: ActivitySnapshot, opts: DiffOptions): DiffResult {
  const next = new Map<string, TrackedStatement>();
  const finished: ProbeRecord[] = [];
  const running: ProbeRecord[] = [];
  const runningBySession = new Map<string, RunningStatement[]>();
  const idleBySession = new Map<string, IdleSession>();
  for (const i of snap.idle) idleBySession.set(i.session, i);
  /** tracked statements still running, or already closed above (restarted): not vanished */
  const accounted = new Set<TrackedStatement>();

  for (const st of snap.running) {
    const key = trackingKey(st.session, st.execution);
    let t = prev.get(key);
    if (t && st.elapsedMs + RESTART_TOLERANCE_MS < t.lastElapsedMs) {
      // Same session and text but younger: a new execution (only where the text is the execution key).
      if (t.reported) finished.push(finish(t, Math.max(t.startMs + t.lastElapsedMs, st.startMs)));
      accounted.add(t);
      t = undefined;
    }
    if (!t) {
      t = {
        id: executionId(st.session, st.startMs, opts.idResolutionMs),
        session: st.session,
        execution: st.execution,
        startMs: st.startMs,
        lastElapsedMs: st.elapsedMs,
        reported: false,
        sql: boundSql(st.sql),
      };
      if (st.db !== undefined) t.db = st.db;
      if (st.user !== undefined) t.user = st.user;
      if (st.host !== undefined) t.host = st.host;
    } else {
      accounted.add(t);
      t = { ...t, lastElapsedMs: Math.max(t.lastElapsedMs, st.elapsedMs) };
    }
    if (st.elapsedMs >= opts.minDurationMs) {
      t.reported = true;
      running.push(record(t, 'running', snap.nowMs, st.elapsedMs));
    }
    next.set(key, t);
    const list = runningBySession.get(st.session);
    if (list) list.push(st);
    else runningBySession.set(st.session, [st]);
  }

  for (const t of prev.values()) {
    if (accounted.has(t) || !t.reported) continue;
    const idle = idleBySession.get(t.session);
    if (idle && idle.lastExecution === t.execution) {
      finished.push(finish(t, idle.endMs));
      continue;
    }
    // The end is not shown: it was at or before the earliest later sign of life of the session, else now.
    let bound = snap.nowMs;
    if (idle && idle.endMs < bound) bound = idle.endMs;
    for (const other of runningBySession.get(t.session) ?? []) {
      if (other.startMs > t.startMs && other.startMs < bound) bound = other.startMs;
    }
    finished.push(finish(t, Math.max(bound, t.startMs + t.lastElapsedMs)));
  }
  finished.sort((a, b) => a.ts - b.ts);
  return { records: [...finished, ...running], tracking: next };
}

function finish(t: TrackedStatement, endMs: number): ProbeRecord {
  return record(t, 'finished', endMs, Math.max(endMs - t.startMs, t.lastElapsedMs));
}

function record(t: TrackedStatement, state: QueryState, ts: number, durationMs: number): ProbeRecord {
  const r: ProbeRecord = { ts, state, id: t.id, durationMs: Math.max(0, durationMs), sql: t.sql };
  if (t.db !== undefined) r.db = t.db;
  if (t.user !== undefined) r.user = t.user;
  if (t.host !== undefined) r.host = t.host;
  return r;
}
