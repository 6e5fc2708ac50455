import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import * as zmq from 'zeromq';
import { freeBasePort, freePort } from '../bench/harness/ports.js';
import { slowq } from '../bench/harness/processes.js';
import { waitFor } from '../bench/harness/wait.js';
import { parseConfig } from '../src/cli/config-file.js';
import { ConfigError } from '../src/config/schema.js';
import type { Alert } from '../src/model/record.js';
import { toLabeled, type LabeledAlert, type Notification } from '../src/monitor/model.js';
import { Monitor } from '../src/monitor/monitor.js';
import { createNotifier, deliverWithRetry, parseReceiverConfig } from '../src/monitor/notifiers/index.js';
import { emailMessage } from '../src/monitor/notifiers/email.js';
import { pagerDutyEvent, SUMMARY_CHARS } from '../src/monitor/notifiers/pagerduty.js';
import { encodeAlerts, encodeHeader, PROTOCOL_VERSION } from '../src/wire/protocol.js';
import { processTestDir } from './support/cluster.js';
import { makeAlert } from './support/fake-monitor-view.js';
import { makeNotification } from './support/notifications.js';
import { HttpReceiver, type SeenRequest } from './support/http-receiver.js';
import { startExim, type EximServer } from './support/exim.js';

// The receivers on-call teams use directly. E-mail against a real SMTP server (Debian's Exim, started here on
// a loopback port with STARTTLS and AUTH): what arrives in its maildir. PagerDuty against a loopback server
// that holds every request to the Events API v2 schema as PagerDuty documents it (there is no PagerDuty here)
// and answers as PagerDuty does. Then both through the monitor: an alert over ZeroMQ fires and resolves, and
// a reload swaps a receiver.

const dir = processTestDir('slowq-receivers-');
const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const fastRetry = { sleep: async (): Promise<void> => {}, maxAttempts: 4 };

/** A critical alert of `type` at T0 (its id from type and queryId, so a test can send it again). */
function alert(type: Alert['type'], over: Partial<Alert> = {}): Alert {
  const a = makeAlert({ type, severity: 'critical', durationMs: 12_000, startedAt: new Date(T0).toISOString(), at: new Date(T0 + 12_000).toISOString(), ...over });
  return { ...a, id: `${type}:${a.queryId}` };
}

function notification(alerts: LabeledAlert[]): Notification {
  return makeNotification(alerts, { externalURL: 'http://slowq.example:9004' });
}

// ---- PagerDuty: a loopback Events API v2 ---------------------------------------------------------------

const ROUTING_KEY = 'R0123456789abcdef0123456789abcde'; // 32 characters, like PagerDuty's integration keys
const SEVERITIES = ['critical', 'error', 'warning', 'info'];

interface PdEvent {
  routing_key: string;
  event_action: string;
  dedup_key: string;
  payload?: { summary: string; source: string; severity: string; timestamp?: string; component?: string; group?: string; class?: string; custom_details?: Record<string, unknown> };
  client?: string;
  client_url?: string;
  links?: Array<{ href: string; text?: string }>;
}

/**
 * The schema of https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ (and resolve-events):
 * every violation found, empty when the event is valid.
 */
