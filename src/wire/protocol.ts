import { Packr } from 'msgpackr';
import type { Alert, WireRecord } from '../model/record.js';
export type { WireRecord } from '../model/record.js';

// The wire (docs/wire.md): every ZeroMQ message is [routing frames…, header, payload?]. The header is a
// small msgpack map the master can read without touching the payload; the payload is msgpack records.
// Everything received is validated: a bad message is answered with an error or dropped and counted.

// 2: a consumer's hello/hb say which state and which start of it the consumer is (sid, gen, pid, host), and the
// master answers them with owner/fenced (docs/wire.md). A peer of version 1 gets a VERSION error.
export const PROTOCOL_VERSION = 2;

/** client → master → consumer: consecutive records first..last of one stream */
export interface BatchHeader { v: number; t: 'batch'; rid: number; src: string; stream: string; first: number; last: number }
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

/** any service → monitor (directly or through the master): its counters; payload = msgpack ServiceStats */
export interface StatsHeader { v: number; t: 'stats' }

/** `slowq silence` → monitor (directly): payload = msgpack body (add: SilenceAddBody, expire: SilenceExpireBody, ls: {}) */
export interface SilenceRequestHeader { v: number; t: 'silence-add' | 'silence-ls' | 'silence-expire'; rid: number }
/** monitor → `slowq silence`: payload = msgpack list of n SilenceRecords (add/expire: the one silence; ls: all). Failures are `err`. */
export interface SilenceReplyHeader { v: number; t: 'silence-reply'; rid: number; n: number }

export type Header =
  | BatchHeader | AckHeader | RetryHeader | GapHeader | ErrorHeader | HelloHeader | ClaimHeader | AlertsHeader | AlertsAckHeader | StatsHeader
  | SilenceRequestHeader | SilenceReplyHeader;

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

const isStr = (x: unknown): x is string => typeof x === 'string';
const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x);
const MAX_NAME = 512;

/**
 * A value a peer sent, for an error message: short, whatever its size, so an `err` reply quoting it still
 * fits in a header frame (a longer one would be refused by the peer as malformed).
 */
function echo(v: unknown): string {
  let s: string;
  try {
    s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  } catch {
    s = typeof v;
  }
  return s.length > 64 ? `${s.slice(0, 64)}… (${s.length} chars)` : s;
}

