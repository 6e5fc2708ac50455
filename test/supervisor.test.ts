import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { generateLines } from '../src/workload/generator.js';
import { readAlerts } from '../bench/harness/files.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { pidAlive, slowq, stop, stopAll, upServicePid } from '../bench/harness/processes.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import { diffIds, idSet, oracle } from './support/cluster.js';

// `slowq up` supervises its services: one that dies is restarted (with backoff), one that keeps dying within
// seconds of starting is given up on loudly (up stops everything and exits non-zero), and SIGTERM stops
// everything cleanly. In every case no slowq process is left behind, checked by pid. A service whose `up`
// is SIGKILLed (so it cannot stop its children) stops by itself.

const SERVICES = ['logserver', 'monitor', 'master', 'consumer-c0', 'consumer-c1'];

/** The services of `up --consumers 1`. */
const ONE_CONSUMER = ['logserver', 'monitor', 'master', 'consumer-c0'];

/** Waits until every named service of an `up` in `data` has a live pid; returns them in order. */
function servicesStarted(data: string, names: string[]): Promise<number[]> {
  return waitFor('every service started', () => {
    const list = names.map((s) => upServicePid(data, s));
    return list.every((p) => p !== undefined && pidAlive(p)) ? (list as number[]) : undefined;
  }, 30_000);
}

describe('slowq up as a supervisor', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slowq-supervisor-'));
  const blockers: Server[] = [];
  after(async () => {
    await stopAll();
    for (const s of blockers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('restarts killed services, keeps the pipeline working, and leaves no process after SIGTERM', async () => {
    const base = await freeBasePort();
    const data = join(dir, 'up1');
    const up = slowq('up', ['up', '--data', data, '--port', String(base), '--consumers', '2', '--quiet', '--log-level', 'warn']);
    const seen = new Set<number>();
    const pids = await waitFor('every service started', () => {
      const list = SERVICES.map((s) => upServicePid(data, s));
      return list.every((p) => p !== undefined && pidAlive(p)) ? (list as number[]) : undefined;
    }, 30_000);
    for (const p of pids) seen.add(p);

    // Kill each service twice, a few seconds apart (never 5 fast crashes in a row: that is the give-up case).
    for (let round = 0; round < 2; round++) {
      for (const name of SERVICES) {
        const before = upServicePid(data, name)!;
        process.kill(before, 'SIGKILL');
        const after = await waitFor(`${name} restarted`, () => {
          const p = upServicePid(data, name);
          return p !== undefined && p !== before && pidAlive(p) ? p : undefined;
        }, 30_000);
        seen.add(after);
        assert.ok(!pidAlive(before), `${name}'s old process ${before} is gone`);
      }
    }
    const restarts = up.output().match(/died \(signal SIGKILL\); restarting in \d+ ms/g) ?? [];
    assert.equal(restarts.length, 2 * SERVICES.length, up.output());
    assert.equal(up.child.exitCode, null, 'up is still running');

    // the restarted server side still works end to end
    const file = join(dir, 'db.jsonl');
    writeFileSync(file, generateLines(3000, { seed: 5, idPrefix: 'sup-' }).join('\n') + '\n');
    const want = idSet(await oracle([file], 'jsonl', 'db-sup'));
    const client = slowq('client', ['client', '--master', `tcp://127.0.0.1:${base}`, '--source', 'db-sup', '--format', 'jsonl',
      '--data', join(dir, 'client1'), file]);
    await waitFor('alerts', () => idSet(readAlerts(join(data, 'alerts.jsonl'))).size >= want.size ? true : undefined, 60_000);
    assert.deepEqual(diffIds(idSet(readAlerts(join(data, 'alerts.jsonl'))), want), { missing: 0, extra: 0 });
    assert.equal(await stop(client), 0);

    // SIGTERM: up stops every service and exits 0; none of the processes it ever ran is left
    assert.equal(await stop(up, 30_000), 0, up.output());
    for (const name of SERVICES) {
      const p = upServicePid(data, name);
      if (p) seen.add(p);
    }
    assert.equal(seen.size, SERVICES.length * 3);
    const left = [...seen].filter(pidAlive);
    assert.deepEqual(left, [], 'no slowq process left');
  });

  it('SIGTERM while a service is waiting to be restarted leaves nothing behind', async () => {
    const base = await freeBasePort();
    const data = join(dir, 'up2');
    const up = slowq('up', ['up', '--data', data, '--port', String(base), '--consumers', '1', '--quiet']);
    const names = ONE_CONSUMER;
    const pids = await servicesStarted(data, names);
    process.kill(upServicePid(data, 'master')!, 'SIGKILL');
    up.child.kill('SIGTERM'); // while the master's restart is pending
    assert.equal(await up.exited, 0, up.output());
    await sleep(500); // a restart that should not happen would have spawned by now
    for (const name of names) {
      const p = upServicePid(data, name);
      if (p) pids.push(p);
    }
    assert.deepEqual(pids.filter(pidAlive), []);
  });

  it('gives up loudly on a service that keeps crashing at start: everything stops, exit code ≠ 0', async () => {
    const base = await freeBasePort();
    // someone else holds the monitor's port: the monitor cannot bind and exits at once, every time
    const blocker = createServer();
    blockers.push(blocker);
    await new Promise<void>((r) => blocker.listen(base + 2, '127.0.0.1', () => r()));
    const data = join(dir, 'up3');
    const up = slowq('up', ['up', '--data', data, '--port', String(base), '--consumers', '1', '--quiet']);
    const code = await Promise.race([up.exited, sleep(60_000).then(() => 'still running' as const)]);
    assert.equal(code, 1, up.output());
    const out = up.output();
    assert.match(out, /monitor died \(exit code \d+\) 5 times in a row within seconds of starting; giving up on it/);
    assert.match(out, /cannot keep monitor running; stopping every service/);
    // backoff between the fast crashes grew
    const delays = [...out.matchAll(/monitor died \(exit code \d+\); restarting in (\d+) ms/g)].map((m) => Number(m[1]));
    assert.ok(delays.length >= 4, out); // 4, or 5 if a start under load took longer than a "fast" crash
    for (let i = 1; i < delays.length; i++) assert.ok(delays[i]! > delays[i - 1]!, `backoff grows: ${delays.join(', ')}`);
    const left = ONE_CONSUMER.map((s) => upServicePid(data, s)).filter((p): p is number => p !== undefined && pidAlive(p));
    assert.deepEqual(left, []);
  });

  it('services stop by themselves when up is SIGKILLed (no orphans)', async () => {
    const base = await freeBasePort();
    const data = join(dir, 'up4');
    const up = slowq('up', ['up', '--data', data, '--port', String(base), '--consumers', '1', '--quiet']);
    const names = ONE_CONSUMER;
    const pids = await servicesStarted(data, names);
    // past start-up, into their signal handling: the consumer writes its stats file once started
    const stats = join(data, 'consumers', 'c0', 'stats.json');
    await waitFor('the consumer running', () => existsSync(stats) || undefined, 30_000);
    await sleep(1000);
    up.child.kill('SIGKILL');
    await up.exited;
    await waitFor('orphans gone', () => (pids.filter(pidAlive).length === 0 ? true : undefined), 30_000, 200);
  });
});
