import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatChaosReport, runChaos } from '../bench/chaos.js';

// The fault-injection harness at the size: 500,000 records from 4 clients over 2 consumers, while
// at least 20 SIGKILLs hit every kind of process (clients, master, consumers, monitor, logserver) at random
// moments, each restarted. The alerts must equal the oracle's, no alert id may be written twice, and the
// consumers' durable high-water marks must add up to the number of records (each applied exactly once). The first
// source's clock steps an hour ahead every 5,000 records (the oracle sees the same records: the rules refuse the
// steps alike), and a stray consumer claiming c0's name from another data directory runs for 4 s mid-run: it
// must be fenced off, and nothing may change. The last source runs query classes that get 10× slower twice: its
// regression alerts (two fire, two resolve) must equal the oracle's like every other.
// `slowq bench chaos` runs the same harness with any size and seed. SLOWQ_CHAOS_RECORDS / SLOWQ_CHAOS_SEED
// change the size and seed of this test (e.g. to reproduce a failure).

const RECORDS = Number(process.env.SLOWQ_CHAOS_RECORDS ?? 500_000);
const SEED = Number(process.env.SLOWQ_CHAOS_SEED ?? 20_261_122);

describe('chaos: random SIGKILLs of every process under load', () => {
  it(`${RECORDS} records, ≥ 20 faults: alerts equal the oracle, none twice, every record applied once`, { timeout: 12 * 60_000 }, async () => {
    const r = await runChaos({
      records: RECORDS, clients: 4, consumers: 2, faults: 20, seed: SEED, timeoutMs: 10 * 60_000, clockStepEvery: 5000, strayConsumerMs: 4000, classSlowdowns: true,
      compactBytes: 2 << 20, // a snapshot every ~2 MiB of journal: kills land while one is written behind the commits
    });
    const report = formatChaosReport(r);
    process.stderr.write(report + '\n');
    for (const u of r.unexpectedExits) process.stderr.write(`--- ${u.process} (code ${u.code}, signal ${u.signal}):\n${u.output}\n`);
    assert.ok(r.faults.length >= 20, report);
    for (const kind of ['client', 'master', 'consumer', 'monitor', 'logserver']) assert.ok((r.faultsByKind[kind] ?? 0) >= 1, `${kind} killed at least once`);
    assert.deepEqual(r.unexpectedExits.map((u) => u.process), [], 'no process died on its own');
    assert.equal(r.duplicateAlerts, 0, report);
    assert.equal(r.missingAlerts, 0, report);
    assert.equal(r.extraAlerts, 0, report);
    assert.equal(r.changedAlerts, 0, report);
    assert.equal(r.alerts, r.expectedAlerts, report);
    assert.ok((r.expectedByType.regression ?? 0) >= 2 && (r.expectedByType.regression_resolved ?? 0) >= 2, `regressions fire and resolve under the faults: ${report}`);
    assert.equal(r.highWaterTotal, r.records, report);
    assert.deepEqual(r.failures, []);
  });
});
