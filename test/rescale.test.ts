import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Packr } from 'msgpackr';
import pino from 'pino';
import { Handoffs, type HandoffHost } from '../src/consumer/handoff.js';
import { Outbox } from '../src/consumer/outbox.js';
import { decodeEntry, encodeSourceState, entryBuffer, installSourceState, type HandoffEntry } from '../src/consumer/state-codec.js';
import { packState } from '../src/durable/codec.js';
import { Master } from '../src/master/master.js';
import { Rescale } from '../src/master/rescale.js';
import { openSocket } from '../src/transport/socket.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { RingFile } from '../src/master/ring-file.js';
import { ownerOf } from '../src/model/rendezvous.js';
import type { Alert, QueryRecord } from '../src/model/record.js';
import { RulesEngine } from '../src/rules/engine.js';
import { CLASS_START_TS, ClassWorkload, classSql } from '../src/workload/class-workload.js';
import type { Frames } from '../src/transport/send-queue.js';
import * as h from '../src/wire/headers.js';
import { PROTOCOL_VERSION, decodeHeader, decodeNames, encodeHeader, encodeNames, ProtocolError, type Header } from '../src/wire/protocol.js';

// The steps of a ring change one by one (docs/delivery.md, "Changing the consumer set"): the new messages'
// schemas, the master's side (rescale.ts: what is routed where, what is forwarded, when the change ends, what a
// restarted master does), and a consumer's (handoff.ts: giving a source up, replaying that, receiving one, a
// repeat, a state that does not pass). test/e2e-rescale.test.ts runs the whole of it with real processes.

const plain = new Packr({ useRecords: false });
const log = pino({ level: 'silent' });

function refused(fn: () => unknown, code: string, problem: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof ProtocolError && err.code === code && problem.test(err.message), `expected ${code} matching ${problem}`);
}

/** sources: one that moves to c2 from each of c0, c1, and one that stays */
function sources(): { moveFrom0: string; moveFrom1: string; stay: string } {
  const found: Record<string, string> = {};
  for (let i = 0; i < 1000; i++) {
    const s = `db-${i}`;
    const key = ownerOf(s, ['c0', 'c1', 'c2']) === 'c2' ? `move${ownerOf(s, ['c0', 'c1'])}` : 'stay';
    found[key] ??= s;
  }
  return { moveFrom0: found.movec0!, moveFrom1: found.movec1!, stay: found.stay! };
}

describe('ring change: the messages', () => {
  it('each builds and decodes to itself; fields out of their rules are refused', () => {
    const built: Header[] = [
      h.ringRequestHeader(1, 'add', 'c2'), h.ringRequestHeader(2, 'get', ''), h.ringHeader({ rid: 1, version: 3, busy: 1, ok: 1, msg: 'x' }),
      h.releaseHeader(4), h.releaseHeader(4, true), h.releasedHeader(4, 2), h.handoffHeader(4, 'db-1'), h.handoffHeader(4, 'db-1', true), h.handoffAckHeader('handoff-ack', 4, 'db-1'), h.handoffAckHeader('handoff-done', 4, 'db-1'),
    ];
    for (const header of built) assert.deepEqual(decodeHeader(encodeHeader(header)), header);
    const v = PROTOCOL_VERSION;
    refused(() => decodeHeader(plain.pack({ v, t: 'ring-req', rid: 1, op: 'drop', name: 'c2' })), 'BAD_HEADER', /op: must be one of get, add, remove/);
    refused(() => decodeHeader(plain.pack({ v, t: 'ring-req', rid: 1, op: 'remove', name: '' })), 'BAD_HEADER', /remove needs a name/);
    refused(() => decodeHeader(plain.pack({ v, t: 'release', ver: 0 })), 'BAD_HEADER', /ver/);
    refused(() => decodeHeader(plain.pack({ v, t: 'release', ver: 2, shared: 2 })), 'BAD_HEADER', /shared/);
    assert.equal((decodeHeader(plain.pack({ v, t: 'batch', rid: 1, src: 's', stream: 'f', first: 1, last: 2, ring: 7 })) as { ring?: number }).ring, 7);
    refused(() => decodeHeader(plain.pack({ v, t: 'batch', rid: 1, src: 's', stream: 'f', first: 1, last: 2, ring: -1 })), 'BAD_HEADER', /ring/);
    refused(() => decodeHeader(plain.pack({ v, t: 'handoff', ver: 2, src: 'x'.repeat(600) })), 'BAD_HEADER', /src: must have at most 512/);
    refused(() => decodeHeader(plain.pack({ v, t: 'released', ver: 2, n: -1 })), 'BAD_HEADER', /n/);
    assert.deepEqual(decodeNames(encodeNames(['c0', 'c1'])), ['c0', 'c1']);
    refused(() => decodeNames(encodeNames([])), 'BAD_PAYLOAD', /no names/);
    refused(() => decodeNames(encodeNames(['c0', 'c0'])), 'BAD_PAYLOAD', /twice/);
    refused(() => decodeNames(plain.pack({ names: ['c0'] })), 'BAD_PAYLOAD', /not a list/);
    refused(() => decodeNames(plain.pack(['c0', 7])), 'BAD_PAYLOAD', /name 1/);
  });
});

