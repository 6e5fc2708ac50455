import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startHttpServer, type HttpServer } from '../src/monitor/http/server.js';
import { FakeMonitorView, makeActive, makeAlert } from './support/fake-monitor-view.js';
import { toLabeled } from '../src/monitor/model.js';
import { sleep } from '../bench/harness/wait.js';

// The monitor's HTTP side in-process against a fake view: every endpoint, the event stream, request
// validation, the token, and /metrics parsed as Prometheus text with values checked against the fake stats.

const NOW = Date.now();

function fillStats(view: FakeMonitorView, at = Date.now()): void {
  view.stats.update([
    { service: 'client-db-01', kind: 'client', source: 'db-01', at, counters: { read: 1200, records: 1100, recordsAcked: 1000, acked: 10, deadLettered: 3, batches: 11, resends: 1, retries: 2, gaps: 0, errors: 0, streams: 2, logDropped: 5,
      masterConnectionLosses: 2, masterConnectionDownMs: 4500, masterConnectionLastOutageMs: 21_000, masterConnectionResumedAt: at - 60_000 } },
    { service: 'client-db-02', kind: 'client', source: 'db-02', at, counters: { read: 50, records: 50, acked: 1, deadLettered: 0, batches: 1, resends: 0, retries: 0, gaps: 0, errors: 0, streams: 1, logDropped: 0 } },
    { service: 'consumer-c0', kind: 'consumer', at, counters: { requests: 12, applied: 1040, duplicates: 7, late: 1, gaps: 0, malformed: 0, commits: 8, commitMsTotal: 40, commitMsMax: 37.5, commitFailures: 0, alerts: 9, alertsAcked: 6, outbox: 3, openQueries: 4, highWaterTotal: 1050, logDropped: 0 } },
    { service: 'master', kind: 'master', at, counters: { batches: 12, replies: 12, retries: 2, malformed: 1, consumersAlive: 1, logDropped: 2, clientDisconnects: 3, monitorConnectionLosses: 0, monitorConnectionDownMs: 0, loopDelayMaxMs: 120, loopDelayP99Ms: 4.5 } },
  ]);
}

async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(url, init);
  const text = await r.text();
  return { status: r.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const post = (url: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  getJson(url, { method: 'POST', headers, body });

/** Reads server-sent events from a stream until `until` is satisfied or the time bound passes. */
async function readEvents(body: ReadableStream<Uint8Array>, until: (events: Array<{ event: string; data: string; comment?: string }>) => boolean, ms = 5000) {
  const reader = body.getReader();
  const dec = new TextDecoder();
  const events: Array<{ event: string; data: string; comment?: string }> = [];
  let buf = '';
  const deadline = Date.now() + ms;
  let ended = false;
  try {
    while (!until(events) && Date.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([reader.read(), new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), Math.max(1, deadline - Date.now()))))]);
      clearTimeout(timer);
      if (r === 'timeout') break;
      if (r.done) {
        ended = true;
        break;
      }
      buf += dec.decode(r.value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const e = { event: 'message', data: '' } as { event: string; data: string; comment?: string };
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) e.comment = line.slice(1).trim();
          else if (line.startsWith('event: ')) e.event = line.slice(7);
          else if (line.startsWith('data: ')) e.data += line.slice(6);
        }
        events.push(e);
      }
    }
  } finally {
    reader.releaseLock();
  }
  return { events, ended, reader: body };
}

// --- a small Prometheus text-format parser (exposition format 0.0.4) ---
interface Sample { name: string; labels: Record<string, string>; value: number }
function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string>; help: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const lines = text.split('\n');
  assert.equal(lines.at(-1), '', 'text ends with a newline');
  for (const [i, line] of lines.entries()) {
    if (line === '') continue;
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line))) {
      help.set(m[1]!, m[2]!);
      continue;
    }
    if ((m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|summary|histogram|untyped)$`).exec(line))) {
      assert.ok(!types.has(m[1]!), `TYPE given twice for ${m[1]}`);
      types.set(m[1]!, m[2]!);
      continue;
    }
    assert.ok(!line.startsWith('#'), `line ${i + 1}: unknown comment ${line}`);
    m = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: -?\\d+)?$`).exec(line);
    assert.ok(m, `line ${i + 1} is not a sample: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/y;
      let pos = 0;
      while (pos < m[2].length) {
        re.lastIndex = pos;
        const lm = re.exec(m[2]);
        assert.ok(lm, `line ${i + 1}: bad labels ${m[2]}`);
        labels[lm[1]!] = lm[2]!.replace(/\\(["\\n])/g, (_s, c: string) => (c === 'n' ? '\n' : c));
        pos = re.lastIndex;
      }
    }
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    assert.ok(!Number.isNaN(value) || m[3] === 'NaN', `line ${i + 1}: bad value ${m[3]}`);
    const family = m[1]!;
    assert.ok(types.has(family), `line ${i + 1}: sample ${family} before its # TYPE`);
    samples.push({ name: family, labels, value });
  }
  return { samples, types, help };
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value;
}

