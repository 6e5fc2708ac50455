import type { Alert, QueryRecord } from '../model/record.js';
import { applyRecord, DEFAULT_RULES, indexOpenQueries, newSourceState, ThresholdResolver, type ClockEvents, type RulesConfig, type SourceState } from './rules.js';
import type { ClockStep } from './source-clock.js';

export interface BatchResult {
  applied: number;
  duplicates: number;
  /** records about queries that had already ended */
  late: number;
  /** highest seq applied for the stream after this batch */
  last: number;
  /** set when the batch starts past the next expected seq: nothing was applied, the sender must go back */
  gapExpected?: number;
  /** records refused as clock steps while the batch was applied (see source-clock.ts) */
  clockSteps?: ClockStep[];
  /** confirmed jumps of the source's time further than the clock step limit (gaps in the log) */
  timeJumps?: number;
}

/**
 * The rules over many sources, with per-stream duplicate suppression: a record at or below its stream's
 * high-water mark has already had its effect and is counted, not applied. Used by the consumer and by
 * `slowq evaluate` alike.
 */
export class RulesEngine {
  readonly sources = new Map<string, SourceState>();
  private resolver: ThresholdResolver;

  constructor(private config: RulesConfig = DEFAULT_RULES) {
    this.resolver = new ThresholdResolver(config);
  }

  get rules(): RulesConfig {
    return this.config;
  }

  /**
   * New thresholds (a configuration reload) for the records applied from now on. What was applied stays as it
   * was; open queries get their stall deadlines from the new thresholds, as a start with them would give them
   * (indexLoaded). The clock-step settings are part of each source's state: they stay until a restart.
   */
  setRules(config: RulesConfig): void {
    this.config = { ...config, clock: this.config.clock };
    this.resolver = new ThresholdResolver(this.config);
    for (const name of this.sources.keys()) {
      this.indexLoaded(name);
      this.source(name).classes.indexLoaded();
    }
  }

  source(name: string): SourceState {
    let s = this.sources.get(name);
    if (!s) {
      s = newSourceState(this.config.clock);
      this.sources.set(name, s);
    }
    return s;
  }

  /** After open queries were loaded into a source from a snapshot: index them by when they stall. */
  indexLoaded(name: string): void {
    indexOpenQueries(this.source(name), name, this.resolver);
  }

  /** Records must be consecutive seqs of one stream of one source, in order. */
  applyBatch(source: string, stream: string, records: readonly QueryRecord[], alerts: Alert[]): BatchResult {
    const state = this.source(source);
    const hwm = state.streams.get(stream) ?? 0;
    const result: BatchResult = { applied: 0, duplicates: 0, late: 0, last: hwm };
    if (records.length === 0) return result;
    if (records[0]!.seq > hwm + 1) {
      result.gapExpected = hwm + 1;
      return result;
    }
    let last = hwm;
    const clock: ClockEvents = { outcomes: [] };
    for (const rec of records) {
      if (rec.seq <= last) {
        result.duplicates++;
        continue;
      }
      last = rec.seq;
      if (applyRecord(state, rec, this.resolver, alerts, clock) === 'late') result.late++;
      else result.applied++;
    }
    for (const o of clock.outcomes) {
      if (o.kind === 'step') (result.clockSteps ??= []).push(o.step);
      else result.timeJumps = (result.timeJumps ?? 0) + 1;
    }
    state.streams.set(stream, last);
    result.last = last;
    return result;
  }
}
