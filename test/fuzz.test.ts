import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Packr } from 'msgpackr';
import * as zmq from 'zeromq';
import type { Alert } from '../src/model/record.js';
import {
  decodeAlerts, decodeHeader, decodeRecords, decodeStats, encodeAlerts, encodeHeader, encodeRecords, encodeStats, PROTOCOL_VERSION,
  type Header, type WireRecord,
} from '../src/wire/protocol.js';
import { readAlerts } from '../bench/harness/files.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { slowq, stop, stopAll, type Proc } from '../bench/harness/processes.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import { prng } from '../src/workload/prng.js';

// Hostile peers on every listening socket: the master's client and consumer ports, the monitor and the
// logserver each get at least FRAMES random or mutated frames (bit flips, truncations, wrong types and
// versions, missing and extra frames, lying counts, msgpack length bombs, frames up to 1 MiB). Every message
// must be rejected and counted (answered with an error where the protocol answers), memory must stay bounded,
// no service may die, and afterwards each still serves real traffic: a batch is acked, an alert accepted, a
// log line written. Mutants that happen to be valid messages are not sent (they would be real traffic).

const FRAMES = Number(process.env.SLOWQ_FUZZ_FRAMES ?? 100_000);
/** peak resident memory any service may reach while being fuzzed */
const MAX_RSS_BYTES = 400 * 1024 * 1024;

const rand = prng(Number(process.env.SLOWQ_FUZZ_SEED ?? 6));
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(list: readonly T[]): T => list[int(list.length)]!;

function randomBytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = int(256);
  return b;
}

/** mostly small, sometimes KiBs, rarely up to 1 MiB */
function randomSize(): number {
  const p = rand();
  if (p < 0.05) return 0;
  if (p < 0.8) return 1 + int(64);
  if (p < 0.97) return 64 + int(1024);
  if (p < 0.999) return 1024 + int(64 * 1024);
  return 256 * 1024 + int(768 * 1024);
}

const plainPackr = new Packr({ useRecords: false });
const recordsPackr = new Packr({ useRecords: true, moreTypes: false });

function record(i: number): WireRecord {
  return { state: i % 2 ? 'running' : 'finished', queryId: `q${i}`, ts: 1_700_000_000_000 + i, durationMs: 1500 + i, sql: 'select 1', fingerprint: 'select ?', fingerprintId: '0xABC' };
}

function alert(i: number): Alert {
  return {
    id: `fuzz-${i}`, type: 'slow_query', source: 'fuzz', queryId: `q${i}`, fingerprint: 'select ?', fingerprintId: '0xABC', sql: 'select 1',
    durationMs: 2000, startedAt: new Date(0).toISOString(), at: new Date(0).toISOString(), severity: 'warning',
  };
}

/** Valid messages of every kind, the material mutations start from (frames after the routing id). */
function validMessages(): Buffer[][] {
  const n = 1 + int(3);
  const recs = Array.from({ length: n }, (_, i) => record(i));
  const first = 1 + int(5);
  const st = [{ service: 'client-x', kind: 'client', at: Date.now(), counters: { a: 1 } }];
  return [
    [encodeHeader({ v: PROTOCOL_VERSION, t: 'batch', rid: int(1000), src: 'fuzz-src', stream: 'fuzz-stream', first, last: first + n - 1 }), encodeRecords(recs)],
    [encodeHeader({ v: PROTOCOL_VERSION, t: 'stats' }), encodeStats(st)],
    [encodeHeader({ v: PROTOCOL_VERSION, t: 'alerts', rid: int(1000), n: 1 }), encodeAlerts([alert(int(1e9))])],
    // a name that is not configured: a valid claim to a configured one would be fenced off, not counted malformed
    [encodeHeader({ v: PROTOCOL_VERSION, t: 'hello', name: 'fuzz', sid: 'fuzz-state', gen: 1, pid: 1, host: 'fuzz' })],
    [encodeHeader({ v: PROTOCOL_VERSION, t: 'hb', name: 'fuzz', sid: 'fuzz-state', gen: 2, pid: 1, host: 'fuzz' })],
    [Buffer.from('client-id'), encodeHeader({ v: PROTOCOL_VERSION, t: 'ack', rid: 1, stream: 's', last: 3, applied: 3, dup: 0 })],
    [encodeHeader({ v: PROTOCOL_VERSION, t: 'retry', rid: 1, after: 100, reason: 'x' })],
    [encodeHeader({ v: PROTOCOL_VERSION, t: 'gap', rid: 1, stream: 's', expected: 1 })],
    [encodeHeader({ v: PROTOCOL_VERSION, t: 'err', rid: 1, code: 'X', msg: 'y' })],
    [encodeHeader({ v: PROTOCOL_VERSION, t: 'alerts-ack', rid: 1, accepted: 1, dup: 0 })],
  ];
}

