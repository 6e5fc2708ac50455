import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { receiveLoop, YIELD_MS } from '../src/transport/receive-loop.js';

// A backlog of queued messages (zeromq.js resolves receive() at once while any are queued) must not hold the
// event loop: the loop lets it turn after YIELD_MS of reading, so I/O completions and timers (a consumer's commit,
// its acks and alerts) run between the messages of a backlog, not after all of them.

/** A socket with `n` messages queued; once closed, receive() rejects (as zeromq.js does for a closed socket). */
function backlog(n: number): { socket: { receive(): Promise<Buffer[]> }; close(): void } {
  let i = 0;
  let closed = false;
  return {
    socket: {
      receive: () => (closed ? Promise.reject(new Error('closed')) : i < n ? Promise.resolve([Buffer.from(String(i++))]) : new Promise<Buffer[]>(() => {})),
    },
    close: () => (closed = true),
  };
}

const busy = (ms: number): void => {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // a handler's work
  }
};

describe('receiveLoop', () => {
  it('lets timers and I/O run between the messages of a backlog', async () => {
    const total = 20 * YIELD_MS;
    const { socket, close } = backlog(total);
    let handled = 0;
    let timerAt: number | undefined;
    setTimeout(() => (timerAt = handled), 0);
    let stopping = false;
    const done = receiveLoop(socket, () => stopping, () => {
      handled++;
      busy(1);
      if (handled === total) {
        stopping = true;
        close();
      }
    });
    await done;
    assert.equal(handled, total);
    assert.ok(timerAt !== undefined && timerAt < total / 2, `a timer set when the backlog began ran after ${timerAt} of ${total} messages`);
  });

  it('still waits for a handler\'s promise before the next receive, in order', async () => {
    const { socket, close } = backlog(50);
    const seen: string[] = [];
    let stopping = false;
    await receiveLoop(socket, () => stopping, async (msg) => {
      await new Promise((r) => setTimeout(r, 0));
      seen.push(msg[0]!.toString());
      if (seen.length === 50) {
        stopping = true;
        close();
      }
    });
    assert.deepEqual(seen, Array.from({ length: 50 }, (_, i) => String(i)));
  });
});
