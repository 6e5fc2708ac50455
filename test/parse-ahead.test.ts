import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { ChunkIntake, type ChunkRequest } from '../src/consumer/chunk-intake.js';
import { OrderedInbox } from '../src/consumer/ordered-inbox.js';
import { ParseAhead, type AheadTicket } from '../src/consumer/parse-ahead.js';
import type { RawChunk } from '../src/formats/entry-chunker.js';
import type { Alert, QueryRecord } from '../src/model/record.js';
import { RulesEngine } from '../src/rules/engine.js';
import { cutChunks, generatedSlowLog, repeatedHourLog, replayedClockLog } from './support/chunks.js';
import { waitFor } from '../bench/harness/wait.js';

// Chunks parsed ahead in a parse thread (src/consumer/parse-ahead.ts, a real worker thread) are used only where
// the guess they were made on holds at their turn, so the records, marks and alerts always equal a sequential
// parse on the main thread: in order, with a chunk sent twice, with a stream's state replaced under a chain (a
// handoff or a reload), with two streams interleaved, and when the thread dies mid-way.

const request = (c: RawChunk, stream = 's1'): ChunkRequest => ({ src: 'db', stream, first: c.from + 1, last: c.to, eof: c.eof, quiet: c.quiet, fmt: 'mysql-slow', tz: '', pfx: '', bytes: c.bytes });

interface Outcome {
  ids: string[];
  records: QueryRecord[];
}

/** What the main thread alone makes of `reqs`, in order. */
function sequential(reqs: ChunkRequest[]): Outcome & { engine: RulesEngine } {
  const engine = new RulesEngine();
  const intake = new ChunkIntake();
  const out: Outcome = { ids: [], records: [] };
  for (const req of reqs) {
    const alerts: Alert[] = [];
    const r = intake.apply(engine, req, alerts);
    out.ids.push(...alerts.map((a) => a.id));
    out.records.push(...r.records);
  }
  return { ...out, engine };
}

/**
 * The consumer's way (consumer.ts, an OrderedInbox): every request pushed as it comes, done in order once its
 * parse is settled. All come before the first is done (a busy consumer). `between(i)` runs before request i is
 * done (to change the state under a chain).
 */
async function ahead(pa: Pooled, reqs: ChunkRequest[], between?: (i: number, engine: RulesEngine) => RulesEngine | void): Promise<Outcome & { engine: RulesEngine }> {
  let engine = new RulesEngine();
  const intake = new ChunkIntake();
  const out: Outcome = { ids: [], records: [] };
  let done = 0;
  const inbox = new OrderedInbox<number>(pa.ahead, {
    markOf: (src, stream) => engine.sources.get(src)?.chunks.get(stream),
    run: (i, ticket) => {
      engine = between?.(i, engine) ?? engine;
      const alerts: Alert[] = [];
      const r = intake.apply(engine, reqs[i]!, alerts, ticket);
      out.ids.push(...alerts.map((a) => a.id));
      out.records.push(...r.records);
      done++;
    },
  });
  pa.inbox = inbox;
  reqs.forEach((req, i) => inbox.push(i, req));
  await waitFor('every request done', () => done === reqs.length || undefined, 60_000, 2);
  return { ...out, engine };
}

/** A reload of the state from what it was: the marks are new objects with the same values. */
function reloaded(engine: RulesEngine): RulesEngine {
  const copy = new RulesEngine();
  for (const [name, s] of engine.sources) {
    const into = copy.source(name);
    Object.assign(into, { ...s, chunks: new Map([...s.chunks].map(([k, m]) => [k, { ...m }])) });
  }
  return copy;
}

interface Pooled {
  ahead: ParseAhead;
  inbox?: OrderedInbox<number>;
}

