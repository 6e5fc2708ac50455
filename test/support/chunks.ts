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

/**
 * `entries` entries of a MariaDB slow log whose clock is replayed (a replica's): thread 7 starts statements of
 * 1.5 s at T and T+1 in turn, so every start is a repeat and a chunk's query ids hang on the thread memory the
 * chunks before it left (mysql-query-ids.ts). A chunk parsed from a guessed start cannot know that: its guess does
 * not hold.
 */
export function replayedClockLog(entries: number): Buffer {
  const T = 1_700_000_000;
  let text = '';
  for (let i = 0; i < entries; i++) {
    text += `# Time: 231114 22:13:${String(20 + (i % 2)).padStart(2, '0')}\n# User@Host: app[app] @ web1 [10.0.0.1]\n# Thread_id: 7  Schema: shop  QC_hit: No\n` +
      `# Query_time: 1.500000  Lock_time: 0.000010  Rows_sent: 1  Rows_examined: 10\nSET timestamp=${T + (i % 2)};\nselect * from t where id = ${i};\n`;
  }
  return Buffer.from(text);
}
