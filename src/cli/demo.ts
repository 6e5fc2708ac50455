import { appendFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { Supervisor } from '../supervisor/supervisor.js';
import { WorkloadGenerator } from '../workload/generator.js';
import { DEFAULT_BASE_PORT, intOption, holdStopSignals, runUntilSignal, tcp } from './common.js';
import { startServerSide } from './up.js';

// `up` + a generator writing a realistic A/B workload to a file in real time + a client tailing it.
// Thresholds are lowered (running 5 s) so every kind of alert shows within seconds.

export function register(program: Command): void {
  program
    .command('demo')
    .description('the whole system on this host with a generated workload; prints alerts as they come')
    .option('--data <dir>', 'data directory (default: a new temporary directory)')
    .option('--port <base>', 'base port', String(DEFAULT_BASE_PORT))
    .option('--consumers <n>', 'number of consumers', '2')
    .option('--rate <n>', 'records per second written to the demo log', '8')
    .option('--seconds <n>', 'stop after this many seconds (default: until Ctrl-C)')
    .action((flags: { data?: string; port: string; consumers: string; rate: string; seconds?: string }) => {
    holdStopSignals();
      const dataDir = resolve(flags.data ?? mkdtempSync(join(tmpdir(), 'slowq-demo-')));
      const logDir = join(dataDir, 'demo');
      mkdirSync(logDir, { recursive: true });
      const logFile = join(logDir, 'workload.jsonl');
      const rate = Math.max(1, intOption(flags.rate, '--rate'));

      const { supervisor, base } = startServerSide(
        { data: dataDir, port: flags.port, consumers: flags.consumers, runningMs: '5000', stalledMs: '30000', logLevel: 'warn' },
        (line) => process.stdout.write(line + '\n'),
        'demo',
      );
      const clientSup = new Supervisor({ onStderr: (l) => process.stderr.write(l + '\n') });
      clientSup.start([{
        name: 'client',
        args: ['client', '--master', tcp('127.0.0.1', base), '--source', 'demo-db', '--format', 'jsonl', '--data', join(dataDir, 'client'),
          '--logserver', tcp('127.0.0.1', base + 3), '--log-level', 'warn', logFile],
      }]);

      const gen = new WorkloadGenerator({ seed: Date.now() % 100_000, startTs: Date.now(), meanGapMs: 1000 / rate, observeEveryMs: 1000 });
      const writer = setInterval(() => {
        let out = '';
        for (let i = 0; i < 10_000 && gen.time <= Date.now(); i++) out += JSON.stringify(gen.next()) + '\n';
        if (out) appendFileSync(logFile, out);
      }, 100);
      process.stderr.write(
        `slowq demo: data in ${dataDir}\n` +
        `slowq demo: writing ${rate} records/s to ${logFile}; alerts appear below (slow_query ≥ 1 s, long_running ≥ 5 s, resolved, stalled after 30 s silent)\n` +
        `slowq demo: dashboard on http://127.0.0.1:${base + 4}/ ; Ctrl-C to stop\n`,
      );
      const stop = async () => {
        clearInterval(writer);
        await clientSup.stop();
        await supervisor.stop();
      };
      if (flags.seconds) {
        const t = setTimeout(() => process.kill(process.pid, 'SIGTERM'), intOption(flags.seconds, '--seconds') * 1000);
        t.unref();
      }
      runUntilSignal(stop);
    });
}
