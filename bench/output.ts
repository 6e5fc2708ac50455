import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// What every bench produces, and the three ways it is shown: a readable table on stdout, JSON (for
// tooling and for comparing runs), and an SVG bar chart where a picture says more than the table.

export type Cell = string | number | null;

export interface Table {
  title: string;
  columns: string[];
  rows: Cell[][];
  /** lines printed under the table (how it was measured, caveats) */
  notes?: string[];
}

export interface Chart {
  /** file name without extension */
  name: string;
  title: string;
  unit: string;
  bars: Array<{ label: string; value: number }>;
}

export interface BenchReport {
  bench: string;
  tables: Table[];
  charts: Chart[];
  /** the measured values, keyed for machines (what --json prints besides the tables) */
  data: Record<string, unknown>;
}

/** Numbers as people read them: thousands separated, a sensible number of decimals. */
export function fmt(v: Cell, decimals?: number): string {
  if (v === null) return '—';
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return String(v);
  const d = decimals ?? (Number.isInteger(v) || Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : Math.abs(v) >= 1 ? 2 : 3);
  return v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

export function formatTable(t: Table): string {
  const cells = t.rows.map((r) => r.map((c) => fmt(c)));
  const widths = t.columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] ?? '').length)));
  const numeric = t.columns.map((_, i) => t.rows.every((r) => typeof r[i] === 'number' || r[i] === null));
  const line = (vals: string[]) =>
    '| ' + vals.map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join(' | ') + ' |';
  const out = [`### ${t.title}`, '', line(t.columns), '|' + widths.map((w, i) => (numeric[i] ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') + '|'];
  for (const r of cells) out.push(line(r));
  if (t.notes?.length) {
    out.push('');
    for (const n of t.notes) out.push(`- ${n}`);
  }
  return out.join('\n') + '\n';
}

export function formatReport(r: BenchReport): string {
  return r.tables.map(formatTable).join('\n');
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A horizontal bar chart, self-contained SVG (no fonts or scripts to fetch). */
export function renderSvg(c: Chart): string {
  // about 7.5 px per character at 13 px sans-serif: room for the longest label
  const labelW = Math.max(120, Math.ceil(7.5 * Math.max(...c.bars.map((b) => b.label.length))) + 16);
  const barW = 420;
  const rowH = 26;
  const top = 44;
  const width = labelW + barW + 140;
  const height = top + c.bars.length * rowH + 16;
  const max = Math.max(1e-9, ...c.bars.map((b) => b.value));
  const rows = c.bars.map((b, i) => {
    const y = top + i * rowH;
    const w = Math.max(1, Math.round((b.value / max) * barW));
    return `<text x="${labelW - 8}" y="${y + 17}" text-anchor="end">${esc(b.label)}</text>` +
      `<rect x="${labelW}" y="${y + 4}" width="${w}" height="${rowH - 8}" fill="#4a7bd0"/>` +
      `<text x="${labelW + w + 6}" y="${y + 17}">${esc(fmt(b.value))} ${esc(c.unit)}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13">` +
    `<rect width="100%" height="100%" fill="#fff"/>` +
    `<text x="12" y="24" font-size="15" font-weight="bold">${esc(c.title)}</text>` +
    rows.join('') + '</svg>\n';
}

/** Writes each chart of each report as DIR/<bench>-<name>.svg; returns the paths. */
export function writeCharts(dir: string, reports: BenchReport[]): string[] {
  mkdirSync(dir, { recursive: true });
  const paths: string[] = [];
  for (const r of reports) {
    for (const c of r.charts) {
      const p = join(dir, `${r.bench}-${c.name}.svg`);
      writeFileSync(p, renderSvg(c));
      paths.push(p);
    }
  }
  return paths;
}

// ---- small measuring helpers shared by the benches ----

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Runs fn `repeats` times (after one warm-up) and returns the median wall time in ms. */
export function timeMedian(fn: () => void, repeats = 5): number {
  fn();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

export const MiB = 1 << 20;

export function bytesLabel(n: number): string {
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} B`;
}
