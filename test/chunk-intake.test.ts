import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChunkIntake, type ChunkRequest } from '../src/consumer/chunk-intake.js';
import { decodeEntry, decodeSnapshot, encodeEntry, encodeSnapshot, entryBuffer } from '../src/consumer/state-codec.js';
import { checkShippable, EntryChunker, recycleChunk, type RawChunk } from '../src/formats/entry-chunker.js';
import type { Alert } from '../src/model/record.js';
import { RulesEngine } from '../src/rules/engine.js';
import { cutChunks, generatedSlowLog } from './support/chunks.js';

// The consumer's side of raw chunks (src/consumer/chunk-intake.ts): bytes at or below a stream's mark are
// duplicates even when the chunk is cut differently the second time, a chunk past the mark is a gap, and the
// mark with the parser's context survives a snapshot and the journal, so that a consumer restarted mid-stream
// applies exactly the records (and raises exactly the alerts) an uninterrupted one does.

const request = (c: RawChunk): ChunkRequest => ({ src: 'db', stream: 's1', first: c.from + 1, last: c.to, eof: c.eof, quiet: c.quiet, fmt: 'mysql-slow', tz: '', pfx: '', bytes: c.bytes });

/** Applies chunks; returns every alert id raised, in order. */
function applyAll(engine: RulesEngine, intake: ChunkIntake, chunks: RawChunk[]): string[] {
  const ids: string[] = [];
  for (const c of chunks) {
    const alerts: Alert[] = [];
    const r = intake.apply(engine, request(c), alerts);
    assert.equal(r.gapExpected, undefined);
    ids.push(...alerts.map((a) => a.id));
  }
  return ids;
}

describe('raw chunks at the consumer', () => {
  const bytes = generatedSlowLog(11, 3000);
  const whole = (() => {
    const engine = new RulesEngine();
    const ids = applyAll(engine, new ChunkIntake(), cutChunks(bytes, 4096));
    return { ids, records: engine.source('db').streams.get('s1'), mark: engine.source('db').chunks.get('s1') };
  })();

  it('the same records whatever the cut; what comes again is skipped, even cut differently', () => {
    assert.ok(whole.ids.length > 20, `${whole.ids.length} alerts`);
    assert.equal(whole.mark?.end, bytes.length);
    const engine = new RulesEngine();
    const intake = new ChunkIntake();
    const small = cutChunks(bytes, 1);
    const half = Math.floor(small.length / 2);
    const ids = applyAll(engine, intake, small.slice(0, half));
    // a restarted client cuts again from an older offset, longer chunks: what overlaps is skipped
    const again = cutChunks(bytes, 64 * 1024);
    for (const c of again) {
      const alerts: Alert[] = [];
      const r = intake.apply(engine, request(c), alerts);
      ids.push(...alerts.map((a) => a.id));
      assert.equal(r.gapExpected, undefined);
    }
    assert.deepEqual(ids, whole.ids);
    assert.equal(engine.source('db').streams.get('s1'), whole.records);
  });

  it('a chunk past the mark is a gap: nothing applied, the mark named', () => {
    const engine = new RulesEngine();
    const intake = new ChunkIntake();
    const chunks = cutChunks(bytes, 8192);
    applyAll(engine, intake, chunks.slice(0, 2));
    const r = intake.apply(engine, request(chunks[3]!), []);
    assert.equal(r.gapExpected, chunks[1]!.to + 1);
    assert.equal(r.journal, undefined);
    assert.equal(engine.source('db').chunks.get('s1')?.end, chunks[1]!.to);
  });

  it('snapshot + journal replay mid-stream give what an uninterrupted consumer gives', () => {
    const chunks = cutChunks(bytes, 2048);
    const engine = new RulesEngine();
    const intake = new ChunkIntake();
    const third = Math.floor(chunks.length / 3);
    const ids = applyAll(engine, intake, chunks.slice(0, third));
    // a snapshot, then journal entries as the consumer writes them, then a "restart" from both
    const snapshot = encodeSnapshot(engine, []);
    const journal: Buffer[] = [];
    for (const c of chunks.slice(third, 2 * third)) {
      const alerts: Alert[] = [];
      const r = intake.apply(engine, request(c), alerts);
      ids.push(...alerts.map((a) => a.id));
      journal.push(entryBuffer(encodeEntry({ k: 'c', src: 'db', stream: 's1', first: r.journal!.first, last: c.to, eof: c.eof, fmt: 'mysql-slow', tz: '', bytes: r.journal!.bytes })));
    }
    const restarted = new RulesEngine();
    decodeSnapshot(snapshot, restarted, new Map());
    const replayIntake = new ChunkIntake();
    for (const b of journal) {
      const e = decodeEntry(b);
      assert.equal(e.k, 'c');
      if (e.k === 'c') replayIntake.apply(restarted, { src: e.src, stream: e.stream, first: e.first, last: e.last, eof: e.eof, quiet: e.quiet === true, fmt: e.fmt, tz: e.tz, pfx: e.pfx ?? '', bytes: e.bytes }, []);
    }
    // the rest, after the restart: the client resends from its committed offset (a chunk of the journal again)
    const rest = applyAll(restarted, replayIntake, chunks.slice(2 * third - 1));
    assert.deepEqual([...ids, ...rest], whole.ids);
    assert.equal(restarted.source('db').streams.get('s1'), whole.records);
    assert.deepEqual(restarted.source('db').chunks.get('s1'), whole.mark);
  });

  it('a chunk that ends inside an entry is said so, and nothing is carried over half-read', () => {
    const engine = new RulesEngine();
    const text = bytes.subarray(0, 4000);
    const at = text.lastIndexOf('\nSET timestamp') + 1;
    const r = new ChunkIntake().apply(engine, { src: 'db', stream: 's2', first: 1, last: at, eof: false, quiet: false, fmt: 'mysql-slow', tz: '', pfx: '', bytes: text.subarray(0, at) }, []);
    assert.equal(r.cutInEntry, true);
  });
});

