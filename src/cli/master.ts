import type { Command } from 'commander';
import { Master } from '../master/master.js';
import { defaultConsumerNames } from '../master/rendezvous.js';
import { addLogOptions, DEFAULT_BASE_PORT, intOption, runUntilSignal, serviceLogger, tcp, type LogFlags } from './common.js';

export function consumerNames(value: string): string[] {
  if (/^\d+$/.test(value)) return defaultConsumerNames(intOption(value, '--consumers'));
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

export function register(program: Command): void {
  addLogOptions(
    program
      .command('master')
      .description('the router: clients connect on BASE, consumers on BASE+1')
      .option('--port <base>', 'base port', String(DEFAULT_BASE_PORT))
      .option('--host <addr>', 'address to bind', '127.0.0.1')
      .option('--consumers <n|names>', 'consumer count (names c0..cN-1) or a comma-separated list of names', '2')
      .option('--monitor <endpoint>', 'where to report counters (the monitor; "none" to not report)', tcp('127.0.0.1', DEFAULT_BASE_PORT + 2)),
  ).action(async (flags: LogFlags & { port: string; host: string; consumers: string; monitor: string }) => {
    const base = intOption(flags.port, '--port');
    const log = serviceLogger('master', flags);
    const master = new Master({
      clientBind: tcp(flags.host, base),
      consumerBind: tcp(flags.host, base + 1),
      consumers: consumerNames(flags.consumers),
      log: log.logger,
      ...(flags.monitor !== 'none' && { monitor: flags.monitor }),
      extraCounters: () => ({ logDropped: log.stats().dropped }),
    });
    await master.start();
    runUntilSignal(async () => {
      await master.stop();
      await log.close();
    });
  });
}
