import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { OwnerCache } from '../src/master/rendezvous.js';
import { generateLines } from '../src/workload/generator.js';
import { readAlerts, readJson } from '../bench/harness/files.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { hasExited, kill9, pidAlive, slowq, stop, upServicePid, type Proc } from '../bench/harness/processes.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import { diffIds, duplicateIds, idSet, oracle, processTestDir } from './support/cluster.js';

// A stray process must never take a consumer's place silently (issue 10, item 2). Through real processes:
// - a stray `slowq consumer --name c0 --data OTHER` beside a running `slowq up` is fenced off: the legitimate c0
//   keeps its sources, every record is applied (alerts equal the oracle's), the client never hears "lost records",
//   and the refusal is in the master's log, in /metrics and on /healthz;
// - the same while the legitimate c0 is SIGKILLed and restarted: it takes its name back;
// - a second `slowq up` on another port with the same --data, and a second consumer on a consumer's directory,
//   refuse to start, naming the process that holds the directory;
// - a consumer SIGKILLed and restarted at once by `up`, and `up` itself SIGKILLed and started again, take over
//   the locks their dead predecessors left.

const RECORDS_PER_PHASE = 1500;
const PHASES = 6;

/** A source name the master routes to `consumer` among `names`. */
function sourceFor(consumer: string, names: string[]): string {
  const ring = new OwnerCache(names);
  for (let i = 0; i < 1000; i++) if (ring.get(`db-${consumer}-${i}`) === consumer) return `db-${consumer}-${i}`;
  throw new Error(`no source for ${consumer}`);
}

interface JsonLine { level: number; msg: string; [k: string]: unknown }

function logLines(path: string): JsonLine[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as JsonLine);
  } catch {
    return [];
  }
}

