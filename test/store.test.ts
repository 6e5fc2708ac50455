import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { crc32, crc32Table } from '../src/durable/crc32.js';
import { FRAME_HEADER_BYTES } from '../src/durable/journal.js';
import { SNAPSHOT_HEADER_BYTES } from '../src/durable/snapshot.js';
import { DurableStore, journalFileName, snapshotFileName } from '../src/durable/store.js';

let root = '';
let dirs = 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'slowq-store-'));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

function freshDir(): string {
  return join(root, `d${++dirs}`);
}

function entry(tag: string, i: number, pad = 0): Buffer {
  return Buffer.from(`${tag}-${i}:${'x'.repeat(pad + (i % 13))}`);
}

function strings(bufs: readonly Buffer[]): string[] {
  return bufs.map((b) => b.toString());
}

/** Byte offset of the frame of entry `index` in a journal holding `entries`. */
function frameOffset(entries: readonly Buffer[], index: number): number {
  let pos = 0;
  for (let i = 0; i < index; i++) pos += FRAME_HEADER_BYTES + entries[i]!.length;
  return pos;
}

async function flipByte(file: string, offset: number): Promise<void> {
  const buf = await readFile(file);
  buf[offset] = buf[offset]! ^ 0x10;
  await writeFile(file, buf);
}

async function reopen(dir: string, options?: { fsync?: boolean }) {
  const store = new DurableStore(dir, options);
  const result = await store.open();
  return { store, ...result };
}

async function appendAll(store: DurableStore, batches: readonly Buffer[][]): Promise<void> {
  for (const b of batches) await store.append(b);
}

test('crc32: the standard check value, and the table fallback agrees with the native one', () => {
  const check = Buffer.from('123456789');
  assert.equal(crc32(check), 0xcbf43926);
  assert.equal(crc32Table(check), 0xcbf43926);
  assert.equal(crc32Table(Buffer.alloc(0)), 0);
  for (let n = 0; n < 50; n++) {
    const data = Buffer.from(Array.from({ length: n * 7 }, (_, i) => (i * 31 + n) & 0xff));
    const a = data.subarray(0, n);
    const b = data.subarray(n);
    assert.equal(crc32Table(data), crc32(data));
    assert.equal(crc32Table(b, crc32Table(a)), crc32(data), 'continuing a running checksum');
  }
});

test('a fresh directory opens empty and gets journal-000000', async () => {
  const dir = freshDir();
  const { store, snapshot, entries, warnings } = await reopen(dir);
  assert.equal(snapshot, undefined);
  assert.deepEqual(entries, []);
  assert.deepEqual(warnings, []);
  assert.equal(store.journalBytes, 0);
  await store.close();
  assert.deepEqual(await readdir(dir), [journalFileName(0)]);
});

test('round trip: many appended batches come back in order after reopen', async () => {
  const dir = freshDir();
  const { store } = await reopen(dir);
  const expected: Buffer[] = [];
  for (let b = 0; b < 60; b++) {
    const batch = Array.from({ length: (b % 7) + 1 }, (_, i) => entry('b', b * 10 + i, 40));
    if (b === 5) batch.push(Buffer.alloc(0)); // an empty entry is an entry too
    await store.append(batch);
    expected.push(...batch);
  }
  await store.append([]); // nothing to do
  assert.equal(store.journalBytes, (await stat(join(dir, journalFileName(0)))).size);
  await store.close();
  const again = await reopen(dir);
  assert.deepEqual(strings(again.entries), strings(expected));
  assert.deepEqual(again.warnings, []);
  assert.equal(again.store.journalBytes, frameOffset(expected, expected.length));
  await again.store.close();
});

test('group commit: many entries in one append call', async () => {
  const dir = freshDir();
  const { store } = await reopen(dir);
  const group = Array.from({ length: 2000 }, (_, i) => entry('g', i, 100));
  await store.append(group);
  assert.equal(store.journalBytes, frameOffset(group, group.length));
  await store.close();
  const again = await reopen(dir);
  assert.deepEqual(strings(again.entries), strings(group));
  await again.store.close();
});