describe('a PostgreSQL chunk with its log_line_prefix: what a client sends is parsed only if no line can cost seconds', () => {
  // Each `%a` (application name) is matched lazily: four of them made one 1,000-character line cost 3 s before the
  // values were bounded, 4.5 ms after; a prefix from the wire may have at most two (postgres.ts shippedPrefixProblem).
  const hostile = '%a %a %a %a %a %a ';
  const lines = Buffer.from(('x '.repeat(500) + '\n').repeat(200));
  const pg = (pfx: string, bytes: Buffer): ChunkRequest => ({ src: 'pg', stream: 's', first: 1, last: bytes.length, eof: false, quiet: true, fmt: 'postgres', tz: '', pfx, bytes });

  it('a prefix with more lazy values than two is refused, applying nothing, and the client refuses it at start', () => {
    const engine = new RulesEngine();
    assert.throws(() => new ChunkIntake().apply(engine, pg(hostile, lines), []), /has 6 values whose end only the text after them shows.*at most 2: ship records/);
    assert.equal(engine.sources.get('pg')?.chunks.get('s'), undefined, 'no mark moved');
    assert.throws(() => checkShippable('postgres', { logLinePrefix: hostile }), /at most 2: ship records/);
    assert.doesNotThrow(() => checkShippable('postgres', { logLinePrefix: '%m [%p] %q%u@%d app=%a ' }));
  });

  it('a real prefix is parsed: every line a problem named, the mark moved', () => {
    const engine = new RulesEngine();
    const r = new ChunkIntake().apply(engine, pg('%t [%p]: user=%u,db=%d,app=%a,client=%h ', lines), []);
    assert.equal(r.problems.length, 200);
    assert.equal(engine.sources.get('pg')?.chunks.get('s')?.end, lines.length);
  });
});

describe('stores of shipped chunks (entry-chunker.ts, recycleChunk)', () => {
  it('a store given back holds later chunks, the same bytes cut as from fresh memory; other buffers are left alone', () => {
    const bytes = generatedSlowLog(13, 6000);
    const fresh = cutChunks(bytes, 512 * 1024).map((c) => Buffer.from(c.bytes)); // copies: what the chunks held
    const stores = new Set<ArrayBuffer>();
    const out: RawChunk[] = [];
    const c = new EntryChunker({ format: 'mysql-slow', offset: 0, line: 0, maxBytes: 8 << 20 });
    let i = 0;
    for (let at = 0; at < bytes.length; at += 64 * 1024) {
      c.push(bytes.subarray(at, at + 64 * 1024), out);
      // each chunk, once "acked", gives its store back before the next is cut
      for (const chunk of out.splice(0)) {
        assert.deepEqual(chunk.bytes, fresh[i++], `chunk ${i}`);
        if (chunk.bytes.byteOffset === 0) stores.add(chunk.bytes.buffer as ArrayBuffer);
        recycleChunk(chunk.bytes);
        recycleChunk(chunk.bytes); // given back twice: kept once
      }
    }
    c.finish(true, out);
    for (const chunk of out) assert.deepEqual(chunk.bytes, fresh[i++], `chunk ${i}`);
    assert.equal(i, fresh.length);
    assert.ok(stores.size < fresh.length - 1, `${stores.size} stores for ${fresh.length} chunks: stores were reused`);
    // a buffer no chunker allocated, or a part of one, is never taken
    const other = Buffer.alloc(768 * 1024, 7);
    recycleChunk(other);
    recycleChunk(other.subarray(1));
    const d: RawChunk[] = [];
    const c2 = new EntryChunker({ format: 'mysql-slow', offset: 0, line: 0, maxBytes: 8 << 20 });
    c2.push(bytes, d);
    c2.finish(true, d);
    assert.ok(d.every((x) => x.bytes.buffer !== other.buffer));
    assert.equal(other.every((b) => b === 7), true, 'left alone');
  });
});
