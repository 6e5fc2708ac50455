import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { readAlerts, readJson, readJsonLines } from '../bench/harness/files.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { slowq, stop, type Proc } from '../bench/harness/processes.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import { oracle, processTestDir } from './support/cluster.js';

// Every row of README "When it alerts", through the whole pipeline (`slowq up` + `slowq client`, real
// processes, real ZeroMQ), checked in alerts.jsonl, with the thresholds' boundaries. The same run checks
// that malformed lines are dead-lettered with their location while the rest is delivered, and that every
// service's logs reach the logserver.

const T0 = Date.UTC(2026, 10, 22, 6, 0, 0);
const S = 300_000; // default stalled time

const lines: string[] = [];
const rec = (ts: number, state: string, id: string, duration_ms: number, sql = `select * from t where id = ${id.length}`) =>
  lines.push(JSON.stringify({ ts, state, id, duration_ms, sql, db: 'shop', user: 'app' }));

// finished only
rec(T0, 'finished', 'fin-at', 1000);
rec(T0, 'finished', 'fin-under', 999);
// running under the threshold, then silence: dropped quietly at the stall
rec(T0 + 10, 'running', 'run-under', 9999);
// running reaching the threshold, then finished: long_running then resolved
rec(T0 + 20, 'running', 'run-at', 9999);
rec(T0 + 21, 'running', 'run-at', 10_000);
rec(T0 + 22, 'running', 'run-at', 11_000);
rec(T0 + 2000, 'finished', 'run-at', 12_000);
// running under the threshold then finished: judged as a lone finished
rec(T0 + 30, 'running', 'run-fin-slow', 3000);
rec(T0 + 1030, 'finished', 'run-fin-slow', 4000);
rec(T0 + 40, 'running', 'run-fin-fast', 500);
rec(T0 + 340, 'finished', 'run-fin-fast', 800);
// a second finished for the same execution is a duplicate
rec(T0 + 50, 'finished', 'fin-twice', 2000);
rec(T0 + 60, 'finished', 'fin-twice', 2000);
// crossing the threshold then silence: stalled exactly at the stalled time (by the watermark)
rec(T0 + 1000, 'running', 'stall-at', 15_000);
// crossing then silence, one ms short of the stalled time when the file ends: no stalled alert
rec(T0 + 1001, 'running', 'stall-under', 15_000);
// malformed lines: counted, dead-lettered with their offset, the rest still delivered
lines.push('{"ts": 1, "state": "finished"');
lines.push(JSON.stringify({ ts: T0, state: 'paused', id: 'bad-state', duration_ms: 5 }));
lines.push('not json at all');
// the watermark moves on: S after stall-at's last record
rec(T0 + 1000 + S, 'finished', 'late-fast', 5);

const expected = new Set([
  'fin-at:slow_query',
  'run-at:long_running',
  'run-at:resolved',
  'run-fin-slow:slow_query',
  'fin-twice:slow_query',
  'stall-at:long_running',
  'stall-at:stalled',
  'stall-under:long_running',
]);

describe('alert rules through the whole pipeline', () => {
  const dir = processTestDir('slowq-e2e-rules-');
  const data = join(dir, 'server');
  const log = join(dir, 'db.jsonl');
  let up: Proc;
  let client: Proc;
  let base: number;

  before(async () => {
    base = await freeBasePort();
    writeFileSync(log, lines.join('\n') + '\n');
    up = slowq('up', ['up', '--data', data, '--port', String(base), '--consumers', '2', '--quiet']);
    client = slowq('client', ['client', '--master', `tcp://127.0.0.1:${base}`, '--source', 'db-01', '--format', 'jsonl',
      '--data', join(dir, 'client'), '--logserver', `tcp://127.0.0.1:${base + 3}`, log]);
  });

  it('gives exactly the alerts of the table, each once', async () => {
    const alerts = await waitFor('alerts', () => {
      const a = readAlerts(join(data, 'alerts.jsonl'));
      return a.length >= expected.size ? a : undefined;
    });
    await sleep(500); // nothing more may arrive
    const got = readAlerts(join(data, 'alerts.jsonl'));
    assert.deepEqual(new Set(got.map((a) => `${a.queryId}:${a.type}`)), expected);
    assert.equal(got.length, expected.size, 'no alert written twice');
    assert.equal(alerts.length, expected.size);
    const resolved = got.find((a) => a.type === 'resolved')!;
    assert.equal(resolved.durationMs, 12_000);
    assert.equal(resolved.db, 'shop');
    assert.equal(got.find((a) => a.queryId === 'fin-at')!.fingerprint, 'select * from t where id = ?');
  });

  it('equals the oracle', async () => {
    const want = await oracle([log], 'jsonl', 'db-01');
    const got = readAlerts(join(data, 'alerts.jsonl'));
    assert.deepEqual(new Set(got.map((a) => a.id)), new Set(want.map((a) => a.id)));
  });

  it('dead-letters malformed lines with file and byte offset, and delivers the rest', async () => {
    const dead = await waitFor('dead letters', () => {
      const d = readJsonLines<{ file: string; offset: number; line: number; reason: string }>(join(dir, 'client', 'dead-letter.jsonl'));
      return d.length >= 3 ? d : undefined;
    });
    assert.equal(dead.length, 3);
    const text = readFileSync(log);
    for (const d of dead) {
      assert.equal(d.file, log);
      // the offset points at the start of the bad line
      assert.ok(d.offset === 0 || text[d.offset - 1] === 0x0a);
      assert.match(d.reason, /JSON|state/);
    }
    const stats = await waitFor('client stats', () => {
      const s = readJson<{ read: number; deadLettered: number }>(join(dir, 'client', 'stats.json'));
      return s && s.read === lines.length - 3 ? s : undefined;
    });
    assert.equal(stats.deadLettered, 3);
  });

  it('collects every service\'s logs in the logserver\'s files', async () => {
    const files = await waitFor('log files', () => {
      const f = readdirSync(join(data, 'logs'));
      return ['master.log', 'monitor.log', 'consumer-c0.log', 'consumer-c1.log', 'client-db-01.log', 'logserver.log'].every((n) => f.includes(n)) ? f : undefined;
    }, 20_000);
    assert.ok(files.length >= 6);
    const master = readFileSync(join(data, 'logs', 'master.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { service: string; msg: string });
    assert.ok(master.some((l) => l.service === 'master' && l.msg === 'master started'));
  });

  it('stops cleanly on SIGTERM', async () => {
    assert.equal(await stop(client), 0);
    assert.equal(await stop(up), 0);
  });
});
