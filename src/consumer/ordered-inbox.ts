import type { ChunkMark } from '../rules/rules.js';
import { YIELD_MS } from '../transport/receive-loop.js';
import type { ChunkRequest } from './chunk-intake.js';
import { streamKey, type AheadTicket, type ParseAhead } from './parse-ahead.js';

// The consumer's requests, done one by one in the order they came, while raw chunks among them are parsed
// ahead in parse threads (parse-ahead.ts). A request is done at once when nothing waits before it; otherwise
// it waits its turn, and the turn of a chunk being parsed ahead comes when its parse is settled. After a
// stream's chunk is done, the next chunks of that stream that have no parse in progress (their chain broke:
// the guess failed, a thread died) are offered again, from where the stream stands now, so one failed guess
// costs one chunk parsed on the main thread and not every chunk queued behind it. Like the receive loop, a drain
// lets the event loop turn after YIELD_MS (the rest goes on at setImmediate), so that commits, acks and alerts
// interleave with a backlog of chunks parsed ahead.

export interface InboxOptions<T> {
  /** the stream's mark now (undefined: no bytes of it applied) */
  markOf(src: string, stream: string): ChunkMark | undefined;
  /** does a request; `ticket`: its chunk's parse done ahead, if any */
  run(request: T, ticket?: AheadTicket): void;
}

interface Item<T> {
  request: T;
  chunk?: ChunkRequest;
  key?: string;
  ticket?: AheadTicket;
}

export class OrderedInbox<T> {
  private readonly items: Array<Item<T>> = [];
  /** chunks per stream waiting here */
  private readonly chunksOf = new Map<string, number>();
  /** a drain is scheduled for the next turn of the event loop */
  private resumeScheduled = false;

  constructor(
    private readonly ahead: ParseAhead,
    private readonly opts: InboxOptions<T>,
  ) {}

  get size(): number {
    return this.items.length;
  }

  /** A request came; `chunk`: the raw chunk it carries, if it is one (to parse ahead). */
  push(request: T, chunk?: ChunkRequest): void {
    if (!chunk) {
      if (this.items.length === 0) this.opts.run(request);
      else this.items.push({ request });
      return;
    }
    const key = streamKey(chunk);
    const ticket = this.ahead.offer(chunk, this.opts.markOf(chunk.src, chunk.stream), this.chunksOf.get(key) ?? 0);
    if (!ticket && this.items.length === 0) return this.opts.run(request);
    this.items.push({ request, chunk, key, ...(ticket && { ticket }) });
    this.chunksOf.set(key, (this.chunksOf.get(key) ?? 0) + 1);
    this.drain();
  }

  /** Does the requests at the head, up to the first whose chunk is still being parsed ahead. */
  drain(): void {
    const start = performance.now();
    while (this.items.length > 0) {
      const head = this.items[0]!;
      if (head.ticket && !head.ticket.settled) return;
      if (performance.now() - start >= YIELD_MS) return this.resumeLater();
      this.items.shift();
      this.opts.run(head.request, head.ticket);
      if (head.ticket) this.ahead.done(head.ticket);
      if (head.key !== undefined) {
        const n = (this.chunksOf.get(head.key) ?? 1) - 1;
        if (n > 0) this.chunksOf.set(head.key, n);
        else this.chunksOf.delete(head.key);
        if (n > 0) this.offerAgain(head.key);
      }
    }
  }

  private resumeLater(): void {
    if (this.resumeScheduled) return;
    this.resumeScheduled = true;
    setImmediate(() => {
      this.resumeScheduled = false;
      this.drain();
    });
  }

  /** Forgets what waits (stopping: not acked, the clients send it again). */
  clear(): void {
    this.items.length = 0;
    this.chunksOf.clear();
  }

  /**
   * The stream's next chunks here have no parse in progress (none was started, or their chain broke): offer them
   * again, from where the stream stands, up to the first one whose parse goes on.
   */
  private offerAgain(key: string): void {
    let before = 0;
    for (const item of this.items) {
      if (item.key !== key || !item.chunk) continue;
      if (item.ticket && !item.ticket.doomed) return;
      const ticket = this.ahead.offer(item.chunk, this.opts.markOf(item.chunk.src, item.chunk.stream), before++);
      if (ticket) item.ticket = ticket;
      else delete item.ticket;
    }
  }
}
