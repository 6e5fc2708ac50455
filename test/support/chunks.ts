import { packState, unpackState } from '../../src/durable/codec.js';
import { chunkEnd, ChunkParsers, type ChunkStart } from '../../src/formats/chunk-parse.js';
import { EntryChunker, type RawChunk } from '../../src/formats/entry-chunker.js';
import type { ParserOptions } from '../../src/formats/parsers/index.js';
import type { ParsedEvent } from '../../src/model/record.js';
import { MySqlSlowLogGenerator } from '../../src/workload/mysql-slow-generator.js';

// A generated MariaDB slow log and its cut into raw chunks, for the tests of the chunk path at the consumer
// (chunk-intake, parse-ahead); any log cut and parsed as the chunk path does (real-servers).

/** `entries` entries of a MariaDB slow log, with its banner. */
export function generatedSlowLog(seed: number, entries: number): Buffer {
  const g = new MySqlSlowLogGenerator({ seed, flavor: 'mariadb', meanGapMs: 5, slowFraction: 0.05, threads: 40 });
  let text = g.banner();
  for (let i = 0; i < entries; i++) text += g.next().text;
  return Buffer.from(text);
}

/** `bytes` cut as a client cuts them (the whole file: the last chunk is `eof`), at ~`target` bytes a chunk. */
export function cutChunks(bytes: Buffer, target: number, format = 'mysql-slow'): RawChunk[] {
  const out: RawChunk[] = [];
  const c = new EntryChunker({ format, offset: 0, line: 0, targetBytes: target, maxBytes: 8 << 20 });
  c.push(bytes, out);
  c.finish(true, out);
  return out;
}

/** `bytes` cut as cutChunks() cuts them and parsed as a consumer parses them, the context carried through msgpack as its state carries it. */
export function parseInChunks(bytes: Buffer, format: string, options: ParserOptions, target: number): ParsedEvent[] {
  const parsers = new ChunkParsers();
  const events: ParsedEvent[] = [];
  let start: ChunkStart = { offset: 0, line: 0, context: undefined };
  for (const c of cutChunks(bytes, target, format)) {
    const p = parsers.parse(format, options, c.bytes, start, chunkEnd(c.eof, c.quiet));
    events.push(...p.events);
    start = { offset: c.to, line: p.line, context: p.context === undefined ? undefined : unpackState<unknown>(packState(p.context)) };
  }
  return events;
}

/**
 * `entries` entries of a MariaDB slow log whose clock is replayed (a replica's): thread 7 starts statements of
 * 1.5 s at T and T+1 in turn, so every start is a repeat and a chunk's query ids hang on the thread memory the
 * chunks before it left (mysql-query-ids.ts): a chunk parsed from a guessed start gets them right only when settled.
 */
export function replayedClockLog(entries: number): Buffer {
  const T = 1_700_000_000;
  let text = '';
  for (let i = 0; i < entries; i++) text += mariadbEntry(`231114 22:13:${20 + (i % 2)}`, T + (i % 2), 1.5, `select * from t where id = ${i}`);
  return Buffer.from(text);
}

/**
 * `entries` entries written in America/New_York local time, 20 s apart, across 2020-11-01 01:00–02:00 twice (the
 * hour daylight time repeats). A chunk whose first `# Time:` falls in the second pass reads it right only knowing
 * the time before it: parsed from a guessed start, its guess does not hold.
 */
export function repeatedHourLog(entries: number): Buffer {
  const first = Date.UTC(2020, 10, 1, 4, 40); // 00:40 EDT
  let text = '';
  for (let i = 0; i < entries; i++) {
    const ms = first + i * 20_000;
    const local = new Date(ms + (ms < Date.UTC(2020, 10, 1, 6) ? -4 : -5) * 3_600_000);
    const hh = String(local.getUTCHours()).padStart(2, ' ');
    const mm = String(local.getUTCMinutes()).padStart(2, '0');
    const ss = String(local.getUTCSeconds()).padStart(2, '0');
    text += mariadbEntry(`201101 ${hh}:${mm}:${ss}`, Math.floor(ms / 1000) - 1, 0.5, `select * from t where id = ${i}`);
  }
  return Buffer.from(text);
}

/** A MariaDB entry of thread 7: `# Time:` (local, without a zone), SET timestamp, Query_time in seconds. */
function mariadbEntry(time: string, setTimestamp: number, querySeconds: number, sql: string): string {
  return `# Time: ${time}\n# User@Host: app[app] @ web1 [10.0.0.1]\n# Thread_id: 7  Schema: shop  QC_hit: No\n` +
    `# Query_time: ${querySeconds.toFixed(6)}  Lock_time: 0.000010  Rows_sent: 1  Rows_examined: 10\nSET timestamp=${setTimestamp};\n${sql};\n`;
}
