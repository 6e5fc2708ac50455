import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import * as zmq from 'zeromq';
import { ConfigError, parseConfig } from '../src/cli/config-file.js';
import { FakeClock } from './support/fake-clock.js';
import { Deliveries } from '../src/monitor/dispatch/delivery.js';
import { Dispatcher, type DispatchEntry, type DispatchJournal } from '../src/monitor/dispatch/dispatcher.js';
import { MatcherError, parseMatcher } from '../src/monitor/dispatch/matchers.js';
import { Route } from '../src/monitor/dispatch/route.js';
import { BUILTIN_INHIBIT_RULES, Inhibitor } from '../src/monitor/inhibit.js';
import { DeliveryError, labelsFingerprint, matchLabels, pointEventEnd, POINT_EVENT_MS, toLabeled, type Notification, type Notifier } from '../src/monitor/model.js';
import { RecentAlerts } from '../src/monitor/recent.js';
import { prng } from '../src/workload/prng.js';
import { Monitor } from '../src/monitor/monitor.js';
import type { MonitorConfig } from '../src/monitor/monitor-config.js';
import type { AlertOutput } from '../src/monitor/outputs/output.js';
import { RateLimits, TokenBucket } from '../src/monitor/rate-limit.js';
import { webhookPayload } from '../src/monitor/notifiers/payload.js';
import { SilenceError, SilenceStore } from '../src/monitor/silences.js';
import type { Alert } from '../src/model/record.js';
import {
  decodeHeader, decodeSilences, encodeAlerts, encodeHeader, encodeSilenceBody, PROTOCOL_VERSION, type SilenceRequestHeader,
} from '../src/wire/protocol.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { sleep, waitFor } from '../bench/harness/wait.js';

// The monitor's dispatch: routing, grouping timers, silences, inhibition and rate limiting, driven by a fake
// clock; the durable log's replay (nothing notified twice, nothing decided lost); deliveries with retries;
// and the monitor in-process over ZeroMQ (dedup, notifications, silence requests, restart).

const T0 = Date.parse('2026-01-01T00:00:00Z');
const S = 1000;
const M = 60 * S;

let counter = 0;
function mk(type: Alert['type'], over: Partial<Alert> = {}): Alert {
  const queryId = over.queryId ?? `q${++counter}`;
  return {
    id: `${type}:${over.source ?? 'db-01'}:${queryId}`,
    type,
    source: 'db-01',
    queryId,
    fingerprint: 'select * from t where id = ?',
    fingerprintId: '0xABC',
    sql: 'select * from t where id = 1',
    durationMs: 2000,
    startedAt: new Date(T0).toISOString(),
    at: new Date(T0 + 2000).toISOString(),
    severity: 'warning',
    db: 'shop',
    user: 'app',
    ...over,
  };
}

class MemJournal implements DispatchJournal {
  entries: DispatchEntry[] = [];
  fail = false;
  write(entry: DispatchEntry, apply: () => void): Promise<void> {
    if (this.fail) return Promise.reject(new Error('disk full'));
    this.entries.push(structuredClone(entry));
    apply();
    return Promise.resolve();
  }
}

/** A receiver that keeps what it is sent. */
class Recorder implements Notifier {
  readonly kind = 'test';
  readonly got: Notification[] = [];
  constructor(readonly name: string) {}
  async send(n: Notification): Promise<void> {
    this.got.push(n);
  }
}

/** A consumer's side of the monitor's port over a real DEALER: sends alert messages, returns each ack's header. */
class AlertSender {
  private readonly dealer = new zmq.Dealer({ linger: 0, receiveTimeout: 5000 });
  /** the request id of the last message sent */
  rid = 0;

  constructor(bind: string) {
    this.dealer.connect(bind);
  }

  async send(alerts: Alert[]): Promise<ReturnType<typeof decodeHeader>> {
    await this.dealer.send([encodeHeader({ v: PROTOCOL_VERSION, t: 'alerts', rid: ++this.rid, n: alerts.length }), encodeAlerts(alerts)]);
    return decodeHeader((await this.dealer.receive())[0]!);
  }

  close(): void {
    this.dealer.close();
  }
}

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'slowq-dispatch-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Config from the file's shape (so the parser is exercised too), receivers as files (never written here). */
function config(raw: Record<string, unknown>): MonitorConfig {
  const receivers = ((raw.receivers as string[] | undefined) ?? ['hook']).map((name) => ({ name, file: { path: `/nonexistent/${name}` } }));
  return parseConfig({ ...raw, receivers }).monitor;
}

interface Harness {
  clock: FakeClock;
  dispatcher: Dispatcher;
  journal: MemJournal;
  sent: Notification[];
  silences: SilenceStore;
}

async function harness(cfg: MonitorConfig, opts: { clock?: FakeClock; journal?: MemJournal; silences?: SilenceStore; replay?: DispatchEntry[]; accepted?: Array<[Alert[], number]> } = {}): Promise<Harness> {
  const clock = opts.clock ?? new FakeClock(T0);
  const journal = opts.journal ?? new MemJournal();
  const silences = opts.silences ?? new SilenceStore(join(tmp(), 'silences.json'), clock, false);
  await silences.open();
  const sent: Notification[] = [];
  const dispatcher = new Dispatcher({
    route: new Route(cfg.route),
    receivers: new Set(cfg.receivers.map((r) => r.name)),
    clock,
    silences,
    inhibitor: new Inhibitor([...BUILTIN_INHIBIT_RULES, ...cfg.inhibitRules], clock),
    rateLimits: new RateLimits(cfg.rateLimits, clock),
    journal,
    deliver: (n) => sent.push(n),
  });
  for (const [alerts, t] of opts.accepted ?? []) dispatcher.ingest(alerts, t);
  for (const e of opts.replay ?? []) {
    if (e.k === 'f') dispatcher.applyFlush(e.rec);
    else dispatcher.applyDone(e.id);
  }
  dispatcher.start();
  return { clock, dispatcher, journal, sent, silences };
}

const ids = (n: Notification) => n.alerts.map((a) => `${a.id}:${a.status}`);