/** Decodes and validates a header frame; throws ProtocolError with a reason for anything malformed. */
export function decodeHeader(frame: Buffer | undefined): Header {
  if (!frame || frame.length === 0) throw new ProtocolError('EMPTY', 'missing header frame');
  if (frame.length > 4096) throw new ProtocolError('TOO_BIG', `header frame of ${frame.length} bytes`);
  let h: unknown;
  try {
    h = headerPackr.unpack(frame);
  } catch (err) {
    throw new ProtocolError('BAD_HEADER', `header is not msgpack: ${(err as Error).message}`);
  }
  if (h === null || typeof h !== 'object' || Array.isArray(h)) throw new ProtocolError('BAD_HEADER', 'header is not a map');
  const o = h as Record<string, unknown>;
  if (o.v !== PROTOCOL_VERSION) throw new ProtocolError('VERSION', `unsupported protocol version ${echo(o.v)}`);
  const bad = (what: string): never => {
    throw new ProtocolError('BAD_HEADER', `${String(o.t)} header: ${what}`); // only reached for known (short) types
  };
  switch (o.t) {
    case 'batch':
      if (!isInt(o.rid)) bad('rid');
      if (!isStr(o.src) || o.src.length === 0 || o.src.length > MAX_NAME) bad('src');
      if (!isStr(o.stream) || o.stream.length === 0 || o.stream.length > MAX_NAME) bad('stream');
      if (!isInt(o.first) || !isInt(o.last) || (o.first as number) < 1 || (o.last as number) < (o.first as number)) bad('first/last');
      if ((o.last as number) - (o.first as number) >= 100_000) bad('batch over 100000 records');
      break;
    case 'ack':
      if (!isInt(o.rid) || !isStr(o.stream) || !isInt(o.last) || !isInt(o.applied) || !isInt(o.dup)) bad('fields');
      break;
    case 'retry':
      if (!isInt(o.rid) || !isInt(o.after) || !isStr(o.reason)) bad('fields');
      break;
    case 'gap':
      if (!isInt(o.rid) || !isStr(o.stream) || !isInt(o.expected)) bad('fields');
      break;
    case 'err':
      if (!isInt(o.rid) || !isStr(o.code) || !isStr(o.msg)) bad('fields');
      break;
    case 'hello':
    case 'hb':
      if (!isStr(o.name) || o.name.length === 0 || o.name.length > MAX_NAME) bad('name');
      if (!isStr(o.sid) || o.sid.length === 0 || o.sid.length > 64) bad('sid');
      if (!isInt(o.gen) || (o.gen as number) < 1) bad('gen');
      if (!isInt(o.pid) || (o.pid as number) < 0) bad('pid');
      if (!isStr(o.host) || o.host.length > MAX_NAME) bad('host');
      break;
    case 'owner':
    case 'fenced':
      if (!isStr(o.name) || o.name.length > MAX_NAME || !isStr(o.reason) || o.reason.length > 1024) bad('fields');
      break;
    case 'alerts':
      if (!isInt(o.rid) || !isInt(o.n)) bad('fields');
      break;
    case 'alerts-ack':
      if (!isInt(o.rid) || !isInt(o.accepted) || !isInt(o.dup)) bad('fields');
      break;
    case 'stats':
      break;
    case 'silence-add':
    case 'silence-ls':
    case 'silence-expire':
      if (!isInt(o.rid)) bad('rid');
      break;
    case 'silence-reply':
      if (!isInt(o.rid) || !isInt(o.n)) bad('fields');
      break;
    default:
      throw new ProtocolError('UNKNOWN_TYPE', `unknown message type ${echo(o.t)}`);
  }
  return o as unknown as Header;
}

export function encodeRecords(records: readonly WireRecord[]): Buffer {
  return packr.pack(records);
}

/** Decodes a batch payload and checks every record's shape; `expected` is the count the header promises. */
export function decodeRecords(frame: Buffer | undefined, expected: number): WireRecord[] {
  const list = unpackList(frame, 'records');
  if (list.length !== expected) throw new ProtocolError('BAD_PAYLOAD', `payload has ${list.length} records, header says ${expected}`);
  for (let i = 0; i < list.length; i++) {
    const r = list[i] as Record<string, unknown> | null;
    if (
      r === null || typeof r !== 'object' ||
      (r.state !== 'running' && r.state !== 'finished') ||
      !isStr(r.queryId) || !Number.isFinite(r.ts) || !Number.isFinite(r.durationMs) ||
      !isStr(r.sql) || !isStr(r.fingerprint) || !isStr(r.fingerprintId)
    ) {
      throw new ProtocolError('BAD_PAYLOAD', `record ${i} of the payload is malformed`);
    }
  }
  return list as WireRecord[];
}

export function encodeAlerts(alerts: readonly Alert[]): Buffer {
  return packr.pack(alerts);
}

export function decodeAlerts(frame: Buffer | undefined, expected: number): Alert[] {
  const list = unpackList(frame, 'alerts');
  if (list.length !== expected) throw new ProtocolError('BAD_PAYLOAD', `payload has ${list.length} alerts, header says ${expected}`);
  for (let i = 0; i < list.length; i++) {
    const a = list[i] as Record<string, unknown> | null;
    if (a === null || typeof a !== 'object' || !isStr(a.id) || !isStr(a.type) || !isStr(a.source) || !isStr(a.queryId)) {
      throw new ProtocolError('BAD_PAYLOAD', `alert ${i} of the payload is malformed`);
    }
  }
  return list as Alert[];
}

export function encodeStats(list: readonly ServiceStats[]): Buffer {
  return packr.pack(list);
}

