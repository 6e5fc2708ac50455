import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CLI } from '../bench/harness/processes.js';

// Each `slowq bench` at tiny size (--smoke): it runs, prints its tables, and --json is valid JSON with the
// bench's tables. No timing is asserted: benchmarks print numbers, tests never judge them.

function bench(args: string[], timeoutMs: number): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'bench', ...args, '--smoke', '--no-pt'], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

describe('slowq bench --smoke', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slowq-bench-smoke-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [name, title] of [
    ['serialization', 'Serialization of slowq records'],
    ['snapshot', 'Consumer durable commit per request'],
    ['parse', 'Parsers: events/s'],
    ['logging', 'Logging one line per record'],
    ['design', 'Stages alone: CPU'],
    ['spread', 'One file over the parse threads'],
    ['formats', 'Every format through the pipeline'],
    ['classes', 'Query classes in a consumer'],
    ['steady', 'The rules over 12 min of event time'],
  ] as const) {
    it(`${name}: prints its table`, () => {
      const r = bench([name, '--dir', dir], 120_000);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`### ${title}`));
      assert.match(r.stdout, /\n\|.*\|\n\|[-:|]+\|\n/, 'a markdown table');
    });
  }

  it('serialization --json: valid JSON with its tables', () => {
    const r = bench(['serialization', '--json'], 120_000);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { reports: Array<{ bench: string; tables: Array<{ rows: unknown[] }> }> };
    assert.equal(out.reports[0]!.bench, 'serialization');
    assert.ok(out.reports[0]!.tables[0]!.rows.length >= 5);
  });

  it('rescale: a scale-out and a scale-in under load, a window each, the oracle check green', () => {
    // `chaos --hosts --smoke` is not run here (~40 s on the namespace bed): e2e-network*.test.ts run its scenarios
    const r = bench(['rescale', '--dir', dir], 120_000);
    assert.equal(r.code, 0, r.stderr);
    for (const t of ['### Throughput across a scale-out and a scale-in', '### The changes', '### Afterwards: the oracle check']) {
      assert.ok(r.stdout.includes(t), `missing "${t}" in:\n${r.stdout}`);
    }
    for (const row of ['before the scale-out', 'scale-out 2 → 3', 'after the scale-out', 'scale-in 3 → 2', 'after the scale-in', 'the guarantee held']) {
      assert.ok(r.stdout.includes(row), `missing row "${row}"`);
    }
  });

  it('e2e: real processes, every table, the targets, SVG charts written', () => {
    const svg = join(dir, 'svg');
    const r = bench(['e2e', '--dir', dir, '--svg', svg], 300_000);
    assert.equal(r.code, 0, r.stderr);
    for (const t of ['### End-to-end throughput', '### Processes during', '### Latency from a line appended', '### What this machine allows', '### Targets (the throughput issue)']) {
      assert.ok(r.stdout.includes(t), `missing "${t}" in:\n${r.stdout}`);
    }
    for (const row of ['oracle: parse + rules in one process', 'raw transport', 'naive: one JSON request', 'open queries in state', '--no-fsync',
      'record path (client parses)', 'design B (--ship chunks: consumers parse)', 'warm-up (record path)', 'warm-up (design B)', 'single-process oracle (design B)']) {
      assert.ok(r.stdout.includes(row), `missing row "${row}"`);
    }
    assert.deepEqual(readdirSync(svg), ['e2e-throughput.svg']);
    // nothing left behind in the temp dir by the bench itself
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('slowq-bench-')), []);
  });
});
