import { Digest, METRICS, isTimeMetric, type MetricName, type QueryClass } from './digest.js';
import type { MetricStats } from './metric.js';

// `slowq digest --json`: pt-query-digest's `--output json` layout, so tooling written for it reads ours.
// As pt-query-digest does, every number is a string: times with 6 decimals, counts as whole numbers (truncated),
// and a class's `pct` (its share of all events) is formatted like the metric it belongs to.
// Only the four attributes every format has are reported (Query_time, Lock_time, Rows_sent, Rows_examined);
// all classes are listed (pt-query-digest's `--limit 100%`).

export interface PtJsonMetric {
  sum: string;
  min: string;
  max: string;
  avg: string;
  pct_95: string;
  median: string;
  stddev: string;
  pct?: string;
}

export interface PtJsonClass {
  attribute: 'fingerprint';
  checksum: string;
  fingerprint: string;
  query_count: number;
  ts_min?: string;
  ts_max?: string;
  example: { query: string; ts?: string; Query_time: string; db?: string };
  metrics: Partial<Record<MetricName, PtJsonMetric>>;
}

export interface PtJson {
  global: {
    query_count: number;
    unique_query_count: number;
    files: Array<{ name: string; size: number | null }>;
    metrics: Partial<Record<MetricName, PtJsonMetric>>;
  };
  classes: PtJsonClass[];
}

export function toPtJson(digest: Digest, files: Array<{ name: string; size: number | null }>): PtJson {
  const global: PtJson['global'] = {
    query_count: digest.queryCount,
    unique_query_count: digest.uniqueCount,
    files,
    metrics: {},
  };
  for (const m of METRICS) {
    if (digest.global[m].cnt > 0) global.metrics[m] = metricJson(m, digest.global[m]);
  }
  const classes = digest.classes().map((c) => classJson(c, digest));
  return { global, classes };
}

function classJson(c: QueryClass, digest: Digest): PtJsonClass {
  const out: PtJsonClass = {
    attribute: 'fingerprint',
    checksum: c.fingerprintId.slice(2),
    fingerprint: c.fingerprint,
    query_count: c.count,
    example: { query: c.sample.sql.slice(0, 10_000), Query_time: perlFixed6(c.sample.durationMs / 1000) },
    metrics: {},
  };
  if (c.sample.ts > 0) out.example.ts = ptTime(c.sample.ts);
  if (c.sample.db !== undefined) out.example.db = c.sample.db;
  if (c.tsMin > 0) {
    out.ts_min = ptTime(c.tsMin);
    out.ts_max = ptTime(c.tsMax);
  }
  for (const m of METRICS) {
    const stats = c.metrics[m];
    if (stats.cnt === 0) continue;
    const json = metricJson(m, stats);
    const globalCnt = digest.global[m].cnt;
    json.pct = format(m, globalCnt ? stats.cnt / globalCnt : 0);
    out.metrics[m] = json;
  }
  return out;
}

function metricJson(m: MetricName, stats: MetricStats): PtJsonMetric {
  const s = stats.summary();
  return {
    sum: format(m, s.sum),
    min: format(m, s.min),
    max: format(m, s.max),
    avg: format(m, s.avg),
    pct_95: format(m, s.pct95),
    median: format(m, s.median),
    stddev: format(m, s.stddev),
  };
}

function format(m: MetricName, v: number): string {
  return isTimeMetric(m) ? perlFixed6(v) : perlInt(v);
}

/** Perl's sprintf('%d'): the value truncated toward zero. */
export function perlInt(v: number): string {
  return Number.isFinite(v) ? String(Math.trunc(v) || 0) : '0';
}

/**
 * Perl's sprintf('%.6f'): like toFixed(6), except that C rounds an exact binary tie (a double with exactly
 * seven decimals ending in 5, e.g. 0.0078125) to even where toFixed rounds it up.
 */
export function perlFixed6(v: number): string {
  if (!Number.isFinite(v)) return '0.000000';
  const fixed = v.toFixed(6);
  const exact = Math.abs(v).toFixed(20);
  const dot = exact.indexOf('.');
  if (exact[dot + 7] !== '5' || !/^0*$/.test(exact.slice(dot + 8))) return fixed;
  const lastKept = Number(exact[dot + 6]);
  if (lastKept % 2 === 1) return fixed; // toFixed rounded up to an even digit already
  const down = (Math.trunc(Math.abs(v) * 1e6) / 1e6).toFixed(6);
  return v < 0 ? '-' + down : down;
}

/** pt-query-digest's timestamps in JSON: `2007-12-18 11:48:27` (ours in UTC). */
function ptTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  const frac = iso.slice(20, 23);
  return iso.slice(0, 10) + ' ' + iso.slice(11, 19) + (frac === '000' ? '' : '.' + frac);
}
