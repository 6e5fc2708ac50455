import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Packr } from 'msgpackr';
import * as zmq from 'zeromq';
import { readAlerts } from '../bench/harness/files.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { slowq, stop, stopAll, type Proc } from '../bench/harness/processes.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import { prng } from '../src/workload/prng.js';
import { PROTOCOL_VERSION } from '../src/wire/protocol.js';

// Hostile peers on every listening socket: the master's client and consumer ports, the monitor and the
// logserver each get at least FRAMES frames. What each message must come to is stated here, from how the
// message was built and what docs/wire.md says, never by asking the system's own decoders: junk (random
// bytes that are not a msgpack map, length bombs, truncations, wrong frame counts, oversized headers), and
// messages that are well-formed msgpack of the right shape with hostile values (unknown enums, NaN, Infinity,
// negative and absurd durations, times beyond any date, strings far too long, numbers for strings, invalid
// dates, thousands of labels, `__proto__` keys, counts that lie), next to valid messages with random content
// that must be accepted. Every message must be answered or counted as the protocol says, memory must stay
// bounded, no service may die, and afterwards each still serves real traffic.
//
// The bounds used here are far from the protocol's limits on either side (a valid string is at most a few
// hundred characters, an invalid one thousands beyond), so the test does not restate them to the character.

const FRAMES = Number(process.env.SLOWQ_FUZZ_FRAMES ?? 100_000);
/** peak resident memory any service may reach while being fuzzed */
const MAX_RSS_BYTES = 400 * 1024 * 1024;

const rand = prng(Number(process.env.SLOWQ_FUZZ_SEED ?? 6));
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(list: readonly T[]): T => list[int(list.length)]!;
const chance = (p: number) => rand() < p;

const plain = new Packr({ useRecords: false });
const records = new Packr({ useRecords: true, moreTypes: false });
/** a header: a plain msgpack map */
const header = (o: Record<string, unknown>): Buffer => plain.pack(o);
/** a payload list, packed as the services pack theirs */
const list = (items: unknown[]): Buffer => records.pack(items);

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

/** msgpack's first byte of a map: fixmap, map16, map32 */
const isMapByte = (b: number) => (b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf;

/** Random bytes that are certainly not a msgpack map (so not a header): the first byte is never a map's. */
function notAMap(): Buffer {
  const b = randomBytes(1 + int(64));
  while (isMapByte(b[0]!)) b[0] = int(256);
  return b;
}

/** msgpack that promises far more than the frame holds, or never ends */
function lengthBomb(): Buffer {
  return pick([
    Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0x01]), // array32 of 4 G elements
    Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61]), // map32 of 4 G entries
    Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xf0, 0x61]), // str32 of 4 GB
    Buffer.from([0xc6, 0x7f, 0xff, 0xff, 0xff, 0x00]), // bin32 of 2 GB
    Buffer.from([0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00]), // ext32
    Buffer.alloc(20_000, 0x91), // 20,000 nested arrays
    Buffer.concat([Buffer.from([0xdc, 0xff, 0xff]), Buffer.alloc(100, 0xc0)]), // array16 of 65,535 with 100 nils
    Buffer.from([0xc1]), // the one byte msgpack never uses
  ]);
}

/** A proper prefix (at least one byte, not all) of a msgpack value: never a whole value. */
function truncated(b: Buffer): Buffer {
  return b.subarray(0, 1 + int(b.length - 1));
}

// ---------------------------------------------------------------------------------------------------------
// Valid values: well inside every bound.

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.:/@é€😀\'"\\\n\t';
function word(min: number, max: number): string {
  let s = '';
  for (let i = 0, n = min + int(max - min + 1); i < n; i++) s += ALPHABET[int(ALPHABET.length)]!;
  return s;
}
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 0, 1);
/** a time: mostly around now, sometimes at the very ends of what a Date holds */
const validTs = () => (chance(0.02) ? pick([8.64e15, -8.64e15, 0]) : NOW + int(30 * DAY) - 15 * DAY + rand());
const validDuration = () => (chance(0.02) ? pick([0, 8.64e15]) : int(600_000) + rand());
const validIso = () => new Date(NOW + int(30 * DAY)).toISOString();

function validLabels(): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (let i = 0, n = int(6); i < n; i++) out[`l${i}_${word(0, 10)}`] = pick([word(0, 50), int(1e6) - 5e5, rand() * 10, true, false]);
  if (chance(0.1)) out['constructor'] = 'x'; // a harmless own key, whatever name it has
  return out;
}

function validRecord(): Record<string, unknown> {
  const r: Record<string, unknown> = {
    state: pick(['running', 'finished']), queryId: word(1, 40), ts: validTs(), durationMs: validDuration(),
    sql: word(0, 300), fingerprint: word(0, 300), fingerprintId: `0x${word(1, 32)}`,
  };
  if (chance(0.5)) r.db = word(0, 30);
  if (chance(0.5)) r.user = word(0, 30);
  if (chance(0.3)) r.host = word(0, 30);
  if (chance(0.3)) r.lockMs = rand() * 100;
  if (chance(0.3)) r.rowsSent = int(1e6);
  if (chance(0.3)) r.rowsExamined = int(1e9);
  if (chance(0.4)) r.labels = validLabels();
  return r;
}

