import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { generateLines } from '../src/workload/generator.js';
import { Pipeline } from '../bench/harness/pipeline.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { readJson } from '../bench/harness/files.js';
import { slowq, stop, type Proc } from '../bench/harness/processes.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import { expectAlertIds, oracle, RescaleLoad, rescaleSources } from './support/cluster.js';

// Changing the consumer set under load (docs/delivery.md, "Changing the consumer set"): three clients write
// while the ring goes from two consumers to three (`slowq cluster add-consumer c2`) and back to two
// (`remove-consumer c2`), the old owner SIGKILLed in the middle of that hand-off and started again, the master
// too; then a
// consumer's host is lost for good and its state directory, copied, is started elsewhere under its name. The
// alerts must equal the oracle's, none twice, and the consumers' durable high-water marks add up to the records
// written: nothing lost, nothing applied twice, whichever consumer applied it. The records/s of each phase are
// printed (not asserted): before, during and after the scale-out.

const PHASES = 6;
const PER_PHASE = 4000;

describe('rescale: 2 → 3 → 2 consumers under load, with the old owner and the master SIGKILLed mid-hand-off', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slowq-e2e-rescale-'));
  const pipelines: Pipeline[] = [];
  const start = (opts: Parameters<typeof Pipeline.start>[0]): Pipeline => {
    const p = Pipeline.start(opts);
    pipelines.push(p);
    return p;
  };
  after(async () => {
    for (const p of pipelines) await p.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('alerts equal the oracle, none twice, high-water marks add up', async () => {
    const load = new RescaleLoad(dir, PER_PHASE, PHASES, 300);
    const { sources } = load;
    const want = await load.oracleIds();

    const p = start({
      data: join(dir, 'server'),
      base: await freeBasePort(),
      consumers: ['c0', 'c1'],
      clients: load.clients(dir),
    });
    await p.ready();
    const cluster = (name: string, args: string[]): Proc => slowq(name, ['cluster', ...args, '--master', p.ports.consumers]);
    const exitOf = async (proc: Proc): Promise<number | null> => {
      const code = await proc.exited;
      assert.equal(code, 0, `${proc.name}: ${proc.output().slice(-2000)}`);
      return code;
    };
    /** the durable high-water marks of the consumers running now, by their stats files */
    let statsDirs = ['c0', 'c1', 'c2'].map((c) => p.consumerDir(c));
    const highWater = () => statsDirs.reduce((n, d) => n + (readJson<{ highWaterTotal?: number }>(join(d, 'stats.json'))?.highWaterTotal ?? 0), 0);
    /** appends the next phase of every source's log; resolves with the records/s until all of it is applied */
    const phase = (k: number): { applied: Promise<number> } => {
      const target = load.appendPhase(k);
      const t0 = Date.now();
      return {
        applied: waitFor(`phase ${k} applied`, () => (highWater() >= target ? (sources.length * PER_PHASE * 1000) / (Date.now() - t0) : undefined), 60_000, 100),
      };
    };
    const say = (what: string, rate: number) => process.stdout.write(`# ${what}: ${Math.round(rate)} records/s\n`);

    await phase(0).applied; // the clients start
    say('before the scale-out (2 consumers)', await phase(1).applied);

    // scale out while a phase flows
    const c2 = p.addConsumer('c2');
    await waitFor('c2 started', () => p.consumerStats('c2') !== undefined, 30_000);
    const during = phase(2);
    await exitOf(cluster('add-consumer', ['add-consumer', 'c2']));
    say('during the scale-out (2 → 3)', await during.applied);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'server', 'master', 'ring.json'), 'utf8')), { v: 1, version: 2, names: ['c0', 'c1', 'c2'] });
    // only the sources c2 wins moved, each once
    const c2Stats = await waitFor('c2 took its sources', () => {
      const st = p.consumerStats('c2');
      return st && st.handoffsIn === 2 ? st : undefined;
    }, 10_000);
    assert.equal(c2Stats.handoffsIn, 2);
    assert.equal((p.consumerStats('c0')?.handoffsOut ?? 0) + (p.consumerStats('c1')?.handoffsOut ?? 0), 2);

    say('after the scale-out (3 consumers)', await phase(3).applied);

    // Scale in, the old owner (c2) SIGKILLed in the middle of the hand-off: after it gave its sources up, before
    // their new owners confirmed (held back by SIGSTOP meanwhile, long enough for the master to drop them); then
    // the master SIGKILLed too, and both started again.
    const scaleIn = phase(4);
    const newOwners = [p.consumer('c0'), p.consumer('c1')];
    for (const s of newOwners) process.kill(s.pid!, 'SIGSTOP');
    try {
      await exitOf(cluster('remove-consumer', ['remove-consumer', 'c2', '--no-wait']));
      await waitFor('c2 gave its sources up', () => (p.consumerStats('c2')?.handoffsOut ?? 0) >= 2, 30_000, 50);
      await sleep(300);
      await c2.kill9();
      c2.start();
      const restarted = await waitFor('c2 restarted', () => {
        const st = p.consumerStats('c2');
        return st && st.pid === c2.pid ? st : undefined;
      }, 20_000);
      // from its journal: both given up for good, their state kept until the new owners confirm
      assert.equal(restarted.sourcesGivenUp, 2);
      assert.equal(restarted.handoffsUnconfirmed, 2);
      assert.equal(restarted.highWaterTotal, 0);
      await p.service('master').kill9();
      p.service('master').start();
    } finally {
      for (const s of newOwners) process.kill(s.pid!, 'SIGCONT');
    }
    // the restarted master takes the change up from ring.json and ends it
    await waitFor('ring version 3', () => {
      const r = JSON.parse(readFileSync(join(dir, 'server', 'master', 'ring.json'), 'utf8')) as { version: number; next?: unknown };
      return r.version === 3 && r.next === undefined;
    }, 60_000, 100);
    say('scale-in (3 → 2, old owner and master killed mid-hand-off)', await scaleIn.applied);
    await waitFor('c2 told its sources arrived', () => p.consumerStats('c2')?.handoffsUnconfirmed === 0, 15_000);

    // c1's host is gone for good: its state directory, copied, runs elsewhere under the same name
    await p.consumer('c1').kill9();
    const copy = join(dir, 'newhost-c1');
    cpSync(p.consumerDir('c1'), copy, { recursive: true });
    const c1Copy = slowq('consumer-c1-copy', ['consumer', '--name', 'c1', '--data', copy, '--master', p.ports.consumers, '--monitor', p.ports.monitor,
      '--logserver', p.ports.logserver]);
    statsDirs = [p.consumerDir('c0'), copy, p.consumerDir('c2')];
    await phase(5).applied;

    await expectAlertIds(p.alertsFile, want, 60_000);
    const total = await waitFor('high-water marks', () => (highWater() === load.written ? load.written : undefined), 15_000);
    assert.equal(total, PHASES * PER_PHASE * sources.length);

    assert.equal(await stop(c1Copy), 0, c1Copy.output().slice(-2000));
    const stopped = await p.stop();
    for (const { service, exit } of stopped) assert.equal(exit.code, 0, `${service.name} exits 0; its output:\n${service.output().slice(-2000)}`);
  });

  it('with two masters (each keeps its own ring) a ring change is refused: by slowq cluster, and by the consumers if one master begins it', async () => {
    const source = rescaleSources()[0]!; // one that c2 would win
    const file = join(dir, 'two-masters.jsonl');
    writeFileSync(file, generateLines(3000, { seed: 310, idPrefix: `${source}-` }).join('\n') + '\n');
    const want = new Set((await oracle([file], 'jsonl', source)).map((a) => a.id));
    const p = start({
      data: join(dir, 'server-two'),
      base: await freeBasePort(),
      masters: 2,
      consumers: ['c0', 'c1'],
      clients: [{ source, files: [file], format: 'jsonl', data: join(dir, 'client-two'), args: ['--ack-timeout-ms', '1000'] }],
    });
    await p.ready();
    p.addConsumer('c2');
    await waitFor('c2 started', () => p.consumerStats('c2') !== undefined, 30_000);
    const [m1, m2] = [p.ports.master(0, 1), p.ports.master(1, 1)];
    const refusal = slowq('cluster-two', ['cluster', 'add-consumer', 'c2', '--master', m1, '--master', m2]);
    assert.equal(await refusal.exited, 1);
    assert.match(refusal.output(), /2 masters given: each keeps its own ring.*one master only.*Nothing was changed/s);
    const ring = (m: string) => JSON.parse(readFileSync(join(dir, 'server-two', m, 'ring.json'), 'utf8')) as { version: number; next?: unknown };
    assert.deepEqual([ring('master').version, ring('master2').version], [1, 1]);

    // an operator who names one master only: it begins the change, the consumers (each of two masters) refuse it,
    // nothing moves, and the records go on through the other master, applied once
    const one = slowq('cluster-one', ['cluster', 'add-consumer', 'c2', '--master', m1, '--no-wait']);
    assert.equal(await one.exited, 0, one.output().slice(-2000));
    await waitFor('the change refused', () => ((p.consumerStats('c0')?.ringChangesRefused ?? 0) + (p.consumerStats('c1')?.ringChangesRefused ?? 0) > 0 ? true : undefined), 20_000, 100);
    await expectAlertIds(p.alertsFile, want, 60_000);
    for (const c of ['c0', 'c1', 'c2']) {
      const st = p.consumerStats(c)!;
      assert.deepEqual([st.handoffsOut, st.handoffsIn, st.sourcesGivenUp], [0, 0, 0], `${c} gave up or took nothing`);
    }
    assert.equal(p.consumerStats('c2')!.highWaterTotal, 0, 'c2 applied nothing');
    assert.equal(ring('master2').version, 1);
    const stopped = await p.stop();
    for (const { service, exit } of stopped) assert.equal(exit.code, 0, `${service.name} exits 0; its output:\n${service.output().slice(-2000)}`);
  });
});
