import { DeliveryError } from '../model.js';
import { redactUrl } from './config.js';

// POSTing JSON to a receiver, and what a failure means for retrying: 5xx, 429, network errors and timeouts
// may pass (retryable); any other 4xx will not (permanent). Error messages name the receiver by
// scheme://host only and never carry the URL's user info, path or query, nor header values: receiver URLs
// hold tokens.

export const DEFAULT_TIMEOUT_MS = 10_000;
/** How much of an error response's body is quoted in the error (receivers explain themselves there). */
const ERROR_BODY_CHARS = 200;
const USER_AGENT = 'slowq';

/** A delivery failure over HTTP; `retryAfterMs` when the receiver said when to come back (429/503 Retry-After). */
export class HttpDeliveryError extends DeliveryError {
  constructor(message: string, retryable: boolean, status?: number, readonly retryAfterMs?: number) {
    super(message, retryable, status);
  }
}

export interface PostOptions {
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export interface PostResult {
  status: number;
  /** the start of the response body */
  body: string;
}

// Connection-level failures that a later attempt may not meet (undici and libuv codes).
const RETRYABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN',
  'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
]);

/** POSTs `body` as JSON; resolves on 2xx, throws HttpDeliveryError otherwise. */
export async function postJson(url: string, body: unknown, opts: PostOptions = {}): Promise<PostResult> {
  const where = redactUrl(url);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const { target, authorization } = splitCredentials(url);
  const secrets = secretsOf(url, { ...authorization, ...opts.headers });
  let res: Response;
  try {
    res = await fetch(target, {
      method: 'POST',
      headers: headersOf(authorization, opts.headers),
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual', // a redirect could carry the body (and headers) elsewhere
    });
  } catch (err) {
    throw networkError(err, where, timeoutMs);
  }
  let text: string;
  try {
    text = await readStart(res, 4096);
  } catch (err) {
    if (res.status >= 200 && res.status < 300) return { status: res.status, body: '' }; // accepted; the rest of the body does not matter
    throw networkError(err, where, timeoutMs);
  }
  if (res.status >= 200 && res.status < 300) return { status: res.status, body: text };
  const snippet = scrub(text.slice(0, ERROR_BODY_CHARS), secrets).replace(/\s+/g, ' ').trim();
  const msg = `POST ${where} → HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${snippet ? `: ${snippet}` : ''}`;
  const retryable = res.status >= 500 || res.status === 429 || res.status === 408;
  throw new HttpDeliveryError(msg, retryable, res.status, retryable ? retryAfterMs(res.headers.get('retry-after')) : undefined);
}

/** Classifies an error thrown by fetch (or while reading the body): message from codes only, never the URL. */
export function networkError(err: unknown, where: string, timeoutMs: number): HttpDeliveryError {
  const e = err as { name?: string; code?: string; cause?: { code?: string; name?: string } };
  if (e?.name === 'TimeoutError' || e?.cause?.name === 'TimeoutError') {
    return new HttpDeliveryError(`POST ${where}: no answer within ${timeoutMs} ms`, true);
  }
  const code = e?.cause?.code ?? e?.code;
  if (code && RETRYABLE_CODES.has(code)) return new HttpDeliveryError(`POST ${where}: ${code}`, true);
  // Anything else from fetch is a connection-level failure whose cause is not known: worth another try.
  return new HttpDeliveryError(`POST ${where}: request failed${code ? ` (${code})` : ''}`, true);
}

/** Header names are case-insensitive: a configured header replaces slowq's own of that name. */
function headersOf(authorization: Record<string, string>, configured: Record<string, string> | undefined): Headers {
  const h = new Headers({ 'content-type': 'application/json', 'user-agent': USER_AGENT, ...authorization });
  for (const [k, v] of Object.entries(configured ?? {})) h.set(k, v);
  return h;
}

/**
 * fetch refuses URLs with user info, which webhook URLs often have (https://user:pass@host/…): they become
 * a Basic Authorization header, as curl and Alertmanager's http_config would send.
 */
function splitCredentials(url: string): { target: string; authorization: Record<string, string> } {
  const u = new URL(url);
  if (!u.username && !u.password) return { target: url, authorization: {} };
  const basic = Buffer.from(`${safeDecode(u.username)}:${safeDecode(u.password)}`).toString('base64');
  u.username = '';
  u.password = '';
  return { target: u.toString(), authorization: { authorization: `Basic ${basic}` } };
}

async function readStart(res: Response, max: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < max) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    if (size >= max) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  return Buffer.concat(chunks).toString('utf8', 0, Math.min(size, max));
}

function retryAfterMs(v: string | null): number | undefined {
  if (!v) return undefined;
  const secs = Number(v);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** The parts of a receiver's URL and headers that may be secret, for scrubbing echoed text. */
function secretsOf(url: string, headers: Record<string, string> | undefined): string[] {
  const out: string[] = [];
  try {
    const u = new URL(url);
    if (u.pathname.length > 1) out.push(u.pathname, safeDecode(u.pathname));
    if (u.search) out.push(u.search.slice(1), ...[...u.searchParams.values()].filter((v) => v.length >= 4));
    if (u.username) out.push(u.username, safeDecode(u.username));
    if (u.password) out.push(u.password, safeDecode(u.password));
  } catch {
    // not a URL: nothing to take apart
  }
  for (const v of Object.values(headers ?? {})) {
    if (v.length >= 4) out.push(v);
    for (const part of v.split(/\s+/)) if (part.length >= 8) out.push(part); // the token of "Bearer <token>"
  }
  return out.filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function scrub(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('…');
  return out;
}
