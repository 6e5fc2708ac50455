import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../bench/harness/ports.js';
import { hasExited, startProcess, stop, type Proc } from '../bench/harness/processes.js';
import { waitFor } from '../bench/harness/wait.js';
import type { Alert } from '../src/model/record.js';
import { commonOf, toLabeled, POINT_EVENT_MS, type LabeledAlert, type Notification } from '../src/monitor/model.js';
import { AlertmanagerNotifier, createNotifier, deliverWithRetry, parseReceiverConfig } from '../src/monitor/notifiers/index.js';

// Against a real Prometheus Alertmanager (Debian's prometheus-alertmanager), private to this test: loopback,
// a random port, storage in a temp dir, clustering off, one receiver that drops everything.

const BIN = '/usr/bin/prometheus-alertmanager';

interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  updatedAt: string;
  status: { state: string };
}

let dir = '';
let proc: Proc | undefined;
let base = '';

async function isReady(): Promise<boolean> {
  try {
    return (await fetch(`${base}/-/ready`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

async function startAlertmanager(): Promise<void> {
  if (!existsSync(BIN)) throw new Error(`${BIN} not found: run .ci/install-system.sh (as root) to install Debian's prometheus-alertmanager`);
  dir = await mkdtemp(join(tmpdir(), 'slowq-alertmanager-'));
  const config = join(dir, 'alertmanager.yml');
  await writeFile(config, ['route:', '  receiver: blackhole', '  group_wait: 0s', 'receivers:', '  - name: blackhole', ''].join('\n'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const am = (proc = startProcess('alertmanager', BIN, [
    `--config.file=${config}`,
    `--storage.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--cluster.listen-address=',
    '--log.level=warn',
  ]));
  try {
    await waitFor(`alertmanager ready on ${base}`, async () => {
      if (hasExited(am)) throw new Error('it exited');
      return isReady();
    }, 30_000, 100);
  } catch (err) {
    throw new Error(`alertmanager did not become ready on ${base} (${(err as Error).message}); its output:\n${am.output()}`);
  }
}

async function stopAlertmanager(): Promise<void> {
  if (proc) await stop(proc, 5000);
  if (dir) await rm(dir, { recursive: true, force: true });
}

it('prometheus-alertmanager is installed', () => {
  assert.ok(existsSync(BIN), `${BIN} not found: run .ci/install-system.sh (as root) to install Debian's prometheus-alertmanager`);
});

async function amAlerts(query = ''): Promise<AmAlert[]> {
  const res = await fetch(`${base}/api/v2/alerts${query}`);
  assert.equal(res.status, 200);
  return (await res.json()) as AmAlert[];
}

async function find(queryId: string, query = ''): Promise<AmAlert | undefined> {
  return (await amAlerts(query)).find((a) => a.labels.queryId === queryId);
}

/** Polls (bounded) until `check` gives a value: Alertmanager applies posted alerts asynchronously. */
const eventually = <T>(what: string, check: () => Promise<T | undefined>): Promise<T> => waitFor(what, check, 5_000, 50);

function alert(type: Alert['type'], queryId: string, over: Partial<Alert> = {}): Alert {
  const now = Date.now();
  return {
    id: `${type}-${queryId}`,
    type,
    source: 'db-01',
    queryId,
    fingerprint: 'select * from orders where id = ?',
    fingerprintId: '0xfeed',
    sql: 'select * from orders where id = 7',
    durationMs: type === 'slow_query' ? 2500 : 15_000,
    startedAt: new Date(now - 15_000).toISOString(),
    at: new Date(now).toISOString(),
    severity: 'critical',
    db: 'shop',
    user: 'app',
    ...over,
  };
}

let seq = 0;
function notification(alerts: LabeledAlert[]): Notification {
  return {
    id: `am/g/${++seq}`,
    receiver: 'am',
    groupKey: '{}:{}',
    groupLabels: {},
    commonLabels: commonOf(alerts.map((a) => a.labels)),
    commonAnnotations: commonOf(alerts.map((a) => a.annotations)),
    status: alerts.every((a) => a.status === 'resolved') ? 'resolved' : 'firing',
    alerts,
  };
}

function notifier(resendMs?: number): AlertmanagerNotifier {
  const cfg = parseReceiverConfig({ name: 'am', alertmanager: { url: base, ...(resendMs ? { resend_ms: resendMs } : {}) } }, 'receivers[0]');
  const n = createNotifier(cfg);
  assert.ok(n instanceof AlertmanagerNotifier);
  return n;
}

describe('alertmanager notifier against prometheus-alertmanager', () => {
  before(startAlertmanager);
  after(stopAlertmanager);

  it('a long_running alert is active with its labels; its resolve makes it inactive', async () => {
    const am = notifier();
    try {
      const opened = alert('long_running', 'lr-1');
      await am.send(notification([toLabeled(opened)]));
      const active = await eventually('the long_running alert', async () => {
        const a = await find('lr-1');
        return a?.status.state === 'active' ? a : undefined;
      });
      assert.deepEqual(active.labels, {
        alertname: 'LongRunningQuery', source: 'db-01', queryId: 'lr-1', fingerprintId: '0xfeed', severity: 'critical', db: 'shop', user: 'app',
      });
      assert.equal(active.annotations.sql, opened.sql);
      assert.equal(active.annotations.type, 'long_running');
      assert.equal(Date.parse(active.startsAt), Date.parse(opened.startedAt));
      assert.ok(Date.parse(active.endsAt) > Date.now(), 'no end yet: Alertmanager holds it for its resolve_timeout');
      assert.equal(am.firingFingerprints().length, 1, 'kept for re-sending');

      await am.send(notification([toLabeled(alert('resolved', 'lr-1'), opened)]));
      assert.deepEqual(am.firingFingerprints(), [], 'a resolved alert is forgotten');
      await eventually('the alert to leave the active list', async () => ((await find('lr-1', '?active=true')) ? undefined : true));
      assert.equal(await find('lr-1'), undefined, 'not listed at all once ended');
    } finally {
      await am.close();
    }
  });

  it('a stalled alert closes its long_running alert too', async () => {
    const am = notifier();
    try {
      const opened = alert('long_running', 'st-1');
      await am.send(notification([toLabeled(opened)]));
      await eventually('the long_running alert', () => find('st-1', '?active=true'));
      await am.send(notification([toLabeled(alert('stalled', 'st-1'), opened)]));
      await eventually('the alert to end', async () => ((await find('st-1')) ? undefined : true));
    } finally {
      await am.close();
    }
  });

  it('re-sends firing alerts until resolved (by its timer and on demand)', async () => {
    const am = notifier(200);
    try {
      await am.send(notification([toLabeled(alert('long_running', 'rs-1'))]));
      const first = await eventually('the alert', () => find('rs-1', '?active=true'));
      // The timer re-sends: Alertmanager sees the alert again (updatedAt moves on).
      const again = await eventually('a re-send', async () => {
        const a = await find('rs-1', '?active=true');
        return a && Date.parse(a.updatedAt) > Date.parse(first.updatedAt) ? a : undefined;
      });
      assert.equal(again.status.state, 'active');
      await am.resend();
      const third = await find('rs-1', '?active=true');
      assert.ok(third && Date.parse(third.updatedAt) >= Date.parse(again.updatedAt));
    } finally {
      await am.close();
    }
  });

  it('a slow_query appears with its endsAt (a point event) and is not re-sent', async () => {
    const am = notifier();
    try {
      const sq = alert('slow_query', 'sq-1');
      await am.send(notification([toLabeled(sq)]));
      const a = await eventually('the slow_query alert', () => find('sq-1', '?active=true'));
      assert.equal(a.labels.alertname, 'SlowQuery');
      assert.equal(a.labels.severity, 'critical');
      assert.equal(Date.parse(a.endsAt), Date.parse(sq.at) + POINT_EVENT_MS);
      assert.deepEqual(am.firingFingerprints(), []);
    } finally {
      await am.close();
    }
  });

  it('extra labels with names Alertmanager refuses are renamed rather than failing the post', async () => {
    const am = notifier();
    try {
      await am.send(notification([toLabeled(alert('slow_query', 'lb-1', { labels: { 'app.name': 'shop-api', '9th': 'x' } }))]));
      const a = await eventually('the alert', () => find('lb-1'));
      assert.equal(a.labels.app_name, 'shop-api');
      assert.equal(a.labels._9th, 'x');
    } finally {
      await am.close();
    }
  });

  it('an alert Alertmanager rejects (400) is a permanent failure, not retried', async () => {
    const am = notifier();
    try {
      const bad = toLabeled(alert('slow_query', 'bad-1'));
      bad.endsAt = new Date(Date.parse(bad.startsAt) - 60_000).toISOString(); // ends before it starts
      const r = await deliverWithRetry(am, notification([bad]), { sleep: async () => {} });
      assert.equal(r.ok, false);
      assert.equal(r.attempts, 1);
      assert.equal(r.error?.status, 400);
      assert.equal(r.error?.retryable, false);
    } finally {
      await am.close();
    }
  });
});