function schemaErrors(e: unknown): string[] {
  const errs: string[] = [];
  const isStr = (v: unknown): v is string => typeof v === 'string';
  if (e === null || typeof e !== 'object' || Array.isArray(e)) return ['the event must be a JSON object'];
  const o = e as Record<string, unknown>;
  const top = ['routing_key', 'event_action', 'dedup_key', 'payload', 'client', 'client_url', 'links', 'images'];
  for (const k of Object.keys(o)) if (!top.includes(k)) errs.push(`unknown field ${k}`);
  if (!isStr(o.routing_key) || o.routing_key.length !== 32) errs.push('routing_key must be a 32-character string');
  if (!['trigger', 'acknowledge', 'resolve'].includes(o.event_action as string)) errs.push('event_action must be trigger, acknowledge or resolve');
  if (o.dedup_key !== undefined && (!isStr(o.dedup_key) || o.dedup_key.length === 0 || o.dedup_key.length > 255)) errs.push('dedup_key must be a string of 1..255 characters');
  if (o.event_action !== 'trigger' && o.dedup_key === undefined) errs.push(`dedup_key is required for ${String(o.event_action)}`);
  for (const k of ['client', 'client_url']) if (o[k] !== undefined && !isStr(o[k])) errs.push(`${k} must be a string`);
  if (o.links !== undefined) {
    if (!Array.isArray(o.links)) errs.push('links must be an array');
    else for (const l of o.links as Array<Record<string, unknown>>) if (!isStr(l?.href) || (l.text !== undefined && !isStr(l.text))) errs.push('a link needs href (and text) strings');
  }
  if (o.event_action === 'trigger') {
    const p = o.payload as Record<string, unknown> | undefined;
    if (p === null || typeof p !== 'object' || Array.isArray(p)) return [...errs, 'payload is required for trigger and must be an object'];
    for (const k of Object.keys(p)) if (!['summary', 'source', 'severity', 'timestamp', 'component', 'group', 'class', 'custom_details'].includes(k)) errs.push(`unknown field payload.${k}`);
    if (!isStr(p.summary) || p.summary.length === 0 || p.summary.length > 1024) errs.push('payload.summary must be a string of 1..1024 characters');
    if (!isStr(p.source) || p.source.length === 0) errs.push('payload.source is required');
    if (!SEVERITIES.includes(p.severity as string)) errs.push('payload.severity must be critical, error, warning or info');
    if (p.timestamp !== undefined && (!isStr(p.timestamp) || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(p.timestamp))) errs.push('payload.timestamp must be ISO 8601');
    for (const k of ['component', 'group', 'class']) if (p[k] !== undefined && !isStr(p[k])) errs.push(`payload.${k} must be a string`);
    if (p.custom_details !== undefined && (p.custom_details === null || typeof p.custom_details !== 'object')) errs.push('payload.custom_details must be an object');
  }
  return errs;
}

class PagerDutyStub {
  private readonly http = new HttpReceiver((seen, res) => this.answer(seen, res));
  /** valid events it accepted (answered 202), in order */
  accepted: PdEvent[] = [];
  /** requests refused as invalid, with why */
  invalid: string[][] = [];
  /** an error status to answer a valid event with instead of accepting it (429, 5xx), or undefined */
  failWith: (e: PdEvent) => number | undefined = () => undefined;

  /** requests it got, valid or not */
  get requests(): number {
    return this.http.seen.length;
  }
  start(): Promise<void> {
    return this.http.start();
  }
  get url(): string {
    return this.http.url('/v2/enqueue');
  }
  reset(): void {
    this.accepted = [];
    this.invalid = [];
    this.failWith = () => undefined;
    this.http.seen = [];
  }
  stop(): Promise<void> {
    return this.http.stop();
  }

  private answer(req: SeenRequest, res: ServerResponse): void {
    const answer = (status: number, body: object, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || req.url !== '/v2/enqueue') return answer(404, { status: 'not found' });
    if (!/^application\/json/.test(req.headers['content-type'] ?? '')) return answer(400, { status: 'invalid event', message: 'Content-Type must be application/json' });
    let e: unknown;
    try {
      e = JSON.parse(req.body);
    } catch {
      return answer(400, { status: 'invalid event', message: 'Event object is invalid', errors: ['not JSON'] });
    }
    const errors = schemaErrors(e);
    if (errors.length > 0) {
      this.invalid.push(errors);
      return answer(400, { status: 'invalid event', message: 'Event object is invalid', errors });
    }
    const fail = this.failWith(e as PdEvent);
    if (fail === 429) return answer(429, { status: 'throttle event', message: 'Requests for this service are arriving too quickly' }, { 'retry-after': '0' });
    if (fail !== undefined) return answer(fail, { status: 'error', message: 'internal error' });
    const ev = e as PdEvent;
    this.accepted.push(ev);
    answer(202, { status: 'success', message: 'Event processed', dedup_key: ev.dedup_key ?? 'generated' });
  }
}

