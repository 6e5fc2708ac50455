import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { scanJournal } from '../src/durable/journal.js';
import { readAlerts } from '../bench/harness/files.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { kill9, slowq, stop, type Proc } from '../bench/harness/processes.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import { diffIds, duplicateIds, idSet, oracle, processTestDir, WorkloadFile } from './support/cluster.js';
import { warnings } from './support/logs.js';

// A real consumer's state files damaged between runs: a bit flipped in its newest snapshot, the snapshot
// cut in half, a bit flipped in the middle of its journal, the journal cut in the middle of an entry, a
// half-written snapshot left by a crash during compaction. Each time the consumer must start, say once (in
// its log, naming the file and the reason) what it found and which generation it fell back to, and the
// pipeline must still end with exactly the oracle's alerts and every record applied once: what the fallback
// lost is resent by the client, which re-reads its file when the consumer asks for records it had acked.
// State with no good generation at all is refused with a clear error, never started from empty silently.

const PHASE = 3000;
const SOURCE = 'db-corrupt';

function flipBit(file: string, at: number): void {
  const buf = readFileSync(file);
  buf[at] = buf[at]! ^ 0x10;
  writeFileSync(file, buf);
}

function generationFiles(dir: string, kind: 'snapshot' | 'journal'): string[] {
  return readdirSync(dir).filter((n) => new RegExp(`^${kind}-\\d+$`).test(n)).sort();
}

