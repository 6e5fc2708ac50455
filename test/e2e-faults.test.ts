import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { generateLines } from '../src/workload/generator.js';
import { Pipeline } from '../bench/harness/pipeline.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import { expectAlertIds, oracle } from './support/cluster.js';

// The scale run with crashes: while the logs are being written, a consumer, the master, a client and the
// monitor are each killed with SIGKILL and restarted. The alerts must still equal the oracle, with no id
// written twice, and every record applied exactly once (the consumers' durable high-water marks add up
// to the number of records). The pipeline runs through the harness the chaos run uses (bench/harness/
// pipeline.ts); here the kill plan is fixed, there it is random.

const SOURCES = ['db-a', 'db-b', 'db-c'];
const PER_SOURCE = 40_000;
const CHUNK = 400;

describe('faults: SIGKILL of consumer, master, client and monitor mid-stream', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slowq-e2e-faults-'));
  let pipeline: Pipeline | undefined;
  after(async () => {
    await pipeline?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('still equals the oracle, nothing doubled or lost', async () => {
    const all = SOURCES.map((s, i) => generateLines(PER_SOURCE, { seed: 200 + i, idPrefix: `${s}-` }));
    const files = SOURCES.map((s) => join(dir, `${s}.jsonl`));
    for (let i = 0; i < SOURCES.length; i++) {
      writeFileSync(files[i]!, all[i]!.join('\n') + '\n');
    }
    const want = new Set<string>();
    for (let i = 0; i < SOURCES.length; i++) for (const a of await oracle([files[i]!], 'jsonl', SOURCES[i]!)) want.add(a.id);
    for (const f of files) writeFileSync(f, ''); // now write them again, gradually, while things break

    const p = (pipeline = Pipeline.start({
      data: join(dir, 'server'),
      base: await freeBasePort(),
      consumers: ['c0', 'c1'],
      clients: SOURCES.map((source, i) => ({ source, files: [files[i]!], format: 'jsonl', data: join(dir, `client-${source}`), args: ['--ack-timeout-ms', '1000'] })),
    }));

    // kill plan: [after this many chunks written, service]
    const plan: Array<[number, string]> = [[15, 'consumer-c0'], [30, 'master'], [45, 'client-db-b'], [60, 'monitor'], [75, 'consumer-c1'], [85, 'client-db-a']];
    const chunks = PER_SOURCE / CHUNK;
    for (let c = 0; c < chunks; c++) {
      for (let i = 0; i < SOURCES.length; i++) appendFileSync(files[i]!, all[i]!.slice(c * CHUNK, (c + 1) * CHUNK).join('\n') + '\n');
      for (const [at, name] of plan) {
        if (at !== c) continue;
        const s = p.service(name);
        await s.kill9();
        await sleep(300);
        s.start();
      }
      await sleep(40);
    }

    await expectAlertIds(p.alertsFile, want, 180_000);

    const applied = await waitFor('high-water marks', () => {
      const n = p.highWaterTotal();
      return n === SOURCES.length * PER_SOURCE ? n : undefined;
    }, 10_000);
    assert.equal(applied, SOURCES.length * PER_SOURCE);

    const stopped = await p.stop();
    assert.deepEqual(stopped.map((s) => s.service.name), [...SOURCES.map((s) => `client-${s}`), 'master', 'consumer-c0', 'consumer-c1', 'monitor', 'logserver']);
    for (const { service, exit } of stopped) assert.equal(exit.code, 0, `${service.name} exits 0; its output:\n${service.output().slice(-2000)}`);
  });
});
