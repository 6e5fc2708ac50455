import type { Command } from 'commander';
import { withThresholdFlags } from '../rules/config.js';
import { loadConfig, type SlowqConfig } from './config-file.js';

// Options several commands share.

export const DEFAULT_BASE_PORT = 5555;

export interface ThresholdFlags {
  config?: string;
  finishedMs?: string;
  runningMs?: string;
  stalledMs?: string;
  criticalMs?: string;
}

export function addRuleOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'configuration file (YAML or JSON)')
    .option('--finished-ms <ms>', 'finished queries at or above this alert as slow_query (default 1000)')
    .option('--running-ms <ms>', 'running queries reaching this alert once as long_running (default 10000)')
    .option('--stalled-ms <ms>', 'running queries silent this long (event time) are stalled (default 300000)')
    .option('--critical-ms <ms>', 'alerts at or above this are critical (default 30000)');
}

export function configFrom(flags: ThresholdFlags): SlowqConfig {
  const cfg = loadConfig(flags.config);
  withThresholdFlags(cfg.rules, flags);
  return cfg;
}

/** The threshold flags again, as arguments for a child process. */
export function ruleArgs(flags: ThresholdFlags): string[] {
  const args: string[] = [];
  if (flags.config) args.push('--config', flags.config);
  if (flags.finishedMs) args.push('--finished-ms', flags.finishedMs);
  if (flags.runningMs) args.push('--running-ms', flags.runningMs);
  if (flags.stalledMs) args.push('--stalled-ms', flags.stalledMs);
  if (flags.criticalMs) args.push('--critical-ms', flags.criticalMs);
  return args;
}

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