describe('http: endpoints', () => {
  const view = new FakeMonitorView();
  let srv: HttpServer;
  before(async () => {
    fillStats(view);
    srv = await startHttpServer(view, { host: '127.0.0.1', port: 0, heartbeatMs: 100, statsIntervalMs: 100 });
  });
  after(async () => {
    await srv.close();
  });

  it('binds to loopback and reports its URL', () => {
    assert.match(srv.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('GET /healthz: ok, and 503 when the view says unhealthy', async () => {
    let r = await fetch(`${srv.url}/healthz`);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), 'ok\n');
    view.healthyNow = false;
    r = await fetch(`${srv.url}/healthz`);
    assert.equal(r.status, 503);
    await r.text();
    view.healthyNow = true;
  });

  it('GET / serves the self-contained dashboard', async () => {
    const r = await fetch(`${srv.url}/`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/html/);
    const html = await r.text();
    assert.match(html, /<!doctype html>/i);
    assert.match(html, /new EventSource/);
    assert.doesNotMatch(html, /<(script|link)[^>]+(src|href)="(https?:)?\/\//, 'no external assets');
    assert.match(r.headers.get('content-security-policy') ?? '', /default-src 'none'/);
  });

  it('GET /api/alerts: active and recently resolved from the view', async () => {
    const firing = makeAlert({ type: 'long_running', severity: 'critical' });
    view.active = [makeActive(firing, { silencedBy: ['s1'] })];
    const closing = makeAlert({ type: 'resolved', queryId: firing.queryId });
    view.resolved = [toLabeled(closing, firing)];
    const { status, body } = await getJson(`${srv.url}/api/alerts`);
    assert.equal(status, 200);
    const active = body.active as Array<{ id: string; silencedBy: string[]; labels: Record<string, string> }>;
    assert.deepEqual(active.map((a) => a.id), [firing.id]);
    assert.deepEqual(active[0]!.silencedBy, ['s1']);
    assert.equal(active[0]!.labels.severity, 'critical');
    assert.deepEqual((body.resolved as Array<{ id: string; status: string }>).map((a) => [a.id, a.status]), [[closing.id, 'resolved']]);
    assert.equal(typeof body.now, 'number');
  });

  it('silences: add, list, expire; unknown id is 404', async () => {
    const before = view.addCalls.length;
    const add = await post(`${srv.url}/api/silences`, JSON.stringify({ matchers: ['db=shop', { name: 'source', op: '=~', value: 'db-0[12]' }], durationMs: 3_600_000, createdBy: 'alice', comment: 'maintenance' }));
    assert.equal(add.status, 201, JSON.stringify(add.body));
    const s = add.body.silence as { id: string; status: string };
    assert.equal(s.status, 'active');
    const input = view.addCalls[before]!;
    assert.deepEqual(input.matchers, [{ name: 'db', op: '=', value: 'shop' }, { name: 'source', op: '=~', value: 'db-0[12]' }]);
    assert.equal(input.createdBy, 'alice');
    assert.equal(input.comment, 'maintenance');
    assert.equal(Date.parse(input.endsAt!) - Date.parse(input.startsAt!), 3_600_000);

    const withEnd = await post(`${srv.url}/api/silences`, JSON.stringify({ matchers: ['source=db-02'], endsAt: new Date(Date.now() + 600_000).toISOString(), comment: 'deploy' }));
    assert.equal(withEnd.status, 201, JSON.stringify(withEnd.body));

    const list = await getJson(`${srv.url}/api/silences`);
    assert.equal(list.status, 200);
    assert.ok((list.body.silences as Array<{ id: string }>).some((x) => x.id === s.id));

    const del = await getJson(`${srv.url}/api/silences/${encodeURIComponent(s.id)}`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.equal((del.body.silence as { status: string }).status, 'expired');

    const missing = await getJson(`${srv.url}/api/silences/no-such-id`, { method: 'DELETE' });
    assert.equal(missing.status, 404);
    assert.match(String(missing.body.error), /no silence with id "no-such-id"/);
  });

  it('POST /api/silences: bad bodies are 400 (or 413/415) with a message saying what is wrong', async () => {
    const ok = { matchers: ['db=shop'], durationMs: 60_000, createdBy: 'bob', comment: 'why' };
    const cases: Array<[string, string, number, RegExp, Record<string, string>?]> = [
      ['not JSON', '{"matchers": [', 400, /not valid JSON/],
      ['empty body', '', 400, /empty body/],
      ['an array', '[]', 400, /must be a JSON object/],
      ['no matchers', JSON.stringify({ ...ok, matchers: [] }), 400, /matchers: a non-empty list/],
      ['matchers not a list', JSON.stringify({ ...ok, matchers: 'db=shop' }), 400, /matchers: a non-empty list/],
      ['bad matcher text', JSON.stringify({ ...ok, matchers: ['db=shop', 'no operator'] }), 400, /matchers\[1\]:.*not NAME=VALUE/],
      ['bad regex', JSON.stringify({ ...ok, matchers: ['db=~(unclosed'] }), 400, /matchers\[0\]:.*regular expression/],
      ['bad matcher object', JSON.stringify({ ...ok, matchers: [{ name: '1x', op: '=', value: 'a' }] }), 400, /matchers\[0\]: label name/],
      ['matches everything', JSON.stringify({ ...ok, matchers: ['db=~.*'] }), 400, /silence every alert/],
      ['no duration or end', JSON.stringify({ matchers: ['db=shop'], comment: 'x' }), 400, /exactly one of durationMs and endsAt/],
      ['both duration and end', JSON.stringify({ ...ok, endsAt: new Date(NOW + 1e6).toISOString() }), 400, /exactly one of durationMs and endsAt/],
      ['negative duration', JSON.stringify({ ...ok, durationMs: -5 }), 400, /durationMs: must be a positive number/],
      ['duration as text', JSON.stringify({ ...ok, durationMs: '1h' }), 400, /durationMs: must be a positive number/],
      ['endsAt in the past', JSON.stringify({ matchers: ['db=shop'], endsAt: '2001-01-01T00:00:00Z', comment: 'x' }), 400, /endsAt: must be in the future/],
      ['endsAt not a time', JSON.stringify({ matchers: ['db=shop'], endsAt: 'tomorrow', comment: 'x' }), 400, /endsAt: expected an ISO 8601 time/],
      ['no comment', JSON.stringify({ ...ok, comment: '  ' }), 400, /comment: required/],
      ['createdBy not text', JSON.stringify({ ...ok, createdBy: 7 }), 400, /createdBy: must be a non-empty string/],
      ['unknown field', JSON.stringify({ ...ok, matcher: ['db=x'] }), 400, /unknown field "matcher"/],
      ['too large', JSON.stringify({ ...ok, comment: 'x'.repeat(70_000) }), 413, /over the limit/],
      ['not JSON content type', JSON.stringify(ok), 415, /content-type must be application\/json/, { 'content-type': 'text/plain' }],
    ];
    const before = view.addCalls.length;
    for (const [what, body, status, message, headers] of cases) {
      const r = await post(`${srv.url}/api/silences`, body, headers);
      assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
      assert.match(String(r.body.error), message, what);
    }
    assert.equal(view.addCalls.length, before, 'nothing reached the view');
  });

  it('GET /api/stats: throughput per source, services with backlog, slowest fingerprints, counters', async () => {
    view.slowest = [{ fingerprintId: '0xAA', fingerprint: 'select ?', count: 3, maxMs: 9000, totalMs: 15000, sampleSql: 'select 1', sources: ['db-01'], lastAt: Date.now() }];
    view.countersNow.receivers = { file: { sent: 4, failed: 1, retries: 2, heldBack: 0, pending: 1 } };
    const { status, body } = await getJson(`${srv.url}/api/stats`);
    assert.equal(status, 200);
    const services = body.services as Array<{ service: string; kind: string; unacked?: number; unackedBatches?: number; outbox?: number; openQueries?: number; rateOf?: string }>;
    assert.deepEqual(services.map((s) => s.service).sort(), ['client-db-01', 'client-db-02', 'consumer-c0', 'master']);
    const c1 = services.find((s) => s.service === 'client-db-01')!;
    assert.equal(c1.unacked, 100);
    assert.equal(c1.unackedBatches, 1);
    assert.equal(c1.rateOf, 'recordsAcked');
    // a client that counts only batches acked: throughput from records sent
    const c2 = services.find((s) => s.service === 'client-db-02')!;
    assert.equal(c2.rateOf, 'records');
    assert.equal(c2.unacked, undefined);
    assert.equal(c2.unackedBatches, 0);
    assert.equal(services.find((s) => s.service === 'consumer-c0')!.outbox, 3);
    assert.equal(services.find((s) => s.service === 'consumer-c0')!.openQueries, 4);
    assert.ok(Array.isArray(body.throughput) && (body.throughput as unknown[]).length >= 1);
    assert.deepEqual((body.slowest as Array<{ fingerprintId: string }>).map((f) => f.fingerprintId), ['0xAA']);
    assert.deepEqual((body.counters as { receivers: unknown }).receivers, view.countersNow.receivers);
    assert.deepEqual(body.receivers, ['file']);
  });

  it('throughput: records acked per second per source from the difference of two reports', async () => {
    // the sampler runs every 100 ms here: report 500 more records for db-02 and wait for a point that shows them
    const t = Date.now();
    view.stats.update([{ service: 'client-db-02', kind: 'client', source: 'db-02', at: t + 1, counters: { records: 550, acked: 2 } }]);
    let rate = 0;
    for (let i = 0; i < 50 && rate === 0; i++) {
      await sleep(50);
      const { body } = await getJson(`${srv.url}/api/stats`);
      const pts = body.throughput as Array<{ at: number; perSource: Record<string, number> }>;
      rate = pts.filter((p) => p.at >= t).reduce((m, p) => Math.max(m, p.perSource['db-02'] ?? 0), 0);
    }
    assert.ok(rate > 0, 'a positive rate for db-02');
    fillStats(view, Date.now() + 2);
  });

  it('GET /api/slowest: window and limit from the query, checked', async () => {
    const ok = await getJson(`${srv.url}/api/slowest?windowMs=600000&limit=5`);
    assert.equal(ok.status, 200);
    assert.equal(ok.body.windowMs, 600000);
    const bad = await getJson(`${srv.url}/api/slowest?limit=abc`);
    assert.equal(bad.status, 400);
    assert.match(String(bad.body.error), /limit: expected an integer/);
  });

  it('unknown paths are 404, wrong methods 405 with Allow', async () => {
    const nf = await getJson(`${srv.url}/api/nope`);
    assert.equal(nf.status, 404);
    assert.match(String(nf.body.error), /no such endpoint/);
    const r = await fetch(`${srv.url}/api/alerts`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'GET');
    await r.text();
    const g = await fetch(`${srv.url}/api/silences/abc`);
    assert.equal(g.status, 405);
    await g.text();
  });

  it('refuses a Host that is not loopback (DNS rebinding) and cross-origin writes', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(srv.url);
      const req = request({ host: u.hostname, port: u.port, path: '/api/alerts', headers: { host: 'evil.example:80' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 403);
    const r = await post(`${srv.url}/api/silences`, JSON.stringify({ matchers: ['db=x'], durationMs: 1000, comment: 'x' }), { 'content-type': 'application/json', origin: 'http://evil.example' });
    assert.equal(r.status, 403);
    assert.match(String(r.body.error), /cross-origin/);
  });

  it('GET /events: an event the view emits reaches the stream, with heartbeats and stats events', async () => {
    const r = await fetch(`${srv.url}/events`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/event-stream/);
    // wait until subscribed (the first bytes are the connect comment), then emit
    const first = await readEvents(r.body!, (ev) => ev.length >= 1);
    assert.equal(first.events[0]?.comment, 'connected');
    const a = makeAlert({ type: 'long_running', severity: 'critical' });
    view.fire(a);
    const got = await readEvents(r.body!, (ev) => ev.some((e) => e.event === 'alert') && ev.some((e) => e.comment === 'heartbeat') && ev.some((e) => e.event === 'stats'));
    const alert = got.events.find((e) => e.event === 'alert');
    assert.ok(alert, 'alert event received');
    assert.equal((JSON.parse(alert.data) as { alert: { id: string } }).alert.id, a.id);
    assert.ok(got.events.some((e) => e.comment === 'heartbeat'), 'heartbeat comment received');
    const stats = got.events.find((e) => e.event === 'stats');
    assert.ok(stats && Array.isArray((JSON.parse(stats.data) as { services: unknown[] }).services));
    await r.body!.cancel();
  });

  it('GET /metrics: Prometheus text whose values are the services\' counters', async () => {
    view.countersNow = {
      messages: 5, received: 12, accepted: 10, duplicates: 2, malformed: 1, commitFailures: 0, statsMessages: 40,
      silenced: 3, inhibited: 1, activeAlerts: 4, groups: 2, activeSilences: 1,
      receivers: { file: { sent: 10, failed: 0, retries: 0, heldBack: 0, pending: 0 }, 'slack-oncall': { sent: 6, failed: 2, retries: 5, heldBack: 1, pending: 3 } },
    };
    const r = await fetch(`${srv.url}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const { samples, types, help } = parsePrometheus(await r.text());
    for (const name of types.keys()) assert.ok(help.has(name), `${name} has HELP`);

    const c1 = { service: 'client-db-01', source: 'db-01' };
    assert.equal(value(samples, 'slowq_client_records_read_total', c1), 1200);
    assert.equal(value(samples, 'slowq_client_records_sent_total', c1), 1100);
    assert.equal(value(samples, 'slowq_client_records_acked_total', c1), 1000);
    assert.equal(value(samples, 'slowq_client_batches_acked_total', c1), 10);
    assert.equal(value(samples, 'slowq_client_records_acked_total', { source: 'db-02' }), undefined, 'not reported, not made up');
    assert.equal(value(samples, 'slowq_client_batches_acked_total', { source: 'db-02' }), 1);
    assert.equal(value(samples, 'slowq_client_records_dead_lettered_total', c1), 3);
    assert.equal(value(samples, 'slowq_client_batches_sent_total', c1), 11);
    assert.equal(value(samples, 'slowq_client_streams', c1), 2);
    assert.equal(types.get('slowq_client_records_acked_total'), 'counter');
    assert.equal(types.get('slowq_client_streams'), 'gauge');

    const c0 = { service: 'consumer-c0' };
    assert.equal(value(samples, 'slowq_consumer_records_applied_total', c0), 1040);
    assert.equal(value(samples, 'slowq_consumer_records_duplicate_total', c0), 7);
    assert.equal(value(samples, 'slowq_consumer_records_late_total', c0), 1);
    assert.equal(value(samples, 'slowq_consumer_commits_total', c0), 8);
    assert.equal(value(samples, 'slowq_consumer_outbox_alerts', c0), 3);
    assert.equal(value(samples, 'slowq_consumer_open_queries', c0), 4);
    assert.equal(value(samples, 'slowq_consumer_alerts_total', c0), 9);
    assert.equal(value(samples, 'slowq_operation_duration_seconds_total', { ...c0, operation: 'commit' }), 0.04);
    assert.equal(value(samples, 'slowq_operation_duration_seconds_avg', { ...c0, operation: 'commit' }), 0.005);

    assert.equal(value(samples, 'slowq_master_batches_total', { service: 'master' }), 12);
    assert.equal(value(samples, 'slowq_master_retries_total', { service: 'master' }), 2);
    assert.equal(value(samples, 'slowq_master_malformed_total', { service: 'master' }), 1);
    assert.equal(value(samples, 'slowq_master_consumers_alive', { service: 'master' }), 1);

    assert.equal(value(samples, 'slowq_log_lines_dropped_total', { service: 'client-db-01' }), 5);
    assert.equal(value(samples, 'slowq_log_lines_dropped_total', { service: 'master' }), 2);
    assert.equal(value(samples, 'slowq_log_lines_dropped_total', { service: 'consumer-c0' }), 0);

    assert.equal(value(samples, 'slowq_event_loop_delay_max_seconds', { service: 'master', kind: 'master' }), 0.12);
    assert.equal(value(samples, 'slowq_event_loop_delay_p99_seconds', { service: 'master' }), 0.0045);
    assert.equal(types.get('slowq_event_loop_delay_max_seconds'), 'gauge');
    assert.equal(value(samples, 'slowq_event_loop_delay_max_seconds', { service: 'consumer-c0' }), undefined, 'not reported, not made up');
    assert.equal(value(samples, 'slowq_commit_duration_max_seconds', { service: 'consumer-c0', kind: 'consumer' }), 0.0375);
    assert.equal(types.get('slowq_commit_duration_max_seconds'), 'gauge');
    assert.equal(value(samples, 'slowq_commit_duration_max_seconds', { service: 'master' }), undefined);

    assert.equal(value(samples, 'slowq_connection_losses_total', { service: 'client-db-01', kind: 'client', peer: 'master' }), 2);
    assert.equal(value(samples, 'slowq_connection_down_seconds', { service: 'client-db-01', peer: 'master' }), 4.5);
    assert.equal(value(samples, 'slowq_connection_losses_total', { service: 'master', peer: 'monitor' }), 0);
    assert.equal(value(samples, 'slowq_connection_losses_total', { service: 'consumer-c0' }), undefined, 'not reported, not made up');
    assert.equal(value(samples, 'slowq_peer_disconnects_total', { service: 'master', peer: 'client' }), 3);

    assert.equal(value(samples, 'slowq_monitor_alerts_accepted_total'), 10);
    assert.equal(value(samples, 'slowq_monitor_alerts_duplicate_total'), 2);
    assert.equal(value(samples, 'slowq_monitor_active_alerts'), 4);
    assert.equal(value(samples, 'slowq_monitor_active_silences'), 1);
    assert.equal(value(samples, 'slowq_notifications_total', { receiver: 'slack-oncall', outcome: 'sent' }), 6);
    assert.equal(value(samples, 'slowq_notifications_total', { receiver: 'slack-oncall', outcome: 'failed' }), 2);
    assert.equal(value(samples, 'slowq_notifications_total', { receiver: 'slack-oncall', outcome: 'held_back' }), 1);
    assert.equal(value(samples, 'slowq_notifications_total', { receiver: 'file', outcome: 'sent' }), 10);
    assert.equal(value(samples, 'slowq_notification_retries_total', { receiver: 'slack-oncall' }), 5);
    assert.equal(value(samples, 'slowq_notifications_pending', { receiver: 'slack-oncall' }), 3);
    // alerts by type: counted from the view's alert events (one long_running was fired by the SSE test)
    assert.ok((value(samples, 'slowq_alerts_total', { type: 'long_running' }) ?? 0) >= 1);
    // nothing from prom-client's global default registry
    assert.ok(!samples.some((s) => s.name.startsWith('process_') || s.name.startsWith('nodejs_')));
  });

  it('GET /metrics: alerts by type from the view\'s counters when it carries them', async () => {
    const withTypes = view.countersNow as typeof view.countersNow & { alertsByType?: Record<string, number> };
    withTypes.alertsByType = { slow_query: 7, long_running: 2, resolved: 1, stalled: 1 };
    const { samples } = parsePrometheus(await (await fetch(`${srv.url}/metrics`)).text());
    assert.equal(value(samples, 'slowq_alerts_total', { type: 'slow_query' }), 7);
    assert.equal(value(samples, 'slowq_alerts_total', { type: 'stalled' }), 1);
    delete withTypes.alertsByType;
  });
});

describe('http: token and binding', () => {
  const view = new FakeMonitorView();
  const token = 'test-token-0123456789abcdef';
  let srv: HttpServer;
  before(async () => {
    srv = await startHttpServer(view, { host: '127.0.0.1', port: 0, token });
  });
  after(async () => {
    await srv.close();
  });

  it('refuses to start on a non-loopback address without a token', async () => {
    await assert.rejects(startHttpServer(view, { host: '0.0.0.0', port: 0 }), /not a loopback address, without a token/);
    await assert.rejects(startHttpServer(view, { host: '192.0.2.1', port: 0 }), /without a token/);
    await assert.rejects(startHttpServer(view, { host: '127.0.0.1', port: 0, token: 'short' }), /at least 16 characters/);
  });

  it('every endpoint but /healthz needs the token, as Bearer or ?token=', async () => {
    for (const path of ['/', '/events', '/api/alerts', '/api/silences', '/api/stats', '/metrics']) {
      const r = await fetch(`${srv.url}${path}`);
      assert.equal(r.status, 401, path);
      assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/);
      await r.text();
    }
    const wrong = await fetch(`${srv.url}/api/alerts`, { headers: { authorization: `Bearer ${token}x` } });
    assert.equal(wrong.status, 401);
    await wrong.text();
    const bearer = await fetch(`${srv.url}/api/alerts`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(bearer.status, 200);
    await bearer.text();
    const query = await fetch(`${srv.url}/metrics?token=${token}`);
    assert.equal(query.status, 200);
    await query.text();
    const health = await fetch(`${srv.url}/healthz`);
    assert.equal(health.status, 200);
    await health.text();
    const post = await fetch(`${srv.url}/api/silences`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(post.status, 401);
    await post.text();
  });
});

describe('http: shutdown', () => {
  it('close() ends open event streams and unsubscribes from the view', async () => {
    const view = new FakeMonitorView();
    const srv = await startHttpServer(view, { host: '127.0.0.1', port: 0 });
    const r = await fetch(`${srv.url}/events`);
    await readEvents(r.body!, (ev) => ev.length >= 1);
    assert.equal(view.subscribers, 1);
    const closed = srv.close();
    const rest = await readEvents(r.body!, () => false, 5000);
    assert.equal(rest.ended, true, 'the stream ended');
    await closed;
    assert.equal(view.subscribers, 0);
    await assert.rejects(fetch(`${srv.url}/healthz`));
  });
});

describe('http: Alertmanager\'s lifecycle endpoints (/-/healthy, /-/ready, POST /-/reload)', () => {
  it('the probes answer without the token; a reload needs it, is a POST, and says why it was refused', async () => {
    const view = new FakeMonitorView();
    const token = 'test-token-0123456789abcdef';
    let ready = true;
    let next: { ok: boolean; error?: string; summary?: string } = { ok: true, summary: 'receivers a' };
    let reloads = 0;
    const srv = await startHttpServer(view, {
      host: '127.0.0.1', port: 0, token, ready: () => ready,
      reload: () => {
        reloads++;
        return Promise.resolve(next);
      },
    });
    try {
      const get = async (path: string, init: RequestInit = {}) => {
        const r = await fetch(`${srv.url}${path}`, init);
        return { status: r.status, text: await r.text() };
      };
      assert.deepEqual(await get('/-/healthy'), { status: 200, text: 'OK\n' });
      assert.deepEqual(await get('/-/ready'), { status: 200, text: 'OK\n' });
      ready = false;
      assert.equal((await get('/-/ready')).status, 503);
      const auth = { authorization: `Bearer ${token}` };
      assert.equal((await get('/-/reload', { method: 'POST' })).status, 401, 'a reload needs the token');
      assert.equal(reloads, 0);
      assert.equal((await get('/-/reload', { headers: auth })).status, 405, 'GET is not a reload');
      assert.deepEqual(await get('/-/reload', { method: 'POST', headers: auth }), { status: 200, text: 'configuration reloaded: receivers a\n' });
      next = { ok: false, error: '/etc/slowq.yaml: route: unknown key "reciever"' };
      assert.deepEqual(await get('/-/reload', { method: 'POST', headers: auth }), { status: 500, text: 'failed to reload config: /etc/slowq.yaml: route: unknown key "reciever"\n' });
      assert.equal((await get('/-/reload', { method: 'POST', headers: { ...auth, origin: 'http://evil.example' } })).status, 403, 'not from another site');
      assert.equal(reloads, 2);
    } finally {
      await srv.close();
    }
  });

  it('without a reload function there is nothing to reload (404)', async () => {
    const srv = await startHttpServer(new FakeMonitorView(), { host: '127.0.0.1', port: 0 });
    try {
      const r = await fetch(`${srv.url}/-/reload`, { method: 'POST' });
      assert.equal(r.status, 404);
      await r.text();
    } finally {
      await srv.close();
    }
  });
});
