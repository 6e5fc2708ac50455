import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ConfigError, known, map } from '../config/schema.js';
import { parseAgentConfig, type AgentConfig } from '../client/agent-config.js';
import { defaultMonitorConfig, MONITOR_KEYS, parseMonitorConfig, type MonitorConfig } from '../monitor/monitor-config.js';
import { parseRulesConfig } from '../rules/config.js';
import { DEFAULT_RULES, type RulesConfig } from '../rules/rules.js';

// The server's configuration file (YAML or JSON), shared by `up`, `consumer`, `monitor` and `evaluate`: the
// `rules:` section (src/rules/config.ts) and the monitor's `route:`, `receivers:`, `inhibit_rules:`,
// `rate_limits:` (src/monitor/monitor-config.ts). Unknown keys and wrong types are errors that name the key.
// The agent's file (`slowq agent --config`) is another kind: src/client/agent-config.ts.

export interface SlowqConfig {
  rules: RulesConfig;
  monitor: MonitorConfig;
}

export { ConfigError };

export function loadConfig(path: string | undefined): SlowqConfig {
  if (!path) return { rules: structuredClone(DEFAULT_RULES), monitor: defaultMonitorConfig() };
  return parseConfig(parseConfigText(readConfigFile(path), path), path);
}

/** The agent's file, checked whole. */
export function loadAgentConfig(path: string): AgentConfig {
  return parseAgentConfig(parseConfigText(readConfigFile(path), path), path);
}

function readConfigFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config ${path}: ${(err as Error).message}`);
  }
}

// `yaml` is loaded on first use: 60-75 ms of module loading that every service start paid, config file or not
// (a consumer restarting with a large state has a 1 s budget, bench e2e). It is CommonJS, so require() keeps
// this synchronous.
let yamlParse: ((text: string) => unknown) | undefined;
function parseYaml(text: string): unknown {
  yamlParse ??= (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse;
  return yamlParse(text);
}

/** The file's text as data: JSON for a name ending in .json, else YAML (an empty file is an empty map). */
export function parseConfigText(text: string, path: string): unknown {
  let raw: unknown;
  try {
    raw = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${path}: not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
  return raw ?? {};
}

export function parseConfig(raw: unknown, where = 'config'): SlowqConfig {
  const top = map(raw, where);
  known(top, ['rules', ...MONITOR_KEYS], where);
  return { rules: parseRulesConfig(top.rules, where), monitor: parseMonitorConfig(top, where) };
}