describe('matchers and routes', () => {
  it('parses the four operators, quoted values, and rejects bad ones naming them', () => {
    assert.deepEqual(parseMatcher('db=shop'), { name: 'db', op: '=', value: 'shop' });
    assert.deepEqual(parseMatcher('user != app'), { name: 'user', op: '!=', value: 'app' });
    assert.deepEqual(parseMatcher('type=~slow.*'), { name: 'type', op: '=~', value: 'slow.*' });
    assert.deepEqual(parseMatcher('db!~"a,b\\"c"'), { name: 'db', op: '!~', value: 'a,b"c' });
    assert.throws(() => parseMatcher('db'), MatcherError);
    assert.throws(() => parseMatcher('1db=x'), MatcherError);
    assert.throws(() => parseMatcher('db=~(unclosed'), /bad regular expression/);
  });

  it('routes like Alertmanager: first matching child, continue, fallback to the parent, inherited settings', () => {
    const cfg = config({
      receivers: ['root', 'shop', 'crit', 'slow', 'other'],
      route: {
        receiver: 'root',
        group_by: ['db'],
        group_wait: '10s',
        routes: [
          { matchers: ['severity=critical'], receiver: 'crit', continue: true, group_wait: 0 },
          { matchers: ['db=shop', 'user!=batch'], receiver: 'shop', routes: [{ matchers: ['type=~slow.*'], receiver: 'slow' }] },
          { matchers: ['db!~shop|crm'], receiver: 'other' },
        ],
      },
    });
    const root = new Route(cfg.route);
    const to = (labels: Record<string, string>) => root.match(labels).map((r) => r.receiver);
    assert.deepEqual(to({ db: 'shop', user: 'app', type: 'slow_query' }), ['slow']);
    assert.deepEqual(to({ db: 'shop', user: 'app', type: 'long_running' }), ['shop']);
    assert.deepEqual(to({ db: 'shop', user: 'app', type: 'long_running', severity: 'critical' }), ['crit', 'shop']);
    assert.deepEqual(to({ db: 'shop', user: 'batch' }), ['root']);
    assert.deepEqual(to({ db: 'crm' }), ['root']);
    assert.deepEqual(to({ db: 'billing' }), ['other']);
    const [slow] = root.match({ db: 'shop', user: 'app', type: 'slow_query' });
    assert.deepEqual(slow!.groupBy, ['db']);
    assert.equal(slow!.timings.groupWaitMs, 10 * S);
    assert.equal(root.match({ severity: 'critical' })[0]!.timings.groupWaitMs, 0);
  });

  it('config errors name the key', () => {
    const bad = (raw: unknown, re: RegExp) => assert.throws(() => parseConfig(raw), (e: unknown) => e instanceof ConfigError && re.test((e as Error).message), String(re));
    bad({ route: { recever: 'x' } }, /route: unknown key "recever"/);
    bad({ route: { receiver: 'nobody' } }, /route\.receiver: no receiver named "nobody"/);
    bad({ receivers: [{ name: 'a', file: { path: '/x' } }], route: { routes: [{ matchers: ['db=~('] }] } }, /route\.routes\[0\]\.matchers\[0\].*regular expression/);
    bad({ route: { group_wait: 'soon' } }, /route\.group_wait must be a duration/);
    bad({ route: { matchers: ['db=x'] } }, /route: unknown key "matchers"/);
    bad({ receivers: [{ name: 'a', file: { path: '/x' } }], rate_limits: [{ receiver: 'a', rate: 0 }] }, /rate_limits\[0\]\.rate must be a number > 0/);
    bad({ receivers: [{ name: 'a', file: { path: '/x' } }, { name: 'a', file: { path: '/y' } }] }, /receivers\[1\]\.name "a" is used twice/);
    bad({ inhibit_rules: [{ source_matchers: ['severity=critical'] }] }, /inhibit_rules\[0\] needs source_matchers and target_matchers/);
    const ok = parseConfig({
      receivers: [{ name: 'a', webhook: { url: 'http://127.0.0.1:1/x' } }],
      route: { receiver: 'a', group_by: ['...'], group_interval: '1h30m', repeat_interval: 60000 },
      rate_limits: [{ receiver: 'a', rate: 10, per: '1m', burst: 20 }],
    }).monitor;
    assert.equal(ok.route.groupIntervalMs, 90 * M);
    assert.equal(ok.route.repeatIntervalMs, 60000);
    assert.deepEqual(ok.rateLimits, [{ receiver: 'a', rate: 10, perMs: M, burst: 20 }]);
  });
});

