import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { packState } from '../src/durable/codec.js';
import { encodeFrames, FRAME_HEADER_BYTES, scanJournal } from '../src/durable/journal.js';
import type { WireRecord } from '../src/model/record.js';
import { encodeRecords } from '../src/wire/protocol.js';
import { readAlerts, readJsonLines } from '../bench/harness/files.js';
import { Pipeline } from '../bench/harness/pipeline.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import { diffIds, duplicateIds, idSet, oracle, processTestDir, WorkloadFile } from './support/cluster.js';
import { warnings } from './support/logs.js';

// Issue 10, item 1, the consumer's side: entries in its journal that are well-formed msgpack, with intact
// checksums, but whose content is wrong (a record with an unknown state and no time, a number for a source,
// seqs backwards, a count that is not the payload's, an unknown kind of entry). Before, one of them stopped
// the replay and the consumer could not start. Now each is set aside (quarantine.jsonl beside the state),
// reported once with where it is and why, counted, and the replay goes on with the entries after it: the
// pipeline still ends with exactly the oracle's alerts, every record applied once.

const SOURCE = 'db-replay';
const PHASE = 2000;

const goodRecord: WireRecord = { state: 'finished', queryId: 'planted-1', ts: 1_767_225_600_000, durationMs: 5000, sql: 'select 1', fingerprint: 'select ?', fingerprintId: '0xABC' };

/** An entry in the layout with its bytes after a head (state-codec.ts: 0xc1, u32 head length, head, bytes). */
function withTail(head: unknown, tail: Buffer, headLength?: number): Buffer {
  const packed = packState(head);
  const lead = Buffer.from([0xc1, 0, 0, 0, 0]);
  lead.writeUInt32LE(headLength ?? packed.length, 1);
  return Buffer.concat([lead, packed, tail]);
}

/** The planted entries (as the journal holds them) and why each is wrong. */
function plantedEntries(): Array<{ why: RegExp; bytes: Buffer }> {
  const batch = (fields: Record<string, unknown>, records: unknown[]) =>
    packState({ k: 'b', src: 'db-planted', stream: 'planted', first: 1, last: records.length, ...fields, payload: encodeRecords(records as WireRecord[]) });
  const head = { k: 'b', src: 'db-planted', stream: 'planted', first: 1, last: 1 };
  return [
    { why: /state/, bytes: batch({}, [{ ...goodRecord, state: 'paused', ts: Number.NaN }]) },
    { why: /src/, bytes: batch({ src: 42 }, [goodRecord]) },
    { why: /first|last/, bytes: batch({ first: 5, last: 3 }, [goodRecord]) },
    { why: /2 records|1 record|header/, bytes: batch({ last: 2 }, [goodRecord]) },
    { why: /ids/, bytes: packState({ k: 'a', ids: 'not a list' }) },
    { why: /kind|k/, bytes: packState({ k: 'zz', what: 'no such entry' }) },
    // the layout with the bytes after a head: cut short, a head longer than the entry, a kind that has no bytes
    { why: /cut short/, bytes: Buffer.from([0xc1, 7, 0]) },
    { why: /runs past/, bytes: withTail(head, Buffer.alloc(8), 0xffff) },
    { why: /not b or c/, bytes: withTail({ k: 'a', ids: [] }, Buffer.alloc(8)) },
    { why: /first|last/, bytes: withTail({ ...head, first: 5, last: 3 }, encodeRecords([goodRecord])) },
  ];
}

