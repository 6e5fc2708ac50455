import { Packr } from 'msgpackr';
import type { Alert, WireRecord } from '../model/record.js';
import { alert } from './alert-schema.js';
import { HEADER_FIELDS } from './header-schema.js';
import { MAX_ALERTS_PER_MESSAGE, MAX_BATCH_RECORDS, MAX_HEADER_BYTES, MAX_RING_NAMES, MAX_SILENCE_BODY_BYTES, MAX_SILENCES_PER_REPLY, MAX_STATS_PER_MESSAGE } from './limits.js';
import { wireRecord } from './record-schema.js';
import { name } from './fields.js';
import { echo, listOf, SchemaError, type Check } from './schema.js';
import { silenceAddBody, silenceExpireBody, silenceRecord } from './silence-schema.js';
import { serviceStats } from './stats-schema.js';
export type { WireRecord } from '../model/record.js';
import type { QueryClassSummary } from '../model/query-class.js';

// The wire (docs/wire.md): every ZeroMQ message is [routing frames…, header, payload?]. The header is a
// small msgpack map the master can read without touching the payload; the payload is msgpack records.
// Everything received is validated against its schema (header-schema.ts, record-schema.ts, alert-schema.ts,
// stats-schema.ts, silence-schema.ts): a bad message is answered with an error or dropped, and counted.

// 2: a consumer's hello/hb say which state and which start of it the consumer is (sid, gen, pid, host), and the
// master answers them with owner/fenced (docs/wire.md). A peer of version 1 gets a VERSION error.
// 3: a record may be a class's statistics (`kind: statement_stats`, `calls`), which a version-2 consumer would
// drop the kind of and take for one slow execution: a version-2 peer gets a VERSION error instead.
// 4: a batch forwarded by a master says which ring version it was routed by (`ring`), and a consumer that has seen
// a newer one in a release or handoff answers it "retry" (the fence against a master's stale ring: docs/delivery.md);
// `release` and `handoff` say whether the master shares its ring with others (`shared`). A version-3 consumer would
// apply a stale master's batch: a version-3 peer gets a VERSION error instead.
// 5: a client may ship a log's raw bytes (`chunk`, design B: the consumer parses them), which a version-4 master
// or consumer would answer UNKNOWN_TYPE, again and again: a version-4 peer gets a VERSION error instead.
// 6: a chunk may be JSON lines (`fmt: jsonl`), which a version-5 master or consumer refuses as a malformed header,
// again and again: a version-5 peer gets a VERSION error instead.
// 7: a chunk may be a PostgreSQL log (`fmt: postgres`, `postgres-csv`, `postgres-json`, with the log_line_prefix in
// `pfx`) cut between any two lines, and says where the file went quiet (`quiet`): a version-6 peer would refuse the
// format as a malformed header, again and again, and would flush where it must not; it gets a VERSION error instead.
export const PROTOCOL_VERSION = 7;

/** client → master → consumer: consecutive records first..last of one stream */
export interface BatchHeader { v: number; t: 'batch'; rid: number; src: string; stream: string; first: number; last: number; ring?: number }
/**
 * client → master → consumer: bytes first-1..last of one stream's file (seqs count bytes from 1), cut where an entry
 * ends (PostgreSQL formats: where a line ends); the consumer parses them in format `fmt` (time zone `tz`, '' for none;
 * log_line_prefix `pfx`, absent for the default). `eof` 1: the file ended with them; `quiet` 1: the file went quiet
 * after them. `ring` as for a batch (set by the master that forwards it).
 */
export interface ChunkHeader { v: number; t: 'chunk'; rid: number; src: string; stream: string; first: number; last: number; eof: number; fmt: string; tz: string; pfx?: string; quiet?: number; ring?: number }
/** consumer → client: the stream's records up to `last` are durable */
export interface AckHeader { v: number; t: 'ack'; rid: number; stream: string; last: number; applied: number; dup: number }
/** master or consumer → client: not now (owner away, disk full, …), send the same batch again after `after` ms */
export interface RetryHeader { v: number; t: 'retry'; rid: number; after: number; reason: string }
/** consumer → client: the batch starts past what was applied; resend from `expected` */
export interface GapHeader { v: number; t: 'gap'; rid: number; stream: string; expected: number }
/** anyone → sender of a message it cannot use */
export interface ErrorHeader { v: number; t: 'err'; rid: number; code: string; msg: string }
/**
 * consumer → master: registration and liveness. `sid` is the consumer's state id (made with its data directory),
 * `gen` the start of that state (one more at every start); `pid` and `host` say where it runs, for the logs.
 */
