import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readAlerts, readJsonLines } from '../bench/harness/files.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { hasExited, slowq, upServicePid, type Proc } from '../bench/harness/processes.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import type { Alert } from '../src/model/record.js';
import { duplicateIds, processTestDir } from './support/cluster.js';
import { samples, sum } from './support/metrics.js';

// Reloading the configuration without a restart (Alertmanager's way), with real processes: `slowq up` with a
// route to file receiver A; records flow; the file is changed to route to B and SIGHUP goes to `up` (or POST
// /-/reload to the monitor); more records flow. Every alert reaches exactly one of A/B, by when the monitor
// accepted it, none lost and none twice (compared with alerts.jsonl); the one exception is by design: the end
// of a problem notified to A before the reload goes to A too (it is closed where it was opened). Thresholds
// changed in the same file apply to the records the consumers apply after the reload. A broken file is refused:
// the old configuration stays in force, /metrics says 0, and the next good reload says 1.

const CONSUMERS = 2;
const SOURCE = 'db-reload';
const T0 = Date.parse('2026-01-01T00:00:00Z');

function configText(dir: string, receiver: 'A' | 'B', finishedMs = 1000): string {
  return [
    'receivers:',
    `  - name: A`,
    `    file: { path: ${JSON.stringify(join(dir, 'a.jsonl'))} }`,
    `  - name: B`,
    `    file: { path: ${JSON.stringify(join(dir, 'b.jsonl'))} }`,
    'route:',
    `  receiver: ${receiver}`,
    "  group_by: ['...']", // one group per problem: each alert is in one notification
    '  group_wait: 1s',
    '  group_interval: 1s',
    '  repeat_interval: 1h',
    'rules:',
    `  finished_ms: ${finishedMs}`,
    '',
  ].join('\n');
}

/** A log the client tails, written line by line with event times one second apart. */
class Log {
  private ts = T0;
  constructor(readonly path: string) {
    writeFileSync(path, '');
  }

  finished(id: string, durationMs: number): void {
    this.line({ state: 'finished', id, duration_ms: durationMs, sql: `select * from t where id = '${id}'` });
  }

  running(id: string, durationMs: number): void {
    this.line({ state: 'running', id, duration_ms: durationMs, sql: `select * from t where id = '${id}'` });
  }

  private line(o: Record<string, unknown>): void {
    this.ts += 1000;
    appendFileSync(this.path, JSON.stringify({ ts: this.ts, ...o }) + '\n');
  }
}

/** What a file receiver was told: per receiver, `queryId type` of every alert in every notification. */
function notified(file: string): string[] {
  if (!existsSync(file)) return [];
  const out: string[] = [];
  for (const n of readJsonLines<{ alerts: Array<{ labels: Record<string, string>; annotations: Record<string, string> }> }>(file)) {
    for (const a of n.alerts) out.push(`${a.labels.queryId} ${a.annotations.type}`);
  }
  return out;
}

const keyOf = (a: Alert): string => `${a.queryId} ${a.type}`;

interface Server {
  up: Proc;
  data: string;
  http: string;
  alertsFile: string;
  configFile: string;
  aFile: string;
  bFile: string;
}

async function startUp(dir: string, name: string, opts: { keepConfig?: boolean } = {}): Promise<Server> {
  const base = await freeBasePort();
  const data = join(dir, name);
  const configFile = join(dir, `${name}.yaml`);
  mkdirSync(join(dir, name + '-out'), { recursive: true });
  if (!opts.keepConfig) writeFileSync(configFile, configText(join(dir, name + '-out'), 'A'));
  const up = slowq(`up-${name}`, ['up', '--data', data, '--port', String(base), '--consumers', String(CONSUMERS), '--quiet', '--config', configFile]);
  const http = `http://127.0.0.1:${base + 4}`;
  await waitFor(`the monitor's /-/ready on ${http}`, async () => {
    assert.ok(!hasExited(up), `up exited: ${up.output().slice(-3000)}`);
    try {
      return (await fetch(`${http}/-/ready`)).status === 200;
    } catch {
      return false;
    }
  }, 90_000, 200);
  slowq(`client-${name}`, ['client', '--master', `tcp://127.0.0.1:${base}`, '--source', SOURCE, '--format', 'jsonl', '--data', join(dir, `${name}-client`), join(dir, `${name}.jsonl`)]);
  return { up, data, http, alertsFile: join(data, 'alerts.jsonl'), configFile, aFile: join(dir, name + '-out', 'a.jsonl'), bFile: join(dir, name + '-out', 'b.jsonl') };
}

