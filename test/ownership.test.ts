import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConsumerOwnership, type ConsumerInstance } from '../src/master/ownership.js';
import { withinLimit } from '../src/service/stats-reporter.js';
import { MAX_COUNTERS } from '../src/wire/limits.js';
import { serviceStats } from '../src/wire/stats-schema.js';

// The master's rules for which process a consumer name is routed to (src/master/ownership.ts), with the clock
// given by hand: a restart takes over at once, a second state is refused while the owner speaks and for
// takeoverAfterMs after, a stale start is refused, and every refusal is reported once and counted.

const TIMEOUT = 3000;
const TAKEOVER = 30_000;

let ids = 0;
function inst(sid: string, gen: number, pid = 100 + gen): ConsumerInstance {
  return { id: `rid-${++ids}`, sid, gen, pid, host: 'h1' };
}

function ownership(): ConsumerOwnership {
  return new ConsumerOwnership({ timeoutMs: TIMEOUT, takeoverAfterMs: TAKEOVER, recentMs: 60_000, maxFenced: 50 });
}

describe('consumer ownership at the master', () => {
  it('the first claim owns the name; its heartbeats keep it routed; silence makes it away, speaking again brings it back', () => {
    const o = ownership();
    const a = inst('A', 1);
    assert.deepEqual(o.claim('c0', a, 0), { outcome: 'owner', change: { kind: 'first' } });
    assert.equal(o.route('c0', 1000)?.id, a.id);
    assert.deepEqual(o.claim('c0', a, 1000), { outcome: 'owner' });
    assert.equal(o.route('c0', 1000 + TIMEOUT - 1)?.id, a.id);
    assert.equal(o.route('c0', 1000 + TIMEOUT), undefined, 'away after the timeout');
    assert.deepEqual(o.reply(a.id, 5000), { name: 'c0', fenced: false }, 'a reply is heard and refreshes it');
    assert.equal(o.route('c0', 5001)?.id, a.id);
    assert.equal(o.unreachable(a.id), 'c0');
    assert.equal(o.route('c0', 5002), undefined, 'a failed send makes it away at once');
    const back = o.claim('c0', a, 5003);
    assert.equal(back.outcome === 'owner' && back.change?.kind, 'back');
    assert.equal(o.stats(5003).ownerChanges, 0);
  });

  it('a restart (same state, higher generation) takes over at once; the old process is fenced if it speaks again', () => {
    const o = ownership();
    const a1 = inst('A', 1);
    const a2 = inst('A', 2);
    o.claim('c0', a1, 0);
    const r = o.claim('c0', a2, 500);
    assert.equal(r.outcome, 'owner');
    assert.equal(r.outcome === 'owner' && r.change?.kind, 'restart');
    assert.equal(r.outcome === 'owner' && r.change?.previous?.id, a1.id);
    assert.equal(o.route('c0', 600)?.id, a2.id);
    assert.equal(o.stats(600).fencedRecently, 0, 'a replaced owner that stays silent is no problem');
    // the old process's ack is ignored and counted; its heartbeat is refused once, as stale
    assert.deepEqual(o.reply(a1.id, 700), { fenced: true });
    const hb = o.claim('c0', a1, 800);
    assert.equal(hb.outcome, 'fenced');
    assert.equal(hb.outcome === 'fenced' && hb.kind, 'stale');
    assert.equal(hb.outcome === 'fenced' && hb.first, true);
    assert.equal(hb.outcome === 'fenced' && hb.owner.id, a2.id);
    assert.equal((o.claim('c0', a1, 900) as { first: boolean }).first, false, 'said once');
    const st = o.stats(1000);
    assert.deepEqual({ ownerChanges: st.ownerChanges, staleClaims: st.staleClaims, fencedReplies: st.fencedReplies, fencedRecently: st.fencedRecently, c0: st['fenced.c0'] },
      { ownerChanges: 1, staleClaims: 1, fencedReplies: 1, fencedRecently: 1, c0: 1 });
  });

  it('another state is refused while the owner is alive, reported once, counted, and its replies ignored', () => {
    const o = ownership();
    const a = inst('A', 7);
    const stray = inst('B', 1);
    o.claim('c0', a, 0);
    const r = o.claim('c0', stray, 100);
    assert.equal(r.outcome, 'fenced');
    if (r.outcome !== 'fenced') return;
    assert.equal(r.kind, 'conflict');
    assert.equal(r.first, true);
    assert.equal(r.owner.sid, 'A');
    assert.match(r.reason, /owned by another process \(state id A, generation 7, pid 107 on h1\)/);
    for (let t = 200; t < 3000; t += 1000) {
      const again = o.claim('c0', stray, t);
      assert.equal(again.outcome === 'fenced' && again.first, false);
      o.claim('c0', a, t);
    }
    assert.deepEqual(o.reply(stray.id, 3100), { fenced: true }, 'its ack never reaches a client');
    assert.equal(o.route('c0', 3100)?.id, a.id);
    const st = o.stats(3100);
    assert.equal(st.claimsRefused, 1);
    assert.equal(st.fencedHeartbeats, 4);
    assert.equal(st.fencedReplies, 1);
    assert.equal(st['fenced.c0'], 1);
    // a minute after it was last heard, it no longer counts as recent
    assert.equal(o.stats(3100 + 60_000).fencedRecently, 0);
    assert.equal(o.stats(3100 + 60_000)['fenced.c0'], undefined);
  });

  it('an equal generation of the same state from another process is stale (a copied directory)', () => {
    const o = ownership();
    o.claim('c0', inst('A', 3), 0);
    const copy = o.claim('c0', inst('A', 3), 10);
    assert.equal(copy.outcome === 'fenced' && copy.kind, 'stale');
    const older = o.claim('c0', inst('A', 2), 20);
    assert.equal(older.outcome === 'fenced' && older.kind, 'stale');
    assert.equal(o.stats(30).staleClaims, 2);
  });

  it('an owner a send failed to (it died) is away at once, but a stray still waits out its silence', () => {
    const o = ownership();
    const a1 = inst('A', 1);
    const stray = inst('B', 1);
    o.claim('c0', a1, 0);
    o.claim('c0', stray, 100);
    assert.equal(o.unreachable(a1.id), 'c0');
    assert.equal(o.route('c0', 200), undefined);
    assert.equal(o.claim('c0', stray, 1200).outcome, 'fenced', 'not a takeover: the owner spoke 1.2 s ago');
    assert.equal(o.claim('c0', stray, TAKEOVER - 1).outcome, 'fenced');
    assert.equal(o.claim('c0', stray, TAKEOVER).outcome, 'owner');
  });

  it('a stray present while the owner restarts slowly does not get the name: the restart does', () => {
    const o = ownership();
    const a1 = inst('A', 1);
    const stray = inst('B', 1);
    o.claim('c0', a1, 0);
    o.claim('c0', stray, 100);
    // the owner dies; the stray keeps claiming, past the heartbeat timeout but within the takeover time
    for (let t = 1000; t < TAKEOVER - 1000; t += 1000) assert.equal(o.claim('c0', stray, t).outcome, 'fenced');
    assert.equal(o.route('c0', 10_000), undefined);
    const a2 = inst('A', 2);
    const r = o.claim('c0', a2, TAKEOVER - 500);
    assert.equal(r.outcome === 'owner' && r.change?.kind, 'restart');
    assert.equal(o.claim('c0', stray, TAKEOVER).outcome, 'fenced');
  });

  it('after the owner\'s silence of takeoverAfterMs a fenced or new process takes the name, with a warning, and the old owner is fenced', () => {
    const o = ownership();
    const a = inst('A', 4);
    const b = inst('B', 1);
    o.claim('c0', a, 0);
    assert.equal(o.claim('c0', b, 10).outcome, 'fenced');
    const r = o.claim('c0', b, TAKEOVER);
    assert.equal(r.outcome, 'owner');
    if (r.outcome !== 'owner') return;
    assert.equal(r.change?.kind, 'takeover');
    assert.equal(r.change?.silentMs, TAKEOVER);
    assert.match(r.change?.warning ?? '', /another state \(state id B, not A\)/);
    assert.equal(o.route('c0', TAKEOVER + 1)?.id, b.id);
    const st = o.stats(TAKEOVER + 1);
    assert.deepEqual([st.ownerChanges, st.takeovers], [1, 1]);
    // the old owner comes back: now it is the second state, refused
    const old = o.claim('c0', a, TAKEOVER + 100);
    assert.equal(old.outcome === 'fenced' && old.kind, 'conflict');
    // an older start of the same state also waits out the silence, and is warned about
    const o2 = ownership();
    o2.claim('c0', inst('A', 5), 0);
    const older = o2.claim('c0', inst('A', 3), TAKEOVER);
    assert.match(older.outcome === 'owner' ? older.change?.warning ?? '' : '', /older or equal start of the same state \(generation 3, the owner had 5\)/);
  });

  it('names are independent, and an unknown peer\'s reply is neither an owner\'s nor a fenced one\'s', () => {
    const o = ownership();
    const a = inst('A', 1);
    const b = inst('B', 1);
    o.claim('c0', a, 0);
    o.claim('c1', b, 0);
    assert.equal(o.route('c0', 1)?.id, a.id);
    assert.equal(o.route('c1', 1)?.id, b.id);
    assert.deepEqual(o.reply('nobody', 1), { fenced: false });
    assert.equal(o.alive('c2', 1), false);
  });

  it('remembers a bounded number of fenced processes', () => {
    const o = ownership();
    o.claim('c0', inst('A', 1), 0);
    for (let i = 0; i < 500; i++) o.claim('c0', inst(`S${i}`, 1), i);
    const st = o.stats(600);
    assert.ok(st.fencedRecently <= 50, `fenced kept: ${st.fencedRecently}`);
    assert.equal(st.claimsRefused, 500);
  });
});

