import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { startProcess } from '../bench/harness/processes.js';
import { waitFor } from '../bench/harness/wait.js';
import { NetScenario } from '../bench/net-scenarios.js';
import { processTestDir } from './support/cluster.js';

// Network faults between real processes on separate hosts (network namespaces: bench/harness/netns.ts; the cut and
// its measurements are bench/net-scenarios.ts's, which `slowq bench chaos --hosts` runs too): the
// client on a database host, the master, the consumer and the monitor (with the logserver) each on a host of
// their own, run as the README's "Separate hosts" runs them. While the client sends records, each link is cut
// for 20 s — silently, packets lost, no RST — and restored: client ↔ master, master ↔ consumer, consumer ↔
// monitor. Each must recover by itself, the side that lost its connection must say so once and say once when it
// is back, and at the end the alerts must equal the oracle's, none twice, every record applied exactly once.
// How long each recovery took (from the network's return to the first ack, and to the flow caught up) is
// printed as diagnostics, not asserted. First, the bed itself is checked on a spare host: its cuts are silent
// and cut only what they should. Without root (or iproute2) the suite fails, saying so.

const SOURCE = 'db-a';
const CUT_MS = 20_000;
/** records appended to the log every WRITE_EVERY_MS while the test runs */
const RECORDS_PER_WRITE = 50;
const WRITE_EVERY_MS = 100;
/** how long a recovery may take before the test gives up on it (it takes seconds) */
const RECOVERY_LIMIT_MS = 90_000;

type Stats = Record<string, number>;

/** The side of a link that is to notice its loss: how to read its output and its stats. */
interface Side {
  name: string;
  output(): string;
  stats(): Stats | undefined;
}

/** How often `text` occurs in a process's output. */
const occurrences = (output: string, text: string): number => output.split(text).length - 1;

/** A TCP listener (node) for the bed's own check. */
const LISTENER = "require('net').createServer((s) => s.end()).listen(7000, process.argv[1], () => console.log('listening'))";
/** Connects to argv[1]:7000 and says how it went within 1.5 s: connected, timeout (silence), or the error. */
const CONNECT = "const s = require('net').connect(7000, process.argv[1], () => { console.log('connected'); process.exit(0); });" +
  "s.on('error', (e) => { console.log(e.code); process.exit(0); }); setTimeout(() => { console.log('timeout'); process.exit(0); }, 1500);";

