import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OldestKeys } from '../src/model/oldest-keys.js';
import { prng } from '../src/workload/prng.js';

// OldestKeys against what it replaces (`keys().next()` then delete), under random adds, touches (delete and add
// again: to the end), deletes, clears and bursts that make the table grow and rehash, on a Map and on a Set.

describe('OldestKeys', () => {
  for (const kind of ['Set', 'Map'] as const) {
    it(`takes the key keys().next() gives, whatever happened to the ${kind} in between`, () => {
      const rand = prng(kind === 'Set' ? 3 : 4);
      let checks = 0;
      for (let trial = 0; trial < 40; trial++) {
        const set = new Set<number>();
        const map = new Map<number, number>();
        const c = kind === 'Set' ? set : map;
        const add = (k: number) => (kind === 'Set' ? set.add(k) : map.set(k, k));
        const oldest = new OldestKeys<number>(c);
        const limit = 1 + Math.floor(rand() * 300);
        let n = 0;
        for (let i = 0; i < 3000; i++) {
          const x = rand();
          if (x < 0.45) add(n++);
          else if (x < 0.75) {
            const k = Math.floor(rand() * n);
            if (c.delete(k)) add(k);
          } else if (x < 0.85) c.delete(Math.floor(rand() * n));
          else if (x < 0.852) c.clear();
          else if (x < 0.86) for (let j = 0; j < 500; j++) add(n++);
          while (c.size > limit) {
            const want = c.keys().next().value;
            assert.equal(oldest.take(), want);
            assert.equal(c.has(want!), false);
            checks++;
          }
          if (x > 0.99) {
            const want = c.size > 0 ? c.keys().next().value : undefined;
            assert.equal(oldest.take(), want);
            checks++;
          }
        }
      }
      assert.ok(checks > 10_000, `${checks} checks`);
    });
  }

  it('gives undefined when empty, and carries on once keys come again', () => {
    const s = new Set<string>();
    const oldest = new OldestKeys(s);
    assert.equal(oldest.take(), undefined);
    s.add('a').add('b');
    assert.equal(oldest.take(), 'a');
    assert.equal(oldest.take(), 'b');
    assert.equal(oldest.take(), undefined);
    s.add('c');
    assert.equal(oldest.take(), 'c');
  });
});
