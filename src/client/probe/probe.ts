// The probe process: poll an ActivitySource every interval, diff against what was tracked, append the records.
// A lost connection is retried with exponential backoff (said once in the log, and once when it is back); the
// first snapshot after reconnecting finishes whatever vanished meanwhile. stop() ends the loop between polls.

import type { ActivitySource } from './activity.js';
import { diffActivity, watchedSessions, type ProbeRecord, type TrackedStatement } from './diff.js';
import { statsJsonLine, toJsonLine } from './record-line.js';
import { diffStatementStats, type StatementBaseline } from './statement-stats.js';

export interface ProbeLogger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface LineSink {
  /** Makes the lines durable; what it resolves with is the sink's own (the appender's file size), unused here. */
  append(lines: readonly string[]): Promise<unknown>;
}

export interface ProbeOptions {
  /** time between polls (start to start) */
  intervalMs: number;
  /** statements running at least this long are reported */
  minDurationMs: number;
  /** ids carry the start cut to a multiple of this; 1000 matches the servers' own logs (default) */
  idResolutionMs?: number;
  /** extra fields written on every line (they become labels) */
  labels?: Record<string, string>;
  log?: ProbeLogger;
  /** first retry delay after a failure (default 500 ms), doubled per failure up to maxBackoffMs (default 30 s) */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Also read the server's per-statement statistics this often (ms; 0 or absent: never) and append each class's
   * delta as a `statement_stats` line (statement-stats.ts).
   */
  statementsIntervalMs?: number;
  /** where the statistics' last counters are kept across restarts, so no interval is lost or counted twice */
  statementsBaseline?: BaselineStore;
  /** called after each successful poll with what it produced (tests, metrics) */
  onPoll?: (records: readonly ProbeRecord[]) => void;
}

/** Keeps the statistics' last poll (a small JSON file next to the output: see cli/probe.ts). */
export interface BaselineStore {
  load(): Promise<StatementBaseline | undefined>;
  save(b: StatementBaseline): Promise<void>;
}

export interface ProbeStats {
  polls: number;
  runningRecords: number;
  finishedRecords: number;
  /** connections lost or refused */
  connectionFailures: number;
  /** lines waiting for the output to accept them again */
  pendingLines: number;
  /** lines dropped because the output kept failing */
  droppedLines: number;
  /** statements tracked right now */
  tracked: number;
  /** reads of the server's statement statistics, and the statement_stats records they gave */
  statementPolls: number;
  statementRecords: number;
  /** classes that left the server's statistics between two reads (evicted or reset) */
  statementClassesVanished: number;
}

/** Lines held while the output file cannot be written; beyond this the oldest are dropped (and counted). */
const MAX_PENDING_LINES = 100_000;

const stderrLogger: ProbeLogger = {
  info: (m) => process.stderr.write(`slowq probe: ${m}\n`),
  warn: (m) => process.stderr.write(`slowq probe: ${m}\n`),
  error: (m) => process.stderr.write(`slowq probe: ${m}\n`),
};

export class ActivityProbe {
  private tracking: Map<string, TrackedStatement> = new Map();
  private loop: Promise<void> | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private connected = false;
  private pending: string[] = [];
  private outputFailing = false;
  private readonly log: ProbeLogger;
  private readonly counters = {
    polls: 0, runningRecords: 0, finishedRecords: 0, connectionFailures: 0, droppedLines: 0,
    statementPolls: 0, statementRecords: 0, statementClassesVanished: 0,
  };
  private baseline: StatementBaseline | undefined;
  private baselineLoaded = false;
  private lastStatementsAt = -Infinity;
  /** why the statistics cannot be read, as last said (said once per new reason, and once when they can) */
  private statsUnavailable: string | undefined;

