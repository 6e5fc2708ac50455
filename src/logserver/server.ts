// The logserver: a PULL socket that every slowq process's logger PUSHes to, and one rotating file per service
// under the data dir. A message is one frame or several; a frame holds one or more newline-terminated JSON lines.
// A line that is not a JSON object with a string `service` is counted as malformed and kept in unknown.log
// (wrapped, so that file stays JSON lines); nothing a sender does can crash the server.

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import { pino, type Logger } from 'pino';
import type { CurveServerConfig } from '../security/curve.js';
import { ServerSecurity } from '../security/zap.js';
import { Endpoint } from '../transport/endpoint.js';
import { FileSink } from './file-sink.js';
import { redactingFormatters } from './redact.js';

export interface LogServerOptions {
  dataDir: string;
  /** ZeroMQ endpoint to bind, e.g. tcp://127.0.0.1:5558 (tcp://127.0.0.1:* picks a free port; see `endpoint`) */
  bind: string;
  /** a file is rotated before it would pass this size (default 50 MiB) */
  maxFileBytes?: number;
  /** rotated generations kept per service (default 5) */
  keepFiles?: number;
  /** the logserver's own log level (default info) */
  level?: string;
  /** copy the logserver's own warn+ lines to stderr (default true) */
  stderr?: boolean;
  /** how often problems (malformed lines, write errors) are summarised in logserver.log (default 60 s) */
  reportMs?: number;
  /** CURVE on the bound socket, admitting only the allow-list's keys */
  curve?: CurveServerConfig;
}

export interface LogServerStats {
  messages: number;
  lines: number;
  malformed: number;
  /** lines whose service would have opened a file beyond MAX_SERVICE_FILES; written to unknown.log */
  overflow: number;
  files: number;
  linesWritten: number;
  bytesWritten: number;
  rotations: number;
  linesLost: number;
  writeErrors: number;
}

export const OWN_SERVICE = 'logserver';
export const UNKNOWN_SERVICE = 'unknown';
/** a bound on open files, so a misbehaving sender inventing service names cannot exhaust descriptors */
export const MAX_SERVICE_FILES = 256;
/** stop reading from the socket while a file has this much unwritten; senders then drop (and count) instead */
const PAUSE_PENDING_BYTES = 8 * 1024 * 1024;
/** a peer sending a bigger message is disconnected by libzmq */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** how much of a malformed line is kept in unknown.log */
const MALFORMED_KEEP_CHARS = 2048;
const NEWLINE = 0x0a;
const WARN_LEVEL = 40;

/** A service name as a file name: safe characters only, no leading dot, bounded length. */
export function serviceFileName(service: string): string {
  const safe = service.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_').slice(0, 100);
  return safe.length > 0 ? safe : UNKNOWN_SERVICE;
}

export class LogServer {
  /** the logserver's own logger; its lines go straight into logserver.log */
  readonly logger: Logger;
  private readonly maxFileBytes: number;
  private readonly keepFiles: number;
  private readonly sinks = new Map<string, FileSink>();
  private pull: Endpoint<'pull'> | undefined;
  private security: ServerSecurity | undefined;
  private reportTimer: NodeJS.Timeout | undefined;
  private boundEndpoint: string | undefined;
  private counts = { messages: 0, lines: 0, malformed: 0, overflow: 0 };
  private reported = { malformed: 0, writeErrors: 0, overflow: 0 };

  constructor(private readonly opts: LogServerOptions) {
    this.maxFileBytes = opts.maxFileBytes ?? 50 * 1024 * 1024;
    this.keepFiles = opts.keepFiles ?? 5;
    const copyFrom = opts.stderr === false ? Infinity : WARN_LEVEL;
    const ownSink = this.sinkFor(OWN_SERVICE);
    const destination = {
      [pino.symbols.needsMetadataGsym]: true as const,
      lastLevel: 0,
      lastTime: '',
      lastMsg: '',
      lastObj: {},
      lastLogger: undefined as Logger | undefined,
      write(line: string): void {
        ownSink.append(Buffer.from(line));
        if (this.lastLevel >= copyFrom) process.stderr.write(line);
      },
    };
    this.logger = pino(
      {
        level: opts.level ?? 'info',
        base: { service: OWN_SERVICE, pid: process.pid, hostname: os.hostname() },
        formatters: redactingFormatters,
      },
      destination as unknown as pino.DestinationStream,
    );
  }

  /** the endpoint actually bound (the real port when `bind` used `*`); set by start() */
  get endpoint(): string {
    if (this.boundEndpoint === undefined) throw new Error('logserver not started');
    return this.boundEndpoint;
  }