const WEIRD: unknown[] = [
  null, true, -1, 0, 2 ** 53, -(2 ** 60), 1.5, Number.NaN, Infinity, '', 'x'.repeat(600), 'x'.repeat(5000), [], [1, 2], {}, { a: 1 },
  Buffer.alloc(3), new Date(0),
];

/** A header map with one field changed, deleted or added. */
function mutateHeaderFields(frame: Buffer): Buffer {
  let o: Record<string, unknown>;
  try {
    const v = plainPackr.unpack(frame);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return randomBytes(randomSize());
    o = { ...(v as Record<string, unknown>) };
  } catch {
    return randomBytes(randomSize());
  }
  const keys = Object.keys(o);
  const k = rand() < 0.8 && keys.length ? pick(keys) : pick(['v', 't', 'rid', 'src', 'stream', 'first', 'last', 'n', 'name', 'extra']);
  const p = rand();
  if (p < 0.2) delete o[k];
  else if (k === 't' && p < 0.5) o.t = pick(['batch', 'stats', 'alerts', 'hello', 'hb', 'ack', 'nope', 'silence-ls', 'BATCH', '']);
  else if (k === 'v' && p < 0.5) o.v = pick([0, 2, -1, '1', 1.0001]);
  else o[k] = pick(WEIRD);
  return plainPackr.pack(o);
}

/** A payload list with one record/alert broken, or its length changed. */
function mutatePayloadStructure(frame: Buffer): Buffer {
  let list: unknown;
  try {
    list = recordsPackr.unpack(frame);
  } catch {
    return randomBytes(randomSize());
  }
  if (!Array.isArray(list) || list.length === 0) return recordsPackr.pack(pick(WEIRD));
  const copy = list.map((x) => (x && typeof x === 'object' ? { ...(x as object) } : x)) as Array<Record<string, unknown>>;
  const p = rand();
  if (p < 0.25) copy.push(copy[0]!);
  else if (p < 0.4) copy.pop();
  else if (p < 0.5) return recordsPackr.pack(copy[0]);
  else {
    const i = int(copy.length);
    const r = copy[i];
    if (r === null || typeof r !== 'object' || Object.keys(r).length === 0) {
      (copy as unknown[])[i] = pick(WEIRD);
    } else {
      const k = pick(Object.keys(r));
      if (rand() < 0.5) delete r[k];
      else r[k] = pick(WEIRD);
    }
  }
  return recordsPackr.pack(copy);
}

/** msgpack headers that promise far more than the frame holds */
function lengthBomb(): Buffer {
  return pick([
    Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0x01]), // array32 of 4 G elements
    Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61]), // map32 of 4 G entries
    Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xf0, 0x61]), // str32 of 4 GB
    Buffer.from([0xc6, 0x7f, 0xff, 0xff, 0xff, 0x00]), // bin32 of 2 GB
    Buffer.from([0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00]), // ext32
    Buffer.alloc(20_000, 0x91), // 20,000 nested arrays
    Buffer.concat([Buffer.from([0xdc, 0xff, 0xff]), Buffer.alloc(100, 0xc0)]), // array16 of 65,535 with 100 nils
  ]);
}