test('snapshot then more appends: reopen gives the snapshot and only the later entries; two generations kept', async () => {
  const dir = freshDir();
  const { store } = await reopen(dir);
  await appendAll(store, [[entry('a', 1)], [entry('a', 2)]]);
  await store.snapshot(Buffer.from('state-1'));
  assert.equal(store.journalBytes, 0);
  await store.append([entry('b', 1), entry('b', 2)]);
  await store.close();

  let r = await reopen(dir);
  assert.equal(r.snapshot?.toString(), 'state-1');
  assert.deepEqual(strings(r.entries), ['b-1:x', 'b-2:xx']);
  assert.deepEqual(r.warnings, []);
  await r.store.snapshot(Buffer.from('state-2'));
  await r.store.append([entry('c', 1)]);
  await r.store.snapshot(Buffer.from('state-3'));
  await r.store.append([entry('d', 1)]);
  await r.store.close();

  assert.deepEqual((await readdir(dir)).sort(), [journalFileName(2), journalFileName(3), snapshotFileName(2), snapshotFileName(3)]);
  r = await reopen(dir);
  assert.equal(r.snapshot?.toString(), 'state-3');
  assert.deepEqual(strings(r.entries), ['d-1:x']);
  assert.deepEqual(r.warnings, []);
  await r.store.close();
});

test('a compaction is due once the journal is past the minimum and past the last snapshot, which a reopen remembers', async () => {
  const dir = freshDir();
  const { store } = await reopen(dir);
  await store.append([entry('a', 1, 300)]);
  assert.equal(store.compactionDue(100), true, 'no snapshot yet: the minimum decides');
  assert.equal(store.compactionDue(10_000), false);
  const state = Buffer.alloc(2_000, 's');
  await store.snapshot(state);
  await store.append([entry('b', 1, 1_000)]);
  assert.equal(store.compactionDue(100), false, 'a journal smaller than the snapshot it builds on');
  await store.append([entry('b', 2, 1_000)]);
  assert.equal(store.compactionDue(100), true);
  // the same rule for a snapshot written behind the appends, and after a reopen
  const { written } = await store.snapshotBehind(Buffer.alloc(3_000, 't'));
  await written;
  await store.append([entry('c', 1, 2_500)]);
  assert.equal(store.compactionDue(100), false);
  await store.close();
  const again = await reopen(dir);
  assert.equal(again.snapshot?.length, 3_000);
  assert.equal(again.store.compactionDue(100), false, 'the snapshot loaded counts');
  await again.store.append([entry('c', 2, 1_000)]);
  assert.equal(again.store.compactionDue(100), true);
  await again.store.close();
});

test('torn tail: the last entry cut at any byte gives the entries before it, silently, and appends continue', async () => {
  const dir = freshDir();
  const { store } = await reopen(dir);
  const written = Array.from({ length: 6 }, (_, i) => entry('t', i, 20));
  for (const e of written) await store.append([e]);
  await store.close();
  const file = join(dir, journalFileName(0));
  const whole = await readFile(file);
  const lastStart = frameOffset(written, written.length - 1);
  for (let cut = lastStart; cut < whole.length; cut++) {
    await writeFile(file, whole.subarray(0, cut));
    const r = await reopen(dir);
    assert.deepEqual(strings(r.entries), strings(written.slice(0, -1)), `cut at byte ${cut}`);
    assert.deepEqual(r.warnings, [], `cut at byte ${cut}`);
    assert.equal(r.store.journalBytes, lastStart);
    await r.store.close();
    assert.equal((await stat(file)).size, lastStart, 'the torn bytes are cut off');
  }
  const r = await reopen(dir);
  await r.store.append([Buffer.from('later')]);
  await r.store.close();
  const again = await reopen(dir);
  assert.deepEqual(strings(again.entries), [...strings(written.slice(0, -1)), 'later']);
  await again.store.close();
});

test('torn tail: a zero-filled region after the last entry (size grew, data never written) is cut silently', async () => {
  const dir = freshDir();
  const { store } = await reopen(dir);
  await store.append([entry('z', 1), entry('z', 2)]);
  await store.close();
  const file = join(dir, journalFileName(0));
  const size = (await stat(file)).size;
  await truncate(file, size + 4096);
  const r = await reopen(dir);
  assert.deepEqual(strings(r.entries), ['z-1:x', 'z-2:xx']);
  assert.deepEqual(r.warnings, []);
  assert.equal(r.store.journalBytes, size);
  await r.store.close();
});

