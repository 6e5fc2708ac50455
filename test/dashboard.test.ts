import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { toLabeled } from '../src/monitor/model.js';
import type { QueryClassSummary } from '../src/model/query-class.js';
import { startHttpServer, type HttpServer } from '../src/monitor/http/server.js';
import { FakeMonitorView, makeActive, makeAlert } from './support/fake-monitor-view.js';
import { waitFor } from '../bench/harness/wait.js';

// The dashboard in a real browser (Debian's chromium, headless, driven by playwright-core) against the HTTP
// server on a fake view: live alerts without a reload, the silence form, expanding SQL and plans, and a screenshot.

const CHROMIUM = '/usr/bin/chromium';
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** a copy of the screenshot for people to look at */
const SHARED_SCREENSHOT = '/tmp/slowq-dashboard.png';

const LONG_SQL = `SELECT o.id, o.created_at, o.total, c.email, c.name, a.street, a.city, a.zip
FROM orders o
JOIN customers c ON c.id = o.customer_id
JOIN addresses a ON a.id = o.shipping_address_id
WHERE o.created_at > NOW() - INTERVAL 30 DAY AND o.status IN ('pending', 'paid', 'shipped') AND c.country = 'DE'
ORDER BY o.created_at DESC
LIMIT 500`;

/** auto_explain's plan of the slow UPDATE (PostgreSQL, text format) */
const PLAN = `Update on invoices  (cost=0.00..2041.00 rows=0 width=0)
  ->  Seq Scan on invoices  (cost=0.00..2041.00 rows=1 width=38)
        Filter: (id = 99812)`;

function populate(view: FakeMonitorView): void {
  const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
  const lr = makeAlert({ type: 'long_running', severity: 'critical', source: 'db-01', db: 'shop', durationMs: 184_000, sql: LONG_SQL, fingerprint: 'select o.id, o.created_at, … from orders o join customers c … limit ?', fingerprintId: '0x3F2A9C1D7E5B4A10', startedAt: ago(190_000), at: ago(6_000) });
  const sq = makeAlert({ type: 'slow_query', severity: 'warning', source: 'db-02', db: 'billing', user: 'invoicer', durationMs: 4_250, sql: 'UPDATE invoices SET state = \'sent\' WHERE id = 99812', fingerprint: 'update invoices set state = ? where id = ?', fingerprintId: '0x91B0E4C2AA07F311', startedAt: ago(130_000), at: ago(126_000), plan: PLAN, planFacts: { fullScan: true, filesort: false, mergePasses: 0 } });
  const muted = makeAlert({ type: 'slow_query', severity: 'info', source: 'db-02', db: 'reports', user: 'etl', durationMs: 1_800, sql: 'SELECT count(*) FROM events WHERE day = \'2026-11-21\'', fingerprintId: '0x0C55D2E19B3F8E42', startedAt: ago(260_000), at: ago(258_000) });
  view.active = [makeActive(lr, { receivers: ['file', 'slack-oncall'] }), makeActive(sq), makeActive(muted, { silencedBy: ['s-1'] })];
  const prev = makeAlert({ type: 'long_running', severity: 'critical', source: 'db-01', durationMs: 12_000 });
  view.resolved = [
    toLabeled(makeAlert({ type: 'resolved', source: 'db-01', db: 'shop', durationMs: 47_300, queryId: prev.queryId, at: ago(420_000), sql: 'DELETE FROM sessions WHERE expires_at < NOW()' }), prev),
    toLabeled(makeAlert({ type: 'stalled', source: 'db-03', db: 'crm', durationMs: 612_000, at: ago(1_900_000), sql: 'ALTER TABLE contacts ADD COLUMN score INT' })),
  ];
  view.slowest = [
    { fingerprintId: '0x3F2A9C1D7E5B4A10', fingerprint: 'select o.id, o.created_at, o.total, c.email, c.name, a.street, a.city, a.zip from orders o join customers c on c.id = o.customer_id join addresses a on a.id = o.shipping_address_id where o.created_at > now() - interval ? day and o.status in(?+) and c.country = ? order by o.created_at desc limit ?', count: 4, maxMs: 184_000, totalMs: 260_000, sampleSql: LONG_SQL, sources: ['db-01'], lastAt: Date.now() - 6_000 },
    { fingerprintId: '0x91B0E4C2AA07F311', fingerprint: 'update invoices set state = ? where id = ?', count: 17, maxMs: 4_250, totalMs: 38_000, sampleSql: 'UPDATE invoices SET state = \'sent\' WHERE id = 99812', sources: ['db-02'], lastAt: Date.now() - 126_000 },
  ];
  view.countersNow.receivers = {
    file: { sent: 42, failed: 0, retries: 0, heldBack: 0, pending: 0 },
    'slack-oncall': { sent: 12, failed: 1, retries: 3, heldBack: 2, pending: 0 },
  };
  view.countersNow.activeSilences = 1;
}

