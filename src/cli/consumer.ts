import type { Command } from 'commander';
import { Consumer } from '../consumer/consumer.js';
import { addCurveOptions, clientCurve, masterEndpoints, repeatable } from './security.js';
import { addLogOptions, DEFAULT_BASE_PORT, intOption, holdStopSignals, runUntilSignal, serviceLogger, tcp, type LogFlags } from './common.js';
import { addRuleOptions, configFrom, type ThresholdFlags } from './rule-flags.js';
import { lockDataDir } from './lock-data-dir.js';
import { holdReloadSignal, onReloadSignal } from '../supervisor/reload-signal.js';

export function register(program: Command): void {
  addLogOptions(addCurveOptions(addRuleOptions(
    program
      .command('consumer')
      .description('applies the alert rules to the sources the master routes to it; durable state in DIR')
      .requiredOption('--name <name>', 'this consumer\'s name (one in the master\'s ring, or one to add: slowq cluster add-consumer)')
      .requiredOption('--data <dir>', 'state directory')
      .option('--master <endpoint>', `the master's consumer endpoint (default ${tcp('127.0.0.1', DEFAULT_BASE_PORT + 1)}); repeatable: the consumer serves every master given`, repeatable)
      .option('--monitor <endpoint>', 'the monitor\'s endpoint', tcp('127.0.0.1', DEFAULT_BASE_PORT + 2))
      .option('--no-fsync', 'do not fsync state (faster, not crash-safe: for benchmarks only)')
      .option('--compact-bytes <n>', 'journal size that triggers a snapshot (default 64 MiB)')
      .option('--parse-threads <n>', 'threads that parse raw chunks (--ship chunks) ahead while the main thread applies the ones before; 0: parse on the main thread (the default: worth it only where the consumer has a core to spare, see the README)', '0'),
  ), { server: false, connectsTo: ['master', 'monitor', 'logserver'] })).action(async (flags: LogFlags & ThresholdFlags & { name: string; data: string; master?: string[]; monitor: string; fsync: boolean; compactBytes?: string; parseThreads: string }) => {
    holdStopSignals();
    holdReloadSignal();
    const masters = masterEndpoints(flags, tcp('127.0.0.1', DEFAULT_BASE_PORT + 1));
    const monitorCurve = clientCurve(flags, 'monitor');
    const cfg = configFrom(flags);
    lockDataDir(flags.data, `consumer-${flags.name}`);
    const log = serviceLogger(`consumer-${flags.name}`, flags);
    const consumer = new Consumer({
      name: flags.name,
      masters,
      monitor: flags.monitor,
      dataDir: flags.data,
      log: log.logger,
      extraCounters: () => log.counters(),
      rules: cfg.rules,
      fsync: flags.fsync,
      parseThreads: intOption(flags.parseThreads, '--parse-threads'),
      ...(flags.compactBytes !== undefined && { compactBytes: intOption(flags.compactBytes, '--compact-bytes') }),
      ...(monitorCurve && { monitorCurve }),
    });
    await consumer.start();
    // SIGHUP (`slowq up` passes it on): the thresholds of the file again, the flags still over them.
    onReloadSignal(async () => {
      let rules;
      try {
        rules = configFrom(flags).rules;
      } catch (err) {
        consumer.rulesReloadRefused();
        log.logger.error({ err: (err as Error).message }, 'configuration reload refused; the thresholds in force stay');
        return;
      }
      try {
        const changed = await consumer.setRules(rules);
        log.logger.info({ thresholds: rules.defaults, overrides: rules.overrides.length }, changed ? 'thresholds reloaded: they apply to records applied from now on' : 'configuration reloaded: thresholds unchanged');
      } catch (err) {
        log.logger.error({ err: (err as Error).message }, 'threshold reload failed; the thresholds in force stay');
      }
    });
    runUntilSignal(async () => {
      await consumer.stop();
      await log.close();
    });
  });
}
