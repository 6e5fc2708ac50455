import { toWire } from '../src/model/record.js';
import { createParser } from '../src/formats/parsers/index.js';
import { newParseOutput } from '../src/formats/parsers/types.js';
import type { WireRecord } from '../src/wire/protocol.js';
import { MySqlSlowLogGenerator, type MySqlSlowLogOptions } from '../src/workload/mysql-slow-generator.js';

/** `n` real wire records: a generated MySQL slow log run through the real parser (no file). */
export function sampleRecords(n: number, opts: MySqlSlowLogOptions = {}): WireRecord[] {
  const g = new MySqlSlowLogGenerator({ seed: 11, ...opts });
  const parser = createParser('mysql-slow');
  const out = newParseOutput();
  let offset = 0;
  let lineNo = 0;
  const feed = (text: string) => {
    for (const line of text.split('\n')) {
      if (line === '' && offset > 0) continue;
      const end = offset + Buffer.byteLength(line) + 1;
      parser.line(line, offset, end, ++lineNo, out);
      offset = end;
    }
  };
  feed(g.banner().slice(0, -1));
  while (out.events.length < n) feed(g.next().text.slice(0, -1));
  return out.events.slice(0, n).map(toWire);
}