/** What consumer-c0 reports of its statement classes: the orders query got slower in the last 15 minutes. */
const CLASSES: QueryClassSummary[] = [
  {
    source: 'db-01', fingerprintId: '0x3F2A9C1D7E5B4A10', db: 'shop', until: 0, lastTs: Date.now() - 6_000,
    fingerprint: 'select o.id, o.created_at, … from orders o join customers c … limit ?', example: LONG_SQL,
    count: 1873, totalMs: 2_910_000, p95Ms: 9_600, maxMs: 184_000,
    trendCount: [150, 160, 149, 171, 158, 163, 150, 166, 155, 160, 150, 141],
    trendP95Ms: [310, 290, 305, 320, 300, 315, 298, 302, 311, 8_900, 9_400, 9_800],
    recent: [
      { ts: Date.now() - 6_000, durationMs: 9_100, queryId: 'db-01:4711' },
      { ts: Date.now() - 19_000, durationMs: 8_700, queryId: 'db-01:4702' },
    ],
  },
  {
    source: 'db-02', fingerprintId: '0x91B0E4C2AA07F311', db: 'billing', until: 0, lastTs: Date.now() - 126_000,
    fingerprint: 'update invoices set state = ? where id = ?', example: 'UPDATE invoices SET state = \'sent\' WHERE id = 99812',
    count: 640, totalMs: 410_000, p95Ms: 1_900, maxMs: 4_250,
    trendCount: [50, 52, 55, 51, 49, 57, 60, 52, 55, 50, 48, 41], trendP95Ms: [1_800, 1_900, 1_850, 1_900, 1_870, 1_880, 1_920, 1_900, 1_890, 1_910, 1_900, 1_880],
    recent: [{ ts: Date.now() - 126_000, durationMs: 4_250, queryId: 'db-02:88' }],
  },
];

/** Reports growing counters every `stepMs` (as services do) so the sampler draws a throughput history; returns stop. */
function feedStats(view: FakeMonitorView, stepMs: number): () => void {
  const acked: Record<string, number> = { 'db-01': 0, 'db-02': 0 };
  let applied = 0;
  let i = 0;
  const step = () => {
    const at = Date.now();
    acked['db-01']! += Math.round((stepMs / 1000) * (2400 + 900 * Math.sin(i / 3)));
    acked['db-02']! += Math.round((stepMs / 1000) * (700 + (i % 5) * 90));
    applied += Math.round((stepMs / 1000) * 3100);
    i++;
    view.stats.update([
      { service: 'client-db-01', kind: 'client', source: 'db-01', at, counters: { read: acked['db-01']! + 40, records: acked['db-01']! + 25, recordsAcked: acked['db-01']!, batches: i + 1, acked: i } },
      { service: 'client-db-02', kind: 'client', source: 'db-02', at, counters: { read: acked['db-02']!, records: acked['db-02']!, recordsAcked: acked['db-02']!, batches: i, acked: i } },
      { service: 'master', kind: 'master', at, counters: { batches: i * 3, consumersAlive: 2 } },
      { service: 'consumer-c0', kind: 'consumer', at, counters: { applied: Math.round(applied * 0.6), outbox: 0, openQueries: 3 }, classes: CLASSES.map((c) => ({ ...c, until: at })) },
      { service: 'consumer-c1', kind: 'consumer', at, counters: { applied: Math.round(applied * 0.4), outbox: 2, openQueries: 1 } },
    ]);
  };
  step();
  const timer = setInterval(step, stepMs);
  return () => clearInterval(timer);
}