function mutate(msg: Buffer[]): Buffer[] {
  const frames: Buffer[] = msg.map((f) => Buffer.from(f));
  const steps = 1 + int(3);
  for (let s = 0; s < steps; s++) {
    const i = int(Math.max(1, frames.length));
    const f = frames[i] ?? Buffer.alloc(0);
    switch (int(11)) {
      case 0: { // bit flips
        const g = Buffer.from(f);
        for (let k = 0, n = 1 + int(8); k < n && g.length; k++) g[int(g.length)]! ^= 1 << int(8);
        frames[i] = g;
        break;
      }
      case 1: frames[i] = f.subarray(0, int(f.length + 1)); break;
      case 2: frames[i] = Buffer.concat([f, randomBytes(1 + int(32))]); break;
      case 3: frames[i] = randomBytes(randomSize()); break;
      case 4: frames.splice(int(frames.length + 1), 0, randomBytes(randomSize())); break;
      case 5: if (frames.length > 1) frames.splice(i, 1); break;
      case 6: frames.splice(i, 0, f); break;
      case 7: if (frames.length > 1) frames.reverse(); break;
      case 8: frames[i] = i === 0 ? mutateHeaderFields(f) : mutatePayloadStructure(f); break;
      case 9: frames[i] = mutateHeaderFields(f); break;
      default: frames[i] = lengthBomb();
    }
  }
  return frames.length > 0 ? frames : [Buffer.alloc(0)];
}

function randomMessage(): Buffer[] {
  return Array.from({ length: 1 + int(4) }, () => randomBytes(randomSize()));
}

function hostileMessage(): Buffer[] {
  return rand() < 0.3 ? randomMessage() : mutate(pick(validMessages()));
}

function tryHeader(f: Buffer | undefined): Header | undefined {
  try {
    return decodeHeader(f);
  } catch {
    return undefined;
  }
}
function ok(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch {
    return false;
  }
}

/** What the master and its consumer do with a message on the client port (frames after the routing id). */
function frontVerdict(m: Buffer[]): 'valid' | 'master' | 'consumer' {
  if (m.length !== 2) return 'master';
  const h = tryHeader(m[0]);
  if (!h) return 'master';
  if (h.t === 'stats') return ok(() => decodeStats(m[1])) ? 'valid' : 'master';
  if (h.t !== 'batch') return 'master';
  return ok(() => decodeRecords(m[1], h.last - h.first + 1)) ? 'valid' : 'consumer';
}

/** What the monitor does: 'err' = counted and answered, 'quiet' = counted, not answered (stats). */
function monitorVerdict(m: Buffer[]): 'valid' | 'err' | 'quiet' {
  if (m.length < 1 || m.length > 2) return 'err';
  const h = tryHeader(m[0]);
  if (!h) return 'err';
  if (h.t === 'alerts') return m.length === 2 && ok(() => decodeAlerts(m[1], h.n)) ? 'valid' : 'err';
  if (h.t === 'stats') return ok(() => decodeStats(m[1])) ? 'valid' : 'quiet';
  if (h.t.startsWith('silence-')) return 'valid'; // requests of `slowq silence`: real traffic, not sent
  return 'err';
}

/** The lines the logserver makes of the frames, and how many of them are not JSON objects with a string service. */
function logLines(frames: Buffer[]): { lines: number; malformed: number } {
  let lines = 0;
  let malformed = 0;
  for (const frame of frames) {
    let start = 0;
    while (start < frame.length) {
      let end = frame.indexOf(0x0a, start);
      if (end < 0) end = frame.length;
      if (end > start) {
        lines++;
        let v: unknown;
        try {
          v = JSON.parse(frame.toString('utf8', start, end));
        } catch {
          v = undefined;
        }
        if (v === null || typeof v !== 'object' || Array.isArray(v) || typeof (v as { service?: unknown }).service !== 'string') malformed++;
      }
      start = end + 1;
    }
  }
  return { lines, malformed };
}