async function healthz(base: number): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${base + 4}/healthz`);
  return { status: r.status, body: await r.text() };
}

describe('a stray or stale process never takes a consumer\'s place silently', () => {
  const dir = processTestDir('slowq-stray-');
  const data = join(dir, 'server');
  const names = ['c0', 'c1'];
  const sources = names.map((n) => sourceFor(n, names));
  const files = sources.map((s) => join(dir, `${s}.jsonl`));
  const lines = sources.map((s, i) => generateLines(RECORDS_PER_PHASE * PHASES, { seed: 700 + i, idPrefix: `${s}-` }));
  let phase = 0;
  let base = 0;
  let up: Proc;
  const clients: Proc[] = [];

  /** Appends the next phase of every source's log. */
  const writePhase = () => {
    for (let i = 0; i < sources.length; i++) {
      appendFileSync(files[i]!, lines[i]!.slice(phase * RECORDS_PER_PHASE, (phase + 1) * RECORDS_PER_PHASE).join('\n') + '\n');
    }
    phase++;
  };
  /** Every record written so far is applied: the alerts equal the oracle's over what was written. */
  const allApplied = async (what: string) => {
    const sofar = new Set<string>();
    for (let i = 0; i < sources.length; i++) {
      const part = join(dir, `oracle-${i}.jsonl`);
      writeFileSync(part, lines[i]!.slice(0, phase * RECORDS_PER_PHASE).join('\n') + '\n');
      for (const a of await oracle([part], 'jsonl', sources[i]!)) sofar.add(a.id);
    }
    const alertsFile = join(data, 'alerts.jsonl');
    await waitFor(`${what}: every alert so far`, () => idSet(readAlerts(alertsFile)).size >= sofar.size || undefined, 60_000, 200);
    await sleep(500);
    const got = readAlerts(alertsFile);
    assert.deepEqual(duplicateIds(got), []);
    assert.deepEqual(diffIds(idSet(got), sofar), { missing: 0, extra: 0 }, what);
  };
  const consumerStats = (name: string) => readJson<{ pid: number; highWaterTotal: number; fenced?: number }>(join(data, 'consumers', name, 'stats.json'));

  it('starts up and two clients, one source per consumer', async () => {
    base = await freeBasePort();
    for (const f of files) writeFileSync(f, '');
    up = slowq('up', ['up', '--data', data, '--port', String(base), '--consumers', '2', '--quiet']);
    await waitFor('every consumer running', () => names.every((n) => consumerStats(n) !== undefined) || undefined, 60_000);
    for (let i = 0; i < sources.length; i++) {
      clients.push(slowq(`client-${sources[i]}`, ['client', '--master', `tcp://127.0.0.1:${base}`, '--source', sources[i]!, '--format', 'jsonl',
        '--data', join(dir, `client-${i}`), '--ack-timeout-ms', '1000', files[i]!]));
    }
    writePhase();
    await allApplied('phase 1');
  });

  it('(a) a stray consumer c0 with another --data is fenced off, loudly, and c0\'s records all get applied', async () => {
    const other = join(dir, 'other');
    const before = consumerStats('c0')!.highWaterTotal;
    const stray = slowq('stray-c0', ['consumer', '--name', 'c0', '--data', other, '--master', `tcp://127.0.0.1:${base + 1}`,
      '--monitor', `tcp://127.0.0.1:${base + 2}`]);
    const strayAt = Date.now();
    const detected = waitFor('healthz not ok', async () => ((await healthz(base)).status !== 200 ? Date.now() : undefined), 30_000, 100);
    detected.catch(() => {}); // awaited below
    // records keep coming while the stray is there
    for (let k = 0; k < 4; k++) {
      const chunk = lines[0]!.slice(phase * RECORDS_PER_PHASE + k * (RECORDS_PER_PHASE / 4), phase * RECORDS_PER_PHASE + (k + 1) * (RECORDS_PER_PHASE / 4));
      appendFileSync(files[0]!, chunk.join('\n') + '\n');
      appendFileSync(files[1]!, lines[1]!.slice(phase * RECORDS_PER_PHASE + k * (RECORDS_PER_PHASE / 4), phase * RECORDS_PER_PHASE + (k + 1) * (RECORDS_PER_PHASE / 4)).join('\n') + '\n');
      await sleep(1000);
    }
    phase++;
    assert.equal(await stop(stray), 0, stray.output());
    // the legitimate c0 never stopped applying
    await allApplied('after the stray');
    assert.ok(consumerStats('c0')!.highWaterTotal > before);
    for (const c of clients) assert.doesNotMatch(c.output(), /lost records it had acknowledged/, c.output().slice(-2000));
    // the stray said it was fenced off, and /healthz says why it is not ok (for a minute after)
    assert.match(stray.output(), /fenced/);
    process.stderr.write(`stray-consumer: /healthz not ok ${(await detected) - strayAt} ms after the stray started\n`);
    const health = await healthz(base);
    assert.equal(health.status, 503);
    assert.match(health.body, /c0/);
    // the master said so once, with both instances, and counted it
    const strayId = readJson<{ stateId: string }>(join(other, 'identity.json'))?.stateId;
    const ownerId = readJson<{ stateId: string }>(join(data, 'consumers', 'c0', 'identity.json'))?.stateId;
    assert.ok(strayId && ownerId && strayId !== ownerId);
    const refusals = logLines(join(data, 'logs', 'master.log')).filter((l) => l.level >= 50 && JSON.stringify(l).includes(strayId));
    assert.equal(refusals.length, 1, JSON.stringify(refusals));
    assert.ok(JSON.stringify(refusals[0]).includes(ownerId), JSON.stringify(refusals[0]));
    const metrics = await (await fetch(`http://127.0.0.1:${base + 4}/metrics`)).text();
    assert.match(metrics, /slowq_master_consumer_claims_refused_total\{[^}]*\} [1-9]/);
  });

  it('(a2) with a stray present, the legitimate c0 SIGKILLed and restarted by up takes its name back', async () => {
    const other = join(dir, 'other2');
    const stray = slowq('stray2-c0', ['consumer', '--name', 'c0', '--data', other, '--master', `tcp://127.0.0.1:${base + 1}`,
      '--monitor', `tcp://127.0.0.1:${base + 2}`]);
    await stray.waitForOutput('fenced', 15_000);
    const old = upServicePid(data, 'consumer-c0')!;
    const before = consumerStats('c0')!.highWaterTotal;
    const killedAt = Date.now();
    process.kill(old, 'SIGKILL');
    writePhase();
    const recovered = await waitFor('c0 applying again', () => {
      const st = consumerStats('c0');
      return st && st.pid !== old && st.highWaterTotal > before ? Date.now() : undefined;
    }, 30_000, 50).catch((err: Error) => {
      throw new Error(`${err.message}; c0: ${JSON.stringify(consumerStats('c0'))}; up:\n${up.output().slice(-3000)}\nmaster log:\n` +
        logLines(join(data, 'logs', 'master.log')).slice(-8).map((l) => JSON.stringify(l)).join('\n'));
    });
    process.stderr.write(`stray-consumer: c0 SIGKILLed beside a stray, applying again after ${recovered - killedAt} ms\n`);
    await allApplied('after the restart beside a stray');
    assert.ok(!hasExited(stray));
    assert.equal(await stop(stray), 0, stray.output());
    for (const c of clients) assert.doesNotMatch(c.output(), /lost records it had acknowledged/);
  });

  it('(a3) with a stray present, the master SIGKILLed and restarted by up gives c0 back to its own state, not to the stray', async () => {
    const other = join(dir, 'other3');
    const stray = slowq('stray3-c0', ['consumer', '--name', 'c0', '--data', other, '--master', `tcp://127.0.0.1:${base + 1}`,
      '--monitor', `tcp://127.0.0.1:${base + 2}`]);
    await stray.waitForOutput('fenced', 15_000);
    const master = upServicePid(data, 'master')!;
    process.kill(master, 'SIGKILL'); // the restarted master hears the stray and c0 again, in whichever order
    writePhase();
    await waitFor('a new master', () => (upServicePid(data, 'master') ?? master) !== master || undefined, 30_000);
    await allApplied('after the master restarted beside a stray');
    const owners = readJson<{ owners: Array<{ name: string; sid: string }> }>(join(data, 'master', 'owners.json'));
    const c0 = readJson<{ stateId: string }>(join(data, 'consumers', 'c0', 'identity.json'))!.stateId;
    assert.equal(owners?.owners.find((o) => o.name === 'c0')?.sid, c0, 'the master remembered c0\'s own state');
    assert.ok(!hasExited(stray));
    assert.equal(await stop(stray), 0, stray.output());
    for (const c of clients) assert.doesNotMatch(c.output(), /lost records it had acknowledged/);
  });

  it('(b) a second up on another port with the same --data, and a second consumer on c0\'s directory, refuse to start', async () => {
    const other = await freeBasePort();
    const second = slowq('up-2', ['up', '--data', data, '--port', String(other), '--consumers', '2', '--quiet']);
    const code = await Promise.race([second.exited, sleep(20_000).then(() => 'running' as const)]);
    if (code === 'running') await kill9(second);
    assert.notEqual(code, 'running', 'the second up exits');
    assert.notEqual(code, 0);
    const m = /data directory (\S+) is in use by up \(pid (\d+) on host (\S+), since ([^)]+)\)/.exec(second.output());
    assert.ok(m, second.output());
    assert.equal(Number(m[2]), up.child.pid);
    assert.equal(m[1], data);
    assert.ok(!/ at /.test(second.output()), 'a message, not a stack trace');

    const c0 = upServicePid(data, 'consumer-c0')!;
    const again = slowq('c0-again', ['consumer', '--name', 'c0', '--data', join(data, 'consumers', 'c0'), '--master', `tcp://127.0.0.1:${base + 1}`,
      '--monitor', `tcp://127.0.0.1:${base + 2}`]);
    const code2 = await Promise.race([again.exited, sleep(20_000).then(() => 'running' as const)]);
    if (code2 === 'running') await kill9(again);
    assert.notEqual(code2, 'running', 'the second consumer exits');
    assert.notEqual(code2, 0);
    assert.match(again.output(), new RegExp(`is in use by consumer-c0 \\(pid ${c0} `), again.output());
    // the running pipeline did not notice
    writePhase();
    await allApplied('after the refused starts');
  });

  it('(c) a consumer SIGKILLed and restarted at once by up takes over its dead predecessor\'s lock', async () => {
    for (let round = 0; round < 2; round++) {
      const old = upServicePid(data, 'consumer-c0')!;
      const before = consumerStats('c0')!.highWaterTotal;
      process.kill(old, 'SIGKILL');
      await waitFor('c0 restarted', () => {
        const st = consumerStats('c0');
        return st && st.pid !== old && pidAlive(st.pid) && st.highWaterTotal >= before ? true : undefined;
      }, 30_000, 50);
    }
    writePhase();
    await allApplied('after the restarts');
    assert.doesNotMatch(up.output(), /is in use by/, up.output().slice(-3000));
    assert.equal(up.child.exitCode, null);
  });

  it('(c2) up SIGKILLed, then started again on the same --data: its stale lock is taken over', async () => {
    for (const c of clients) assert.equal(await stop(c), 0);
    const pids = ['logserver', 'monitor', 'master', 'consumer-c0', 'consumer-c1'].map((n) => upServicePid(data, n)!);
    await kill9(up);
    await waitFor('its services gone', () => pids.every((p) => !pidAlive(p)) || undefined, 30_000, 100);
    up = slowq('up-again', ['up', '--data', data, '--port', String(base), '--consumers', '2', '--quiet']);
    await waitFor('every consumer running again', () => {
      if (hasExited(up)) throw new Error(`up exited: ${up.output()}`);
      return names.every((n) => {
        const st = consumerStats(n);
        return st && !pids.includes(st.pid) && pidAlive(st.pid);
      }) || undefined;
    }, 60_000, 100);
    assert.equal(up.child.exitCode, null);
    assert.doesNotMatch(up.output(), /is in use by/);
    assert.equal(await stop(up, 30_000), 0, up.output().slice(-3000));
  });
});