/** Decodes a stats payload; entries that are not well-formed are dropped (stats are never worth an error). */
export function decodeStats(frame: Buffer | undefined): ServiceStats[] {
  const list = unpackList(frame, 'stats');
  const out: ServiceStats[] = [];
  for (const s of list.slice(0, 1000)) {
    const o = s as Record<string, unknown> | null;
    if (!o || typeof o !== 'object' || !isStr(o.service) || !isStr(o.kind) || typeof o.at !== 'number') continue;
    const c = o.counters as Record<string, unknown> | null;
    if (!c || typeof c !== 'object') continue;
    const counters: Record<string, number> = {};
    for (const [k, v] of Object.entries(c)) if (typeof v === 'number' && Number.isFinite(v)) counters[k] = v;
    const st: ServiceStats = { service: o.service.slice(0, 200), kind: o.kind.slice(0, 50), at: o.at, counters };
    if (isStr(o.source)) st.source = o.source.slice(0, 200);
    out.push(st);
  }
  return out;
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

function unpackMap(frame: Buffer | undefined, what: string): Record<string, unknown> {
  if (!frame) throw new ProtocolError('BAD_PAYLOAD', `missing ${what} frame`);
  if (frame.length > 65_536) throw new ProtocolError('TOO_BIG', `${what} payload of ${frame.length} bytes`);
  let v: unknown;
  try {
    v = headerPackr.unpack(frame);
  } catch (err) {
    throw new ProtocolError('BAD_PAYLOAD', `${what} payload is not msgpack: ${(err as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ProtocolError('BAD_PAYLOAD', `${what} payload is not a map`);
  return v as Record<string, unknown>;
}

export function decodeSilenceAdd(frame: Buffer | undefined): SilenceAddBody {
  const o = unpackMap(frame, 'silence-add');
  const bad = (what: string): never => {
    throw new ProtocolError('BAD_PAYLOAD', `silence-add: ${what}`);
  };
  if (!Array.isArray(o.matchers) || o.matchers.length > 100 || !o.matchers.every((m) => isStr(m) && m.length <= 4096)) bad('matchers must be a list of strings');
  if (!isStr(o.comment)) bad('comment must be a string');
  const body: SilenceAddBody = { matchers: o.matchers as string[], comment: o.comment as string };
  for (const k of ['startsAt', 'endsAt', 'createdBy'] as const) {
    if (o[k] === undefined) continue;
    if (!isStr(o[k])) bad(`${k} must be a string`);
    body[k] = o[k] as string;
  }
  if (o.durationMs !== undefined) {
    if (typeof o.durationMs !== 'number') bad('durationMs must be a number');
    body.durationMs = o.durationMs as number;
  }
  return body;
}

export function decodeSilenceExpire(frame: Buffer | undefined): SilenceExpireBody {
  const o = unpackMap(frame, 'silence-expire');
  if (!isStr(o.id) || o.id.length === 0 || o.id.length > 200) throw new ProtocolError('BAD_PAYLOAD', 'silence-expire: id must be a non-empty string');
  return { id: o.id };
}

export function encodeSilences(list: readonly SilenceRecord[]): Buffer {
  return packr.pack(list);
}

export function decodeSilences(frame: Buffer | undefined, expected: number): SilenceRecord[] {
  const list = unpackList(frame, 'silences');
  if (list.length !== expected) throw new ProtocolError('BAD_PAYLOAD', `payload has ${list.length} silences, header says ${expected}`);
  for (let i = 0; i < list.length; i++) {
    const s = list[i] as Record<string, unknown> | null;
    if (!s || typeof s !== 'object' || !isStr(s.id) || !Array.isArray(s.matchers) || !isStr(s.startsAt) || !isStr(s.endsAt) || !isStr(s.status)) {
      throw new ProtocolError('BAD_PAYLOAD', `silence ${i} of the payload is malformed`);
    }
  }
  return list as SilenceRecord[];
}

function unpackList(frame: Buffer | undefined, what: string): unknown[] {
  if (!frame) throw new ProtocolError('BAD_PAYLOAD', `missing ${what} frame`);
  let v: unknown;
  try {
    v = packr.unpack(frame);
  } catch (err) {
    throw new ProtocolError('BAD_PAYLOAD', `${what} payload is not msgpack: ${(err as Error).message}`);
  }
  if (!Array.isArray(v)) throw new ProtocolError('BAD_PAYLOAD', `${what} payload is not a list`);
  return v;
}