function rssOf(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The stats a service logged as it stopped (JSON lines on stderr, or in the logserver's own file). */
function stoppedLine(text: string, msg: string): Record<string, unknown> {
  for (const line of text.split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (o.msg === msg) return o;
    } catch {
      // not a log line
    }
  }
  throw new Error(`no "${msg}" line in:\n${text.slice(-3000)}`);
}


describe('fuzz: hostile frames on every listening socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slowq-fuzz-'));
  const sockets: zmq.Socket[] = [];
  after(async () => {
    for (const s of sockets) s.close();
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`≥ ${FRAMES} frames per socket: each rejected and counted, memory bounded, every service still serving`, { timeout: 15 * 60_000 }, async () => {
    const base = await freeBasePort();
    const ep = (k: number) => `tcp://127.0.0.1:${base + k}`;
    // Services log to stderr (JSON lines), so their "stopped" lines with the counters can be read at the end.
    const procs: Record<string, Proc> = {
      logserver: slowq('logserver', ['logserver', '--data', join(dir, 'logs'), '--port', String(base + 3)]),
      monitor: slowq('monitor', ['monitor', '--data', join(dir, 'monitor'), '--port', String(base + 2), '--alerts', join(dir, 'alerts.jsonl'), '--quiet']),
      master: slowq('master', ['master', '--port', String(base), '--consumers', 'c0', '--monitor', ep(2)]),
      c0: slowq('c0', ['consumer', '--name', 'c0', '--data', join(dir, 'c0'), '--master', ep(1), '--monitor', ep(2)]),
    };

    const front = new zmq.Dealer({ linger: 0, receiveHighWaterMark: 0, sendHighWaterMark: 0 });
    const back = new zmq.Dealer({ linger: 0, routingId: 'fuzz-peer', sendHighWaterMark: 1000 });
    const mon = new zmq.Dealer({ linger: 0, receiveHighWaterMark: 0, sendHighWaterMark: 0 });
    const push = new zmq.Push({ linger: 0, sendHighWaterMark: 1000 });
    sockets.push(front, back, mon, push);
    front.connect(ep(0));
    back.connect(ep(1));
    mon.connect(ep(2));
    push.connect(ep(3));

    // Wait until a real batch gets through: the consumer is registered and everything listens.
    const realBatch = async (rid: number, first: number): Promise<Header> => {
      for (let attempt = 0; attempt < 60; attempt++) {
        await front.send([encodeHeader({ v: PROTOCOL_VERSION, t: 'batch', rid, src: 'fuzz-real', stream: 'real', first, last: first + 2 }), encodeRecords([record(1), record(2), record(3)])]);
        const [h] = await front.receive();
        const reply = decodeHeader(h);
        if (reply.t !== 'retry') return reply;
        await sleep(500);
      }
      throw new Error('the master never accepted a real batch');
    };
    const warm = await realBatch(1, 1);
    assert.equal(warm.t, 'ack');

    const pids = Object.fromEntries(Object.entries(procs).map(([k, p]) => [k, p.child.pid!]));
    const peak: Record<string, number> = {};
    const sampler = setInterval(() => {
      for (const [k, pid] of Object.entries(pids)) peak[k] = Math.max(peak[k] ?? 0, rssOf(pid));
    }, 250);

    const sent = { front: 0, back: 0, monitor: 0, logserver: 0 };
    const frames = { front: 0, back: 0, monitor: 0, logserver: 0 };
    const expect = { masterFront: 0, consumer: 0, monitorErr: 0, monitorQuiet: 0, logLines: 0, logMalformed: 0, skippedValid: 0 };
    const replies = { front: new Map<string, number>(), monitor: new Map<string, number>() };
    const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
    const receiveAll = async (sock: zmq.Dealer, into: Map<string, number>, done: () => boolean) => {
      while (!done()) {
        let msg: Buffer[];
        try {
          msg = await sock.receive();
        } catch {
          return;
        }
        const h = tryHeader(msg[0]);
        count(into, h ? h.t : 'unreadable');
        if (!h && unreadable.length < 3) {
          try {
            decodeHeader(msg[0]);
          } catch (err) {
            unreadable.push(`${(err as Error).message}: ${msg[0]?.length} bytes ${msg[0]?.toString('latin1').slice(0, 300)}`);
          }
        }
      }
    };
    /** replies that did not decode (a service answering with a malformed error would be a finding) */
    const unreadable: string[] = [];
    const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    const deadline = Date.now() + 12 * 60_000;

    // client port: every message is answered; at most 200 unanswered at a time
    const frontDone = () => frames.front >= FRAMES && total(replies.front) >= sent.front;
    const frontRx = receiveAll(front, replies.front, frontDone);
    const frontTx = (async () => {
      while (frames.front < FRAMES && Date.now() < deadline) {
        if (sent.front - total(replies.front) > 200) {
          await sleep(1);
          continue;
        }
        const m = hostileMessage();
        const v = frontVerdict(m);
        if (v === 'valid') {
          expect.skippedValid++;
          continue;
        }
        if (v === 'master') expect.masterFront++;
        else expect.consumer++;
        await front.send(m);
        sent.front++;
        frames.front += m.length;
      }
    })();

    // consumer port, as a peer that is not a configured consumer: everything is dropped and counted
    const backTx = (async () => {
      while (frames.back < FRAMES && Date.now() < deadline) {
        const m = hostileMessage();
        await back.send(m);
        sent.back++;
        frames.back += m.length;
        if (sent.back % 200 === 0) await sleep(1);
      }
    })();

    // monitor
    const monDone = () => frames.monitor >= FRAMES && total(replies.monitor) >= expect.monitorErr;
    const monRx = receiveAll(mon, replies.monitor, monDone);
    const monTx = (async () => {
      while (frames.monitor < FRAMES && Date.now() < deadline) {
        if (expect.monitorErr - total(replies.monitor) > 200) {
          await sleep(1);
          continue;
        }
        const m = hostileMessage();
        const v = monitorVerdict(m);
        if (v === 'valid') {
          expect.skippedValid++;
          continue;
        }
        if (v === 'err') expect.monitorErr++;
        else expect.monitorQuiet++;
        await mon.send(m);
        sent.monitor++;
        frames.monitor += m.length;
      }
    })();

    // logserver: random bytes and mutated log lines
    const logTx = (async () => {
      const good = Buffer.from(JSON.stringify({ level: 30, time: 1, service: 'svc', msg: 'hello "world"', n: 1 }));
      while (frames.logserver < FRAMES && Date.now() < deadline) {
        const m = rand() < 0.5 ? randomMessage() : [mutate([good])[0]!];
        const c = logLines(m);
        expect.logLines += c.lines;
        expect.logMalformed += c.malformed;
        await push.send(m);
        sent.logserver++;
        frames.logserver += m.length;
        if (sent.logserver % 200 === 0) await sleep(1);
      }
    })();

    await Promise.all([frontTx, backTx, monTx, logTx]);
    await waitFor('every answer', () => (frontDone() && monDone() ? true : undefined), 120_000, 50);
    front.close();
    mon.close();
    await Promise.all([frontRx, monRx]);
    clearInterval(sampler);
    for (const k of Object.keys(frames) as Array<keyof typeof frames>) assert.ok(frames[k] >= FRAMES, `${k}: ${frames[k]} frames sent`);

    // Every service is alive and still serving.
    for (const [k, p] of Object.entries(procs)) assert.equal(p.child.exitCode, null, `${k} still running:\n${p.output().slice(-3000)}`);
    const front2 = new zmq.Dealer({ linger: 0 });
    const mon2 = new zmq.Dealer({ linger: 0 });
    sockets.push(front2, mon2);
    front2.connect(ep(0));
    mon2.connect(ep(2));
    await front2.send([encodeHeader({ v: PROTOCOL_VERSION, t: 'batch', rid: 9, src: 'fuzz-real', stream: 'real', first: 4, last: 5 }), encodeRecords([record(4), record(5)])]);
    const ack = decodeHeader((await front2.receive())[0]);
    assert.deepEqual(ack.t === 'ack' && { last: ack.last, applied: ack.applied }, { last: 5, applied: 2 }, 'a real batch is acked');
    const real = { ...alert(1), id: 'fuzz-after-alert' };
    await mon2.send([encodeHeader({ v: PROTOCOL_VERSION, t: 'alerts', rid: 77, n: 1 }), encodeAlerts([real])]);
    const aack = decodeHeader((await mon2.receive())[0]);
    assert.deepEqual(aack.t === 'alerts-ack' && { rid: aack.rid, accepted: aack.accepted }, { rid: 77, accepted: 1 }, 'a real alert is accepted');
    await waitFor('the real alert delivered', () => readAlerts(join(dir, 'alerts.jsonl')).some((a) => a.id === 'fuzz-after-alert') || undefined, 30_000);
    await push.send([Buffer.from(JSON.stringify({ level: 30, time: Date.now(), service: 'fuzz-check', msg: 'still here' }) + '\n')]);
    await waitFor('the real log line written', () => {
      const f = join(dir, 'logs', 'fuzz-check.log');
      return (existsSync(f) && readFileSync(f, 'utf8').includes('still here')) || undefined;
    }, 30_000);
    const afterRss = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, rssOf(pid)]));

    // Stop them all; each exits 0 and its final counters account for every hostile message.
    for (const k of ['master', 'c0', 'monitor', 'logserver']) assert.equal(await stop(procs[k]!), 0, `${k} stops cleanly`);
    const master = stoppedLine(procs.master!.output(), 'master stopped');
    const consumer = stoppedLine(procs.c0!.output(), 'consumer stopped');
    const monitor = stoppedLine(procs.monitor!.output(), 'monitor stopped');
    const logserver = stoppedLine(readFileSync(join(dir, 'logs', 'logserver.log'), 'utf8'), 'logserver stopped').stats as Record<string, number>;

    const summary = {
      sent, frames, expect, peakRssMiB: Object.fromEntries(Object.entries(peak).map(([k, v]) => [k, Math.round(v / 2 ** 20)])),
      afterRssMiB: Object.fromEntries(Object.entries(afterRss).map(([k, v]) => [k, Math.round(v / 2 ** 20)])),
      counted: { master: master.malformed, consumer: consumer.malformed, monitor: monitor.malformed, logserver: logserver.malformed },
      replies: { front: Object.fromEntries(replies.front), monitor: Object.fromEntries(replies.monitor) }, unreadable,
    };
    process.stderr.write(`fuzz: ${JSON.stringify(summary)}\n`);

    assert.equal(master.malformed, expect.masterFront + sent.back, 'master counted every hostile message on both ports');
    assert.equal(consumer.malformed, expect.consumer, 'consumer counted every batch with a bad payload');
    assert.equal(monitor.malformed, expect.monitorErr + expect.monitorQuiet, 'monitor counted every hostile message');
    assert.equal(logserver.malformed, expect.logMalformed, 'logserver counted every malformed line');
    assert.equal(logserver.lines, expect.logLines + 1, 'logserver saw every line');
    assert.deepEqual(Object.fromEntries(replies.front), { err: sent.front }, 'every message on the client port answered with an error');
    assert.deepEqual(Object.fromEntries(replies.monitor), { err: expect.monitorErr }, 'every hostile alerts message answered with an error');
    for (const [k, v] of Object.entries(peak)) assert.ok(v < MAX_RSS_BYTES, `${k} peak RSS ${Math.round(v / 2 ** 20)} MiB`);
  });
});
