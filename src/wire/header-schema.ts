import { name, rid, seq } from './fields.js';
import { CHUNK_FORMATS, MAX_LOG_LINE_PREFIX_CHARS, MAX_ALERTS_PER_MESSAGE, MAX_BATCH_RECORDS, MAX_CHUNK_BYTES, MAX_HEADER_BYTES, MAX_SILENCES_PER_REPLY } from './limits.js';
import type { Header } from './protocol.js';
import { integer, object, oneOf, optional, text, type Check } from './schema.js';
import { MAX_NAME_CHARS } from '../model/bounds.js';

// The fields of every header type (docs/wire.md, "Message types"); `v` and `t` are checked before these.

/** a number of records or alerts */
const count = integer(0, Number.MAX_SAFE_INTEGER);
/** what an error or a retry says, for the log (the header's size bounds it further) */
const reason = text({ max: MAX_HEADER_BYTES });

/** The header type(s) whose `t` can be T (hello and hb share one). */
type HeaderOf<T extends Header['t'], H = Header> = H extends { t: infer U } ? (T extends U ? H : never) : never;
type Fields<T extends Header['t']> = Omit<HeaderOf<T>, 'v' | 't'>;

/** The first..last of a batch: in order, and at most MAX_BATCH_RECORDS of them. */
export function batchSpanProblem(first: number, last: number): string | undefined {
  if (last < first) return `first (${first}) is after last (${last})`;
  if (last - first >= MAX_BATCH_RECORDS) return `a batch of ${last - first + 1} records, over ${MAX_BATCH_RECORDS}`;
  return undefined;
}

/** The first..last of a chunk (bytes): in order, and at most MAX_CHUNK_BYTES of them. */
export function chunkSpanProblem(first: number, last: number): string | undefined {
  if (last < first) return `first (${first}) is after last (${last})`;
  if (last - first >= MAX_CHUNK_BYTES) return `a chunk of ${last - first + 1} bytes, over ${MAX_CHUNK_BYTES}`;
  return undefined;
}

const silenceRequest = object({ rid });
/** a consumer's claim to its name: which state (sid), which start of it (gen), which process */
const claim = object({ name, sid: text({ min: 1, max: 64 }), gen: integer(1, Number.MAX_SAFE_INTEGER), pid: integer(0, Number.MAX_SAFE_INTEGER), host: text({ max: 512 }) });
/** the master's answer to a claim: owner, or fenced and why */
const claimAnswer = object({ name, reason: text({ max: 1024 }) });

/** a ring version */
const version = integer(1, Number.MAX_SAFE_INTEGER);
const handoffAck = object({ ver: version, src: name });
/** 1: sent by a master that shares its ring with others (docs/delivery.md) */
const shared = optional(integer(0, 1));

export const HEADER_FIELDS: { [T in Header['t']]: Check<Fields<T>> } = {
  // ring: the ring version the master routed it by (set by the master; the consumers' fence against a stale one)
  batch: object({ rid, src: name, stream: name, first: seq, last: seq, ring: optional(integer(0, Number.MAX_SAFE_INTEGER)) }, (h) => batchSpanProblem(h.first, h.last)),
  chunk: object({
    rid, src: name, stream: name, first: seq, last: seq, eof: integer(0, 1), fmt: oneOf(CHUNK_FORMATS), tz: text({ max: 64 }),
    pfx: optional(text({ max: MAX_LOG_LINE_PREFIX_CHARS })), quiet: optional(integer(0, 1)), ring: optional(integer(0, Number.MAX_SAFE_INTEGER)),
  }, (h) => chunkSpanProblem(h.first, h.last)),
  ack: object({ rid, stream: name, last: count, applied: count, dup: count }),
  retry: object({ rid, after: integer(0, 86_400_000), reason }),
  gap: object({ rid, stream: name, expected: seq }),
  err: object({ rid, code: text({ min: 1, max: 64 }), msg: reason }),
  hello: claim,
  hb: claim,
  owner: claimAnswer,
  fenced: claimAnswer,
  // more than MAX_ALERTS_PER_MESSAGE is the payload's problem (the error then carries the request's rid)
  alerts: object({ rid, n: count }),
  'alerts-ack': object({ rid, accepted: integer(0, MAX_ALERTS_PER_MESSAGE), dup: integer(0, MAX_ALERTS_PER_MESSAGE) }),
  stats: object({}),
  'silence-add': silenceRequest,
  'silence-ls': silenceRequest,
  'silence-expire': silenceRequest,
  'silence-reply': object({ rid, n: integer(0, MAX_SILENCES_PER_REPLY) }),
  'ring-req': object({ rid, op: oneOf(['get', 'add', 'remove']), name: text({ max: MAX_NAME_CHARS }) }, (h) => (h.op !== 'get' && h.name === '' ? `${h.op} needs a name` : undefined)),
  ring: object({ rid, version: integer(0, Number.MAX_SAFE_INTEGER), busy: integer(0, 1), ok: integer(0, 1), msg: text({ max: 1024 }), shared }),
  release: object({ ver: version, shared }),
  released: object({ ver: version, n: count }),
  handoff: object({ ver: version, src: name, shared }),
  'handoff-ack': handoffAck,
  'handoff-done': handoffAck,
};