describe('grouping timers', () => {
  const cfg = () => config({ route: { receiver: 'hook', group_by: ['source', 'alertname'], group_wait: '10s', group_interval: '1m', repeat_interval: '5m' } });

  it('waits group_wait, then batches a group per group_interval; point events go out once', async () => {
    const h = await harness(cfg());
    const a = mk('slow_query');
    const b = mk('slow_query');
    h.dispatcher.ingest([a], h.clock.now());
    await h.clock.advance(1 * S);
    h.dispatcher.ingest([b], h.clock.now());
    await h.clock.advance(8.9 * S);
    assert.equal(h.sent.length, 0, 'nothing before group_wait');
    await h.clock.advance(0.1 * S);
    assert.equal(h.sent.length, 1);
    assert.deepEqual(ids(h.sent[0]!), [`${a.id}:firing`, `${b.id}:firing`]);
    assert.equal(h.sent[0]!.groupKey, '{}:{alertname="SlowQuery",source="db-01"}');
    assert.deepEqual(h.sent[0]!.groupLabels, { alertname: 'SlowQuery', source: 'db-01' });
    const c = mk('slow_query');
    await h.clock.advance(2 * S);
    h.dispatcher.ingest([c], h.clock.now());
    await h.clock.advance(57 * S);
    assert.equal(h.sent.length, 1, 'a new alert waits for the group interval');
    await h.clock.advance(1 * S);
    assert.equal(h.sent.length, 2);
    assert.deepEqual(ids(h.sent[1]!), [`${c.id}:firing`], 'slow_query alerts already notified are not repeated');
    await h.clock.advance(10 * M);
    assert.equal(h.sent.length, 2, 'nothing more: the group emptied and was removed');
    assert.equal(h.dispatcher.groupCount(), 0);
    assert.deepEqual(h.sent.map((n) => n.id), ['hook/{}:{alertname="SlowQuery",source="db-01"}/1', 'hook/{}:{alertname="SlowQuery",source="db-01"}/2']);
  });

  it('long_running: stays firing in the group, repeats after repeat_interval, resolves when its end comes', async () => {
    const h = await harness(cfg());
    const l1 = mk('long_running');
    const l2 = mk('long_running');
    h.dispatcher.ingest([l1], h.clock.now());
    await h.clock.advance(10 * S); // t=10s: first flush
    assert.deepEqual(h.sent.map(ids), [[`${l1.id}:firing`]]);
    await h.clock.advance(2 * S);
    h.dispatcher.ingest([l2], h.clock.now());
    await h.clock.advance(58 * S); // t=70s
    assert.deepEqual(ids(h.sent[1]!).sort(), [`${l1.id}:firing`, `${l2.id}:firing`].sort(), 'the group notification carries every alert with its status');
    await h.clock.advance(4 * M); // ticks at 130..310 s: nothing new, repeat_interval (5m from 70 s) not yet
    assert.equal(h.sent.length, 2);
    await h.clock.advance(1 * M); // t=370 s: repeat
    assert.equal(h.sent.length, 3);
    assert.deepEqual(ids(h.sent[2]!), ids(h.sent[1]!));
    const r1 = mk('resolved', { queryId: l1.queryId, severity: 'critical', durationMs: 45_000 });
    h.dispatcher.ingest([r1], h.clock.now());
    await h.clock.advance(1 * M);
    assert.equal(h.sent.length, 4);
    assert.equal(h.sent[3]!.status, 'firing');
    assert.deepEqual(ids(h.sent[3]!).sort(), [`${l2.id}:firing`, `${r1.id}:resolved`].sort());
    const firing = h.sent[1]!.alerts.find((a) => a.id === l1.id)!;
    const resolved = h.sent[3]!.alerts.find((a) => a.id === r1.id)!;
    assert.equal(resolved.fingerprint, firing.fingerprint, 'the resolve is the same problem');
    assert.equal(resolved.labels.severity, 'warning', 'with the opener\'s labels');
    const s2 = mk('stalled', { queryId: l2.queryId });
    h.dispatcher.ingest([s2], h.clock.now());
    await h.clock.advance(1 * M);
    assert.equal(h.sent.length, 5);
    assert.equal(h.sent[4]!.status, 'resolved');
    assert.deepEqual(ids(h.sent[4]!), [`${s2.id}:resolved`]);
    await h.clock.advance(10 * M);
    assert.equal(h.sent.length, 5);
    assert.equal(h.dispatcher.groupCount(), 0);
  });

  it('a problem that fired and ended within group_wait is notified once, as resolved', async () => {
    const h = await harness(cfg());
    const l = mk('long_running');
    const r = mk('resolved', { queryId: l.queryId });
    h.dispatcher.ingest([l], h.clock.now());
    await h.clock.advance(3 * S);
    h.dispatcher.ingest([r], h.clock.now());
    await h.clock.advance(10 * M);
    assert.deepEqual(h.sent.map(ids), [[`${r.id}:resolved`]]);
  });

  it('max_alerts: a notification lists that many, state changes first, counts the rest; its record is bounded; replay agrees', async () => {
    const capped = config({ route: { receiver: 'hook', group_by: ['source'], group_wait: '10s', group_interval: '1m', repeat_interval: '5m', max_alerts: 3 } });
    const h = await harness(capped);
    const long = mk('long_running', { startedAt: new Date(T0 + 5 * S).toISOString() });
    h.dispatcher.ingest([long], h.clock.now());
    await h.clock.advance(10 * S);
    assert.deepEqual(h.sent.map(ids), [[`${long.id}:firing`]]);
    // a burst of slow queries, and the end of the long-running one, in one group interval
    const burst = Array.from({ length: 50 }, (_, i) => mk('slow_query', { startedAt: new Date(T0 + i * S).toISOString() }));
    const end = mk('resolved', { queryId: long.queryId, startedAt: long.startedAt });
    h.dispatcher.ingest([...burst.slice(0, 25), end, ...burst.slice(25)], h.clock.now());
    await h.clock.advance(1 * M);
    const n = h.sent[1]!;
    assert.deepEqual(ids(n), [`${burst[0]!.id}:firing`, `${burst[1]!.id}:firing`, `${end.id}:resolved`], 'the end of a problem is never cut; then the oldest, listed oldest first');
    assert.equal(n.truncated, 48);
    assert.equal(n.status, 'firing');
    assert.equal(webhookPayload(n).truncatedAlerts, 48);
    assert.deepEqual(n.commonLabels.source, 'db-01', 'common labels are of every alert of the group, as Alertmanager\'s');
    const rec = h.journal.entries.filter((e) => e.k === 'f').at(-1)!;
    assert.ok(rec.k === 'f' && rec.rec.notification!.alerts.length === 3 && rec.rec.settled.length === 51, 'the record lists 3 alerts and settles all 51');
    assert.deepEqual(rec.k === 'f' && rec.rec.last, { firing: [], resolved: [], at: h.clock.now() - 0 }, 'nothing of it stays in the group');
    await h.clock.advance(10 * M);
    assert.equal(h.sent.length, 2, 'every alert of the burst was settled: none is notified again');
    assert.equal(h.dispatcher.groupCount(), 0);

    // replayed (accepted alerts and records), the pending notification is the same one
    const again = await harness(capped, { accepted: [[[long], T0], [[...burst, end], T0 + 10 * S]], replay: h.journal.entries.filter((e) => e.k === 'f') });
    assert.deepEqual(again.sent.map((x) => [x.id, x.alerts.length, x.truncated]), [[h.sent[0]!.id, 1, undefined], [n.id, 3, 48]]);

    // 0: every alert
    const all = await harness(config({ route: { receiver: 'hook', group_wait: '10s', max_alerts: 0 } }));
    all.dispatcher.ingest(burst, all.clock.now());
    await all.clock.advance(10 * S);
    assert.equal(all.sent[0]!.alerts.length, 50);
    assert.equal(all.sent[0]!.truncated, undefined);
    assert.throws(() => config({ route: { receiver: 'hook', max_alerts: -1 } }), /route\.max_alerts must be a whole number ≥ 0/);
  });

  it('group_by "..." makes one group per problem', async () => {
    const h = await harness(config({ route: { receiver: 'hook', group_by: ['...'], group_wait: '1s', group_interval: '1m' } }));
    h.dispatcher.ingest([mk('slow_query'), mk('slow_query'), mk('long_running')], h.clock.now());
    await h.clock.advance(1 * S);
    assert.equal(h.sent.length, 3);
    assert.ok(h.sent.every((n) => n.alerts.length === 1));
  });
});

describe('silences', () => {
  it('mute matching alerts while active; a muted long_running is notified once the silence is expired', async () => {
    const h = await harness(config({ route: { receiver: 'hook', group_by: ['db'], group_wait: '10s', group_interval: '1m' } }));
    const s = await h.silences.add({ matchers: ['db=shop', 'type=~slow.*'], durationMs: 2 * 3600_000, comment: 'migration', createdBy: 'ann' });
    assert.equal(s.status, 'active');
    const shopSlow = mk('slow_query');
    const shopLong = mk('long_running');
    const crmSlow = mk('slow_query', { db: 'crm' });
    h.dispatcher.ingest([shopSlow, shopLong, crmSlow], h.clock.now());
    await h.clock.advance(10 * S);
    assert.deepEqual(h.sent.map(ids).sort(), [[`${crmSlow.id}:firing`], [`${shopLong.id}:firing`]].sort(), 'the silenced slow query is not sent');
    assert.equal(h.dispatcher.counters.silenced, 1);

    const s2 = await h.silences.add({ matchers: ['db=crm'], durationMs: 3600_000, comment: 'noisy' });
    const crmLong = mk('long_running', { db: 'crm' });
    h.dispatcher.ingest([crmLong], h.clock.now());
    await h.clock.advance(1 * M);
    assert.equal(h.sent.length, 2, 'silenced: not sent');
    await h.silences.expire(s2.id);
    await h.clock.advance(1 * M);
    assert.equal(h.sent.length, 3);
    assert.deepEqual(ids(h.sent[2]!), [`${crmLong.id}:firing`], 'notified once the silence is over');
  });

  it('are durable, listed with their status, expire, and reject what would mute everything', async () => {
    const clock = new FakeClock(T0);
    const path = join(tmp(), 'silences.json');
    const store = new SilenceStore(path, clock, true);
    await store.open();
    const a = await store.add({ matchers: ['db=shop'], durationMs: 2 * 3600_000, comment: 'c', createdBy: 'ann' });
    const b = await store.add({ matchers: [{ name: 'user', op: '!=', value: 'app' }, 'db=~shop|crm'], startsAt: new Date(T0 + 3600_000).toISOString(), endsAt: new Date(T0 + 7200_000).toISOString(), comment: 'later' });
    await assert.rejects(store.add({ matchers: ['db=~.*'], durationMs: 1000, comment: 'x' }), SilenceError);
    await assert.rejects(store.add({ matchers: ['db=shop'], comment: 'no end' }), /endsAt or a duration/);
    await assert.rejects(store.add({ matchers: ['db='], durationMs: 1000, comment: 'x' }), /empty value/);
    await assert.rejects(store.add({ matchers: ['db'], durationMs: 1000, comment: 'x' }), MatcherError);
    await assert.rejects(store.add({ matchers: ['db=shop'], durationMs: 1000, comment: '' }), /comment/);

    const again = new SilenceStore(path, clock, true);
    await again.open();
    assert.deepEqual(again.all().map((s) => [s.id, s.status]).sort(), [[a.id, 'active'], [b.id, 'pending']].sort());
    assert.deepEqual(again.mutes({ db: 'shop', user: 'app' }), [a.id]);
    await clock.advance(3600_000);
    assert.deepEqual(again.mutes({ db: 'crm', user: 'batch' }), [b.id]);
    const ended = await again.expire(a.id);
    assert.equal(ended!.status, 'expired');
    assert.equal(await again.expire('no-such-id'), undefined);
    const third = new SilenceStore(path, clock, true);
    await third.open();
    assert.equal(third.get(a.id)!.status, 'expired');
    assert.deepEqual(third.mutes({ db: 'shop', user: 'app' }), []);
  });
});