function validAlert(): Record<string, unknown> {
  const a: Record<string, unknown> = {
    id: `fuzz-${word(1, 30)}`, type: pick(['slow_query', 'long_running', 'resolved', 'stalled']), source: word(1, 40), queryId: word(1, 40),
    fingerprint: word(0, 300), fingerprintId: `0x${word(1, 32)}`, sql: word(0, 300), durationMs: validDuration(), startedAt: validIso(), at: validIso(),
    severity: pick(['info', 'warning', 'critical']),
  };
  if (chance(0.5)) a.db = word(0, 30);
  if (chance(0.3)) a.user = word(0, 30);
  if (chance(0.3)) a.host = word(0, 30);
  if (chance(0.3)) a.labels = validLabels();
  return a;
}

function validStat(): Record<string, unknown> {
  const counters: Record<string, number> = {};
  for (let i = 0, n = int(20); i < n; i++) counters[word(1, 20)] = pick([int(1e9), rand(), Number.NaN, Infinity]); // non-finite counters are dropped, not refused
  const s: Record<string, unknown> = { service: `client-${word(1, 30)}`, kind: pick(['client', 'master', 'consumer']), at: Date.now(), counters };
  if (chance(0.5)) s.source = word(1, 30);
  return s;
}

// ---------------------------------------------------------------------------------------------------------
// Invalid values, per kind of field: each breaks the field's rule in docs/wire.md.

const BIG = (n: number) => 'x'.repeat(n);
const PROTO_OBJECT = () => JSON.parse('{"__proto__": {"polluted": "yes"}}') as Record<string, unknown>;
const BAD: Record<string, () => unknown> = {
  version: () => pick([0, PROTOCOL_VERSION + 1, -1, String(PROTOCOL_VERSION), 1.5, null, true, 1]),
  type: () => pick(['nope', 'BATCH', '', 5, null]),
  rid: () => pick([-1, 1.5, Number.NaN, Infinity, 2 ** 53, '7', null]),
  name: () => pick(['', BIG(600), 5, null, [], {}]),
  seq: () => pick([0, -1, 1.5, Number.NaN, '1', null]),
  count: () => pick([-1, 1.5, Number.NaN, '1', null]),
  state: () => pick(['paused', '', 'RUNNING', 5, null]),
  id: () => pick(['', BIG(5000), 5, null, {}]),
  time: () => pick([Number.NaN, Infinity, -Infinity, 1e16, -1e16, '2026-01-01', null]),
  duration: () => pick([-1, Number.NaN, Infinity, 1e16, '5', null]),
  sql: () => pick([BIG(20_000), 5, null, {}]),
  fingerprint: () => pick([BIG(100_000), 5, null]),
  fingerprintId: () => pick([BIG(1000), 5, null]),
  optionalName: () => pick([5, null, BIG(5000), {}, true]),
  number: () => pick([-1, Number.NaN, Infinity, '1', null]),
  alertType: () => pick(['exploded', '', 'SLOW_QUERY', 5, null]),
  severity: () => pick(['loud', '', 'Critical', 5, null]),
  iso: () => pick(['yesterday', '2026-01-01T25:00:00.000Z', '2026-13-01T00:00:00.000Z', '', 5, null, '1767225600000']),
  labels: () => pick([
    'x', 5, [1, 2], null,
    Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, 'v'])),
    { [BIG(1000)]: 'v' },
    { a: BIG(50_000) },
    { a: { nested: 1 } }, { a: [1] }, { a: null }, { a: Number.NaN }, { a: Infinity }, { '': 'empty key' },
    PROTO_OBJECT(),
  ]),
  statName: () => pick([5, null, '', {}, []]),
  statKind: () => pick([5, null, {}]),
  statAt: () => pick([Number.NaN, Infinity, 'now', null, 1e17]),
  counters: () => pick(['x', 5, [1], null, { a: 'str' }, { a: {} }, Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`c${i}`, i]))]),
  matchers: () => pick(['db=x', [5], Array.from({ length: 200 }, () => 'db=x'), [BIG(5000)], null]),
  text: () => pick([5, null, {}, BIG(100_000)]),
};

