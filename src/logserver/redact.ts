// Which logged fields are secrets, and how they are hidden. A first cut: well-known key names at the top level and
// one level down; URL-valued keys keep the URL but lose its `user:password@` part. (Secrets inside free text such as
// error messages are not caught here.)

import type { redactOptions as PinoRedactOptions } from 'pino';

const SECRET_KEYS = [
  'password',
  'passwd',
  'pass',
  'secret',
  'token',
  'accessToken',
  'refreshToken',
  'apiKey',
  'api_key',
  'authorization',
  'cookie',
  'privateKey',
  'secretKey',
];

/** keys whose value is normally a URL or DSN that may embed credentials */
const URL_KEYS = ['url', 'uri', 'dsn', 'connectionString', 'postgres', 'mysql', 'webhook', 'webhookUrl'];

const URL_KEY_SET = new Set(URL_KEYS);

export const REDACTED = '[Redacted]';

/** `scheme://user:pass@host/…` → `scheme://[Redacted]@host/…`; strings without credentials are unchanged. */
export function stripUrlCredentials(value: string): string {
  return value.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, `$1${REDACTED}@`);
}

function censor(value: unknown, path: string[]): unknown {
  const key = path[path.length - 1];
  if (key !== undefined && URL_KEY_SET.has(key)) {
    return typeof value === 'string' ? stripUrlCredentials(value) : value;
  }
  return REDACTED;
}

const paths = [...SECRET_KEYS, ...URL_KEYS].flatMap((key) => [key, `*.${key}`]);

export const redactOptions: PinoRedactOptions = { paths, censor };
