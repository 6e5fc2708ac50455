import type { Command } from 'commander';
import { Agent } from '../client/agent.js';
import { addParserOptions, parserOptionsFrom, type ParserFlags } from './parser-options.js';
import { addCurveOptions, masterEndpoints, repeatable } from './security.js';
import { addLogOptions, DEFAULT_BASE_PORT, intOption, holdStopSignals, runUntilSignal, serviceLogger, tcp, type LogFlags } from './common.js';
import { lockDataDir } from './lock-data-dir.js';
import { keepYoungGenerationSmall } from './small-heap.js';
import { checkShippable } from '../formats/entry-chunker.js';

// `slowq client`: the agent (src/client/agent.ts) with one input given by flags, its registry, dead letters and
// stats.json directly in --data. `slowq agent --config` runs any number of inputs the same way.

export function register(program: Command): void {
  addCurveOptions(addParserOptions(addLogOptions(
    program
      .command('client')
      .description('tail slow-query logs and send their records to the master (one input; `slowq agent` runs many)')
      .option('--master <endpoint>', `the master's client endpoint (default ${tcp('127.0.0.1', DEFAULT_BASE_PORT)}); repeatable: with several masters the client sends through one and moves to another when it fails`, repeatable)
      .requiredOption('--source <name>', 'the database instance these logs are about')
      .requiredOption('--format <format>', 'jsonl, mysql-slow, postgres, postgres-csv, postgres-json')
      .requiredOption('--data <dir>', 'where the offsets registry and dead letters are kept')
      .option('--batch-size <n>', 'records per batch at most', '1000')
      .option('--linger-ms <ms>', 'send a batch that is not full after this long', '20')
      .option('--window <n>', 'unacked batches in flight before reading pauses', '16')
      .option('--ack-timeout-ms <ms>', 'resend a batch not acked within this time', '5000')
      .option('--poll-ms <ms>', 'how often open files are checked for new data', '100')
      .option('--ship <what>', 'records (parse here) or chunks (send the raw log cut where entries or lines end; the consumers parse it: every format)', 'records')
      .argument('<paths...>', 'files or globs (quote globs so the shell leaves them alone)'),
  )), { server: false, connectsTo: ['master', 'logserver'] }).action(async (paths: string[], flags: LogFlags & ParserFlags & { master?: string[]; source: string; format: string; data: string; batchSize: string; lingerMs: string; window: string; ackTimeoutMs: string; pollMs: string; ship: string }) => {
    holdStopSignals();
    keepYoungGenerationSmall();
    const masters = masterEndpoints(flags, tcp('127.0.0.1', DEFAULT_BASE_PORT));
    const parserOptions = parserOptionsFrom(flags);
    if (flags.ship !== 'records' && flags.ship !== 'chunks') throw new Error(`--ship must be records or chunks, got "${flags.ship}"`);
    if (flags.ship === 'chunks') checkShippable(flags.format, parserOptions);
    lockDataDir(flags.data, `client-${flags.source}`);
    const log = serviceLogger(`client-${flags.source}`, flags);
    const agent = new Agent({
      masters,
      dataDir: flags.data,
      flat: true,
      inputs: [{ kind: 'files', name: flags.source, source: flags.source, format: flags.format, paths, parserOptions, ...(flags.ship === 'chunks' && { ship: 'chunks' as const }) }],
      log: log.logger,
      extraCounters: () => log.counters(),
      batchSize: intOption(flags.batchSize, '--batch-size'),
      lingerMs: intOption(flags.lingerMs, '--linger-ms'),
      window: intOption(flags.window, '--window'),
      ackTimeoutMs: intOption(flags.ackTimeoutMs, '--ack-timeout-ms'),
      pollMs: intOption(flags.pollMs, '--poll-ms'),
    });
    await agent.start();
    runUntilSignal(async () => {
      await agent.stop();
      await log.close();
    });
  });
}
