// zeromq.js allows one pending send() per socket (a second throws EBUSY), so every socket that more than
// one piece of code writes to gets exactly one of these in front of it. Messages are sent in order.

export type Frames = Array<Buffer | string>;

export interface Sendable {
  send(msg: Frames): Promise<void>;
}

export class SendQueue {
  private readonly queue: Frames[] = [];
  private running = false;
  private closed = false;
  /** messages dropped because the queue was full or the send failed */
  dropped = 0;

  /**
   * @param maxQueued beyond this many waiting messages new ones are dropped and counted (a dead peer must not grow memory)
   * @param onError called once per failed send with the error (e.g. EHOSTUNREACH from a mandatory ROUTER)
   */
  constructor(
    private readonly socket: Sendable,
    private readonly maxQueued = 100_000,
    private readonly onError: (err: unknown, msg: Frames) => void = () => {},
  ) {}

  get length(): number {
    return this.queue.length;
  }

  /** Queues a message; returns false if it was dropped. */
  push(msg: Frames): boolean {
    if (this.closed || this.queue.length >= this.maxQueued) {
      this.dropped++;
      return false;
    }
    this.queue.push(msg);
    if (!this.running) void this.drain();
    return true;
  }

  close(): void {
    this.closed = true;
    this.queue.length = 0;
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const msg = this.queue.shift()!;
        try {
          await this.socket.send(msg);
        } catch (err) {
          if (this.closed) break;
          this.dropped++;
          this.onError(err, msg);
        }
      }
    } finally {
      this.running = false;
    }
  }
}