describe('parsing raw chunks ahead in a parse thread', () => {
  const log1 = generatedSlowLog(11, 4000);
  const log2 = generatedSlowLog(12, 3000);
  const chunks1 = cutChunks(log1, 16 * 1024);
  const chunks2 = cutChunks(log2, 8 * 1024);
  const reqs = chunks1.map((c) => request(c));
  const want = sequential(reqs);
  const pools: ParseAhead[] = [];
  const pool = async (threads = 1): Promise<Pooled> => {
    const pooled: Pooled = { ahead: new ParseAhead({ threads, onSettled: () => pooled.inbox?.drain(), log: pino({ level: 'silent' }) }) };
    const pa = pooled.ahead;
    pools.push(pa);
    // a thread takes jobs once it is online: offer until every one is (one stream per thread)
    for (let t = 0; t < threads; t++) {
      await waitFor('the parse thread online', () => {
        const ticket = pa.offer({ ...reqs[0]!, stream: `warm-${t}` }, undefined, 0);
        if (ticket) pa.done(ticket);
        return ticket !== undefined || undefined;
      }, 30_000, 20);
    }
    Object.assign(pa.counts, { chunksParsedAhead: 0, chunksParsedAgain: 0 });
    return pooled;
  };
  after(async () => {
    for (const pa of pools) await pa.stop();
  });

  it('in order: every chunk parsed ahead, the same records and alerts as one parse on the main thread', async () => {
    assert.ok(want.ids.length > 20, `${want.ids.length} alerts`);
    const pa = await pool();
    const got = await ahead(pa, reqs);
    assert.deepEqual(got.ids, want.ids);
    assert.deepEqual(got.records, want.records);
    assert.deepEqual(got.engine.source('db').chunks.get('s1'), want.engine.source('db').chunks.get('s1'));
    assert.equal(pa.ahead.counts.chunksParsedAhead, reqs.length);
  });

  it('a chunk sent twice, a chunk missing, and the state replaced under a chain: parsed again where the guess fails, same outcome', async () => {
    const pa = await pool();
    const third = Math.floor(reqs.length / 3);
    // the client sends chunk 5 again after chunk 6 (a resend), and chunk `third` comes before the one before it
    const resent = [...reqs.slice(0, 7), reqs[5]!, ...reqs.slice(7)];
    const got = await ahead(pa, resent, (i, engine) => (i === third ? reloaded(engine) : undefined));
    assert.deepEqual(got.ids, want.ids);
    assert.deepEqual(got.records, want.records);
    // the state replaced under the chain: one chunk parsed again, the chain offered again from there
    assert.ok(pa.ahead.counts.chunksParsedAgain >= 1, JSON.stringify(pa.ahead.counts));
    assert.ok(pa.ahead.counts.chunksParsedAgain <= 3, JSON.stringify(pa.ahead.counts));
  });

  it('two streams interleaved over two threads, and a thread killed mid-way: the same as each stream alone', async () => {
    const pa = await pool(2);
    const reqs2 = chunks2.map((c) => request(c, 's2'));
    const mixed: ChunkRequest[] = [];
    for (let i = 0; i < Math.max(reqs.length, reqs2.length); i++) {
      if (reqs[i]) mixed.push(reqs[i]!);
      if (reqs2[i]) mixed.push(reqs2[i]!);
    }
    const killAt = Math.floor(mixed.length / 2);
    const got = await ahead(pa, mixed, (i) => {
      if (i === killAt) (pa.ahead as unknown as { threads: Array<{ worker: { terminate(): Promise<number> } } | undefined> }).threads.forEach((t) => void t?.worker.terminate());
    });
    const want2 = sequential(reqs2);
    assert.deepEqual(got.records.filter((r) => r.stream === 's1'), want.records);
    assert.deepEqual(got.records.filter((r) => r.stream === 's2'), want2.records);
    assert.deepEqual(new Set(got.ids), new Set([...want.ids, ...want2.ids]));
  });
});