export interface HelloHeader { v: number; t: 'hello' | 'hb'; name: string; sid: string; gen: number; pid: number; host: string }
/** master → consumer, answering hello/hb: the master routes `name` to this instance (owner), or ignores it (fenced) and why */
export interface ClaimHeader { v: number; t: 'owner' | 'fenced'; name: string; reason: string }
/** consumer → monitor: a list of alerts */
export interface AlertsHeader { v: number; t: 'alerts'; rid: number; n: number }
/** monitor → consumer: those alerts are durably accepted */
export interface AlertsAckHeader { v: number; t: 'alerts-ack'; rid: number; accepted: number; dup: number }

/** `slowq cluster` → master (consumer port): read the ring, or add or remove a consumer name (rescale.ts in the master) */
export interface RingRequestHeader { v: number; t: 'ring-req'; rid: number; op: 'get' | 'add' | 'remove'; name: string }
/** master → `slowq cluster`: the ring's version, whether a change is under way (busy 1), and what the master says about it */
export interface RingHeader { v: number; t: 'ring'; rid: number; version: number; busy: number; ok: number; msg: string; shared?: number }
/** master → consumer: ring version `ver` is coming; hand off the sources it no longer gives you. Payload: the new ring's names */
export interface ReleaseHeader { v: number; t: 'release'; ver: number; shared?: number }
/** consumer → master: every source this consumer gives up for `ver` was sent as a handoff (`n` of them still unconfirmed) */
export interface ReleasedHeader { v: number; t: 'released'; ver: number; n: number }
/** old owner → master → new owner: one source's whole state, given up by the old owner for ring version `ver`. Payload: the state */
export interface HandoffHeader { v: number; t: 'handoff'; ver: number; src: string; shared?: number }
/** handoff-ack: new owner → master, the source's state is durably its own; handoff-done: master → old owner, it may forget it */
export interface HandoffAckHeader { v: number; t: 'handoff-ack' | 'handoff-done'; ver: number; src: string }

/** any service → monitor (directly or through the master): its counters; payload = msgpack ServiceStats */
export interface StatsHeader { v: number; t: 'stats' }

/** `slowq silence` → monitor (directly): payload = msgpack body (add: SilenceAddBody, expire: SilenceExpireBody, ls: {}) */
export interface SilenceRequestHeader { v: number; t: 'silence-add' | 'silence-ls' | 'silence-expire'; rid: number }
/** monitor → `slowq silence`: payload = msgpack list of n SilenceRecords (add/expire: the one silence; ls: all). Failures are `err`. */
export interface SilenceReplyHeader { v: number; t: 'silence-reply'; rid: number; n: number }

export type Header =
  | BatchHeader | ChunkHeader | AckHeader | RetryHeader | GapHeader | ErrorHeader | HelloHeader | ClaimHeader | AlertsHeader | AlertsAckHeader | StatsHeader
  | SilenceRequestHeader | SilenceReplyHeader | RingRequestHeader | RingHeader | ReleaseHeader | ReleasedHeader | HandoffHeader | HandoffAckHeader;

/** A service's counters at a moment, as carried by a stats message. */
export interface ServiceStats {
  /** e.g. "master", "consumer-c0", "client-db-01" */
  service: string;
  /** kind of service: client, master, consumer, monitor, logserver */
  kind: string;
  /** for a client: its source */
  source?: string;
  /** ms since epoch when taken */
  at: number;
  counters: Record<string, number>;
  /** what a number cannot say, e.g. why a client's batches are not acked (short texts, for people) */
  notes?: Record<string, string>;
  /** a consumer's busiest statement classes of the last hour (model/query-class.ts), for the dashboard */
  classes?: QueryClassSummary[];
}

// `useRecords` stores each object shape once per message: smaller and faster than plain maps
// (measured by `slowq bench serialization`), and still self-describing so no shared state is needed.
const packr = new Packr({ useRecords: true, moreTypes: false });
const headerPackr = new Packr({ useRecords: false });

