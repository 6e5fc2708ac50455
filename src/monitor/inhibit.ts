import type { Labels } from './model.js';
import type { Clock } from './dispatch/clock.js';
import { matchesAll, type Matcher } from './dispatch/matchers.js';
import type { InhibitRuleConfig } from './monitor-config.js';
import { DeadlineHeap } from '../model/deadline-heap.js';

// Inhibition (Alertmanager's inhibit_rules): while an alert matching a rule's source matchers is firing, alerts
// matching its target matchers with the same values of the `equal` labels are muted. Built in: a critical
// alert mutes a warning about the same query (same source and queryId). A resolved/stalled alert closes its
// long_running alert through their shared labels, so that needs no rule here.

export const BUILTIN_INHIBIT_RULES: InhibitRuleConfig[] = [
  {
    sourceMatchers: [{ name: 'severity', op: '=', value: 'critical' }],
    targetMatchers: [{ name: 'severity', op: '=', value: 'warning' }],
    equal: ['source', 'queryId'],
  },
];

interface IndexedRule {
  sourceMatchers: Matcher[];
  targetMatchers: Matcher[];
  equal: string[];
  /** firing source alerts by their `equal` values: fingerprint → until when it counts as firing */
  sources: Map<string, Map<string, number>>;
}

/** A firing alert as the inhibitor is told of it: its matcher labels, its fingerprint, until when it fires. */
export interface FiringSource {
  labels: Labels;
  fingerprint: string;
  /** ms since epoch; Infinity until ended() is called for it */
  until: number;
}

export class Inhibitor {
  private rules: IndexedRule[];
  private observed = 0;
  /**
   * The firing alerts some rule's source matchers select (those that can mute another), until each ends or its
   * time runs out: their labels find their places in the index again when they end. Other alerts are not kept
   * here: a reload indexes the new rules over the firing alerts the caller lists (setRules).
   */
  private readonly firingSources = new Map<string, { labels: Labels; until: number }>();
  /**
   * Firing sources with a time limit, by when it runs out: a sweep takes those due instead of walking every firing
   * alert. An alert fired again moves to its new time, and one whose time comes earlier than another's (the clock
   * was set back) is not held up behind it.
   */
  private readonly expiries = new DeadlineHeap();

  constructor(rules: readonly InhibitRuleConfig[], private readonly clock: Clock) {
    this.rules = rules.map((r) => ({ ...r, sources: new Map() }));
  }

  /** firing alerts remembered as sources (those with a time limit until a sweep finds it ran out) */
  get trackedCount(): number {
    return this.firingSources.size;
  }

  /** A configuration reload: the new rules, indexed over the alerts firing now. */
  setRules(rules: readonly InhibitRuleConfig[], firing: Iterable<FiringSource>): void {
    this.rules = rules.map((r) => ({ ...r, sources: new Map() }));
    this.firingSources.clear();
    this.expiries.clear();
    const now = this.clock.now();
    for (const f of firing) if (f.until > now) this.firing(f.labels, f.fingerprint, f.until);
  }

  /** An alert is firing until `until` (ms since epoch; Infinity until end() is called for it). */
  firing(labels: Labels, fingerprint: string, until: number): void {
    if (this.index(labels, fingerprint, until)) {
      this.firingSources.set(fingerprint, { labels, until });
      if (until !== Infinity) this.expiries.set(fingerprint, until);
      else this.expiries.delete(fingerprint);
    }
    if (++this.observed % 1000 === 0) this.sweep();
  }

  /** Indexes a firing alert under every rule it is a source of; false if it is a source of none. */
  private index(labels: Labels, fingerprint: string, until: number): boolean {
    let indexed = false;
    for (const r of this.rules) {
      if (!matchesAll(r.sourceMatchers, labels)) continue;
      const key = equalKey(r.equal, labels);
      let m = r.sources.get(key);
      if (!m) r.sources.set(key, (m = new Map()));
      m.set(fingerprint, until);
      indexed = true;
    }
    return indexed;
  }

  /** The alert with these labels is over. */
  ended(labels: Labels, fingerprint: string): void {
    this.firingSources.delete(fingerprint);
    this.expiries.delete(fingerprint);
    for (const r of this.rules) {
      if (!matchesAll(r.sourceMatchers, labels)) continue;
      const key = equalKey(r.equal, labels);
      const m = r.sources.get(key);
      if (!m) continue;
      m.delete(fingerprint);
      if (m.size === 0) r.sources.delete(key);
    }
  }

  /** Fingerprints of the firing alerts that mute an alert with these labels (empty: not inhibited). */
  inhibitedBy(labels: Labels, fingerprint: string): string[] {
    const now = this.clock.now();
    const out: string[] = [];
    for (const r of this.rules) {
      if (!matchesAll(r.targetMatchers, labels)) continue;
      const m = r.sources.get(equalKey(r.equal, labels));
      if (!m) continue;
      for (const [fp, until] of m) if (fp !== fingerprint && until > now && !out.includes(fp)) out.push(fp);
    }
    return out;
  }

  /**
   * Forgets sources whose time ran out (point events). Between sweeps they are remembered, never counted as
   * firing (inhibitedBy checks the time).
   */
  sweep(): void {
    const now = this.clock.now();
    for (let fp = this.expiries.popDue(now); fp !== undefined; fp = this.expiries.popDue(now)) {
      const f = this.firingSources.get(fp);
      if (f) this.ended(f.labels, fp);
    }
  }
}

function equalKey(names: readonly string[], labels: Labels): string {
  return names.map((n) => labels[n] ?? '').join('\0');
}