  constructor(
    private readonly source: ActivitySource,
    private readonly sink: LineSink,
    private readonly opts: ProbeOptions,
  ) {
    if (!(opts.intervalMs > 0)) throw new Error(`interval must be > 0 ms, got ${opts.intervalMs}`);
    if (!(opts.minDurationMs >= 0)) throw new Error(`min-duration must be >= 0 ms, got ${opts.minDurationMs}`);
    this.log = opts.log ?? stderrLogger;
  }

  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
    this.loop = undefined;
    await this.source.close();
    this.connected = false;
  }

  stats(): ProbeStats {
    return { ...this.counters, pendingLines: this.pending.length, tracked: this.tracking.size };
  }

  private async run(): Promise<void> {
    let failures = 0;
    let down = false;
    while (!this.stopping) {
      const began = Date.now();
      if (!this.connected) {
        try {
          await this.source.connect();
          this.connected = true;
          if (down) this.log.info(`reconnected to ${this.source.description}`);
          down = false;
          failures = 0;
        } catch (err) {
          failures++;
          this.counters.connectionFailures++;
          if (!down) {
            this.log.warn(`cannot connect to ${this.source.description}: ${message(err)}; retrying with backoff`);
            down = true;
          }
          await this.pause(this.backoff(failures));
          continue;
        }
      }
      try {
        await this.poll();
      } catch (err) {
        // The query failed: treat the connection as lost; the next round reconnects.
        failures++;
        this.counters.connectionFailures++;
        this.connected = false;
        await this.source.close();
        if (!down) {
          this.log.warn(`lost connection to ${this.source.description}: ${message(err)}; reconnecting with backoff`);
          down = true;
        }
        await this.pause(this.backoff(failures));
        continue;
      }
      await this.pause(began + this.opts.intervalMs - Date.now());
    }
  }

  private async poll(): Promise<void> {
    const snap = await this.source.snapshot(watchedSessions(this.tracking));
    const { records, tracking } = diffActivity(this.tracking, snap, {
      minDurationMs: this.opts.minDurationMs,
      idResolutionMs: this.opts.idResolutionMs ?? 1000,
    });
    this.tracking = tracking;
    this.counters.polls++;
    for (const r of records) {
      if (r.state === 'running') this.counters.runningRecords++;
      else this.counters.finishedRecords++;
      this.pending.push(toJsonLine(r, this.opts.labels));
    }
    if (this.pending.length > MAX_PENDING_LINES) {
      const drop = this.pending.length - MAX_PENDING_LINES;
      this.pending.splice(0, drop);
      this.counters.droppedLines += drop;
    }
    await this.pollStatements();
    await this.flush();
    if (this.pending.length === 0 && this.baselineDirty) {
      // Only once its lines are written: a crash before this repeats the interval from the old baseline with the
      // same ids, never skips it.
      await this.opts.statementsBaseline?.save(this.baseline!);
      this.baselineDirty = false;
    }
    this.opts.onPoll?.(records);
  }

  private baselineDirty = false;

  private async pollStatements(): Promise<void> {
    const every = this.opts.statementsIntervalMs ?? 0;
    if (!(every > 0) || Date.now() - this.lastStatementsAt < every) return;
    if (this.pending.length > 0 && this.baselineDirty) return; // the last interval's lines are not written yet
    this.lastStatementsAt = Date.now();
    if (!this.baselineLoaded) {
      this.baseline = await this.opts.statementsBaseline?.load();
      this.baselineLoaded = true;
    }
    const snap = await this.source.statementStats();
    if ('unavailable' in snap) {
      if (snap.unavailable !== this.statsUnavailable) this.log.warn(`statement statistics unavailable on ${this.source.description}: ${snap.unavailable}`);
      this.statsUnavailable = snap.unavailable;
      return;
    }
    if (this.statsUnavailable !== undefined) this.log.info(`statement statistics readable on ${this.source.description}`);
    this.statsUnavailable = undefined;
    const { deltas, baseline, vanished } = diffStatementStats(this.baseline, snap);
    this.baseline = baseline;
    this.baselineDirty = true;
    this.counters.statementPolls++;
    this.counters.statementRecords += deltas.length;
    this.counters.statementClassesVanished += vanished;
    for (const d of deltas) this.pending.push(statsJsonLine(d, this.opts.labels));
  }

  /** Write what is pending; on failure keep it for the next poll (the database side is not at fault). */
  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    try {
      await this.sink.append(this.pending);
      this.pending = [];
      if (this.outputFailing) this.log.info('output writable again');
      this.outputFailing = false;
    } catch (err) {
      if (!this.outputFailing) this.log.error(`cannot write records: ${message(err)}; keeping them and retrying each poll`);
      this.outputFailing = true;
    }
  }

  private backoff(failures: number): number {
    const first = this.opts.initialBackoffMs ?? 500;
    const max = this.opts.maxBackoffMs ?? 30_000;
    return Math.min(max, first * 2 ** Math.min(failures - 1, 20));
  }

  private pause(ms: number): Promise<void> {
    if (this.stopping || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        self.wake = undefined;
        resolve();
      }
      this.wake = done;
    });
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message || err.constructor.name : String(err);
}
