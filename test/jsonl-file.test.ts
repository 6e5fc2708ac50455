import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rename, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Alert } from '../src/model/record.js';
import { forEachIdFromEnd, openJsonLinesLog } from '../src/monitor/jsonl-file.js';
import { FileOutput } from '../src/monitor/outputs/file.js';
import { FileNotifier } from '../src/monitor/notifiers/file.js';
import { toLabeled } from '../src/monitor/model.js';
import { prng } from '../src/workload/prng.js';
import { jsonLines } from '../src/model/json-lines.js';
import { makeNotification } from './support/notifications.js';

// alerts.jsonl and a file receiver's lines are their own delivery logs. They grow for as long as the monitor runs,
// so at open only their tail is read: a file past V8's string limit (~512 MiB) once kept the monitor from starting.

function alert(id: string): Alert {
  return {
    id, type: 'slow_query', source: 'db-01', queryId: id, fingerprint: 'select ?', fingerprintId: '0x1', sql: 'select 1',
    durationMs: 1500, startedAt: '2026-03-01T10:00:00.000Z', at: '2026-03-01T10:00:01.500Z', severity: 'warning',
  };
}

/** The reference: the whole file read forwards, the ids of the lines that are JSON objects with a string id. */
function idsForward(text: string, field: string): string[] {
  const ids: string[] = [];
  for (const line of text.split('\n')) {
    try {
      const id = (JSON.parse(line) as Record<string, unknown>)[field];
      if (typeof id === 'string') ids.push(id);
    } catch {
      // not one of ours
    }
  }
  return ids;
}

async function idsFromEnd(path: string, field = 'id', limit = Infinity): Promise<string[]> {
  const { fh, size } = await openJsonLinesLog(path);
  const ids: string[] = [];
  try {
    await forEachIdFromEnd(fh, size, field, (id) => ids.push(id) < limit);
  } finally {
    await fh.close();
  }
  return ids;
}

