import type { Command } from 'commander';
import { withThresholdFlags } from '../rules/config.js';
import { loadConfig, type SlowqConfig } from './config-file.js';

// The threshold flags of the commands that apply the rules (consumer, evaluate, up). Apart from common.ts so that
// a client or agent does not load the configuration file's YAML parser and the rules' config at its start.

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
