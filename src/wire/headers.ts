import {
  PROTOCOL_VERSION,
  type AckHeader, type AlertsAckHeader, type ChunkHeader, type ClaimHeader, type AlertsHeader, type BatchHeader, type ErrorHeader, type GapHeader, type HelloHeader,
  type RetryHeader, type RingRequestHeader, type RingHeader, type ReleaseHeader, type ReleasedHeader, type HandoffHeader, type HandoffAckHeader, type SilenceReplyHeader, type SilenceRequestHeader, type StatsHeader,
} from './protocol.js';

// One builder per message type, so no service writes a header literal. Each puts the keys in the order the
// literals always had: headers are msgpack maps, and the bytes on the wire stay the same.

export function batchHeader(f: Omit<BatchHeader, 'v' | 't'>): BatchHeader {
  return { v: PROTOCOL_VERSION, t: 'batch', rid: f.rid, src: f.src, stream: f.stream, first: f.first, last: f.last };
}

export function chunkHeader(f: Omit<ChunkHeader, 'v' | 't'>): ChunkHeader {
  const h: ChunkHeader = { v: PROTOCOL_VERSION, t: 'chunk', rid: f.rid, src: f.src, stream: f.stream, first: f.first, last: f.last, eof: f.eof, fmt: f.fmt, tz: f.tz };
  if (f.pfx) h.pfx = f.pfx;
  if (f.quiet) h.quiet = 1;
  return h;
}

export function ackHeader(f: Omit<AckHeader, 'v' | 't'>): AckHeader {
  return { v: PROTOCOL_VERSION, t: 'ack', rid: f.rid, stream: f.stream, last: f.last, applied: f.applied, dup: f.dup };
}

export function retryHeader(rid: number, after: number, reason: string): RetryHeader {
  return { v: PROTOCOL_VERSION, t: 'retry', rid, after, reason };
}

export function gapHeader(rid: number, stream: string, expected: number): GapHeader {
  return { v: PROTOCOL_VERSION, t: 'gap', rid, stream, expected };
}

/** The `err` answer to a message that failed with `err`; the code is the error's own (a ProtocolError's) unless given. */
export function errorHeader(rid: number, err: unknown, code: string = errorCode(err)): ErrorHeader {
  return { v: PROTOCOL_VERSION, t: 'err', rid, code, msg: err instanceof Error ? err.message : String(err) };
}

/** A ProtocolError's code (or any error's string `code`); 'BAD' for an error without one. */
export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'BAD';
}

export function helloHeader(t: HelloHeader['t'], f: Omit<HelloHeader, 'v' | 't'>): HelloHeader {
  return { v: PROTOCOL_VERSION, t, name: f.name, sid: f.sid, gen: f.gen, pid: f.pid, host: f.host };
}

/** The master's answer to a hello/hb: owner, or fenced and why (the reason is cut to fit the header). */
export function claimHeader(t: ClaimHeader['t'], name: string, reason: string): ClaimHeader {
  return { v: PROTOCOL_VERSION, t, name, reason: reason.length > 1024 ? `${reason.slice(0, 1020)}…` : reason };
}

export function alertsHeader(rid: number, n: number): AlertsHeader {
  return { v: PROTOCOL_VERSION, t: 'alerts', rid, n };
}

export function alertsAckHeader(rid: number, accepted: number, dup: number): AlertsAckHeader {
  return { v: PROTOCOL_VERSION, t: 'alerts-ack', rid, accepted, dup };
}

export function statsHeader(): StatsHeader {
  return { v: PROTOCOL_VERSION, t: 'stats' };
}

export function silenceRequestHeader(t: SilenceRequestHeader['t'], rid: number): SilenceRequestHeader {
  return { v: PROTOCOL_VERSION, t, rid };
}

export function silenceReplyHeader(rid: number, n: number): SilenceReplyHeader {
  return { v: PROTOCOL_VERSION, t: 'silence-reply', rid, n };
}

export function ringRequestHeader(rid: number, op: RingRequestHeader['op'], name: string): RingRequestHeader {
  return { v: PROTOCOL_VERSION, t: 'ring-req', rid, op, name };
}

/** The master's answer to a ring request (the text cut to fit the header). */
export function ringHeader(f: Omit<RingHeader, 'v' | 't'>): RingHeader {
  return { v: PROTOCOL_VERSION, t: 'ring', rid: f.rid, version: f.version, busy: f.busy, ok: f.ok, msg: f.msg.length > 1024 ? `${f.msg.slice(0, 1020)}…` : f.msg, ...(f.shared && { shared: f.shared }) };
}

/** `shared`: the master keeps a ring shared with other masters (a consumer of several masters then takes part) */
export function releaseHeader(ver: number, shared = false): ReleaseHeader {
  return { v: PROTOCOL_VERSION, t: 'release', ver, ...(shared && { shared: 1 }) };
}

export function releasedHeader(ver: number, n: number): ReleasedHeader {
  return { v: PROTOCOL_VERSION, t: 'released', ver, n };
}

export function handoffHeader(ver: number, src: string, shared = false): HandoffHeader {
  return { v: PROTOCOL_VERSION, t: 'handoff', ver, src, ...(shared && { shared: 1 }) };
}

export function handoffAckHeader(t: HandoffAckHeader['t'], ver: number, src: string): HandoffAckHeader {
  return { v: PROTOCOL_VERSION, t, ver, src };
}
