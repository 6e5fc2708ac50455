import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { generateLines } from '../src/workload/generator.js';
import { readAlerts } from '../bench/harness/files.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { slowq } from '../bench/harness/processes.js';
import { oracle, processTestDir } from './support/cluster.js';
import { samples, sum, type Sample } from './support/metrics.js';
import { sleep } from '../bench/harness/wait.js';

// /metrics against what the pipeline did: `slowq up` (HTTP on BASE+4) and a client over a generated file.
// Once everything is delivered, the records acked for the source equal the records in the file, the
// consumers applied each exactly once, and the alerts by type equal alerts.jsonl's counts (and the oracle's).

const RECORDS = 3000;
const SOURCE = 'db-metrics';

function countByType(types: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of types) out[t] = (out[t] ?? 0) + 1;
  return out;
}

describe('e2e: /metrics counts what the pipeline did', () => {
  const dir = processTestDir('slowq-e2e-metrics-');

  it('records acked for the source = records in the file; alerts by type = alerts.jsonl', async () => {
    const file = join(dir, 'workload.jsonl');
    writeFileSync(file, generateLines(RECORDS, { seed: 11, idPrefix: 'm' }).join('\n') + '\n');
    const expected = await oracle([file], 'jsonl', SOURCE);
    assert.ok(expected.length > 10, 'the workload produces alerts');

    const base = await freeBasePort();
    const data = join(dir, 'server');
    const up = slowq('up', ['up', '--data', data, '--port', String(base), '--consumers', '2', '--quiet']);
    const http = `http://127.0.0.1:${base + 4}`;
    const until = Date.now() + 90_000;
    const healthy = async () => {
      try {
        return (await fetch(`${http}/healthz`)).status === 200;
      } catch {
        return false;
      }
    };
    while (!(await healthy())) {
      assert.ok(Date.now() < until, `the monitor's HTTP did not come up on ${http}: ${up.output().slice(-2000)}`);
      await sleep(200);
    }

    const client = slowq('client', ['client', '--master', `tcp://127.0.0.1:${base}`, '--source', SOURCE, '--format', 'jsonl', '--data', join(dir, 'client'), file]);
    const alertsFile = join(data, 'alerts.jsonl');

    // Counters travel client → master → monitor every couple of seconds: wait until /metrics has caught up
    // with everything delivered (bounded), then compare.
    let metrics: Sample[] = [];
    for (;;) {
      const delivered = readAlerts(alertsFile).length;
      metrics = samples(await (await fetch(`${http}/metrics`)).text());
      const sent = sum(metrics, 'slowq_client_records_sent_total', { source: SOURCE });
      const acked = sum(metrics, 'slowq_client_batches_acked_total', { source: SOURCE });
      const batches = sum(metrics, 'slowq_client_batches_sent_total', { source: SOURCE });
      const alerts = sum(metrics, 'slowq_alerts_total');
      if (delivered >= expected.length && sent >= RECORDS && batches > 0 && acked >= batches && alerts >= expected.length) break;
      assert.ok(Date.now() < until, `not caught up: ${delivered}/${expected.length} alerts delivered, /metrics says ${sent} records sent, ${acked}/${batches} batches acked, ${alerts} alerts\n--- up:\n${up.output().slice(-3000)}\n--- client:\n${client.output().slice(-3000)}`);
      await sleep(250);
    }

    // Records acked for the source: every record was sent once, every batch sent was acked, and the records
    // in acked batches are every record.
    assert.equal(sum(metrics, 'slowq_client_records_read_total', { source: SOURCE }), RECORDS, 'records read');
    assert.equal(sum(metrics, 'slowq_client_records_sent_total', { source: SOURCE }), RECORDS, 'records sent');
    assert.equal(sum(metrics, 'slowq_client_batches_acked_total', { source: SOURCE }), sum(metrics, 'slowq_client_batches_sent_total', { source: SOURCE }), 'every batch acked');
    assert.equal(sum(metrics, 'slowq_client_records_acked_total', { source: SOURCE }), RECORDS, 'records acked for the source');
    assert.equal(sum(metrics, 'slowq_client_records_dead_lettered_total', { source: SOURCE }), 0);
    const unwatched = metrics.filter((m) => m.name === 'slowq_client_unwatched_files' && m.labels.source === SOURCE);
    assert.deepEqual(unwatched.map((m) => m.value), [0], 'its file is watched for writes');
    assert.equal(sum(metrics, 'slowq_consumer_records_applied_total'), RECORDS, 'applied once across the consumers');

    const written = readAlerts(alertsFile);
    const fromFile = countByType(written.map((a) => a.type));
    const fromMetrics: Record<string, number> = {};
    for (const s of metrics) if (s.name === 'slowq_alerts_total' && s.value > 0) fromMetrics[s.labels.type!] = s.value;
    assert.deepEqual(fromMetrics, fromFile, 'alerts by type: /metrics vs alerts.jsonl');
    assert.deepEqual(fromFile, countByType(expected.map((a) => a.type)), 'alerts.jsonl vs the oracle');
    assert.equal(sum(metrics, 'slowq_monitor_alerts_accepted_total'), expected.length);
    // every consumer and the monitor report their slowest commit of the interval (0 when they made none)
    const commitMax = metrics.filter((s) => s.name === 'slowq_commit_duration_max_seconds' && s.labels.kind === 'consumer');
    assert.equal(commitMax.length, 2, 'both consumers report their slowest commit');
    for (const s of commitMax) assert.ok(s.value >= 0 && s.value < 60, `${s.labels.service}: ${s.value} s`);
    assert.ok(metrics.some((s) => s.name === 'slowq_commit_duration_max_seconds' && s.labels.service === 'monitor'), 'the monitor reports its slowest journal commit');

    // The dashboard's query classes come from the consumers' reports: every finished record of the source, in
    // its last hour of event time, counted once in its class.
    const records = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { ts: number; state: string });
    const lastTs = Math.max(...records.map((r) => r.ts));
    const finishedInHour = records.filter((r) => r.state === 'finished' && r.ts > lastTs - 3600_000 - 5 * 60_000).length;
    type Cls = { source: string; count: number; trendCount: number[]; recent: unknown[]; fingerprintId: string };
    let classes: Cls[] = [];
    for (;;) {
      classes = ((await (await fetch(`${http}/api/classes?limit=10000`)).json()) as { classes: Cls[] }).classes.filter((c) => c.source === SOURCE);
      if (classes.length > 0) break;
      assert.ok(Date.now() < until, 'no query classes reported');
      await sleep(250);
    }
    for (const c of classes) {
      assert.equal(c.trendCount.reduce((a, b) => a + b, 0), c.count, `${c.fingerprintId}: the trend adds up to the count`);
      assert.ok(c.recent.length >= 1 && c.recent.length <= 5);
    }
    const counted = classes.reduce((n, c) => n + c.count, 0);
    assert.ok(counted > 0 && counted <= finishedInHour, `${counted} executions in the classes, ${finishedInHour} finished records in the last hour (+ one slice)`);
  });
});
