import { createConnection, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startProcess, stop, type Proc } from './processes.js';

// A TCP forwarder that makes a link slow and lossy on demand, for the network-namespace bed (netns.ts): this
// kernel has no netem and no random-drop action, so the delay and the loss are made here, between two hosts. It
// listens on one address and port and passes every connection on to a server; slowq's processes connect to it
// instead of the server. While impaired (SIGUSR1; SIGUSR2 ends it) every chunk of data waits DELAY ms each way,
// and LOSS % of the chunks are "lost": as a lost TCP segment is, each is delivered only after a retransmission
// timeout (3 × DELAY more), and everything behind it on its connection waits for it (TCP delivers in order).
// What the processes see is what they would see over such a link: late data in bursts, never missing or
// reordered bytes. A server that is down or cut off closes the connection it was for (as a refused connection).
// While replies are held (SIGHUP; SIGUSR2 ends it too) the link works one way only: what clients send reaches the
// server, but nothing comes back until the hold ends (as a route lost in one direction): acks the server sent
// are late, not lost.
//
// As a process: node forwarder.js LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS LOSS_PERCENT

/** Chunks a direction may hold before its reading pauses (bounded memory). */
const MAX_HELD = 1000;

interface Impairment {
  on: boolean;
  delayMs: number;
  loss: number;
  /** server-to-client data waits until this is false */
  holdReplies: boolean;
  /** wakes every held reply direction when the hold ends */
  released: Set<() => void>;
}

/** Passes `from`'s data on to `to`, delayed while impaired, in order; `replies` is the server-to-client direction. */
function pipe(from: Socket, to: Socket, impairment: Impairment, replies: boolean): void {
  const held: Array<{ chunk: Buffer; due: number }> = [];
  let lastDue = 0;
  let timer: NodeJS.Timeout | undefined;
  const holding = (): boolean => replies && impairment.holdReplies;
  const flush = (): void => {
    timer = undefined;
    if (holding()) return;
    const now = Date.now();
    while (held.length > 0 && held[0]!.due <= now) to.write(held.shift()!.chunk);
    if (held.length < MAX_HELD / 2) from.resume();
    if (held.length > 0) timer = setTimeout(flush, held[0]!.due - now);
  };
  from.on('data', (chunk: Buffer) => {
    if (!impairment.on && !holding() && held.length === 0) {
      to.write(chunk);
      return;
    }
    const now = Date.now();
    let due = now + (impairment.on ? impairment.delayMs : 0);
    if (impairment.on && Math.random() < impairment.loss) due += 3 * impairment.delayMs;
    due = Math.max(due, lastDue);
    lastDue = due;
    held.push({ chunk, due });
    if (held.length >= MAX_HELD) from.pause();
    if (!timer && !holding()) timer = setTimeout(flush, due - now);
  });
  const release = (): void => {
    if (!timer && held.length > 0) flush();
  };
  if (replies) impairment.released.add(release);
  const end = (): void => {
    if (timer) clearTimeout(timer);
    impairment.released.delete(release);
    to.destroy();
  };
  from.on('close', end);
  from.on('error', end);
}

function main(argv: string[]): void {
  const [listenHost, listenPort, targetHost, targetPort, delayMs, lossPercent] = argv;
  const impairment: Impairment = { on: false, delayMs: Number(delayMs), loss: Number(lossPercent) / 100, holdReplies: false, released: new Set() };
  process.on('SIGUSR1', () => (impairment.on = true));
  process.on('SIGHUP', () => (impairment.holdReplies = true));
  process.on('SIGUSR2', () => {
    impairment.on = false;
    impairment.holdReplies = false;
    for (const release of impairment.released) release();
  });
  const server = createServer({ noDelay: true }, (client) => {
    const upstream = createConnection({ host: targetHost!, port: Number(targetPort), noDelay: true });
    pipe(client, upstream, impairment, false);
    pipe(upstream, client, impairment, true);
  });
  server.listen(Number(listenPort), listenHost, () => console.log('forwarding'));
}

/** A forwarder process on a host of the bed (through its command prefix). */
export class Forwarder {
  private constructor(readonly proc: Proc, readonly endpoint: string) {}

  /** Starts one listening on listenHost:listenPort, passing connections to targetHost:targetPort; resolves once it listens. */
  static async start(name: string, prefix: readonly string[], listen: [string, number], target: [string, number], delayMs = 200, lossPercent = 5): Promise<Forwarder> {
    const script = fileURLToPath(import.meta.url);
    const command = [...prefix, process.execPath, script, listen[0], String(listen[1]), target[0], String(target[1]), String(delayMs), String(lossPercent)];
    const proc = startProcess(name, command[0]!, command.slice(1));
    await proc.waitForOutput('forwarding', 10_000);
    return new Forwarder(proc, `tcp://${listen[0]}:${listen[1]}`);
  }

  /** Delay and loss from now on. */
  impair(): void {
    this.proc.child.kill('SIGUSR1');
  }

  /** From now on nothing the server sends reaches the clients (until heal()); what they send still gets through. */
  holdReplies(): void {
    this.proc.child.kill('SIGHUP');
  }

  /** A clean link again (what is held still goes out, in order). */
  heal(): void {
    this.proc.child.kill('SIGUSR2');
  }

  async stop(): Promise<void> {
    await stop(this.proc, 2000);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
