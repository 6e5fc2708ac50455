import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { packState, unpackState } from '../src/durable/codec.js';
import { encodeSnapshotHeader, SNAPSHOT_HEADER_BYTES } from '../src/durable/snapshot.js';
import type { Alert } from '../src/model/record.js';
import { readAlerts, readJsonLines } from '../bench/harness/files.js';
import { Pipeline } from '../bench/harness/pipeline.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import { diffIds, duplicateIds, idSet, oracle, processTestDir } from './support/cluster.js';
import { CLASS_START_TS, ClassWorkload, type ClassWorkloadOptions } from '../src/workload/class-workload.js';

// Query-class regressions through the real pipeline (client → master → 2 consumers → monitor): two sources whose
// classes run steadily, one class of each 10× slower for 10 minutes of event time. The consumers compact often
// (snapshots holding the classes) and are SIGKILLed mid-way: one while it applies, the other while a regression
// is open. The alerts written must be exactly `slowq evaluate`'s (the oracle), regression ones included, each once.
// Then a hostile class planted in a snapshot is set aside, named, and the rest of the state restored.

const SOURCES: Array<{ source: string; opts: ClassWorkloadOptions }> = [
  { source: 'db-reg-a', opts: { seed: 21, classes: 8, perMinute: 30, idPrefix: 'a', slowdowns: [{ classIndex: 3, fromMin: 60, toMin: 70, factor: 10 }] } },
  { source: 'db-reg-b', opts: { seed: 22, classes: 8, perMinute: 30, idPrefix: 'b', slowdowns: [{ classIndex: 6, fromMin: 58, toMin: 68, factor: 10 }] } },
];

describe('regressions through the pipeline', () => {
  const dir = processTestDir('slowq-e2e-regression-');

  it('equal the oracle, each once, across SIGKILLs of the consumers (one mid-batch, one with a regression open)', { timeout: 5 * 60_000 }, async () => {
    const files = SOURCES.map((s) => join(dir, `${s.source}.jsonl`));
    for (const f of files) writeFileSync(f, '');
    const pipeline = Pipeline.start({
      data: join(dir, 'server'), base: await freeBasePort(), consumers: ['c0', 'c1'],
      clients: SOURCES.map((s, i) => ({ source: s.source, files: [files[i]!], format: 'jsonl', data: join(dir, `client-${s.source}`), args: ['--batch-size', '200'] })),
      // snapshots every few thousand records: the classes go through snapshot and journal replay both
      consumerArgs: ['--compact-bytes', '200000', '--no-fsync'],
    });
    try {
      await pipeline.ready();
      const workloads = SOURCES.map((s) => new ClassWorkload(s.opts));
      const written = () => workloads.reduce((n, w) => n + w.written, 0);
      const append = (minutes: number) => workloads.forEach((w, i) => w.appendJsonl(files[i]!, minutes));
      const caughtUp = (what: string) =>
        waitFor(`${what}: ${written()} records applied`, () => pipeline.liveHighWaterTotal() === written() || undefined, 120_000, 100);

      append(50);
      await caughtUp('an hour steady');
      const before = written();
      append(16); // to minute 66: both slowdowns under way
      // the consumers killed while records are coming in (whichever owns which source)
      await waitFor('some of the next records applied', () => ((pipeline.liveHighWaterTotal() ?? 0) > before + 500) || undefined, 120_000, 20);
      await killAndRestart(pipeline, 'mid-batch');
      await caughtUp('back after a kill mid-batch');
      // and again with both regressions open (their state: a snapshot and a journal after it)
      await killAndRestart(pipeline, 'regressions open');
      await caughtUp('back after a kill with regressions open');
      append(40); // to minute 106: both back to normal
      await caughtUp('the end');
      const classes = ['c0', 'c1'].reduce((n, c) => n + (pipeline.consumerStats(c)?.regressionClasses ?? 0), 0);
      assert.equal(classes, 16, 'the consumers count the classes they track');

      const want: Alert[] = [];
      for (const [i, s] of SOURCES.entries()) want.push(...await oracle([files[i]!], 'jsonl', s.source));
      const regressions = want.filter((a) => a.type === 'regression' || a.type === 'regression_resolved');
      assert.deepEqual(regressions.map((a) => `${a.source} ${a.fingerprintId} ${a.type}`).sort(), [
        `db-reg-a ${regressions.find((a) => a.source === 'db-reg-a')?.fingerprintId} regression`,
        `db-reg-a ${regressions.find((a) => a.source === 'db-reg-a')?.fingerprintId} regression_resolved`,
        `db-reg-b ${regressions.find((a) => a.source === 'db-reg-b')?.fingerprintId} regression`,
        `db-reg-b ${regressions.find((a) => a.source === 'db-reg-b')?.fingerprintId} regression_resolved`,
      ], 'the oracle finds each slowdown, once, and its end');
      const minute = (a: Alert) => (Date.parse(a.at) - CLASS_START_TS) / 60_000;
      for (const a of regressions) assert.ok(a.type === 'regression' ? minute(a) < 66 : minute(a) > 66, `${a.type} at minute ${minute(a)}: open at the second kill`);
      const wantIds = idSet(want);
      await waitFor('every alert', () => idSet(readAlerts(pipeline.alertsFile)).size >= wantIds.size || undefined, 60_000);
      await sleep(500);
      const got = readAlerts(pipeline.alertsFile);
      assert.deepEqual(duplicateIds(got), []);
      assert.deepEqual(diffIds(idSet(got), wantIds), { missing: 0, extra: 0 });
      // the regression alerts as written say exactly what the oracle's say
      const byId = new Map(got.map((a) => [a.id, a]));
      for (const a of regressions) assert.deepEqual(strip(byId.get(a.id)), a);
      const applied = Object.fromEntries(['c0', 'c1'].map((n) => [n, pipeline.consumerStats(n)!.highWaterTotal]));
      for (const { service, exit } of await pipeline.stop()) assert.equal(exit.code, 0, `${service.name} stops cleanly`);

      // A hostile class planted in a consumer's newest snapshot (framed and checksummed as the store writes it): the
      // consumer starts, sets that class aside naming it and why, and restores everything else.
      const name = ['c0', 'c1'].find((n) => plantHostileClass(pipeline.consumerDir(n)))!;
      assert.ok(name, 'a consumer has a snapshot with classes');
      const c = pipeline.consumer(name);
      c.start();
      const st = await waitFor('the consumer loaded', () => {
        const x = pipeline.consumerStats(name);
        return x?.pid === c.pid ? x : undefined;
      }, 60_000, 50);
      assert.equal(st.setAside, 1);
      assert.equal(st.highWaterTotal, applied[name], 'the rest restored');
      const q = readJsonLines<{ what: string; reason: string }>(join(pipeline.consumerDir(name), 'quarantine.jsonl'));
      assert.equal(q.length, 1);
      assert.match(`${q[0]!.what}: ${q[0]!.reason}`, /query class 0: cells: \[0\]: must be a cell from 0 to 399, got 400/);
      assert.equal((await c.stop())?.code, 0);
    } finally {
      await pipeline.kill();
    }
  });
});