for (const where of ['payload', 'length field'] as const) {
  test(`a flipped bit in the ${where} of a middle entry: one warning naming file and offset, entries before it kept`, async () => {
    const dir = freshDir();
    const { store } = await reopen(dir);
    const written = Array.from({ length: 10 }, (_, i) => entry('m', i, 30));
    for (let i = 0; i < written.length; i += 2) await store.append(written.slice(i, i + 2));
    await store.close();
    const file = join(dir, journalFileName(0));
    const bad = frameOffset(written, 5);
    await flipByte(file, where === 'payload' ? bad + FRAME_HEADER_BYTES + 3 : bad + 1);

    const r = await reopen(dir);
    assert.deepEqual(strings(r.entries), strings(written.slice(0, 5)));
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, new RegExp(`^${journalFileName(0)} is corrupt at byte ${bad} \\(`));
    await r.store.append([Buffer.from('after-damage')]);
    await r.store.close();

    const aside = (await readdir(dir)).filter((n) => n.startsWith(`${journalFileName(0)}.corrupt-`));
    assert.equal(aside.length, 1, 'the damaged bytes are kept aside');
    assert.equal((await stat(join(dir, aside[0]!))).size, frameOffset(written, 10) - bad);
    const again = await reopen(dir);
    assert.deepEqual(again.warnings, [], 'reported once');
    assert.deepEqual(strings(again.entries), [...strings(written.slice(0, 5)), 'after-damage']);
    await again.store.close();
  });
}

/** Generations 1 and 2 on disk: snapshot-1 = "S1", journal-1 = B, snapshot-2 = "S2", journal-2 = C. */
async function twoGenerations(dir: string): Promise<{ B: string[]; C: string[] }> {
  const { store } = await reopen(dir);
  await store.append([entry('A', 1)]);
  await store.snapshot(Buffer.from('S1'.repeat(500)));
  const B = [entry('B', 1), entry('B', 2), entry('B', 3)];
  await appendAll(store, [[B[0]!], [B[1]!, B[2]!]]);
  await store.snapshot(Buffer.from('S2'.repeat(500)));
  const C = [entry('C', 1), entry('C', 2)];
  await store.append(C);
  await store.close();
  return { B: strings(B), C: strings(C) };
}

const snapshotDamage: Record<string, (file: string) => Promise<void>> = {
  'truncated to half': async (file) => truncate(file, Math.floor((await stat(file)).size / 2)),
  'cut inside the header': async (file) => truncate(file, 10),
  'emptied': async (file) => truncate(file, 0),
  'with a flipped payload bit': async (file) => flipByte(file, SNAPSHOT_HEADER_BYTES + 100),
  'with a flipped header bit': async (file) => flipByte(file, 13),
  'half-written (full size, second half zeros)': async (file) => {
    const buf = await readFile(file);
    buf.fill(0, buf.length >> 1);
    await writeFile(file, buf);
  },
};

for (const [how, damage] of Object.entries(snapshotDamage)) {
  test(`newest snapshot ${how}: falls back to the previous generation and both journals, one warning`, async () => {
    const dir = freshDir();
    const { B, C } = await twoGenerations(dir);
    await damage(join(dir, snapshotFileName(2)));

    const r = await reopen(dir);
    assert.equal(r.snapshot?.toString(), 'S1'.repeat(500));
    assert.deepEqual(strings(r.entries), [...B, ...C]);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, new RegExp(`^${snapshotFileName(2)} is corrupt \\(.*byte.*\\); using generation 1`));
    await r.store.close();

    const again = await reopen(dir);
    assert.deepEqual(again.warnings, [], 'reported once');
    assert.equal(again.snapshot?.toString(), 'S1'.repeat(500));
    assert.deepEqual(strings(again.entries), [...B, ...C]);
    await again.store.close();
  });
}

test('after a fallback the chain it used stays the fallback of the next snapshot', async () => {
  const dir = freshDir();
  const { B, C } = await twoGenerations(dir);
  await flipByte(join(dir, snapshotFileName(2)), SNAPSHOT_HEADER_BYTES);
  const r = await reopen(dir);
  assert.equal(r.warnings.length, 1);
  await r.store.append([Buffer.from('D')]);
  await r.store.snapshot(Buffer.from('S3'));
  await r.store.append([Buffer.from('E')]);
  await r.store.close();

  await flipByte(join(dir, snapshotFileName(3)), SNAPSHOT_HEADER_BYTES);
  const again = await reopen(dir);
  assert.equal(again.snapshot?.toString(), 'S1'.repeat(500));
  assert.deepEqual(strings(again.entries), [...B, ...C, 'D', 'E']);
  assert.equal(again.warnings.length, 1);
  assert.match(again.warnings[0]!, /^snapshot-000003 is corrupt/);
  await again.store.close();
});

