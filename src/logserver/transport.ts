// pino over ZeroMQ: every slowq process logs through this. A log call formats its line (pino) and hands it to a
// bounded in-memory queue synchronously; one async loop ships queued lines over a PUSH socket to the logserver.
// The socket sends with `sendTimeout: 0`, so a logserver that is down or slow costs dropped (and counted) lines,
// never a stalled caller: logging into one shared locked file is what cut the source system's throughput 100x.

import os from 'node:os';
import { pino, type Logger } from 'pino';
import type { CurveClientConfig } from '../security/curve.js';
import { LinkWatch } from '../transport/link-watch.js';
import { openSocket, type SocketOf } from '../transport/socket.js';
import { redactingFormatters } from './redact.js';

export interface LoggerOptions {
  /** the service name stamped on every line, e.g. "master", "consumer-2" */
  service: string;
  /** logserver PULL endpoint, e.g. tcp://127.0.0.1:5558. Without it, lines go to stderr only. */
  endpoint?: string;
  /** pino level name; default "info" */
  level?: string;
  /** with an endpoint, also copy lines at level >= warn to stderr (default true) */
  stderr?: boolean;
  /** lines held while the socket cannot keep up; more are dropped (default 10,000) */
  maxQueuedLines?: number;
  /** how often a "lines dropped" summary is logged, if any were (default 10 s) */
  dropReportMs?: number;
  /** CURVE for the connection to the logserver */
  curve?: CurveClientConfig;
}

export interface LoggerStats {
  /** lines handed to ZeroMQ */
  sent: number;
  /** lines lost: queue full, socket unable to send at once, or logged after close */
  dropped: number;
  /** lines waiting in the queue right now */
  queued: number;
}

export interface ServiceLogger {
  logger: Logger;
  stats(): LoggerStats;
  /** for the service's own stats: logDropped, and the outages of the connection to the logserver */
  counters(): Record<string, number>;
  /** ship what is queued (if the socket takes it at once), close the socket; idempotent */
  close(): Promise<void>;
}

const WARN_LEVEL = 40;
/** one ZeroMQ message carries several newline-terminated lines, up to about this many bytes */
const MAX_MESSAGE_BYTES = 64 * 1024;
/** messages libzmq may hold for the logserver (while it is down or slow) before send refuses */
const SEND_HIGH_WATER_MARK = 200;
/** how long close() lets libzmq keep trying to deliver what it holds */
const LINGER_MS = 200;

/**
 * The pino destination: a synchronous write that only enqueues. `needsMetadata` makes pino set `lastLevel`
 * before each write, which is how warn+ lines are picked out for stderr without parsing them.
 */
class QueueDestination {
  readonly [pino.symbols.needsMetadataGsym] = true as const;
  lastLevel = 0;
  lastTime = '';
  lastMsg = '';
  lastObj: object = {};
  lastLogger: Logger | undefined;

  queue: string[] = [];
  sent = 0;
  dropped = 0;
  closed = false;
  private scheduled = false;

  constructor(
    private readonly maxLines: number,
    private readonly copyToStderrFrom: number,
    private readonly onQueued: (() => void) | null,
  ) {}

  write(line: string): void {
    if (this.lastLevel >= this.copyToStderrFrom) writeStderr(line);
    if (this.onQueued === null) return; // stderr-only logger
    if (this.closed || this.queue.length >= this.maxLines) {
      this.dropped++;
      return;
    }
    this.queue.push(line);
    if (!this.scheduled) {
      // lines logged in the same tick travel together
      this.scheduled = true;
      setImmediate(this.fire);
    }
  }

  private readonly fire = (): void => {
    this.scheduled = false;
    this.onQueued?.();
  };
}

function writeStderr(line: string): void {
  try {
    process.stderr.write(line);
  } catch {
    // stderr gone (closed pipe): nothing better to do with a log line
  }
}

