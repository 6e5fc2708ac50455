import { ConfigError, known, list, map, nonEmpty, positiveMs, str } from '../../config/schema.js';

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
//     - name: pager
//       pagerduty: { routing_key: "R0123…", url: "https://events.pagerduty.com/v2/enqueue" }
//     - name: dba-mail
//       email: { smarthost: "smtp.example.com:587", from: slowq@example.com, to: [dba@example.com],
//                auth_username: slowq, auth_password_file: /etc/slowq/smtp-password, require_tls: true,
//                tls_config: { ca_file: /etc/ssl/internal-ca.pem } }
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
/** PagerDuty Events API v2. */
export interface PagerDutyReceiver {
  /** the integration key of a PagerDuty service (a secret) */
  routingKey: string;
  /** the events endpoint (default DEFAULT_PAGERDUTY_URL) */
  url: string;
  timeoutMs?: number;
}
export const DEFAULT_PAGERDUTY_URL = 'https://events.pagerduty.com/v2/enqueue';
/** SMTP submission to a smarthost. */
export interface EmailReceiver {
  /** host and port, e.g. smtp.example.com:587 (465: TLS from the first byte; else STARTTLS) */
  host: string;
  port: number;
  from: string;
  to: string[];
  /** the name given in EHLO (default: nodemailer's, the machine's host name) */
  hello?: string;
  authUsername?: string;
  /** the password itself, or a file holding it (read at each send, so it can be rotated) */
  authPassword?: string;
  authPasswordFile?: string;
  /** refuse to send unless the server offers STARTTLS (default true) */
  requireTls: boolean;
  /** PEM file of the CA(s) that sign the server's certificate (default: the system's) */
  caFile?: string;
  /** the name the server's certificate must carry (default: the smarthost's host) */
  serverName?: string;
  timeoutMs?: number;
}

export type ReceiverConfig = { name: string } & (
  | { webhook: WebhookReceiver }
  | { slack: SlackReceiver }
  | { alertmanager: AlertmanagerReceiver }
  | { file: FileReceiverConfig }
  | { pagerduty: PagerDutyReceiver }
  | { email: EmailReceiver }
);

export type ReceiverKind = 'webhook' | 'slack' | 'alertmanager' | 'file' | 'pagerduty' | 'email';
const KINDS: readonly ReceiverKind[] = ['webhook', 'slack', 'alertmanager', 'file', 'pagerduty', 'email'];

export function receiverKind(cfg: ReceiverConfig): ReceiverKind {
  if ('webhook' in cfg) return 'webhook';
  if ('slack' in cfg) return 'slack';
  if ('alertmanager' in cfg) return 'alertmanager';
  if ('pagerduty' in cfg) return 'pagerduty';
  if ('email' in cfg) return 'email';
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
    case 'pagerduty':
      return { name, pagerduty: parsePagerDuty(body, at) };
    case 'email':
      return { name, email: parseEmail(body, at) };
  }
}

function parsePagerDuty(body: Record<string, unknown>, at: string): PagerDutyReceiver {
  const keys = pick(body, at, { routing_key: 'routingKey', routingKey: 'routingKey', url: 'url', timeout_ms: 'timeoutMs', timeoutMs: 'timeoutMs' });
  if (keys.routingKey === undefined) throw new ConfigError(`${at}.routing_key is required`);
  const key = keys.routingKey.value;
  // The key itself is never echoed: it is what lets anyone page the team.
  if (typeof key !== 'string' || key.trim() === '' || /\s/.test(key)) {
    throw new ConfigError(`${at}.${keys.routingKey.key} must be a non-empty string without spaces (a PagerDuty integration key)`);
  }
  const pd: PagerDutyReceiver = { routingKey: key, url: keys.url === undefined ? DEFAULT_PAGERDUTY_URL : httpUrl(keys.url, `${at}.url`) };
  if (keys.timeoutMs !== undefined) pd.timeoutMs = positiveMs(keys.timeoutMs.value, `${at}.${keys.timeoutMs.key}`);
  return pd;
}

