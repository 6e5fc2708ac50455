import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, copyFile, mkdir, mkdtemp, open, rename, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Harvester } from '../src/client/harvester.js';
import type { ParseOutput, RecordParser } from '../src/formats/parsers/types.js';
import { Registry } from '../src/client/registry.js';
import {
  FileTailer,
  HINT_GAP_MS,
  resumePointAfter,
  type FileTailerOptions,
  type StreamInfo,
  type TailedEvent,
  type TailerError,
  type TailerSink,
  type TailProblem,
} from '../src/client/tailer.js';
import { sleep, waitFor } from '../bench/harness/wait.js';

// Real files, real timers; every wait is bounded and waits for a behaviour, never for a duration.

const rec = (id: string, i = 0) =>
  JSON.stringify({ ts: 1700000000000 + i, state: 'finished', id, duration_ms: 1500, sql: `select ${i}` }) + '\n';
const recs = (prefix: string, from: number, to: number) => {
  let s = '';
  for (let i = from; i < to; i++) s += rec(`${prefix}${i}`, i);
  return s;
};

type Call =
  | { kind: 'events'; stream: string; events: TailedEvent[] }
  | { kind: 'ended'; stream: string; path: string }
  | { kind: 'problems'; stream: string; problems: TailProblem[] };

/** Collects what the tailer says; commits every event as if acked at once (up to seq `commitUpTo`). */
class Collector implements TailerSink {
  readonly calls: Call[] = [];
  readonly errors: TailerError[] = [];
  readonly all: Array<TailedEvent & { stream: string }> = [];
  commitUpTo = Infinity;
  onEvents: (() => void) | undefined;
  constructor(private readonly registry: Registry) {}

  events(stream: StreamInfo, events: TailedEvent[], context: unknown): void {
    this.calls.push({ kind: 'events', stream: stream.id, events });
    assert.equal(context, events[events.length - 1]!.context);
    for (const ev of events) this.all.push({ ...ev, stream: stream.id });
    this.onEvents?.();
    const acked = events.filter((e) => e.seq <= this.commitUpTo);
    if (acked.length > 0) this.registry.commit(stream.id, resumePointAfter(acked[acked.length - 1]!));
  }
  ended(stream: StreamInfo): void {
    this.calls.push({ kind: 'ended', stream: stream.id, path: stream.path });
    // like the client: forget once everything of the stream is acked
    const last = [...this.all].reverse().find((e) => e.stream === stream.id);
    if (!last || last.seq <= this.commitUpTo) this.registry.forget(stream.id);
  }
  problems(stream: StreamInfo, problems: TailProblem[]): void {
    this.calls.push({ kind: 'problems', stream: stream.id, problems });
  }
  error(err: TailerError): void {
    this.errors.push(err);
  }
  ids(stream?: string): string[] {
    return this.all.filter((e) => stream === undefined || e.stream === stream).map((e) => e.queryId);
  }
  streams(): string[] {
    return [...new Set(this.all.map((e) => e.stream))];
  }
  endedCount(): number {
    return this.calls.filter((c) => c.kind === 'ended').length;
  }
}

/** The tailer reacts within a few polls: check every 10 ms, for 10 s at most. */
const until = (what: string, cond: () => boolean): Promise<boolean> => waitFor(what, cond, 10_000, 10);

