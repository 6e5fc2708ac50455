// Every service reads its sockets the same way: one pending receive() at a time (zeromq.js allows no
// more), each message handed to a synchronous handler; the loop ends quietly when the socket is closed
// on purpose, and an unexpected receive error is left to reject the returned promise.

export interface Receivable {
  receive(): Promise<Buffer[]>;
}

export async function receiveLoop(socket: Receivable, stopping: () => boolean, onMessage: (msg: Buffer[]) => void): Promise<void> {
  for (;;) {
    let msg: Buffer[];
    try {
      msg = await socket.receive();
    } catch (err) {
      if (stopping()) return;
      throw err;
    }
    onMessage(msg);
  }
}