/** Which rule each field of each element follows ('?' = optional: deleting it keeps the element valid). */
const RECORD_FIELDS: Record<string, string> = {
  state: 'state', queryId: 'id', ts: 'time', durationMs: 'duration', sql: 'sql', fingerprint: 'fingerprint', fingerprintId: 'fingerprintId',
  'db?': 'optionalName', 'user?': 'optionalName', 'host?': 'optionalName', 'lockMs?': 'number', 'rowsSent?': 'number', 'rowsExamined?': 'number', 'labels?': 'labels',
};
const ALERT_FIELDS: Record<string, string> = {
  id: 'id', type: 'alertType', source: 'name', queryId: 'id', fingerprint: 'fingerprint', fingerprintId: 'fingerprintId', sql: 'sql',
  durationMs: 'duration', startedAt: 'iso', at: 'iso', severity: 'severity', 'db?': 'optionalName', 'user?': 'optionalName', 'host?': 'optionalName', 'labels?': 'labels',
};
const STAT_FIELDS: Record<string, string> = { service: 'statName', kind: 'statKind', at: 'statAt', counters: 'counters', 'source?': 'statKind' };
const SILENCE_ADD_FIELDS: Record<string, string> = { matchers: 'matchers', comment: 'text', 'startsAt?': 'text', 'endsAt?': 'text', 'createdBy?': 'text', 'durationMs?': 'duration' };

/** `valid` with one field given a value its rule refuses, or a required field removed. */
function spoil(valid: Record<string, unknown>, fields: Record<string, string>): Record<string, unknown> {
  const o = { ...valid };
  const key = pick(Object.keys(fields));
  const name = key.replace(/\?$/, '');
  if (!key.endsWith('?') && chance(0.2)) delete o[name];
  else o[name] = BAD[fields[key]!]!();
  return o;
}

/** A list of valid elements with one element spoiled, or replaced by something that is not one. */
function spoiledList(valid: () => Record<string, unknown>, fields: Record<string, string>, n: number): unknown[] {
  const items: unknown[] = Array.from({ length: n }, valid);
  const i = int(n);
  items[i] = chance(0.85) ? spoil(items[i] as Record<string, unknown>, fields) : pick([null, 5, 'x', [], Buffer.alloc(3), true]);
  return items;
}

/** A payload that is no list of the right length: not msgpack, cut short, not a list, or a list whose length lies. */
function brokenList(valid: () => Record<string, unknown>, n: number): Buffer {
  const p = rand();
  if (p < 0.2) return lengthBomb();
  if (p < 0.4) return truncated(list(Array.from({ length: n }, valid)));
  if (p < 0.55) return records.pack(pick([{ a: 1 }, 5, 'x', null, true]));
  return list(Array.from({ length: chance(0.5) ? n + 1 + int(3) : int(n) }, valid));
}

/** A header of `t` with one field spoiled (rules per field), or v/t spoiled. */
function spoiledHeader(h: Record<string, unknown>, fields: Record<string, string>): Buffer {
  return header(spoil(h, { v: 'version', t: 'type', ...fields }));
}

/** A valid header over 4096 bytes (an extra key is ignored, but the frame is too big). */
const oversizedHeader = (h: Record<string, unknown>): Buffer => header({ ...h, pad: BIG(4100 + int(10_000)) });

const HEADER_FIELDS: Record<string, Record<string, string>> = {
  batch: { rid: 'rid', src: 'name', stream: 'name', first: 'seq', last: 'seq' },
  alerts: { rid: 'rid', n: 'count' },
  stats: {},
  'silence-add': { rid: 'rid' },
  'silence-expire': { rid: 'rid' },
  'silence-ls': { rid: 'rid' },
};

/** Valid headers of the types neither the master's client port nor the monitor takes from a peer. */
const foreignHeaders = (): Array<Record<string, unknown>> => [
  { v: PROTOCOL_VERSION, t: 'ack', rid: 1, stream: 's', last: 3, applied: 3, dup: 0 },
  { v: PROTOCOL_VERSION, t: 'retry', rid: 1, after: 100, reason: 'x' },
  { v: PROTOCOL_VERSION, t: 'gap', rid: 1, stream: 's', expected: 1 },
  { v: PROTOCOL_VERSION, t: 'err', rid: 1, code: 'X', msg: 'y' },
  { v: PROTOCOL_VERSION, t: 'hello', name: 'c0', sid: 'fuzz-state', gen: 1, pid: 1, host: 'fuzz' },
  { v: PROTOCOL_VERSION, t: 'hb', name: 'c0', sid: 'fuzz-state', gen: 1, pid: 1, host: 'fuzz' },
  { v: PROTOCOL_VERSION, t: 'alerts-ack', rid: 1, accepted: 1, dup: 0 },
  { v: PROTOCOL_VERSION, t: 'silence-reply', rid: 1, n: 0 },
];

// ---------------------------------------------------------------------------------------------------------
// Messages with what must become of them.

type FrontFate = 'master' | 'consumer' | 'ack' | 'kept';
type MonitorFate = 'err' | 'quiet' | 'alerts-ack' | 'silence-reply' | 'kept';
interface Msg<F> { frames: Buffer[]; fate: F; why: string }

