import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { EtcdClient } from '../src/master/etcd-client.js';
import { parseRing, type RingState } from '../src/master/ring-store.js';
import { Pipeline } from '../bench/harness/pipeline.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { slowq, type Proc } from '../bench/harness/processes.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import { expectAlertIds, RescaleLoad } from './support/cluster.js';
import { startEtcd, type EtcdServer } from './support/etcd.js';

// Two masters sharing one ring in etcd (docs/delivery.md, "Several masters: a ring kept in etcd"): three clients
// write through both while the ring goes from two consumers to three and back to two, each change asked with
// `slowq cluster` given both masters; in the scale-in the master driving the change is SIGKILLed after the old owner
// gave its sources up and before their new owners confirmed, and the other master takes the change over from etcd's
// state; then etcd is stopped while the records go on (routed by the last ring read; a change is refused). The
// alerts must equal the oracle's, none twice, and the consumers' durable high-water marks add up to the records
// written.

const PHASES = 5;
const PER_PHASE = 3000;

describe('rescale with two masters sharing a ring in etcd: 2 → 3 → 2 consumers under load, the driving master SIGKILLed mid-change', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slowq-e2e-rescale-etcd-'));
  let p: Pipeline | undefined;
  let etcd: EtcdServer | undefined;
  after(async () => {
    await p?.kill();
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('alerts equal the oracle, none twice, high-water marks add up', async () => {
    etcd = await startEtcd();
    const kv = new EtcdClient([etcd.endpoint]);
    const ring = async (): Promise<RingState | undefined> => {
      const { kvs } = await kv.range('/slowq-e2e/ring');
      const r = kvs[0] ? parseRing(kvs[0].value.toString()) : undefined;
      return typeof r === 'string' ? undefined : r;
    };
    const driver = async (): Promise<string | undefined> => (await kv.range('/slowq-e2e/driver')).kvs[0]?.value.toString();

    const load = new RescaleLoad(dir, PER_PHASE, PHASES, 400);
    const want = await load.oracleIds();

    p = Pipeline.start({
      data: join(dir, 'server'),
      base: await freeBasePort(),
      masters: 2,
      consumers: ['c0', 'c1'],
      masterArgs: ['--ring-store', etcd.ringStore('slowq-e2e'), '--ring-lease', '2'],
      clients: load.clients(dir),
    });
    const pipeline = p;
    await pipeline.ready();
    const masters = ['--master', pipeline.ports.master(0, 1), '--master', pipeline.ports.master(1, 1)];
    const cluster = (name: string, args: string[]): Proc => slowq(name, ['cluster', ...args, ...masters]);
    const ok = async (proc: Proc): Promise<string> => {
      assert.equal(await proc.exited, 0, `${proc.name}: ${proc.output().slice(-2000)}`);
      return proc.output();
    };
    const phase = (k: number): Promise<void> => {
      const target = load.appendPhase(k);
      return waitFor(`phase ${k} applied`, () => (pipeline.highWaterTotal() >= target ? true : undefined), 60_000, 100).then(() => {});
    };

    await phase(0);
    assert.deepEqual(await ring(), { version: 1, names: ['c0', 'c1'] }, 'the first master wrote the ring to etcd');

    // scale out through either master while a phase flows
    pipeline.addConsumer('c2');
    await waitFor('c2 started', () => pipeline.consumerStats('c2') !== undefined, 30_000);
    const during = phase(1);
    const out = await ok(cluster('add-consumer', ['add-consumer', 'c2']));
    assert.match(out, /done: ring version 2 \[c0, c1, c2\]/);
    await during;
    assert.deepEqual(await ring(), { version: 2, names: ['c0', 'c1', 'c2'] });
    await waitFor('c2 took its sources', () => (pipeline.consumerStats('c2')?.handoffsIn === 2 ? true : undefined), 10_000);
    await phase(2);

    // scale in; the new owners held back (SIGSTOP) so the hand-off is mid-way when the driving master is SIGKILLed
    const scaleIn = phase(3);
    const newOwners = [pipeline.consumer('c0'), pipeline.consumer('c1')];
    for (const s of newOwners) process.kill(s.pid!, 'SIGSTOP');
    let killed: string;
    try {
      await ok(cluster('remove-consumer', ['remove-consumer', 'c2', '--no-wait']));
      await waitFor('c2 gave its sources up', () => (pipeline.consumerStats('c2')?.handoffsOut ?? 0) >= 2, 30_000, 50);
      killed = await waitFor('a master drives the change', driver, 10_000, 50);
      const r = await ring();
      assert.equal(r?.next?.version, 3);
      assert.equal(r?.version, 2, 'the change is under way');
      await sleep(300);
      await pipeline.service(killed).kill9();
    } finally {
      for (const s of newOwners) process.kill(s.pid!, 'SIGCONT');
    }
    // the other master takes the change over when the driver's lease runs out, and ends it (the killed one is
    // started again only after: the change cannot have been ended by it)
    await waitFor('ring version 3 in force', async () => {
      const r = await ring();
      return r?.version === 3 && r.next === undefined ? r : undefined;
    }, 60_000, 100);
    assert.equal(pipeline.service(killed).running, false);
    assert.deepEqual(await ring(), { version: 3, names: ['c0', 'c1'] });
    pipeline.service(killed).start();
    await scaleIn;
    await waitFor('c2 told its sources arrived', () => pipeline.consumerStats('c2')?.handoffsUnconfirmed === 0, 15_000);
    const status = await ok(cluster('status', ['status']));
    assert.match(status, /ring version 3 \[c0, c1\]/);

    // etcd stopped: the masters route by the last ring they read, the records flow; a change is refused, naming it
    await etcd.stop({ keepData: true });
    try {
      await phase(4);
      // the master started again may not have heard from c2 yet: it says so before it asks etcd (asked again then)
      let tries = 0;
      const refused = await waitFor('an answer about the ring store, not about c2', async () => {
        const p = cluster(`add-consumer-no-etcd-${tries++}`, ['add-consumer', 'c2', '--no-wait']);
        await p.exited;
        return /consumer c2 is not connected to the master/.test(p.output()) ? undefined : p;
      }, 30_000, 500);
      assert.equal(await refused.exited, 1);
      assert.match(refused.output(), /ring store \(etcd at 127\.0\.0\.1:\d+, key \/slowq-e2e\/ring\) cannot be reached.*nothing changed/s);
    } finally {
      await etcd.restart();
    }
    assert.deepEqual(await ring(), { version: 3, names: ['c0', 'c1'] });

    await expectAlertIds(pipeline.alertsFile, want, 60_000);
    const total = await waitFor('high-water marks', () => (pipeline.highWaterTotal() === load.written ? load.written : undefined), 15_000);
    assert.equal(total, PHASES * PER_PHASE * load.sources.length);
    for (const c of ['c0', 'c1', 'c2']) assert.equal(pipeline.consumerStats(c)?.ringChangesRefused ?? 0, 0, `${c} refused no ring change`);
    const stopped = await pipeline.stop();
    for (const { service, exit } of stopped) assert.equal(exit.code, 0, `${service.name} exits 0; its output:\n${service.output().slice(-2000)}`);
  });
});