function parseEmail(body: Record<string, unknown>, at: string): EmailReceiver {
  const keys = pick(body, at, {
    smarthost: 'smarthost', from: 'from', to: 'to', hello: 'hello',
    auth_username: 'authUsername', authUsername: 'authUsername', auth_password: 'authPassword', authPassword: 'authPassword',
    auth_password_file: 'authPasswordFile', authPasswordFile: 'authPasswordFile', require_tls: 'requireTls', requireTls: 'requireTls',
    tls_config: 'tlsConfig', tlsConfig: 'tlsConfig', timeout_ms: 'timeoutMs', timeoutMs: 'timeoutMs',
  });
  for (const required of ['smarthost', 'from', 'to'] as const) {
    if (keys[required] === undefined) throw new ConfigError(`${at}.${required} is required`);
  }
  const { host, port } = hostPort(keys.smarthost!.value, `${at}.smarthost`);
  const to = keys.to!.value;
  const email: EmailReceiver = {
    host,
    port,
    from: address(keys.from!.value, `${at}.from`),
    to: typeof to === 'string' ? [address(to, `${at}.to`)] : list(to, `${at}.to`).map((v, i) => address(v, `${at}.to[${i}]`)),
    requireTls: true,
  };
  if (email.to.length === 0) throw new ConfigError(`${at}.to must name at least one address`);
  if (keys.hello !== undefined) email.hello = oneLine(keys.hello.value, `${at}.hello`);
  if (keys.authUsername !== undefined) email.authUsername = oneLine(keys.authUsername.value, `${at}.${keys.authUsername.key}`);
  if (keys.authPassword !== undefined) {
    // The password is never echoed.
    if (typeof keys.authPassword.value !== 'string' || keys.authPassword.value === '') throw new ConfigError(`${at}.${keys.authPassword.key} must be a non-empty string`);
    email.authPassword = keys.authPassword.value;
  }
  if (keys.authPasswordFile !== undefined) email.authPasswordFile = nonEmpty(keys.authPasswordFile.value, `${at}.${keys.authPasswordFile.key}`);
  if (email.authPassword !== undefined && email.authPasswordFile !== undefined) {
    throw new ConfigError(`${at}: give one of auth_password and auth_password_file`);
  }
  const hasPassword = email.authPassword !== undefined || email.authPasswordFile !== undefined;
  if (hasPassword && email.authUsername === undefined) throw new ConfigError(`${at}.auth_username is required with a password`);
  if (!hasPassword && email.authUsername !== undefined) throw new ConfigError(`${at}: auth_username needs auth_password or auth_password_file`);
  if (keys.requireTls !== undefined) {
    if (typeof keys.requireTls.value !== 'boolean') throw new ConfigError(`${at}.${keys.requireTls.key} must be true or false`);
    email.requireTls = keys.requireTls.value;
  }
  if (keys.tlsConfig !== undefined) {
    const tat = `${at}.${keys.tlsConfig.key}`;
    const tls = pick(map(keys.tlsConfig.value, tat), tat, { ca_file: 'caFile', caFile: 'caFile', server_name: 'serverName', serverName: 'serverName' });
    if (tls.caFile !== undefined) email.caFile = nonEmpty(tls.caFile.value, `${tat}.${tls.caFile.key}`);
    if (tls.serverName !== undefined) email.serverName = oneLine(tls.serverName.value, `${tat}.${tls.serverName.key}`);
  }
  if (keys.timeoutMs !== undefined) email.timeoutMs = positiveMs(keys.timeoutMs.value, `${at}.${keys.timeoutMs.key}`);
  return email;
}

/** `host:port` or `[v6]:port`; the port is required (Alertmanager's smarthost). */
function hostPort(v: unknown, at: string): { host: string; port: number } {
  const s = oneLine(v, at);
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s\[\]]+)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65535) throw new ConfigError(`${at} must be host:port (e.g. smtp.example.com:587), got "${s}"`);
  return { host: (m[1] ?? m[2])!, port };
}

/** An address as a header takes it (`a@example.com` or `Name <a@example.com>`): one line, with an @. */
function address(v: unknown, at: string): string {
  const s = oneLine(v, at);
  if (!/^[^@<>]*<[^<>@\s]+@[^<>@\s]+>$|^[^<>@\s]+@[^<>@\s]+$/.test(s.trim())) throw new ConfigError(`${at} must be an e-mail address, got "${s}"`);
  return s.trim();
}

/** A non-empty string on one line (CR/LF would inject headers or SMTP commands). */
function oneLine(v: unknown, at: string): string {
  const s = nonEmpty(v, at);
  if (/[\r\n\0]/.test(s)) throw new ConfigError(`${at} must not contain line breaks`);
  return s;
}

/** A receiver for logs and the dashboard: kind and scheme://host only — URLs carry tokens (Slack's are in the path). */
export function describeReceiver(cfg: ReceiverConfig): string {
  if ('webhook' in cfg) return `${cfg.name} (webhook ${redactUrl(cfg.webhook.url)})`;
  if ('slack' in cfg) return `${cfg.name} (slack ${redactUrl(cfg.slack.url)})`;
  if ('alertmanager' in cfg) return `${cfg.name} (alertmanager ${redactUrl(cfg.alertmanager.url)})`;
  if ('pagerduty' in cfg) return `${cfg.name} (pagerduty ${redactUrl(cfg.pagerduty.url)})`;
  if ('email' in cfg) return `${cfg.name} (email via ${cfg.email.host}:${cfg.email.port} to ${cfg.email.to.join(', ')})`;
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