describe('owners remembered across a restart of the master', () => {
  it('after a restart, the remembered state gets its name back at once; another claimant waits takeoverAfterMs', () => {
    const before = ownership();
    const a1 = inst('A', 1);
    before.claim('c0', a1, 0);
    const kept = before.remembered();
    assert.deepEqual(kept, [{ name: 'c0', sid: 'A', gen: 1 }]);
    assert.equal(before.remembered(), undefined, 'nothing new to keep');

    // the master restarts at t=100: a stray (another state) speaks first
    const after = ownership();
    after.restore(kept!, 100);
    const stray = inst('B', 7);
    const refused = after.claim('c0', stray, 200);
    assert.equal(refused.outcome, 'fenced');
    assert.match(refused.outcome === 'fenced' ? refused.reason : '', /before the master started/);
    assert.equal(after.route('c0', 200), undefined, 'nothing routed to the stray');
    // an older start of the same state is stale
    assert.equal(after.claim('c0', inst('A', 0), 250).outcome, 'fenced');
    // the rightful consumer (same state, same or later start) claims it back at once
    const a2 = inst('A', 2);
    assert.equal(after.claim('c0', a2, 300).outcome, 'owner');
    assert.equal(after.route('c0', 300)?.id, a2.id);
    assert.deepEqual(after.remembered(), [{ name: 'c0', sid: 'A', gen: 2 }]);
  });

  it('a remembered owner that never comes back lets another state take the name after takeoverAfterMs from the start', () => {
    const o = ownership();
    o.restore([{ name: 'c0', sid: 'A', gen: 4 }], 1000);
    const b = inst('B', 1);
    assert.equal(o.claim('c0', b, 1000 + TAKEOVER - 1).outcome, 'fenced');
    assert.equal(o.claim('c0', b, 1000 + TAKEOVER).outcome, 'owner');
  });
});

