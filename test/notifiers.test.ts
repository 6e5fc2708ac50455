import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Alert } from '../src/model/record.js';
import { DeliveryError, toLabeled, type Notifier } from '../src/monitor/model.js';
import { ConfigError } from '../src/config/schema.js';
import {
  backoffMs, createNotifier, deliverWithRetry, describeReceiver, parseReceiverConfig, webhookPayload,
} from '../src/monitor/notifiers/index.js';
import { codeBlock, slackMessage, type SlackBlock } from '../src/monitor/notifiers/slack.js';
import { ZERO_TIME } from '../src/monitor/notifiers/payload.js';
import { emailBody } from '../src/monitor/notifiers/email.js';
import { FileNotifier } from '../src/monitor/notifiers/file.js';
import { makeNotification as notification } from './support/notifications.js';
import { HttpReceiver } from './support/http-receiver.js';

// ---- fixtures ------------------------------------------------------------------------------------------

const T0 = Date.parse('2026-03-01T10:00:00.000Z');

function alert(type: Alert['type'], over: Partial<Alert> = {}): Alert {
  return {
    id: `id-${type}-${over.queryId ?? 'q1'}`,
    type,
    source: 'db-01',
    queryId: 'q1',
    fingerprint: 'select * from orders where id = ?',
    fingerprintId: '0xabc123',
    sql: 'select * from orders where id = 42',
    durationMs: type === 'slow_query' ? 1500 : 12_000,
    startedAt: new Date(T0).toISOString(),
    at: new Date(T0 + (type === 'long_running' ? 10_000 : 12_000)).toISOString(),
    severity: 'warning',
    db: 'shop',
    user: 'app',
    ...over,
  };
}

const fastSleep = async (): Promise<void> => {};

// ---- a local receiver whose answers each test scripts ---------------------------------------------------

const rx = new HttpReceiver();
before(() => rx.start());
after(() => rx.stop());
beforeEach(() => {
  rx.seen = [];
  rx.behave = (_s, res) => res.end('ok');
});

function webhook(extra: Record<string, unknown> = {}, path = '/hook'): Notifier {
  return createNotifier(parseReceiverConfig({ name: 'team-hook', webhook: { url: rx.url(path), ...extra } }, 'receivers[0]'));
}

// ---- retries ---------------------------------------------------------------------------------------------