describe('consumer journal replay with semantically bad entries', () => {
  const dir = processTestDir('slowq-consumer-replay-');

  it('sets each aside once, with where and why, and replays the rest', { timeout: 10 * 60_000 }, async () => {
    const file = join(dir, `${SOURCE}.jsonl`);
    writeFileSync(file, '');
    const pipeline = Pipeline.start({
      data: join(dir, 'server'), base: await freeBasePort(), consumers: ['c0'],
      // small batches: a journal of many entries, so the planted ones sit among them
      clients: [{ source: SOURCE, files: [file], format: 'jsonl', data: join(dir, 'client'), args: ['--batch-size', '50'] }],
      // no compaction: one journal holding everything
      consumerArgs: ['--compact-bytes', String(1 << 30)],
    });
    await pipeline.ready();
    const c0 = pipeline.consumer('c0');
    const state = pipeline.consumerDir('c0');
    /** the stats the consumer running now wrote */
    const stats = () => {
      const st = pipeline.consumerStats('c0');
      return st?.pid === c0.pid ? st : undefined;
    };
    const workload = new WorkloadFile(file, { seed: 91, idPrefix: 'cr-' });
    const caughtUp = (what: string) =>
      waitFor(`${what}: ${workload.written} records applied`, () => stats()?.highWaterTotal === workload.written || undefined, 120_000, 100);

    workload.append(PHASE);
    await caughtUp('start');
    assert.deepEqual(await c0.stop(), { code: 0, signal: null });

    // Plant the entries in the middle of the journal, framed and checksummed as the store writes them.
    const name = readdirSync(state).filter((n) => /^journal-\d+$/.test(n)).sort().at(-1)!;
    const generation = Number(name.slice('journal-'.length));
    const scan = scanJournal(readFileSync(join(state, name)), generation);
    assert.equal(scan.problem, undefined);
    assert.ok(scan.entries.length >= 20, `${name} has ${scan.entries.length} entries`);
    const planted = plantedEntries();
    const middle = Math.floor(scan.entries.length / 2);
    const entries = [...scan.entries.slice(0, middle), ...planted.map((p) => p.bytes), ...scan.entries.slice(middle)];
    writeFileSync(join(state, name), encodeFrames(entries, generation, 0));
    let offset = 0;
    for (const e of entries.slice(0, middle)) offset += FRAME_HEADER_BYTES + e.length;
    const where = planted.map((p, i) => {
      const at = { entry: middle + i, offset };
      offset += FRAME_HEADER_BYTES + p.bytes.length;
      return at;
    });

    // The consumer starts, replays everything else (nothing of the real source is lost), says what it set aside.
    c0.start();
    await waitFor('the consumer loaded', () => {
      assert.ok(c0.running, `the consumer exited (${JSON.stringify(c0.lastExit)}):\n${c0.output().slice(-3000)}`);
      return stats() || undefined;
    }, 60_000, 100);
    assert.equal(stats()!.highWaterTotal, workload.written, 'every real entry replayed');
    assert.equal(stats()!.setAside, planted.length, 'set-aside entries counted');
    const w = warnings(c0.proc!);
    assert.equal(w.length, planted.length, JSON.stringify(w));
    const quarantine = readJsonLines<{ file: string; entry: number; offset: number; reason: string; bytes: string }>(join(state, 'quarantine.jsonl'));
    assert.equal(quarantine.length, planted.length);
    for (const [i, p] of planted.entries()) {
      assert.deepEqual({ file: quarantine[i]!.file, entry: quarantine[i]!.entry, offset: quarantine[i]!.offset }, { file: name, ...where[i]! });
      assert.match(quarantine[i]!.reason, p.why);
      assert.deepEqual(Buffer.from(quarantine[i]!.bytes, 'base64'), p.bytes);
      assert.match(w[i]!.msg, new RegExp(`^${name} entry ${where[i]!.entry} at byte ${where[i]!.offset}: .*; set aside in .*quarantine\\.jsonl`));
    }

    // The pipeline goes on, and a restart has nothing more to say.
    workload.append(PHASE);
    await caughtUp('after the replay');
    assert.deepEqual(await c0.stop(), { code: 0, signal: null });
    c0.start();
    workload.append(PHASE);
    await caughtUp('a clean restart');
    assert.deepEqual(warnings(c0.proc!), [], 'reported once');
    assert.equal(readJsonLines(join(state, 'quarantine.jsonl')).length, planted.length);

    const want = idSet(await oracle([file], 'jsonl', SOURCE));
    await waitFor('every alert', () => idSet(readAlerts(pipeline.alertsFile)).size >= want.size || undefined, 60_000);
    await sleep(1000);
    const got = readAlerts(pipeline.alertsFile);
    assert.deepEqual(duplicateIds(got), []);
    assert.deepEqual(diffIds(idSet(got), want), { missing: 0, extra: 0 });
    for (const { service, exit } of await pipeline.stop()) assert.equal(exit.code, 0, `${service.name} stops cleanly`);
  });
});
