import { ConfigError, known, map, ms, str } from '../config/schema.js';
import { HISTORY_WINDOWS, type RegressionThresholds } from './regression.js';
import { DEFAULT_RULES, type RulesConfig, type Thresholds, type ThresholdOverride } from './rules.js';

// The `rules:` section of the configuration file:
//
//   rules:
//     finished_ms: 1000       # finished query ≥ this → slow_query
//     running_ms: 10000       # running query reaching this → long_running (once)
//     stalled_ms: 300000      # running query silent this long (event time) → stalled / dropped
//     critical_ms: 30000      # severity critical at or above this
//     clock_step_ms: 300000   # a record further ahead of its source's time than this is a suspected clock step …
//     clock_step_confirmations: 3   # … until this many in a row, spanning clock_step_span_ms of their own time,
//     clock_step_span_ms: 60000     #   confirm a gap in the log, or as many at the old time refuse it (source-clock.ts)
//     regression_factor: 3    # a query class whose 10-min p95 is ≥ this × its baseline's → regression (0: off)
//     regression_resolve_factor: 1.5  # … resolved when back to ≤ this × the baseline's
//     regression_min_count: 20        # executions in the window (and in a window of the baseline) to judge
//     regression_min_ms: 100          # the window's p95 must be at least this to fire
//     regression_min_history: 3       # completed 10-min windows the baseline needs (30 min)
//     max_classes: 10000      # query classes kept per source (least recently seen evicted): bounds the memory
//     overrides:              # first match wins
//       - match: { source: db-01, db: shop, fingerprint_id: "0x…" }
//         running_ms: 2000
//         regression_factor: 5

const THRESHOLD_KEYS: Record<string, keyof Thresholds> = {
  finished_ms: 'finishedMs',
  running_ms: 'runningMs',
  stalled_ms: 'stalledMs',
  critical_ms: 'criticalMs',
};

export function parseRulesConfig(raw: unknown, where: string): RulesConfig {
  const rules: RulesConfig = structuredClone(DEFAULT_RULES);
  if (raw === undefined) return rules;
  const r = map(raw, `${where}: rules`);
  known(r, [...Object.keys(THRESHOLD_KEYS), ...Object.keys(REGRESSION_KEYS), 'max_classes', 'overrides', 'done_retention_ms', 'clock_step_ms', 'clock_step_confirmations', 'clock_step_span_ms'], `${where}: rules`);
  Object.assign(rules.defaults, thresholds(r, `${where}: rules`));
  if (r.max_classes !== undefined) rules.maxClasses = whole(r.max_classes, `${where}: rules.max_classes`, 1, 10_000_000);
  if (r.done_retention_ms !== undefined) rules.doneRetentionMs = ms(r.done_retention_ms, `${where}: rules.done_retention_ms`);
  if (r.clock_step_ms !== undefined) rules.clock.maxStepMs = ms(r.clock_step_ms, `${where}: rules.clock_step_ms`);
  if (r.clock_step_span_ms !== undefined) rules.clock.confirmSpanMs = ms(r.clock_step_span_ms, `${where}: rules.clock_step_span_ms`);
  if (r.clock_step_confirmations !== undefined) rules.clock.confirmations = wholeAtLeastOne(r.clock_step_confirmations, `${where}: rules.clock_step_confirmations`);
  if (r.overrides !== undefined) {
    if (!Array.isArray(r.overrides)) throw new ConfigError(`${where}: rules.overrides must be a list`);
    rules.overrides = r.overrides.map((o, i): ThresholdOverride => {
      const at = `${where}: rules.overrides[${i}]`;
      const ov = map(o, at);
      known(ov, ['match', ...Object.keys(THRESHOLD_KEYS), ...Object.keys(REGRESSION_KEYS)], at);
      const m = map(ov.match, `${at}.match`);
      known(m, ['source', 'db', 'fingerprint_id'], `${at}.match`);
      const match: ThresholdOverride['match'] = {};
      if (m.source !== undefined) match.source = str(m.source, `${at}.match.source`);
      if (m.db !== undefined) match.db = str(m.db, `${at}.match.db`);
      if (m.fingerprint_id !== undefined) match.fingerprintId = str(m.fingerprint_id, `${at}.match.fingerprint_id`);
      return { match, thresholds: thresholds(ov, at) };
    });
  }
  return rules;
}

function wholeAtLeastOne(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 100) throw new ConfigError(`${at} must be a whole number from 1 to 100`);
  return v;
}

/** The regression settings (src/rules/regression.ts) and how each is read. */
const REGRESSION_KEYS: Record<string, [keyof RegressionThresholds, (v: unknown, at: string) => number]> = {
  regression_factor: ['regressionFactor', factor],
  regression_resolve_factor: ['regressionResolveFactor', factor],
  regression_min_count: ['regressionMinCount', (v, at) => whole(v, at, 1, 1_000_000)],
  regression_min_ms: ['regressionMinMs', ms],
  regression_min_history: ['regressionMinHistory', (v, at) => whole(v, at, 1, HISTORY_WINDOWS)],
};

function thresholds(o: Record<string, unknown>, at: string): Partial<Thresholds> {
  const t: Partial<Thresholds> = {};
  for (const [key, field] of Object.entries(THRESHOLD_KEYS)) {
    if (o[key] !== undefined) t[field] = ms(o[key], `${at}.${key}`);
  }
  for (const [key, [field, read]] of Object.entries(REGRESSION_KEYS)) {
    if (o[key] !== undefined) t[field] = read(o[key], `${at}.${key}`);
  }
  if ((t.regressionResolveFactor ?? 0) > (t.regressionFactor ?? Infinity) && t.regressionFactor !== 0) {
    throw new ConfigError(`${at}.regression_resolve_factor must not be above regression_factor`);
  }
  return t;
}

function factor(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1000) throw new ConfigError(`${at} must be a number from 0 to 1000`);
  return v;
}

function whole(v: unknown, at: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ConfigError(`${at} must be a whole number from ${min} to ${max}`);
  return v;
}

/** Applies --finished-ms/--running-ms/--stalled-ms/--critical-ms command-line values over the file's. */
export function withThresholdFlags(rules: RulesConfig, flags: { finishedMs?: string; runningMs?: string; stalledMs?: string; criticalMs?: string }): RulesConfig {
  for (const key of ['finishedMs', 'runningMs', 'stalledMs', 'criticalMs'] as const) {
    const v = flags[key];
    if (v === undefined) continue;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new ConfigError(`--${key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} must be a number of milliseconds`);
    rules.defaults[key] = n;
  }
  return rules;
}
