import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OldestEntries } from '../src/model/oldest-entries.js';
import { prng } from '../src/workload/prng.js';

// OldestEntries against what it replaces (a fresh iterator from the start: the first entry), under random sets,
// deletes, deletes set again (to the end, with a new value), clears and bursts that make the table grow and
// rehash; peeks and takes interleaved, as an expiry that stops at the first entry not due uses them.

describe('OldestEntries', () => {
  it('peeks and takes the entry a fresh iterator gives first, whatever happened to the map in between', () => {
    const rand = prng(5);
    let checks = 0;
    for (let trial = 0; trial < 40; trial++) {
      const map = new Map<number, number>();
      const oldest = new OldestEntries(map);
      const limit = 1 + Math.floor(rand() * 300);
      let n = 0;
      let version = 0;
      for (let i = 0; i < 3000; i++) {
        const x = rand();
        if (x < 0.45) map.set(n++, ++version);
        else if (x < 0.75) {
          const k = Math.floor(rand() * n);
          if (map.delete(k)) map.set(k, ++version);
        } else if (x < 0.85) map.delete(Math.floor(rand() * n));
        else if (x < 0.852) map.clear();
        else if (x < 0.86) for (let j = 0; j < 500; j++) map.set(n++, ++version);
        const first = () => map.entries().next().value;
        assert.deepEqual(oldest.peek(), first());
        checks++;
        while (map.size > limit) {
          const want = first();
          assert.deepEqual(oldest.take(), want);
          assert.equal(map.has(want![0]), false);
          checks++;
        }
        if (x > 0.99) {
          const want = first();
          assert.deepEqual(oldest.take(), want);
          checks++;
        }
      }
    }
    assert.ok(checks > 100_000, `${checks} checks`);
  });

  it('gives undefined when empty, carries on once entries come again, and passes over values that are NaN', () => {
    const m = new Map<string, number>();
    const oldest = new OldestEntries(m);
    assert.equal(oldest.peek(), undefined);
    assert.equal(oldest.take(), undefined);
    m.set('a', Number.NaN);
    m.set('b', 2);
    assert.deepEqual(oldest.peek(), ['a', Number.NaN]);
    assert.deepEqual(oldest.take(), ['a', Number.NaN]);
    assert.deepEqual(oldest.take(), ['b', 2]);
    assert.equal(oldest.peek(), undefined);
    m.set('c', 3);
    assert.deepEqual(oldest.peek(), ['c', 3]);
  });
});
