import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { generateLines } from '../src/workload/generator.js';
import type { Alert } from '../src/model/record.js';
import { diffIds, duplicateIds, freeBase, idSet, kill9, oracle, readAlerts, readStats, slowq, stop, stopAll, waitFor, type Proc } from './support/cluster.js';

// The scale run with crashes: while the logs are being written, a consumer, the master, a client and the
// monitor are each killed with SIGKILL and restarted. The alerts must still equal the oracle, with no id
// written twice, and every record applied exactly once (the consumers' durable high-water marks add up
// to the number of records).

const SOURCES = ['db-a', 'db-b', 'db-c'];
const PER_SOURCE = 40_000;
const CHUNK = 400;

describe('faults: SIGKILL of consumer, master, client and monitor mid-stream', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slowq-e2e-faults-'));
  after(async () => {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('still equals the oracle, nothing doubled or lost', async () => {
    const base = await freeBase();
    const ep = (k: number) => `tcp://127.0.0.1:${base + k}`;
    const data = join(dir, 'server');
    const all = SOURCES.map((s, i) => generateLines(PER_SOURCE, { seed: 200 + i, idPrefix: `${s}-` }));
    const files = SOURCES.map((s) => join(dir, `${s}.jsonl`));
    for (let i = 0; i < SOURCES.length; i++) {
      writeFileSync(files[i]!, all[i]!.join('\n') + '\n');
    }
    const want = new Set<string>();
    for (let i = 0; i < SOURCES.length; i++) for (const a of await oracle([files[i]!], 'jsonl', SOURCES[i]!)) want.add(a.id);
    for (const f of files) writeFileSync(f, ''); // now write them again, gradually, while things break

    const log = ['--logserver', ep(3)];
    const services: Record<string, () => Proc> = {
      logserver: () => slowq('logserver', ['logserver', '--data', join(data, 'logs'), '--port', String(base + 3)]),
      monitor: () => slowq('monitor', ['monitor', '--data', join(data, 'monitor'), '--port', String(base + 2), '--alerts', join(data, 'alerts.jsonl'), '--quiet', ...log]),
      master: () => slowq('master', ['master', '--port', String(base), '--consumers', 'c0,c1', ...log]),
      c0: () => slowq('c0', ['consumer', '--name', 'c0', '--data', join(data, 'c0'), '--master', ep(1), '--monitor', ep(2), ...log]),
      c1: () => slowq('c1', ['consumer', '--name', 'c1', '--data', join(data, 'c1'), '--master', ep(1), '--monitor', ep(2), ...log]),
    };
    for (let i = 0; i < SOURCES.length; i++) {
      const s = SOURCES[i]!;
      services[s] = () => slowq(s, ['client', '--master', ep(0), '--source', s, '--format', 'jsonl', '--data', join(dir, `client-${s}`),
        '--ack-timeout-ms', '1000', ...log, files[i]!]);
    }
    const procs: Record<string, Proc> = {};
    for (const name of Object.keys(services)) procs[name] = services[name]!();

    // kill plan: [after this many chunks written, process]
    const plan: Array<[number, string]> = [[15, 'c0'], [30, 'master'], [45, 'db-b'], [60, 'monitor'], [75, 'c1'], [85, 'db-a']];
    const chunks = PER_SOURCE / CHUNK;
    for (let c = 0; c < chunks; c++) {
      for (let i = 0; i < SOURCES.length; i++) appendFileSync(files[i]!, all[i]!.slice(c * CHUNK, (c + 1) * CHUNK).join('\n') + '\n');
      for (const [at, name] of plan) {
        if (at !== c) continue;
        await kill9(procs[name]!);
        await new Promise((r) => setTimeout(r, 300));
        procs[name] = services[name]!();
      }
      await new Promise((r) => setTimeout(r, 40));
    }

    let got: Alert[] = [];
    await waitFor('all alerts', () => {
      got = readAlerts(join(data, 'alerts.jsonl'));
      return idSet(got).size >= want.size;
    }, 180_000, 250);
    await new Promise((r) => setTimeout(r, 1000));
    got = readAlerts(join(data, 'alerts.jsonl'));
    assert.deepEqual(duplicateIds(got), []);
    assert.deepEqual(diffIds(idSet(got), want), { missing: 0, extra: 0 });

    const applied = await waitFor('high-water marks', () => {
      const n = ['c0', 'c1'].map((c) => readStats<{ highWaterTotal: number }>(join(data, c, 'stats.json'))?.highWaterTotal ?? 0).reduce((x, y) => x + y, 0);
      return n === SOURCES.length * PER_SOURCE ? n : undefined;
    }, 10_000);
    assert.equal(applied, SOURCES.length * PER_SOURCE);

    for (const name of [...SOURCES, 'master', 'c0', 'c1', 'monitor', 'logserver']) assert.equal(await stop(procs[name]!), 0, `${name} exits 0; its output:\n${procs[name]!.output().slice(-2000)}`);
  });
});