export function encodeHeader(h: Header): Buffer {
  return headerPackr.pack(h);
}

export class ProtocolError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** Decodes and validates a header frame; throws ProtocolError with a reason for anything malformed. */
export function decodeHeader(frame: Buffer | undefined): Header {
  if (!frame || frame.length === 0) throw new ProtocolError('EMPTY', 'missing header frame');
  if (frame.length > MAX_HEADER_BYTES) throw new ProtocolError('TOO_BIG', `header frame of ${frame.length} bytes`);
  let h: unknown;
  try {
    h = headerPackr.unpack(frame);
  } catch (err) {
    throw new ProtocolError('BAD_HEADER', `header is not msgpack: ${(err as Error).message}`);
  }
  if (h === null || typeof h !== 'object' || Array.isArray(h)) throw new ProtocolError('BAD_HEADER', 'header is not a map');
  const o = h as Record<string, unknown>;
  if (o.v !== PROTOCOL_VERSION) throw new ProtocolError('VERSION', `unsupported protocol version ${echo(o.v)}`);
  const t = o.t;
  if (typeof t !== 'string' || !Object.hasOwn(HEADER_FIELDS, t)) throw new ProtocolError('UNKNOWN_TYPE', `unknown message type ${echo(t)}`);
  const fields = HEADER_FIELDS[t as Header['t']] as Check<object>;
  return { v: PROTOCOL_VERSION, t, ...checked(fields, o, `${t} header`, 'BAD_HEADER') } as Header;
}

/** `check` applied to a value a peer sent; a SchemaError becomes a ProtocolError with `code`. */
function checked<T>(check: Check<T>, value: unknown, path: string, code: string): T {
  try {
    return check(value, path);
  } catch (err) {
    if (err instanceof SchemaError) throw new ProtocolError(code, err.message);
    throw err;
  }
}

export function encodeRecords(records: readonly WireRecord[]): Buffer {
  return packr.pack(records);
}

/** A chunk's payload: the raw bytes, exactly as many as the header's first..last says. */
export function decodeChunkBytes(frame: Buffer | undefined, first: number, last: number): Buffer {
  if (!frame) throw new ProtocolError('BAD_PAYLOAD', 'missing chunk frame');
  const want = last - first + 1;
  if (frame.length !== want) throw new ProtocolError('BAD_PAYLOAD', `chunk of ${frame.length} bytes, header says ${want}`);
  return frame;
}

const recordList = listOf(wireRecord, { max: MAX_BATCH_RECORDS, what: 'record' });

/** Decodes a batch payload and checks every record (record-schema.ts); `expected` is the count the header promises. */
export function decodeRecords(frame: Buffer | undefined, expected: number): WireRecord[] {
  return checked(recordList, unpackList(frame, 'records', expected), '', 'BAD_PAYLOAD');
}

export function encodeAlerts(alerts: readonly Alert[]): Buffer {
  return packr.pack(alerts);
}

const alertList = listOf(alert, { max: MAX_ALERTS_PER_MESSAGE, what: 'alert' });

/** Decodes an alerts payload and checks every alert (alert-schema.ts); `expected` is the count the header promises. */
export function decodeAlerts(frame: Buffer | undefined, expected: number): Alert[] {
  if (expected > MAX_ALERTS_PER_MESSAGE) throw new ProtocolError('BAD_PAYLOAD', `${expected} alerts in one message, over ${MAX_ALERTS_PER_MESSAGE}`);
  return checked(alertList, unpackList(frame, 'alerts', expected), '', 'BAD_PAYLOAD');
}

export function encodeStats(list: readonly ServiceStats[]): Buffer {
  return packr.pack(list);
}

const statsList = listOf(serviceStats, { max: MAX_STATS_PER_MESSAGE, what: 'entry' });

/** Decodes a stats payload: a list of well-formed entries (stats-schema.ts), or a ProtocolError. */
export function decodeStats(frame: Buffer | undefined): ServiceStats[] {
  return checked(statsList, unpackList(frame, 'stats'), '', 'BAD_PAYLOAD');
}

/** The names of a ring (a `release` payload). */
export function encodeNames(names: readonly string[]): Buffer {
  return packr.pack(names);
}

