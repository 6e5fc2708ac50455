import { alertId } from '../model/ids.js';
import { isoTime } from './rules.js';
import type { Alert, AlertType, QueryRecord, RegressionFacts, Severity } from '../model/record.js';
import {
  add, advance, classKey, judge, minuteOf, newClass, WINDOW_MS, type Judgement, type OpenRegression, type QueryClass, type RegressionThresholds,
} from './regression.js';

// A source's query classes (regression.ts): at most `maxClasses`, in least-recently-seen order (a Map's order:
// a class seen again moves to the end), and the alerts their verdicts give. Pure, like the rest of the rules.

/** How long an eviction looks past classes with an open regression before it takes the oldest one anyway. */
const EVICTION_SKIP_LIMIT = 64;

export interface ClassSettings {
  maxClasses: number;
  thresholds(db: string | undefined, fingerprintId: string): RegressionThresholds & { criticalMs: number };
}

export class RegressionClasses {
  /** by classKey(db, fingerprintId), least recently seen first */
  readonly classes = new Map<string, QueryClass>();
  /** classes with an open regression (swept when the source's minute changes) */
  private openCount = 0;
  /** the minute of the last sweep: a sweep within the same minute would change nothing (see sweep) */
  private sweptMinute = Number.NEGATIVE_INFINITY;
  /** classes evicted to stay within maxClasses, since this process started (a counter, not state) */
  evicted = 0;

  /**
   * Counts a finished execution in its class and judges the class; `watermark` is the source's time after it. A
   * `statement_stats` record counts as its `calls` executions at their mean, in a class of its own (QueryClass.statistics).
   */
  apply(rec: QueryRecord, watermark: number, s: ClassSettings, alerts: Alert[]): void {
    if (!Number.isFinite(watermark)) return;
    const statistics = rec.kind === 'statement_stats';
    const n = statistics ? (rec.calls ?? 0) : 1;
    if (!(n >= 1) || !Number.isSafeInteger(n)) return;
    const now = minuteOf(watermark);
    const key = classKey(rec.db, rec.fingerprintId, statistics);
    const t = s.thresholds(rec.db, rec.fingerprintId);
    let c = this.classes.get(key);
    if (!c) {
      this.makeRoom(rec.source, s.maxClasses - 1, watermark, alerts);
      c = newClass(rec.fingerprintId, rec.db, now, statistics);
      this.classes.set(key, c);
    } else if (c.seenMinute !== now) {
      // least recently seen first, to the minute: moved once a minute at most (a move per record costs)
      c.seenMinute = now;
      this.classes.delete(key);
      this.classes.set(key, c);
    }
    advance(c, now, t.regressionMinCount);
    // a record stamped ahead of its source's time (a clock step refused) counts at the source's time
    add(c, minuteOf(Math.min(rec.ts, watermark)), rec.durationMs, n);
    const { verdict, j } = judge(c, t);
    if (verdict === 'fire' && j) {
      const open: OpenRegression = {
        queryId: `regression ${c.fingerprintId} ${c.db ?? ''}${c.statistics ? ' statistics' : ''} ${watermark}`, since: watermark, fingerprint: rec.fingerprint, sql: rec.sql,
      };
      if (rec.user !== undefined) open.user = rec.user;
      if (rec.host !== undefined) open.host = rec.host;
      c.open = open;
      this.openCount++;
      alerts.push(classAlert('regression', rec.source, c, open, watermark, j.windowP95Ms >= t.criticalMs ? 'critical' : 'warning', j, rec));
    } else if (verdict === 'resolve') {
      this.close(rec.source, c, watermark, alerts, j, rec);
    }
    this.sweep(rec.source, now, s, watermark, alerts);
  }

  /**
   * Once per minute of the source's time: open regressions of classes that went quiet are judged again (their
   * window empties as time goes on). Judging a class twice in a minute with nothing new in it gives the same
   * verdict, so a sweep skipped (or one more after a restart, which does not know the last one) changes nothing.
   */
  private sweep(source: string, now: number, s: ClassSettings, watermark: number, alerts: Alert[]): void {
    if (now === this.sweptMinute || this.openCount === 0) return;
    this.sweptMinute = now;
    for (const c of this.classes.values()) {
      if (!c.open) continue;
      const t = s.thresholds(c.db, c.fingerprintId);
      advance(c, now, t.regressionMinCount);
      const { verdict, j } = judge(c, t);
      if (verdict === 'resolve') this.close(source, c, watermark, alerts, j);
    }
  }

  /** `raisedBy`: the class's execution that closed it, if one did (its plan goes with the alert). */
  private close(source: string, c: QueryClass, at: number, alerts: Alert[], j: Judgement | undefined, raisedBy?: QueryRecord): void {
    const open = c.open;
    if (!open) return;
    delete c.open;
    this.openCount--;
    alerts.push(classAlert('regression_resolved', source, c, open, at, 'info', j, raisedBy));
  }

  /** Evicts the least recently seen classes down to `room`, those without an open regression first (an evicted open one is closed). */
  private makeRoom(source: string, room: number, at: number, alerts: Alert[]): void {
    while (this.classes.size > Math.max(0, room)) {
      let victim: [string, QueryClass] | undefined;
      let skipped = 0;
      for (const e of this.classes) {
        victim ??= e;
        if (!e[1].open) {
          victim = e;
          break;
        }
        if (++skipped >= EVICTION_SKIP_LIMIT) break;
      }
      if (!victim) return;
      const [key, c] = victim;
      this.close(source, c, at, alerts, undefined);
      this.classes.delete(key);
      this.evicted++;
    }
  }

  /**
   * After classes were loaded from a snapshot, or the thresholds changed (a reload, made at a snapshot): the next
   * record sweeps, whichever it is, as it does after a restart from that snapshot.
   */
  indexLoaded(): void {
    this.openCount = 0;
    for (const c of this.classes.values()) if (c.open) this.openCount++;
    this.sweptMinute = Number.NEGATIVE_INFINITY;
  }
}

/** `raisedBy`: the execution whose arrival raised the alert; its plan, if its record has one, goes with the alert. */
function classAlert(type: AlertType, source: string, c: QueryClass, open: OpenRegression, at: number, severity: Severity, j: Judgement | undefined, raisedBy?: QueryRecord): Alert {
  const a: Alert = {
    id: alertId(source, open.queryId, type),
    type,
    source,
    queryId: open.queryId,
    fingerprint: open.fingerprint,
    fingerprintId: c.fingerprintId,
    sql: open.sql,
    durationMs: j?.windowP95Ms ?? 0,
    startedAt: isoTime(open.since),
    at: isoTime(at),
    severity,
  };
  if (c.db !== undefined) a.db = c.db;
  if (open.user !== undefined) a.user = open.user;
  if (open.host !== undefined) a.host = open.host;
  if (j) a.regression = facts(j);
  // a class counted from the server's statistics says so, with the server's id of it where the record had one
  if (c.statistics) a.labels = { from: 'statement_stats', ...(typeof raisedBy?.labels?.query_id === 'string' && { query_id: raisedBy.labels.query_id }) };
  if (raisedBy?.plan !== undefined) a.plan = raisedBy.plan;
  if (raisedBy?.planFacts !== undefined) a.planFacts = raisedBy.planFacts;
  return a;
}

function facts(j: Judgement): RegressionFacts {
  return {
    windowMs: WINDOW_MS, windowCount: j.windowCount, windowP95Ms: j.windowP95Ms,
    baselineP95Ms: j.baselineP95Ms, baselineCount: j.baseline.count, baselineWindows: j.baseline.windows,
  };
}
