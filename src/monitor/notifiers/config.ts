import { ConfigError, known, map, nonEmpty, positiveMs, str } from '../../config/schema.js';

// One receiver in the `receivers:` list of the configuration file. Keys are snake_case in the file, like the
// rest of it (camelCase spellings are accepted too); unknown keys and wrong types are errors naming the key,
// so a typo never silently drops alerts.
//
//   receivers:
//     - name: oncall-hook
//       webhook: { url: "https://hooks.example.com/slowq", headers: { Authorization: "Bearer …" }, timeout_ms: 10000 }
//     - name: team-slack
//       slack: { url: "https://hooks.slack.com/services/…", channel: "#db-alerts", username: slowq }
//     - name: alertmanager
//       alertmanager: { url: "http://127.0.0.1:9093", resend_ms: 60000 }
//     - name: archive
//       file: { path: /var/log/slowq/notifications.jsonl }

export interface WebhookReceiver {
  url: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}
export interface SlackReceiver {
  url: string;
  channel?: string;
  username?: string;
}
export interface AlertmanagerReceiver {
  /** base URL, e.g. http://127.0.0.1:9093 */
  url: string;
  resendMs?: number;
}
export interface FileReceiverConfig {
  path: string;
}

export type ReceiverConfig = { name: string } & (
  | { webhook: WebhookReceiver }
  | { slack: SlackReceiver }
  | { alertmanager: AlertmanagerReceiver }
  | { file: FileReceiverConfig }
);

export type ReceiverKind = 'webhook' | 'slack' | 'alertmanager' | 'file';
const KINDS: readonly ReceiverKind[] = ['webhook', 'slack', 'alertmanager', 'file'];

export function receiverKind(cfg: ReceiverConfig): ReceiverKind {
  if ('webhook' in cfg) return 'webhook';
  if ('slack' in cfg) return 'slack';
  if ('alertmanager' in cfg) return 'alertmanager';
  return 'file';
}

/** Parses one receiver; `where` names it in errors, e.g. `receivers[2]`. */
export function parseReceiverConfig(raw: unknown, where: string): ReceiverConfig {
  const top = map(raw, where);
  const kinds = Object.keys(top).filter((k): k is ReceiverKind => (KINDS as readonly string[]).includes(k));
  known(top, ['name', ...KINDS], where);
  if (top.name === undefined) throw new ConfigError(`${where}.name is required`);
  const name = str(top.name, `${where}.name`);
  if (name.trim() === '' || /[\x00-\x1f\x7f]/.test(name)) throw new ConfigError(`${where}.name must be a non-empty name without control characters`);
  if (kinds.length !== 1) {
    throw new ConfigError(`${where} must have exactly one of ${KINDS.join(', ')}${kinds.length ? ` (has ${kinds.join(' and ')})` : ''}`);
  }
  const kind = kinds[0]!;
  const at = `${where}.${kind}`;
  const body = map(top[kind], at);
  switch (kind) {
    case 'webhook': {
      const keys = pick(body, at, { url: 'url', headers: 'headers', timeout_ms: 'timeoutMs', timeoutMs: 'timeoutMs' });
      const webhook: WebhookReceiver = { url: httpUrl(keys.url, `${at}.url`) };
      if (keys.headers !== undefined) webhook.headers = headers(keys.headers.value, `${at}.${keys.headers.key}`);
      if (keys.timeoutMs !== undefined) webhook.timeoutMs = positiveMs(keys.timeoutMs.value, `${at}.${keys.timeoutMs.key}`);
      return { name, webhook };
    }
    case 'slack': {
      const keys = pick(body, at, { url: 'url', channel: 'channel', username: 'username' });
      const slack: SlackReceiver = { url: httpUrl(keys.url, `${at}.url`) };
      if (keys.channel !== undefined) slack.channel = nonEmpty(keys.channel.value, `${at}.channel`);
      if (keys.username !== undefined) slack.username = nonEmpty(keys.username.value, `${at}.username`);
      return { name, slack };
    }
    case 'alertmanager': {
      const keys = pick(body, at, { url: 'url', resend_ms: 'resendMs', resendMs: 'resendMs' });
      const alertmanager: AlertmanagerReceiver = { url: httpUrl(keys.url, `${at}.url`) };
      if (new URL(alertmanager.url).search) throw new ConfigError(`${at}.url must be a base URL without a query (e.g. http://127.0.0.1:9093)`);
      if (keys.resendMs !== undefined) alertmanager.resendMs = positiveMs(keys.resendMs.value, `${at}.${keys.resendMs.key}`);
      return { name, alertmanager };
    }
    case 'file': {
      const keys = pick(body, at, { path: 'path' });
      if (keys.path === undefined) throw new ConfigError(`${at}.path is required`);
      return { name, file: { path: nonEmpty(keys.path.value, `${at}.path`) } };
    }
  }
}

/** A receiver for logs and the dashboard: kind and scheme://host only — URLs carry tokens (Slack's are in the path). */
export function describeReceiver(cfg: ReceiverConfig): string {
  if ('webhook' in cfg) return `${cfg.name} (webhook ${redactUrl(cfg.webhook.url)})`;
  if ('slack' in cfg) return `${cfg.name} (slack ${redactUrl(cfg.slack.url)})`;
  if ('alertmanager' in cfg) return `${cfg.name} (alertmanager ${redactUrl(cfg.alertmanager.url)})`;
  return `${cfg.name} (file ${cfg.file.path})`;
}

/** scheme://host[:port]/… — never the user info, path or query. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/…`;
  } catch {
    return '(invalid URL)';
  }
}

type Picked<F extends string> = Partial<Record<F, { key: string; value: unknown }>>;

/** Maps file keys (snake_case or camelCase) to fields; rejects unknown keys and a field given twice. */
function pick<F extends string>(o: Record<string, unknown>, at: string, fields: Record<string, F>): Picked<F> {
  known(o, Object.keys(fields), at);
  const out: Picked<F> = {};
  for (const [key, value] of Object.entries(o)) {
    const field = fields[key]!;
    const prev = out[field];
    if (prev) throw new ConfigError(`${at}: "${prev.key}" and "${key}" are the same setting; give one`);
    out[field] = { key, value };
  }
  return out;
}

function httpUrl(p: { key: string; value: unknown } | undefined, at: string): string {
  if (p === undefined) throw new ConfigError(`${at} is required`);
  if (typeof p.value !== 'string') throw new ConfigError(`${at} must be an http(s) URL`);
  let u: URL;
  try {
    u = new URL(p.value);
  } catch {
    throw new ConfigError(`${at} must be an http(s) URL`); // the value itself may hold a token: not echoed
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(`${at} must be an http(s) URL`);
  return p.value;
}

// RFC 9110 token characters for a field name; values without CR/LF/NUL (header injection).
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const RESERVED_HEADERS = new Set(['content-length', 'host', 'idempotency-key', 'transfer-encoding', 'connection']);

function headers(v: unknown, at: string): Record<string, string> {
  const o = map(v, at);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(o)) {
    if (!HEADER_NAME.test(k)) throw new ConfigError(`${at}: "${k}" is not a valid header name`);
    if (RESERVED_HEADERS.has(k.toLowerCase())) throw new ConfigError(`${at}: header "${k}" is set by slowq and cannot be configured`);
    if (typeof val !== 'string') throw new ConfigError(`${at}.${k} must be a string`);
    if (/[\r\n\0]/.test(val)) throw new ConfigError(`${at}.${k} must not contain line breaks`); // value not echoed: secrets
    out[k] = val;
  }
  return out;
}