describe('one stream over several parse threads (guessed starts)', () => {
  const pools: ParseAhead[] = [];
  const pool = (threads: number): Pooled => {
    const pooled: Pooled = { ahead: new ParseAhead({ threads, onSettled: () => pooled.inbox?.drain(), log: pino({ level: 'silent' }) }) };
    pools.push(pooled.ahead);
    pooled.ahead.start();
    return pooled;
  };
  /** waits until every thread takes jobs (a thread not online yet is passed over: its chunks are parsed at their turn) */
  const online = async (pa: Pooled, threads: number): Promise<void> => {
    const probe = request(cutChunks(generatedSlowLog(1, 5), 1 << 20)[0]!, 'warm');
    await waitFor('the parse threads online', () => {
      const tickets: AheadTicket[] = [];
      for (let t = 0; t < threads; t++) {
        const ticket = pa.ahead.offer({ ...probe, stream: `warm-${t}` }, undefined, 0);
        if (ticket) tickets.push(ticket);
      }
      return tickets.length === threads || undefined;
    }, 30_000, 20);
    await waitFor('the warm-up parses', () => (pa.ahead as unknown as { inFlight: Map<number, unknown> }).inFlight.size === 0 || undefined, 30_000, 5);
    Object.assign(pa.ahead.counts, { chunksParsedAhead: 0, chunksParsedAgain: 0, chunksGuessed: 0, guessesNotHeld: 0 });
  };
  after(async () => {
    for (const pa of pools) await pa.stop();
  });

  for (const threads of [2, 3]) {
    it(`${threads} threads: one MariaDB log's chunks spread over all of them, the same records, marks and alerts`, async (t) => {
      const reqs = cutChunks(generatedSlowLog(21, 6000), 8 * 1024).map((c) => request(c));
      const want = sequential(reqs);
      const pa = pool(threads);
      await online(pa, threads);
      const got = await ahead(pa, reqs);
      assert.deepEqual(got.ids, want.ids);
      assert.deepEqual(got.records, want.records);
      assert.deepEqual(got.engine.source('db').chunks.get('s1'), want.engine.source('db').chunks.get('s1'));
      const c = pa.ahead.counts;
      t.diagnostic(`${reqs.length} chunks: ${JSON.stringify(c)}`);
      assert.equal(c.chunksParsedAhead + c.chunksParsedAgain, reqs.length);
      assert.ok(c.chunksGuessed > reqs.length / 2, `most chunks parsed from a guessed start: ${JSON.stringify(c)}`);
      assert.ok(c.chunksParsedAhead > reqs.length * 0.9, `nearly all chunks parsed ahead: ${JSON.stringify(c)}`);
    });
  }

  it('a replayed clock (ids settled), a resent chunk, the state replaced, a repeated hour (guesses that do not hold): the same outcome', async (t) => {
    // one file: a replayed clock's entries, a generated log's, then local times across a repeated hour
    const parts = [cutChunks(replayedClockLog(400), 2048), cutChunks(generatedSlowLog(22, 2000), 8 * 1024), cutChunks(repeatedHourLog(600), 4096)];
    const file: ChunkRequest[] = [];
    let base = 0;
    for (const chunks of parts) {
      for (const c of chunks) file.push({ ...request({ ...c, from: c.from + base, to: c.to + base, eof: false }), tz: 'America/New_York' });
      base += chunks[chunks.length - 1]!.to;
    }
    file[file.length - 1]!.eof = true;
    const resent = [...file.slice(0, 9), file[6]!, ...file.slice(9)];
    const want = sequential(file);
    const pa = pool(2);
    await online(pa, 2);
    const third = Math.floor(resent.length / 3);
    const got = await ahead(pa, resent, (i, engine) => (i === third ? reloaded(engine) : undefined));
    assert.deepEqual(got.ids, want.ids);
    assert.deepEqual(got.records, want.records);
    assert.deepEqual(got.engine.source('db').chunks.get('s1'), want.engine.source('db').chunks.get('s1'));
    const c = pa.ahead.counts;
    t.diagnostic(`${resent.length} chunks: ${JSON.stringify(c)}`);
    assert.ok(c.chunksGuessed > parts[0]!.length + parts[1]!.length / 2, `the replayed clock's and the generated log's guesses held: ${JSON.stringify(c)}`);
    assert.ok(c.guessesNotHeld >= 3, `the second pass through the repeated hour's guesses did not hold: ${JSON.stringify(c)}`);
  });
});

describe('the ordered inbox under a backlog', () => {
  it('lets timers and I/O run between the requests it drains, and keeps their order', async () => {
    // a chunk being parsed ahead holds 100 requests behind it; when its parse settles they are done in one drain
    const ticket = { settled: false } as AheadTicket;
    const fakeAhead = { offer: () => ticket, done: () => {} } as unknown as ParseAhead;
    const done: number[] = [];
    const inbox = new OrderedInbox<number>(fakeAhead, {
      markOf: () => undefined,
      run: (i) => {
        done.push(i);
        const until = performance.now() + 1;
        while (performance.now() < until) {
          // a request's work
        }
      },
    });
    const chunk = request({ from: 0, to: 10, eof: false, bytes: Buffer.alloc(10) } as RawChunk);
    inbox.push(0, chunk);
    for (let i = 1; i <= 100; i++) inbox.push(i);
    assert.deepEqual(done, []);
    let timerAt: number | undefined;
    setTimeout(() => (timerAt = done.length), 0);
    ticket.settled = true;
    inbox.drain();
    await waitFor('the backlog to be done', () => done.length === 101, 10_000, 5);
    assert.deepEqual(done, Array.from({ length: 101 }, (_, i) => i));
    assert.ok(timerAt !== undefined && timerAt < 60, `a timer set when the drain began ran after ${timerAt} of 101 requests`);
  });
});
