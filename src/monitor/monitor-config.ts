import { ConfigError, count, duration, known, list, map as obj, nonEmpty as str } from '../config/schema.js';
import { checkMatcher, MatcherError, parseMatcher, type Matcher } from './dispatch/matchers.js';
import { parseReceiverConfig, type ReceiverConfig } from './notifiers/config.js';

// The monitor's sections of the configuration file: the routing tree, receivers, inhibition rules and rate
// limits, in Alertmanager's shape (durations as "30s", "5m", "4h", "1h30m" or a number of milliseconds).
// Unknown keys and wrong types are errors that name the key.
//
//   route:
//     receiver: oncall                  # the root route matches every alert
//     group_by: [source, alertname]      # "..." groups by every label (one group per problem)
//     group_wait: 30s
//     group_interval: 5m
//     repeat_interval: 4h
//     max_alerts: 1000                   # alerts listed in one notification; the rest are counted (0: all)
//     routes:                            # first matching child wins, unless it says continue: true
//       - matchers: ["db=shop", "severity=critical"]
//         receiver: shop-pager
//         continue: true
//       - matchers: ["type=~slow.*"]
//         receiver: team-slack
//   receivers: [ … ]                     # notifiers/config.ts: webhook, slack, alertmanager, file
//   inhibit_rules:
//     - source_matchers: ["severity=critical"]
//       target_matchers: ["severity=warning"]
//       equal: [source, queryId]
//   rate_limits:
//     - receiver: team-slack
//       rate: 10                         # notifications …
//       per: 1m                          # … per this long
//       burst: 20

export interface RouteTimings {
  groupWaitMs: number;
  groupIntervalMs: number;
  repeatIntervalMs: number;
}

/** A route as written; settings left out are inherited from the parent when the tree is built. */
export interface RouteConfig {
  receiver?: string;
  matchers: Matcher[];
  continue: boolean;
  /** label names, or ['...'] for every label */
  groupBy?: string[];
  groupWaitMs?: number;
  groupIntervalMs?: number;
  repeatIntervalMs?: number;
  /** alerts listed in one notification (0: every one) */
  maxAlerts?: number;
  routes: RouteConfig[];
}

export interface InhibitRuleConfig {
  sourceMatchers: Matcher[];
  targetMatchers: Matcher[];
  /** labels that must be equal in source and target */
  equal: string[];
}

export interface RateLimitConfig {
  receiver: string;
  /** notifications allowed per `perMs` */
  rate: number;
  perMs: number;
  /** bucket size: how many may go at once after a quiet time */
  burst: number;
}

export interface MonitorConfig {
  route: RouteConfig;
  receivers: ReceiverConfig[];
  inhibitRules: InhibitRuleConfig[];
  rateLimits: RateLimitConfig[];
}

export const DEFAULT_GROUP_BY = ['source', 'alertname'];
/**
 * Alerts listed in one notification by default. A burst of slow queries can put tens of thousands of alerts in a
 * group between two flushes; no receiver reads them one by one, and every one would be journaled in the flush's
 * record. The rest are counted in the notification (`truncatedAlerts`, Alertmanager's webhook `max_alerts`).
 */
export const DEFAULT_MAX_ALERTS = 1000;

export const DEFAULT_TIMINGS: RouteTimings = { groupWaitMs: 30_000, groupIntervalMs: 5 * 60_000, repeatIntervalMs: 4 * 3600_000 };

/** No config: one route to no external receiver (alerts.jsonl and stdout only). */
export function defaultMonitorConfig(): MonitorConfig {
  return { route: { matchers: [], continue: false, routes: [] }, receivers: [], inhibitRules: [], rateLimits: [] };
}

export const MONITOR_KEYS = ['route', 'receivers', 'inhibit_rules', 'rate_limits'];

/** Reads the monitor's keys of the top-level config map (other keys are the caller's). */
export function parseMonitorConfig(top: Record<string, unknown>, where: string): MonitorConfig {
  const cfg = defaultMonitorConfig();
  if (top.receivers !== undefined) {
    cfg.receivers = list(top.receivers, `${where}: receivers`).map((r, i) => parseReceiverConfig(r, `${where}: receivers[${i}]`));
    const seen = new Set<string>();
    for (const [i, r] of cfg.receivers.entries()) {
      if (seen.has(r.name)) throw new ConfigError(`${where}: receivers[${i}].name "${r.name}" is used twice`);
      seen.add(r.name);
    }
  }
  const names = new Set(cfg.receivers.map((r) => r.name));
  if (top.route !== undefined) cfg.route = parseRoute(top.route, `${where}: route`, true, names);
  if (top.inhibit_rules !== undefined) {
    cfg.inhibitRules = list(top.inhibit_rules, `${where}: inhibit_rules`).map((r, i) => parseInhibitRule(r, `${where}: inhibit_rules[${i}]`));
  }
  if (top.rate_limits !== undefined) {
    const seen = new Set<string>();
    cfg.rateLimits = list(top.rate_limits, `${where}: rate_limits`).map((r, i) => {
      const at = `${where}: rate_limits[${i}]`;
      const rl = parseRateLimit(r, at, names);
      if (seen.has(rl.receiver)) throw new ConfigError(`${at}.receiver: "${rl.receiver}" already has a rate limit`);
      seen.add(rl.receiver);
      return rl;
    });
  }
  return cfg;
}