/** Junk any receiver refuses before reading a type: unreadable or oversized header, or a wrong number of frames. */
function junk(valid: Buffer[], maxFrames: number): Msg<'junk'> {
  const p = rand();
  if (p < 0.25) return { frames: [notAMap(), ...Array.from({ length: int(3) }, () => randomBytes(randomSize()))], fate: 'junk', why: 'header not a map' };
  if (p < 0.4) return { frames: [lengthBomb(), ...valid.slice(1)], fate: 'junk', why: 'header a length bomb' };
  if (p < 0.55) return { frames: [truncated(valid[0]!), ...valid.slice(1)], fate: 'junk', why: 'header cut short' };
  if (p < 0.65) return { frames: [Buffer.alloc(0), ...valid.slice(1)], fate: 'junk', why: 'empty header' };
  // too many frames (the valid message plus more)
  const extra = Array.from({ length: maxFrames + 1 - valid.length + int(2) }, () => randomBytes(randomSize()));
  return { frames: [...valid, ...extra], fate: 'junk', why: 'too many frames' };
}

let validSeq = 1;
/** each valid chunk on a stream of its own (so that each is acked whatever came before) */
let chunkStreams = 0;
/** lines a slow log's chunk is made of, mangled or not */
const CHUNK_LINES = [
  '# Time: 2026-11-22T06:00:01.5Z\n', '# User@Host: a[b] @ h [1.2.3.4]  Id: 7\n', '# Query_time: 1e3  Lock_time: -1 Rows_sent: 123456789012345678901\n',
  '# Query_time: 2.5  Lock_time: 0.1 Rows_sent: 1  Rows_examined: 5\n', 'SET timestamp=1795327199;\n', 'use `db`;\n', 'SELECT * FROM t WHERE a = 1;\n', '/* x */ SELECT 1\n',
  ';\n', '#\n', '\r\n', '# administrator command: Quit;\n', `SELECT '${'x'.repeat(5000)}';\n`, '\u00ff\u00fe\n', '# Thread_id: 12  Schema: db  QC_hit: No\n',
];
/** `toFront`: the message goes to the client port (a valid batch then takes the next seqs of its stream) */
function frontMessage(toFront = true): Msg<FrontFate> {
  const n = 1 + int(4);
  const batchH = { v: PROTOCOL_VERSION, t: 'batch', rid: int(1e6), src: 'fuzz-src', stream: 'fuzz-bad', first: 1 + int(1000), last: 0 };
  batchH.last = batchH.first + n - 1;
  const validBatch = [header(batchH), list(Array.from({ length: n }, validRecord))];
  const p = rand();
  if (p < 0.2) {
    const j = junk(validBatch, 2);
    return { ...j, fate: 'master' };
  }
  if (p < 0.25) return { frames: [header(batchH)], fate: 'master', why: 'batch without payload' };
  if (p < 0.4) return { frames: [spoiledHeader(batchH, HEADER_FIELDS.batch!), validBatch[1]!], fate: 'master', why: 'batch header spoiled' };
  if (p < 0.42) return { frames: [header({ ...batchH, first: 1, last: 100_001 }), validBatch[1]!], fate: 'master', why: 'batch of over 100,000 records' };
  if (p < 0.44) return { frames: [header({ ...batchH, first: batchH.last + 1 }), validBatch[1]!], fate: 'master', why: 'first after last' };
  if (p < 0.46) return { frames: [oversizedHeader(batchH), validBatch[1]!], fate: 'master', why: 'header over 4096 bytes' };
  if (p < 0.52) return { frames: [header(pick(foreignHeaders())), randomBytes(8)], fate: 'master', why: 'a type clients do not send' };
  if (p < 0.6) return { frames: [header({ v: PROTOCOL_VERSION, t: 'stats' }), list(spoiledList(validStat, STAT_FIELDS, 1 + int(3)))], fate: 'master', why: 'stats entry spoiled' };
  if (p < 0.62) return { frames: [header({ v: PROTOCOL_VERSION, t: 'stats' }), pick([lengthBomb(), records.pack({ a: 1 }), truncated(list([validStat()]))])], fate: 'master', why: 'stats not a list' };
  if (p < 0.64) return { frames: [spoiledHeader({ v: PROTOCOL_VERSION, t: 'stats' }, {}), list([validStat()])], fate: 'master', why: 'stats header spoiled' };
  if (p < 0.72) return { frames: [validBatch[0]!, list(spoiledList(validRecord, RECORD_FIELDS, n))], fate: 'consumer', why: 'record spoiled' };
  // raw chunks (--ship chunks): the consumer parses whatever bytes come, so any bytes of the promised length are acked
  const bytes = chance(0.5) ? randomBytes(1 + int(4096)) : Buffer.from(Array.from({ length: 1 + int(20) }, () => pick(CHUNK_LINES)).join(''), 'latin1');
  const chunkH = { v: PROTOCOL_VERSION, t: 'chunk', rid: int(1e6), src: 'fuzz-src', stream: `fuzz-chunk-${chunkStreams++}`, first: 1, last: bytes.length, eof: int(2), fmt: 'mysql-slow', tz: '' };
  if (p < 0.74) return { frames: [spoiledHeader(chunkH, HEADER_FIELDS.chunk!), bytes], fate: 'master', why: 'chunk header spoiled' };
  if (p < 0.75) return { frames: [header({ ...chunkH, last: 8 * 1024 * 1024 + 1 }), bytes], fate: 'master', why: 'chunk over 8 MiB' };
  if (p < 0.76) return { frames: [header({ ...chunkH, tz: 'Mars/Olympus' }), bytes], fate: 'consumer', why: 'chunk in a time zone that does not exist' };
  if (p < 0.77) return { frames: [header({ ...chunkH, last: bytes.length + 1 + int(10) }), bytes], fate: 'consumer', why: 'chunk shorter than its header says' };
  if (p < 0.78) return { frames: [header(chunkH), bytes], fate: toFront ? 'ack' : 'consumer', why: 'a chunk of hostile bytes, parsed: its problems dead-lettered' };
  if (p < 0.84) return { frames: [validBatch[0]!, brokenList(validRecord, n)], fate: 'consumer', why: 'records not a list of the promised length' };
  if (p < 0.93) {
    // a valid batch of random records, on a stream of its own whose seqs follow on: acked
    const first = toFront ? validSeq : 1;
    if (toFront) validSeq += n;
    return { frames: [header({ v: PROTOCOL_VERSION, t: 'batch', rid: int(1e6), src: 'fuzz-valid', stream: 'valid', first, last: first + n - 1 }), validBatch[1]!], fate: 'ack', why: 'valid batch' };
  }
  return { frames: [header({ v: PROTOCOL_VERSION, t: 'stats' }), list(Array.from({ length: int(4) }, validStat))], fate: 'kept', why: 'valid stats' };
}

