import type { IncomingMessage, ServerResponse } from 'node:http';

// Server-sent events for the dashboard: one long response per browser tab. Heartbeat comments keep proxies
// and the browser from timing the stream out; on shutdown every stream is ended so the server closes cleanly.
// A tab that does not read (slow link, suspended laptop) is dropped rather than buffered without bound:
// EventSource reconnects by itself and the page reloads its state on reconnect.

export interface SseOptions {
  heartbeatMs?: number;
  maxClients?: number;
  /** bytes waiting in one stream's buffer beyond which it is closed (default 1 MiB) */
  maxBufferedBytes?: number;
}

export class SseHub {
  private readonly clients = new Set<ServerResponse>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  /** streams closed because they did not keep up */
  dropped = 0;

  constructor(private readonly opts: SseOptions = {}) {
    this.timer = setInterval(() => this.write(': heartbeat\n\n'), opts.heartbeatMs ?? 15_000);
    this.timer.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Takes over a request as an event stream. Answers 503 when there are already too many. */
  attach(req: IncomingMessage, res: ServerResponse): void {
    if (this.closed || this.clients.size >= (this.opts.maxClients ?? 100)) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '10' }).end('too many event streams\n');
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // the stream is the connection's last response: ending it at shutdown closes the socket too
      connection: 'close',
      'x-accel-buffering': 'no',
    });
    // retry: how long the browser waits before reconnecting after the stream ends
    res.write('retry: 3000\n: connected\n\n');
    req.socket.setNoDelay(true);
    req.socket.setTimeout(0);
    this.clients.add(res);
    const forget = () => this.clients.delete(res);
    res.on('close', forget);
    req.on('close', forget);
  }

  /** Sends one event to every stream. `data` is JSON-encoded on one line. */
  send(event: string, data: unknown): void {
    if (this.clients.size === 0) return;
    this.write(`event: ${event.replace(/[\r\n]/g, '')}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** Ends every stream and stops the heartbeat. */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  private write(chunk: string): void {
    const limit = this.opts.maxBufferedBytes ?? 1 << 20;
    for (const res of this.clients) {
      if (res.writableLength > limit) {
        this.dropped++;
        this.clients.delete(res);
        res.destroy();
        continue;
      }
      res.write(chunk);
    }
  }
}