describe('file tailer', () => {
  let root: string;
  let n = 0;
  const running: FileTailer[] = [];
  const registries: Registry[] = [];
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'slowq-tailer-'));
  });
  after(async () => {
    for (const t of running) await t.stop();
    for (const r of registries) await r.close();
    await rm(root, { recursive: true, force: true });
  });

  const fresh = async () => {
    const dir = join(root, `t${n++}`);
    await mkdir(join(dir, 'logs'), { recursive: true });
    await mkdir(join(dir, 'data'));
    return { dir, logs: join(dir, 'logs'), data: join(dir, 'data') };
  };
  const openRegistry = async (data: string) => {
    const r = await Registry.open(data, { flushIntervalMs: 5 });
    registries.push(r);
    return r;
  };
  const startTailer = async (registry: Registry, sink: TailerSink, patterns: string[], over: Partial<FileTailerOptions> = {}) => {
    const t = new FileTailer({
      patterns,
      format: 'jsonl',
      registry,
      sink,
      pollIntervalMs: 15,
      idleFlushMs: 40,
      rotatedGraceMs: 80,
      readChunkBytes: 100, // small, so lines straddle chunks
      ...over,
    });
    running.push(t);
    await t.start();
    return t;
  };
  const stopTailer = async (t: FileTailer) => {
    await t.stop();
    running.splice(running.indexOf(t), 1);
  };
  const makeSink = (registry: Registry) => new Collector(registry);

  test('plain append: every record once, in order, numbered from 1, with exact offsets and lines', async () => {
    const { logs, data } = await fresh();
    const file = join(logs, 'slow.log');
    await writeFile(file, recs('a', 0, 3));
    const reg = await openRegistry(data);
    const sink = makeSink(reg);
    const t = await startTailer(reg, sink, [file]);
    await until('3 events', () => sink.all.length === 3);
    await appendFile(file, recs('a', 3, 5));
    await until('5 events', () => sink.all.length === 5);
    assert.deepEqual(sink.ids(), ['a0', 'a1', 'a2', 'a3', 'a4']);
    assert.deepEqual(sink.all.map((e) => e.seq), [1, 2, 3, 4, 5]);
    assert.deepEqual(sink.all.map((e) => e.line), [1, 2, 3, 4, 5]);
    let end = 0;
    for (let i = 0; i < 5; i++) {
      assert.equal(sink.all[i]!.offset, end);
      end += Buffer.byteLength(rec(`a${i}`, i));
      assert.equal(sink.all[i]!.end, end);
    }
    assert.equal(sink.streams().length, 1);
    await stopTailer(t);
    await reg.flush();
    const entry = reg.get(sink.streams()[0]!);
    assert.equal(entry?.offset, end);
    assert.equal(entry?.nextSeq, 6);
    assert.equal(entry?.line, 5);
    assert.equal(sink.errors.length, 0);
  });

  test('rename rotation while writing: every record exactly once, the old stream ends before the new one starts', async () => {
    const { logs, data } = await fresh();
    const file = join(logs, 'app.log');
    const reg = await openRegistry(data);
    const sink = makeSink(reg);
    await writeFile(file, '');
    await startTailer(reg, sink, [file]);
    // the "database" keeps its file handle across the rename, like a server before it reopens its log
    const old = await open(file, 'a');
    for (let i = 0; i < 40; i++) {
      await old.write(rec(`o${i}`, i));
      if (i % 10 === 9) await sleep(5);
    }
    await rename(file, join(logs, 'app.log.1'));
    for (let i = 40; i < 45; i++) await old.write(rec(`o${i}`, i)); // late writes to the renamed file
    await old.close();
    const cur = await open(file, 'a');
    for (let i = 0; i < 30; i++) {
      await cur.write(rec(`n${i}`, i));
      if (i % 10 === 9) await sleep(5);
    }
    await cur.close();
    await until('75 events', () => sink.all.length >= 75);
    const ids = sink.ids();
    assert.equal(ids.length, 75);
    assert.equal(new Set(ids).size, 75, 'no record twice');
    const streams = sink.streams();
    assert.equal(streams.length, 2);
    const [oldId, newId] = streams as [string, string];
    assert.deepEqual(sink.ids(oldId), Array.from({ length: 45 }, (_, i) => `o${i}`));
    assert.deepEqual(sink.ids(newId), Array.from({ length: 30 }, (_, i) => `n${i}`));
    assert.deepEqual(sink.all.filter((e) => e.stream === newId).map((e) => e.seq), Array.from({ length: 30 }, (_, i) => i + 1));
    const endedAt = sink.calls.findIndex((c) => c.kind === 'ended' && c.stream === oldId);
    const newStartsAt = sink.calls.findIndex((c) => c.kind === 'events' && c.stream === newId);
    assert.ok(endedAt >= 0 && endedAt < newStartsAt, 'old stream ended before the new stream started');
    assert.equal((sink.calls[endedAt] as { path: string }).path, join(logs, 'app.log.1'));
    await reg.flush();
    assert.equal(reg.get(oldId), undefined, 'ended and acked: forgotten');
    assert.equal(reg.get(newId)?.status, 'active');
  });

  test('copytruncate: a shorter file, or one whose head changed, starts over at 0 as a new stream', async () => {
    const { logs, data } = await fresh();
    const file = join(logs, 'db.log');
    await writeFile(file, recs('a', 0, 5));
    const reg = await openRegistry(data);
    const sink = makeSink(reg);
    const t = await startTailer(reg, sink, [file]);
    await until('5 events', () => sink.all.length === 5);
    // logrotate copytruncate: copy, then truncate in place (same inode)
    await copyFile(file, join(logs, 'db.log.1'));
    await truncate(file, 0);
    await appendFile(file, recs('b', 0, 2));
    await until('second stream', () => sink.ids().includes('b1'));
    const [first, second] = sink.streams() as [string, string];
    assert.ok(second && second !== first);
    assert.deepEqual(sink.all.filter((e) => e.stream === second).map((e) => [e.queryId, e.seq, e.offset]), [
      ['b0', 1, 0],
      ['b1', 2, Buffer.byteLength(rec('b0', 0))],
    ]);
    const endedFirst = sink.calls.findIndex((c) => c.kind === 'ended' && c.stream === first);
    assert.ok(endedFirst >= 0 && endedFirst < sink.calls.findIndex((c) => c.kind === 'events' && c.stream === second));
    // truncated and regrown past the old offset while we were not reading: the head gives it away
    t.pause();
    await writeFile(file, recs('c', 0, 8)); // same inode, longer than before, different first bytes
    t.resume();
    await until('third stream', () => sink.ids().includes('c7'));
    const third = sink.streams()[2]!;
    assert.deepEqual(sink.ids(third), Array.from({ length: 8 }, (_, i) => `c${i}`));
    assert.equal(sink.all.find((e) => e.queryId === 'c0')?.seq, 1);
    assert.equal(new Set(sink.ids()).size, sink.all.length, 'nothing twice');
  });

  test('a partial last line is held until its newline arrives, never parsed half', async () => {
    const { logs, data } = await fresh();
    const file = join(logs, 'p.log');
    const line = rec('p1', 1);
    await writeFile(file, rec('p0', 0) + line.slice(0, 40));
    const reg = await openRegistry(data);
    const sink = makeSink(reg);
    const t = await startTailer(reg, sink, [file]);
    await until('first event', () => sink.all.length === 1);
    const polls = t.stats().polls;
    await until('the partial bytes read and idle flushes done', () => t.stats().bytesRead > Buffer.byteLength(rec('p0', 0)) && t.stats().polls > polls + 6);
    assert.equal(sink.all.length, 1);
    assert.equal(sink.calls.filter((c) => c.kind === 'problems').length, 0, 'the half line is not a problem');
    await appendFile(file, line.slice(40));
    await until('second event', () => sink.all.length === 2);
    assert.equal(sink.all[1]!.queryId, 'p1');
    assert.equal(sink.all[1]!.sql, 'select 1');
    assert.equal(sink.all[1]!.offset, Buffer.byteLength(rec('p0', 0)));
    // the committed point never points into the middle of a line
    await reg.flush();
    assert.equal(reg.get(sink.streams()[0]!)?.offset, Buffer.byteLength(rec('p0', 0) + line));
  });

  test('a file created later that matches a glob is picked up, others are not', async () => {
    const { dir, logs, data } = await fresh();
    const reg = await openRegistry(data);
    const sink = makeSink(reg);
    // one glob over an existing directory, one over a directory that does not exist yet
    const t = await startTailer(reg, sink, [join(logs, '*.log'), join(dir, 'later', '*', 'slow-*.log')]);
    await writeFile(join(logs, 'notes.txt'), rec('no', 0));
    await writeFile(join(logs, 'b.log'), recs('b', 0, 2));
    await until('b.log', () => sink.all.length === 2);
    await mkdir(join(dir, 'later', 'x'), { recursive: true });
    await writeFile(join(dir, 'later', 'x', 'slow-1.log'), recs('d', 0, 3));
    await writeFile(join(dir, 'later', 'x', 'fast-1.log'), rec('no', 1));
    await until('later/x/slow-1.log', () => sink.all.length === 5);
    assert.deepEqual(sink.ids().sort(), ['b0', 'b1', 'd0', 'd1', 'd2']);
    const polls = t.stats().polls;
    await until('a few more polls', () => t.stats().polls > polls + 3);
    assert.equal(sink.ids().includes('no'), false, 'non-matching files ignored');
    assert.equal(t.stats().openFiles, 2);
  });

  test('deleting a file: what is there is read, then the stream ends', async () => {
    const { logs, data } = await fresh();
    const file = join(logs, 'gone.log');
    await writeFile(file, recs('g', 0, 3));
    const reg = await openRegistry(data);
    const sink = makeSink(reg);
    const t = await startTailer(reg, sink, [file], { rotatedGraceMs: 60 });
    await until('3 events', () => sink.all.length === 3);
    t.pause();
    await appendFile(file, recs('g', 3, 6)); // written, then deleted before we read it
    await unlink(file);
    t.resume();
    await until('stream ended', () => sink.endedCount() === 1);
    assert.deepEqual(sink.ids(), ['g0', 'g1', 'g2', 'g3', 'g4', 'g5']);
    assert.equal(t.stats().openFiles, 0);
    await reg.flush();
    assert.equal(reg.size, 0, 'ended and acked: forgotten');
    // the path may come back: a new stream from 0
    await writeFile(file, rec('h0', 0));
    await until('new file at the same path', () => sink.ids().includes('h0'));
    assert.equal(sink.all.at(-1)!.seq, 1);
    assert.equal(sink.errors.length, 0);
  });

  test('restart mid-file: a new tailer resumes at the committed point with the same seq numbers', async () => {
    const { logs, data } = await fresh();
    const file = join(logs, 'r.log');
    await writeFile(file, recs('r', 0, 10));
    const reg1 = await openRegistry(data);
    const run1 = makeSink(reg1);
    run1.commitUpTo = 4; // the server acked only the first four
    const t1 = await startTailer(reg1, run1, [file]);
    await until('10 events', () => run1.all.length === 10);
    await stopTailer(t1);
    await reg1.close();

    const reg2 = await openRegistry(data); // a new process: a new registry instance over the same file
    const run2 = makeSink(reg2);
    const t2 = await startTailer(reg2, run2, [file]);
    await until('the unacked six again', () => run2.all.length === 6);
    const strip = (e: TailedEvent & { stream: string }) => [e.stream, e.seq, e.queryId, e.offset, e.end, e.line];
    assert.deepEqual(run2.all.map(strip), run1.all.slice(4).map(strip));
    await appendFile(file, recs('r', 10, 12));
    await until('two more', () => run2.all.length === 8);
    assert.deepEqual(run2.all.slice(6).map((e) => [e.queryId, e.seq, e.line]), [
      ['r10', 11, 11],
      ['r11', 12, 12],
    ]);
    await stopTailer(t2);
  });

  test('restart after a rotation that happened while stopped: the old file is found and finished first', async () => {
    const { logs, data } = await fresh();
    const file = join(logs, 'm.log');
    await writeFile(file, recs('m', 0, 6));
    const reg1 = await openRegistry(data);
    const run1 = makeSink(reg1);
    run1.commitUpTo = 3;
    const t1 = await startTailer(reg1, run1, [file]);
    await until('6 events', () => run1.all.length === 6);
    const oldStream = run1.streams()[0]!;
    await stopTailer(t1);
    await reg1.close();
    // while the client is down: more records, rotation, a new file
    await appendFile(file, recs('m', 6, 8));
    await rename(file, join(logs, 'm.log.1'));
    await writeFile(file, recs('n', 0, 2));

    const reg2 = await openRegistry(data);
    const run2 = makeSink(reg2);
    await startTailer(reg2, run2, [file]);
    await until('old rest and new file', () => run2.all.length === 7);
    assert.deepEqual(run2.ids(oldStream), ['m3', 'm4', 'm5', 'm6', 'm7']);
    assert.deepEqual(run2.all.filter((e) => e.stream === oldStream).map((e) => e.seq), [4, 5, 6, 7, 8]);
    const newStream = run2.streams().find((s) => s !== oldStream)!;
    assert.deepEqual(run2.ids(newStream), ['n0', 'n1']);
    const endedAt = run2.calls.findIndex((c) => c.kind === 'ended' && c.stream === oldStream);
    assert.ok(endedAt >= 0 && endedAt < run2.calls.findIndex((c) => c.kind === 'events' && c.stream === newStream));
    assert.equal(run2.errors.length, 0);
  });

  test('restart when the rotated file is gone: said once, the stream ends, the new file starts', async () => {
    const { logs, data } = await fresh();
    const file = join(logs, 'z.log');
    await writeFile(file, recs('z', 0, 4));
    const reg1 = await openRegistry(data);
    const run1 = makeSink(reg1);
    run1.commitUpTo = 2;
    const t1 = await startTailer(reg1, run1, [file]);
    await until('4 events', () => run1.all.length === 4);
    await stopTailer(t1);
    await reg1.close();
    await unlink(file);
    await writeFile(file, rec('y0', 0));
    const reg2 = await openRegistry(data);
    const run2 = makeSink(reg2);
    const t2 = await startTailer(reg2, run2, [file]);
    await until('new file', () => run2.ids().includes('y0'));
    const polls = t2.stats().polls;
    await until('a few more polls', () => t2.stats().polls > polls + 3);
    assert.equal(run2.errors.length, 1);
    assert.equal(run2.errors[0]!.code, 'EGONE');
    assert.match(run2.errors[0]!.message, /seq 3/);
    assert.equal(run2.endedCount(), 1);
    assert.deepEqual(run2.ids(), ['y0']);
  });

  test('a malformed line is reported with path, offset and line; the rest is intact', async () => {
    const { logs, data } = await fresh();
    const file = join(logs, 'bad.log');
    const bad = '{"ts":1700000000000,"state":"finished","id":\n';
    await writeFile(file, rec('k0', 0) + bad + rec('k1', 1) + 'x'.repeat(300) + '\n' + rec('k2', 2));
    const reg = await openRegistry(data);
    const sink = makeSink(reg);
    await startTailer(reg, sink, [file], { maxLineBytes: 200 });
    await until('3 events', () => sink.all.length === 3);
    await until('2 problems', () => sink.calls.filter((c) => c.kind === 'problems').flatMap((c) => (c as { problems: TailProblem[] }).problems).length === 2);
    const problems = sink.calls.flatMap((c) => (c.kind === 'problems' ? c.problems : []));
    assert.deepEqual(sink.ids(), ['k0', 'k1', 'k2']);
    assert.deepEqual(sink.all.map((e) => e.line), [1, 3, 5]);
    assert.equal(problems[0]!.path, file);
    assert.equal(problems[0]!.offset, Buffer.byteLength(rec('k0', 0)));
    assert.equal(problems[0]!.line, 2);
    assert.match(problems[0]!.reason, /JSON/);
    assert.equal(problems[1]!.line, 4);
    assert.match(problems[1]!.reason, /over the 200-byte limit/);
  });

  test('pause stops reading, resume continues where it stopped', async () => {
    const { logs, data } = await fresh();
    const file = join(logs, 'big.log');
    await writeFile(file, recs('q', 0, 300));
    const reg = await openRegistry(data);
    const sink = makeSink(reg);
    let t: FileTailer | undefined;
    // the client pauses as soon as its window is "full"
    sink.onEvents = () => t?.pause();
    t = await startTailer(reg, sink, [file], { readChunkBytes: 512 });
    await until('first events', () => sink.all.length > 0);
    const got = sink.all.length;
    assert.ok(got < 300, 'reading stopped early');
    const polls = t.stats().polls;
    await until('several polls while paused', () => t!.stats().polls > polls + 5);
    assert.equal(sink.all.length, got, 'nothing read while paused');
    sink.onEvents = undefined;
    t.resume();
    await until('everything', () => sink.all.length === 300);
    assert.deepEqual(sink.all.map((e) => e.seq), Array.from({ length: 300 }, (_, i) => i + 1));
  });

  test('rewind: the stream is read again from byte 0 with the same seqs, parsed with the same options (postgres log_line_prefix)', async () => {
    const { logs, data } = await fresh();
    const file = join(logs, 'postgresql.log');
    const logLinePrefix = '%m db=%d,user=%u '; // not the default: a parser made without the options reads none of it
    const statement = (i: number) => `2024-01-01 00:00:0${i}.000 UTC db=shop,user=app LOG:  duration: 1500.000 ms  statement: select ${i}\n`;
    await writeFile(file, statement(1) + statement(2) + statement(3));
    const reg = await openRegistry(data);
    const sink = makeSink(reg);
    const t = await startTailer(reg, sink, [file], { format: 'postgres', parserOptions: { logLinePrefix } });
    await waitFor('3 events', () => sink.all.length === 3);
    const problems = () => sink.calls.flatMap((c) => (c.kind === 'problems' ? c.problems : []));
    assert.deepEqual(problems(), []);
    const stream = sink.streams()[0]!;
    assert.equal(t.rewind(stream), true);
    await waitFor('the file read again, or problems', () => sink.all.length >= 6 || problems().length > 0);
    assert.deepEqual(problems().map((p) => p.reason), [], 'read again with the same log_line_prefix');
    const strip = (e: TailedEvent & { stream: string }) => [e.stream, e.seq, e.queryId, e.offset, e.end, e.line];
    assert.deepEqual(sink.all.slice(3).map(strip), sink.all.slice(0, 3).map(strip));
    assert.equal(t.rewind('no-such-stream'), false);
  });

  test('a write wakes the tailer: lines are read long before the next poll, and a busy writer costs one cycle per gap', async () => {
    const { logs, data } = await fresh();
    const file = join(logs, 'slow.log');
    await writeFile(file, recs('h', 0, 1));
    const reg = await openRegistry(data);
    const sink = makeSink(reg);
    const t = await startTailer(reg, sink, [file], { pollIntervalMs: 3_600_000 }); // the poll alone: an hour
    await until('the first event', () => sink.all.length === 1);
    await appendFile(file, recs('h', 1, 3));
    await until('the appended events, woken by the write', () => sink.all.length === 3);
    assert.equal(t.stats().unwatchedFiles, 0);
    // a file written to many times a second: cycles at most one per HINT_GAP_MS (plus the ones before)
    const polls0 = t.stats().polls;
    const t0 = performance.now();
    for (let i = 3; i < 203; i++) await appendFile(file, rec(`h${i}`, i));
    await until('every appended event', () => sink.all.length === 203);
    const elapsed = performance.now() - t0;
    const cycles = t.stats().polls - polls0;
    assert.ok(cycles <= elapsed / HINT_GAP_MS + 3, `${cycles} cycles in ${elapsed.toFixed(0)} ms`);
    assert.deepEqual(sink.all.map((e) => e.seq), Array.from({ length: 203 }, (_, i) => i + 1));
  });

  test('without change hints, only the poll reads: an append waits for it', async () => {
    const { logs, data } = await fresh();
    const file = join(logs, 'slow.log');
    await writeFile(file, recs('p', 0, 1));
    const reg = await openRegistry(data);
    const sink = makeSink(reg);
    await startTailer(reg, sink, [file], { pollIntervalMs: 3_600_000, changeHints: false });
    await until('the first event', () => sink.all.length === 1);
    await appendFile(file, recs('p', 1, 2));
    await sleep(300);
    assert.equal(sink.all.length, 1, 'read before the next poll although nothing woke the tailer');
  });

  test('the same file matched by two patterns is one stream', async () => {
    const { logs, data } = await fresh();
    const file = join(logs, 'two.log');
    await writeFile(file, recs('w', 0, 3));
    const reg = await openRegistry(data);
    const sink = makeSink(reg);
    const t = await startTailer(reg, sink, [file, join(logs, '*.log')]);
    await until('3 events', () => sink.all.length === 3);
    const polls = t.stats().polls;
    await until('a few more polls', () => t.stats().polls > polls + 3);
    assert.equal(sink.all.length, 3);
    assert.equal(sink.streams().length, 1);
    assert.equal(reg.size, 1);
  });

  test('restart after the file was rewritten in place while stopped: the head shows it is another file', async () => {
    const { logs, data } = await fresh();
    const file = join(logs, 'w.log');
    await writeFile(file, recs('u', 0, 3));
    const reg1 = await openRegistry(data);
    const run1 = makeSink(reg1);
    const t1 = await startTailer(reg1, run1, [file]);
    await until('3 events', () => run1.all.length === 3);
    await stopTailer(t1);
    await reg1.close();
    await writeFile(file, recs('v', 0, 6)); // same inode, longer, different first bytes
    const reg2 = await openRegistry(data);
    const run2 = makeSink(reg2);
    await startTailer(reg2, run2, [file]);
    await until('the new content from byte 0', () => run2.all.length === 6);
    assert.deepEqual(run2.ids(), Array.from({ length: 6 }, (_, i) => `v${i}`));
    assert.notEqual(run2.streams()[0], run1.streams()[0]);
    assert.equal(run2.errors.length, 1);
    assert.match(run2.errors[0]!.message, /truncated or replaced/);
  });

  test('a harvester resumed at a committed point restores the parser context', async () => {
    // a stand-in for a multi-line format: "T <ms>" lines set the time later "Q <id>" events inherit
    class TimeCarryingParser implements RecordParser {
      readonly format = 'test';
      private time = 0;
      line(text: string, offset: number, end: number, _lineNo: number, out: ParseOutput): void {
        if (text.startsWith('T ')) this.time = Number(text.slice(2));
        else if (text.startsWith('Q ')) {
          out.events.push({ state: 'finished', queryId: text.slice(2), ts: this.time, durationMs: 1, sql: '', fingerprint: '', fingerprintId: '', offset, end });
        }
      }
      flush(): void {}
      context(): unknown {
        return { time: this.time };
      }
      restore(ctx: unknown): void {
        this.time = (ctx as { time: number }).time;
      }
    }
    const { logs } = await fresh();
    const file = join(logs, 'ctx.log');
    await writeFile(file, 'T 100\nQ a\nQ b\nT 200\nQ c\nT 300\nQ d\n');
    const run = async (start: { offset: number; nextSeq: number; line: number; context?: unknown }) => {
      const got: TailedEvent[] = [];
      const fh = await open(file, 'r');
      const h = new Harvester({
        info: { id: 's', path: file },
        fh,
        key: 'k',
        start,
        head: Buffer.alloc(0),
        size: 0,
        mtimeMs: 0,
        parser: new TimeCarryingParser(),
        sink: { events: (_s, evs) => got.push(...evs), problems: () => {}, ended: () => {} },
        maxLineBytes: 1000,
        now: 0,
      });
      await h.read(Buffer.alloc(8), 1 << 20, () => false, 0);
      await h.close();
      return got;
    };
    const whole = await run({ offset: 0, nextSeq: 1, line: 0 });
    assert.deepEqual(whole.map((e) => [e.queryId, e.ts, e.seq, e.line]), [
      ['a', 100, 1, 2],
      ['b', 100, 2, 3],
      ['c', 200, 3, 5],
      ['d', 300, 4, 7],
    ]);
    const resumed = await run(resumePointAfter(whole[2]!)); // acked up to "c": resume knows the time is 200
    assert.deepEqual(resumed.map((e) => [e.queryId, e.ts, e.seq, e.line]), [['d', 300, 4, 7]]);
    const resumedB = await run(resumePointAfter(whole[1]!));
    assert.deepEqual(resumedB.map((e) => [e.queryId, e.ts, e.seq]), [
      ['c', 200, 3],
      ['d', 300, 4],
    ]);
    assert.deepEqual(whole[1]!.context, { time: 100 });
  });
});
