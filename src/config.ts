import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_RULES, type RulesConfig, type Thresholds, type ThresholdOverride } from './consumer/rules.js';
import { defaultMonitorConfig, MONITOR_KEYS, parseMonitorConfig, type MonitorConfig } from './monitor/monitor-config.js';

// The configuration file (YAML or JSON) shared by `up`, `consumer`, `evaluate`. Unknown keys and wrong
// types are errors that name the key: a typo must not silently fall back to a default.
//
//   rules:
//     finished_ms: 1000       # finished query ≥ this → slow_query
//     running_ms: 10000       # running query reaching this → long_running (once)
//     stalled_ms: 300000      # running query silent this long (event time) → stalled / dropped
//     critical_ms: 30000      # severity critical at or above this
//     overrides:              # first match wins
//       - match: { source: db-01, db: shop, fingerprint_id: "0x…" }
//         running_ms: 2000
//
//   route, receivers, inhibit_rules, rate_limits: the monitor's (src/monitor/monitor-config.ts)

export interface SlowqConfig {
  rules: RulesConfig;
  monitor: MonitorConfig;
}

export class ConfigError extends Error {}

const THRESHOLD_KEYS: Record<string, keyof Thresholds> = {
  finished_ms: 'finishedMs',
  running_ms: 'runningMs',
  stalled_ms: 'stalledMs',
  critical_ms: 'criticalMs',
};

export function loadConfig(path: string | undefined): SlowqConfig {
  if (!path) return { rules: structuredClone(DEFAULT_RULES), monitor: defaultMonitorConfig() };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${path}: not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
  return parseConfig(raw ?? {}, path);
}

export function parseConfig(raw: unknown, where = 'config'): SlowqConfig {
  const top = obj(raw, where);
  known(top, ['rules', ...MONITOR_KEYS], where);
  const rules: RulesConfig = structuredClone(DEFAULT_RULES);
  if (top.rules !== undefined) {
    const r = obj(top.rules, `${where}: rules`);
    known(r, [...Object.keys(THRESHOLD_KEYS), 'overrides', 'done_retention_ms'], `${where}: rules`);
    Object.assign(rules.defaults, thresholds(r, `${where}: rules`));
    if (r.done_retention_ms !== undefined) rules.doneRetentionMs = ms(r.done_retention_ms, `${where}: rules.done_retention_ms`);
    if (r.overrides !== undefined) {
      if (!Array.isArray(r.overrides)) throw new ConfigError(`${where}: rules.overrides must be a list`);
      rules.overrides = r.overrides.map((o, i): ThresholdOverride => {
        const at = `${where}: rules.overrides[${i}]`;
        const ov = obj(o, at);
        known(ov, ['match', ...Object.keys(THRESHOLD_KEYS)], at);
        const m = obj(ov.match, `${at}.match`);
        known(m, ['source', 'db', 'fingerprint_id'], `${at}.match`);
        const match: ThresholdOverride['match'] = {};
        if (m.source !== undefined) match.source = str(m.source, `${at}.match.source`);
        if (m.db !== undefined) match.db = str(m.db, `${at}.match.db`);
        if (m.fingerprint_id !== undefined) match.fingerprintId = str(m.fingerprint_id, `${at}.match.fingerprint_id`);
        return { match, thresholds: thresholds(ov, at) };
      });
    }
  }
  return { rules, monitor: parseMonitorConfig(top, where) };
}

function thresholds(o: Record<string, unknown>, at: string): Partial<Thresholds> {
  const t: Partial<Thresholds> = {};
  for (const [key, field] of Object.entries(THRESHOLD_KEYS)) {
    if (o[key] !== undefined) t[field] = ms(o[key], `${at}.${key}`);
  }
  return t;
}

function obj(v: unknown, at: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`${at} must be a map`);
  return v as Record<string, unknown>;
}

function known(o: Record<string, unknown>, keys: string[], at: string): void {
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) throw new ConfigError(`${at}: unknown key "${k}" (known: ${keys.join(', ')})`);
  }
}

function ms(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ConfigError(`${at} must be a number of milliseconds ≥ 0`);
  return v;
}

function str(v: unknown, at: string): string {
  if (typeof v !== 'string') throw new ConfigError(`${at} must be a string`);
  return v;
}

/** Applies --finished-ms/--running-ms/--stalled-ms style command-line overrides. */
export function withThresholdFlags(cfg: SlowqConfig, flags: { finishedMs?: string; runningMs?: string; stalledMs?: string; criticalMs?: string }): SlowqConfig {
  for (const key of ['finishedMs', 'runningMs', 'stalledMs', 'criticalMs'] as const) {
    const v = flags[key];
    if (v === undefined) continue;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new ConfigError(`--${key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} must be a number of milliseconds`);
    cfg.rules.defaults[key] = n;
  }
  return cfg;
}
