// `slowq probe`: watch a live PostgreSQL or MariaDB/MySQL server for statements running longer than
// --min-duration and append native JSON lines (running …, then one finished) to --out for `slowq client` to tail.

import path from 'node:path';
import type { Command } from 'commander';
import { LineAppender } from '../client/probe/appender.js';
import type { ActivitySource } from '../client/probe/activity.js';
import { RESERVED_FIELDS } from '../client/probe/record-line.js';
import { MysqlActivitySource } from '../client/probe/mysql.js';
import { PostgresActivitySource } from '../client/probe/postgres.js';
import { ActivityProbe } from '../client/probe/probe.js';
import { BaselineFile } from '../client/probe/baseline-file.js';
import { intOption, holdStopSignals, runUntilSignal } from './common.js';
import { addLoggingOptions, loggerFromOptions, type LoggingOptions } from './logserver.js';

interface ProbeCommandOptions extends LoggingOptions {
  postgres?: string;
  mysql?: string;
  out: string;
  interval: string;
  minDuration: string;
  idResolution: string;
  sourceLabel: string[];
  fsync?: boolean;
  statements: string;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `NAME` → {source_label: NAME}; `KEY=VALUE` → {KEY: VALUE}. */
export function parseLabels(specs: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const key = eq > 0 ? spec.slice(0, eq) : 'source_label';
    const value = eq > 0 ? spec.slice(eq + 1) : spec;
    if (RESERVED_FIELDS.has(key)) throw new Error(`--source-label: "${key}" is a record field, pick another name`);
    labels[key] = value;
  }
  return labels;
}

export function register(program: Command): void {
  const cmd = program
    .command('probe')
    .description('poll a live database for long-running statements; append running/finished JSON lines to a file')
    .option('--postgres <url>', 'PostgreSQL URL, e.g. postgres://slowq@127.0.0.1:5432/postgres (reads pg_stat_activity)')
    .option('--mysql <url>', 'MariaDB/MySQL URL, e.g. mysql://slowq:secret@127.0.0.1:3306/ (reads the processlist)')
    .requiredOption('--out <file>', 'append native JSON lines here (format jsonl)')
    .option('--interval <ms>', 'time between polls', '1000')
    .option('--min-duration <ms>', 'report statements running at least this long', '1000')
    .option('--id-resolution <ms>', 'start time in ids cut to a multiple of this; 1000 matches the servers\' own logs', '1000')
    .option('--source-label <label>', 'NAME (written as "source_label") or KEY=VALUE, added to every line; repeatable', collect, [])
    .option('--statements <ms>', 'also read the server\'s per-statement statistics (pg_stat_statements, performance_schema digests) this often and append per-class deltas as statement_stats lines; 0 = never', '60000')
    .option('--fsync', 'fdatasync the file after each poll');
  addLoggingOptions(cmd).action(async (options: ProbeCommandOptions) => {
    holdStopSignals();
    if ((options.postgres === undefined) === (options.mysql === undefined)) throw new Error('give exactly one of --postgres URL or --mysql URL');
    const intervalMs = intOption(options.interval, '--interval');
    if (intervalMs < 10) throw new Error('--interval must be at least 10 ms');
    const minDurationMs = intOption(options.minDuration, '--min-duration');
    const idResolutionMs = intOption(options.idResolution, '--id-resolution');
    if (idResolutionMs < 1) throw new Error('--id-resolution must be at least 1 ms');
    const labels = parseLabels(options.sourceLabel);
    const statementsIntervalMs = intOption(options.statements, '--statements');

    const source: ActivitySource = options.postgres !== undefined ? new PostgresActivitySource(options.postgres) : new MysqlActivitySource(options.mysql!);
    const appender = new LineAppender(path.resolve(options.out), options.fsync === true);
    await appender.open();
    const service = loggerFromOptions('probe', options);
    const log = service.logger;
    const probe = new ActivityProbe(source, appender, {
      intervalMs,
      minDurationMs,
      idResolutionMs,
      labels,
      statementsIntervalMs,
      statementsBaseline: new BaselineFile(`${appender.path}.statements.json`, (m) => log.warn(m), options.fsync === true),
      log: { info: (m) => log.info(m), warn: (m) => log.warn(m), error: (m) => log.error(m) },
    });
    log.info(`probing ${source.description} every ${intervalMs} ms for statements over ${minDurationMs} ms into ${appender.path}`);
    if (minDurationMs < idResolutionMs) {
      // A statement shorter than the resolution and the one its session runs next can then share an id; the log's
      // finished record of the first would make the consumer drop the second's records as repeats.
      log.warn(`--min-duration ${minDurationMs} is below --id-resolution ${idResolutionMs}: statements shorter than ${idResolutionMs} ms may share ids with the next statement of their session (keep --min-duration >= --id-resolution when a log of the same server is tailed too)`);
    }
    probe.start();
    runUntilSignal(async () => {
      await probe.stop();
      await appender.close();
      const s = probe.stats();
      log.info(`stopped after ${s.polls} polls: ${s.runningRecords} running and ${s.finishedRecords} finished records, ${s.statementRecords} statement_stats records from ${s.statementPolls} reads of the statistics`);
      await service.close();
    });
  });
}