async function metrics(s: Server) {
  return samples(await (await fetch(`${s.http}/metrics`)).text());
}

/** Waits until alerts.jsonl holds `n` alerts (every one accepted by the monitor). */
async function accepted(s: Server, n: number): Promise<Alert[]> {
  return waitFor(`${n} alerts in alerts.jsonl`, () => {
    const got = readAlerts(s.alertsFile);
    assert.ok(got.length <= n, `more alerts than expected: ${got.map(keyOf).join(', ')}`);
    return got.length === n && got;
  }, 60_000, 100);
}

/** Waits until A and B together were told about `n` alerts, lets a second pass for anything more, and returns what each got. */
async function delivered(s: Server, n: number): Promise<{ a: string[]; b: string[] }> {
  await waitFor(`${n} alerts notified`, () => notified(s.aFile).length + notified(s.bFile).length >= n, 60_000, 200).catch(async (err: Error) => {
    // say what did arrive, and what the monitor counted and logged, so a failure can be told apart from a slow machine
    const text = await fetch(`${s.http}/metrics`).then((r) => r.text()).catch(() => 'no /metrics');
    const counted = text.split('\n').filter((l) => l.startsWith('slowq_notification')).join('; ');
    const said = s.up.output().split('\n').filter((l) => /notif|deliver|retry|reload|group/i.test(l)).slice(-40).join('\n');
    throw new Error(`${err.message}; A got ${notified(s.aFile).join(', ')}; B got ${notified(s.bFile).join(', ')}; ${counted}; the services said:\n${said}`);
  });
  await sleep(2500); // two group intervals: a repeat or a late duplicate would show
  return { a: notified(s.aFile), b: notified(s.bFile) };
}

function sorted(list: readonly string[]): string[] {
  return [...list].sort();
}