describe('inhibition', () => {
  it('a critical alert mutes the warning about the same query; configured rules use equal labels', async () => {
    const h = await harness(config({
      route: { receiver: 'hook', group_by: ['...'], group_wait: '1s', group_interval: '1m' },
      inhibit_rules: [{ source_matchers: ['alertname=LongRunningQuery', 'severity=critical'], target_matchers: ['alertname=SlowQuery'], equal: ['db'] }],
    }));
    const crit = mk('long_running', { severity: 'critical', queryId: 'q-same' });
    const warnSame = mk('slow_query', { queryId: 'q-same' });
    const warnOther = mk('long_running', { queryId: 'q-other' });
    const slowShop = mk('slow_query', { db: 'shop', severity: 'critical' });
    const slowCrm = mk('slow_query', { db: 'crm' });
    h.dispatcher.ingest([crit, warnSame, warnOther, slowShop, slowCrm], h.clock.now());
    await h.clock.advance(1 * S);
    const got = h.sent.flatMap((n) => n.alerts.map((a) => a.id)).sort();
    assert.deepEqual(got, [crit.id, warnOther.id, slowCrm.id].sort());
    assert.equal(h.dispatcher.counters.inhibited, 2);

    // Once the critical problem ends, it inhibits nothing.
    h.dispatcher.ingest([mk('resolved', { severity: 'critical', queryId: 'q-same' })], h.clock.now());
    const later = mk('slow_query', { db: 'shop' });
    h.dispatcher.ingest([later], h.clock.now());
    await h.clock.advance(1 * M);
    assert.ok(h.sent.some((n) => n.alerts.some((a) => a.id === later.id)));
  });
});

describe('a point event\'s end', () => {
  const reference = (at: string) => new Date(Date.parse(at) + POINT_EVENT_MS).toISOString();

  it('equals the date arithmetic on the edges and on random times, in every form an alert\'s time may take', () => {
    const edges = [
      '2026-01-01T00:00:00.000Z', '2026-01-01T00:54:59.999Z', '2026-01-01T00:55:00.000Z', '2026-12-31T23:59:59.999Z',
      '2024-02-28T23:57:00.000Z', '2024-02-29T23:55:00.001Z', '1970-01-01T00:00:00.000Z', '9999-12-31T23:56:00.000Z',
      '+010000-01-01T00:00:00.000Z', '2026-01-01T00:10:00.123456Z', '2026-01-01T00:10:00Z', '2026-01-01T00:10:00.000+02:00',
      '2026-01-01T23:58:00.000-01:30', '2026-06-30T12:04:05.5Z',
    ];
    for (const at of edges) assert.equal(pointEventEnd(at), reference(at), at);
    const rand = prng(11);
    for (let i = 0; i < 20_000; i++) {
      const at = new Date(Math.floor(rand() * 4_102_444_800_000)).toISOString();
      assert.equal(pointEventEnd(at), reference(at), at);
    }
  });
});

describe('the dashboard\'s firing list', () => {
  it('holds the newest up to its limit, lets slow queries lapse, and counts what it lists', () => {
    const recent = new RecentAlerts({ active: 3, resolved: 10, samples: 100 });
    const alerts = Array.from({ length: 5 }, () => toLabeled(mk('slow_query')));
    alerts.forEach((l, i) => recent.add(l, T0 + i));
    const open = toLabeled(mk('long_running'));
    recent.add(open, T0 + 10);
    assert.deepEqual(recent.firing(T0 + 20).map((e) => e.alert.id), [open.id, alerts[4]!.id, alerts[3]!.id]);
    assert.equal(recent.firingCount(T0 + 20), 3);
    recent.add(alerts[3]!, T0 + 30); // seen again: newest
    assert.deepEqual(recent.firing(T0 + 40).map((e) => e.alert.id), [alerts[3]!.id, open.id, alerts[4]!.id]);
    // slow queries lapse POINT_EVENT_MS after they came; a long-running query stays until it is closed
    assert.equal(recent.firingCount(T0 + 4 + POINT_EVENT_MS), 2);
    assert.deepEqual(recent.firing(T0 + 31 + POINT_EVENT_MS).map((e) => e.alert.id), [open.id]);
    assert.equal(recent.firingCount(T0 + 31 + POINT_EVENT_MS), 1);
  });
});

describe('the firing list keeps each alert as it came', () => {
  it('lists the labelled alert and matcher labels the dispatcher made of it', () => {
    const recent = new RecentAlerts();
    const alerts = [mk('slow_query'), mk('long_running', { severity: 'critical', labels: { team: 'payments' } }), mk('regression', { db: undefined, host: 'h1' })];
    alerts.forEach((a, i) => recent.add(toLabeled(a), T0 + i));
    const listed = recent.firing(T0 + 10).reverse();
    assert.deepEqual(listed.map((e) => e.alert), alerts.map((a) => toLabeled(a)));
    assert.deepEqual(listed.map((e) => e.match), alerts.map((a) => matchLabels(toLabeled(a))));
    assert.deepEqual(listed.map((e) => e.receivedAt), [T0, T0 + 1, T0 + 2]);
  });
});

describe('inhibition: what is remembered, and a reload', () => {
  const warnLong = (queryId: string, db = 'shop') => ({ alertname: 'LongRunningQuery', source: 'db', queryId, db, severity: 'warning', type: 'long_running' });
  const slow = (queryId: string, db = 'shop') => ({ alertname: 'SlowQuery', source: 'db', queryId, db, severity: 'warning', type: 'slow_query' });
  const rule = parseConfig({ inhibit_rules: [{ source_matchers: ['type=long_running'], target_matchers: ['type=slow_query'], equal: ['db'] }] }).monitor.inhibitRules;

  it('an alert no rule takes as a source is not remembered; new rules index the firing alerts they are given', async () => {
    const clock = new FakeClock(T0);
    const inh = new Inhibitor(BUILTIN_INHIBIT_RULES, clock);
    inh.firing(warnLong('q1'), 'fpL', Infinity);
    inh.firing(slow('q2'), 'fpS', T0 + 5 * M);
    assert.equal(inh.trackedCount, 0, 'neither is critical: the built-in rule takes neither as a source');
    assert.deepEqual(inh.inhibitedBy(slow('q3'), 'fp3'), []);
    inh.setRules([...BUILTIN_INHIBIT_RULES, ...rule], [
      { labels: warnLong('q1'), fingerprint: 'fpL', until: Infinity },
      { labels: warnLong('q9', 'other'), fingerprint: 'fpGone', until: T0 - 1 }, // ran out before the reload
      { labels: slow('q2'), fingerprint: 'fpS', until: T0 + 5 * M },
    ]);
    assert.equal(inh.trackedCount, 1);
    assert.deepEqual(inh.inhibitedBy(slow('q3'), 'fp3'), ['fpL']);
    assert.deepEqual(inh.inhibitedBy(slow('q3', 'other'), 'fp4'), []);
    inh.ended(warnLong('q1'), 'fpL');
    assert.deepEqual(inh.inhibitedBy(slow('q3'), 'fp3'), []);
    assert.equal(inh.trackedCount, 0);
  });

  it('a monitor reload that adds a rule mutes by the alerts already firing', async () => {
    const base = await freeBasePort();
    const bind = `tcp://127.0.0.1:${base + 2}`;
    const route = { receiver: 'hook', group_by: ['...'], group_wait: '1h', group_interval: '1h' };
    const m = new Monitor({
      bind, dataDir: join(tmp(), 'state'), fsync: false, log: pino({ level: 'silent' }), outputs: [],
      config: config({ route }), notifiers: new Map([['hook', new Recorder('hook')]]),
    });
    await m.start();
    const sender = new AlertSender(bind);
    try {
      const now = new Date().toISOString();
      const long = mk('long_running', { at: now });
      const slowOne = mk('slow_query', { at: now });
      await sender.send([long, slowOne]);
      const inhibitedBy = () => Object.fromEntries(m.view.activeAlerts().map((a) => [a.alert.type, a.inhibitedBy]));
      assert.deepEqual(inhibitedBy(), { long_running: [], slow_query: [] });
      const reloaded = await m.reload(() => config({ route, inhibit_rules: [{ source_matchers: ['type=long_running'], target_matchers: ['type=slow_query'], equal: ['db'] }] }));
      assert.ok(reloaded.ok, JSON.stringify(reloaded));
      assert.deepEqual(inhibitedBy(), { long_running: [], slow_query: [toLabeled(long).fingerprint] });
    } finally {
      sender.close();
      await m.stop();
    }
  });
});

