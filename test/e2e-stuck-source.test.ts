import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Pipeline } from '../bench/harness/pipeline.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { waitFor } from '../bench/harness/wait.js';
import { expectAlertIds, oracle, processTestDir, WorkloadFile } from './support/cluster.js';

// A source that cannot make progress is not a quiet one (issue "never silent"): every process is up, but the
// consumer that owns the source is not, so every batch is answered "retry". /healthz is not ok and says which
// source and why (the client's latest reason), the dashboard's data carries the same line, /metrics the wait;
// and it all clears by itself once the consumer is back, with the alerts the oracle gives.

const STUCK_AFTER_MS = 3000;

describe('a source that cannot make progress', { timeout: 180_000 }, () => {
  const dir = processTestDir('slowq-e2e-stuck-');
  let pipeline: Pipeline | undefined;
  after(async () => {
    await pipeline?.stop();
  });

  it('is on /healthz, the dashboard and /metrics, with the reason, and clears when it can go on', async () => {
    const base = await freeBasePort();
    const http = `http://127.0.0.1:${base + 4}`;
    const file = join(dir, 'db.jsonl');
    writeFileSync(file, '');
    const workload = new WorkloadFile(file, { seed: 17, idPrefix: 'stuck-' });
    workload.append(2000);
    pipeline = Pipeline.start({
      data: join(dir, 'server'), base, consumers: ['c0'],
      clients: [{ source: 'db', files: [file], format: 'jsonl', data: join(dir, 'client') }],
      monitorArgs: ['--http-port', String(base + 4), '--stuck-after-ms', String(STUCK_AFTER_MS)],
    });
    const consumer = pipeline.consumer('c0');
    await consumer.stop(); // the only consumer: every batch of the source is answered "retry"

    const get = async (path: string) => {
      const r = await fetch(`${http}${path}`).catch(() => undefined);
      return r ? { status: r.status, body: await r.text() } : undefined;
    };
    const health = await waitFor('/healthz to name the stuck source', async () => {
      const h = await get('/healthz');
      return h && h.status === 503 && /source db cannot make progress/.test(h.body) ? h : undefined;
    }, 60_000, 250);
    assert.match(health.body, /nothing acknowledged for \d+ s \(consumer c0 that owns source db is away\)/);
    const stats = JSON.parse((await get('/api/stats'))!.body) as { problems?: string[] };
    assert.ok(stats.problems?.some((p) => /source db cannot make progress/.test(p)), `the dashboard's data: ${JSON.stringify(stats.problems)}`);
    const metrics = (await get('/metrics'))!.body;
    const waited = /slowq_client_oldest_unacked_ms\{[^}]*source="db"[^}]*\} (\d+)/.exec(metrics);
    assert.ok(waited && Number(waited[1]) >= STUCK_AFTER_MS, `the wait in /metrics: ${waited?.[0]}`);

    consumer.start();
    await waitFor('/healthz ok again', async () => ((await get('/healthz'))?.status === 200 ? true : undefined), 60_000, 250);
    const want = await oracle([file], 'jsonl', 'db');
    assert.ok(want.length > 0);
    await expectAlertIds(pipeline.alertsFile, new Set(want.map((a) => a.id)), 60_000);
  });
});
