import { parseAgentConfig, type AgentConfig } from '../client/agent-config.js';
import { parseConfig, parseConfigText, type SlowqConfig } from './config-file.js';

// The kinds of configuration file `slowq check-config` knows, each with its checker. A checker reads the
// file's text and either names the first problem (with the file and the key) or sums the file up in a line.
// Another kind is one line in CONFIG_KINDS; detectKind() tells the kinds apart by their top-level keys when
// --kind is not given.

export type CheckResult = { ok: true; summary: string } | { ok: false; error: string };
export type ConfigChecker = (text: string, file: string) => CheckResult;

export const CONFIG_KINDS: Record<string, ConfigChecker> = {
  server: checkServerConfig,
  agent: checkAgentConfig,
};

/** The top-level keys that only an agent configuration (`slowq agent --config`) has. */
const AGENT_KEYS = ['inputs'];

/** The kind a file is, by its top-level keys: `agent` if it has `inputs:`, else `server`. */
export function detectKind(text: string, file: string): string {
  let raw: unknown;
  try {
    raw = parseConfigText(text, file);
  } catch {
    return 'server'; // its checker says what is wrong with the syntax
  }
  const top = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? Object.keys(raw) : [];
  return top.some((k) => AGENT_KEYS.includes(k)) ? 'agent' : 'server';
}

/** Checks one file as `kind` (detected when undefined). */
export function checkConfig(text: string, file: string, kind?: string): CheckResult {
  const k = kind ?? detectKind(text, file);
  const checker = CONFIG_KINDS[k];
  if (!checker) {
    const why = kind === undefined ? ` (${file} has ${AGENT_KEYS.map((key) => `${key}:`).join(', ')}, so it looks like one)` : '';
    return { ok: false, error: `${file}: no checker for ${k} configurations in this slowq${why}; kinds: ${Object.keys(CONFIG_KINDS).join(', ')}` };
  }
  return checker(text, file);
}

/** A checker from a kind's parser (which throws naming the key) and its one-line summary. */
function checker<T>(kind: string, parse: (raw: unknown, file: string) => T, summary: (cfg: T) => string): ConfigChecker {
  return (text, file) => {
    let cfg: T;
    try {
      cfg = parse(parseConfigText(text, file), file);
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
    return { ok: true, summary: `${file}: ${kind} configuration OK: ${summary(cfg)}` };
  };
}

/** The server's file (`slowq up --config`, `monitor --config`, `consumer --config`). */
export function checkServerConfig(text: string, file: string): CheckResult {
  return checker('server', parseConfig, summarise)(text, file);
}

/** The agent's file (`slowq agent --config`). */
export function checkAgentConfig(text: string, file: string): CheckResult {
  return checker('agent', parseAgentConfig, summariseAgent)(text, file);
}

function summariseAgent(cfg: AgentConfig): string {
  const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;
  const inputs = cfg.inputs.map((i) => `${i.name} (${i.kind === 'files' ? `${i.format}, ${plural(i.paths.length, 'path')}` : `${i.database} probe`}, source ${i.source})`);
  return `master ${cfg.master}, data ${cfg.data}, ${plural(cfg.inputs.length, 'input')}${inputs.length ? `: ${inputs.join(', ')}` : ''}`;
}

function summarise(cfg: SlowqConfig): string {
  const m = cfg.monitor;
  let routes = 0;
  const count = (r: SlowqConfig['monitor']['route']): void => {
    routes++;
    r.routes.forEach(count);
  };
  count(m.route);
  const d = cfg.rules.defaults;
  const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;
  return [
    `${plural(m.receivers.length, 'receiver')}${m.receivers.length ? ` (${m.receivers.map((r) => r.name).join(', ')})` : ''}`,
    plural(routes, 'route'),
    plural(m.inhibitRules.length, 'inhibit rule'),
    plural(m.rateLimits.length, 'rate limit'),
    `thresholds finished ${d.finishedMs} ms, running ${d.runningMs} ms, stalled ${d.stalledMs} ms, critical ${d.criticalMs} ms, ${plural(cfg.rules.overrides.length, 'override')}`,
  ].join(', ');
}