describe('the dashboard\'s firing list against a walk over every alert (the way it lapsed slow queries before)', () => {
  /** what RecentAlerts did before its heap: on every look, walk every firing alert and drop the slow queries that lapsed */
  class WalkingList {
    readonly active = new Map<string, { id: string; type: string; receivedAt: number }>();
    constructor(private readonly limit: number) {}
    add(l: ReturnType<typeof toLabeled>, receivedAt: number): void {
      this.active.delete(l.fingerprint);
      if (l.status !== 'firing') return;
      this.active.set(l.fingerprint, { id: l.id, type: l.alert.type, receivedAt });
      if (this.active.size > this.limit) this.active.delete(this.active.keys().next().value!);
    }
    firing(now: number): string[] {
      for (const [fp, e] of this.active) if (e.type === 'slow_query' && e.receivedAt + POINT_EVENT_MS <= now) this.active.delete(fp);
      return [...this.active.values()].reverse().map((e) => e.id);
    }
  }

  it('lists and counts the same under random alerts, times that go back and forth, and evictions (seeded)', () => {
    const rand = prng(20261203);
    for (let round = 0; round < 20; round++) {
      const limit = 5 + Math.floor(rand() * 40);
      const recent = new RecentAlerts({ active: limit, resolved: 10, samples: 100 });
      const walking = new WalkingList(limit);
      let now = T0;
      for (let step = 0; step < 2_000; step++) {
        // time mostly goes on, now and then back (a clock set back, a replay of older entries)
        now += rand() < 0.05 ? -Math.floor(rand() * 10 * M) : Math.floor(rand() * 20 * S);
        const queryId = `q${Math.floor(rand() * 80)}`; // few queries: the same problem comes back
        const r = rand();
        const type: Alert['type'] = r < 0.6 ? 'slow_query' : r < 0.8 ? 'long_running' : 'resolved';
        const l = toLabeled(mk(type, { queryId }));
        const receivedAt = rand() < 0.01 ? NaN : rand() < 0.1 ? now - Math.floor(rand() * 10 * M) : now;
        recent.add(l, receivedAt);
        walking.add(l, receivedAt);
        if (rand() < 0.2) {
          const at = now + Math.floor((rand() - 0.3) * 10 * M);
          const want = walking.firing(at);
          assert.deepEqual(recent.firing(at).map((e) => e.alert.id), want, `round ${round} step ${step}`);
          assert.equal(recent.firingCount(at), want.length);
        }
      }
    }
  });
});

describe('inhibition: point events run out', () => {
  const crit = (queryId: string) => ({ alertname: 'SlowQuery', source: 'db', queryId, severity: 'critical' });
  const warn = (queryId: string) => ({ alertname: 'LongRunningQuery', source: 'db', queryId, severity: 'warning' });

  it('a source counts until its time, a re-fired one until its new time, and a sweep forgets the rest', async () => {
    const clock = new FakeClock(T0);
    const inh = new Inhibitor(BUILTIN_INHIBIT_RULES, clock);
    inh.firing(crit('q1'), 'fp1', T0 + 5 * M);
    inh.firing(crit('q2'), 'fp2', T0 + 5 * M);
    inh.firing(crit('q1'), 'fp1', T0 + 10 * M); // the same problem again: its earlier time no longer applies
    inh.firing(crit('q3'), 'fp3', Infinity);
    assert.deepEqual(inh.inhibitedBy(warn('q1'), 'w1'), ['fp1']);
    await clock.advance(6 * M);
    inh.sweep();
    assert.deepEqual(inh.inhibitedBy(warn('q1'), 'w1'), ['fp1']);
    assert.deepEqual(inh.inhibitedBy(warn('q2'), 'w2'), []);
    assert.equal(inh.trackedCount, 2, 'fp2 forgotten; fp1 (re-fired) and fp3 (no limit) kept');
    await clock.advance(5 * M);
    inh.sweep();
    assert.deepEqual(inh.inhibitedBy(warn('q1'), 'w1'), []);
    assert.deepEqual(inh.inhibitedBy(warn('q3'), 'w3'), ['fp3']);
    assert.equal(inh.trackedCount, 1);
  });

  it('after the clock went back, an alert fired with an earlier limit is not held up behind a later one', async () => {
    const clock = new FakeClock(T0);
    const inh = new Inhibitor(BUILTIN_INHIBIT_RULES, clock);
    inh.firing(crit('q1'), 'fp1', T0 + 20 * M);
    inh.firing(crit('q2'), 'fp2', T0 + 5 * M); // fired with an earlier limit (the clock was set back)
    await clock.advance(6 * M);
    assert.deepEqual(inh.inhibitedBy(warn('q2'), 'w2'), [], 'out of time: not firing, even before a sweep');
    inh.sweep();
    assert.equal(inh.trackedCount, 1, 'fp2 forgotten; fp1 still in time');
    await clock.advance(15 * M);
    inh.sweep();
    assert.equal(inh.trackedCount, 0);
  });

  it('an alert that ended, or fires again without a limit, is not swept later', async () => {
    const clock = new FakeClock(T0);
    const inh = new Inhibitor(BUILTIN_INHIBIT_RULES, clock);
    inh.firing(crit('q1'), 'fp1', T0 + 5 * M);
    inh.firing(crit('q1'), 'fp1', Infinity); // now firing until ended
    inh.firing(crit('q2'), 'fp2', T0 + 5 * M);
    inh.ended(crit('q2'), 'fp2');
    inh.firing(crit('q2'), 'fp2', Infinity); // fired again after it ended, without a limit
    await clock.advance(6 * M);
    inh.sweep();
    assert.equal(inh.trackedCount, 2);
    assert.deepEqual(inh.inhibitedBy(warn('q1'), 'w1'), ['fp1']);
    assert.deepEqual(inh.inhibitedBy(warn('q2'), 'w2'), ['fp2']);
  });

  it('a sweep every 1,000 alerts keeps memory to the alerts in time', async () => {
    const clock = new FakeClock(T0);
    const inh = new Inhibitor(BUILTIN_INHIBIT_RULES, clock);
    for (let i = 0; i < 5000; i++) {
      inh.firing(crit(`q${i}`), `fp${i}`, clock.now() + 5 * M);
      if (i % 1000 === 999) await clock.advance(2 * M);
    }
    // the alerts of the last 5 minutes (3 rounds of 1,000) are remembered at the last sweep, at most
    assert.ok(inh.trackedCount <= 3000, `${inh.trackedCount}`);
  });
});