describe('corrupt consumer state between runs', () => {
  const dir = processTestDir('slowq-corrupt-state-');

  it('falls back to the last good generation, says so once, and the pipeline still equals the oracle', { timeout: 10 * 60_000 }, async () => {
    const base = await freeBasePort();
    const ep = (k: number) => `tcp://127.0.0.1:${base + k}`;
    const data = join(dir, 'server');
    const state = join(data, 'c0');
    const file = join(dir, `${SOURCE}.jsonl`);
    writeFileSync(file, '');
    const log = ['--logserver', ep(3)];
    slowq('logserver', ['logserver', '--data', join(data, 'logs'), '--port', String(base + 3)]);
    slowq('monitor', ['monitor', '--data', join(data, 'monitor'), '--port', String(base + 2), '--alerts', join(data, 'alerts.jsonl'), '--quiet', ...log]);
    slowq('master', ['master', '--port', String(base), '--consumers', 'c0', '--monitor', ep(2), ...log]);
    // small batches, so a journal holds many entries and damage can fall in the middle of one
    const client = slowq('client', ['client', '--master', ep(0), '--source', SOURCE, '--format', 'jsonl', '--data', join(dir, 'client'),
      '--batch-size', '50', '--ack-timeout-ms', '1000', ...log, file]);
    const consumers: Proc[] = [];
    const startConsumer = (compactBytes: number): Proc => {
      const p = slowq('c0', ['consumer', '--name', 'c0', '--data', state, '--master', ep(1), '--monitor', ep(2), '--compact-bytes', String(compactBytes), ...log]);
      consumers.push(p);
      return p;
    };

    const workload = new WorkloadFile(file, { seed: 77, idPrefix: 'cs-' });
    const writePhase = (): void => workload.append(PHASE);
    const applied = (p: Proc): number | undefined => {
      try {
        const st = JSON.parse(readFileSync(join(state, 'stats.json'), 'utf8')) as { pid: number; highWaterTotal: number };
        return st.pid === p.child.pid ? st.highWaterTotal : undefined;
      } catch {
        return undefined;
      }
    };
    const caughtUp = (p: Proc, what: string) => waitFor(`${what}: ${workload.written} records applied`, () => applied(p) === workload.written || undefined, 120_000, 100);

    // Phase 0: compacting often, so there are snapshots of several generations.
    let c0 = startConsumer(100_000);
    writePhase();
    writePhase();
    await caughtUp(c0, 'start');
    const expectedWarnings: RegExp[] = [];
    const run = async (what: string, damage: () => void, compactBytes: number, warning: RegExp | undefined): Promise<void> => {
      assert.equal(await stop(c0), 0, `${what}: the consumer stops cleanly before the damage`);
      damage();
      c0 = startConsumer(compactBytes);
      writePhase();
      await caughtUp(c0, what);
      const w = warnings(c0);
      if (warning) {
        expectedWarnings.push(warning);
        assert.equal(w.length, 1, `${what}: one warning, got ${JSON.stringify(w)}`);
        assert.match(w[0]!.msg, warning);
      } else {
        assert.deepEqual(w, [], `${what}: nothing to warn about`);
      }
    };

    await run('bit flip in the newest snapshot', () => {
      const snaps = generationFiles(state, 'snapshot');
      assert.ok(snaps.length >= 2, `a previous generation to fall back to: ${readdirSync(state).join(' ')}`);
      const newest = join(state, snaps.at(-1)!);
      flipBit(newest, Math.floor(statSync(newest).size / 2));
    }, 100_000, /^snapshot-\d+ is corrupt \(payload checksum mismatch over bytes \d+-\d+\); using generation \d+ \(snapshot-\d+ and journals \d+\.\.\d+\); set aside as snapshot-\d+\.corrupt-\d+$/);

    await run('newest snapshot cut in half', () => {
      const newest = join(state, generationFiles(state, 'snapshot').at(-1)!);
      truncateSync(newest, Math.floor(statSync(newest).size / 2));
    }, 100_000, /^snapshot-\d+ is corrupt \(truncated at byte \d+, header declares \d+ bytes\); using generation \d+/);

    // From here on no compaction: one journal with many entries to damage.
    await run('no damage, compaction off', () => {}, 1 << 30, undefined);
    const currentJournal = () => {
      const name = generationFiles(state, 'journal').at(-1)!;
      const path = join(state, name);
      const buf = readFileSync(path);
      const scan = scanJournal(buf, Number(name.slice('journal-'.length)));
      assert.equal(scan.problem, undefined);
      return { name, path, buf, scan };
    };

    let lostFrom = 0;
    await run('bit flip in the middle of the journal', () => {
      const j = currentJournal();
      assert.ok(j.scan.entries.length >= 10, `${j.name} has ${j.scan.entries.length} entries`);
      const third = j.scan.entries[Math.floor(j.scan.entries.length / 3)]!;
      const at = third.byteOffset - j.buf.byteOffset + Math.floor(third.length / 2);
      lostFrom = at;
      flipBit(j.path, at);
    }, 1 << 30, /^journal-\d+ is corrupt at byte \d+ \(entry payload checksum mismatch\); kept the \d+ entries before it, set aside bytes \d+-\d+ as journal-\d+\.corrupt-\d+$/);
    assert.ok(lostFrom > 0);
    await waitFor('the client told to read again', () => /reading the file again from the start/.test(client.output()) || undefined, 10_000);

    await run('journal cut in the middle of an entry', () => {
      const j = currentJournal();
      const mid = j.scan.entries[Math.floor(j.scan.entries.length / 2)]!;
      truncateSync(j.path, mid.byteOffset - j.buf.byteOffset + Math.floor(mid.length / 2));
    }, 1 << 30, undefined); // indistinguishable from a write torn by a crash: an info note, not a warning
    assert.match(consumers.at(-1)!.output() + readFileSync(join(data, 'logs', 'consumer-c0.log'), 'utf8'), /cut off an incomplete last entry at byte \d+/);

    // A crash during compaction: SIGKILL, and a half-written snapshot temp file.
    await kill9(c0);
    writeFileSync(join(state, 'snapshot-999999.tmp'), Buffer.alloc(1000, 7));
    c0 = startConsumer(100_000);
    writePhase();
    await caughtUp(c0, 'after a crash mid-compaction');
    assert.deepEqual(warnings(c0), [], 'a crash artefact is cleaned up quietly');
    assert.ok(!existsSync(join(state, 'snapshot-999999.tmp')));

    // A restart after all that: nothing more to say.
    assert.equal(await stop(c0), 0);
    c0 = startConsumer(100_000);
    await caughtUp(c0, 'a clean restart');
    assert.deepEqual(warnings(c0), []);

    // The result: exactly the oracle's alerts, none twice, every record applied once.
    const want = idSet(await oracle([file], 'jsonl', SOURCE));
    await waitFor('every alert', () => idSet(readAlerts(join(data, 'alerts.jsonl'))).size >= want.size || undefined, 60_000);
    await sleep(1000);
    const got = readAlerts(join(data, 'alerts.jsonl'));
    assert.deepEqual(duplicateIds(got), []);
    assert.deepEqual(diffIds(idSet(got), want), { missing: 0, extra: 0 });
    assert.equal(applied(c0), workload.written);

    // Each damage was reported once in the consumer's own log file too, and not again on later starts.
    const fileLog = readFileSync(join(data, 'logs', 'consumer-c0.log'), 'utf8').split('\n').filter(Boolean)
      .map((l) => JSON.parse(l) as { level: number; msg: string }).filter((o) => o.level >= 40);
    assert.equal(fileLog.length, expectedWarnings.length, JSON.stringify(fileLog));
    expectedWarnings.forEach((re, i) => assert.match(fileLog[i]!.msg, re));
  });

  it('refuses a state with no good generation, with a clear error, instead of starting empty', async () => {
    const state = join(dir, 'hopeless');
    // a consumer that started once (its state: an empty journal-000000), then stopped
    const base = await freeBasePort();
    const c = slowq('c-h', ['consumer', '--name', 'c0', '--data', state, '--master', `tcp://127.0.0.1:${base + 1}`, '--monitor', `tcp://127.0.0.1:${base + 2}`]);
    await waitFor('the consumer running', () => existsSync(join(state, 'stats.json')) || undefined, 30_000);
    assert.equal(await stop(c), 0);
    // the only generation's journal is gone and a snapshot that claims to be newer is garbage
    for (const j of generationFiles(state, 'journal')) rmSync(join(state, j));
    writeFileSync(join(state, 'snapshot-000005'), Buffer.from('not a snapshot at all, just some forty bytes'));
    const copy = join(dir, 'hopeless-copy');
    cpSync(state, copy, { recursive: true });
    const again = slowq('c-h2', ['consumer', '--name', 'c0', '--data', state, '--master', `tcp://127.0.0.1:${base + 1}`, '--monitor', `tcp://127.0.0.1:${base + 2}`]);
    const code = await Promise.race([again.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 30_000))]);
    assert.notEqual(code, 'running', 'it does not start');
    assert.notEqual(code, 0);
    assert.match(again.output(), /no usable state in .*hopeless.*snapshot-000005 is corrupt \(bad magic at byte 0\).*Refusing to start from an empty state/);
    assert.ok(!again.output().includes('    at '), 'a message, not a stack trace');
    // nothing was changed by the refusal: the operator still has every byte to look at
    assert.deepEqual(readdirSync(state).filter((n) => n !== 'stats.json').sort(), readdirSync(copy).filter((n) => n !== 'stats.json').sort());
  });
});
