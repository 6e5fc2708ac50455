import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { readAlerts } from '../bench/harness/files.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { slowq, stop } from '../bench/harness/processes.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import { Client } from '../src/client/client.js';
import { LineAppender } from '../src/client/probe/appender.js';
import { RotatingJournal, type RotationEvents } from '../src/client/probe/rotating-journal.js';
import { diffIds, duplicateIds, idSet, processTestDir } from './support/cluster.js';

// The agent's probe journal stays bounded on the database host: over its size limit it is renamed to JOURNAL.1 and
// started again; the rotated file is removed only once the input tailing the journal holds nothing of it (every
// record sent and acked), so a journal whose records wait for a master that is away is kept, not deleted.

const T0 = Date.UTC(2026, 11, 2, 6, 0, 0);

function lines(from: number, count: number): string[] {
  const out: string[] = [];
  for (let i = from; i < from + count; i++) {
    out.push(JSON.stringify({ ts: T0 + i, state: 'finished', id: `q-${i}`, duration_ms: 1500, sql: `select ${i} from t where pad = '${'x'.repeat(40)}'` }) + '\n');
  }
  return out;
}

function events(): RotationEvents & { said: string[] } {
  const said: string[] = [];
  return { said, rotated: () => said.push('rotated'), deferred: () => said.push('deferred'), failed: (i) => said.push(`failed ${i.error}`) };
}

describe('probe journal rotation', () => {
  it('rotates at the limit, keeps the rotated file while it is held, and removes it only when it is not', async () => {
    const dir = processTestDir('slowq-journal-rot-');
    const path = join(dir, 'probe.jsonl');
    const appender = new LineAppender(path, true);
    await appender.open();
    let held = true;
    const ev = events();
    const journal = new RotatingJournal(appender, 4096, { holds: () => held }, ev);
    await journal.append(lines(0, 20)); // ~2.4 KiB
    assert.equal(existsSync(`${path}.1`), false);
    await journal.append(lines(20, 20)); // over 4 KiB: rotated, nothing there before it
    assert.deepEqual(ev.said, ['rotated']);
    assert.equal(readFileSync(`${path}.1`, 'utf8'), lines(0, 40).join(''));
    await journal.append(lines(40, 40)); // over again, but the rotated file is still held: the journal grows
    await journal.append(lines(80, 10));
    assert.deepEqual(ev.said, ['rotated', 'deferred'], 'a deferral is said once');
    assert.equal(journal.deferrals, 2);
    assert.equal(readFileSync(path, 'utf8'), lines(40, 50).join(''));
    held = false;
    await journal.append(lines(90, 1));
    assert.deepEqual(ev.said, ['rotated', 'deferred', 'rotated']);
    assert.equal(readFileSync(`${path}.1`, 'utf8'), lines(40, 51).join(''), 'the old rotated file was replaced by the journal');
    await journal.append(lines(91, 1));
    assert.equal(readFileSync(path, 'utf8'), lines(91, 1).join(''), 'appends went on in a new journal');
    await appender.close();
  });

  it('through the pipeline: the input reads every rotated journal to its end, each record alerts once, at most two files remain', async () => {
    const dir = processTestDir('slowq-journal-rot-e2e-');
    const base = await freeBasePort();
    const data = join(dir, 'server');
    const up = slowq('up', ['up', '--data', data, '--port', String(base), '--consumers', '2', '--quiet']);
    const path = join(dir, 'input', 'probe.jsonl');
    const appender = new LineAppender(path, true);
    const client = new Client({
      masters: [{ endpoint: `tcp://127.0.0.1:${base}` }],
      source: 'db-probe',
      format: 'jsonl',
      dataDir: join(dir, 'input'),
      patterns: [path],
      log: pino({ level: 'warn' }),
      pollIntervalMs: 50,
      ackTimeoutMs: 1000,
    });
    const ev = events();
    const journal = new RotatingJournal(appender, 16_384, { holds: (dev, ino) => client.holdsFile(dev, ino) }, ev);
    try {
      mkdirSync(join(dir, 'input'), { recursive: true });
      await appender.open();
      await client.start();
      const total = 3000;
      for (let i = 0; i < total; i += 30) {
        await journal.append(lines(i, 30));
        await sleep(100); // ~10 s in all: a rotated file is freed ~2 s after its last line (the tailer's drain grace)
      }
      const alertsFile = join(data, 'alerts.jsonl');
      await waitFor(`${total} alerts`, () => readAlerts(alertsFile).length >= total || undefined, 90_000, 100);
      await sleep(500);
      const got = readAlerts(alertsFile);
      assert.deepEqual(duplicateIds(got), []);
      const want = new Set(Array.from({ length: total }, (_, i) => `q-${i}`));
      assert.deepEqual(diffIds(idSet(got.map((a) => ({ ...a, id: a.queryId }))), want), { missing: 0, extra: 0 });
      assert.ok(journal.rotations >= 1, `rotated ${journal.rotations} times, put off ${journal.deferrals} times`);
      assert.ok(!ev.said.some((s) => s.startsWith('failed')), ev.said.join(', '));
      // Every record is acked: once the input has read the rotated file to its end and forgotten it, the next
      // rotation removes it (while a consumer was away it was kept, and the journal grew past its limit instead).
      const rotated = `${path}.1`;
      await waitFor('the input to let go of the rotated journal', () => {
        const st = statSync(rotated);
        return !client.holdsFile(String(st.dev), String(st.ino)) || undefined;
      }, 30_000, 100);
      assert.equal(await journal.rotateIfFull(), true, 'the journal, over its limit, is rotated once nothing holds the file before it');
      const onDisk = statSync(rotated).size + (existsSync(path) ? statSync(path).size : 0);
      const writtenBytes = lines(0, total).join('').length;
      assert.ok(onDisk < writtenBytes, `${onDisk} bytes kept of ${writtenBytes} written: the first rotated journal was removed`);
    } finally {
      await client.stop();
      await appender.close();
      await stop(up, 10_000);
    }
  });
});