describe('JSON-lines delivery logs read from the end', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slowq-jsonl-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('gives the ids of the whole file, last line first, as a forward read does (generated files, lines across blocks)', async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const rnd = prng(seed);
      const lines: string[] = [];
      const n = Math.floor(rnd() * 200);
      for (let i = 0; i < n; i++) {
        const r = rnd();
        // mostly records, some of them long (several 64 KiB blocks); damaged lines, blanks, other shapes in between
        if (r < 0.7) lines.push(JSON.stringify({ id: `a-${seed}-${i}`, pad: 'x'.repeat(rnd() < 0.1 ? Math.floor(rnd() * 300_000) : Math.floor(rnd() * 200)), s: 'é→😀' }));
        else if (r < 0.8) lines.push('{"id":"torn-in-the-middl');
        else if (r < 0.85) lines.push('');
        else if (r < 0.9) lines.push(JSON.stringify({ id: 7 }));
        else if (r < 0.95) lines.push(JSON.stringify([`not-${i}`]));
        else lines.push(JSON.stringify({ other: `b-${i}` }));
      }
      const text = lines.map((l) => l + '\n').join('') + (rnd() < 0.5 ? '{"id":"torn-by-a-crash' : '');
      const path = join(dir, `gen-${seed}.jsonl`);
      await writeFile(path, text);
      const whole = text.slice(0, text.lastIndexOf('\n') + 1);
      assert.deepEqual(await idsFromEnd(path), idsForward(whole, 'id').reverse(), `seed ${seed}`);
      assert.equal((await readFile(path, 'utf8')), whole, `seed ${seed}: the torn last line is cut off`);
    }
  });

  it('stops when asked, and passes over a line longer than any of ours without holding it', async () => {
    const path = join(dir, 'long.jsonl');
    await writeFile(path, `{"id":"first"}\n{"id":"huge","pad":"${'y'.repeat(17 << 20)}"}\n{"id":"a"}\n{"id":"b"}\n`);
    assert.deepEqual(await idsFromEnd(path), ['b', 'a', 'first']);
    assert.deepEqual(await idsFromEnd(path, 'id', 1), ['b']);
  });

  it('alerts.jsonl far beyond V8\'s string limit: the monitor\'s output opens, skips the catch-up it has, writes the rest', async () => {
    const path = join(dir, 'big', 'alerts.jsonl');
    const out1 = new FileOutput(path, false);
    await out1.open([]);
    await out1.deliver([alert('old-1')]);
    await out1.close();
    // 600 MiB of an old, damaged stretch (sparse: no disk used), then the alerts written before a crash
    await truncate(path, (await stat(path)).size + 600 * 2 ** 20);
    await appendFile(path, '\n' + [alert('w-1'), alert('w-2')].map((a) => JSON.stringify(a) + '\n').join('') + '{"id":"w-3","ty');
    const out2 = new FileOutput(path, false);
    // the monitor's log says these may be missing: w-1 and w-2 were written, w-3 was torn, w-4 never started
    await out2.open([alert('w-1'), alert('w-2'), alert('w-3'), alert('w-4')]);
    await out2.deliver([alert('w-5')]);
    await out2.close();
    const ids = await idsFromEnd(path);
    assert.deepEqual(ids, ['w-5', 'w-4', 'w-3', 'w-2', 'w-1', 'old-1']);
  });

  it('a file receiver opens a file beyond the string limit and does not repeat a notification it wrote', async () => {
    const path = join(dir, 'big-receiver', 'n.jsonl');
    const n1 = makeNotification([toLabeled(alert('r-1'))]);
    const n2 = makeNotification([toLabeled(alert('r-2'))]);
    const f1 = new FileNotifier('f', path);
    await f1.send(n1);
    await f1.close();
    await truncate(path, (await stat(path)).size + 600 * 2 ** 20);
    await appendFile(path, `\n${JSON.stringify({ notificationId: n2.id })}\n`);
    const f2 = new FileNotifier('f', path);
    await f2.send(n2); // delivered before a crash: not written again
    await f2.send(n1); // written before the damaged stretch: still among the ids read back from the end
    await f2.close();
    assert.deepEqual(await idsFromEnd(path, 'notificationId'), [n2.id, n1.id]);
  });

  it('alerts.jsonl rotated by renaming, by deleting and in place (logrotate create, a hand, copytruncate): alerts go on at the path', async () => {
    const path = join(dir, 'rot', 'alerts.jsonl');
    const out = new FileOutput(path, false);
    await out.open([]);
    await out.deliver([alert('r-1')]);
    await rename(path, `${path}.1`); // logrotate's default: rename, and the writer must open a new file
    await out.deliver([alert('r-2')]);
    await unlink(path);
    await out.deliver([alert('r-3')]);
    await truncate(path, 0); // copytruncate
    await out.deliver([alert('r-4'), alert('r-5')]);
    await out.close();
    assert.deepEqual(await idsFromEnd(`${path}.1`), ['r-1']);
    assert.equal(await readFile(path, 'utf8'), [alert('r-4'), alert('r-5')].map((a) => JSON.stringify(a) + '\n').join(''));
  });

  it('a file receiver rotated by renaming writes on at the path, and does not repeat a line it wrote before', async () => {
    const path = join(dir, 'rot-receiver', 'n.jsonl');
    const n1 = makeNotification([toLabeled(alert('q-1'))]);
    const n2 = makeNotification([toLabeled(alert('q-2'))]);
    const f = new FileNotifier('f', path);
    await f.send(n1);
    await rename(path, `${path}.1`);
    await f.send(n1); // a retry of a delivery that was written (before the rotation)
    await f.send(n2);
    await f.close();
    assert.deepEqual(await idsFromEnd(`${path}.1`, 'notificationId'), [n1.id]);
    assert.deepEqual(await idsFromEnd(path, 'notificationId'), [n2.id]);
  });
});

describe('jsonLines (the bytes FileOutput writes)', () => {
  const reference = (values: unknown[]) => Buffer.from(values.map((v) => JSON.stringify(v) + '\n').join(''));

  it('equals JSON.stringify of each value plus "\\n", whatever the characters and however often the buffer grows', () => {
    const rand = prng(11);
    const alphabet = ['a', 'Z', '"', '\\', '\n', '\u0000', 'é', '€', '\u2028', '😀', '\ud800', ' '];
    const values: unknown[] = [null, 1.5, 'x', [], {}, { u: undefined }, [1, 'ü']];
    for (let i = 0; i < 400; i++) {
      let sql = '';
      const n = Math.floor(rand() * (i % 50 === 0 ? 5000 : 60));
      for (let k = 0; k < n; k++) sql += alphabet[Math.floor(rand() * alphabet.length)];
      values.push({ ...alert(`a${i}`), sql });
    }
    for (const hint of [1, 64, 4096, 1 << 20]) assert.deepEqual(jsonLines(values, hint), reference(values), `size hint ${hint}`);
    assert.equal(jsonLines([]).length, 0);
  });
});