const pd = new PagerDutyStub();
before(() => pd.start());
after(() => pd.stop());

function pagerduty(routingKey = ROUTING_KEY) {
  return createNotifier(parseReceiverConfig({ name: 'oncall', pagerduty: { routing_key: routingKey, url: pd.url } }, 'receivers[0]'));
}

describe('pagerduty receiver (Events API v2)', () => {
  it('triggers a firing problem and resolves it with the same dedup_key; every event is valid', async () => {
    pd.reset();
    const longSql = `select /* ${'x'.repeat(3000)} */ 1`;
    const opened = alert('long_running', { queryId: 'q-pd', sql: longSql, fingerprint: longSql });
    const n = pagerduty();
    assert.deepEqual(await deliverWithRetry(n, notification([toLabeled(opened)]), fastRetry), { ok: true, attempts: 1 });
    const closing = alert('resolved', { queryId: 'q-pd', at: new Date(T0 + 60_000).toISOString() });
    assert.deepEqual(await deliverWithRetry(n, notification([toLabeled(closing, opened)]), fastRetry), { ok: true, attempts: 1 });

    assert.deepEqual(pd.invalid, []);
    assert.deepEqual(pd.accepted.map((e) => e.event_action), ['trigger', 'resolve']);
    const [trigger, resolve] = pd.accepted as [PdEvent, PdEvent];
    assert.equal(trigger.dedup_key, resolve.dedup_key, 'the resolve names the incident the trigger opened');
    assert.equal(trigger.routing_key, ROUTING_KEY);
    const p = trigger.payload!;
    assert.equal(p.summary.length, SUMMARY_CHARS, 'a long summary is cut to PagerDuty\'s limit');
    assert.match(p.summary, /^Long-running query on db-01\/shop: db-01\/shop: query running for 12\.0 s — select/);
    assert.equal(p.source, 'db-01');
    assert.equal(p.severity, 'critical');
    assert.equal(p.timestamp, opened.at);
    assert.equal(p.component, 'shop');
    assert.equal(p.class, 'long_running');
    assert.equal(p.group, opened.fingerprintId);
    assert.equal(p.custom_details!.sql, longSql, 'custom_details carries the alert\'s fields');
    assert.equal(p.custom_details!.queryId, 'q-pd');
    assert.equal(p.custom_details!.user, 'app');
    assert.equal(trigger.client, 'slowq');
    assert.equal(trigger.client_url, `http://slowq.example:9004/alerts/${encodeURIComponent(opened.id)}`);

    // Another problem has another incident; a severity label PagerDuty does not know is sent as error.
    const other = toLabeled(alert('long_running', { queryId: 'q-pd2', severity: 'warning' }));
    other.labels.severity = 'page';
    await deliverWithRetry(n, notification([other]), fastRetry);
    assert.notEqual(pd.accepted[2]!.dedup_key, trigger.dedup_key);
    assert.equal(pd.accepted[2]!.payload!.severity, 'error');
    assert.deepEqual(pd.invalid, []);
  });

  it('retries 429 and 5xx, and the retry of a group skips the events already accepted', async () => {
    pd.reset();
    const group = ['a', 'b', 'c'].map((q) => toLabeled(alert('long_running', { queryId: `q-group-${q}` })));
    // b meets a 503, then a 429; c a 500: four attempts of the notification, each event accepted once.
    const script: Record<string, number[]> = { 'q-group-b': [503, 429], 'q-group-c': [500] };
    pd.failWith = (ev) => script[String(ev.payload?.custom_details?.queryId)]?.shift();
    const failures: Array<number | undefined> = [];
    const result = await deliverWithRetry(pagerduty(), notification(group), { ...fastRetry, maxAttempts: 5, onAttemptFailed: (err) => failures.push(err.status) });
    assert.deepEqual(result, { ok: true, attempts: 4 });
    assert.deepEqual(failures, [503, 429, 500]);
    assert.deepEqual(pd.accepted.map((e) => e.payload!.custom_details!.queryId), ['q-group-a', 'q-group-b', 'q-group-c'], 'each event accepted once, in order');
    assert.equal(pd.requests, 6, 'a once, b three times, c twice');
    assert.deepEqual(pd.invalid, []);
  });

  it('an event PagerDuty refuses (400) is a permanent failure, not retried', async () => {
    pd.reset();
    const r = await deliverWithRetry(pagerduty('too-short'), notification([toLabeled(alert('long_running'))]), fastRetry);
    assert.equal(r.ok, false);
    assert.equal(r.attempts, 1);
    assert.equal(r.error?.retryable, false);
    assert.equal(r.error?.status, 400);
    assert.match(r.error!.message, /HTTP 400.*invalid event/);
    assert.ok(!r.error!.message.includes('too-short'), 'the routing key is not in the message');
  });
});