  async start(): Promise<void> {
    if (this.pull !== undefined) throw new Error('logserver already started');
    await mkdir(this.opts.dataDir, { recursive: true });
    const curve = this.opts.curve;
    const security = new ServerSecurity(this.logger, curve && { keys: curve.keys, domains: { logserver: curve.allow } });
    const pull = new Endpoint('pull', {
      log: this.logger, security: { server: security, domain: 'logserver' },
      socket: { linger: 0, maxMessageSize: MAX_MESSAGE_BYTES },
    });
    this.security = security;
    try {
      await pull.bind(this.opts.bind);
    } catch (err) {
      throw new Error(`logserver cannot bind ${this.opts.bind}: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.pull = pull;
    this.boundEndpoint = pull.address ?? this.opts.bind;
    pull.receive((frames) => this.onMessage(frames), async (err) => {
      // not expected without a receive timeout; don't spin on a persistent error
      this.logger.error({ err }, 'logserver receive failed');
      await new Promise((resolve) => setTimeout(resolve, 100));
    });
    this.reportTimer = setInterval(() => this.reportProblems(), this.opts.reportMs ?? 60_000);
    this.reportTimer.unref();
    this.logger.info({ endpoint: this.boundEndpoint, dataDir: this.opts.dataDir }, 'logserver listening');
  }

  /** Close the socket, write out everything received, close the files. */
  async stop(): Promise<void> {
    if (this.reportTimer !== undefined) clearInterval(this.reportTimer);
    this.reportTimer = undefined;
    const pull = this.pull;
    this.pull = undefined;
    if (pull !== undefined) {
      await pull.close();
      this.reportProblems();
      this.logger.info({ stats: this.stats() }, 'logserver stopped');
    }
    await Promise.all([...this.sinks.values()].map((sink) => sink.close()));
  }

  stats(): LogServerStats {
    const total: LogServerStats = {
      ...this.counts,
      files: this.sinks.size,
      linesWritten: 0,
      bytesWritten: 0,
      rotations: 0,
      linesLost: 0,
      writeErrors: 0,
    };
    for (const sink of this.sinks.values()) {
      const s = sink.stats();
      total.linesWritten += s.linesWritten;
      total.bytesWritten += s.bytesWritten;
      total.rotations += s.rotations;
      total.linesLost += s.linesLost;
      total.writeErrors += s.writeErrors;
    }
    return total;
  }

  /** CURVE admission counters (empty without CURVE) */
  authStats(): Record<string, number> {
    return this.security?.stats() ?? {};
  }

  /** Resolves when every line received so far is written to its file (for tests and orderly hand-offs). */
  async flush(): Promise<void> {
    await Promise.all([...this.sinks.values()].map((sink) => sink.flush()));
  }

  /** One message: its lines to their files. Returns a promise (awaited before the next receive) while a disk is behind. */
  private onMessage(frames: Buffer[]): Promise<void> | undefined {
    this.counts.messages++;
    let busiest: FileSink | undefined;
    for (const frame of frames) {
      const sink = this.acceptFrame(frame);
      if (sink !== undefined && (busiest === undefined || sink.pendingBytes > busiest.pendingBytes)) busiest = sink;
    }
    // backpressure: while the disk is behind, leave messages in ZeroMQ (whose senders drop rather than wait)
    return busiest !== undefined && busiest.pendingBytes > PAUSE_PENDING_BYTES ? busiest.flush() : undefined;
  }

  /** Split a frame into lines and route each; returns the sink that took the last line. */
  private acceptFrame(frame: Buffer): FileSink | undefined {
    let last: FileSink | undefined;
    let start = 0;
    while (start < frame.length) {
      let end = frame.indexOf(NEWLINE, start);
      const terminated = end >= 0;
      if (!terminated) end = frame.length;
      if (end > start) {
        const line = terminated ? frame.subarray(start, end + 1) : Buffer.concat([frame.subarray(start, end), Buffer.from('\n')]);
        last = this.acceptLine(frame.toString('utf8', start, end), line);
      }
      start = end + 1;
    }
    return last;
  }

  private acceptLine(text: string, line: Buffer): FileSink {
    this.counts.lines++;
    const service = serviceOf(text);
    if (service === undefined) {
      this.counts.malformed++;
      const sink = this.sinkFor(UNKNOWN_SERVICE);
      sink.append(malformedEnvelope(text, line.length - 1));
      return sink;
    }
    const name = serviceFileName(service);
    let sink = this.sinks.get(name);
    if (sink === undefined) {
      if (this.sinks.size >= MAX_SERVICE_FILES) {
        this.counts.overflow++;
        sink = this.sinkFor(UNKNOWN_SERVICE);
      } else {
        sink = this.sinkFor(name);
      }
    }
    sink.append(line);
    return sink;
  }

  private sinkFor(name: string): FileSink {
    let sink = this.sinks.get(name);
    if (sink === undefined) {
      sink = new FileSink({
        path: path.join(this.opts.dataDir, `${name}.log`),
        maxFileBytes: this.maxFileBytes,
        keepFiles: this.keepFiles,
      });
      this.sinks.set(name, sink);
    }
    return sink;
  }

  /** One warning per period per kind of problem, with the count since the last one. */
  private reportProblems(): void {
    const stats = this.stats();
    const malformed = stats.malformed - this.reported.malformed;
    const overflow = stats.overflow - this.reported.overflow;
    const writeErrors = stats.writeErrors - this.reported.writeErrors;
    this.reported = { malformed: stats.malformed, overflow: stats.overflow, writeErrors: stats.writeErrors };
    if (malformed > 0) this.logger.warn({ malformed }, 'malformed log lines received (kept in unknown.log)');
    if (overflow > 0) this.logger.warn({ overflow, maxFiles: MAX_SERVICE_FILES }, 'too many services: lines kept in unknown.log');
    if (writeErrors > 0) {
      const lastErrors = [...this.sinks.values()].map((s) => s.stats().lastError).filter((e) => e !== undefined);
      this.logger.error({ writeErrors, linesLost: stats.linesLost, lastErrors }, 'log file writes failed');
    }
  }
}

/** The `service` of a JSON object line, or undefined when the line is not one. */
function serviceOf(text: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const service = (value as { service?: unknown }).service;
  return typeof service === 'string' ? service : undefined;
}

function malformedEnvelope(text: string, bytes: number): Buffer {
  const entry = {
    level: WARN_LEVEL,
    time: Date.now(),
    service: UNKNOWN_SERVICE,
    msg: 'malformed log line (not a JSON object with a string "service")',
    bytes,
    raw: text.length > MALFORMED_KEEP_CHARS ? text.slice(0, MALFORMED_KEEP_CHARS) : text,
  };
  return Buffer.from(JSON.stringify(entry) + '\n');
}
