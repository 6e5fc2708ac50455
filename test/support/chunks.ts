import { EntryChunker, type RawChunk } from '../../src/formats/entry-chunker.js';
import { MySqlSlowLogGenerator } from '../../src/workload/mysql-slow-generator.js';

// A generated MariaDB slow log and its cut into raw chunks, for the tests of the chunk path at the consumer
// (chunk-intake, parse-ahead).

/** `entries` entries of a MariaDB slow log, with its banner. */
export function generatedSlowLog(seed: number, entries: number): Buffer {
  const g = new MySqlSlowLogGenerator({ seed, flavor: 'mariadb', meanGapMs: 5, slowFraction: 0.05, threads: 40 });
  let text = g.banner();
  for (let i = 0; i < entries; i++) text += g.next().text;
  return Buffer.from(text);
}

/** `bytes` cut as a client cuts them (the whole file: the last chunk is `eof`), at ~`target` bytes a chunk. */
export function cutChunks(bytes: Buffer, target: number): RawChunk[] {
  const out: RawChunk[] = [];
  const c = new EntryChunker({ format: 'mysql-slow', offset: 0, line: 0, targetBytes: target, maxBytes: 8 << 20 });
  c.push(bytes, out);
  c.finish(true, out);
  return out;
}
