import { createHash } from 'node:crypto';
import { ConfigError, count, duration, known, list, map, nonEmpty, str } from '../config/schema.js';
import { createParser, FORMAT_NAMES, type ParserOptions } from '../formats/parsers/index.js';
import { checkShippable } from '../formats/entry-chunker.js';
import { RESERVED_FIELDS } from './probe/record-line.js';

// The agent's configuration file (`slowq agent --config agent.yaml`), checked whole before anything starts:
// unknown keys and wrong types are errors naming the key (src/config/schema.ts). Pure: text in, settings out.

/** Files and globs of one format, as one source. */
export interface FileInputConfig {
  kind: 'files';
  /** names the input's directory under DATA/inputs/ (its registry): the same name resumes where it was */
  name: string;
  source: string;
  format: string;
  paths: string[];
  parserOptions: ParserOptions;
  /** `chunks`: ship the raw log in chunks, parsed by the consumers (every format); absent: records */
  ship?: 'chunks';
}

/** A live server polled for running statements (src/client/probe/), as one source. */
export interface ProbeInputConfig {
  kind: 'probe';
  name: string;
  source: string;
  database: 'mysql' | 'postgres';
  url: string;
  intervalMs: number;
  minDurationMs: number;
  idResolutionMs: number;
  /** how often the server's per-statement statistics are read (0: never) */
  statementsMs: number;
  labels: Record<string, string>;
  /** the journal is rotated once it is this large (src/client/probe/rotating-journal.ts) */
  journalMaxBytes: number;
}

export type InputConfig = FileInputConfig | ProbeInputConfig;

/** Key files, as for the client's --curve-secret, --curve-public, --server-key, --master-key, --logserver-key. */
export interface AgentCurveFiles {
  secret?: string;
  public?: string;
  serverKey?: string;
  /** one key for every master, or one per master in the order of `master` */
  masterKey?: string[];
  logserverKey?: string;
}

export interface AgentConfig {
  /** the masters' client endpoints: one, or a list (docs/delivery.md, "Several masters") */
  master: string[];
  data: string;
  inputs: InputConfig[];
  curve: AgentCurveFiles;
  logserver?: string;
  logLevel?: string;
  batchSize: number;
  lingerMs: number;
  window: number;
  ackTimeoutMs: number;
  pollMs: number;
}

export const AGENT_KEYS = ['master', 'data', 'inputs', 'curve', 'logserver', 'log_level', 'batch_size', 'linger_ms', 'window', 'ack_timeout_ms', 'poll_ms'] as const;
const FILE_INPUT_KEYS = ['name', 'source', 'format', 'paths', 'log_line_prefix', 'log_timezone', 'ship'];
const PROBE_INPUT_KEYS = ['name', 'source', 'probe'];
const PROBE_KEYS = ['mysql', 'postgres', 'interval', 'min_duration', 'id_resolution', 'statements', 'labels', 'journal_max_bytes'];
/** 64 MiB: days of a busy server's running statements, rotated long before it matters on the host's disk */
const JOURNAL_MAX_BYTES = 64 * 1024 * 1024;
const CURVE_KEYS = ['secret', 'public', 'server_key', 'master_key', 'logserver_key'];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Checks the file's data (YAML or JSON already parsed); `where` names the file in errors. */
export function parseAgentConfig(raw: unknown, where = 'agent config'): AgentConfig {
  const top = map(raw, where);
  known(top, AGENT_KEYS, where);
  if (top.master === undefined) throw new ConfigError(`${where}: master is missing (the master's client endpoint, e.g. tcp://alerts.example:5555)`);
  if (top.data === undefined) throw new ConfigError(`${where}: data is missing (the agent's data directory)`);
  if (top.inputs === undefined) throw new ConfigError(`${where}: inputs is missing (a list of files and probes to watch)`);
  const cfg: AgentConfig = {
    master: masterEndpoint(top.master, `${where}: master`),
    data: nonEmpty(top.data, `${where}: data`),
    inputs: [],
    curve: curveFiles(top.curve, `${where}: curve`),
    batchSize: whole(top.batch_size, `${where}: batch_size`, 1000),
    lingerMs: top.linger_ms === undefined ? 20 : duration(top.linger_ms, `${where}: linger_ms`),
    window: whole(top.window, `${where}: window`, 16),
    ackTimeoutMs: top.ack_timeout_ms === undefined ? 5000 : duration(top.ack_timeout_ms, `${where}: ack_timeout_ms`, true),
    pollMs: top.poll_ms === undefined ? 100 : duration(top.poll_ms, `${where}: poll_ms`, true),
  };
  if (top.logserver !== undefined) cfg.logserver = nonEmpty(top.logserver, `${where}: logserver`);
  if (top.log_level !== undefined) {
    const level = str(top.log_level, `${where}: log_level`);
    if (!LOG_LEVELS.includes(level)) throw new ConfigError(`${where}: log_level must be one of ${LOG_LEVELS.join(', ')}, got "${level}"`);
    cfg.logLevel = level;
  }
  const names = new Map<string, number>();
  list(top.inputs, `${where}: inputs`).forEach((item, i) => {
    const at = `${where}: inputs[${i}]`;
    const input = inputConfig(item, at);
    const before = names.get(input.name);
    if (before !== undefined) {
      throw new ConfigError(`${at}: name "${input.name}" is already inputs[${before}]'s (give each input a name of its own)`);
    }
    names.set(input.name, i);
    cfg.inputs.push(input);
  });
  return cfg;
}

