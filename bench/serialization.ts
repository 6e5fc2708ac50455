import { deserialize, serialize } from 'node:v8';
import { Packr } from 'msgpackr';
import { encodeRecords, decodeRecords, type WireRecord } from '../src/wire/protocol.js';
import { median, type BenchReport } from './output.js';
import { sampleRecords } from './records.js';

// `slowq bench serialization`: the source design's table (it compared JSON, pickle, marshal, ujson and
// msgpack) for our records: encoded size of one record and of a 1,000-record batch, 10,000 single
// encodes and decodes, one 1,000-record encode and decode.

export interface SerializationOptions {
  /** single encodes/decodes timed (default 10,000) */
  singles?: number;
  /** records in the list (default 1,000) */
  listSize?: number;
  /** timed repetitions of the list encode/decode; the median is reported (default 15) */
  repeats?: number;
}

interface Codec {
  name: string;
  encode(v: unknown): Buffer | string;
  decode(b: Buffer | string): unknown;
}

function codecs(): Codec[] {
  const plain = new Packr({ useRecords: false });
  const records = new Packr({ useRecords: true, moreTypes: false });
  // shared structures: both ends keep the same list of record shapes, so messages don't carry them
  const shared: object[] = [];
  const sharedA = new Packr({ structures: shared, moreTypes: false });
  const sharedB = new Packr({ structures: shared, moreTypes: false });
  return [
    { name: 'JSON', encode: (v) => JSON.stringify(v), decode: (b) => JSON.parse(b as string) },
    { name: 'JSON → Buffer (utf8)', encode: (v) => Buffer.from(JSON.stringify(v)), decode: (b) => JSON.parse((b as Buffer).toString()) },
    { name: 'msgpackr (plain maps)', encode: (v) => plain.pack(v), decode: (b) => plain.unpack(b as Buffer) },
    { name: 'msgpackr (records)', encode: (v) => records.pack(v), decode: (b) => records.unpack(b as Buffer) },
    { name: 'msgpackr (shared structures)', encode: (v) => sharedA.pack(v), decode: (b) => sharedB.unpack(b as Buffer) },
    { name: 'v8.serialize', encode: (v) => serialize(v), decode: (b) => deserialize(b as Buffer) },
    // what the pipeline does: wire.ts (msgpackr records) plus the receiver's shape check
    { name: 'slowq wire (records + checks)', encode: (v) => encodeRecords(Array.isArray(v) ? v : [v as WireRecord]), decode: (b) => decodeRecords(b as Buffer, 1) },
  ];
}

const size = (b: Buffer | string): number => (typeof b === 'string' ? Buffer.byteLength(b) : b.length);

export async function benchSerialization(opts: SerializationOptions = {}): Promise<BenchReport> {
  const singles = opts.singles ?? 10_000;
  const listSize = opts.listSize ?? 1000;
  const repeats = opts.repeats ?? 15;
  const list = sampleRecords(listSize);
  const one = list[0]!;
  const rows: Array<Array<string | number>> = [];
  const data: Record<string, unknown> = {};
  for (const c of codecs()) {
    const wire = c.name.startsWith('slowq wire');
    const dec = wire ? (b: Buffer | string, n: number) => decodeRecords(b as Buffer, n) : (b: Buffer | string) => c.decode(b);
    const oneEnc = c.encode(wire ? [one] : one);
    const listEnc = c.encode(list);
    // correctness first: what is decoded is what was encoded
    const back = dec(listEnc, list.length) as WireRecord[];
    if (!Array.isArray(back) || back.length !== list.length || back[7]!.sql !== list[7]!.sql) throw new Error(`${c.name}: round trip failed`);

    let t0 = performance.now();
    for (let i = 0; i < singles; i++) c.encode(wire ? [list[i % list.length]!] : list[i % list.length]!);
    const singleEnc = performance.now() - t0;
    const encodedSingles = list.map((r) => c.encode(wire ? [r] : r));
    t0 = performance.now();
    for (let i = 0; i < singles; i++) dec(encodedSingles[i % encodedSingles.length]!, 1);
    const singleDec = performance.now() - t0;

    const encTimes: number[] = [];
    const decTimes: number[] = [];
    for (let i = 0; i < repeats + 2; i++) {
      t0 = performance.now();
      c.encode(list);
      const e = performance.now() - t0;
      t0 = performance.now();
      dec(listEnc, list.length);
      const d = performance.now() - t0;
      if (i >= 2) {
        encTimes.push(e);
        decTimes.push(d);
      }
    }
    const row = {
      oneBytes: size(oneEnc),
      listBytes: size(listEnc),
      singleEncMs: singleEnc,
      singleDecMs: singleDec,
      listEncMs: median(encTimes),
      listDecMs: median(decTimes),
    };
    data[c.name] = row;
    rows.push([c.name, row.oneBytes, row.listBytes, row.singleEncMs, row.singleDecMs, row.listEncMs, row.listDecMs,
      Math.round((listSize / (row.listEncMs + row.listDecMs)) * 1000)]);
  }
  return {
    bench: 'serialization',
    tables: [{
      title: `Serialization of slowq records (${listSize}-record list from a generated MySQL slow log)`,
      columns: ['serializer', '1 record B', `${listSize} records B`, `${singles} encodes ms`, `${singles} decodes ms`, `list encode ms`, `list decode ms`, 'list records/s (enc+dec)'],
      rows,
      notes: [
        `list times: median of ${repeats} runs after 2 warm-ups; singles: one pass over ${singles} records`,
        '"shared structures": both ends share the record shapes out of band (smallest, but both ends must agree on state)',
        '"slowq wire": what the pipeline uses (msgpackr records, self-describing) plus the receiver\'s per-record checks',
      ],
    }],
    charts: [{
      name: 'list',
      title: `Encode + decode of ${listSize} records (ms, lower is better)`,
      unit: 'ms',
      bars: rows.map((r) => ({ label: String(r[0]), value: Number(r[5]) + Number(r[6]) })),
    }],
    data: { listSize, singles, codecs: data },
  };
}