// Two masters decide alone whom they route a name to: here they disagree on purpose. The rightful c0 says hello to
// the first master only, so the second has never heard of it and gives the name to a stray that says hello to
// both; the first fences the stray off. The stray must then answer every batch the second master routes to it
// "retry" (a process any master fences does no work), and the client, sending through the second master first,
// must move to the first one: every record applied once, by c0 only, none by the stray.
describe('two masters that disagree on a name\'s owner: the process one of them fences does no work', () => {
  const dir = processTestDir('slowq-stray-masters-');
  const records = 3000;

  it('the stray, owner at one master and fenced at the other, refuses every batch; c0 applies them all', async () => {
    const base = await freeBasePort({ count: 6 });
    const tcp = (port: number) => `tcp://127.0.0.1:${port}`;
    const quiet = ['--log-level', 'warn', '--logserver', tcp(base + 5)];
    const masters = [0, 2].map((off, i) => slowq(`master${i + 1}`, ['master', ...(i > 0 ? ['--name', 'master2'] : []), '--port', String(base + off),
      '--consumers', 'c0', '--monitor', 'none', '--data', join(dir, `master${i + 1}`), ...quiet]));
    const consumer = (name: string, data: string, ports: number[]) => slowq(name, ['consumer', '--name', 'c0', '--data', join(dir, data),
      ...ports.flatMap((p) => ['--master', tcp(p)]), '--monitor', tcp(base + 4), ...quiet]);
    const c0 = consumer('c0', 'c0', [base + 1]);
    const consumerStats = (data: string) => readJson<Record<string, number>>(join(dir, data, 'stats.json'));
    await waitFor('c0 to start', () => consumerStats('c0'), 30_000);
    await sleep(1500); // the first master has heard c0
    const stray = consumer('stray', 'stray', [base + 1, base + 3]);
    await waitFor('the stray to be fenced by the first master', () => consumerStats('stray')?.fenced === 1, 30_000);
    const file = join(dir, 'db.jsonl');
    writeFileSync(file, generateLines(records, { seed: 77, idPrefix: 'm-' }).join('\n') + '\n');
    const clientData = join(dir, 'client');
    const client = slowq('client', ['client', '--master', tcp(base + 2), '--master', tcp(base), '--source', 'db-1', '--format', 'jsonl',
      '--data', clientData, ...quiet, file]);
    const acked = await waitFor('every record acked', () => {
      const st = readJson<Record<string, number>>(join(clientData, 'stats.json'));
      return st && st.recordsAcked >= records ? st : undefined;
    }, 60_000);
    assert.equal(acked.recordsAcked, records);
    assert.ok(acked.retries > 0 && acked.masterFailovers > 0, `the client should have been told to retry and have moved to the first master: ${JSON.stringify(acked)}`);
    await waitFor('c0 to report its high-water marks', () => consumerStats('c0')?.highWaterTotal === records, 10_000);
    const strayStats = consumerStats('stray')!;
    assert.ok(strayStats.requests > 0, 'the second master routed batches to the stray');
    assert.equal(strayStats.highWaterTotal, 0, 'the stray applied nothing');
    assert.equal(strayStats.fenced, 1);
    assert.match(stray.output(), /fenced off by the master \(/);
    for (const p of [client, stray, c0, ...masters]) await stop(p, 5000);
  });
});