function monitorMessage(): Msg<MonitorFate> {
  const n = 1 + int(4);
  const alertsH = { v: PROTOCOL_VERSION, t: 'alerts', rid: int(1e6), n };
  const validAlerts = [header(alertsH), list(Array.from({ length: n }, validAlert))];
  const p = rand();
  if (p < 0.2) return { ...junk(validAlerts, 2), fate: 'err' };
  if (p < 0.24) return { frames: [header(alertsH)], fate: 'err', why: 'alerts without payload' };
  if (p < 0.36) return { frames: [spoiledHeader(alertsH, HEADER_FIELDS.alerts!), validAlerts[1]!], fate: 'err', why: 'alerts header spoiled' };
  if (p < 0.38) return { frames: [oversizedHeader(alertsH), validAlerts[1]!], fate: 'err', why: 'header over 4096 bytes' };
  if (p < 0.42) return { frames: [header(pick([...foreignHeaders(), { v: PROTOCOL_VERSION, t: 'batch', rid: 1, src: 's', stream: 's', first: 1, last: 1 }])), list([validRecord()])], fate: 'err', why: 'a type the monitor does not take' };
  if (p < 0.58) return { frames: [validAlerts[0]!, list(spoiledList(validAlert, ALERT_FIELDS, n))], fate: 'err', why: 'alert spoiled' };
  if (p < 0.64) return { frames: [validAlerts[0]!, brokenList(validAlert, n)], fate: 'err', why: 'alerts not a list of the promised length' };
  if (p < 0.641) {
    const many = 2000 + int(8000);
    return { frames: [header({ ...alertsH, n: many }), list(Array.from({ length: many }, validAlert))], fate: 'err', why: 'thousands of alerts in one message' };
  }
  if (p < 0.7) return { frames: [header({ v: PROTOCOL_VERSION, t: 'stats' }), list(spoiledList(validStat, STAT_FIELDS, 1 + int(3)))], fate: 'quiet', why: 'stats entry spoiled' };
  if (p < 0.72) return { frames: [header({ v: PROTOCOL_VERSION, t: 'stats' }), pick([lengthBomb(), records.pack({ a: 1 }), truncated(list([validStat()]))])], fate: 'quiet', why: 'stats not a list' };
  if (p < 0.73) return { frames: [header({ v: PROTOCOL_VERSION, t: 'stats' })], fate: 'quiet', why: 'stats without payload' };
  if (p < 0.78) {
    const body = { matchers: ['db=fuzz'], comment: 'fuzz', durationMs: 60_000 };
    const frames = chance(0.8) ? [header({ v: PROTOCOL_VERSION, t: 'silence-add', rid: int(1e6) }), header(spoil(body, SILENCE_ADD_FIELDS))]
      : [header({ v: PROTOCOL_VERSION, t: 'silence-add', rid: int(1e6) }), pick([header({ ...body, pad: BIG(70_000) }), list([1]), lengthBomb()])];
    return { frames, fate: 'err', why: 'silence-add body spoiled' };
  }
  if (p < 0.8) return { frames: [header({ v: PROTOCOL_VERSION, t: 'silence-expire', rid: int(1e6) }), header({ id: pick(['', 5, null, BIG(300)]) })], fate: 'err', why: 'silence-expire body spoiled' };
  if (p < 0.82) return { frames: [spoiledHeader({ v: PROTOCOL_VERSION, t: 'silence-ls', rid: 1 }, HEADER_FIELDS['silence-ls']!), header({})], fate: 'err', why: 'silence-ls header spoiled' };
  if (p < 0.83) return { frames: [header({ v: PROTOCOL_VERSION, t: 'silence-ls', rid: int(1e6) }), header({})], fate: 'silence-reply', why: 'valid silence-ls' };
  if (p < 0.95) return { frames: validAlerts, fate: 'alerts-ack', why: 'valid alerts' };
  return { frames: [header({ v: PROTOCOL_VERSION, t: 'stats' }), list(Array.from({ length: int(4) }, validStat))], fate: 'kept', why: 'valid stats' };
}

