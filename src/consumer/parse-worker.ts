import { parentPort } from 'node:worker_threads';
import { ChunkParsers } from '../formats/chunk-parse.js';
import { guessChunkRecords, parseChunkRecords } from './chunk-intake.js';
import type { ParsedAhead, ParseJob, ParseReply } from './parse-ahead.js';
import { encodeRecords, transferables } from './record-columns.js';

// A consumer's parse thread (parse-ahead.ts starts it): parses raw chunks while the main thread applies the ones
// before them. Each stream's parser context stays here between its chunks (a job says `fresh` with the context to
// start from, or continues where this thread left the stream). The records go back column-wise (record-columns.ts:
// a structured clone of the records as objects costs more than parsing them); the chunk's buffer goes back too,
// to be reused. A job may instead say `guess`: parse from a start not known yet, settled at the chunk's turn.

const port = parentPort;
if (!port) throw new Error('parse-worker.ts runs as a worker thread');

const parsers = new ChunkParsers();
/** where each stream's last chunk left the parser; absent after a failure (the next job must be fresh) */
const left = new Map<string, { end: number; line: number; context: unknown }>();

port.on('message', (job: ParseJob) => {
  let reply: ParseReply;
  const transfer: ArrayBuffer[] = [job.buffer];
  try {
    const bytes = Buffer.from(job.buffer, 0, job.length);
    const { records, ...parsed } = job.guess ? guessed(job, bytes) : continued(job, bytes);
    const columns = encodeRecords(records);
    transfer.push(...transferables(columns));
    reply = { id: job.id, ok: true, buffer: job.buffer, columns, ...parsed };
  } catch (err) {
    reply = { id: job.id, ok: false, buffer: job.buffer, error: (err as Error).message };
  }
  port.postMessage(reply, transfer);
});

/** From the context the job brings (`fresh`) or where this thread left the stream. */
function continued(job: ParseJob, bytes: Buffer): ParsedAhead {
  const from = job.fresh ? { end: job.offset, line: job.line, context: job.context } : left.get(job.key);
  left.delete(job.key);
  if (from?.end !== job.offset) throw new Error(`no parser state at byte ${job.offset} of ${job.key}: its previous chunk was not parsed here`);
  const parsed = parseChunkRecords(parsers, job, bytes, { offset: job.offset, line: from.line, context: from.context });
  left.set(job.key, { end: job.offset + job.length, line: parsed.line, context: parsed.context });
  return parsed;
}

/** From a start not known yet (settled at the chunk's turn): the stream's place here (`left`) is neither used nor moved. */
function guessed(job: ParseJob, bytes: Buffer): ParsedAhead {
  const parsed = guessChunkRecords(parsers, job, bytes, job.offset);
  if (!parsed) throw new Error(`format ${job.fmt} cannot be parsed from a guessed start`);
  return parsed;
}