describe('rate limits', () => {
  it('token bucket: burst, then the rate', async () => {
    const clock = new FakeClock(T0);
    const b = new TokenBucket({ rate: 2, perMs: M, burst: 3 }, clock);
    assert.deepEqual([b.take(), b.take(), b.take(), b.take()], [true, true, true, false]);
    assert.equal(b.waitMs(), 30 * S);
    await clock.advance(30 * S);
    assert.deepEqual([b.take(), b.take()], [true, false]);
  });

  it('holds notifications back without losing them, and says how many in the next one', async () => {
    const h = await harness(config({
      receivers: ['hook', 'free'],
      route: { receiver: 'hook', group_by: ['...'], group_wait: '1s', group_interval: '1m', routes: [{ matchers: ['db=free'], receiver: 'free' }] },
      rate_limits: [{ receiver: 'hook', rate: 1, per: '1m', burst: 2 }],
    }));
    const burst = Array.from({ length: 6 }, () => mk('slow_query'));
    const free = Array.from({ length: 3 }, () => mk('slow_query', { db: 'free' }));
    h.dispatcher.ingest([...burst, ...free], h.clock.now());
    await h.clock.advance(1 * S);
    const toHook = () => h.sent.filter((n) => n.receiver === 'hook');
    assert.equal(toHook().length, 2, 'the burst');
    assert.equal(h.sent.filter((n) => n.receiver === 'free').length, 3, 'other receivers are not limited');
    assert.equal(h.dispatcher.counters.heldBack.hook, 4);
    await h.clock.advance(1 * M);
    assert.equal(toHook().length, 3);
    assert.equal(toHook()[2]!.heldBack, 4, 'the next notification says how many alerts were held back');
    await h.clock.advance(10 * M);
    const delivered = toHook().flatMap((n) => n.alerts.map((a) => a.id)).sort();
    assert.deepEqual(delivered, burst.map((a) => a.id).sort(), 'every alert is delivered exactly once in the end');
  });
});

describe('notification log replay', () => {
  it('after a restart: pending notifications are sent again with their ids, notified alerts never again', async () => {
    const cfg = config({ route: { receiver: 'hook', group_by: ['source', 'alertname'], group_wait: '10s', group_interval: '1m', repeat_interval: '1h' } });
    const first = await harness(cfg);
    const accepted: Array<[Alert[], number]> = [];
    const ingest = (alerts: Alert[]) => {
      accepted.push([alerts, first.clock.now()]);
      first.dispatcher.ingest(alerts, first.clock.now());
    };
    const l1 = mk('long_running');
    const s1 = mk('slow_query');
    ingest([l1, s1]);
    await first.clock.advance(10 * S);
    assert.equal(first.sent.length, 2);
    // The first one is delivered; the second is still pending when the process dies.
    await first.dispatcher.done(first.sent[0]!, true);
    const s2 = mk('slow_query');
    ingest([s2]); // accepted, in no notification yet
    first.dispatcher.stop();

    const clock = new FakeClock(first.clock.now() + 5 * S);
    const second = await harness(cfg, { clock, accepted, replay: first.journal.entries });
    assert.deepEqual(second.sent.map((n) => n.id), [first.sent[1]!.id], 'the pending notification is handed over again, same id');
    await clock.advance(10 * S); // group_wait of the restored groups
    const after = second.sent.slice(1);
    assert.deepEqual(after.map(ids), [[`${s2.id}:firing`]], 'only what was never notified');
    await clock.advance(30 * M);
    assert.equal(second.sent.length, 2, 'the long_running alert notified before the restart is not repeated (repeat_interval 1h)');
    const all = [...first.sent, ...second.sent.slice(1)].flatMap((n) => n.alerts.map((a) => a.id));
    assert.deepEqual(all.sort(), [l1.id, s1.id, s2.id].sort());
  });

  it('a flush that could not be recorded changes nothing and is decided again later', async () => {
    const h = await harness(config({ route: { receiver: 'hook', group_wait: '1s', group_interval: '1m' } }));
    h.journal.fail = true;
    const a = mk('slow_query');
    h.dispatcher.ingest([a], h.clock.now());
    await h.clock.advance(1 * S);
    assert.equal(h.sent.length, 0);
    h.journal.fail = false;
    await h.clock.advance(1 * M);
    assert.deepEqual(h.sent.map(ids), [[`${a.id}:firing`]]);
  });
});

describe('deliveries', () => {
  class Flaky implements Notifier {
    readonly kind = 'test';
    calls: string[] = [];
    constructor(readonly name: string, private readonly plan: Array<number | 'ok'>) {}
    async send(n: Notification): Promise<void> {
      this.calls.push(n.id);
      const step = this.plan.shift() ?? 'ok';
      if (step !== 'ok') throw new DeliveryError(`HTTP ${step}`, step >= 500, step);
    }
  }
  const note = (id: string, groupKey = 'g'): Notification => ({
    id, receiver: 'r', groupKey, groupLabels: {}, commonLabels: {}, commonAnnotations: {}, status: 'firing', alerts: [],
  });

  it('retries 5xx with backoff (and keeps trying across rounds while the receiver is down), never 4xx', async () => {
    const clock = new FakeClock(T0);
    const notifier = new Flaky('r', [503, 503, 503, 503, 'ok', 400]);
    const done: Array<[string, boolean]> = [];
    const d = new Deliveries({
      clock,
      notifiers: new Map([['r', notifier]]),
      retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.5 },
      roundPauseMs: 5000,
      onDone: (n, ok) => void done.push([n.id, ok]),
    });
    d.send(note('a'));
    d.send(note('b'));
    await clock.advance(60 * S);
    assert.deepEqual(done, [['a', true], ['b', false]]);
    assert.deepEqual(notifier.calls, ['a', 'a', 'a', 'a', 'a', 'b'], 'a: 3 attempts, a pause, then 2 more; b: one 400, not retried');
    await d.stop(100);
  });

  it('keeps the order within a group, and sends other groups meanwhile', async () => {
    const clock = new FakeClock(T0);
    const notifier = new Flaky('r', [503, 'ok', 'ok', 'ok']);
    const done: string[] = [];
    const d = new Deliveries({ clock, notifiers: new Map([['r', notifier]]), retry: { maxAttempts: 5, baseDelayMs: 100, random: () => 0.5 }, onDone: (n) => void done.push(n.id) });
    d.send(note('g1-1', 'g1'));
    d.send(note('g1-2', 'g1'));
    d.send(note('g2-1', 'g2'));
    await clock.advance(10 * S);
    assert.deepEqual(done, ['g2-1', 'g1-1', 'g1-2']);
    await d.stop(100);
  });
});

