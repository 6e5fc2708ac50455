import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { ProbeInputConfig } from './agent-config.js';
import type { ActivitySource } from './probe/activity.js';
import { LineAppender } from './probe/appender.js';
import { BaselineFile } from './probe/baseline-file.js';
import { ActivityProbe, type ProbeStats } from './probe/probe.js';
import { RotatingJournal, type JournalFiles } from './probe/rotating-journal.js';

// The probe as an agent input: it polls the server and appends what it finds to a journal in the input's data
// directory, fdatasynced after every poll, and the input's file tailer reads that journal like any jsonl log.
// So a record is durable on the host before it is sent, and sent exactly once by the same machinery as a log
// line (offsets committed after the ack): a restart loses nothing written and repeats nothing sent. What a
// restart does lose is the probe's memory of what was running: a statement still running is reported again
// (same id, so no second alert), and one that ended while the agent was down gets no `finished` record.
// The journal is rotated at its size limit (probe/rotating-journal.ts): the input reads the renamed file to its end
// like a rotated log, and it is removed only once the input holds nothing of it.

export const PROBE_JOURNAL = 'probe.jsonl';

/** The database's client library is loaded only by an agent that probes that kind of server (mysql2 and pg are big). */
export async function activitySource(cfg: ProbeInputConfig): Promise<ActivitySource> {
  if (cfg.database === 'mysql') return new (await import('./probe/mysql.js')).MysqlActivitySource(cfg.url);
  return new (await import('./probe/postgres.js')).PostgresActivitySource(cfg.url);
}

export class ProbeJournal {
  readonly path: string;
  private readonly appender: LineAppender;
  private readonly journal: RotatingJournal;
  private readonly probe: ActivityProbe;

  /** `files` says which files the input tailing the journal still holds (a rotated one is kept until it does not). */
  constructor(private readonly cfg: ProbeInputConfig, dir: string, private readonly source: ActivitySource, files: JournalFiles, private readonly log: Logger) {
    this.path = join(dir, PROBE_JOURNAL);
    this.appender = new LineAppender(this.path, true);
    this.journal = new RotatingJournal(this.appender, cfg.journalMaxBytes, files, {
      rotated: (info) => log.info(info, 'probe journal rotated'),
      deferred: (info) => log.warn(info, 'probe journal over its size limit, not rotated: the file rotated before it is still being sent'),
      failed: (info) => log.error(info, 'cannot rotate the probe journal; it keeps growing'),
    });
    this.probe = new ActivityProbe(this.source, this.journal, {
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

  stats(): ProbeStats & { journalRotations: number; journalRotationsDeferred: number } {
    return { ...this.probe.stats(), journalRotations: this.journal.rotations, journalRotationsDeferred: this.journal.deferrals };
  }
}