describe('ring change: the master (rescale.ts)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slowq-rescale-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** lets the ring's writes land and what waits on them run */
  const settle = async (file: RingFile) => {
    await file.flushed();
    await new Promise((resolve) => setTimeout(resolve, 20));
  };

  /** a Rescale whose sends are recorded, consumers alive as given */
  function master(file: RingFile, alive: Set<string>) {
    const sent: Array<{ to: string; header: Header; payload?: Buffer }> = [];
    const io = {
      log, alive: (n: string) => alive.has(n),
      send: (to: string, frames: Frames) => {
        if (!alive.has(to)) return false;
        sent.push({ to, header: decodeHeader(frames[0] as Buffer), ...(frames[1] && { payload: frames[1] as Buffer }) });
        return true;
      },
    };
    return { sent, io };
  }

  it('moves only the sources whose owner changes, each once acked; the ring is saved before and after', async () => {
    const { moveFrom0, moveFrom1, stay } = sources();
    const file = new RingFile(join(dir, 'a'));
    const alive = new Set(['c0', 'c1']);
    const { sent, io } = master(file, alive);
    const r = new Rescale(await file.open({ version: 1, names: ['c0', 'c1'] }), file, io);
    assert.deepEqual(r.route(moveFrom0), { name: 'c0' });
    assert.equal((await r.request('add', 'c2', 0)).ok, false, 'not connected: refused');
    alive.add('c2');
    assert.equal((await r.request('remove', 'c9', 0)).ok, false);
    const began = await r.request('add', 'c2', 0);
    assert.equal(began.ok, true, began.msg);
    assert.equal(began.busy, true);
    assert.deepEqual(JSON.parse(readFileSync(file.path, 'utf8')), { v: 1, version: 1, names: ['c0', 'c1'], next: { version: 2, names: ['c0', 'c1', 'c2'] } });
    assert.equal((await r.request('remove', 'c1', 0)).ok, false, 'one change at a time');
    assert.deepEqual(sent.map((m) => [m.to, m.header.t]), [['c0', 'release'], ['c1', 'release']]);
    assert.deepEqual(decodeNames(sent[0]!.payload), ['c0', 'c1', 'c2']);

    assert.deepEqual(r.route(stay), { name: ownerOf(stay, ['c0', 'c1']) });
    assert.ok('wait' in r.route(moveFrom0), 'a moving source waits');
    // a handoff from a consumer that does not own the source is ignored
    r.onHandoff('c1', 2, moveFrom0, Buffer.from('state'), 0);
    assert.equal(r.stats().handoffsRefused, 1);
    sent.length = 0;
    r.onHandoff('c0', 2, moveFrom0, Buffer.from('state-0'), 0);
    assert.deepEqual(sent.map((m) => [m.to, m.header]), [['c2', h.handoffHeader(2, moveFrom0)]]);
    assert.equal(sent[0]!.payload!.toString(), 'state-0');
    r.onReleased('c0', 2, 1);
    await settle(file);
    assert.deepEqual(JSON.parse(readFileSync(file.path, 'utf8')).next, { version: 2, names: ['c0', 'c1', 'c2'], released: ['c0'], moving: [moveFrom0] });
    assert.ok('wait' in r.route(moveFrom0), 'still waits: not acked');
    // not acked within 5 s: forwarded again
    sent.length = 0;
    r.tick(5000);
    assert.deepEqual(sent.map((m) => [m.to, m.header.t]), [['c1', 'release'], ['c2', 'handoff']]);
    sent.length = 0;
    r.onHandoffAck('c1', 2, moveFrom0); // not from the new owner: nothing
    assert.ok('wait' in r.route(moveFrom0));
    r.onHandoffAck('c2', 2, moveFrom0);
    assert.ok('wait' in r.route(moveFrom0), 'routed there only once written as moved');
    await settle(file);
    assert.deepEqual(r.route(moveFrom0), { name: 'c2' });
    assert.deepEqual(sent.map((m) => [m.to, m.header]), [['c0', h.handoffAckHeader('handoff-done', 2, moveFrom0)]]);
    // c1 gives up its source and says released; the change ends once that one is acked
    r.onHandoff('c1', 2, moveFrom1, Buffer.from('state-1'), 6000);
    r.onReleased('c1', 2, 1);
    await settle(file);
    assert.equal(r.stats().ringMoving, 1);
    r.onHandoffAck('c2', 2, moveFrom1);
    await settle(file);
    await settle(file);
    assert.equal(r.stats().ringMoving, 0);
    assert.equal(r.version, 2);
    assert.deepEqual(JSON.parse(readFileSync(file.path, 'utf8')), { v: 1, version: 2, names: ['c0', 'c1', 'c2'] });
    assert.deepEqual(r.route(moveFrom1), { name: 'c2' });
    // a handoff of the change that ended (its done was lost): done at once
    sent.length = 0;
    r.onHandoff('c1', 2, moveFrom1, Buffer.from('state-1'), 7000);
    assert.deepEqual(sent.map((m) => [m.to, m.header]), [['c1', h.handoffAckHeader('handoff-done', 2, moveFrom1)]]);
  });

  it('a restarted master takes the change up again from ring.json; a damaged ring.json stops it', async () => {
    const file = new RingFile(join(dir, 'b'));
    await file.save({ version: 4, names: ['c0', 'c1', 'c2'], next: { version: 5, names: ['c0', 'c1'] } });
    const again = new RingFile(join(dir, 'b'));
    const state = await again.open({ version: 1, names: ['x'] });
    assert.deepEqual(state, { version: 4, names: ['c0', 'c1', 'c2'], next: { version: 5, names: ['c0', 'c1'] } });
    const { sent, io } = master(again, new Set(['c0', 'c1', 'c2']));
    const r = new Rescale(state, again, io);
    assert.deepEqual(sent.map((m) => [m.to, m.header]), ['c0', 'c1', 'c2'].map((c) => [c, h.releaseHeader(5)]));
    for (const c of ['c0', 'c1', 'c2']) r.onReleased(c, 5, 0);
    await settle(again);
    await settle(again);
    assert.deepEqual((await again.load()), { version: 5, names: ['c0', 'c1'] });
    writeFileSync(again.path, '{"v":1,"version":5,"names":[]}');
    await assert.rejects(again.load(), /is not a ring/);
  });
});