describe('monitor in-process', () => {
  for (const compactBytes of [undefined, 1]) {
    it(`acks and dedups over ZeroMQ, notifies once across a restart, answers silence requests${compactBytes ? ' (a snapshot whenever the journal outgrows the last one)' : ''}`, async () => {
      const base = await freeBasePort();
      const bind = `tcp://127.0.0.1:${base + 2}`;
      const dir = tmp();
      const log = pino({ level: 'silent' });
      const cfg = config({ route: { receiver: 'hook', group_by: ['...'], group_wait: 0, group_interval: '1s' } });
      const plain: Alert[] = [];
      const start = async (rec: Recorder) => {
        const m = new Monitor({
          bind, dataDir: join(dir, 'state'), fsync: false, log, config: cfg, notifiers: new Map([['hook', rec]]), ...(compactBytes ? { compactBytes } : {}),
          outputs: [{ name: 'plain', open: async () => {}, deliver: async (a) => void plain.push(...a), close: async () => {} }],
        });
        await m.start();
        return m;
      };
      const dealer = new zmq.Dealer({ linger: 0, receiveTimeout: 5000 });
      dealer.connect(bind);
      let rid = 0;
      const ask = async (frames: Buffer[]) => {
        await dealer.send(frames);
        return dealer.receive();
      };
      const sendAlerts = async (alerts: Alert[]) => {
        const [h] = await ask([encodeHeader({ v: PROTOCOL_VERSION, t: 'alerts', rid: ++rid, n: alerts.length }), encodeAlerts(alerts)]);
        return decodeHeader(h);
      };
      const silence = async (t: SilenceRequestHeader['t'], body: object) => {
        const [h, payload] = await ask([encodeHeader({ v: PROTOCOL_VERSION, t, rid: ++rid }), encodeSilenceBody(body as never)]);
        const head = decodeHeader(h);
        if (head.t === 'err') return head;
        assert.equal(head.t, 'silence-reply');
        return decodeSilences(payload, (head as { n: number }).n);
      };

      const rec1 = new Recorder('hook');
      let m = await start(rec1);
      try {
        const a = mk('slow_query');
        const l = mk('long_running');
        assert.deepEqual(await sendAlerts([a, l]), { v: PROTOCOL_VERSION, t: 'alerts-ack', rid, accepted: 2, dup: 0 });
        assert.deepEqual(await sendAlerts([a]), { v: PROTOCOL_VERSION, t: 'alerts-ack', rid, accepted: 0, dup: 1 });
        await waitFor('2 notifications', () => rec1.got.length >= 2, 10_000, 20);
        const added = await silence('silence-add', { matchers: ['db=crm'], durationMs: 3600_000, comment: 'test', createdBy: 't' });
        assert.ok(Array.isArray(added) && added.length === 1 && added[0]!.status === 'active');
        const badSilence = await silence('silence-add', { matchers: ['db=~('], durationMs: 1000, comment: 'x' });
        assert.equal((badSilence as { code: string }).code, 'BAD_SILENCE');
        const listed = await silence('silence-ls', {});
        assert.deepEqual((listed as Array<{ id: string }>).map((s) => s.id), [(added as Array<{ id: string }>)[0]!.id]);
        assert.equal(m.view.counters().receivers.hook!.sent, 2);
        assert.equal(m.view.activeAlerts().length, 2);
        await m.stop();

        const rec2 = new Recorder('hook');
        m = await start(rec2);
        const muted = mk('slow_query', { db: 'crm' });
        const r = mk('resolved', { queryId: l.queryId });
        assert.deepEqual(await sendAlerts([a, muted, r]), { v: PROTOCOL_VERSION, t: 'alerts-ack', rid, accepted: 2, dup: 1 });
        await waitFor('the resolve', () => rec2.got.length >= 1, 10_000, 20);
        await sleep(1500); // a group interval: nothing else may come
        assert.deepEqual(rec2.got.map(ids), [[`${r.id}:resolved`]], 'the silenced alert is muted; nothing notified before the restart is sent again');
        assert.equal(rec2.got[0]!.alerts[0]!.fingerprint, rec1.got.find((n) => n.alerts[0]!.id === l.id)!.alerts[0]!.fingerprint);
        const expired = await silence('silence-expire', { id: (listed as Array<{ id: string }>)[0]!.id });
        assert.equal((expired as Array<{ status: string }>)[0]!.status, 'expired');
        assert.equal(((await silence('silence-expire', { id: 'nope' })) as { code: string }).code, 'NOT_FOUND');
        assert.deepEqual(plain.map((x) => x.id), [a.id, l.id, muted.id, r.id], 'the outputs get every accepted alert once');
      } finally {
        dealer.close();
        await m.stop();
      }
    });
  }

  for (const compactBytes of [undefined, 1]) {
    it(`forgets accepted ids after the retention, by their acceptance times across a restart${compactBytes ? ' (from the snapshot)' : ' (from the journal)'}`, async () => {
      const base = await freeBasePort();
      const bind = `tcp://127.0.0.1:${base + 2}`;
      const dir = join(tmp(), 'state');
      const clock = new FakeClock(T0);
      const start = async () => {
        const m = new Monitor({
          bind, dataDir: dir, fsync: false, log: pino({ level: 'silent' }), outputs: [], clock, dedup: { retentionMs: 10 * M, maxIds: 1000 },
          config: config({ route: { receiver: 'hook', group_by: ['...'], group_wait: 0, group_interval: '1s' } }), notifiers: new Map([['hook', new Recorder('hook')]]),
          ...(compactBytes !== undefined && { compactBytes }),
        });
        await m.start();
        return m;
      };
      const sender = new AlertSender(bind);
      const ack = (accepted: number, dup: number) => ({ v: PROTOCOL_VERSION, t: 'alerts-ack', rid: sender.rid, accepted, dup });
      let m = await start();
      try {
        const [a, b, c] = [mk('slow_query'), mk('slow_query'), mk('slow_query')];
        assert.deepEqual(await sender.send([a]), ack(1, 0));
        await clock.advance(6 * M);
        assert.deepEqual(await sender.send([a, b]), ack(1, 1), 'within the retention: a duplicate');
        await m.stop();
        m = await start();
        assert.equal(m.view.counters().dedupIds, 2);
        await clock.advance(5 * M); // a is 11 min old, b 5 min
        assert.deepEqual(await sender.send([c]), ack(1, 0));
        assert.deepEqual(await sender.send([a, b]), ack(1, 1), 'a was forgotten by its own time, not the restart\'s');
        const counters = m.view.counters();
        assert.equal(counters.dedupForgottenForAge, 1);
        assert.equal(counters.dedupForgottenForRoom, 0);
      } finally {
        sender.close();
        await m.stop();
      }
    });
  }

  it('an output still writing holds up neither the next journal write nor its ack; stop waits for it, order kept', async () => {
    const base = await freeBasePort();
    const bind = `tcp://127.0.0.1:${base + 2}`;
    const delivered: string[][] = [];
    const gates: Array<() => void> = [];
    let released = false;
    // an output whose every write hangs until the test lets it finish (a slow disk under alerts.jsonl)
    const slow: AlertOutput = {
      name: 'slow', open: async () => {}, close: async () => {},
      deliver: (a) => {
        const ids = a.map((x) => x.id);
        return new Promise<void>((resolve) => {
          const open = () => { delivered.push(ids); resolve(); };
          if (released) open();
          else gates.push(open);
        });
      },
    };
    const m = new Monitor({
      bind, dataDir: join(tmp(), 'state'), fsync: false, log: pino({ level: 'silent' }), outputs: [slow],
      config: config({ route: { receiver: 'hook', group_by: ['...'], group_wait: 0, group_interval: '1s' } }), notifiers: new Map([['hook', new Recorder('hook')]]),
    });
    await m.start();
    const sender = new AlertSender(bind);
    let stopped = false;
    try {
      const [a, b, c] = [mk('slow_query'), mk('slow_query'), mk('long_running')];
      assert.deepEqual(await sender.send([a]), { v: PROTOCOL_VERSION, t: 'alerts-ack', rid: sender.rid, accepted: 1, dup: 0 });
      await waitFor('the first write to begin', () => gates.length === 1, 5000, 5);
      // the first write hangs: the next message is journaled and acked all the same
      assert.deepEqual(await sender.send([b, c]), { v: PROTOCOL_VERSION, t: 'alerts-ack', rid: sender.rid, accepted: 2, dup: 0 });
      await waitFor('the second write to be handed over', () => gates.length === 2, 5000, 5);
      assert.deepEqual(delivered, []);
      const stopping = m.stop().then(() => (stopped = true));
      await sleep(200);
      assert.equal(stopped, false, 'stop waits for the writes in flight');
      for (const open of gates.splice(0)) open();
      await stopping;
      assert.deepEqual(delivered, [[a.id], [b.id, c.id]]);
    } finally {
      sender.close();
      if (!stopped) {
        released = true;
        for (const open of gates.splice(0)) open();
        await m.stop();
      }
    }
  });
});

