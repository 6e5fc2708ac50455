// Options several commands share. The rule flags are in rule-flags.ts: only the commands that apply rules load
// the configuration file's parser with them.

export const DEFAULT_BASE_PORT = 5555;

export function intOption(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number, got "${value}"`);
  return n;
}

export { holdStopSignals, runUntilSignal } from './stop-signal.js';

// Logging options are the logserver module's: one definition for every command.
export { addLoggingOptions as addLogOptions, loggerFromOptions as serviceLogger } from './logserver.js';
export type { LoggingOptions as LogFlags } from './logserver.js';

/** tcp://HOST:PORT for a host and a port. */
export function tcp(host: string, port: number): string {
  return `tcp://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