/** Replaces the first class of the newest snapshot with one whose cells are out of range; false if it has none. */
function plantHostileClass(state: string): boolean {
  const file = readdirSync(state).filter((n) => /^snapshot-\d+$/.test(n)).sort().at(-1);
  if (!file) return false;
  const buf = readFileSync(join(state, file));
  const snap = unpackState<{ sources: Array<{ classes?: Array<Record<string, unknown>> }> }>(buf.subarray(SNAPSHOT_HEADER_BYTES));
  const src = snap.sources.find((x) => (x.classes?.length ?? 0) > 0);
  if (!src) return false;
  src.classes![0] = { ...src.classes![0], cells: [400, 1] };
  const payload = packState(snap);
  writeFileSync(join(state, file), Buffer.concat([encodeSnapshotHeader(Number(file.slice('snapshot-'.length)), payload), payload]));
  return true;
}

async function killAndRestart(pipeline: Pipeline, why: string): Promise<void> {
  for (const name of ['c0', 'c1']) {
    const c = pipeline.consumer(name);
    assert.ok(c.running, `${name} runs before the kill (${why})`);
    await c.kill9();
    c.start();
  }
}

/** An alert as the consumer sent it (alerts.jsonl lines may carry what the monitor added). */
function strip(a: Alert | undefined): Alert | undefined {
  if (!a) return a;
  const keys = ['id', 'type', 'source', 'queryId', 'fingerprint', 'fingerprintId', 'sql', 'durationMs', 'startedAt', 'at', 'severity', 'db', 'user', 'host', 'labels', 'regression'];
  return Object.fromEntries(keys.filter((k) => (a as unknown as Record<string, unknown>)[k] !== undefined).map((k) => [k, (a as unknown as Record<string, unknown>)[k]])) as unknown as Alert;
}
