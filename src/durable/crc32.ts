import * as zlib from 'node:zlib';

// CRC-32 (IEEE 802.3, the zlib/gzip one). Node has zlib.crc32 from 20.15 and 22.2; on older Node 20
// releases (package.json allows >=20) a table-driven version gives the same values.

type Crc32 = (data: Uint8Array, value?: number) => number;

let table: Uint32Array | undefined;

function crcTable(): Uint32Array {
  if (table) return table;
  table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** Table-driven CRC-32; `value` continues a running checksum, as zlib's does. */
export function crc32Table(data: Uint8Array, value = 0): number {
  const t = crcTable();
  let c = ~value >>> 0;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

const native = (zlib as { crc32?: Crc32 }).crc32;

/** CRC-32 of `data`, continuing from `value` (crc32(b, crc32(a)) === crc32(a ++ b)). */
export const crc32: Crc32 = native ? (data, value = 0) => native(data, value) : crc32Table;