describe('the owners file', () => {
  it('keeps the owners across a restart; a damaged file is said and ignored', async () => {
    const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { OwnerFile } = await import('../src/master/owner-file.js');
    const dir = await mkdtemp(join(tmpdir(), 'slowq-owners-'));
    const warnings: string[] = [];
    const log = { warn: (_o: object, msg: string) => warnings.push(msg) } as unknown as import('pino').Logger;
    try {
      const f = new OwnerFile(dir, log);
      assert.deepEqual(await f.load(), []);
      f.save([{ name: 'c0', sid: 'A', gen: 3 }]);
      f.save([{ name: 'c0', sid: 'A', gen: 4 }, { name: 'c1', sid: 'C', gen: 1 }]);
      await f.flushed();
      assert.deepEqual(await new OwnerFile(dir, log).load(), [{ name: 'c0', sid: 'A', gen: 4 }, { name: 'c1', sid: 'C', gen: 1 }]);
      await writeFile(join(dir, 'owners.json'), '{"v":1,"owners":[{"name":');
      assert.deepEqual(await new OwnerFile(dir, log).load(), []);
      assert.equal(warnings.length, 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a flood of claimants under made-up names: a counter for the first 32 names, the rest counted; the report stays within a stats message', () => {
    const o = new ConsumerOwnership({ timeoutMs: TIMEOUT, takeoverAfterMs: TAKEOVER, recentMs: 60_000, maxFenced: 5000 });
    for (let i = 0; i < 2000; i++) {
      o.claim(`n${i}`, inst(`A${i}`, 1), 0);
      assert.equal(o.claim(`n${i}`, inst(`B${i}`, 1), 10).outcome, 'fenced');
    }
    const st = o.stats(20);
    assert.equal(st.fencedRecently, 2000);
    assert.equal(Object.keys(st).filter((k) => k.startsWith('fenced.')).length, 32);
    assert.equal(st.fencedNamesNotListed, 2000 - 32);
    // and whatever a service counts, its report is one the monitor takes
    const many: Record<string, number> = {};
    for (let i = 0; i < 3000; i++) many[`c${i}`] = i;
    const kept = withinLimit(many);
    assert.equal(Object.keys(kept).length, MAX_COUNTERS);
    assert.equal(kept.countersNotSent, 3000 - (MAX_COUNTERS - 1));
    assert.doesNotThrow(() => serviceStats({ service: 'master', kind: 'master', at: 1, counters: kept }, 'stats'));
  });
});
