import { join } from 'node:path';
import type { Command } from 'commander';
import { Monitor } from '../monitor/monitor.js';
import { FileReceiver } from '../monitor/receivers/file.js';
import type { Receiver } from '../monitor/receivers/receiver.js';
import { StdoutReceiver } from '../monitor/receivers/stdout.js';
import { addLogOptions, DEFAULT_BASE_PORT, intOption, runUntilSignal, serviceLogger, tcp, type LogFlags } from './common.js';

export function register(program: Command): void {
  addLogOptions(
    program
      .command('monitor')
      .description('accepts alerts from consumers, drops duplicates, delivers to receivers')
      .requiredOption('--data <dir>', 'state directory')
      .option('--port <port>', 'port consumers connect to', String(DEFAULT_BASE_PORT + 2))
      .option('--host <addr>', 'address to bind', '127.0.0.1')
      .option('--alerts <file>', 'alerts as JSON lines (default DIR/alerts.jsonl)')
      .option('--quiet', 'do not print alerts on stdout'),
  ).action(async (flags: LogFlags & { data: string; port: string; host: string; alerts?: string; quiet?: boolean }) => {
    const log = serviceLogger('monitor', flags);
    const receivers: Receiver[] = [new FileReceiver(flags.alerts ?? join(flags.data, 'alerts.jsonl'))];
    if (!flags.quiet) receivers.push(new StdoutReceiver());
    const monitor = new Monitor({ bind: tcp(flags.host, intOption(flags.port, '--port')), dataDir: join(flags.data, 'state'), receivers, log: log.logger });
    await monitor.start();
    runUntilSignal(async () => {
      await monitor.stop();
      await log.close();
    });
  });
}
