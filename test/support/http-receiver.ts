import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// A local HTTP server in a receiver's place (webhook, Slack, Alertmanager, PagerDuty): it keeps every request it was
// sent, whole, and answers as the test scripts it (`behave`).

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export type Behave = (seen: SeenRequest, res: ServerResponse, req: IncomingMessage) => void;

export class HttpReceiver {
  readonly server: Server;
  seen: SeenRequest[] = [];
  behave: Behave;
  port = 0;

  constructor(behave: Behave = (_s, res) => res.end('ok')) {
    this.behave = behave;
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const s: SeenRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        this.seen.push(s);
        this.behave(s, res, req);
      });
    });
  }

  /** Listens on a free loopback port. */
  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