test('damage in the older journal of a fallback: state stops there and the newer journal is set aside', async () => {
  const dir = freshDir();
  const { B } = await twoGenerations(dir);
  await flipByte(join(dir, snapshotFileName(2)), SNAPSHOT_HEADER_BYTES + 1);
  const bEntries = B.map((s) => Buffer.from(s));
  await flipByte(join(dir, journalFileName(1)), frameOffset(bEntries, 1) + FRAME_HEADER_BYTES);

  const r = await reopen(dir);
  assert.equal(r.snapshot?.toString(), 'S1'.repeat(500));
  assert.deepEqual(strings(r.entries), B.slice(0, 1));
  assert.equal(r.warnings.length, 2);
  assert.match(r.warnings[0]!, /^snapshot-000002 is corrupt/);
  assert.match(r.warnings[1]!, new RegExp(`^journal-000001 is corrupt at byte ${frameOffset(bEntries, 1)} .*journal-000002 .*set aside`));
  await r.store.append([Buffer.from('next')]);
  await r.store.close();

  const names = await readdir(dir);
  assert.ok(names.some((n) => n.startsWith('journal-000002.orphan-')));
  assert.ok(!names.includes(journalFileName(2)));
  const again = await reopen(dir);
  assert.deepEqual(again.warnings, []);
  assert.deepEqual(strings(again.entries), [B[0]!, 'next']);
  await again.store.close();
});

