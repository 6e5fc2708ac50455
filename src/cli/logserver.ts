// `slowq logserver`: the log collector alone (slowq up runs the same LogServer on BASE+3). Also the logging options
// every other service command shares: --logserver ENDPOINT and --log-level LEVEL.

import path from 'node:path';
import { Command, Option } from 'commander';
import { LogServer } from '../logserver/server.js';
import { createLogger, type ServiceLogger } from '../logserver/transport.js';
import { addCurveOptions, checkBind, clientCurve, serverCurve, type CurveFlags } from './security.js';
import { holdStopSignals, runUntilSignal } from './stop-signal.js';
import { lockDataDir } from './lock-data-dir.js';

/** default BASE 5555 + 3 (see README "Running it") */
export const DEFAULT_LOGSERVER_PORT = 5558;
export const DEFAULT_LOGSERVER_ENDPOINT = `tcp://127.0.0.1:${DEFAULT_LOGSERVER_PORT}`;

export interface LoggingOptions extends CurveFlags {
  /** logserver endpoint; falls back to $SLOWQ_LOGSERVER; without either, logs go to stderr */
  logserver?: string;
  /** pino level; falls back to $SLOWQ_LOG_LEVEL, then info */
  logLevel?: string;
}

/** Add --logserver and --log-level to a service command. */
export function addLoggingOptions(command: Command): Command {
  return command
    .option('--logserver <endpoint>', 'send logs to this logserver, e.g. tcp://127.0.0.1:5558 (default: $SLOWQ_LOGSERVER, else stderr)')
    .addOption(
      new Option('--log-level <level>', 'log level (default: $SLOWQ_LOG_LEVEL, else info)').choices([
        'fatal',
        'error',
        'warn',
        'info',
        'debug',
        'trace',
        'silent',
      ]),
    );
}

/** Loggers made by loggerFromOptions and not closed yet (a socket whose connection is watched keeps the process alive). */
const openLoggers = new Set<ServiceLogger>();

/** The logger a service command builds from its common options. Close it when the service stops. */
export function loggerFromOptions(service: string, options: LoggingOptions): ServiceLogger {
  const endpoint = options.logserver ?? process.env.SLOWQ_LOGSERVER;
  const level = options.logLevel ?? process.env.SLOWQ_LOG_LEVEL ?? 'info';
  // the logserver's public key from --logserver-key (or --server-key), this process's own from --curve-secret
  const curve = endpoint ? clientCurve(options, 'logserver') : undefined;
  const log = createLogger({ service, level, stderr: true, ...(endpoint ? { endpoint } : {}), ...(curve && { curve }) });
  openLoggers.add(log);
  return {
    ...log,
    close: () => {
      openLoggers.delete(log);
      return log.close();
    },
  };
}

/** Closes the loggers still open: a command that failed (e.g. could not bind its port) then exits. */
export async function closeLoggers(): Promise<void> {
  await Promise.all([...openLoggers].map((log) => log.close()));
  openLoggers.clear();
}

interface LogServerCommandOptions extends CurveFlags {
  data: string;
  bind?: string;
  port?: string;
  maxFileBytes?: string;
  keepFiles?: string;
  logLevel?: string;
}

function parseCount(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`${name} must be an integer >= ${min}, got "${text}"`);
  return value;
}

export function register(program: Command): void {
  addCurveOptions(program
    .command('logserver')
    .description('collect every slowq process\'s logs (ZeroMQ PULL) into rotating files, one per service')
    .requiredOption('--data <dir>', 'directory for <service>.log files')
    .option('--bind <endpoint>', 'ZeroMQ endpoint to bind, e.g. tcp://127.0.0.1:5558')
    .option('--port <port>', `bind tcp://127.0.0.1:PORT (default ${DEFAULT_LOGSERVER_PORT})`)
    .option('--max-file-bytes <n>', 'rotate a file before it passes this size (default 50 MiB)')
    .option('--keep-files <n>', 'rotated files kept per service (default 5)')
    .option('--log-level <level>', 'the logserver\'s own log level', 'info'), { server: true, connectsTo: [] })
    .action(async (options: LogServerCommandOptions) => {
      holdStopSignals();
      if (options.bind !== undefined && options.port !== undefined) throw new Error('give --bind or --port, not both');
      const port = parseCount('--port', options.port, 1);
      if (port !== undefined && port > 65535) throw new Error(`--port must be at most 65535, got ${port}`);
      const bind = options.bind ?? `tcp://127.0.0.1:${port ?? DEFAULT_LOGSERVER_PORT}`;
      const maxFileBytes = parseCount('--max-file-bytes', options.maxFileBytes, 1);
      const keepFiles = parseCount('--keep-files', options.keepFiles, 0);
      const curve = serverCurve(options);
      checkBind('logserver', bind, options, curve !== undefined);
      lockDataDir(options.data, 'logserver');

      const server = new LogServer({
        dataDir: path.resolve(options.data),
        bind,
        ...(maxFileBytes !== undefined ? { maxFileBytes } : {}),
        ...(keepFiles !== undefined ? { keepFiles } : {}),
        ...(options.logLevel !== undefined ? { level: options.logLevel } : {}),
        ...(curve && { curve }),
      });
      await server.start();
      process.stderr.write(`slowq logserver: listening on ${server.endpoint}, writing to ${path.resolve(options.data)}\n`);
      // sockets closed and files flushed on stop: the event loop empties and the process exits 0 on its own
      runUntilSignal(() => server.stop());
    });
}
