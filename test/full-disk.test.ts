import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readAlerts } from '../bench/harness/files.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { kill9, slowq, stop, stopAll, type Proc } from '../bench/harness/processes.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import { diffIds, duplicateIds, idSet, oracle, WorkloadFile } from './support/cluster.js';

// Full disks, one at a time, under a running pipeline: the consumer's state, the monitor's alerts file, the
// monitor's own state, the client's registry. Each is a small tmpfs filled up by a filler file. While full,
// requests are refused and retried, clients keep their offsets, each process says so once in its log; when
// the filler is deleted everything flows again, and at the end the alerts equal the oracle's, none twice,
// every record applied exactly once. The client is also SIGKILLed while its registry cannot be written.

const PHASE = 2000;
const SOURCE = 'db-full';

/** Writes zeros until the file system is full; returns the filler's path. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  try {
    for (const size of [1 << 20, 1 << 16, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size);
      for (let i = 0; i < 100_000; i++) {
        try {
          writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

function warnLines(p: Proc, pattern: RegExp): number {
  let n = 0;
  for (const line of p.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as { level?: number; msg?: string };
      if ((o.level ?? 0) >= 40 && pattern.test(o.msg ?? '')) n++;
    } catch {
      // not a log line
    }
  }
  return n;
}

describe('full disks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slowq-full-disk-'));
  const mounts: string[] = [];
  let mountError: string | undefined;
  const mount = (name: string, size: string): string => {
    const path = join(dir, name);
    mkdirSync(path, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', path], { stdio: 'pipe' });
    mounts.push(path);
    return path;
  };
  before(() => {
    try {
      mount('probe', '1m');
    } catch (err) {
      mountError = `cannot mount a tmpfs (needs root): ${(err as Error).message}`;
    }
  });
  after(async () => {
    await stopAll();
    for (const m of mounts.reverse()) {
      try {
        execFileSync('umount', [m], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['-l', m], { stdio: 'pipe' });
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('consumer state, alerts file, monitor state, client registry: refused while full, nothing lost or doubled after', { timeout: 10 * 60_000 }, async (t) => {
    if (mountError) {
      t.skip(mountError);
      return;
    }
    const consumerDisk = mount('consumer-disk', '16m');
    const alertsDisk = mount('alerts-disk', '4m');
    const monitorDisk = mount('monitor-disk', '8m');
    const clientDisk = mount('client-disk', '2m');

    const base = await freeBasePort();
    const ep = (k: number) => `tcp://127.0.0.1:${base + k}`;
    const log = ['--logserver', ep(3)];
    const file = join(dir, `${SOURCE}.jsonl`);
    writeFileSync(file, '');
    const alertsFile = join(alertsDisk, 'alerts.jsonl');
    const state = join(consumerDisk, 'c0');
    slowq('logserver', ['logserver', '--data', join(dir, 'logs'), '--port', String(base + 3)]);
    const monitor = slowq('monitor', ['monitor', '--data', join(monitorDisk, 'monitor'), '--port', String(base + 2), '--alerts', alertsFile, '--quiet', ...log]);
    slowq('master', ['master', '--port', String(base), '--consumers', 'c0', '--monitor', ep(2), ...log]);
    const c0 = slowq('c0', ['consumer', '--name', 'c0', '--data', state, '--master', ep(1), '--monitor', ep(2), ...log]);
    const clientArgs = ['client', '--master', ep(0), '--source', SOURCE, '--format', 'jsonl', '--data', join(clientDisk, 'client'),
      '--batch-size', '200', '--ack-timeout-ms', '1000', ...log, file];
    let client = slowq('client', clientArgs);

    const workload = new WorkloadFile(file, { seed: 91, idPrefix: 'fd-' });
    const writePhase = (): void => workload.append(PHASE);
    const applied = (): number | undefined => {
      try {
        const st = JSON.parse(readFileSync(join(state, 'stats.json'), 'utf8')) as { pid: number; highWaterTotal: number };
        return st.pid === c0.child.pid ? st.highWaterTotal : undefined;
      } catch {
        return undefined;
      }
    };
    const registryNextSeq = (): number => {
      const reg = JSON.parse(readFileSync(join(clientDisk, 'client', 'registry.json'), 'utf8')) as { streams: Array<{ nextSeq: number }> };
      return reg.streams[0]?.nextSeq ?? 0;
    };
    const caughtUp = (what: string) => waitFor(`${what}: ${workload.written} records applied`, () => applied() === workload.written || undefined, 120_000, 100);
    const alertsSoFar = async () => idSet(await oracle([file], 'jsonl', SOURCE));
    const alertsDelivered = async (what: string) => {
      const want = await alertsSoFar();
      await waitFor(`${what}: alerts delivered`, () => {
        const got = idSet(readAlerts(alertsFile));
        for (const id of want) if (!got.has(id)) return undefined;
        return true;
      }, 120_000, 200);
    };

    // 0: everything flows
    writePhase();
    await caughtUp('start');
    await alertsDelivered('start');
    await waitFor('offsets committed', () => registryNextSeq() === workload.written + 1 || undefined, 30_000);

    // 1: the consumer's disk is full: requests refused, the client keeps its offsets and retries
    let filler = fill(consumerDisk);
    const before1 = registryNextSeq();
    writePhase();
    await waitFor('the consumer refusing', () => warnLines(c0, /durable commit failed/) > 0 || undefined, 60_000);
    await waitFor('the client told to retry', () => /server asked to retry later/.test(client.output()) || undefined, 60_000);
    await sleep(3000); // several rounds of retries
    assert.equal(registryNextSeq(), before1, 'no offset committed for records the consumer could not make durable');
    assert.equal(client.child.exitCode, null);
    assert.equal(c0.child.exitCode, null, `the consumer lives on:\n${c0.output().slice(-3000)}`);
    rmSync(filler);
    await caughtUp('consumer disk freed');
    await alertsDelivered('consumer disk freed');
    assert.equal(warnLines(c0, /durable commit failed/), 1, 'said once');

    // 2: the disk of the alerts file is full: alerts are accepted and kept, written when there is room
    filler = fill(alertsDisk);
    const linesBefore = readAlerts(alertsFile).length;
    writePhase();
    await caughtUp('alerts disk full');
    await waitFor('the monitor noticing', () => warnLines(monitor, /delivery failed/) > 0 || undefined, 60_000);
    await sleep(2000);
    assert.equal(readAlerts(alertsFile).length, linesBefore, 'nothing written while full (and no torn line)');
    rmSync(filler);
    await alertsDelivered('alerts disk freed');
    assert.equal(warnLines(monitor, /delivery failed/), 1, 'said once');

    // 3: the monitor's own state is full: alerts are not acked, the consumer keeps and resends them
    filler = fill(monitorDisk);
    writePhase();
    await caughtUp('monitor disk full');
    await waitFor('the monitor refusing', () => warnLines(monitor, /could not record accepted alerts/) > 0 || undefined, 60_000);
    await sleep(4000); // past the consumer's ack timeout: resends
    assert.equal(monitor.child.exitCode, null, `the monitor lives on:\n${monitor.output().slice(-3000)}`);
    rmSync(filler);
    await alertsDelivered('monitor disk freed');
    assert.equal(warnLines(monitor, /could not record accepted alerts/), 1, 'said once');

    // 4: the client's own disk is full: acks come, offsets cannot be saved; SIGKILL it there and restart it
    const before4 = registryNextSeq();
    filler = fill(clientDisk);
    writePhase();
    await caughtUp('client disk full');
    await waitFor('the client noticing', () => /cannot write the offsets registry/.test(client.output()) || undefined, 60_000);
    assert.equal(registryNextSeq(), before4, 'the registry on disk is the last one written');
    await kill9(client);
    client = slowq('client', clientArgs); // resumes from the last saved offsets: everything since is resent
    await sleep(3000); // it reads from its last saved offsets and resends while its disk is still full
    rmSync(filler);
    await waitFor('offsets saved again', () => registryNextSeq() === workload.written + 1 || undefined, 60_000);
    await alertsDelivered('client disk freed');
    assert.equal(applied(), workload.written, 'the resent records were duplicates: applied once');

    // The end: the oracle's alerts, none twice, every record applied once.
    await sleep(1500);
    const got = readAlerts(alertsFile);
    assert.deepEqual(duplicateIds(got), []);
    assert.deepEqual(diffIds(idSet(got), await alertsSoFar()), { missing: 0, extra: 0 });
    assert.equal(await stop(client), 0);
    assert.equal(await stop(c0), 0);
    assert.equal(await stop(monitor), 0);
    const st = JSON.parse(readFileSync(join(state, 'stats.json'), 'utf8')) as { highWaterTotal: number; duplicates: number; commitFailures: number };
    assert.equal(st.highWaterTotal, workload.written);
  });
});
