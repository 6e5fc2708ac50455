import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AcceptedIds } from '../src/monitor/accepted-ids.js';
import { prng } from '../src/workload/prng.js';

// The monitor's dedup memory: ids are forgotten when older than the retention or, oldest first, beyond the
// count bound; a snapshot keeps their times.

const T0 = Date.parse('2026-12-04T00:00:00Z');
const H = 3600_000;

describe('accepted ids: what dedup remembers', () => {
  it('forgets an id once it is older than the retention, not before', () => {
    const ids = new AcceptedIds({ retentionMs: 24 * H, maxIds: 100 });
    ids.add('a', T0);
    ids.add('b', T0 + H);
    ids.expire(T0 + 24 * H);
    assert.ok(ids.has('a') && ids.has('b'), 'exactly the retention old: still remembered');
    ids.expire(T0 + 24 * H + 1);
    assert.ok(!ids.has('a') && ids.has('b'));
    assert.equal(ids.forgottenForAge, 1);
    ids.expire(T0 + 26 * H);
    assert.equal(ids.size, 0);
    assert.equal(ids.forgottenForAge, 2);
    assert.equal(ids.forgottenForRoom, 0);
  });

  it('beyond the count bound forgets the oldest and says how old the last one forgotten was', () => {
    const ids = new AcceptedIds({ retentionMs: 24 * H, maxIds: 3 });
    for (let i = 0; i < 5; i++) ids.add(`id${i}`, T0 + i * 1000);
    ids.expire(T0 + 10_000);
    assert.deepEqual(['id0', 'id1', 'id2', 'id3', 'id4'].filter((id) => ids.has(id)), ['id2', 'id3', 'id4']);
    assert.equal(ids.forgottenForRoom, 2);
    assert.equal(ids.lastRoomWindowMs, 10_000 - 1000);
  });

  it('an acceptance undone, or an id accepted again later, is not forgotten by its old place', () => {
    const ids = new AcceptedIds({ retentionMs: 10_000, maxIds: 100 });
    ids.add('a', T0);
    ids.add('b', T0 + 1);
    ids.expire(T0 + 5_000); // the cursor now holds 'a' as the oldest
    ids.delete('a'); // its write failed
    ids.add('a', T0 + 9_000); // sent again and accepted later
    ids.expire(T0 + 10_002);
    assert.ok(ids.has('a'), 'accepted again at T0+9s: not yet 10 s old');
    assert.ok(!ids.has('b'));
    assert.equal(ids.forgottenForAge, 1);
  });

  it('times that go back (the clock was set back) never make an id forgotten early', () => {
    const ids = new AcceptedIds({ retentionMs: 10_000, maxIds: 100 });
    ids.add('late', T0 + 50_000);
    ids.add('early', T0); // accepted after 'late', with an earlier time
    ids.expire(T0 + 20_000);
    assert.ok(ids.has('late') && ids.has('early'), 'the oldest by order is not due: nothing behind it goes first');
    ids.expire(T0 + 60_001);
    assert.equal(ids.size, 0);
  });

  it('a snapshot keeps the times as runs; a restore gives the same forgetting, and ids without times count from the restore', () => {
    const ids = new AcceptedIds({ retentionMs: 10_000, maxIds: 100 });
    for (const [id, t] of [['a', T0], ['b', T0], ['c', T0 + 5], ['d', T0 + 5], ['e', T0 + 5], ['f', T0 + 9]] as const) ids.add(id, t);
    const snap = ids.snapshot((id) => id !== 'd');
    assert.deepEqual(snap, { ids: ['a', 'b', 'c', 'e', 'f'], times: [[T0, 2], [T0 + 5, 2], [T0 + 9, 1]] });
    const back = new AcceptedIds({ retentionMs: 10_000, maxIds: 100 });
    back.restore(snap.ids, snap.times, T0 + 100);
    back.expire(T0 + 10_006);
    assert.deepEqual(['a', 'b', 'c', 'e', 'f'].filter((id) => back.has(id)), ['f']);
    const old = new AcceptedIds({ retentionMs: 10_000, maxIds: 100 });
    old.restore(snap.ids, undefined, T0 + 100); // a snapshot from before ids had times
    old.expire(T0 + 10_100);
    assert.equal(old.size, 5);
    old.expire(T0 + 10_101);
    assert.equal(old.size, 0);
  });

  it('forgets exactly what a walk over every id from the oldest forgets (random ids, times and undone acceptances; seeded)', () => {
    const rand = prng(20261204);
    for (let round = 0; round < 20; round++) {
      const retentionMs = 1000 + Math.floor(rand() * 20_000);
      const maxIds = 5 + Math.floor(rand() * 60);
      const ids = new AcceptedIds({ retentionMs, maxIds });
      const ref = new Map<string, number>(); // walked from a fresh start at every expire
      let now = T0;
      for (let step = 0; step < 3_000; step++) {
        now += rand() < 0.03 ? -Math.floor(rand() * 5_000) : Math.floor(rand() * 400);
        const id = `id${Math.floor(rand() * 200)}`;
        const r = rand();
        if (r < 0.6) {
          if (!ref.has(id)) {
            ids.add(id, now);
            ref.set(id, now);
          }
        } else if (r < 0.7) {
          ids.delete(id);
          ref.delete(id);
        } else {
          ids.expire(now);
          for (const [k, t] of ref) {
            if (t < now - retentionMs || ref.size > maxIds) ref.delete(k);
            else break;
          }
          assert.deepEqual([...ref.keys()].filter((k) => !ids.has(k)), [], `round ${round} step ${step}: forgotten too early`);
          assert.equal(ids.size, ref.size, `round ${round} step ${step}`);
        }
      }
    }
  });
});
