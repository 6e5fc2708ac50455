import { RulesEngine } from '../src/rules/engine.js';
import { DEFAULT_RULES, type OpenQuery } from '../src/rules/rules.js';
import { encodeSnapshot } from '../src/consumer/state-codec.js';
import { DurableStore } from '../src/durable/store.js';

// Consumer state with many open (running, not yet finished) queries, for the benches that ask what a
// large state costs. The queries belong to `source` and were last seen at `lastTs`, so as long as the
// source's event time stays below lastTs + stalled time none of them stalls: they stay in state.

export function openQueriesState(engine: RulesEngine, source: string, n: number, lastTs: number): void {
  const s = engine.source(source);
  for (let i = 0; i < n; i++) {
    const q: OpenQuery = {
      queryId: `open-${i}-${lastTs}`,
      firstTs: lastTs - 5_000,
      lastTs,
      durationMs: 5_000,
      fired: false,
      sql: `SELECT * FROM big_table_${i % 50} WHERE batch_id = ${i} FOR UPDATE`,
      fingerprint: 'select * from big_table_? where batch_id = ? for update',
      fingerprintId: '0x6B2D3F1C0E9A8B7766554433221100FF',
      db: 'shop',
      user: 'batch',
    };
    s.open.set(q.queryId, q);
  }
  engine.indexLoaded(source);
}

/** Writes a consumer data directory whose state holds `n` open queries of `source` (a snapshot, empty journal). */
export async function writeConsumerState(dir: string, source: string, n: number, lastTs: number): Promise<number> {
  const engine = new RulesEngine(DEFAULT_RULES);
  openQueriesState(engine, source, n, lastTs);
  const store = new DurableStore(dir, { fsync: true });
  await store.open();
  const full = encodeSnapshot(engine, []);
  await store.snapshot(full);
  await store.close();
  return full.length;
}
