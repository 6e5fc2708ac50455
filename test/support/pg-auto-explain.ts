// A small PostgreSQL log with auto_explain and log_min_duration_statement both on, in the shapes the real servers
// write it (test/real-servers.test.ts reads what a real server writes): stderr with Debian's prefix, and the same
// messages as csvlog rows and jsonlog lines. test/plans.test.ts checks what its records are, test/parser-differential.test.ts
// that it gives the same records cut into chunks anywhere.

const P = '2025-12-02 10:00:0';
/** A stderr log (Debian's prefix) with auto_explain (text) and log_min_duration_statement both on. */
export const stderrBoth = [
  `${P}1.100 UTC [10] app@shop LOG:  duration: 1200.500 ms  plan:`,
  '\tQuery Text: SELECT *',
  '\t  FROM orders WHERE note = $$x$$',
  '\tSeq Scan on orders  (cost=0.00..25.88 rows=6 width=32)',
  "\t  Filter: (note = 'x'::text)",
  `${P}1.101 UTC [10] app@shop LOG:  duration: 1201.000 ms  statement: SELECT *`,
  '\t  FROM orders WHERE note = $$x$$',
  // a checkpoint of another process between the plans of one simple query of two statements
  `${P}2.000 UTC [10] app@shop LOG:  duration: 0.010 ms  plan:`,
  '\tQuery Text: SELECT 1; SELECT 2',
  '\tResult  (cost=0.00..0.01 rows=1 width=4)',
  `${P}2.000 UTC [11] LOG:  checkpoint starting: time`,
  `${P}2.001 UTC [10] app@shop LOG:  duration: 0.020 ms  plan:`,
  '\tQuery Text: SELECT 1; SELECT 2',
  '\tSort  (cost=0.00..0.01 rows=1 width=4)',
  `${P}2.002 UTC [10] app@shop LOG:  duration: 0.500 ms  statement: SELECT 1; SELECT 2`,
  // extended protocol, a SELECT: execute, its parameters, then the plan at Sync
  `${P}3.000 UTC [10] app@shop LOG:  duration: 1500.000 ms  execute <unnamed>: SELECT name FROM t WHERE id = $1`,
  `${P}3.000 UTC [10] app@shop DETAIL:  parameters: $1 = '1'`,
  `${P}3.001 UTC [10] app@shop LOG:  duration: 1499.000 ms  plan:`,
  '\tQuery Text: SELECT name FROM t WHERE id = $1',
  '\tIndex Scan using t_pkey on t  (cost=0.15..8.17 rows=1 width=32)',
  '\t  Index Cond: (id = 1)',
  // only auto_explain logged this one (under log_min_duration_statement)
  `${P}4.000 UTC [12] app@shop LOG:  duration: 800.000 ms  plan:`,
  '\tQuery Text: UPDATE t SET name = $1',
  '\tUpdate on t  (cost=0.00..1.00 rows=0 width=0)',
  '\t  ->  Seq Scan on t  (cost=0.00..1.00 rows=100 width=38)',
  // two backends interleaved: another backend's event between a plan and its duration entry
  `${P}5.000 UTC [13] app@shop LOG:  duration: 1100.000 ms  plan:`,
  '\tQuery Text: SELECT 13',
  '\tResult  (cost=0.00..0.01 rows=1 width=4)',
  `${P}5.001 UTC [14] app@shop LOG:  duration: 1.000 ms  statement: SELECT 14`,
  `${P}5.002 UTC [13] app@shop LOG:  duration: 1100.500 ms  statement: SELECT 13`,
  '',
].join('\n');

/** The same log as csvlog rows (26 columns). */
export function csvOf(stderr: string): string {
  const rows: string[] = [];
  const lines = stderr.split('\n');
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\S+ \S+ UTC) \[(\d+)\] (?:app@shop )?(LOG|DETAIL):  (.*)$/.exec(lines[i]!);
    if (!m) continue;
    let msg = m[4]!;
    while (i + 1 < lines.length && lines[i + 1]!.startsWith('\t')) msg += '\n' + lines[++i]!.slice(1);
    if (m[3] === 'DETAIL') {
      // the DETAIL of an execute is a column of its own record
      rows[rows.length - 1] = rows[rows.length - 1]!.replace(/,,,,,,,,,"app"/, `,${q(msg)},,,,,,,,"app"`);
      continue;
    }
    const session = m[2] === '11' ? ',' : '"app","shop"';
    rows.push(`${m[1]},${session},${m[2]},,6b1.${m[2]},1,"SELECT",${m[1]},3/0,0,LOG,00000,${q(msg)},,,,,,,,,"app","client backend",,0`);
  }
  return rows.join('\n') + '\n';
}

/** The same log as jsonlog lines. */
export function jsonOf(stderr: string): string {
  return csvOf(stderr)
    .split(/\n(?=\d{4}-)/)
    .filter((r) => r.trim())
    .map((r) => {
      const f: string[] = [];
      // a minimal CSV split: quoted fields may hold commas, quotes and newlines
      let i = 0;
      while (i <= r.length) {
        if (r[i] === '"') {
          let v = '';
          i++;
          for (;;) {
            if (r[i] === '"' && r[i + 1] === '"') { v += '"'; i += 2; } else if (r[i] === '"') { i++; break; } else v += r[i++];
          }
          f.push(v);
          i++;
        } else {
          const c = r.indexOf(',', i);
          f.push(c === -1 ? r.slice(i).trimEnd() : r.slice(i, c));
          i = c === -1 ? r.length + 1 : c + 1;
        }
      }
      const o: Record<string, unknown> = { timestamp: f[0], pid: Number(f[3]), error_severity: f[11], message: f[13], backend_type: 'client backend' };
      if (f[1]) o.user = f[1];
      if (f[2]) o.dbname = f[2];
      if (f[14]) o.detail = f[14];
      return JSON.stringify(o);
    })
    .join('\n') + '\n';
}
