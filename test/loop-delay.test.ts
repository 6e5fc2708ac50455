import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { StatsReporter } from '../src/service/stats-reporter.js';
import type { ServiceStats } from '../src/wire/protocol.js';

// A service's event-loop delay in its reports: a loop held up for 150 ms shows in the next report and not in the one after.

describe('event-loop delay in the stats', () => {
  it('reports the worst delay of each interval', async () => {
    const reports: ServiceStats[] = [];
    const r = new StatsReporter({ service: 'test', kind: 'master', counters: () => ({ n: 1 }), report: (st) => reports.push(st), intervalMs: 60_000 });
    r.start();
    await sleep(100);
    const quiet = r.take().counters;
    const until = Date.now() + 150;
    while (Date.now() < until) { /* holding the loop up */ }
    await sleep(50);
    const held = r.take().counters;
    await sleep(100);
    const after = r.take().counters;
    r.stop();
    assert.equal(held.n, 1);
    assert.ok(quiet.loopDelayMaxMs! < 100, `quiet: ${quiet.loopDelayMaxMs}`);
    assert.ok(held.loopDelayMaxMs! >= 120, `held up: ${held.loopDelayMaxMs}`);
    assert.ok(held.loopDelayP99Ms! >= 120, `held up, p99: ${held.loopDelayP99Ms}`);
    assert.ok(after.loopDelayMaxMs! < 100, `after: ${after.loopDelayMaxMs}`);
  });

  it('a reporter never started reports only its own counters', () => {
    const r = new StatsReporter({ service: 'test', kind: 'master', counters: () => ({ n: 1 }), report: () => {}, intervalMs: 60_000 });
    assert.deepEqual(r.take().counters, { n: 1 });
  });
});