const nameList = listOf(name, { max: MAX_RING_NAMES, what: 'name' });

export function decodeNames(frame: Buffer | undefined): string[] {
  const names = checked(nameList, unpackList(frame, 'names'), '', 'BAD_PAYLOAD');
  if (names.length === 0) throw new ProtocolError('BAD_PAYLOAD', 'a ring of no names');
  if (new Set(names).size !== names.length) throw new ProtocolError('BAD_PAYLOAD', 'a ring names a consumer twice');
  return names;
}

/** A new silence as the CLI sends it; the monitor's silence store checks the meaning (matchers, times). */
export interface SilenceAddBody {
  matchers: string[];
  startsAt?: string;
  endsAt?: string;
  durationMs?: number;
  createdBy?: string;
  comment: string;
}
export interface SilenceExpireBody { id: string }
/** A silence as the monitor reports it. */
export interface SilenceRecord {
  id: string;
  matchers: Array<{ name: string; op: string; value: string }>;
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
  updatedAt: string;
  status: string;
}

export function encodeSilenceBody(body: SilenceAddBody | SilenceExpireBody | Record<string, never>): Buffer {
  return headerPackr.pack(body);
}

function unpackMap(frame: Buffer | undefined, what: string): unknown {
  if (!frame) throw new ProtocolError('BAD_PAYLOAD', `missing ${what} frame`);
  if (frame.length > MAX_SILENCE_BODY_BYTES) throw new ProtocolError('TOO_BIG', `${what} payload of ${frame.length} bytes`);
  try {
    return headerPackr.unpack(frame);
  } catch (err) {
    throw new ProtocolError('BAD_PAYLOAD', `${what} payload is not msgpack: ${(err as Error).message}`);
  }
}

export function decodeSilenceAdd(frame: Buffer | undefined): SilenceAddBody {
  return checked(silenceAddBody, unpackMap(frame, 'silence-add'), 'silence-add', 'BAD_PAYLOAD');
}

export function decodeSilenceExpire(frame: Buffer | undefined): SilenceExpireBody {
  return checked(silenceExpireBody, unpackMap(frame, 'silence-expire'), 'silence-expire', 'BAD_PAYLOAD');
}

export function encodeSilences(list: readonly SilenceRecord[]): Buffer {
  return packr.pack(list);
}

const silenceList = listOf(silenceRecord, { max: MAX_SILENCES_PER_REPLY, what: 'silence' });

export function decodeSilences(frame: Buffer | undefined, expected: number): SilenceRecord[] {
  return checked(silenceList, unpackList(frame, 'silences', expected), '', 'BAD_PAYLOAD');
}

/**
 * Decodes a payload list. With `expected`, a list of another length is refused from the count in its first
 * bytes, before anything is decoded (a frame of millions of tiny elements would take far more memory decoded).
 */
function unpackList(frame: Buffer | undefined, what: string, expected?: number): unknown[] {
  if (!frame) throw new ProtocolError('BAD_PAYLOAD', `missing ${what} frame`);
  const declared = declaredListLength(frame);
  if (expected !== undefined && declared !== undefined && declared !== expected) {
    throw new ProtocolError('BAD_PAYLOAD', `payload has ${declared} ${what}, header says ${expected}`);
  }
  let v: unknown;
  try {
    v = packr.unpack(frame);
  } catch (err) {
    throw new ProtocolError('BAD_PAYLOAD', `${what} payload is not msgpack: ${(err as Error).message}`);
  }
  if (!Array.isArray(v)) throw new ProtocolError('BAD_PAYLOAD', `${what} payload is not a list`);
  if (expected !== undefined && v.length !== expected) throw new ProtocolError('BAD_PAYLOAD', `payload has ${v.length} ${what}, header says ${expected}`);
  return v;
}

/** The length a msgpack array declares in its first bytes (fixarray, array 16, array 32), or undefined for anything else. */
function declaredListLength(frame: Buffer): number | undefined {
  const b = frame[0]!;
  if (b >= 0x90 && b <= 0x9f) return b & 0x0f;
  if (b === 0xdc && frame.length >= 3) return frame.readUInt16BE(1);
  if (b === 0xdd && frame.length >= 5) return frame.readUInt32BE(1);
  return undefined;
}