// ---- e-mail against a real SMTP server -----------------------------------------------------------------

interface Mail {
  headers: Record<string, string>;
  body: string;
}

/** A delivered message: headers unfolded and decoded (RFC 2047), body decoded (quoted-printable, base64). */
function parseMail(raw: string): Mail {
  const split = raw.indexOf('\n\n');
  const head = raw.slice(0, split).replace(/\r?\n[ \t]+/g, ' ');
  const headers: Record<string, string> = {};
  for (const line of head.split(/\r?\n/)) {
    const i = line.indexOf(':');
    const k = line.slice(0, i).toLowerCase();
    if (!(k in headers)) headers[k] = decodeWords(line.slice(i + 1).trim());
  }
  let body = raw.slice(split + 2);
  const cte = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  if (cte === 'quoted-printable') body = qp(body);
  else if (cte === 'base64') body = Buffer.from(body, 'base64').toString('utf8');
  return { headers, body: body.replace(/\r\n/g, '\n') };
}

function qp(s: string): string {
  const bytes: number[] = [];
  const text = s.replace(/=\r?\n/g, '');
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '=' && /^[0-9A-F]{2}$/i.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(text[i]!, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

function decodeWords(s: string): string {
  return s.replace(/=\?utf-8\?([QB])\?([^?]*)\?=\s*/gi, (_m, enc: string, text: string) =>
    enc.toUpperCase() === 'B' ? Buffer.from(text, 'base64').toString('utf8') : qp(text.replace(/_/g, ' ')));
}

describe('email receiver against Exim (STARTTLS, AUTH)', () => {
  let exim: EximServer;
  before(async () => {
    exim = await startExim();
  });
  after(() => exim?.stop());

  /** `over` replaces keys; a key set to undefined is left out */
  function email(over: Record<string, unknown> = {}) {
    const cfg: Record<string, unknown> = {
      smarthost: `127.0.0.1:${exim.port}`, from: 'slowq <slowq@example.com>', to: ['dba@example.com', 'oncall@example.com'],
      auth_username: exim.user, auth_password: exim.password, tls_config: { ca_file: exim.certFile }, timeout_ms: 10_000, ...over,
    };
    for (const k of Object.keys(cfg)) if (cfg[k] === undefined) delete cfg[k];
    return createNotifier(parseReceiverConfig({ name: 'dba-mail', email: cfg }, 'receivers[0]'));
  }

  async function delivered(count: number): Promise<Mail[]> {
    await waitFor(`${count} message(s) in the maildir`, () => exim.messages().length >= count, 15_000, 50);
    return exim.messages().map(parseMail);
  }

  it('sends what fired and what resolved over STARTTLS with AUTH; the message says what, where and how long', async () => {
    const pwFile = join(dir, 'smtp-password');
    writeFileSync(pwFile, exim.password + '\n');
    const sql = `select * from café where note = 'x'\n.only a dot starts this line\nand ${'y'.repeat(1200)} ends`;
    const opened = alert('long_running', { queryId: 'q-mail', sql });
    const n1 = notification([toLabeled(opened)]);
    const n2 = notification([toLabeled(alert('resolved', { queryId: 'q-mail', sql, at: new Date(T0 + 90_000).toISOString() }), opened)]);
    const mailer = email({ auth_password: undefined, auth_password_file: pwFile, tls_config: { ca_file: exim.certFile, server_name: 'localhost' } });
    assert.deepEqual(await deliverWithRetry(mailer, n1, fastRetry), { ok: true, attempts: 1 });
    assert.deepEqual(await deliverWithRetry(mailer, n2, fastRetry), { ok: true, attempts: 1 });
    const [fired, resolved] = await delivered(2);

    for (const m of [fired!, resolved!]) {
      assert.match(m.headers.received!, /with esmtpsa\s+\(TLS1\.[23]\)/, 'received over TLS (s) after AUTH (a)');
      assert.equal(m.headers.from, 'slowq <slowq@example.com>');
      assert.equal(m.headers.to, 'dba@example.com, oncall@example.com');
      assert.match(m.headers['envelope-to']!, /dba@example\.com, oncall@example\.com/);
      assert.equal(m.headers.references, fired!.headers.references, 'one thread per group');
      const indented = sql.split('\n').map((l) => `     ${l}`).join('\n');
      assert.ok(m.body.includes(`   SQL:\n${indented}\n`), `the SQL arrives whole (non-ASCII, a leading dot, a 1200-character line):\n${m.body}`);
      assert.match(m.body, /Fingerprint 0xDEADBEEF00000001:\n {5}select \* from orders where customer_id = \?/);
      assert.match(m.body, /Severity: {2}critical/);
      assert.match(m.body, /On the dashboard: http:\/\/slowq\.example:9004\/alerts\//);
    }
    assert.equal(fired!.headers.subject, '[FIRING] Long-running query · db-01/shop · critical');
    assert.match(fired!.body, /1\. FIRING: Long-running query on db-01\/shop\n {3}Summary: {3}db-01\/shop: query running for 12\.0 s/);
    assert.match(fired!.body, /Duration: {2}12\.0 s/);
    assert.equal(resolved!.headers.subject, '[RESOLVED] Long-running query finished · db-01/shop · critical');
    assert.match(resolved!.body, /1\. RESOLVED: Long-running query finished on db-01\/shop/);
    assert.match(resolved!.body, /Ended: {5}2026-03-01T10:01:30\.000Z/);
    assert.notEqual(fired!.headers['message-id'], resolved!.headers['message-id']);
    assert.match(fired!.headers['message-id']!, /^<[0-9a-f]{32}@slowq>$/);
  });

  it('a 451 is retried; a wrong password (535) and an untrusted certificate are permanent, without the password', async () => {
    const before = exim.messages().length;
    writeFileSync(exim.deferFlag, '');
    const failures: Array<number | undefined> = [];
    const r = await deliverWithRetry(email(), notification([toLabeled(alert('slow_query'))]), {
      ...fastRetry,
      onAttemptFailed: (err) => {
        failures.push(err.status);
        rmSync(exim.deferFlag, { force: true });
      },
    });
    assert.deepEqual(r, { ok: true, attempts: 2 });
    assert.deepEqual(failures, [451]);
    await delivered(before + 1);

    const wrong = await deliverWithRetry(email({ auth_password: 'not-the-password' }), notification([toLabeled(alert('slow_query'))]), fastRetry);
    assert.equal(wrong.ok, false);
    assert.equal(wrong.attempts, 1);
    assert.equal(wrong.error?.status, 535);
    assert.equal(wrong.error?.retryable, false);
    assert.ok(!wrong.error!.message.includes('not-the-password'), wrong.error!.message);

    const untrusted = await deliverWithRetry(email({ tls_config: {} }), notification([toLabeled(alert('slow_query'))]), fastRetry);
    assert.equal(untrusted.ok, false);
    assert.equal(untrusted.attempts, 1, `not retried: ${untrusted.error?.message}`);
    assert.match(untrusted.error!.message, /certificate/i);
    const otherName = await deliverWithRetry(email({ tls_config: { ca_file: exim.certFile, server_name: 'smtp.example.com' } }), notification([toLabeled(alert('slow_query'))]), fastRetry);
    assert.deepEqual([otherName.attempts, otherName.error?.retryable], [1, false], 'a certificate for another name is refused');
    assert.match(otherName.error!.message, /altnames/);

    const refused = await deliverWithRetry(email({ smarthost: `127.0.0.1:${await freePort()}` }), notification([toLabeled(alert('slow_query'))]), { ...fastRetry, maxAttempts: 2 });
    assert.equal(refused.ok, false);
    assert.equal(refused.attempts, 2, 'a refused connection is retried');
    assert.equal(exim.messages().length, before + 1, `nothing else arrived: ${exim.messages().map((m) => parseMail(m).headers['message-id']).join(' ')}`);
  });
});

describe('what a large group becomes', () => {
  it('e-mail: 20 alerts in full, 180 on a line each, the rest counted, held-back alerts said', () => {
    const alerts = Array.from({ length: 205 }, (_, i) => toLabeled(alert('slow_query', { queryId: `q-big-${i}` })));
    const n = makeNotification(alerts, { heldBack: 7 });
    const m = emailMessage(n, { from: 'a@example.com', to: ['b@example.com'] });
    assert.equal(m.subject, '[FIRING:205] Slow query · db-01/shop · critical');
    assert.equal(m.text.match(/^\d+\. FIRING: /gm)?.length, 20);
    assert.equal(m.text.match(/^\d+\. FIRING Slow query on db-01\/shop, 12\.0 s: select/gm)?.length, 180);
    assert.match(m.text, /^…and 5 more alert\(s\) in this group\.$/m);
    assert.match(m.text, /^7 more alert\(s\) were held back by the rate limit/m);
    assert.equal(m.messageId, emailMessage(n, { from: 'a@example.com', to: ['b@example.com'] }).messageId, 'the same notification, the same Message-ID');
  });

  it('pagerduty: a point event without a database has no component; held-back alerts are in the details', () => {
    const a = toLabeled(alert('slow_query', { db: undefined, severity: 'info' }));
    const e = pagerDutyEvent(a, makeNotification([a], { heldBack: 3 }), ROUTING_KEY);
    assert.deepEqual(schemaErrors(e), []);
    assert.equal(e.payload!.component, undefined);
    assert.equal(e.payload!.severity, 'info');
    assert.equal(e.payload!.custom_details.heldBackAlerts, '3');
    assert.equal(e.client_url, undefined, 'no link without the dashboard\'s URL');
  });
});

// ---- configuration -------------------------------------------------------------------------------------

describe('pagerduty and email configuration', () => {
  it('parses both, with defaults', () => {
    assert.deepEqual(parseReceiverConfig({ name: 'p', pagerduty: { routing_key: ROUTING_KEY } }, 'r'), {
      name: 'p', pagerduty: { routingKey: ROUTING_KEY, url: 'https://events.pagerduty.com/v2/enqueue' },
    });
    assert.deepEqual(parseReceiverConfig({
      name: 'm',
      email: {
        smarthost: '[::1]:587', from: 'a@example.com', to: 'b@example.com', auth_username: 'u', auth_password_file: '/etc/pw', require_tls: false,
        hello: 'db-01.example', tls_config: { ca_file: '/etc/ca.pem', server_name: 'smtp.example.com' },
      },
    }, 'r'), {
      name: 'm',
      email: {
        host: '::1', port: 587, from: 'a@example.com', to: ['b@example.com'], authUsername: 'u', authPasswordFile: '/etc/pw', requireTls: false,
        hello: 'db-01.example', caFile: '/etc/ca.pem', serverName: 'smtp.example.com',
      },
    });
  });

  const ok = { smarthost: 'smtp.example.com:587', from: 'a@example.com', to: ['b@example.com'] };
  const cases: Array<[unknown, string | RegExp]> = [
    [{ name: 'x', pagerduty: {} }, 'receivers[1].pagerduty.routing_key is required'],
    [{ name: 'x', pagerduty: { routing_key: 42 } }, /^receivers\[1\]\.pagerduty\.routing_key must be a non-empty string/],
    [{ name: 'x', pagerduty: { routing_key: 'k', url: 'ftp://x' } }, 'receivers[1].pagerduty.url must be an http(s) URL'],
    [{ name: 'x', pagerduty: { routing_key: 'k', service_key: 'k' } }, /^receivers\[1\]\.pagerduty: unknown key "service_key"/],
    [{ name: 'x', email: { ...ok, smarthost: 'smtp.example.com' } }, /^receivers\[1\]\.email\.smarthost must be host:port/],
    [{ name: 'x', email: { ...ok, from: undefined } }, 'receivers[1].email.from is required'],
    [{ name: 'x', email: { ...ok, to: [] } }, 'receivers[1].email.to must name at least one address'],
    [{ name: 'x', email: { ...ok, to: ['b@example.com', 'nobody'] } }, /^receivers\[1\]\.email\.to\[1\] must be an e-mail address/],
    [{ name: 'x', email: { ...ok, to: 'b@example.com\r\nBcc: c@example.com' } }, 'receivers[1].email.to must not contain line breaks'],
    [{ name: 'x', email: { ...ok, require_tls: 'yes' } }, 'receivers[1].email.require_tls must be true or false'],
    [{ name: 'x', email: { ...ok, auth_username: 'u' } }, 'receivers[1].email: auth_username needs auth_password or auth_password_file'],
    [{ name: 'x', email: { ...ok, auth_password: 'p' } }, 'receivers[1].email.auth_username is required with a password'],
    [{ name: 'x', email: { ...ok, auth_username: 'u', auth_password: 'p', auth_password_file: '/f' } }, 'receivers[1].email: give one of auth_password and auth_password_file'],
    [{ name: 'x', email: { ...ok, tls_config: { ca: '/f' } } }, /^receivers\[1\]\.email\.tls_config: unknown key "ca"/],
    [{ name: 'x', email: { ...ok, smtp_port: 25 } }, /^receivers\[1\]\.email: unknown key "smtp_port"/],
  ];
  for (const [raw, want] of cases) {
    it(`rejects ${JSON.stringify(raw)}`, () => {
      const clean = JSON.parse(JSON.stringify(raw)) as unknown; // drops the keys set to undefined
      assert.throws(() => parseReceiverConfig(clean, 'receivers[1]'), (e: Error) => {
        assert.ok(e instanceof ConfigError);
        if (typeof want === 'string') assert.equal(e.message, want);
        else assert.match(e.message, want);
        assert.ok(!e.message.includes('secret-pw'));
        return true;
      });
    });
  }

  it('slowq check-config accepts both and refuses a wrong key, naming it', async () => {
    const good = join(dir, 'receivers.yaml');
    const text = [
      'route: { receiver: pager }',
      'receivers:',
      '  - name: pager',
      `    pagerduty: { routing_key: "${ROUTING_KEY}" }`,
      '  - name: dba-mail',
      '    email: { smarthost: "smtp.example.com:587", from: slowq@example.com, to: [dba@example.com], auth_username: slowq, auth_password_file: /etc/slowq/smtp-password }',
      '',
    ].join('\n');
    writeFileSync(good, text);
    const bad = join(dir, 'receivers-bad.yaml');
    writeFileSync(bad, text.replace('auth_password_file:', 'auth_pasword_file:'));
    const p = slowq('check-config', ['check-config', good, bad]);
    assert.equal(await p.exited, 1, p.output());
    assert.match(p.output(), /receivers\.yaml: server configuration OK: 2 receivers \(pager, dba-mail\)/);
    assert.match(p.output(), /receivers-bad\.yaml: .*receivers\[1\]\.email: unknown key "auth_pasword_file"/);
  });
});

// ---- through the monitor -------------------------------------------------------------------------------

describe('through the monitor', () => {
  it('an alert over ZeroMQ pages and mails, its end resolves the same incident; a reload swaps the receiver', async () => {
    const exim = await startExim();
    pd.reset();
    const base = await freeBasePort();
    const bind = `tcp://127.0.0.1:${base + 2}`;
    const receivers = (routingKey: string) => [
      { name: 'pager', pagerduty: { routing_key: routingKey, url: pd.url } },
      {
        name: 'mail',
        email: { smarthost: `127.0.0.1:${exim.port}`, from: 'slowq@example.com', to: 'dba@example.com', auth_username: exim.user, auth_password: exim.password, tls_config: { ca_file: exim.certFile } },
      },
    ];
    const config = (routingKey: string) => parseConfig({
      route: { receiver: 'pager', group_by: ['...'], group_wait: 0, group_interval: '1s', routes: [{ matchers: ['severity=critical'], receiver: 'mail', continue: true }, { receiver: 'pager' }] },
      receivers: receivers(routingKey),
    }).monitor;
    const m = new Monitor({ bind, dataDir: join(dir, 'monitor'), fsync: false, log: pino({ level: 'silent' }), config: config(ROUTING_KEY), outputs: [], externalURL: 'http://127.0.0.1:9004' });
    const dealer = new zmq.Dealer({ linger: 0, receiveTimeout: 5000 });
    await m.start();
    try {
      dealer.connect(bind);
      let rid = 0;
      const send = async (alerts: Alert[]) => {
        await dealer.send([encodeHeader({ v: PROTOCOL_VERSION, t: 'alerts', rid: ++rid, n: alerts.length }), encodeAlerts(alerts)]);
        await dealer.receive();
      };
      const opened = alert('long_running', { queryId: 'q-e2e' });
      await send([opened]);
      await waitFor('the trigger', () => pd.accepted.length >= 1, 15_000, 50);
      await waitFor('the mail', () => exim.messages().length >= 1, 15_000, 50);
      await send([alert('resolved', { queryId: 'q-e2e', at: new Date(T0 + 30_000).toISOString() })]);
      await waitFor('the resolve', () => pd.accepted.length >= 2, 15_000, 50);
      await waitFor('the second mail', () => exim.messages().length >= 2, 15_000, 50);
      assert.deepEqual(pd.accepted.map((e) => e.event_action), ['trigger', 'resolve']);
      assert.equal(pd.accepted[0]!.dedup_key, pd.accepted[1]!.dedup_key);
      assert.deepEqual(exim.messages().map((raw) => parseMail(raw).headers.subject), [
        '[FIRING] Long-running query · db-01/shop · critical', '[RESOLVED] Long-running query finished · db-01/shop · critical',
      ]);

      // A reload with another routing key: the next problem goes out with it, and the reload says what changed.
      const other = 'Rfedcba9876543210fedcba987654321';
      const reloaded = await m.reload(() => config(other));
      assert.ok(reloaded.ok && /; changed pager(;|$)/.test(reloaded.summary), JSON.stringify(reloaded));
      await send([alert('long_running', { queryId: 'q-e2e-2', severity: 'warning' })]);
      await waitFor('the trigger after the reload', () => pd.accepted.length >= 3, 15_000, 50);
      assert.equal(pd.accepted[2]!.routing_key, other);
      assert.deepEqual(pd.invalid, []);
      assert.equal(exim.messages().length, 2, 'a warning is not mailed');
    } finally {
      dealer.close();
      await m.stop();
      await exim.stop();
    }
  });
});
