import type { Labels, LabeledAlert } from './model.js';
import { firingUntil, matchLabels, toLabeled } from './model.js';
import type { FingerprintSummary } from './view.js';
import { DeadlineHeap } from '../model/deadline-heap.js';
import { OldestKeys } from '../model/oldest-keys.js';
import { isClassAlert, type Alert } from '../model/record.js';

// What the dashboard shows that is not the dispatcher's business: the alerts firing now, the latest resolved
// ones, and per-fingerprint figures over a recent window. In memory and bounded; after a restart it holds
// what the monitor's state and journal give back. The firing alerts are also what a reload indexes new
// inhibition rules over (Alertmanager's inhibitor, too, is fed from its alert store).
//
// A slow query fires for 5 minutes, so at a high alert rate this holds up to 50,000 alerts. Each is kept as the
// consumer sent it (~750 bytes of heap); its labels, annotations and matcher labels (another ~1,100 bytes in
// ~20 objects) are built again when the list is asked for, which is rare (/api/alerts, a reload), while every
// alert kept lengthens the young-generation collections of the monitor's intake (they survive them all).

export interface ActiveEntry {
  alert: LabeledAlert;
  receivedAt: number;
  match: Labels;
}

/** A firing alert as kept: what it came as, and when (the labelled form is built from it on demand). */
interface Firing {
  alert: Alert;
  receivedAt: number;
}

interface Sample {
  at: number;
  fingerprintId: string;
  fingerprint: string;
  durationMs: number;
  sql: string;
  source: string;
}

export class RecentAlerts {
  private readonly active = new Map<string, Firing>();
  private readonly oldestActive = new OldestKeys(this.active);
  /**
   * The firing slow queries by when they stop counting as firing: expiry takes the due ones off the top instead of
   * walking every firing alert (it runs on every count, and /metrics asked for the count once per metric).
   */
  private readonly lapsing = new DeadlineHeap();
  private readonly resolved: LabeledAlert[] = [];
  private samples: Sample[] = [];
  private sampleStart = 0;

  constructor(private readonly limits = { active: 50_000, resolved: 1000, samples: 100_000 }) {}

  /**
   * An accepted alert. A firing one is kept by its labelled form's fingerprint; that form must be what
   * toLabeled() makes of the alert alone (a firing alert has no opening alert to take labels from).
   */
  add(alert: LabeledAlert, receivedAt: number): void {
    if (alert.status === 'firing') {
      this.active.delete(alert.fingerprint); // re-insert: newest last
      this.active.set(alert.fingerprint, { alert: alert.alert, receivedAt });
      // (a time that is not a number never lapses, as `until <= now` never holds for it)
      const until = firingUntil(alert.alert, receivedAt);
      if (Number.isFinite(until)) this.lapsing.set(alert.fingerprint, until);
      else this.lapsing.delete(alert.fingerprint);
      if (this.active.size > this.limits.active) {
        const evicted = this.oldestActive.take();
        if (evicted !== undefined) this.lapsing.delete(evicted);
      }
    } else {
      this.active.delete(alert.fingerprint);
      this.lapsing.delete(alert.fingerprint);
      this.resolved.push(alert);
      if (this.resolved.length > this.limits.resolved * 2) this.resolved.splice(0, this.resolved.length - this.limits.resolved);
    }
    const a = alert.alert;
    // a class regression's duration is its window's p95, not one execution: not a sample of the slowest
    if (isClassAlert(a.type)) return;
    this.samples.push({ at: receivedAt, fingerprintId: a.fingerprintId, fingerprint: a.fingerprint, durationMs: a.durationMs, sql: a.sql, source: a.source });
    if (this.samples.length - this.sampleStart > this.limits.samples) this.sampleStart++;
    if (this.sampleStart > this.limits.samples) {
      this.samples = this.samples.slice(this.sampleStart);
      this.sampleStart = 0;
    }
  }

  /** Firing now, newest first. A slow_query counts as firing for POINT_EVENT_MS after it was accepted. */
  firing(now: number): ActiveEntry[] {
    this.expire(now);
    const out: ActiveEntry[] = [];
    for (const { alert, receivedAt } of this.active.values()) {
      const l = toLabeled(alert);
      out.push({ alert: l, receivedAt, match: matchLabels(l) });
    }
    return out.reverse();
  }

  /** How many are firing now (the counters ask every few seconds: no list of up to 50,000 built for a count). */
  firingCount(now: number): number {
    this.expire(now);
    return this.active.size;
  }

  private expire(now: number): void {
    for (let fp = this.lapsing.popDue(now); fp !== undefined; fp = this.lapsing.popDue(now)) this.active.delete(fp);
  }

  recentResolved(limit: number): LabeledAlert[] {
    return this.resolved.slice(-Math.max(0, limit)).reverse();
  }

  slowest(now: number, windowMs: number, limit: number): FingerprintSummary[] {
    const since = now - windowMs;
    const by = new Map<string, FingerprintSummary & { sourceSet: Set<string> }>();
    for (let i = this.samples.length - 1; i >= this.sampleStart; i--) {
      const s = this.samples[i]!;
      if (s.at < since) break;
      let f = by.get(s.fingerprintId);
      if (!f) {
        f = { fingerprintId: s.fingerprintId, fingerprint: s.fingerprint, count: 0, maxMs: 0, totalMs: 0, sampleSql: s.sql, sources: [], lastAt: s.at, sourceSet: new Set() };
        by.set(s.fingerprintId, f);
      }
      f.count++;
      f.totalMs += s.durationMs;
      if (s.durationMs > f.maxMs) {
        f.maxMs = s.durationMs;
        f.sampleSql = s.sql;
      }
      f.sourceSet.add(s.source);
    }
    return [...by.values()]
      .sort((a, b) => b.maxMs - a.maxMs || b.count - a.count)
      .slice(0, Math.max(0, limit))
      .map(({ sourceSet, ...f }) => ({ ...f, sources: [...sourceSet].sort() }));
  }
}
