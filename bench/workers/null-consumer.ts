import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import * as zmq from 'zeromq';
import { decodeHeader, encodeHeader, PROTOCOL_VERSION } from '../../src/wire/protocol.js';

// The "raw transport" baseline's consumer: registers with the master like a consumer, and acks every batch
// at once from its header alone — no payload decoding, no rules, no state, no disk.
// Usage: node null-consumer.js MASTER_BACK_ENDPOINT NAME...

const [endpoint, ...names] = process.argv.slice(2);
if (!endpoint || names.length === 0) throw new Error('usage: null-consumer ENDPOINT NAME...');

const sockets = names.map((name) => {
  const s = new zmq.Dealer({ routingId: randomBytes(12).toString('hex'), linger: 0, sendHighWaterMark: 100_000, receiveHighWaterMark: 100_000 });
  s.connect(endpoint);
  return { name, s };
});
let stopping = false;
const timers: NodeJS.Timeout[] = [];

for (const { name, s } of sockets) {
  // one pending send per socket: a small chain keeps them in order
  let chain: Promise<unknown> = Promise.resolve();
  const send = (frames: Array<Buffer>) => {
    chain = chain.then(() => s.send(frames)).catch(() => undefined);
  };
  // a state of its own each run, first start of it: the master takes it as a new consumer
  const claim = { name, sid: randomUUID(), gen: 1, pid: process.pid, host: hostname() };
  send([encodeHeader({ v: PROTOCOL_VERSION, t: 'hello', ...claim })]);
  timers.push(setInterval(() => send([encodeHeader({ v: PROTOCOL_VERSION, t: 'hb', ...claim })]), 1000));
  void (async () => {
    let acked = 0;
    while (!stopping) {
      let msg: Buffer[];
      try {
        msg = await s.receive();
      } catch {
        return;
      }
      if (msg.length !== 3) continue; // the master's owner/fenced answers
      const h = decodeHeader(msg[1]);
      if (h.t !== 'batch') continue;
      acked++;
      send([msg[0]!, encodeHeader({ v: PROTOCOL_VERSION, t: 'ack', rid: h.rid, stream: h.stream, last: h.last, applied: h.last - h.first + 1, dup: 0 })]);
    }
    void acked;
  })();
}

process.stdout.write('null consumer ready\n');
const stop = () => {
  stopping = true;
  for (const t of timers) clearInterval(t);
  for (const { s } of sockets) s.close();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