/**
 * Anything, for the master's consumer port as a peer that is not a configured consumer: all dropped and counted.
 * No frame over 512 KiB: that port takes frames of up to 1 MiB (headers only), and libzmq drops the connection
 * of a peer sending a bigger one, with whatever it had sent after it.
 */
function anyMessage(): Buffer[] {
  for (let attempt = 0; attempt < 100; attempt++) {
    const m = anyMessageOfAnySize();
    if (m.every((f) => f.length <= 512 * 1024)) return m;
  }
  return [notAMap()];
}

function anyMessageOfAnySize(): Buffer[] {
  const p = rand();
  if (p < 0.3) return Array.from({ length: 1 + int(4) }, () => randomBytes(randomSize()));
  const valid = (chance(0.5) ? frontMessage(false) : monitorMessage()).frames;
  if (p < 0.6) return valid;
  // bit flips: what they make of a message is not known, and need not be here
  const frames = valid.map((f) => Buffer.from(f));
  const f = frames[int(frames.length)]!;
  for (let k = 0, m = 1 + int(8); k < m && f.length; k++) f[int(f.length)]! ^= 1 << int(8);
  return frames;
}

// ---------------------------------------------------------------------------------------------------------
// The logserver: lines, each a JSON object with a string `service` (kept in that service's file) or not (malformed).

const HOSTILE_SERVICES = ['__proto__', 'constructor', 'toString', '../../../../tmp/slowq-fuzz-escape', '..', '.', '', 'unknown', 'logserver', BIG(10_000), '\u0000nul', 'a/b\\c', 'CON', ' '];
function logLine(): string {
  const p = rand();
  if (p < 0.3) return JSON.stringify({ level: 30, time: Date.now(), service: pick(HOSTILE_SERVICES), msg: word(0, 80) });
  if (p < 0.4) return JSON.stringify({ level: 30, service: `svc-${int(100)}`, msg: 'many services' });
  if (p < 0.55) return JSON.stringify({ level: 30, service: pick([5, null, {}, [], true]), msg: 'service not a string' });
  if (p < 0.6) return '{"__proto__": {"service": "inherited"}, "msg": "no own service"}';
  if (p < 0.65) return JSON.stringify([{ service: 'in a list' }]);
  if (p < 0.7) return JSON.stringify({ service: 'big', msg: BIG(100_000) });
  const good = Buffer.from(JSON.stringify({ level: 30, time: 1, service: 'svc', msg: 'hello "world"', n: 1 }));
  for (let k = 0, m = 1 + int(4); k < m; k++) good[int(good.length)]! ^= 1 << int(8);
  return good.toString('latin1');
}

/** The lines the logserver makes of the frames, and how many are not JSON objects with a string service. */
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

function logMessage(): Buffer[] {
  if (chance(0.4)) return Array.from({ length: 1 + int(4) }, () => randomBytes(randomSize()));
  return Array.from({ length: 1 + int(3) }, () => Buffer.from(Array.from({ length: 1 + int(4) }, logLine).join('\n') + (chance(0.8) ? '\n' : '')));
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
      if (o.msg === msg && o.pid !== undefined) return o;
    } catch {
      // not a log line
    }
  }
  throw new Error(`no "${msg}" line in:\n${text.slice(-3000)}`);
}