/** Build a service's logger. Never throws on a bad or unreachable endpoint at log time; see stats(). */
export function createLogger(options: LoggerOptions): ServiceLogger {
  const maxLines = options.maxQueuedLines ?? 10_000;
  // The connection's own outages are logged through this logger (made below: the watch starts before the socket
  // connects, so that it sees the first connection): on stderr at once, at the logserver when it is back.
  let link: LinkWatch | undefined;
  const watch = (s: SocketOf<'push'>) => {
    link = new LinkWatch(s.events, { peer: 'logserver', log: { warn: (obj, msg) => logger.warn(obj, msg) } });
  };
  let socket = options.endpoint ? connectPush(options.endpoint, options.curve, watch) : undefined;
  // no socket: everything goes to stderr; with one, warn+ is copied there unless asked not to
  const copyFrom = socket === undefined ? 0 : options.stderr === false ? Infinity : WARN_LEVEL;

  let sending = false;
  let closing: Promise<void> | undefined;
  let drainedWaiter: (() => void) | undefined;

  const drain = async (): Promise<void> => {
    if (sending || socket === undefined) return;
    sending = true;
    try {
      while (dest.queue.length > 0) {
        const lines = dest.queue;
        dest.queue = [];
        for (let start = 0; start < lines.length; ) {
          let end = start;
          let bytes = 0;
          while (end < lines.length && (end === start || bytes + lines[end]!.length <= MAX_MESSAGE_BYTES)) {
            bytes += lines[end]!.length;
            end++;
          }
          const count = end - start;
          const payload = count === 1 ? lines[start]! : lines.slice(start, end).join('');
          try {
            // resolves at once when libzmq queued it, rejects at once (EAGAIN) when it cannot: never waits
            await socket.send(payload);
            dest.sent += count;
          } catch {
            dest.dropped += count;
          }
          start = end;
        }
      }
    } finally {
      sending = false;
      drainedWaiter?.();
    }
  };

  const dest = new QueueDestination(maxLines, copyFrom, socket === undefined ? null : () => void drain());

  const logger = pino(
    {
      level: options.level ?? 'info',
      base: { service: options.service, pid: process.pid, hostname: os.hostname() },
      formatters: redactingFormatters,
    },
    dest,
  );

  // One summary line per period when lines were lost, never one per lost line.
  let reportedDropped = 0;
  const reportTimer = setInterval(() => {
    const lost = dest.dropped - reportedDropped;
    if (lost > 0) {
      reportedDropped = dest.dropped;
      logger.warn({ dropped: lost, droppedTotal: dest.dropped }, 'log lines dropped: logserver unreachable or too slow');
    }
  }, options.dropReportMs ?? 10_000);
  reportTimer.unref();

  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearInterval(reportTimer);
      link?.close();
      if (socket !== undefined) {
        // let the loop hand over what is queued (each send is immediate or fails), then close
        if (sending) await new Promise<void>((resolve) => (drainedWaiter = resolve));
        await drain();
        socket.close();
        socket = undefined;
      }
      dest.dropped += dest.queue.length;
      dest.queue = [];
      dest.closed = true;
    })();
    return closing;
  };

  return {
    logger,
    stats: () => ({ sent: dest.sent, dropped: dest.dropped, queued: dest.queue.length }),
    counters: () => ({ logDropped: dest.dropped, ...link?.stats() }),
    close,
  };
}

/** A PUSH socket connected to the logserver, or undefined (reported on stderr) when the endpoint is unusable. */
function connectPush(endpoint: string, curve: CurveClientConfig | undefined, watch: (socket: SocketOf<'push'>) => void): SocketOf<'push'> | undefined {
  // no handshake logging: this is the logger
  const socket = openSocket('push', { sendTimeout: 0, linger: LINGER_MS, sendHighWaterMark: SEND_HIGH_WATER_MARK }, { peer: 'logserver', curve });
  watch(socket);
  try {
    socket.connect(endpoint);
    return socket;
  } catch (err) {
    // a bad endpoint must not take the service down: it logs to stderr instead
    socket.close();
    writeStderr(`slowq: cannot connect log socket to ${endpoint} (${err instanceof Error ? err.message : String(err)}); logging to stderr\n`);
    return undefined;
  }
}
