import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { generateLines } from '../src/workload/generator.js';
import type { Alert } from '../src/model/record.js';
import { readAlerts, readJson } from '../bench/harness/files.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { slowq, stop } from '../bench/harness/processes.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import { diffIds, duplicateIds, idSet, oracle, processTestDir } from './support/cluster.js';

// Several clients with different sources, two consumers, 120,000 generated records: the alert ids in
// alerts.jsonl equal what the oracle gives per source, and no id is written twice.

const SOURCES = ['db-a', 'db-b', 'db-c'];
const PER_SOURCE = 40_000;

describe('several sources over two consumers', () => {
  const dir = processTestDir('slowq-e2e-scale-');

  it('alerts equal the oracle per source, no duplicates', async () => {
    const base = await freeBasePort();
    const files = SOURCES.map((s, i) => {
      const f = join(dir, `${s}.jsonl`);
      writeFileSync(f, generateLines(PER_SOURCE, { seed: 100 + i, idPrefix: `${s}-` }).join('\n') + '\n');
      return f;
    });
    const want = new Set<string>();
    for (let i = 0; i < SOURCES.length; i++) for (const a of await oracle([files[i]!], 'jsonl', SOURCES[i]!)) want.add(a.id);
    assert.ok(want.size > 5000, `a meaningful number of alerts (${want.size})`);

    const data = join(dir, 'server');
    const up = slowq('up', ['up', '--data', data, '--port', String(base), '--consumers', '2', '--quiet']);
    const t0 = Date.now();
    const clients = SOURCES.map((s, i) => slowq(`client-${s}`, ['client', '--master', `tcp://127.0.0.1:${base}`, '--source', s,
      '--format', 'jsonl', '--data', join(dir, `client-${s}`), files[i]!]));

    let got: Alert[] = [];
    await waitFor('all alerts', () => {
      got = readAlerts(join(data, 'alerts.jsonl'));
      return got.length >= want.size;
    }, 120_000, 250);
    const seconds = (Date.now() - t0) / 1000;
    await sleep(500);
    got = readAlerts(join(data, 'alerts.jsonl'));
    assert.deepEqual(duplicateIds(got), []);
    assert.deepEqual(diffIds(idSet(got), want), { missing: 0, extra: 0 });

    // every record's effect applied exactly once, across both consumers
    const applied = await waitFor('consumer stats', () => {
      const n = ['c0', 'c1'].map((c) => readJson<{ applied: number }>(join(data, 'consumers', c, 'stats.json'))?.applied ?? 0).reduce((x, y) => x + y, 0);
      return n >= SOURCES.length * PER_SOURCE ? n : undefined;
    }, 10_000);
    assert.equal(applied, SOURCES.length * PER_SOURCE);
    process.stdout.write(`# ${SOURCES.length * PER_SOURCE} records, ${want.size} alerts through the pipeline in ${seconds.toFixed(1)} s (${Math.round((SOURCES.length * PER_SOURCE) / seconds)} records/s, including start-up)\n`);

    for (const c of clients) assert.equal(await stop(c), 0);
    assert.equal(await stop(up), 0);
  });
});