test('nothing usable: a clear error naming the damage, and the files are left as they were', async () => {
  const dir = freshDir();
  await twoGenerations(dir);
  await flipByte(join(dir, snapshotFileName(2)), SNAPSHOT_HEADER_BYTES);
  await truncate(join(dir, snapshotFileName(1)), 5);
  const before = (await readdir(dir)).sort();
  const store = new DurableStore(dir);
  await assert.rejects(store.open(), (err: Error) => {
    assert.match(err.message, /^no usable state in /);
    assert.match(err.message, /snapshot-000002 is corrupt \(payload checksum mismatch/);
    assert.match(err.message, /snapshot-000001 is corrupt \(truncated at byte 5/);
    assert.match(err.message, /journal-000000.*is missing/);
    return true;
  });
  assert.deepEqual((await readdir(dir)).sort(), before);
  await assert.rejects(store.append([Buffer.from('x')]), /not open/);
});

test('a journal with no snapshot and no journal-000000 is not taken for an empty state', async () => {
  const dir = freshDir();
  const { store } = await reopen(dir);
  await store.snapshot(Buffer.from('S1'));
  await store.snapshot(Buffer.from('S2'));
  await store.close();
  await rm(join(dir, snapshotFileName(1)));
  await rm(join(dir, snapshotFileName(2)));
  await assert.rejects(new DurableStore(dir).open(), /no usable state.*there is no snapshot/);
});

test('a snapshot in a newer format version is an error, not a reason to fall back', async () => {
  const dir = freshDir();
  await twoGenerations(dir);
  const file = join(dir, snapshotFileName(2));
  const buf = await readFile(file);
  buf.writeUInt16LE(2, 4);
  buf.writeUInt32LE(crc32(buf.subarray(0, 24)), 24);
  await writeFile(file, buf);
  await assert.rejects(new DurableStore(dir).open(), /snapshot-000002 has snapshot format version 2/);
});

test('leftovers of an interrupted snapshot (a .tmp, an empty next journal) are harmless and silent', async () => {
  const dir = freshDir();
  const { C } = await twoGenerations(dir);
  await writeFile(join(dir, `${snapshotFileName(3)}.tmp`), 'partial');
  await writeFile(join(dir, journalFileName(3)), '');
  let r = await reopen(dir);
  assert.deepEqual(r.warnings, []);
  assert.equal(r.snapshot?.toString(), 'S2'.repeat(500));
  assert.deepEqual(strings(r.entries), C);
  assert.ok(!existsSync(join(dir, `${snapshotFileName(3)}.tmp`)));
  await r.store.append([Buffer.from('D')]);
  await r.store.snapshot(Buffer.from('S4'));
  await r.store.close();
  r = await reopen(dir);
  assert.equal(r.snapshot?.toString(), 'S4');
  assert.deepEqual(r.entries, []);
  await r.store.close();
  // generation 2 is the fallback of 4 (journals 2, 3, 4)
  await flipByte(join(dir, snapshotFileName(4)), SNAPSHOT_HEADER_BYTES);
  r = await reopen(dir);
  assert.equal(r.snapshot?.toString(), 'S2'.repeat(500));
  assert.deepEqual(strings(r.entries), [...C, 'D']);
  assert.equal(r.warnings.length, 1);
  await r.store.close();
});

test('a snapshot written behind appends: they go to the next journal meanwhile; reopen gives it and only them', async () => {
  const dir = freshDir();
  const { store } = await reopen(dir);
  await appendAll(store, [[entry('a', 1)], [entry('a', 2)]]);
  const { written } = await store.snapshotBehind(Buffer.from('state-1'.repeat(100_000))); // ~700 KB: still being written
  assert.equal(store.journalBytes, 0);
  const during = [store.append([entry('b', 1)]), store.append([entry('b', 2), entry('b', 3)])];
  await Promise.all([...during, written]);
  await store.append([entry('b', 4)]);
  // a second one, not awaited, then more appends and a close: each waits for what it must
  const second = store.snapshotBehind(Buffer.from('state-2'));
  const after2 = store.append([entry('c', 1)]);
  await (await second).written;
  await after2;
  await store.close();
  assert.deepEqual((await readdir(dir)).sort(), [journalFileName(1), journalFileName(2), snapshotFileName(1), snapshotFileName(2)]);
  const r = await reopen(dir);
  assert.equal(r.snapshot?.toString(), 'state-2');
  assert.deepEqual(strings(r.entries), ['c-1:x']);
  assert.deepEqual(r.warnings, []);
  await r.store.close();
  // without snapshot-2 (as if a crash undid its rename): snapshot-1 and journals 1 and 2, in order
  await rm(join(dir, snapshotFileName(2)));
  const f = await reopen(dir);
  assert.equal(f.snapshot?.toString(), 'state-1'.repeat(100_000));
  assert.deepEqual(strings(f.entries), ['b-1:x', 'b-2:xx', 'b-3:xxx', 'b-4:xxxx', 'c-1:x']);
  assert.deepEqual(f.warnings, []);
  await f.store.close();
});

test('a snapshot behind that fails leaves its generation without one: nothing appended is lost, the next one covers it', async () => {
  const dir = freshDir();
  const { store } = await reopen(dir);
  await store.append([entry('a', 1)]);
  await mkdir(join(dir, `${snapshotFileName(1)}.tmp`)); // its temp file cannot be created: EISDIR
  const { written } = await store.snapshotBehind(Buffer.alloc(10_000, 'n'));
  await store.append([entry('b', 1)]);
  await assert.rejects(written, /EISDIR|directory/);
  await store.append([entry('b', 2)]);
  assert.equal(store.compactionDue(1), true, 'a snapshot that failed does not count: the next is due after the minimum');
  await store.close();
  await rm(join(dir, `${snapshotFileName(1)}.tmp`), { recursive: true });
  let r = await reopen(dir);
  assert.equal(r.snapshot, undefined);
  assert.deepEqual(strings(r.entries), ['a-1:x', 'b-1:x', 'b-2:xx']);
  assert.deepEqual(r.warnings, []);
  await (await r.store.snapshotBehind(Buffer.from('state-2'))).written;
  await r.store.append([entry('c', 1)]);
  await r.store.close();
  r = await reopen(dir);
  assert.equal(r.snapshot?.toString(), 'state-2');
  assert.deepEqual(strings(r.entries), ['c-1:x']);
  await r.store.close();
  // its fallback: the empty state and journals 0, 1 and 2
  await flipByte(join(dir, snapshotFileName(2)), SNAPSHOT_HEADER_BYTES);
  r = await reopen(dir);
  assert.equal(r.snapshot, undefined);
  assert.deepEqual(strings(r.entries), ['a-1:x', 'b-1:x', 'b-2:xx', 'c-1:x']);
  assert.equal(r.warnings.length, 1);
  await r.store.close();
});

test('calls are carried out one at a time in call order, even when not awaited', async () => {
  const dir = freshDir();
  const { store } = await reopen(dir);
  const pending: Promise<void>[] = [];
  for (let i = 0; i < 20; i++) pending.push(store.append([entry('q', i)]));
  pending.push(store.snapshot(Buffer.from('mid')));
  for (let i = 20; i < 30; i++) pending.push(store.append([entry('q', i)]));
  await Promise.all(pending);
  await store.close();
  const r = await reopen(dir);
  assert.equal(r.snapshot?.toString(), 'mid');
  assert.deepEqual(strings(r.entries), Array.from({ length: 10 }, (_, i) => entry('q', i + 20).toString()));
  await r.store.close();
});

test('fsync: false works the same', async () => {
  const dir = freshDir();
  const { store } = await reopen(dir, { fsync: false });
  await store.append([entry('f', 1), entry('f', 2)]);
  await store.snapshot(Buffer.from('F'));
  await store.append([entry('f', 3)]);
  await store.close();
  const r = await reopen(dir, { fsync: false });
  assert.equal(r.snapshot?.toString(), 'F');
  assert.deepEqual(strings(r.entries), ['f-3:xxx']);
  await r.store.close();
});

// A child process under a file size limit (ulimit -f) gets a real short write followed by EFBIG, as with a
// full disk: the failed append and the failed snapshot must leave the store as it was.
const CHILD = `
const { DurableStore } = await import(process.env.STORE_URL);
const fs = await import('node:fs/promises');
const dir = process.env.DIR;
const out = { ok: [] };
const probe = await fs.open(dir + '/probe', 'w');
try {
  const b = Buffer.alloc(1 << 20);
  const r = await probe.write(b, 0, b.length, 0);
  out.limit = r.bytesWritten;
  await probe.write(b, 0, 1, out.limit);
} catch (e) { out.probeError = e.code; }
await probe.close();
await fs.unlink(dir + '/probe');
const store = new DurableStore(dir + '/store');
await store.open();
for (let i = 0; i < 1000 && store.journalBytes < out.limit / 2; i++) {
  const e = 'small-' + i;
  await store.append([Buffer.from(e)]);
  out.ok.push(e);
}
out.before = store.journalBytes;
const big = Array.from({ length: 8 }, (_, k) => Buffer.alloc(out.limit >> 2, 65 + k));
try { await store.append(big); out.appendError = 'none'; } catch (e) { out.appendError = e.code; }
out.sizeAfterAppend = (await fs.stat(dir + '/store/journal-000000')).size;
out.bytesAfterAppend = store.journalBytes;
await store.append([Buffer.from('after-append-failure')]);
out.ok.push('after-append-failure');
try { await store.snapshot(Buffer.alloc(out.limit * 2, 1)); out.snapshotError = 'none'; } catch (e) { out.snapshotError = e.code; }
out.filesAfterSnapshot = (await fs.readdir(dir + '/store')).sort();
await store.append([Buffer.from('after-snapshot-failure')]);
out.ok.push('after-snapshot-failure');
await store.close();
process.stdout.write(JSON.stringify(out));
`;

test('a failed append or snapshot (file size limit: short write, then EFBIG) leaves a valid store', async (t) => {
  const dir = freshDir();
  await mkdir(dir);
  const child = spawnSync('sh', ['-c', 'ulimit -f 64 && exec "$0" --input-type=module -e "$1"', process.execPath, CHILD], {
    env: { ...process.env, DIR: dir, STORE_URL: new URL('../src/durable/store.js', import.meta.url).href },
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(child.status, 0, child.stderr);
  const out = JSON.parse(child.stdout) as {
    probeError?: string;
    limit: number;
    ok: string[];
    before: number;
    appendError: string;
    sizeAfterAppend: number;
    bytesAfterAppend: number;
    snapshotError: string;
    filesAfterSnapshot: string[];
  };
  if (out.probeError !== 'EFBIG') {
    t.skip(`no file size limit here (probe: ${out.probeError ?? 'no error'})`);
    return;
  }
  assert.equal(out.appendError, 'EFBIG');
  assert.equal(out.sizeAfterAppend, out.before, 'cut back to the length before the failed call');
  assert.equal(out.bytesAfterAppend, out.before);
  assert.equal(out.snapshotError, 'EFBIG');
  assert.deepEqual(out.filesAfterSnapshot, [journalFileName(0)], 'no temp file, no new generation');

  const r = await reopen(join(dir, 'store'));
  assert.deepEqual(r.warnings, []);
  assert.equal(r.snapshot, undefined);
  assert.deepEqual(strings(r.entries), out.ok);
  await r.store.close();
});
