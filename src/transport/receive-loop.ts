// Every service reads its sockets the same way: one pending receive() at a time (zeromq.js allows no
// more), each message handed to a handler; the loop ends quietly when the socket is closed on purpose.
// A handler that returns a promise is waited for before the next receive (backpressure: what is not read
// stays in ZeroMQ). An unexpected receive error goes to `onError`, after which the loop goes on; without
// one it rejects the returned promise.

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
  }
}
