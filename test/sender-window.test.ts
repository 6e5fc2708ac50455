import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Router } from 'zeromq';
import { pino } from 'pino';
import { Sender } from '../src/client/sender.js';
import type { Batch } from '../src/client/batch.js';
import { decodeHeader, encodeHeader } from '../src/wire/protocol.js';
import { ackHeader } from '../src/wire/headers.js';
import { freePort } from '../bench/harness/ports.js';

// The client's window bounds what it holds in bytes as well as in batches: raw chunks pause the reader once
// ~4 MiB are unacked even when far fewer than 16 batches are out, and an ack makes room again. Against a real
// ROUTER socket standing in for the master (it only records and acks).

function chunkBatch(first: number, bytes: number): Batch<number> {
  const last = first + bytes - 1;
  return { stream: 's1', first, last, records: [], resume: last, chunk: { bytes: Buffer.alloc(bytes, 0x61), eof: false, quiet: false, format: 'mysql-slow', timeZone: '', logLinePrefix: '' } };
}

describe('sender window', () => {
  test('full at 4 MiB of unacked chunks, room again after an ack', async () => {
    const port = await freePort();
    const router = new Router({ linger: 0 });
    await router.bind(`tcp://127.0.0.1:${port}`);
    let rooms = 0;
    const acked: number[] = [];
    const sender = new Sender<number>(
      { masters: [{ endpoint: `tcp://127.0.0.1:${port}` }], source: 'db1', log: pino({ level: 'silent' }), window: 16 },
      (b) => acked.push(b.last),
      () => { rooms++; },
    );
    sender.start();
    try {
      const MiB = 1024 * 1024;
      sender.submit(chunkBatch(1, 1.5 * MiB));
      sender.submit(chunkBatch(1 + 1.5 * MiB, 1.5 * MiB));
      assert.equal(sender.full, false, '3 MiB of 4: room left');
      sender.submit(chunkBatch(1 + 3 * MiB, 1.5 * MiB));
      assert.equal(sender.unacked, 3);
      assert.equal(sender.unackedBytes, 4.5 * MiB);
      assert.equal(sender.full, true, '4.5 MiB unacked with 3 of 16 batches out: full');

      // the "master" gets all three (the window stops the reader, not what was already submitted), acks the first
      const got: { rid: number; last: number; identity: Buffer }[] = [];
      for await (const [identity, header] of router) {
        const h = decodeHeader(header);
        assert.equal(h.t, 'chunk');
        if (h.t === 'chunk') got.push({ rid: h.rid, last: h.last, identity: identity! });
        if (got.length === 3) break;
      }
      const first = got[0]!;
      await router.send([first.identity, encodeHeader(ackHeader({ rid: first.rid, stream: 's1', last: first.last, applied: 0, dup: 0 }))]);
      const deadline = Date.now() + 5000;
      while (acked.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(acked, [first.last]);
      assert.equal(sender.unackedBytes, 3 * MiB);
      assert.equal(sender.full, false);
      assert.ok(rooms >= 1, 'the reader was told there is room');
    } finally {
      await sender.stop();
      router.close();
    }
  });
});
