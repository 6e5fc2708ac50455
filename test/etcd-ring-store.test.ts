import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { EtcdRingStore, parseRingStoreUrl } from '../src/master/etcd-ring-store.js';
import { RingFile } from '../src/master/ring-file.js';
import type { RingEdit, RingState, RingStoreListener } from '../src/master/ring-store.js';
import { waitFor } from '../bench/harness/wait.js';
import { serviceProblems } from '../src/monitor/service-health.js';
import { startEtcd, type EtcdServer } from './support/etcd.js';

// The ring kept in etcd (src/master/etcd-ring-store.ts) against a real etcd on loopback: every write a
// compare-and-swap on the revision read, what one master writes reaching the other through the watch, one driver
// at a time and another taking over, etcd stopped and started again. test/e2e-rescale-etcd.test.ts runs it with
// real masters and consumers.

const log = pino({ level: 'silent' });
const FIRST: RingState = { version: 1, names: ['c0', 'c1'] };

/** what a store told its master */
function listener() {
  const seen = { rings: [] as RingState[], driving: [] as boolean[] };
  const l: RingStoreListener = { onRing: (r) => seen.rings.push(r), onDriving: (yes) => seen.driving.push(yes) };
  return { seen, l };
}

/** adds `name` as the next ring, unless a change is under way */
const add = (name: string): RingEdit => (ring) =>
  ring.next ? 'a change of the ring is under way' : { ...ring, next: { version: ring.version + 1, names: [...ring.names, name] } };