describe('ring change: a consumer (handoff.ts)', () => {
  const rec = (seq: number, queryId: string, durationMs: number, state: 'running' | 'finished' = 'finished'): QueryRecord => ({
    source: 'db-1', stream: 's1', seq, state, queryId, ts: 1_767_225_600_000 + seq * 1000, durationMs, sql: 'select 1', fingerprint: 'select ?', fingerprintId: '0xA',
  });

  /** a consumer's state and the durable steps it staged */
  function consumer(name: string) {
    const staged: Alert[] = [];
    const steps: Array<{ entries: Buffer[]; after: Frames[] }> = [];
    const host: HandoffHost & { engine: RulesEngine; outbox: Outbox } = {
      name, engine: new RulesEngine(), outbox: new Outbox(), staged: [staged],
      stage: (entries, afterFrames) => steps.push({ entries: entries.map(entryBuffer), after: afterFrames }),
    };
    return { host, steps, handoffs: new Handoffs() };
  }

  it('gives a source up in one entry with its state; a replay ends the same; the new owner takes it once', () => {
    const a = consumer('c0');
    const alerts: Alert[] = [];
    a.host.engine.applyBatch('db-1', 's1', [rec(1, 'q1', 60_000), rec(2, 'q2', 1000, 'running')], alerts);
    assert.ok(alerts.length > 0, 'a slow query alerted');
    a.host.outbox.add(alerts);
    a.host.engine.applyBatch('db-2', 's1', [{ ...rec(1, 'q9', 10), source: 'db-2' }], []);
    const names = ['c0', 'c1'];
    const moving = ['db-1', 'db-2'].filter((s) => ownerOf(s, names) !== 'c0');
    assert.ok(moving.length > 0);
    // an alert of a request being written (not durable yet) goes with its source, not into this outbox
    const inWrite: Alert = { ...alerts[0]!, id: 'in-write', source: moving[0]! };
    a.host.staged[0]!.push(inWrite);
    a.handoffs.release(a.host, 2, names, () => assert.fail('not too big'));
    assert.equal(a.steps.length, 1);
    const [step] = a.steps;
    assert.equal(step!.entries.length, moving.length + 1, 'the ring version had (the fence), then one entry per source');
    assert.deepEqual(decodeEntry(step!.entries[0]!), { k: 'r', ver: 2 });
    assert.equal(a.handoffs.staleRoute(1), true, 'a batch routed by ring 1 is refused from now on');
    assert.equal(a.handoffs.staleRoute(undefined), true);
    assert.equal(a.handoffs.staleRoute(2), false);
    for (const s of moving) {
      assert.ok(a.handoffs.gaveUp(s));
      assert.equal(a.host.engine.sources.has(s), false);
    }
    assert.equal(step!.after.length, moving.length + 1, 'one handoff per source, then released');
    assert.deepEqual(decodeHeader(step!.after.at(-1)![0] as Buffer), h.releasedHeader(2, moving.length));
    assert.equal(a.host.staged[0]!.length, 0);
    const blob = step!.after.find((f) => (decodeHeader(f[1] as Buffer) as { src?: string }).src === moving[0])![2] as Buffer;
    assert.ok(installSourceState(blob, moving[0]!, new RulesEngine()).some((x) => x.id === 'in-write'));
    // a replay of the entries (after the batches) ends with the same state
    const entries = step!.entries.map((b) => decodeEntry(b) as HandoffEntry);
    const replay = { engine: new RulesEngine(), outbox: new Outbox(), handoffs: new Handoffs() };
    replay.engine.applyBatch('db-1', 's1', [rec(1, 'q1', 60_000), rec(2, 'q2', 1000, 'running')], []);
    replay.outbox.add(alerts);
    replay.engine.applyBatch('db-2', 's1', [{ ...rec(1, 'q9', 10), source: 'db-2' }], []);
    replay.outbox.add([inWrite]);
    for (const e of entries) replay.handoffs.apply(e, replay.engine, replay.outbox);
    assert.deepEqual([...replay.engine.sources.keys()], [...a.host.engine.sources.keys()]);
    const comparable = (hs: Handoffs) => {
      const snap = hs.snapshot();
      return { ...snap, outgoing: snap.outgoing.map(([src, ver, state]) => [src, ver, Buffer.from(state).toString('hex')]) };
    };
    assert.deepEqual(comparable(replay.handoffs), comparable(a.handoffs));

    // the new owner: db-1's state, its alerts with it
    const b = consumer('c1');
    const state = encodeSourceState(oneSource('db-1'), 'db-1', alerts);
    b.handoffs.receive(b.host, 2, 'db-1', state);
    assert.equal(b.host.engine.sources.get('db-1')?.streams.get('s1'), 2);
    assert.equal(b.host.engine.sources.get('db-1')?.open.size, 1);
    assert.deepEqual(b.host.staged[0]!.map((x) => x.id), alerts.map((x) => x.id));
    assert.deepEqual(decodeHeader(b.steps[0]!.after[0]![0] as Buffer), h.handoffAckHeader('handoff-ack', 2, 'db-1'));
    // a repeat is acked, not applied again
    b.host.engine.applyBatch('db-1', 's1', [rec(3, 'q3', 10)], []);
    b.handoffs.receive(b.host, 2, 'db-1', state);
    assert.equal(b.host.engine.sources.get('db-1')?.streams.get('s1'), 3, 'not rolled back');
    assert.equal(b.steps[1]!.entries.length, 0);
    assert.equal(b.handoffs.stats().handoffsRepeated, 1);
  });

  it('a state that does not pass is refused whole, the engine untouched', () => {
    const b = consumer('c1');
    b.host.engine.applyBatch('db-1', 's1', [rec(1, 'q1', 10)], []);
    const before = b.host.engine.sources.get('db-1');
    assert.throws(() => b.handoffs.receive(b.host, 2, 'db-1', Buffer.from([0xc1, 0x00])), /not msgpack|unknown layout/);
    assert.throws(() => b.handoffs.receive(b.host, 2, 'db-1', packState({ v: 1, source: { name: 'db-1', watermark: 0, open: [{ queryId: 7 }], done: [], streams: [] }, outbox: [] })), /open query/);
    assert.throws(() => installSourceState(encodeSourceState(oneSource('db-2'), 'db-2', []), 'db-1', b.host.engine), /another source's/);
    assert.equal(b.host.engine.sources.get('db-1'), before);
    assert.equal(b.steps.length, 0);
    assert.equal(b.handoffs.stats().handoffsRefused, 2, 'the two received (the third was installSourceState alone)');
  });

  it('a source\'s regression classes move with it: cut anywhere, the alerts (regressions included) equal one engine\'s', () => {
    // the source moves from c0 to c2 (2 → 3 consumers) mid-workload, a slowdown of class 3 open at one of the cuts
    const src = sources().moveFrom0;
    const recs: QueryRecord[] = [...new ClassWorkload({ seed: 5, classes: 5, perMinute: 30, slowdowns: [{ classIndex: 3, fromMin: 60, toMin: 70, factor: 10 }] }).run(90)]
      .map((e, i) => ({
        source: src, stream: 'f', seq: i + 1, state: 'finished', queryId: e.id, ts: e.ts, durationMs: e.durationMs,
        sql: classSql(e.classIndex, i % 10), fingerprint: `select * from t${e.classIndex} where k = ?`, fingerprintId: `0x${e.classIndex.toString(16)}`, db: 'shop',
      }));
    const ids = (alerts: Alert[]) => alerts.map((x) => x.id);
    const whole: Alert[] = [];
    new RulesEngine().applyBatch(src, 'f', recs, whole);
    assert.deepEqual(whole.filter((x) => x.type.startsWith('regression')).map((x) => x.type), ['regression', 'regression_resolved']);
    const openAt = recs.findIndex((r) => r.ts >= CLASS_START_TS + 65 * 60_000);
    for (const cut of [1500, openAt, recs.length - 100]) {
      const a = consumer('c0');
      const before: Alert[] = [];
      a.host.engine.applyBatch(src, 'f', recs.slice(0, cut), before);
      a.host.outbox.add(before);
      a.handoffs.release(a.host, 2, ['c0', 'c1', 'c2'], () => assert.fail('not too big'));
      const frames = a.steps[0]!.after.find((f) => f.length === 3)!;
      const b = consumer('c2');
      b.handoffs.receive(b.host, 2, src, frames[2] as Buffer);
      assert.equal(b.host.engine.sources.get(src)?.classes.classes.size, 5, `cut ${cut}: the classes came along`);
      const afterwards: Alert[] = [];
      b.host.engine.applyBatch(src, 'f', recs.slice(cut), afterwards);
      // what was raised before the cut went with the state (still in the outbox); what came after is the new owner's
      assert.deepEqual([...new Set([...ids(before), ...ids(afterwards)])].sort(), [...new Set(ids(whole))].sort(), `cut at record ${cut}`);
      assert.deepEqual(ids(b.host.staged[0]!).sort(), ids(before).filter((id) => !a.host.outbox.alerts.has(id)).sort(), `cut ${cut}: its alerts went with it`);
    }
  });

  /** an engine holding one source after one batch */
  function oneSource(source: string): RulesEngine {
    const e = new RulesEngine();
    e.applyBatch(source, 's1', [{ ...rec(1, 'q1', 60_000), source }, { ...rec(2, 'q2', 1000, 'running'), source }], []);
    return e;
  }
});

describe('ring change: hostile input at the master', () => {
  it('malformed ring and hand-off messages on the consumer port are counted, nothing crashes, the ring is untouched', async () => {
    const base = await freeBasePort();
    const master = new Master({ clientBind: `tcp://127.0.0.1:${base}`, consumerBind: `tcp://127.0.0.1:${base + 1}`, consumers: ['c0', 'c1'], log });
    await master.start();
    const sock = openSocket('dealer', { linger: 0, receiveTimeout: 10_000, sendTimeout: 10_000 });
    try {
      sock.connect(`tcp://127.0.0.1:${base + 1}`);
      const v = PROTOCOL_VERSION;
      const bad: Buffer[][] = [
        [Buffer.alloc(0), Buffer.from('not msgpack at all'), Buffer.from('x')], // a handoff's framing, a bad header
        [Buffer.alloc(0), encodeHeader(h.handoffHeader(2, 'db-1')), Buffer.from('state')], // a handoff from no consumer
        [Buffer.alloc(0), encodeHeader(h.releaseHeader(2)), encodeNames(['c0'])], // a type the master does not take
        [plain.pack({ v, t: 'ring-req', rid: 1, op: 'add', name: 'x'.repeat(600) })],
        [plain.pack({ v, t: 'ring-req', rid: 1, op: 'explode', name: 'c2' })],
        [encodeHeader(h.releasedHeader(2, 1))], // from no consumer
        [encodeHeader(h.handoffAckHeader('handoff-ack', 2, 'db-1'))],
        [encodeHeader(h.ringHeader({ rid: 1, version: 9, busy: 0, ok: 1, msg: 'forged' }))],
      ];
      for (const frames of bad) await sock.send(frames);
      // still there, the ring as it was; and a change it cannot make is refused with why
      await sock.send([encodeHeader(h.ringRequestHeader(7, 'add', 'c9'))]);
      const [reply] = await sock.receive();
      const r = decodeHeader(reply) as Extract<Header, { t: 'ring' }>;
      assert.equal(r.t, 'ring');
      assert.equal(r.rid, 7);
      assert.equal(r.ok, 0);
      assert.match(r.msg, /c9 is not connected/);
      assert.match(r.msg, /ring version 1 \[c0, c1\]/);
      assert.ok(master.getStats().malformed >= bad.length, `malformed ${master.getStats().malformed}`);
    } finally {
      sock.close();
      await master.stop();
    }
  });
});