/** What an input is, as text: equal for an input that stays the same across a reload. */
export function inputKey(input: InputConfig): string {
  return JSON.stringify(sortedKeys(input));
}

function sortedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedKeys);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortedKeys((v as Record<string, unknown>)[k])]));
}

function inputConfig(raw: unknown, at: string): InputConfig {
  const o = map(raw, at);
  if (o.source === undefined) throw new ConfigError(`${at}: source is missing (the database instance this input is about)`);
  const source = nonEmpty(o.source, `${at}: source`);
  if (o.probe !== undefined) {
    known(o, PROBE_INPUT_KEYS, `${at} (a probe)`);
    return probeInput(o, source, at);
  }
  known(o, FILE_INPUT_KEYS, at);
  if (o.format === undefined) throw new ConfigError(`${at}: format is missing (${FORMAT_NAMES().join(', ')}), or give probe: for a probe`);
  const format = str(o.format, `${at}: format`);
  if (!FORMAT_NAMES().includes(format)) throw new ConfigError(`${at}: format must be one of ${FORMAT_NAMES().join(', ')}, got "${format}"`);
  if (o.paths === undefined) throw new ConfigError(`${at}: paths is missing (files or globs to tail)`);
  const paths = list(o.paths, `${at}: paths`).map((p, j) => nonEmpty(p, `${at}: paths[${j}]`));
  if (paths.length === 0) throw new ConfigError(`${at}: paths must name at least one file or glob`);
  const parserOptions: ParserOptions = {};
  if (o.log_line_prefix !== undefined) {
    if (format !== 'postgres') throw new ConfigError(`${at}: log_line_prefix is for format postgres, not ${format}`);
    parserOptions.logLinePrefix = str(o.log_line_prefix, `${at}: log_line_prefix`);
  }
  if (o.log_timezone !== undefined) parserOptions.logTimeZone = nonEmpty(o.log_timezone, `${at}: log_timezone`);
  try {
    createParser(format, parserOptions); // an unknown zone or a prefix without a time is an error now
  } catch (err) {
    throw new ConfigError(`${at}: ${(err as Error).message}`);
  }
  const name = inputName(o.name, at, `${source}-${format}`, paths.join('\n'));
  const input: FileInputConfig = { kind: 'files', name, source, format, paths, parserOptions };
  if (o.ship !== undefined) {
    const ship = str(o.ship, `${at}: ship`);
    if (ship !== 'records' && ship !== 'chunks') throw new ConfigError(`${at}: ship must be records or chunks, got "${ship}"`);
    if (ship === 'chunks') {
      try {
        checkShippable(format, parserOptions);
      } catch (err) {
        throw new ConfigError(`${at}: ${(err as Error).message}`);
      }
      input.ship = 'chunks';
    }
  }
  return input;
}

