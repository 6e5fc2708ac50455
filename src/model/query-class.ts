// A statement class (one fingerprint of one source) summed up over the last hour of its source's event time:
// what a consumer reports with its counters (stats messages) and the dashboard's class view shows.

/** Length of one trend slice and how many make the window. */
export const CLASS_SLICE_MS = 5 * 60_000;
export const CLASS_SLICES = 12;
/** the latest executions kept per class */
export const CLASS_RECENT = 5;
/** classes a consumer reports per stats message (the busiest by total time) */
export const CLASS_REPORT_LIMIT = 20;

export interface ClassExecution {
  ts: number;
  durationMs: number;
  queryId: string;
}

export interface QueryClassSummary {
  source: string;
  fingerprintId: string;
  fingerprint: string;
  /** the latest statement of the class as logged (bounded) */
  example: string;
  db?: string;
  /** the window ends here: the source's latest event time */
  until: number;
  /** executions, their total and the 95th percentile and longest duration, over the window */
  count: number;
  totalMs: number;
  p95Ms: number;
  maxMs: number;
  /** event time of the class's latest execution */
  lastTs: number;
  /** per slice, oldest first: executions, and the slice's 95th percentile (0 when none) */
  trendCount: number[];
  trendP95Ms: number[];
  /** the latest executions, newest first */
  recent: ClassExecution[];
}
