import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { EAST, NetScenario, sevenHosts, WEST, type FaultResult } from '../bench/net-scenarios.js';
import { processTestDir } from './support/cluster.js';

// Two masters and the network faults of a multi-host deployment (issue 13), on one network-namespace bed
// (bench/harness/netns.ts; the scenarios are bench/net-scenarios.ts's, which `slowq bench chaos --hosts` runs at
// full length): two database hosts with a client each, two master hosts, two consumer hosts, and the
// alert host (monitor and logserver). Every client and consumer connects to both masters (`--master` twice), as
// the README's deployment section shows. The servers' ports are reached through forwarders on their hosts
// (bench/harness/forwarder.ts), which can make every link slow and lossy. While records flow, in turn:
//   - a master SIGKILLed: the clients carry on through the other one, then it is started again;
//   - a master's host cut off, with both masters running;
//   - a master stalled (SIGSTOP) and resumed: it passes on what it held, which the client had sent again through the
//     other master meanwhile: the consumers must skip it (a resend through another path is harmless);
//   - the clients' acks from a master lost on the way back (a one-way link): the client sends again through the
//     other master what that master had already passed on, and the consumers must skip it as duplicates;
//   - a partition of the network into two halves, healed while batches are in flight;
//   - every process of the alert host dying at once (power loss), then started again;
//   - 200 ms latency with 5% loss on every link (to the masters and to the monitor) for a bounded time.
// Each must end by itself; at the end the alerts equal the oracle's, none twice, and the consumers' high-water
// marks add up to the records written, although records reached them twice through the two masters (counted
// as duplicates, which the lost-acks scenario makes certain): a resend through another path is harmless. How long each fault took to recover from is
// printed as diagnostics, not asserted. SLOWQ_NET_FAULT_MS (default 5000) sets how long each fault lasts, and
// SLOWQ_NET_LATENCY_MS (default 6000) the slow, lossy phase (the minute: 60000).

const FAULT_MS = Number(process.env.SLOWQ_NET_FAULT_MS ?? 5000);
const LATENCY_MS = Number(process.env.SLOWQ_NET_LATENCY_MS ?? 6000);

describe('two masters and network faults on separate hosts', { timeout: 420_000 }, () => {
  const dir = processTestDir('slowq-e2e-masters-');
  let net: NetScenario | undefined;

  before(async () => {
    net = await NetScenario.start(sevenHosts({ dir, subnet: '10.214.0', seed: 1301, recordsPerWrite: 25, writeEveryMs: 100, recoveryLimitMs: 90_000 }));
  });

  after(async () => {
    await net?.close();
  });

  const say = (t: TestContext, r: FaultResult) => {
    for (const line of r.notes) t.diagnostic(line);
  };

  it('a master SIGKILLed: the clients carry on through the other, then it comes back', async (t) => {
    say(t, await net!.masterKilled(FAULT_MS));
  });

  it('a master\'s host cut off, both masters running', async (t) => {
    say(t, await net!.masterHostCut(FAULT_MS));
  });

  it('a master stalls (SIGSTOP) and resumes: the client carries on through the other; what the stalled one still passes on is skipped', async (t) => {
    // whether any copy reached a consumer is said, not asserted; that none was applied twice is the oracle check at the end
    say(t, await net!.masterStall(FAULT_MS));
  });

  it('acks lost on the way back: the client sends again through the other master, and the consumers skip what they had applied', async (t) => {
    const r = await net!.lostAcks();
    say(t, r);
    assert.ok(r.again > 0, 'the batches whose acks were lost were applied through the victim, so their resends must arrive as duplicates');
  });

  it('a partition into two halves, healed while batches are in flight', async (t) => {
    say(t, await net!.partition(WEST, EAST, FAULT_MS));
  });

  it('the alert host\'s processes all die at once, then start again', async (t) => {
    const r = await net!.powerLoss('mon', FAULT_MS);
    say(t, r);
    assert.ok(r.killed >= 3, `monitor, logserver and forwarder should die; killed ${r.killed}`);
  });

  it('200 ms latency with 5% loss on every link, for a bounded time', async (t) => {
    say(t, await net!.latency(LATENCY_MS));
  });

  it('afterwards: alerts equal the oracle\'s, none twice, every record applied once though some came twice', async (t) => {
    const c = await net!.check();
    assert.deepEqual(c.failures, []);
    assert.equal(c.highWaterTotal, c.written);
    const duplicates = net!.consumersSum('duplicates');
    const failovers = net!.opts.sources.reduce((n, s) => n + (net!.clientStats(s.source)?.masterFailovers ?? 0), 0);
    t.diagnostic(`${c.written} records, applied once each; ${duplicates} records reached a consumer again and were skipped; ${failovers} moves between masters`);
  });
});
