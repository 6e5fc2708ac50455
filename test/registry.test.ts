import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry, RegistryError, type RegistryEntry } from '../src/client/registry.js';

function entry(stream: string, over: Partial<RegistryEntry> = {}): RegistryEntry {
  return {
    stream,
    path: '/var/log/mysql/slow.log',
    dev: '2049',
    ino: '123456',
    headLen: 0,
    headHash: '',
    offset: 0,
    nextSeq: 1,
    line: 0,
    status: 'active',
    createdAt: 1700000000000,
    ...over,
  };
}

describe('registry', () => {
  let root: string;
  let n = 0;
  const freshDir = async () => {
    const d = join(root, `r${n++}`);
    await mkdir(d);
    return d;
  };
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'slowq-registry-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test('a missing file is an empty registry; commits survive a reopen', async () => {
    const dir = await freshDir();
    const reg = await Registry.open(dir);
    assert.equal(reg.size, 0);
    reg.add(entry('s1'));
    assert.equal(reg.commit('s1', { offset: 120, nextSeq: 4, line: 3, context: { time: 'x' } }), true);
    await reg.close();
    const again = await Registry.open(dir);
    const e = again.get('s1');
    assert.ok(e);
    assert.equal(e.offset, 120);
    assert.equal(e.nextSeq, 4);
    assert.equal(e.line, 3);
    assert.deepEqual(e.context, { time: 'x' });
    await again.close();
  });

  test('writes are coalesced: many commits, one write', async () => {
    const dir = await freshDir();
    const reg = await Registry.open(dir, { flushIntervalMs: 10_000 });
    reg.add(entry('s1'));
    for (let i = 1; i <= 1000; i++) reg.commit('s1', { offset: i * 10, nextSeq: i + 1, line: i });
    await reg.flush();
    assert.equal(reg.writes, 1);
    await reg.flush(); // nothing new: no write
    assert.equal(reg.writes, 1);
    await reg.close();
    assert.equal((await Registry.open(dir)).get('s1')?.offset, 10_000);
  });

  test('commits behind the committed point and commits to forgotten streams are ignored', async () => {
    const dir = await freshDir();
    const reg = await Registry.open(dir);
    reg.add(entry('s1'));
    reg.commit('s1', { offset: 50, nextSeq: 6, line: 5 });
    assert.equal(reg.commit('s1', { offset: 20, nextSeq: 3, line: 2 }), false);
    assert.equal(reg.get('s1')?.offset, 50);
    assert.equal(reg.forget('s1'), true);
    assert.equal(reg.commit('s1', { offset: 90, nextSeq: 9, line: 8 }), false);
    await reg.close();
    assert.equal((await Registry.open(dir)).size, 0);
  });

  test('a failed write is reported once, keeps the previous file, and is retried', async () => {
    const dir = await freshDir();
    const errors: Error[] = [];
    const reg = await Registry.open(dir, { retryMs: 60_000, onError: (e) => errors.push(e) });
    reg.add(entry('s1'));
    reg.commit('s1', { offset: 10, nextSeq: 2, line: 1 });
    await reg.flush();
    const before = await readFile(reg.file, 'utf8');
    // a directory where the temp file goes makes every write fail (works as root too, unlike chmod)
    await mkdir(join(dir, 'registry.json.tmp'));
    reg.commit('s1', { offset: 20, nextSeq: 3, line: 2 });
    await assert.rejects(reg.flush(), RegistryError);
    reg.commit('s1', { offset: 30, nextSeq: 4, line: 3 });
    await assert.rejects(reg.flush(), RegistryError);
    assert.equal(errors.length, 1, 'reported once');
    assert.match(errors[0]!.message, /registry\.json/);
    assert.ok(reg.lastError);
    assert.equal(await readFile(reg.file, 'utf8'), before, 'previous file untouched');
    assert.equal(reg.get('s1')?.offset, 30, 'kept in memory');
    await rm(join(dir, 'registry.json.tmp'), { recursive: true });
    await reg.flush();
    assert.equal(reg.lastError, undefined);
    await reg.close();
    assert.equal((await Registry.open(dir)).get('s1')?.offset, 30);
  });

  test('a crash between (or during) writes leaves a readable file', async () => {
    const dir = await freshDir();
    const moduleUrl = new URL('../src/client/registry.js', import.meta.url).href;
    const script = join(dir, 'writer.mjs');
    // commits and flushes as fast as it can, reporting progress, until killed
    await writeFile(
      script,
      `import { Registry } from ${JSON.stringify(moduleUrl)};
const reg = await Registry.open(${JSON.stringify(dir)}, { flushIntervalMs: 1 });
for (let i = 0; i < 50; i++) reg.add({ stream: 's' + i, path: '/x/' + 'p'.repeat(200) + i, dev: '1', ino: String(i), headLen: 0, headHash: '', offset: 0, nextSeq: 1, line: 0, status: 'active', createdAt: 1 });
for (let i = 1; i < 1e6; i++) {
  for (let s = 0; s < 50; s++) reg.commit('s' + s, { offset: i * 100, nextSeq: i + 1, line: i });
  await reg.flush();
  if (i % 10 === 0) process.stdout.write('.');
}
`,
    );
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let progress = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('writer made no progress')), 20_000);
      child.stdout.on('data', (d: Buffer) => {
        progress += d.length;
        if (progress >= 5) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const reg = await Registry.open(dir);
    assert.equal(reg.size, 50);
    const seqs = new Set(reg.list().map((e) => e.nextSeq));
    assert.ok(reg.get('s0')!.nextSeq >= 50, 'at least the reported writes are there');
    // every write carries one consistent state: all streams at the same point
    assert.equal(seqs.size, 1, `one state per write, got ${[...seqs].join(',')}`);
    await reg.close();
  });

  test('a leftover temp file from a crash is ignored', async () => {
    const dir = await freshDir();
    const reg = await Registry.open(dir);
    reg.add(entry('s1', { offset: 7, nextSeq: 2, line: 1 }));
    await reg.close();
    await writeFile(join(dir, 'registry.json.tmp'), '{"version":1,"streams":[{"stre');
    const again = await Registry.open(dir);
    assert.equal(again.get('s1')?.offset, 7);
    await again.close();
  });

  test('a corrupt registry is a clear error naming the file, not a silent fresh start', async () => {
    const dir = await freshDir();
    const file = join(dir, 'registry.json');
    await writeFile(file, '{"version":1,"streams":[{"stream":"a"');
    await assert.rejects(Registry.open(dir), (err: Error) => {
      assert.ok(err instanceof RegistryError);
      assert.ok(err.message.includes(file), err.message);
      assert.match(err.message, /corrupt/);
      return true;
    });
    await writeFile(file, JSON.stringify({ version: 1, streams: [{ ...entry('a'), offset: -5 }] }));
    await assert.rejects(Registry.open(dir), /stream #0: "offset"/);
    await writeFile(file, '');
    await assert.rejects(Registry.open(dir), RegistryError);
    // the bad file is left alone for the operator to look at
    assert.equal(await readFile(file, 'utf8'), '');
  });
});