describe('deliverWithRetry over HTTP', () => {
  it('delivers every notification exactly once and in order through 503s and reset connections', async () => {
    // Per notification (told apart by its Idempotency-Key): 503, then a reset connection, then 200.
    const attemptsByKey = new Map<string, number>();
    const accepted: string[] = [];
    rx.behave = (s, res, req) => {
      const key = String(s.headers['idempotency-key']);
      const n = (attemptsByKey.get(key) ?? 0) + 1;
      attemptsByKey.set(key, n);
      if (n === 1) {
        res.statusCode = 503;
        res.end('busy');
      } else if (n === 2) {
        req.socket.destroy();
      } else {
        accepted.push(key);
        res.end('ok');
      }
    };
    const notifier = webhook();
    const group = [
      notification([toLabeled(alert('long_running'))]),
      notification([toLabeled(alert('long_running', { queryId: 'q2', id: 'id-lr-q2' }))]),
      notification([toLabeled(alert('resolved'), alert('long_running'))]),
      notification([toLabeled(alert('slow_query', { queryId: 'q3', id: 'id-sq-q3' }))]),
      notification([toLabeled(alert('stalled', { queryId: 'q2', id: 'id-st-q2' }), alert('long_running', { queryId: 'q2' }))]),
    ];
    const failures: Array<{ retryable: boolean; status: number | undefined; attempt: number }> = [];
    for (const n of group) {
      const r = await deliverWithRetry(notifier, n, {
        sleep: fastSleep,
        onAttemptFailed: (err, attempt) => failures.push({ retryable: err.retryable, status: err.status, attempt }),
      });
      assert.equal(r.ok, true, r.error?.message);
      assert.equal(r.attempts, 3);
    }
    assert.deepEqual(accepted, group.map((n) => n.id), 'each notification accepted once, in the order sent');
    assert.equal(rx.seen.length, 15);
    for (let i = 0; i < group.length; i++) {
      assert.deepEqual(failures.slice(i * 2, i * 2 + 2), [
        { retryable: true, status: 503, attempt: 1 },
        { retryable: true, status: undefined, attempt: 2 },
      ]);
    }
    // The body that got through is the notification's own.
    const last = rx.seen.filter((s) => s.headers['idempotency-key'] === group[4]!.id).at(-1)!;
    assert.equal(JSON.parse(last.body).alerts[0].labels.queryId, 'q2');
  });

  it('does not retry a 400 and reports it as permanent with its status', async () => {
    rx.behave = (_s, res) => {
      res.statusCode = 400;
      res.end('invalid_payload');
    };
    const r = await deliverWithRetry(webhook(), notification([toLabeled(alert('slow_query'))]), { sleep: fastSleep });
    assert.equal(r.ok, false);
    assert.equal(r.attempts, 1);
    assert.ok(r.error instanceof DeliveryError);
    assert.equal(r.error.retryable, false);
    assert.equal(r.error.status, 400);
    assert.match(r.error.message, /HTTP 400.*invalid_payload/);
    assert.equal(rx.seen.length, 1);
  });

  it('retries a 429 no sooner than its Retry-After (up to maxDelayMs)', async () => {
    let n = 0;
    rx.behave = (_s, res) => {
      if (++n === 1) {
        res.writeHead(429, { 'retry-after': '7' });
        res.end();
      } else res.end('ok');
    };
    const slept: number[] = [];
    const r = await deliverWithRetry(webhook(), notification([toLabeled(alert('slow_query'))]), {
      sleep: async (ms) => void slept.push(ms),
    });
    assert.equal(r.ok, true);
    assert.equal(r.attempts, 2);
    assert.equal(slept.length, 1);
    assert.ok(slept[0]! >= 7000, `slept ${slept[0]} ms`);
  });

  it('retries a request that gets no answer within the timeout', async () => {
    let n = 0;
    rx.behave = (_s, res) => {
      if (++n === 1) return; // never answered; closed by rx.stop() at the latest
      res.end('ok');
    };
    const failures: DeliveryError[] = [];
    const r = await deliverWithRetry(webhook({ timeout_ms: 300 }), notification([toLabeled(alert('slow_query'))]), {
      sleep: fastSleep,
      onAttemptFailed: (err) => failures.push(err),
    });
    assert.equal(r.ok, true);
    assert.equal(r.attempts, 2);
    assert.equal(failures.length, 1);
    assert.equal(failures[0]!.retryable, true);
    assert.match(failures[0]!.message, /no answer within 300 ms/);
  });

  it('treats a refused connection as retryable and gives up after maxAttempts', async () => {
    const closed = new HttpReceiver();
    await closed.start();
    const url = closed.url('/x');
    await closed.stop();
    const notifier = createNotifier({ name: 'gone', webhook: { url } });
    const r = await deliverWithRetry(notifier, notification([toLabeled(alert('slow_query'))]), { sleep: fastSleep, maxAttempts: 3 });
    assert.equal(r.ok, false);
    assert.equal(r.attempts, 3);
    assert.equal(r.error?.retryable, true);
    assert.match(r.error!.message, /ECONNREFUSED/);
  });

  it('reports an error that is not a DeliveryError (a notifier bug) as permanent', async () => {
    const buggy: Notifier = { name: 'buggy', kind: 'test', send: async () => { throw new TypeError('x is undefined'); } };
    const r = await deliverWithRetry(buggy, notification([toLabeled(alert('slow_query'))]), { sleep: fastSleep });
    assert.deepEqual([r.ok, r.attempts, r.error?.retryable], [false, 1, false]);
    assert.match(r.error!.message, /buggy: x is undefined/);
  });

  it('stops retrying when its signal is aborted, leaving a retryable failure', async () => {
    const ac = new AbortController();
    const failing: Notifier = { name: 'f', kind: 'test', send: async () => { throw new DeliveryError('down', true); } };
    const r = await deliverWithRetry(failing, notification([toLabeled(alert('slow_query'))]), {
      signal: ac.signal,
      sleep: async () => ac.abort(),
    });
    assert.deepEqual([r.ok, r.attempts, r.error?.retryable], [false, 1, true]);
  });
});

