import { parentPort } from 'node:worker_threads';
import { packState } from '../durable/codec.js';
import { ChunkParsers } from '../formats/chunk-parse.js';
import { toWire, type WireRecord } from '../model/record.js';
import type { ParseJob, ParseReply } from './parse-ahead.js';

// A consumer's parse thread (parse-ahead.ts starts it): parses raw chunks while the main thread applies the ones
// before them. Each stream's parser context stays here between its chunks (a job says `fresh` with the context to
// start from, or continues where this thread left the stream). The records go back msgpack-packed, in a buffer
// that is handed over, not copied (a structured clone of the records costs more than parsing them); the chunk's
// buffer goes back too, to be reused.

const port = parentPort;
if (!port) throw new Error('parse-worker.ts runs as a worker thread');

const parsers = new ChunkParsers();
/** where each stream's last chunk left the parser; absent after a failure (the next job must be fresh) */
const left = new Map<string, { end: number; line: number; context: unknown }>();

port.on('message', (job: ParseJob) => {
  let reply: ParseReply;
  const transfer: ArrayBuffer[] = [job.buffer];
  try {
    const from = job.fresh ? { end: job.offset, line: job.line, context: job.context } : left.get(job.key);
    left.delete(job.key);
    if (from?.end !== job.offset) throw new Error(`no parser state at byte ${job.offset} of ${job.key}: its previous chunk was not parsed here`);
    const bytes = Buffer.from(job.buffer, 0, job.length);
    const parsed = parsers.parse(job.fmt, job.tz ? { logTimeZone: job.tz } : {}, bytes, { offset: job.offset, line: from.line, context: from.context }, job.eof);
    left.set(job.key, { end: job.offset + job.length, line: parsed.line, context: parsed.context });
    const records: WireRecord[] = parsed.events.map(toWire);
    const packed = packState(records);
    // its own memory, so that it can be handed over whole
    const payload = packed.byteOffset === 0 && packed.byteLength === packed.buffer.byteLength ? packed : Buffer.from(packed);
    transfer.push(payload.buffer as ArrayBuffer);
    reply = { id: job.id, ok: true, buffer: job.buffer, payload, count: records.length, problems: parsed.problems, line: parsed.line, context: parsed.context, cutInEntry: parsed.cutInEntry };
  } catch (err) {
    reply = { id: job.id, ok: false, buffer: job.buffer, error: (err as Error).message };
  }
  port.postMessage(reply, transfer);
});
