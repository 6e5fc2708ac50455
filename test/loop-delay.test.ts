import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PeakMs } from '../src/service/peak.js';
import { StatsReporter } from '../src/service/stats-reporter.js';

// A service's event-loop delay in its reports: a loop held up for 150 ms shows in the next report and not in the one
// after, also when the stall comes in the very turn the report was taken in.

describe('event-loop delay in the stats', () => {
  it('reports the worst delay of each interval, a stall in the turn of a report included', async () => {
    const r = new StatsReporter({ service: 'test', kind: 'master', counters: () => ({ n: 1 }), report: () => {}, intervalMs: 60_000 });
    const hold = (ms: number) => {
      const until = Date.now() + ms;
      while (Date.now() < until) { /* holding the loop up */ }
    };
    r.start();
    await sleep(100);
    const quiet = r.take().counters;
    await sleep(60);
    hold(150); // a stall between two ticks
    await sleep(60);
    const held = r.take().counters;
    hold(150); // a stall in the same turn as the report (the histogram skips the first tick after its reset)
    await sleep(60);
    const heldAfterReport = r.take().counters;
    await sleep(100);
    const after = r.take().counters;
    r.stop();
    assert.equal(held.n, 1);
    assert.ok(quiet.loopDelayMaxMs! < 100, `quiet: ${quiet.loopDelayMaxMs}`);
    assert.ok(held.loopDelayMaxMs! >= 110, `held up: ${held.loopDelayMaxMs}`);
    assert.ok(held.loopDelayP99Ms! >= 110, `held up, p99: ${held.loopDelayP99Ms}`);
    assert.ok(heldAfterReport.loopDelayMaxMs! >= 140, `held up right after a report: ${heldAfterReport.loopDelayMaxMs}`);
    assert.ok(after.loopDelayMaxMs! < 100, `after: ${after.loopDelayMaxMs}`);
  });

  it('a reporter never started reports only its own counters', () => {
    const r = new StatsReporter({ service: 'test', kind: 'master', counters: () => ({ n: 1 }), report: () => {}, intervalMs: 60_000 });
    assert.deepEqual(r.take().counters, { n: 1 });
  });
});

describe('the worst of an interval in the stats (a consumer\'s slowest commit)', () => {
  it('reports the largest value since the last report, once, and 0 for an interval without any', () => {
    const commits = new PeakMs();
    const reports: Array<Record<string, number>> = [];
    const r = new StatsReporter({
      service: 'consumer-c0', kind: 'consumer', counters: () => ({ commits: 3 }), intervalMs: 60_000,
      peaks: () => ({ commitMsMax: commits.take() }),
      report: (st) => reports.push(st.counters),
    });
    for (const ms of [2, 41.5, 7]) commits.observe(ms);
    reports.push(r.take().counters);
    reports.push(r.take().counters);
    commits.observe(3);
    reports.push(r.take().counters);
    assert.deepEqual(reports.map((c) => c.commitMsMax), [41.5, 0, 3]);
    assert.equal(reports[0]!.commits, 3);
  });
});
