import { Packr } from 'msgpackr';

// How durable state is encoded (journal entries and snapshots of the consumer and the monitor): msgpack with
// records (each object shape stored once per buffer), like the wire's payloads, so a batch payload can be
// journaled as it came and decoded later with the wire's own decoder.

const packr = new Packr({ useRecords: true, moreTypes: false });

export function packState(value: unknown): Buffer {
  return packr.pack(value);
}

export function unpackState<T>(buf: Buffer): T {
  return packr.unpack(buf) as T;
}