function probeInput(o: Record<string, unknown>, source: string, at: string): ProbeInputConfig {
  const pat = `${at}: probe`;
  const p = map(o.probe, pat);
  known(p, PROBE_KEYS, pat);
  if ((p.mysql === undefined) === (p.postgres === undefined)) throw new ConfigError(`${pat}: give exactly one of mysql: URL or postgres: URL`);
  const database = p.mysql !== undefined ? 'mysql' : 'postgres';
  const url = nonEmpty(p[database], `${pat}.${database}`);
  try {
    new URL(url);
  } catch {
    throw new ConfigError(`${pat}.${database} must be a URL like ${database === 'mysql' ? 'mysql://slowq:secret@127.0.0.1:3306/' : 'postgres://slowq@127.0.0.1:5432/postgres'}`);
  }
  const intervalMs = p.interval === undefined ? 1000 : duration(p.interval, `${pat}.interval`, true);
  if (intervalMs < 10) throw new ConfigError(`${pat}.interval must be at least 10 ms`);
  const labels: Record<string, string> = {};
  if (p.labels !== undefined) {
    for (const [k, v] of Object.entries(map(p.labels, `${pat}.labels`))) {
      if (RESERVED_FIELDS.has(k)) throw new ConfigError(`${pat}.labels: "${k}" is a record field, pick another name`);
      labels[k] = str(v, `${pat}.labels.${k}`);
    }
  }
  return {
    kind: 'probe',
    name: inputName(o.name, at, `${source}-probe`, url),
    source,
    database,
    url,
    intervalMs,
    minDurationMs: p.min_duration === undefined ? 1000 : duration(p.min_duration, `${pat}.min_duration`),
    idResolutionMs: p.id_resolution === undefined ? 1000 : duration(p.id_resolution, `${pat}.id_resolution`, true),
    statementsMs: p.statements === undefined ? 60_000 : duration(p.statements, `${pat}.statements`),
    labels,
    journalMaxBytes: p.journal_max_bytes === undefined ? JOURNAL_MAX_BYTES : journalLimit(p.journal_max_bytes, `${pat}.journal_max_bytes`),
  };
}

function journalLimit(v: unknown, at: string): number {
  const n = count(v, at);
  if (n < 4096) throw new ConfigError(`${at} must be at least 4096 (bytes)`);
  return n;
}

/** The given name, or one made of what the input reads (so it stays the same while the input does). */
function inputName(v: unknown, at: string, prefix: string, what: string): string {
  if (v !== undefined) {
    const name = nonEmpty(v, `${at}: name`);
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new ConfigError(`${at}: name must be letters, digits, ".", "_" and "-" (it names a directory), got "${name}"`);
    return name;
  }
  const safe = prefix.replace(/[^A-Za-z0-9._-]/g, '_');
  return `${safe}-${createHash('sha256').update(what).digest('hex').slice(0, 8)}`;
}

/** One endpoint, or a list of them (several masters). */
function masterEndpoint(v: unknown, at: string): string[] {
  if (Array.isArray(v)) {
    if (v.length === 0) throw new ConfigError(`${at}: the list is empty (give the master's client endpoint, or one per master)`);
    return v.map((m, i) => endpoint(m, `${at}[${i}]`));
  }
  return [endpoint(v, at)];
}

/** One key file, or a list of them (one per master). */
function keyFiles(v: unknown, at: string): string[] {
  if (Array.isArray(v)) {
    if (v.length === 0) throw new ConfigError(`${at}: the list is empty`);
    return v.map((f, i) => nonEmpty(f, `${at}[${i}]`));
  }
  return [nonEmpty(v, at)];
}

function endpoint(v: unknown, at: string): string {
  const s = nonEmpty(v, at);
  if (!/^(tcp|ipc|inproc):\/\/.+/.test(s)) throw new ConfigError(`${at} must be a ZeroMQ endpoint like tcp://alerts.example:5555, got "${s}"`);
  return s;
}

function curveFiles(v: unknown, at: string): AgentCurveFiles {
  if (v === undefined) return {};
  const o = map(v, at);
  known(o, CURVE_KEYS, at);
  const files: AgentCurveFiles = {};
  if (o.secret !== undefined) files.secret = nonEmpty(o.secret, `${at}.secret`);
  if (o.public !== undefined) files.public = nonEmpty(o.public, `${at}.public`);
  if (o.server_key !== undefined) files.serverKey = nonEmpty(o.server_key, `${at}.server_key`);
  if (o.master_key !== undefined) files.masterKey = keyFiles(o.master_key, `${at}.master_key`);
  if (o.logserver_key !== undefined) files.logserverKey = nonEmpty(o.logserver_key, `${at}.logserver_key`);
  return files;
}

function whole(v: unknown, at: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = count(v, at);
  if (!Number.isInteger(n)) throw new ConfigError(`${at} must be a whole number > 0`);
  return n;
}