describe('backoffMs', () => {
  it('doubles from the base, keeps between half and all of it, and is capped', () => {
    const opts = { baseDelayMs: 500, maxDelayMs: 30_000 };
    assert.deepEqual([1, 2, 3, 4].map((a) => backoffMs(a, opts, () => 0)), [250, 500, 1000, 2000]);
    assert.deepEqual([1, 2, 3, 4].map((a) => backoffMs(a, opts, () => 0.999999)), [500, 1000, 2000, 4000]);
    assert.equal(backoffMs(20, opts, () => 0.999999), 30_000);
    assert.equal(backoffMs(20, opts, () => 0), 15_000);
    assert.equal(backoffMs(1000, opts, () => 0.5), 22_500, 'no overflow on a very late attempt');
    assert.equal(backoffMs(1, opts, () => 0, 120_000), 30_000, 'Retry-After is capped too');
  });
});

// ---- payloads ----------------------------------------------------------------------------------------

describe('webhook payload', () => {
  it('is Alertmanager v4, field by field, with an Idempotency-Key', async () => {
    const lr = alert('long_running', { labels: { cluster: 'eu' } });
    const firing = [toLabeled(lr), toLabeled(alert('slow_query', { queryId: 'q9', id: 'id-sq-q9' }))];
    const n = notification(firing, { externalURL: 'http://127.0.0.1:9999/', heldBack: 2 });
    await webhook({ headers: { 'X-Team': 'dba' } }).send(n);
    assert.equal(rx.seen.length, 1);
    const s = rx.seen[0]!;
    assert.equal(s.method, 'POST');
    assert.equal(s.headers['content-type'], 'application/json');
    assert.equal(s.headers['idempotency-key'], n.id);
    assert.equal(s.headers['x-team'], 'dba');
    const body = JSON.parse(s.body);
    assert.deepEqual(Object.keys(body).sort(), [
      'alerts', 'commonAnnotations', 'commonLabels', 'externalURL', 'groupKey', 'groupLabels', 'receiver', 'status',
      'truncatedAlerts', 'version',
    ]);
    assert.equal(body.version, '4');
    assert.equal(body.groupKey, n.groupKey);
    assert.equal(body.truncatedAlerts, 0);
    assert.equal(body.status, 'firing');
    assert.equal(body.receiver, 'team-hook');
    assert.deepEqual(body.groupLabels, n.groupLabels);
    assert.deepEqual(body.commonLabels, { source: 'db-01', fingerprintId: '0xabc123', severity: 'warning', db: 'shop', user: 'app' });
    assert.deepEqual(body.commonAnnotations, n.commonAnnotations);
    assert.equal(body.externalURL, 'http://127.0.0.1:9999/');
    assert.equal(body.alerts.length, 2);
    for (const [i, a] of body.alerts.entries()) {
      assert.deepEqual(Object.keys(a).sort(), ['annotations', 'endsAt', 'fingerprint', 'generatorURL', 'labels', 'startsAt', 'status']);
      assert.equal(a.status, 'firing');
      assert.deepEqual(a.labels, firing[i]!.labels);
      assert.deepEqual(a.annotations, firing[i]!.annotations);
      assert.equal(a.startsAt, firing[i]!.startsAt);
      assert.equal(a.endsAt, ZERO_TIME, 'a firing alert shows no end, as in Alertmanager');
      assert.equal(a.fingerprint, firing[i]!.fingerprint);
      assert.equal(a.generatorURL, `http://127.0.0.1:9999/alerts/${encodeURIComponent(firing[i]!.id)}`);
    }
    assert.deepEqual(body.alerts[0].labels, {
      alertname: 'LongRunningQuery', source: 'db-01', queryId: 'q1', fingerprintId: '0xabc123', severity: 'warning',
      db: 'shop', user: 'app', cluster: 'eu',
    });
    assert.equal(body.alerts[0].annotations.sql, lr.sql);
  });

  it('shows a resolved alert with its end and the resolved status', () => {
    const resolved = toLabeled(alert('resolved'), alert('long_running', { severity: 'critical' }));
    const p = webhookPayload(notification([resolved]));
    assert.equal(p.status, 'resolved');
    assert.equal(p.alerts[0]!.status, 'resolved');
    assert.equal(p.alerts[0]!.endsAt, alert('resolved').at);
    assert.equal(p.alerts[0]!.labels.severity, 'critical', 'the severity of the alert it closes');
    assert.equal(p.alerts[0]!.generatorURL, '', 'no dashboard URL known');
    assert.equal(p.externalURL, '');
  });
});