function parseRoute(raw: unknown, at: string, root: boolean, receivers: Set<string>): RouteConfig {
  const o = obj(raw, at);
  const keys = ['receiver', 'group_by', 'group_wait', 'group_interval', 'repeat_interval', 'max_alerts', 'routes'];
  known(o, root ? keys : [...keys, 'matchers', 'continue'], at);
  const r: RouteConfig = { matchers: [], continue: false, routes: [] };
  if (o.receiver !== undefined) {
    r.receiver = str(o.receiver, `${at}.receiver`);
    if (!receivers.has(r.receiver)) {
      throw new ConfigError(`${at}.receiver: no receiver named "${r.receiver}"${receivers.size ? ` (receivers: ${[...receivers].join(', ')})` : ' (the receivers list is empty)'}`);
    }
  }
  if (o.matchers !== undefined) r.matchers = matcherList(o.matchers, `${at}.matchers`);
  if (o.continue !== undefined) {
    if (typeof o.continue !== 'boolean') throw new ConfigError(`${at}.continue must be true or false`);
    r.continue = o.continue;
  }
  if (o.group_by !== undefined) {
    const g = list(o.group_by, `${at}.group_by`).map((x, i) => str(x, `${at}.group_by[${i}]`));
    if (g.includes('...') && g.length > 1) throw new ConfigError(`${at}.group_by: "..." (every label) cannot be combined with other labels`);
    for (const [i, name] of g.entries()) {
      if (name !== '...' && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new ConfigError(`${at}.group_by[${i}]: "${name}" is not a label name`);
    }
    r.groupBy = g;
  }
  if (o.group_wait !== undefined) r.groupWaitMs = duration(o.group_wait, `${at}.group_wait`);
  if (o.group_interval !== undefined) r.groupIntervalMs = duration(o.group_interval, `${at}.group_interval`, true);
  if (o.repeat_interval !== undefined) r.repeatIntervalMs = duration(o.repeat_interval, `${at}.repeat_interval`, true);
  if (o.max_alerts !== undefined) {
    const n = o.max_alerts;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new ConfigError(`${at}.max_alerts must be a whole number ≥ 0 (0: every alert)`);
    r.maxAlerts = n;
  }
  if (o.routes !== undefined) r.routes = list(o.routes, `${at}.routes`).map((c, i) => parseRoute(c, `${at}.routes[${i}]`, false, receivers));
  return r;
}

function parseInhibitRule(raw: unknown, at: string): InhibitRuleConfig {
  const o = obj(raw, at);
  known(o, ['source_matchers', 'target_matchers', 'equal'], at);
  if (o.source_matchers === undefined || o.target_matchers === undefined) throw new ConfigError(`${at} needs source_matchers and target_matchers`);
  const rule: InhibitRuleConfig = {
    sourceMatchers: matcherList(o.source_matchers, `${at}.source_matchers`),
    targetMatchers: matcherList(o.target_matchers, `${at}.target_matchers`),
    equal: [],
  };
  if (o.equal !== undefined) rule.equal = list(o.equal, `${at}.equal`).map((x, i) => str(x, `${at}.equal[${i}]`));
  return rule;
}

function parseRateLimit(raw: unknown, at: string, receivers: Set<string>): RateLimitConfig {
  const o = obj(raw, at);
  known(o, ['receiver', 'rate', 'per', 'burst'], at);
  if (o.receiver === undefined) throw new ConfigError(`${at}.receiver is required`);
  const receiver = str(o.receiver, `${at}.receiver`);
  if (!receivers.has(receiver)) throw new ConfigError(`${at}.receiver: no receiver named "${receiver}"`);
  const rate = count(o.rate, `${at}.rate`);
  const perMs = o.per === undefined ? 60_000 : duration(o.per, `${at}.per`, true);
  const burst = o.burst === undefined ? rate : count(o.burst, `${at}.burst`);
  return { receiver, rate, perMs, burst };
}

function matcherList(v: unknown, at: string): Matcher[] {
  return list(v, at).map((m, i) => {
    const where = `${at}[${i}]`;
    try {
      if (typeof m === 'string') return parseMatcher(m);
      const o = obj(m, where);
      known(o, ['name', 'op', 'value'], where);
      return checkMatcher({ name: o.name as string, op: o.op as Matcher['op'], value: o.value as string }, where);
    } catch (err) {
      if (err instanceof MatcherError) throw new ConfigError(`${where}: ${err.message}`);
      throw err;
    }
  });
}