describe('dispatcher: configuration reload (reconfigure)', () => {
  const routeTo = (receiver: string, extra: Record<string, unknown> = {}) =>
    config({ receivers: ['A', 'B'], route: { receiver, group_by: ['...'], group_wait: '10s', group_interval: '1m', repeat_interval: '4h', ...extra } });

  it('alerts accepted before go to the old receiver, after to the new one; the end of a problem goes where it began', async () => {
    const h = await harness(routeTo('A'));
    const l1 = mk('long_running');
    const waiting = mk('slow_query');
    h.dispatcher.ingest([l1], h.clock.now());
    await h.clock.advance(10 * S); // l1 notified to A
    h.dispatcher.ingest([waiting], h.clock.now()); // still in its group_wait at the reload
    const b = routeTo('B');
    const r = h.dispatcher.reconfigure(new Route(b.route), new Set(['A', 'B']));
    assert.deepEqual(r, { kept: 0, retired: 2, replaced: 0 });
    const after = mk('slow_query');
    h.dispatcher.ingest([after], h.clock.now());
    const end = mk('resolved', { queryId: l1.queryId });
    h.dispatcher.ingest([end], h.clock.now());
    await h.clock.advance(2 * M);
    const to = (receiver: string) => h.sent.filter((n) => n.receiver === receiver).flatMap(ids).sort();
    assert.deepEqual(to('A'), [`${l1.id}:firing`, `${waiting.id}:firing`, `${end.id}:resolved`].sort());
    assert.deepEqual(to('B'), [`${after.id}:firing`]);
    assert.equal(h.dispatcher.groupCount(), 0, 'retired groups go once they are empty');
  });

  it('a group whose route and receiver stay carries on; a removed receiver\'s alerts are placed again; a flush decided before the reload settles the retired group', async () => {
    const journal = new MemJournal();
    const h = await harness(routeTo('A'), { journal });
    const a1 = mk('slow_query');
    h.dispatcher.ingest([a1], h.clock.now());
    const kept = h.dispatcher.reconfigure(new Route(routeTo('A', { group_interval: '2m' }).route), new Set(['A', 'B']));
    assert.deepEqual(kept, { kept: 1, retired: 0, replaced: 0 });
    await h.clock.advance(10 * S);
    assert.deepEqual(h.sent.map(ids), [[`${a1.id}:firing`]]);
    const a2 = mk('slow_query');
    h.dispatcher.ingest([a2], h.clock.now());
    const moved = h.dispatcher.reconfigure(new Route(config({ receivers: ['B'], route: { receiver: 'B', group_by: ['...'], group_wait: '10s' } }).route), new Set(['B']));
    assert.equal(moved.replaced, 1, 'the alert waiting for A (gone) is placed again');
    await h.clock.advance(10 * S);
    assert.deepEqual(h.sent.slice(1).map((n) => [n.receiver, ...ids(n)]), [['B', `${a2.id}:firing`]]);
  });

  it('a flush decided before a reload settles its group though the reload retired it meanwhile, and a retired group survives a snapshot', async () => {
    const h = await harness(routeTo('A'));
    const a1 = mk('long_running');
    h.dispatcher.ingest([a1], h.clock.now());
    await h.clock.advance(10 * S);
    const key = h.sent[0]!.groupKey;
    await h.dispatcher.done(h.sent[0]!, true);
    h.dispatcher.reconfigure(new Route(routeTo('B').route), new Set(['A', 'B']));
    const state = h.dispatcher.state();
    assert.equal(state.groups.length, 1);
    assert.ok(state.groups[0]!.key.startsWith(`${key}@retired:`), state.groups[0]!.key);
    // A record with the old key (written while the reload happened) finds the retired group.
    const end = mk('resolved', { queryId: a1.queryId });
    h.dispatcher.ingest([end], h.clock.now());
    h.dispatcher.applyFlush({ group: key, receiver: 'A', seq: 9, settled: [[h.sent[0]!.alerts[0]!.fingerprint, end.id]] });
    assert.equal(h.dispatcher.groupCount(), 1);
    await h.clock.advance(2 * M);
    assert.equal(h.sent.length, 1, 'settled by the record: not notified again');
    // Restored from the snapshot with the new routes, the retired group still goes to A.
    const fresh = await harness(routeTo('B'));
    fresh.dispatcher.stop();
    const d = new Dispatcher({
      route: new Route(routeTo('B').route), receivers: new Set(['A', 'B']), clock: fresh.clock, silences: fresh.silences,
      inhibitor: new Inhibitor(BUILTIN_INHIBIT_RULES, fresh.clock), rateLimits: new RateLimits([], fresh.clock), journal: new MemJournal(), deliver: (n) => fresh.sent.push(n),
    });
    d.restore(state);
    d.start();
    d.ingest([mk('resolved', { queryId: a1.queryId, id: 'other-end' })], fresh.clock.now());
    await fresh.clock.advance(2 * M);
    assert.deepEqual(fresh.sent.map((n) => [n.receiver, ...ids(n)]), [['A', 'other-end:resolved']], 'the end of the problem goes to A, where it began');
    d.stop();
  });
});

describe('label-set fingerprints', () => {
  it('stay what they were: groups and notifications in a journal or snapshot written by an older monitor keep their keys', () => {
    // values of the first implementation (one sha256 update per key, NUL, value, NUL)
    assert.equal(labelsFingerprint({ alertname: 'slow_query', source: 'db1', severity: 'warning' }), '4bbaf48a172efe74');
    assert.equal(labelsFingerprint({ severity: 'warning', alertname: 'slow_query', source: 'db1' }), '4bbaf48a172efe74', 'order-independent');
    assert.equal(labelsFingerprint({}), 'e3b0c44298fc1c14');
    assert.equal(labelsFingerprint({ b: 'éé 日本', a: 'x' }), '240867241a20ac28');
  });
});