describe('slack message', () => {
  const sql = 'select `id`, ```x``` from orders where a < 3 && b > 4 -- end`';

  it('has a title, the fingerprint, the SQL in a code block, duration and where, plus a text fallback', async () => {
    const a = toLabeled(alert('long_running', { sql, durationMs: 125_000, severity: 'critical' }));
    const slack = createNotifier(parseReceiverConfig({ name: 's', slack: { url: rx.url('/services/T1/B2/tok'), channel: '#db' } }, 'receivers[1]'));
    await slack.send(notification([a], { heldBack: 3 }));
    const msg = JSON.parse(rx.seen[0]!.body) as { text: string; blocks: SlackBlock[]; channel: string };
    assert.equal(msg.channel, '#db');
    const header = msg.blocks[0]!;
    assert.equal(header.type, 'header');
    const title = (header as { text: { text: string } }).text.text;
    assert.equal(title, '[FIRING] Long-running query · db-01/shop · critical');
    const texts = msg.blocks.flatMap((b) => (b.type === 'section' ? [b.text.text] : b.type === 'context' ? b.elements.map((e) => e.text) : []));
    const all = texts.join('\n');
    // SQL: a code block; mrkdwn's control characters escaped; no run of backticks left to close the block early.
    const sqlSection = texts.find((t) => t.startsWith('*SQL*'))!;
    assert.ok(sqlSection, 'an SQL section');
    const inner = sqlSection.slice('*SQL*\n```\n'.length, -'\n```'.length);
    assert.ok(sqlSection.startsWith('*SQL*\n```\n') && sqlSection.endsWith('\n```'));
    assert.ok(!inner.includes('``'), `no touching backticks inside: ${inner}`);
    assert.equal(inner.replace(/\u200b/g, ''), sql.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'));
    assert.match(all, /\*Fingerprint\* `0xabc123`\n```\nselect \* from orders where id = \?\n```/);
    assert.match(all, /\*Duration:\* 2 min 5 s/);
    assert.match(all, /\*Source:\* db-01/);
    assert.match(all, /\*DB:\* shop/);
    assert.match(all, /\*User:\* app/);
    assert.match(all, /3 more alert\(s\) were held back by the rate limit/);
    assert.match(msg.text, /^\[FIRING\] Long-running query · db-01\/shop · critical\nfingerprint 0xabc123: select \* from orders where id = \?/);
    assert.match(msg.text, /held back/);
  });

  it('says RESOLVED, leaves heldBack out when 0, and stays within Slack limits for huge SQL and groups', () => {
    const big = 'select ' + 'x, '.repeat(5000) + '1';
    const alerts = Array.from({ length: 12 }, (_, i) => toLabeled(alert('resolved', { queryId: `q${i}`, id: `r${i}`, sql: big }), alert('long_running')));
    const msg = slackMessage(notification(alerts, { heldBack: 0 }));
    const title = (msg.blocks[0] as { text: { text: string } }).text.text;
    assert.match(title, /^\[RESOLVED:12\] Long-running query finished · db-01\/shop · warning$/);
    assert.ok(title.length <= 150);
    assert.ok(msg.blocks.length <= 50);
    for (const b of msg.blocks) if (b.type === 'section') assert.ok(b.text.text.length <= 3000, `section of ${b.text.text.length} chars`);
    const json = JSON.stringify(msg);
    assert.ok(!json.includes('held back'));
    assert.match(json, /…and 7 more alert\(s\) in this group/);
    assert.match(json, /more characters \*\//);
  });

  it('counts the alerts a route\'s max_alerts left out of the notification with the ones it does not detail', () => {
    const alerts = Array.from({ length: 6 }, (_, i) => toLabeled(alert('slow_query', { queryId: `q${i}`, id: `s${i}` })));
    const msg = JSON.stringify(slackMessage(notification(alerts, { truncated: 40 })));
    assert.match(msg, /…and 41 more alert\(s\) in this group/);
    assert.match(msg, /\[FIRING:46\] Slow query/, 'the title counts every alert of the group');
    const body = emailBody(notification(alerts, { truncated: 40 }));
    assert.match(body, /^46 alert\(s\); 6 listed: 6 firing, 0 resolved\.$/m);
    assert.match(body, /^…and 40 more alert\(s\) in this group\.$/m);
  });

  it('codeBlock cuts by length after escaping and never splits an entity', () => {
    const block = codeBlock('<'.repeat(100), 20);
    assert.equal(block, '```\n' + '&lt;'.repeat(5) + '\n/* … 95 more characters */\n```');
  });
});

// ---- secrets -------------------------------------------------------------------------------------------

describe('secrets', () => {
  it('never appear in error messages, even when the receiver echoes the request', async () => {
    rx.behave = (s, res) => {
      res.statusCode = 500;
      res.end(`failed ${s.url} auth=${s.headers.authorization} key=${s.headers['x-api-key']}`);
    };
    const url = `http://hookuser:PW-SECRET-1@127.0.0.1:${rx.port}/hooks/PATH-SECRET-2?token=Q-SECRET-3`;
    const cfg = parseReceiverConfig({ name: 'h', webhook: { url, headers: { Authorization: 'Bearer HDR-SECRET-4', 'X-Api-Key': 'KEY-SECRET-5' } } }, 'receivers[0]');
    const messages: string[] = [];
    const r = await deliverWithRetry(createNotifier(cfg), notification([toLabeled(alert('slow_query'))]), {
      sleep: fastSleep,
      maxAttempts: 2,
      onAttemptFailed: (err) => messages.push(err.message),
    });
    assert.equal(r.ok, false);
    assert.equal(r.error?.status, 500);
    // The credentials in the URL went as Basic auth, the query and path as given.
    assert.equal(rx.seen[0]!.headers.authorization, 'Bearer HDR-SECRET-4', 'a configured Authorization header wins');
    assert.equal(rx.seen[0]!.url, '/hooks/PATH-SECRET-2?token=Q-SECRET-3');
    messages.push(r.error!.message, describeReceiver(cfg));
    for (const m of messages) {
      assert.doesNotMatch(m, /SECRET|hookuser/, m);
    }
    assert.match(r.error!.message, /^POST http:\/\/127\.0\.0\.1:\d+\/… → HTTP 500/);
    assert.equal(describeReceiver(cfg), `h (webhook http://127.0.0.1:${rx.port}/…)`);
  });

  it('sends URL credentials as Basic auth (fetch refuses them in the URL)', async () => {
    await createNotifier({ name: 'h', webhook: { url: `http://u%40x:p%3Aw@127.0.0.1:${rx.port}/h` } }).send(notification([toLabeled(alert('slow_query'))]));
    assert.equal(rx.seen[0]!.headers.authorization, `Basic ${Buffer.from('u@x:p:w').toString('base64')}`);
  });

  it('are not echoed by config errors', () => {
    assert.throws(() => parseReceiverConfig({ name: 'h', webhook: { url: 'ftp://x:TOPSECRET@h/p' } }, 'receivers[0]'), (e: Error) => {
      assert.equal(e.message, 'receivers[0].webhook.url must be an http(s) URL');
      return true;
    });
  });
});

// ---- configuration -------------------------------------------------------------------------------------

describe('parseReceiverConfig', () => {
  it('parses every kind, snake_case keys to fields', () => {
    assert.deepEqual(parseReceiverConfig({ name: 'w', webhook: { url: 'https://h/x', headers: { A: 'b' }, timeout_ms: 5000 } }, 'r'), {
      name: 'w', webhook: { url: 'https://h/x', headers: { A: 'b' }, timeoutMs: 5000 },
    });
    assert.deepEqual(parseReceiverConfig({ name: 's', slack: { url: 'https://hooks.slack.com/services/T/B/C', channel: '#c', username: 'slowq' } }, 'r'), {
      name: 's', slack: { url: 'https://hooks.slack.com/services/T/B/C', channel: '#c', username: 'slowq' },
    });
    assert.deepEqual(parseReceiverConfig({ name: 'a', alertmanager: { url: 'http://127.0.0.1:9093', resend_ms: 30000 } }, 'r'), {
      name: 'a', alertmanager: { url: 'http://127.0.0.1:9093', resendMs: 30000 },
    });
    assert.deepEqual(parseReceiverConfig({ name: 'f', file: { path: '/tmp/n.jsonl' } }, 'r'), { name: 'f', file: { path: '/tmp/n.jsonl' } });
    assert.deepEqual(parseReceiverConfig({ name: 'w', webhook: { url: 'http://h', timeoutMs: 1 } }, 'r'), { name: 'w', webhook: { url: 'http://h', timeoutMs: 1 } });
  });

  const cases: Array<[unknown, string | RegExp]> = [
    [{ name: 'x', webhook: { url: 'not a url' } }, 'receivers[2].webhook.url must be an http(s) URL'],
    [{ name: 'x', webhook: { url: 42 } }, 'receivers[2].webhook.url must be an http(s) URL'],
    [{ name: 'x', webhook: {} }, 'receivers[2].webhook.url is required'],
    [{ name: 'x', webhook: { url: 'http://h', timeout_ms: '5s' } }, 'receivers[2].webhook.timeout_ms must be a number of milliseconds > 0'],
    [{ name: 'x', webhook: { url: 'http://h', headers: { A: 1 } } }, 'receivers[2].webhook.headers.A must be a string'],
    [{ name: 'x', webhook: { url: 'http://h', headers: { 'Bad Name': 'v' } } }, /receivers\[2\]\.webhook\.headers: "Bad Name" is not a valid header name/],
    [{ name: 'x', webhook: { url: 'http://h', headers: { A: 'v\r\nX: y' } } }, 'receivers[2].webhook.headers.A must not contain line breaks'],
    [{ name: 'x', webhook: { url: 'http://h', headers: { 'Idempotency-Key': 'v' } } }, /header "Idempotency-Key" is set by slowq/],
    [{ name: 'x', webhook: { url: 'http://h', timeout_ms: 1, timeoutMs: 2 } }, /receivers\[2\]\.webhook: "timeout_ms" and "timeoutMs" are the same setting/],
    [{ name: 'x', webhook: { url: 'http://h', retries: 3 } }, /^receivers\[2\]\.webhook: unknown key "retries"/],
    [{ name: 'x', slack: { url: 'https://h', channel: 5 } }, 'receivers[2].slack.channel must be a non-empty string'],
    [{ name: 'x', slack: { url: 'https://h', icon: ':x:' } }, /^receivers\[2\]\.slack: unknown key "icon"/],
    [{ name: 'x', alertmanager: { url: 'http://h', resend_ms: 0 } }, 'receivers[2].alertmanager.resend_ms must be a number of milliseconds > 0'],
    [{ name: 'x', alertmanager: { url: 'http://h/?a=b' } }, /receivers\[2\]\.alertmanager\.url must be a base URL/],
    [{ name: 'x', file: {} }, 'receivers[2].file.path is required'],
    [{ name: 'x', file: { path: '' } }, 'receivers[2].file.path must be a non-empty string'],
    [{ name: 'x', webhook: 'http://h' }, 'receivers[2].webhook must be a map'],
    [{ name: 'x' }, /^receivers\[2\] must have exactly one of webhook, slack, alertmanager, file, pagerduty, email$/],
    [{ name: 'x', webhook: { url: 'http://h' }, file: { path: '/p' } }, /must have exactly one of .* \(has webhook and file\)/],
    [{ webhook: { url: 'http://h' } }, 'receivers[2].name is required'],
    [{ name: 7, webhook: { url: 'http://h' } }, 'receivers[2].name must be a string'],
    [{ name: 'x', wbhook: { url: 'http://h' } }, /^receivers\[2\]: unknown key "wbhook"/],
    ['webhook', 'receivers[2] must be a map'],
  ];
  for (const [raw, want] of cases) {
    it(`rejects ${JSON.stringify(raw)}`, () => {
      assert.throws(() => parseReceiverConfig(raw, 'receivers[2]'), (e: Error) => {
        assert.ok(e instanceof ConfigError);
        if (typeof want === 'string') assert.equal(e.message, want);
        else assert.match(e.message, want);
        return true;
      });
    });
  }
});

// ---- file ----------------------------------------------------------------------------------------------

describe('file notifier', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slowq-notifiers-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('appends one JSON line per notification (webhook shape + id), once across reopen, and repairs a torn tail', async () => {
    const path = join(dir, 'sub', 'n.jsonl');
    const n1 = notification([toLabeled(alert('long_running'))]);
    const n2 = notification([toLabeled(alert('resolved'), alert('long_running'))]);
    const f1 = createNotifier({ name: 'f', file: { path } });
    await f1.send(n1);
    await f1.send(n1); // a retry of a delivery that did get written
    await f1.close?.();
    await appendFile(path, '{"notificationId":"torn'); // a crash mid-write
    const f2 = new FileNotifier('f', path);
    await f2.send(n1);
    await f2.send(n2);
    await f2.close();
    const lines = (await readFile(path, 'utf8')).split('\n');
    assert.equal(lines.pop(), '');
    assert.equal(lines.length, 2);
    const parsed = lines.map((l) => JSON.parse(l));
    assert.deepEqual(parsed.map((p) => p.notificationId), [n1.id, n2.id]);
    assert.deepEqual(parsed[1], { notificationId: n2.id, ...webhookPayload(n2) });
    assert.equal(parsed[1].alerts[0].status, 'resolved');
  });

  it('reports a path it cannot write as a permanent failure', async () => {
    const notADir = join(dir, 'plain');
    await appendFile(notADir, 'x');
    const r = await deliverWithRetry(new FileNotifier('f', join(notADir, 'n.jsonl')), notification([toLabeled(alert('slow_query'))]), { sleep: fastSleep });
    assert.equal(r.ok, false);
    assert.equal(r.attempts, 1);
    assert.equal(r.error?.retryable, false);
  });
});
