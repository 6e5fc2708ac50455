import { Digest, METRICS, isTimeMetric, topValues, type MetricName, type QueryClass } from './digest.js';
import type { MetricStats } from './metric.js';

// `slowq digest` without --json: a readable report in the spirit of pt-query-digest's.
//  1. an overall line (events, classes, total time, time range);
//  2. the profile: the top classes by total query time — rank, query id (last 16 hex digits, as
//     pt-query-digest prints it), total time and share, calls, time per call, fingerprint;
//  3. per class: count, and total/min/max/avg/95%/median of query time, lock time, rows sent, rows examined,
//     the most common databases/users/hosts, and the slowest statement as an example.

export interface ReportOptions {
  /** classes in the profile and the details (0 = all) */
  limit: number;
  /** what was read, for the heading */
  source: string;
}

const LABELS: Record<MetricName, string> = {
  Query_time: 'Exec time',
  Lock_time: 'Lock time',
  Rows_sent: 'Rows sent',
  Rows_examined: 'Rows examine',
};

export function textReport(digest: Digest, opts: ReportOptions): string {
  const classes = digest.classes();
  const shown = opts.limit > 0 ? classes.slice(0, opts.limit) : classes;
  const total = digest.global.Query_time.sum;
  const lines: string[] = [];
  lines.push(`# ${opts.source}`);
  lines.push(
    `# ${digest.queryCount} queries, ${digest.uniqueCount} unique, ${seconds(total)} total` +
      (digest.tsMin > 0 ? `, ${utc(digest.tsMin)} to ${utc(digest.tsMax)} UTC` : ''),
  );
  if (digest.queryCount === 0) return lines.join('\n') + '\n';
  lines.push('');
  lines.push(...metricTable(digest.global, '# Overall'));
  lines.push('');
  lines.push('# Profile');
  const rows = shown.map((c, i) => [
    String(i + 1),
    shortId(c.fingerprintId),
    seconds(c.metrics.Query_time.sum),
    share(c.metrics.Query_time.sum, total),
    String(c.count),
    seconds(c.metrics.Query_time.sum / c.count),
    oneLine(c.fingerprint, 60),
  ]);
  lines.push(...table(['Rank', 'Query ID', 'Response time', '%', 'Calls', 'R/Call', 'Fingerprint'], rows, [true, false, true, true, true, true, false]));
  if (shown.length < classes.length) {
    const rest = classes.slice(shown.length);
    const restTime = rest.reduce((s, c) => s + c.metrics.Query_time.sum, 0);
    const restCalls = rest.reduce((s, c) => s + c.count, 0);
    lines.push(`# MISC: ${rest.length} more classes, ${restCalls} calls, ${seconds(restTime)} (${share(restTime, total)})`);
  }
  shown.forEach((c, i) => {
    lines.push('');
    lines.push(...classDetails(c, i + 1, digest));
  });
  return lines.join('\n') + '\n';
}

function classDetails(c: QueryClass, rank: number, digest: Digest): string[] {
  const lines: string[] = [];
  const total = digest.global.Query_time.sum;
  lines.push(`# Query ${rank}: ${c.fingerprintId}, ${c.count} calls, ${share(c.metrics.Query_time.sum, total)} of total time`);
  if (c.tsMin > 0) lines.push(`# Time range: ${utc(c.tsMin)} to ${utc(c.tsMax)} UTC`);
  lines.push(...metricTable(c.metrics, '# Class'));
  for (const [label, map] of [['Databases', c.dbs], ['Users', c.users], ['Hosts', c.hosts]] as const) {
    if (map.size === 0) continue;
    lines.push(`# ${label}: ${topValues(map, 5).map(([k, n]) => `${k} (${n})`).join(', ')}${map.size > 5 ? ', …' : ''}`);
  }
  lines.push(`# Fingerprint: ${oneLine(c.fingerprint, 2000)}`);
  lines.push(`# Example (slowest, ${seconds(c.sample.durationMs / 1000)}):`);
  const sql = c.sample.sql.length > 2000 ? c.sample.sql.slice(0, 2000) + ' …' : c.sample.sql;
  lines.push(sql.endsWith(';') ? sql : sql + ';');
  return lines;
}

function metricTable(metrics: Record<MetricName, MetricStats>, title: string): string[] {
  const rows: string[][] = [];
  for (const m of METRICS) {
    const stats = metrics[m];
    if (stats.cnt === 0) continue;
    const s = stats.summary();
    const f = isTimeMetric(m) ? seconds : count;
    rows.push([LABELS[m], String(s.cnt), f(s.sum), f(s.min), f(s.max), f(s.avg), f(s.pct95), f(s.median)]);
  }
  return table([title.replace(/^# /, ''), 'count', 'total', 'min', 'max', 'avg', '95%', 'median'], rows, [false, true, true, true, true, true, true, true]);
}

/** Columns padded to their widest cell, each line prefixed by `# ` as pt-query-digest's reports are. */
function table(header: string[], rows: string[][], right: boolean[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const last = header.length - 1;
  const fmt = (cells: string[]) =>
    '# ' +
    cells
      .map((cell, i) => (i === last && !right[i] ? cell : right[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join(' ');
  return [fmt(header), fmt(widths.map((w) => '='.repeat(w))), ...rows.map(fmt)];
}

/** A duration in seconds, with the unit pt-query-digest would choose (s, ms, us). */
export function seconds(v: number): string {
  if (v === 0) return '0';
  if (v >= 1) return v >= 100 ? `${v.toFixed(0)}s` : `${v.toFixed(2)}s`;
  if (v >= 0.001) return `${(v * 1000).toFixed(0)}ms`;
  return `${(v * 1e6).toFixed(0)}us`;
}

/** A count, with k/M/G above ten thousand. */
export function count(v: number): string {
  const n = Math.round(v);
  if (n < 10_000) return String(n);
  if (n < 10_000_000) return `${(n / 1000).toFixed(2)}k`;
  if (n < 10_000_000_000) return `${(n / 1e6).toFixed(2)}M`;
  return `${(n / 1e9).toFixed(2)}G`;
}

function share(part: number, total: number): string {
  return total > 0 ? `${((part / total) * 100).toFixed(1)}%` : '0.0%';
}

function shortId(id: string): string {
  return '0x' + id.slice(-16);
}

function oneLine(s: string, max: number): string {
  const flat = s.replace(/\s+/g, ' ');
  return flat.length > max ? flat.slice(0, max - 1) + '…' : flat;
}

function utc(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}