describe('e2e: configuration reload without restart', () => {
  const dir = processTestDir('slowq-e2e-reload-');

  it('SIGHUP to `slowq up`: routes and thresholds change for what comes after; nothing lost, nothing twice', async () => {
    const log = new Log(join(dir, 'hup.jsonl'));
    const s = await startUp(dir, 'hup');
    const pids = ['monitor', 'consumer-c0', 'consumer-c1'].map((n) => upServicePid(s.data, n));

    // Before: a long-running query (its end comes after the reload) and 10 slow queries, all to A.
    log.running('L1', 12_000);
    for (let i = 1; i <= 10; i++) log.finished(`q${i}`, 5000);
    const before = await accepted(s, 11);

    const stampBefore = sum(await metrics(s), 'slowq_config_last_reload_success_timestamp_seconds');
    writeFileSync(s.configFile, configText(join(dir, 'hup-out'), 'B', 6000));
    s.up.child.kill('SIGHUP');
    await waitFor('the monitor and both consumers reloaded', async () => {
      const m = await metrics(s);
      return sum(m, 'slowq_config_last_reload_success_timestamp_seconds') > stampBefore && sum(m, 'slowq_consumer_config_reloads_total') === CONSUMERS;
    }, 30_000, 200);

    // After: 10 queries under the new threshold (no alert), 10 over it, and the end of L1.
    for (let i = 11; i <= 20; i++) log.finished(`q${i}`, 5000);
    for (let i = 21; i <= 30; i++) log.finished(`q${i}`, 7000);
    log.finished('L1', 15_000);
    const all = await accepted(s, 22);
    const after = all.slice(before.length);
    assert.deepEqual(duplicateIds(all), []);
    assert.deepEqual(sorted(after.map(keyOf)), sorted([...Array.from({ length: 10 }, (_, i) => `q${i + 21} slow_query`), 'L1 resolved']),
      'after the reload only the queries over the new threshold alert');

    const got = await delivered(s, all.length);
    const wantA = [...before.map(keyOf), 'L1 resolved']; // L1 was opened at A: it is closed there
    const wantB = after.map(keyOf).filter((k) => k !== 'L1 resolved');
    assert.deepEqual(sorted(got.a), sorted(wantA), `A: everything accepted before the reload, and the end of the problem it was told about (B got ${got.b.join(', ')}); ${s.up.output().split('\n').filter((l) => l.includes('reload')).join('\n')}`);
    assert.deepEqual(sorted(got.b), sorted(wantB), 'B: everything accepted after the reload');

    // Reloaded, not restarted: the same processes, and up is alive.
    assert.ok(!hasExited(s.up), 'up survived SIGHUP');
    assert.deepEqual(['monitor', 'consumer-c0', 'consumer-c1'].map((n) => upServicePid(s.data, n)), pids, 'no service was restarted');
    const m = await metrics(s);
    assert.equal(sum(m, 'slowq_config_last_reload_successful'), 1);
    assert.equal(sum(m, 'slowq_config_reload_failures_total'), 0);
    assert.equal(sum(m, 'slowq_consumer_config_reload_failures_total'), 0);
    assert.equal(sum(m, 'slowq_consumer_records_applied_total'), 32, 'every record applied once');

    // A restart with the file as it is now replays to what was live: nothing is notified again.
    s.up.child.kill('SIGTERM');
    assert.equal(await s.up.exited, 0, s.up.output().slice(-3000));
    const again = await startUp(dir, 'hup', { keepConfig: true });
    await sleep(3000); // group_wait and a group_interval
    assert.deepEqual(sorted(notified(again.aFile)), sorted(wantA), 'A after the restart');
    assert.deepEqual(sorted(notified(again.bFile)), sorted(wantB), 'B after the restart');
    assert.equal(readAlerts(again.alertsFile).length, 22);
  });

  it('POST /-/reload: a broken file is refused (old routes stay, metric 0), the next good one applies (metric 1)', async () => {
    const log = new Log(join(dir, 'post.jsonl'));
    const s = await startUp(dir, 'post');
    assert.equal((await fetch(`${s.http}/-/healthy`)).status, 200);
    assert.equal((await fetch(`${s.http}/-/reload`)).status, 405, 'a reload is a POST');

    for (let i = 1; i <= 5; i++) log.finished(`q${i}`, 5000);
    await accepted(s, 5);

    // A typo: refused with the file and the key named; the route to A stays in force.
    writeFileSync(s.configFile, configText(join(dir, 'post-out'), 'B').replace('  receiver: B', '  reciever: B'));
    const refused = await fetch(`${s.http}/-/reload`, { method: 'POST' });
    const why = await refused.text();
    assert.equal(refused.status, 500, why);
    assert.ok(why.includes(s.configFile) && why.includes('"reciever"'), `names the file and the key: ${why}`);
    let m = await metrics(s);
    assert.equal(sum(m, 'slowq_config_last_reload_successful'), 0);
    assert.equal(sum(m, 'slowq_config_reload_failures_total'), 1);
    const stampAtStart = sum(m, 'slowq_config_last_reload_success_timestamp_seconds');
    assert.ok(stampAtStart > 0);

    for (let i = 6; i <= 10; i++) log.finished(`q${i}`, 5000);
    await accepted(s, 10);

    // A wrong type is refused as well; then the good file.
    writeFileSync(s.configFile, configText(join(dir, 'post-out'), 'B').replace('group_wait: 1s', 'group_wait: [1]'));
    const wrongType = await fetch(`${s.http}/-/reload`, { method: 'POST' });
    assert.match(await wrongType.text(), /route\.group_wait must be a duration/);
    writeFileSync(s.configFile, configText(join(dir, 'post-out'), 'B'));
    const ok = await fetch(`${s.http}/-/reload`, { method: 'POST' });
    assert.equal(ok.status, 200, await ok.text());
    m = await metrics(s);
    assert.equal(sum(m, 'slowq_config_last_reload_successful'), 1);
    assert.equal(sum(m, 'slowq_config_reload_failures_total'), 2);
    assert.ok(sum(m, 'slowq_config_last_reload_success_timestamp_seconds') > stampAtStart);

    for (let i = 11; i <= 15; i++) log.finished(`q${i}`, 5000);
    const all = await accepted(s, 15);
    assert.deepEqual(duplicateIds(all), []);
    const got = await delivered(s, 15);
    assert.deepEqual(sorted(got.a), sorted(all.slice(0, 10).map(keyOf)), 'A: everything accepted before the good reload (the broken one changed nothing)');
    assert.deepEqual(sorted(got.b), sorted(all.slice(10).map(keyOf)), 'B: everything accepted after it');

    // Each refusal was logged once, by the monitor, naming the file and the key.
    const lines = s.up.output().split('\n').filter((l) => l.includes('configuration reload refused'));
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.ok(lines[0]!.includes('reciever') && lines[0]!.includes(s.configFile), lines[0]);
    assert.ok(!readFileSync(s.alertsFile, 'utf8').includes('reciever'));
  });
});
