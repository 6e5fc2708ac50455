import type { WireRecord } from '../model/record.js';

// How big a message of the wire may be (docs/wire.md, "Validation"). The bounds of single fields of records
// and alerts are the model's (src/model/bounds.ts), shared with the producers.

/** a header frame */
export const MAX_HEADER_BYTES = 4096;
/** records in one batch */
export const MAX_BATCH_RECORDS = 100_000;
/**
 * Bytes of records a client puts in one batch at most (it seals a batch earlier, by its own estimate, which is
 * never below the real size); far above real batches, a bound for pathological input (labels, long text).
 */
export const MAX_BATCH_PAYLOAD_BYTES = 8 * 1024 * 1024;
/** bytes of one `chunk` (a client cuts them at ~512 KiB; an entry longer than this is cut where a line ends) */
export const MAX_CHUNK_BYTES = 8 * 1024 * 1024;
/** the formats a `chunk` may be in (src/formats/entry-chunker.ts cuts them) */
export const CHUNK_FORMATS = ['mysql-slow', 'jsonl', 'postgres', 'postgres-csv', 'postgres-json'] as const;
/** a `chunk`'s log_line_prefix (PostgreSQL's own limit is its GUC's: far longer than any real one) */
export const MAX_LOG_LINE_PREFIX_CHARS = 256;
/** alerts in one `alerts` message */
export const MAX_ALERTS_PER_MESSAGE = 1000;
/** entries of a `stats` message: the master's own and those of up to 10,000 clients */
export const MAX_STATS_PER_MESSAGE = 10_001;
/** counters of one stats entry */
export const MAX_COUNTERS = 1000;
/** a silence request's body */
export const MAX_SILENCE_BODY_BYTES = 65_536;
/** silences in one `silence-reply` */
export const MAX_SILENCES_PER_REPLY = 100_000;

/** consumer names in a ring */
export const MAX_RING_NAMES = 1000;
/** one source's state in a `handoff` (open queries, finished ids, stream marks, regression classes, its alerts waiting for the monitor) */
export const MAX_HANDOFF_BYTES = 48 * 1024 * 1024;

/**
 * ZeroMQ's maxMessageSize (per frame) on each bound socket: a peer sending a bigger frame is disconnected by
 * libzmq before any of it is read into the service. Each is well above the largest frame a slowq peer sends
 * there: a batch of at most MAX_BATCH_PAYLOAD_BYTES plus one record (under 0.5 MB whatever it holds), MAX_ALERTS_PER_MESSAGE alerts (each
 * under 80 KB: an alert carries no labels of its records, but may carry a plan of MAX_PLAN_CHARS), a stats list.
 */
export const MAX_FRAME_BYTES = {
  /** the master's client port: batches, chunks (at most MAX_CHUNK_BYTES) and clients' stats */
  clients: 16 * 1024 * 1024,
  /** the master's consumer port: headers (hello, hb, replies), routing ids, and a source's state in a handoff */
  consumers: MAX_HANDOFF_BYTES + 1024 * 1024,
  /** the monitor: alerts, stats (the master's and its clients'), silence requests */
  monitor: 96 * 1024 * 1024,
} as const;

/**
 * At least the bytes a record takes in a batch payload: msgpack writes a UTF-16 unit in at most 3 bytes and a
 * number in at most 9, plus a few bytes of framing per value. The client seals a batch before this sum passes
 * MAX_BATCH_PAYLOAD_BYTES.
 */
export function recordBytesBound(r: WireRecord): number {
  const str = (s: string | undefined) => (s === undefined ? 0 : 5 + 3 * s.length);
  let n = 64 + str(r.queryId) + str(r.sql) + str(r.fingerprint) + str(r.fingerprintId) + str(r.db) + str(r.user) + str(r.host) + str(r.plan);
  if (r.planFacts) n += 16 * Object.keys(r.planFacts).length;
  if (r.labels) for (const [k, v] of Object.entries(r.labels)) n += str(k) + (typeof v === 'string' ? str(v) : 9);
  return n;
}