/** Waits (bounded) until the server has sampled `n` throughput points. */
async function waitForHistory(url: string, n: number): Promise<void> {
  await waitFor(`${n} throughput points`, async () => {
    const body = (await (await fetch(`${url}/api/stats`)).json()) as { throughput: unknown[] };
    return body.throughput.length >= n;
  }, 10_000, 100);
}

async function assertPng(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    assert.ok(size > 1000, `${path} is not empty (${size} bytes)`);
    const head = Buffer.alloc(8);
    await fh.read(head, 0, 8, 0);
    assert.deepEqual([...head], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  } finally {
    await fh.close();
  }
}

describe('dashboard in headless Chromium', () => {
  let dir: string;
  let browser: Browser | undefined;
  const view = new FakeMonitorView();
  let srv: HttpServer;
  let page: Page;
  const pageErrors: string[] = [];
  let stopFeeding: (() => void) | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slowq-dashboard-'));
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install it with .ci/install-system.sh (as root)`);
    populate(view);
    srv = await startHttpServer(view, { host: '127.0.0.1', port: 0, statsIntervalMs: 150 });
    stopFeeding = feedStats(view, 100);
    await waitForHistory(srv.url, 25);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, timeout: 60_000 });
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 1000 }, colorScheme: 'dark', locale: 'en-GB', timezoneId: 'UTC' });
    page = await ctx.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      // the browser logs every non-2xx fetch; the 400 of the bad-matcher test is expected
      if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) pageErrors.push(msg.text());
    });
  });

  after(async () => {
    stopFeeding?.();
    await browser?.close();
    await srv?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('shows firing alerts, resolved ones, slowest fingerprints, pipeline and silences', async () => {
    await page.goto(srv.url, { waitUntil: 'load' });
    await page.waitForSelector('#conn.live', { timeout: 15_000 });
    await page.waitForSelector('.alert', { timeout: 15_000 });
    assert.equal(await page.locator('#firing-body .alert').count(), 3);
    assert.equal(await page.locator('#firing-body .alert.critical').count(), 1);
    assert.equal(await page.locator('#firing-body .alert.muted').count(), 1, 'the silenced alert is dimmed');
    assert.equal(await page.locator('#resolved-body tbody tr').count(), 2);
    assert.equal(await page.locator('#slowest-body tbody tr').count(), 2);
    assert.equal(await page.locator('#pipeline-body tbody tr').count(), 5);
    assert.ok(await page.locator('#chart polyline[data-source="db-01"]').count() === 1, 'a throughput line for db-01');
    assert.equal(await page.title(), '(2) slowq', 'the tab title counts alerts that are not muted');
    // relative times, absolute on hover
    const t = page.locator('#firing-body time').first();
    assert.match((await t.textContent()) ?? '', /ago|just now/);
    assert.match((await t.getAttribute('title')) ?? '', /\d{4}-\d\d-\d\dT/);
  });

  it('a new alert appears without a reload', async () => {
    // (page code as strings: the tests are compiled without the DOM library)
    await page.evaluate('window.marker = 42');
    const a = makeAlert({ type: 'long_running', severity: 'critical', source: 'db-04', db: 'ledger', durationMs: 15_000, sql: 'SELECT * FROM ledger_entries FOR UPDATE' });
    view.fire(a);
    await page.waitForSelector(`#firing-body .alert[data-id="${a.id}"]`, { timeout: 15_000 });
    assert.equal(await page.evaluate('window.marker'), 42, 'same page, not reloaded');
    assert.equal(await page.locator('#firing-body .alert').count(), 4);
    assert.match((await page.locator(`#firing-body .alert[data-id="${a.id}"]`).textContent()) ?? '', /db-04 \/ ledger/);
  });

  it('long SQL is truncated and expands on click', async () => {
    const details = page.locator('#firing-body details.sql').first();
    assert.equal(await details.getAttribute('open'), null, 'closed');
    assert.equal(await details.locator('pre').isVisible(), false);
    await details.locator('summary').click();
    assert.equal(await details.locator('pre').isVisible(), true);
    assert.match((await details.locator('pre').textContent()) ?? '', /LIMIT 500$/);
    await details.locator('summary').click();
  });

  it('an alert\'s plan is folded under its statement, its notable facts in the fold\'s title, and opens on click', async () => {
    const card = page.locator('#firing-body .alert', { hasText: 'db-02 / billing' });
    const plan = card.locator('details.plan');
    assert.equal(await plan.count(), 1);
    assert.equal((await plan.locator('summary').textContent())?.trim(), 'planfullScan', 'facts that are true or above zero only');
    assert.equal(await plan.locator('pre').isVisible(), false);
    await plan.locator('summary').click();
    assert.equal(await plan.locator('pre').isVisible(), true);
    assert.equal(await plan.locator('pre').textContent(), PLAN);
    // the others have no plan: no fold
    assert.equal(await page.locator('#firing-body .alert', { hasText: 'db-01 / shop' }).locator('details.plan').count(), 0);
  });

  it('silences: a bad matcher shows the server\'s message; adding and expiring work through the API', async () => {
    await page.fill('#f-matchers', 'db shop');
    await page.fill('#f-by', 'alice');
    await page.fill('#f-comment', 'index rebuild');
    await page.click('#f-submit');
    // a selector, not waitForFunction with a string: Playwright evaluates that string with eval in the page when it
    // has to poll, which the dashboard's CSP (no 'unsafe-eval') refuses: the test failed whenever the error came late
    await page.waitForSelector('#f-error:not(:empty)', { timeout: 10_000 });
    assert.match((await page.textContent('#f-error')) ?? '', /matchers\[0\]/);

    await page.fill('#f-matchers', 'source=db-01, db=~"shop|shop_archive"');
    await page.click('#f-submit');
    await page.waitForSelector('#silences-body .silence-item', { timeout: 10_000 });
    const input = view.addCalls.at(-1)!;
    assert.deepEqual(input.matchers, [{ name: 'source', op: '=', value: 'db-01' }, { name: 'db', op: '=~', value: 'shop|shop_archive' }]);
    assert.equal(input.createdBy, 'alice');
    assert.equal(Date.parse(input.endsAt!) - Date.parse(input.startsAt!), 2 * 3600_000, 'default duration 2 h');
    assert.equal(await page.inputValue('#f-matchers'), '', 'form cleared');

    // take the screenshot with one silence listed and a plan unfolded
    const plan = page.locator('#firing-body details.plan').first();
    if ((await plan.getAttribute('open')) === null) await plan.locator('summary').click();
    const shot = join(dir, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    await assertPng(shot);
    await copyFile(shot, SHARED_SCREENSHOT);

    const item = page.locator('#silences-body .silence-item').first();
    await item.locator('button').click();
    assert.equal(await item.locator('button').textContent(), 'Really expire?');
    await item.locator('button').click();
    await page.waitForSelector('#silences-body .empty', { timeout: 10_000 });
  });

  it('"Silence…" on an alert prefills the matchers from its labels', async () => {
    await page.locator('#firing-body .alert.critical button').first().click();
    assert.match(await page.inputValue('#f-matchers'), /^source=db-0\d, db=\w+, fingerprintId=0x[0-9A-F]+$/);
  });

  it('a flood of firing alerts is cut to the worst 50 until asked for all', async () => {
    const keep = view.active;
    view.active = Array.from({ length: 120 }, (_, i) => makeActive(makeAlert({ severity: i === 100 ? 'critical' : 'warning', durationMs: 2000 + i })));
    view.fire(makeAlert({ severity: 'info' }));
    await page.waitForSelector('#show-all-firing', { timeout: 15_000 });
    assert.equal(await page.locator('#firing-body .alert').count(), 50);
    assert.equal(await page.locator('#firing-body .alert').first().getAttribute('class'), 'alert critical', 'critical first');
    await page.click('#show-all-firing');
    assert.equal(await page.locator('#firing-body .alert').count(), 121);
    view.active = keep;
  });

  it('what /healthz says is wrong is in the summary, and goes when it clears', async () => {
    view.problemsNow = ['source db-09 cannot make progress: nothing acknowledged for 41 s (consumer c1 that owns source db-09 is away)'];
    const problem = page.locator('#summary .crit', { hasText: 'cannot make progress' });
    await problem.waitFor({ timeout: 15_000 });
    assert.match((await problem.textContent()) ?? '', /1 problem: source db-09 cannot make progress/);
    view.problemsNow = [];
    await problem.waitFor({ state: 'detached', timeout: 15_000 });
  });

  it('query classes: the busiest with their trend; an alert\'s class link opens the class page with its executions and alerts', async () => {
    await page.reload({ waitUntil: 'load' }); // the flood above is gone from the view
    await page.waitForSelector('#classes-body tbody tr', { timeout: 15_000 });
    await page.waitForSelector('#firing-body .alert', { timeout: 15_000 });
    assert.equal(await page.locator('#classes-body tbody tr').count(), 2);
    assert.equal(await page.locator('#classes-body tbody tr').first().getAttribute('data-class'), 'db-01/0x3F2A9C1D7E5B4A10', 'busiest by total time first');
    assert.equal(await page.locator('#classes-body tbody tr').first().locator('svg.spark rect').count(), 12, 'a bar per 5 minutes');
    assert.equal(await page.locator('#class-page').isVisible(), false);
    await page.locator('#firing-body .alert.critical', { hasText: 'db-01 / shop' }).locator('a.classlink').first().click();
    await page.waitForSelector('#class-page:not([hidden])', { timeout: 10_000 });
    assert.match(page.url(), /#class=db-01\/0x3F2A9C1D7E5B4A10$/);
    const body = page.locator('#class-body');
    assert.match((await body.locator('.classhead').textContent()) ?? '', /1,?873 executions.*p95 9\.6/);
    assert.equal(await body.locator('#class-recent tbody tr').count(), 2);
    assert.equal(await body.locator('svg.spark').count(), 2, 'trend of executions and of p95');
    assert.equal(await body.locator('#class-alerts .alert').count(), 1, 'the alert of this class');
    const shot = join(dir, 'dashboard-class.png');
    await page.screenshot({ path: shot, fullPage: true });
    await assertPng(shot);
    await copyFile(shot, '/tmp/slowq-dashboard-class.png');
    await page.click('#class-close');
    await page.waitForSelector('#class-page[hidden]', { state: 'attached', timeout: 10_000 });
  });

  it('a query-class regression says what changed: the window against the baseline', async () => {
    const regression = { windowMs: 600_000, windowCount: 143, windowP95Ms: 1228.4, baselineP95Ms: 118.2, baselineCount: 2400, baselineWindows: 6 };
    const a = makeAlert({ type: 'regression', queryId: 'regression 0x5E 1', source: 'db-05', db: 'shop', durationMs: 1228.4, regression, fingerprintId: '0x5E' });
    view.fire(a);
    const card = page.locator(`#firing-body .alert[data-id="${a.id}"]`);
    await card.waitFor({ timeout: 15_000 });
    const text = (await card.textContent()) ?? '';
    assert.match(text, /QueryClassRegression/);
    assert.match(text, /p95 1\.23 s/);
    assert.match(text, /over 10 min \(143 runs\), baseline p95 118 ms \(6 windows, 2400 runs\) · ×10\.4/);
  });

  it('no script errors in the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});

describe('dashboard with a token', () => {
  it('works when opened with ?token= (API calls and the event stream carry it)', async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install it with .ci/install-system.sh (as root)`);
    const view = new FakeMonitorView();
    view.active = [makeActive(makeAlert({ severity: 'warning' }))];
    const token = 'dashboard-token-0123456789';
    const srv = await startHttpServer(view, { host: '127.0.0.1', port: 0, token });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, timeout: 60_000 });
    try {
      const page = await browser.newPage();
      await page.goto(`${srv.url}/?token=${token}`);
      await page.waitForSelector('#conn.live', { timeout: 15_000 });
      await page.waitForSelector('#firing-body .alert', { timeout: 15_000 });
      const a = makeAlert({ type: 'long_running', severity: 'critical' });
      view.fire(a);
      await page.waitForSelector(`#firing-body .alert[data-id="${a.id}"]`, { timeout: 15_000 });
    } finally {
      await browser.close();
      await srv.close();
    }
  });
});