describe('the ring in etcd', () => {
  let etcd: EtcdServer;
  const dir = mkdtempSync(join(tmpdir(), 'slowq-etcd-ring-'));
  const stores: EtcdRingStore[] = [];
  const store = (prefix: string, master: string, extra: Partial<ConstructorParameters<typeof EtcdRingStore>[0]> = {}) => {
    const s = new EtcdRingStore({ url: etcd.ringStore(prefix), master, log, leaseSeconds: 2, ...extra });
    stores.push(s);
    return s;
  };
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    for (const s of stores) await s.close().catch(() => {});
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads its URL or says what is wrong with it', () => {
    assert.deepEqual(parseRingStoreUrl('etcd://10.0.0.1:2379,10.0.0.2:2379/slowq/prod'), { endpoints: ['10.0.0.1:2379', '10.0.0.2:2379'], prefix: '/slowq/prod/' });
    assert.throws(() => parseRingStoreUrl('http://127.0.0.1:2379/slowq'), /expected etcd:\/\/HOST:PORT/);
    assert.throws(() => parseRingStoreUrl('etcd://127.0.0.1/slowq'), /not HOST:PORT/);
  });

  it('the first master writes the ring, the next reads it; two writes on one read: one wins, the other is made again on what etcd holds', async () => {
    const a = store('cas', 'master');
    const b = store('cas', 'master2');
    const la = listener();
    const lb = listener();
    assert.deepEqual(await a.open(FIRST, la.l), FIRST);
    assert.deepEqual(await b.open({ version: 1, names: ['other'] }, lb.l), FIRST, 'the ring in etcd wins over a master\'s --consumers');
    // both read version 1 with no change under way; both ask for one at once
    const [ra, rb] = await Promise.all([a.update(add('c2'), false), b.update(add('c3'), false)]);
    const won = [ra, rb].filter((r) => typeof r !== 'string') as RingState[];
    const lost = [ra, rb].filter((r) => typeof r === 'string');
    assert.equal(won.length, 1, `one wins: ${JSON.stringify([ra, rb])}`);
    assert.deepEqual(lost, ['a change of the ring is under way'], 'the other is made again on the ring as etcd holds it, and refused by its edit');
    assert.equal(a.stats().ringStoreConflicts + b.stats().ringStoreConflicts, 1);
    // the loser's master heard the winner's ring (from the failed compare or the watch)
    const loser = typeof ra === 'string' ? la : lb;
    await waitFor('the ring reaches the other master', () => loser.seen.rings.some((r) => r.next?.version === 2), 5000, 20);
  });

  it('a master that kept its own ring.json before seeds etcd with it, never with a lower version', async () => {
    const own = new RingFile(join(dir, 'alone-before'));
    await own.save({ version: 3, names: ['c0', 'c2'] });
    const a = store('seed', 'master', { cache: own });
    assert.deepEqual(await a.open(FIRST, listener().l), { version: 3, names: ['c0', 'c2'] });
    const b = store('seed', 'master2');
    assert.deepEqual(await b.open(FIRST, listener().l), { version: 3, names: ['c0', 'c2'] });
  });

  it('one driver at a time: only its writes as driver pass; the others learn by the watch; when it goes another takes the change over', async () => {
    // read only at the start: what each learns afterwards (the other's writes, the driver key going) comes by the watch
    const a = store('drive', 'master', { pollMs: 600_000 });
    const b = store('drive', 'master2', { pollMs: 600_000 });
    const la = listener();
    const lb = listener();
    await a.open(FIRST, la.l);
    await b.open(FIRST, lb.l);
    assert.equal(a.driving || b.driving, false, 'no change, no driver');
    const begun = await b.update(add('c2'), false);
    assert.notEqual(typeof begun, 'string');
    await waitFor('a driver', () => a.driving || b.driving, 5000, 20);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // time for a second campaign, which must lose
    assert.equal(Number(a.driving) + Number(b.driving), 1, 'exactly one drives');
    const [driver, other, otherSeen] = a.driving ? [a, b, lb] : [b, a, la];
    const released: RingEdit = (r) => ({ ...r, next: { ...r.next!, released: ['c0'] } });
    assert.equal(await other.update(released, true), 'this master no longer drives the change');
    const written = await driver.update(released, true);
    assert.deepEqual(typeof written !== 'string' && written.next?.released, ['c0']);
    await waitFor('the progress reaches the other master', () => otherSeen.seen.rings.some((r) => r.next?.released?.includes('c0')), 5000, 20);
    // the driver goes (a master stopped hands over at once; a killed one when its lease runs out: e2e-rescale-etcd)
    await driver.close();
    await waitFor('the other master takes the change over', () => other.driving, 10_000, 20);
    assert.deepEqual(otherSeen.seen.driving.at(-1), true);
    const done = await other.update((r) => ({ version: r.next!.version, names: r.next!.names }), true);
    assert.deepEqual(done, { version: 2, names: ['c0', 'c1', 'c2'] });
    await waitFor('the driver key goes with the change', () => !other.driving, 5000, 20);
  });

  it('etcd stopped: the last ring stays, the outage is counted, writes are refused naming the store; back: all goes on', async () => {
    const cache = new RingFile(join(dir, 'master-data'));
    const a = store('down', 'master', { cache, pollMs: 200 });
    await a.open(FIRST, listener().l);
    const begun = await a.update(add('c2'), false);
    assert.notEqual(typeof begun, 'string');
    await cache.flushed();
    await etcd.stop({ keepData: true });
    try {
      await waitFor('the outage seen', () => a.stats().ringStoreDown === 1, 10_000, 50);
      assert.equal(a.stats().ringStoreOutages, 1);
      const refused = await a.update((r) => ({ ...r, next: { ...r.next!, released: ['c0'] } }), false);
      assert.match(String(refused), /ring store \(etcd at 127\.0\.0\.1:\d+, key \/down\/ring\) cannot be reached/);
      // the monitor's /healthz says so while the master reports it
      assert.deepEqual(serviceProblems([{ service: 'master2', kind: 'master', at: Date.now(), counters: a.stats() }]),
        ['master2: cannot reach the shared ring\'s store (etcd, --ring-store): it routes by the last ring it read, and changes of the consumer set wait (see its log)']);
      // a master started meanwhile starts from the copy kept in --data, without the change's progress
      const b = store('down', 'master2', { cache: new RingFile(join(dir, 'master-data')) });
      const fromCopy = await b.open(FIRST, listener().l);
      assert.deepEqual(fromCopy, { version: 1, names: ['c0', 'c1'], next: { version: 2, names: ['c0', 'c1', 'c2'] } });
      assert.equal(b.stats().ringStoreDown, 1);
    } finally {
      await etcd.restart();
    }
    await waitFor('etcd answers again', () => a.stats().ringStoreDown === 0, 10_000, 50);
    assert.equal(a.stats().ringStoreOutages, 1, 'one outage, counted once');
    const after = await a.update((r) => ({ ...r, next: { ...r.next!, released: ['c0'] } }), false);
    assert.deepEqual(typeof after !== 'string' && after.next?.released, ['c0']);
  });
});
