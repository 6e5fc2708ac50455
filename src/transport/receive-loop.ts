// Every service reads its sockets the same way: one pending receive() at a time (zeromq.js allows no
// more), each message handed to a handler; the loop ends quietly when the socket is closed on purpose.
// A handler that returns a promise is waited for before the next receive (backpressure: what is not read
// stays in ZeroMQ). An unexpected receive error goes to `onError`, after which the loop goes on; without
// one it rejects the returned promise.
//
// zeromq.js resolves receive() at once while messages are queued, so a backlog is read in one turn of the
// event loop: a consumer catching up after a pause applied chunks for 100 ms straight in a profile, and the
// completions of its commits (an fsync on the thread pool), hence its acks and alerts, waited for all of it.
// After YIELD_MS of reading the loop lets the event loop turn once (setImmediate: after pending I/O), so
// commits, acks, alerts and timers interleave with a backlog.

/** how long the loop reads before it lets the event loop turn */
export const YIELD_MS = 5;

export interface Receivable {
  receive(): Promise<Buffer[]>;
}

export type MessageHandler = (msg: Buffer[]) => void | Promise<void>;

export async function receiveLoop(
  socket: Receivable,
  stopping: () => boolean,
  onMessage: MessageHandler,
  onError?: (err: unknown) => Promise<void>,
): Promise<void> {
  let since = performance.now();
  for (;;) {
    let msg: Buffer[];
    try {
      msg = await socket.receive();
    } catch (err) {
      if (stopping()) return;
      if (!onError) throw err;
      await onError(err);
      continue;
    }
    const pending = onMessage(msg);
    if (pending) await pending;
    const now = performance.now();
    if (now - since >= YIELD_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      since = performance.now();
    }
  }
}