describe('network faults: a 20 s cut of each link, then restored', { timeout: 300_000 }, () => {
  const dir = processTestDir('slowq-e2e-network-');
  let net: NetScenario | undefined;

  const clientStats = (): Stats | undefined => net!.clientStats(SOURCE);
  const consumerStats = (): Stats | undefined => net!.p.consumerStats('c0');
  /** one of the services' logs as the logserver wrote it ('' before it has one) */
  const serviceLog = (service: string): string => {
    try {
      return readFileSync(join(dir, 'server', 'logs', `${service}.log`), 'utf8');
    } catch {
      return '';
    }
  };

  before(async () => {
    net = await NetScenario.start({
      dir,
      hosts: ['db', 'master', 'consumer', 'monitor', 'probe'],
      base: 5555, // every host has ports of its own
      sources: [{ source: SOURCE, host: 'db', seed: 131, idPrefix: 'net-' }],
      masters: ['master'],
      consumers: [{ name: 'c0', host: 'consumer' }],
      alertHost: 'monitor',
      forwarders: false,
      initialRecords: 1000,
      recordsPerWrite: RECORDS_PER_WRITE,
      writeEveryMs: WRITE_EVERY_MS,
      recoveryLimitMs: RECOVERY_LIMIT_MS,
    });
  });

  after(async () => {
    await net?.close();
  });

  /** Cuts, waits CUT_MS, restores, and waits for the flow to catch up (net-scenarios' outage): prints how long it took. */
  async function outage(t: TestContext, cut: () => void, restore: () => void): Promise<void> {
    const o = await net!.outage('a link cut', CUT_MS, cut, restore);
    for (const line of o.notes) t.diagnostic(line);
  }

  /** A service's stats once `key` is set (it is rewritten every 0.5 s), or the latest ones after a few seconds. */
  async function statsWith(read: () => Stats | undefined, key: string): Promise<Stats> {
    await waitFor(key, () => (read()?.[key] ?? 0) > 0, 3000).catch(() => {});
    return read()!;
  }

  /**
   * A link of `side` to `peer` cut and restored (outage()); then `side` must have said once that it lost the
   * connection and once that it was back, and counted one outage.
   */
  async function linkCut(t: TestContext, side: Side, peer: string, cut: () => void, restore: () => void): Promise<void> {
    const before = side.stats()!;
    await outage(t, cut, restore);
    const now = await statsWith(side.stats, `${peer}ConnectionResumedAt`);
    const output = side.output();
    assert.equal(occurrences(output, `lost the connection to the ${peer}`), 1, `${side.name} should say once that it lost the ${peer}:\n${output.slice(-3000)}`);
    assert.equal(occurrences(output, `connection to the ${peer} is back after`), 1, `${side.name} should say once that the ${peer} is back:\n${output.slice(-3000)}`);
    const losses = `${peer}ConnectionLosses`;
    assert.equal(now[losses], (before[losses] ?? 0) + 1, `${side.name}'s ${losses}`);
    const outageMs = now[`${peer}ConnectionLastOutageMs`]!;
    t.diagnostic(`${side.name} counted the outage of its connection to the ${peer}: ${(outageMs / 1000).toFixed(1)} s from loss to flow resumed`);
  }

  it('the bed: a cut host and a cut path drop packets silently, both ways, and only theirs', async () => {
    // the spare host `probe` is the one cut here: the pipeline's links are left alone
    const b = net!.bed;
    const monitor = b.host('monitor');
    const listener = startProcess('listener', 'ip', ['netns', 'exec', monitor.ns, process.execPath, '-e', LISTENER, monitor.address]);
    await listener.waitForOutput('listening', 10_000);
    const connect = (from: string) => b.exec(from, process.execPath, ['-e', CONNECT, monitor.address]).trim();
    assert.equal(connect('probe'), 'connected');
    b.cut('probe');
    assert.equal(connect('probe'), 'timeout', 'no answer at all, not a refusal');
    assert.equal(connect('db'), 'connected');
    b.restore('probe');
    assert.equal(connect('probe'), 'connected');
    b.cutBetween('probe', 'monitor');
    assert.equal(connect('probe'), 'timeout');
    assert.equal(connect('db'), 'connected');
    b.restoreBetween('probe', 'monitor');
    assert.equal(connect('probe'), 'connected');
    listener.child.kill();
  });

  const client: Side = { name: 'the client', output: () => net!.p.client(SOURCE).output(), stats: clientStats };
  const consumer: Side = { name: 'the consumer', output: () => net!.p.consumer('c0').output(), stats: consumerStats };

  it('client ↔ master: the database host cut off', async (t) => {
    assert.equal(occurrences(client.output(), 'lost the connection to the master'), 0, 'no outage before the cut');
    await linkCut(t, client, 'master', () => net!.bed.cut('db'), () => net!.bed.restore('db'));
    assert.match(serviceLog('master'), /a client's connection closed/, 'the master should say that a client\'s connection closed');
  });

  it('master ↔ consumer: the path between them cut', async (t) => {
    await linkCut(t, consumer, 'master', () => net!.bed.cutBetween('master', 'consumer'), () => net!.bed.restoreBetween('master', 'consumer'));
    assert.match(serviceLog('master'), /a consumer's connection closed/, 'the master should say that a consumer\'s connection closed');
  });

  it('consumer ↔ monitor: the path between them cut (the logserver\'s too: same host)', async (t) => {
    await linkCut(t, consumer, 'monitor', () => net!.bed.cutBetween('consumer', 'monitor'), () => net!.bed.restoreBetween('consumer', 'monitor'));
  });

  it('afterwards: alerts equal the oracle\'s, none twice, every record applied once', async () => {
    const c = await net!.check();
    assert.deepEqual(c.failures, []);
    assert.equal(c.highWaterTotal, c.written);
  });
});
