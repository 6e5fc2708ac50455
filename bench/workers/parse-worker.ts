import { serialize } from 'node:v8';
import { parentPort } from 'node:worker_threads';
import { parseStream } from '../../src/formats/read-file.js';
import { toWire, type WireRecord } from '../../src/model/record.js';
import { encodeRecords } from '../../src/wire/protocol.js';

// A parse worker of `slowq bench design`: parses one entry-aligned chunk of a MySQL slow log and answers with
// the records as design A would send them (msgpack frames of 1,000) or as design B would hand them to its
// rules thread (a structured clone).

export interface ParseJob {
  mode: 'wire' | 'clone';
  chunk: Uint8Array;
}

export interface ParseReply {
  events: number;
  out: Uint8Array;
}

async function* once(b: Buffer): AsyncIterable<Buffer> {
  yield b;
}

parentPort!.on('message', (job: ParseJob) => {
  const records: WireRecord[] = [];
  const chunk = Buffer.from(job.chunk.buffer, job.chunk.byteOffset, job.chunk.byteLength);
  void parseStream(once(chunk), 'mysql-slow', (evs) => {
    for (const e of evs) records.push(toWire(e));
  }).then(() => {
    let out: Uint8Array;
    if (job.mode === 'clone') out = serialize(records);
    else {
      const frames: Buffer[] = [];
      for (let i = 0; i < records.length; i += 1000) frames.push(encodeRecords(records.slice(i, i + 1000)));
      out = Buffer.concat(frames);
    }
    // only a buffer of its own can be transferred (small ones share Node's pool)
    const owned = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength ? out : new Uint8Array(out);
    const reply: ParseReply = { events: records.length, out: owned };
    parentPort!.postMessage(reply, [owned.buffer as ArrayBuffer]);
  });
});
