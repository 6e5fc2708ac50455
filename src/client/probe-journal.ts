import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { ProbeInputConfig } from './agent-config.js';
import type { ActivitySource } from './probe/activity.js';
import { LineAppender } from './probe/appender.js';
import { BaselineFile } from './probe/baseline-file.js';
import { ActivityProbe, type ProbeStats } from './probe/probe.js';

// The probe as an agent input: it polls the server and appends what it finds to a journal in the input's data
// directory, fdatasynced after every poll, and the input's file tailer reads that journal like any jsonl log.
// So a record is durable on the host before it is sent, and sent exactly once by the same machinery as a log
// line (offsets committed after the ack): a restart loses nothing written and repeats nothing sent. What a
// restart does lose is the probe's memory of what was running: a statement still running is reported again
// (same id, so no second alert), and one that ended while the agent was down gets no `finished` record.

export const PROBE_JOURNAL = 'probe.jsonl';

/** The database's client library is loaded only by an agent that probes that kind of server (mysql2 and pg are big). */
export async function activitySource(cfg: ProbeInputConfig): Promise<ActivitySource> {
  if (cfg.database === 'mysql') return new (await import('./probe/mysql.js')).MysqlActivitySource(cfg.url);
  return new (await import('./probe/postgres.js')).PostgresActivitySource(cfg.url);
}

export class ProbeJournal {
  readonly path: string;
  private readonly appender: LineAppender;
  private readonly probe: ActivityProbe;

  constructor(private readonly cfg: ProbeInputConfig, dir: string, private readonly source: ActivitySource, private readonly log: Logger) {
    this.path = join(dir, PROBE_JOURNAL);
    this.appender = new LineAppender(this.path, true);
    this.probe = new ActivityProbe(this.source, this.appender, {
      intervalMs: cfg.intervalMs,
      minDurationMs: cfg.minDurationMs,
      idResolutionMs: cfg.idResolutionMs,
      labels: cfg.labels,
      statementsIntervalMs: cfg.statementsMs,
      statementsBaseline: new BaselineFile(`${this.path}.statements.json`, (m) => log.warn(m), true),
      log: { info: (m) => log.info(m), warn: (m) => log.warn(m), error: (m) => log.error(m) },
    });
  }

  /** Opens the journal (cutting off a line a crash left half-written) and starts polling. */
  async start(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    await this.appender.open();
    const cut = await this.appender.cutTornLine();
    if (cut > 0) this.log.warn({ journal: this.path, bytes: cut }, 'cut a half-written last line off the probe journal (the agent stopped while writing it)');
    this.probe.start();
    this.log.info({ journal: this.path, server: this.source.description, intervalMs: this.cfg.intervalMs, minDurationMs: this.cfg.minDurationMs }, 'probe started');
  }

  async stop(): Promise<void> {
    await this.probe.stop();
    await this.appender.close();
  }

  stats(): ProbeStats {
    return this.probe.stats();
  }
}