/** The type of a reply header (a map with a string `t`), read as plain msgpack: 'unreadable' otherwise. */
function replyType(frame: Buffer | undefined): string {
  try {
    const h = plain.unpack(frame ?? Buffer.alloc(0)) as { t?: unknown };
    return typeof h?.t === 'string' ? h.t : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

describe('fuzz: hostile frames on every listening socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slowq-fuzz-'));
  const sockets: zmq.Socket[] = [];
  after(async () => {
    for (const s of sockets) s.close();
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`≥ ${FRAMES} frames per socket: each refused and counted or accepted as built, memory bounded, every service still serving`, { timeout: 20 * 60_000 }, async () => {
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

    const realRecord = (i: number) => ({ state: 'finished', queryId: `real-${i}`, ts: NOW + i, durationMs: 1500, sql: 'select 1', fingerprint: 'select ?', fingerprintId: '0xABC' });
    // Wait until a real batch gets through: the consumer is registered and everything listens.
    for (let attempt = 0; ; attempt++) {
      assert.ok(attempt < 60, 'the master never accepted a real batch');
      await front.send([header({ v: PROTOCOL_VERSION, t: 'batch', rid: 1, src: 'fuzz-real', stream: 'real', first: 1, last: 3 }), list([1, 2, 3].map(realRecord))]);
      const t = replyType((await front.receive())[0]);
      if (t === 'ack') break;
      assert.equal(t, 'retry');
      await sleep(500);
    }

    const pids = Object.fromEntries(Object.entries(procs).map(([k, p]) => [k, p.child.pid!]));
    const peak: Record<string, number> = {};
    const sampler = setInterval(() => {
      for (const [k, pid] of Object.entries(pids)) peak[k] = Math.max(peak[k] ?? 0, rssOf(pid));
    }, 250);

    const frames = { front: 0, back: 0, monitor: 0, logserver: 0 };
    const sent = { back: 0 };
    const expect = {
      front: { master: 0, consumer: 0, ack: 0, kept: 0 } as Record<FrontFate, number>,
      monitor: { err: 0, quiet: 0, 'alerts-ack': 0, 'silence-reply': 0, kept: 0 } as Record<MonitorFate, number>,
      logLines: 0, logMalformed: 0,
    };
    const why: Record<string, number> = {};
    const replies = { front: new Map<string, number>(), monitor: new Map<string, number>() };
    const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
    const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    let lastReplyAt = Date.now();
    const receiveAll = async (sock: zmq.Dealer, into: Map<string, number>, done: () => boolean) => {
      while (!done()) {
        let msg: Buffer[];
        try {
          msg = await sock.receive();
        } catch {
          return;
        }
        lastReplyAt = Date.now();
        count(into, replyType(msg[0]));
      }
    };
    /** Waits while over 200 answers are due; a service that stops answering fails the test (rather than hanging it). */
    const room = async (due: () => number, got: () => number, what: string) => {
      while (due() - got() > 200) {
        if (Date.now() - lastReplyAt > 30_000) throw new Error(`${what}: ${due() - got()} answers missing for 30 s (${JSON.stringify({ expect, why })})`);
        await sleep(1);
      }
    };
    const deadline = Date.now() + 15 * 60_000;
    const answersFront = () => expect.front.master + expect.front.consumer + expect.front.ack;
    const answersMonitor = () => expect.monitor.err + expect.monitor['alerts-ack'] + expect.monitor['silence-reply'];

    /** Sends `make()`'s messages on a judged socket, counting what each must come to; at most 200 unanswered at a time. */
    const judged = async <F extends string>(sock: zmq.Dealer, socket: 'front' | 'monitor', make: () => Msg<F>, fates: Record<F, number>, due: () => number) => {
      while (frames[socket] < FRAMES && Date.now() < deadline) {
        await room(due, () => total(replies[socket]), socket);
        const m = make();
        fates[m.fate]++;
        why[`${socket} ${m.why}`] = (why[`${socket} ${m.why}`] ?? 0) + 1;
        await sock.send(m.frames);
        frames[socket] += m.frames.length;
      }
    };

    // client port: every message but a valid stats report is answered
    const frontDone = () => frames.front >= FRAMES && total(replies.front) >= answersFront();
    const frontRx = receiveAll(front, replies.front, frontDone);
    const frontTx = judged(front, 'front', frontMessage, expect.front, answersFront);

    // consumer port, as a peer that is not a configured consumer: everything is dropped and counted
    const backTx = (async () => {
      while (frames.back < FRAMES && Date.now() < deadline) {
        const m = anyMessage();
        await back.send(m);
        sent.back++;
        frames.back += m.length;
        if (sent.back % 200 === 0) await sleep(1);
      }
    })();

    // monitor: every message but a stats report is answered
    const monDone = () => frames.monitor >= FRAMES && total(replies.monitor) >= answersMonitor();
    const monRx = receiveAll(mon, replies.monitor, monDone);
    const monTx = judged(mon, 'monitor', monitorMessage, expect.monitor, answersMonitor);

    // logserver
    let logMessages = 0;
    const logTx = (async () => {
      while (frames.logserver < FRAMES && Date.now() < deadline) {
        const m = logMessage();
        const c = logLines(m);
        expect.logLines += c.lines;
        expect.logMalformed += c.malformed;
        await push.send(m);
        logMessages++;
        frames.logserver += m.length;
        if (logMessages % 200 === 0) await sleep(1);
      }
    })();

    await Promise.all([frontTx, backTx, monTx, logTx]);
    await waitFor('every answer', () => (frontDone() && monDone() ? true : undefined), 60_000, 50).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify({ expect, why, replies: { front: Object.fromEntries(replies.front), monitor: Object.fromEntries(replies.monitor) } })}`);
    });
    await sleep(500); // nothing more may come
    front.close();
    mon.close();
    await Promise.all([frontRx, monRx]);
    clearInterval(sampler);
    for (const k of Object.keys(frames) as Array<keyof typeof frames>) assert.ok(frames[k] >= FRAMES, `${k}: ${frames[k]} frames sent`);

    // A frame far over what any message may be is refused by the socket itself; the service lives on.
    const giant = new zmq.Dealer({ linger: 0, sendTimeout: 5000 });
    sockets.push(giant);
    giant.connect(ep(2));
    await giant.send([header({ v: PROTOCOL_VERSION, t: 'alerts', rid: 1, n: 1 }), Buffer.alloc(100 * 1024 * 1024, 0x91)]);
    await sleep(1000);
    giant.close();

    // Every service is alive and still serving.
    for (const [k, p] of Object.entries(procs)) assert.equal(p.child.exitCode, null, `${k} still running:\n${p.output().slice(-3000)}`);
    const front2 = new zmq.Dealer({ linger: 0, receiveTimeout: 30_000 });
    const mon2 = new zmq.Dealer({ linger: 0, receiveTimeout: 30_000 });
    sockets.push(front2, mon2);
    front2.connect(ep(0));
    mon2.connect(ep(2));
    await front2.send([header({ v: PROTOCOL_VERSION, t: 'batch', rid: 9, src: 'fuzz-real', stream: 'real', first: 4, last: 5 }), list([4, 5].map(realRecord))]);
    const ack = plain.unpack((await front2.receive())[0]!) as Record<string, unknown>;
    assert.deepEqual({ t: ack.t, last: ack.last, applied: ack.applied }, { t: 'ack', last: 5, applied: 2 }, 'a real batch is acked');
    const real = { ...validAlert(), id: 'fuzz-after-alert' };
    await mon2.send([header({ v: PROTOCOL_VERSION, t: 'alerts', rid: 77, n: 1 }), list([real])]);
    const aack = plain.unpack((await mon2.receive())[0]!) as Record<string, unknown>;
    assert.deepEqual({ t: aack.t, rid: aack.rid, accepted: aack.accepted }, { t: 'alerts-ack', rid: 77, accepted: 1 }, 'a real alert is accepted');
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
      frames, sent, expect, why, peakRssMiB: Object.fromEntries(Object.entries(peak).map(([k, v]) => [k, Math.round(v / 2 ** 20)])),
      afterRssMiB: Object.fromEntries(Object.entries(afterRss).map(([k, v]) => [k, Math.round(v / 2 ** 20)])),
      counted: { master: master.malformed, consumer: consumer.malformed, monitor: monitor.malformed, logserver: logserver.malformed },
      replies: { front: Object.fromEntries(replies.front), monitor: Object.fromEntries(replies.monitor) },
    };
    process.stderr.write(`fuzz: ${JSON.stringify(summary)}\n`);

    assert.deepEqual(Object.fromEntries([...replies.front].filter(([, v]) => v > 0).sort()),
      Object.fromEntries([['ack', expect.front.ack], ['err', expect.front.master + expect.front.consumer]].filter(([, v]) => (v as number) > 0).sort()),
      'client port: every refused message answered with an error, every valid batch acked, valid stats unanswered');
    assert.equal(master.malformed, expect.front.master + sent.back, 'master counted every message it refused on both ports');
    assert.equal(consumer.malformed, expect.front.consumer, 'consumer counted every batch with a bad payload');
    assert.deepEqual(Object.fromEntries([...replies.monitor].filter(([, v]) => v > 0).sort()),
      Object.fromEntries([['alerts-ack', expect.monitor['alerts-ack']], ['err', expect.monitor.err], ['silence-reply', expect.monitor['silence-reply']]].filter(([, v]) => (v as number) > 0).sort()),
      'monitor: every refused message answered with an error, every valid one answered as usual');
    // the giant frame never reached the monitor's code: libzmq dropped the connection
    assert.equal(monitor.malformed, expect.monitor.err + expect.monitor.quiet, 'monitor counted every message it refused');
    assert.equal(logserver.malformed, expect.logMalformed, 'logserver counted every malformed line');
    assert.equal(logserver.lines, expect.logLines + 1, 'logserver saw every line');
    for (const [k, v] of Object.entries(peak)) assert.ok(v < MAX_RSS_BYTES, `${k} peak RSS ${Math.round(v / 2 ** 20)} MiB`);

    // Hostile service names stay file names inside the log directory.
    assert.ok(!existsSync('/tmp/slowq-fuzz-escape.log'), 'no log file outside the log directory');
    for (const name of readdirSync(join(dir, 'logs'))) {
      assert.match(name, /^[A-Za-z0-9_-][A-Za-z0-9._-]*\.log(\.\d+)?$/, `log file name ${JSON.stringify(name)}`);
      assert.ok(statSync(join(dir, 'logs', name)).isFile());
    }
  });
});
