import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as zmq from 'zeromq';
import { packState } from '../src/durable/codec.js';
import { encodeFrames } from '../src/durable/journal.js';
import type { Alert } from '../src/model/record.js';
import { alertsHeader } from '../src/wire/headers.js';
import { decodeHeader, encodeAlerts, encodeHeader } from '../src/wire/protocol.js';
import { readAlerts, readJsonLines } from '../bench/harness/files.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { hasExited, slowq, stop, type Proc } from '../bench/harness/processes.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import { diffIds, duplicateIds, idSet, oracle, processTestDir, WorkloadFile } from './support/cluster.js';
import { samples, sum } from './support/metrics.js';

// Issue 10, item 1: alerts messages with valid headers and hostile payloads, sent by a local process to the
// monitor's port under `slowq up`. Before, alerts with an unknown type, no severity or a number where a
// string belongs were journalled and acked; the dispatcher threw on them, and after one monitor crash its
// journal replay threw at every start: the monitor crash-looped and `up` gave up and stopped everything.
// Now: each such message is answered with an error and counted (/metrics, /healthz degraded), `up` stays
// up through a SIGKILL of the monitor, a real client's alerts still all reach alerts.jsonl once, and a bad
// entry planted in the monitor's journal is set aside (quarantine.jsonl) and reported once, while the
// entries after it are replayed.

const SOURCE = 'db-hostile';

/** A well-formed alert, as a consumer makes them. */
function good(i: number): Alert {
  const at = new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
  return {
    id: `hostile-good-${i}`, type: 'slow_query', source: 'db-peer', queryId: `q${i}`, fingerprint: 'select ?', fingerprintId: '0xABC', sql: 'select 1',
    durationMs: 2000, startedAt: at, at, severity: 'warning',
  };
}

/** A copy of `a` with fields replaced (or removed, for undefined): a record literal, so the peer's shape is ours. */
function alter(a: Alert, changes: Record<string, unknown>): Record<string, unknown> {
  const o: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete o[k];
    else o[k] = v;
  }
  return o;
}

/** `o` with an own `__proto__` key (as JSON.parse makes one): a copy made by assignment would take it as its prototype. */
function withProto(o: Record<string, unknown>, proto: object): Record<string, unknown> {
  Object.defineProperty(o, '__proto__', { value: proto, enumerable: true, writable: true, configurable: true });
  return o;
}

/** Hostile payloads with a header that is itself valid; `n` overrides the count the header gives. */
function hostileCases(): Array<{ name: string; alerts: unknown[]; n?: number }> {
  const manyLabels = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, 'v'.repeat(50)]));
  return [
    { name: 'unknown type', alerts: [alter(good(1), { type: 'exploded' })] },
    { name: 'no severity', alerts: [alter(good(2), { severity: undefined })] },
    { name: 'unknown severity', alerts: [alter(good(3), { severity: 'apocalyptic' })] },
    { name: 'a number for the source', alerts: [alter(good(4), { source: 42 })] },
    { name: 'a number for the sql', alerts: [alter(good(5), { sql: 7 })] },
    { name: 'an object for the fingerprint', alerts: [alter(good(6), { fingerprint: { a: 1 } })] },
    { name: 'NaN duration', alerts: [alter(good(7), { durationMs: Number.NaN })] },
    { name: 'Infinity duration', alerts: [alter(good(8), { durationMs: Infinity })] },
    { name: 'negative duration', alerts: [alter(good(9), { durationMs: -5 })] },
    { name: 'duration beyond any date', alerts: [alter(good(10), { durationMs: 1e300 })] },
    { name: 'a string duration', alerts: [alter(good(11), { durationMs: '2000' })] },
    { name: 'startedAt not a date', alerts: [alter(good(12), { startedAt: 'yesterday' })] },
    { name: 'at an impossible time', alerts: [alter(good(13), { at: '2026-01-01T25:61:00.000Z' })] },
    { name: 'at as a number', alerts: [alter(good(14), { at: 1_767_225_600_000 })] },
    { name: 'empty id', alerts: [alter(good(15), { id: '' })] },
    { name: 'id of 100 KB', alerts: [alter(good(16), { id: 'x'.repeat(100_000) })] },
    { name: 'sql of 1 MB', alerts: [alter(good(17), { sql: 'x'.repeat(1_000_000) })] },
    { name: '5,000 labels', alerts: [alter(good(18), { labels: manyLabels })] },
    { name: 'a label value of 100 KB', alerts: [alter(good(19), { labels: { a: 'x'.repeat(100_000) } })] },
    { name: 'a label that is an object', alerts: [alter(good(20), { labels: { nested: { deep: true } } })] },
    { name: 'labels that are a list', alerts: [alter(good(21), { labels: ['a', 'b'] })] },
    // severity and type only under __proto__: an object built by copying would inherit them
    { name: '__proto__ carrying the missing fields', alerts: [withProto(alter(good(22), { type: undefined, severity: undefined }), { type: 'slow_query', severity: 'critical' })] },
    { name: '__proto__ label with an object', alerts: [alter(good(23), { labels: JSON.parse('{"__proto__": {"polluted": "yes"}, "db": "x"}') })] },
    { name: 'null instead of an alert', alerts: [null] },
    { name: 'a list instead of an alert', alerts: [[1, 2, 3]] },
    { name: 'one bad among good ones', alerts: [good(24), alter(good(25), { type: 'nope' }), good(26)] },
    { name: 'header says 2, payload holds 1', alerts: [good(27)], n: 2 },
    { name: '10,000 alerts in one message', alerts: Array.from({ length: 10_000 }, (_, i) => good(1000 + i)) },
  ];
}

/** GET on the monitor's HTTP side: status and body, or undefined while it does not answer. */
async function get(url: string): Promise<{ status: number; body: string } | undefined> {
  try {
    const r = await fetch(url);
    return { status: r.status, body: await r.text() };
  } catch {
    return undefined;
  }
}

function pidOf(data: string, name: string): number | undefined {
  try {
    return Number(readFileSync(join(data, 'run', `${name}.pid`), 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

/** The newest journal of a DurableStore directory: path, generation and size. */
function newestJournal(dir: string): { path: string; generation: number; size: number } {
  const name = readdirSync(dir).filter((n) => /^journal-\d+$/.test(n)).sort().at(-1);
  assert.ok(name, `no journal in ${dir}: ${readdirSync(dir).join(' ')}`);
  const path = join(dir, name);
  return { path, generation: Number(name.slice('journal-'.length)), size: statSync(path).size };
}

describe('hostile alerts on the monitor port under slowq up', () => {
  const dir = processTestDir('slowq-hostile-alerts-');

  it('each is refused and counted, up stays up, real alerts all arrive, a bad journal entry is set aside once', { timeout: 10 * 60_000 }, async () => {
    const base = await freeBasePort();
    const data = join(dir, 'server');
    const http = `http://127.0.0.1:${base + 4}`;
    const up = slowq('up', ['up', '--data', data, '--port', String(base), '--consumers', '1', '--quiet']);
    const procs: Proc[] = [up];
    const upAlive = () => assert.ok(!hasExited(up), `slowq up exited (${up.child.exitCode}):\n${up.output().slice(-4000)}`);
    const healthz = async () => {
      upAlive();
      return get(`${http}/healthz`);
    };
    await waitFor('the monitor\'s HTTP', async () => (await healthz())?.status === 200, 90_000, 200);

    // A real client with a real workload, before and after everything below.
    const file = join(dir, `${SOURCE}.jsonl`);
    writeFileSync(file, '');
    const workload = new WorkloadFile(file, { seed: 31, idPrefix: 'ha-' });
    workload.append(3000);
    procs.push(slowq('client', ['client', '--master', `tcp://127.0.0.1:${base}`, '--source', SOURCE, '--format', 'jsonl', '--data', join(dir, 'client'), file]));
    const alertsFile = join(data, 'alerts.jsonl');

    try {
      // The hostile messages, each with its own rid; every one is answered.
      const mon = new zmq.Dealer({ linger: 0, receiveTimeout: 20_000 });
      mon.connect(`tcp://127.0.0.1:${base + 2}`);
      const cases = hostileCases();
      const replies: Array<{ name: string; t: string; rid: number; code?: string; msg?: string }> = [];
      for (const [i, c] of cases.entries()) {
        const rid = 5000 + i;
        await mon.send([encodeHeader(alertsHeader(rid, c.n ?? c.alerts.length)), encodeAlerts(c.alerts as Alert[])]);
        const h = decodeHeader((await mon.receive())[0]);
        replies.push({ name: c.name, t: h.t, rid: 'rid' in h ? h.rid : -1, ...(h.t === 'err' ? { code: h.code, msg: h.msg } : {}) });
      }

      // Then the monitor is killed: it must come back (its journal replays), and `up` must stay up.
      const firstPid = pidOf(data, 'monitor');
      assert.ok(firstPid, 'the monitor\'s pid file');
      process.kill(firstPid, 'SIGKILL');
      await waitFor('the monitor restarted and answering', async () => {
        const pid = pidOf(data, 'monitor');
        return pid !== undefined && pid !== firstPid && (await healthz())?.status === 200;
      }, 60_000, 200);
      await sleep(3000); // past the supervisor's fast-crash window
      upAlive();
      assert.equal((await healthz())?.status, 200, 'the restarted monitor is healthy');

      // Every hostile message was refused with an error naming what was wrong.
      for (const [i, r] of replies.entries()) {
        assert.deepEqual({ name: r.name, t: r.t, rid: r.rid, code: r.code }, { name: r.name, t: 'err', rid: 5000 + i, code: 'BAD_PAYLOAD' }, `${r.name}: ${r.msg ?? ''}`);
      }
      const why = Object.fromEntries(replies.map((r) => [r.name, r.msg ?? '']));
      assert.match(why['unknown type']!, /type/);
      assert.match(why['no severity']!, /severity/);
      assert.match(why['NaN duration']!, /durationMs/);
      assert.match(why['10,000 alerts in one message']!, /10000/);

      // The same messages to the restarted monitor: counted per kind in /metrics, and /healthz says so.
      for (const [i, c] of cases.entries()) {
        await mon.send([encodeHeader(alertsHeader(9000 + i, c.n ?? c.alerts.length)), encodeAlerts(c.alerts as Alert[])]);
        const h = decodeHeader((await mon.receive())[0]);
        assert.equal(h.t, 'err', c.name);
      }
      mon.close();
      const metrics = samples((await get(`${http}/metrics`))!.body);
      assert.equal(sum(metrics, 'slowq_monitor_rejected_total', { type: 'alerts', code: 'BAD_PAYLOAD' }), cases.length, 'rejected alerts messages counted');
      assert.equal(sum(metrics, 'slowq_monitor_malformed_total'), cases.length);
      const health = await healthz();
      assert.equal(health?.status, 503);
      assert.match(health!.body, /^degraded: .*malformed/m);

      // The real client's alerts all arrive, once; none of the hostile ones (not even the good ones sent with a bad one).
      const want = idSet(await oracle([file], 'jsonl', SOURCE));
      await waitFor('every alert of the real client', () => idSet(readAlerts(alertsFile)).size >= want.size || undefined, 120_000, 250);
      await sleep(1000);
      let got = readAlerts(alertsFile);
      assert.deepEqual(duplicateIds(got), []);
      assert.deepEqual(diffIds(idSet(got), want), { missing: 0, extra: 0 });

      // A bad entry planted in the monitor's journal (the monitor is idle: every alert is written, no receiver
      // is configured), followed by a good one; then a SIGKILL, so the next start replays both.
      const state = join(data, 'monitor', 'state');
      const journal = newestJournal(state);
      const planted = alter(good(99), { type: 'exploded', id: 'planted-bad' });
      const after = { ...good(100), id: 'planted-good', source: SOURCE };
      const bad = packState({ k: 'a', t: Date.now(), alerts: [planted] });
      const frames = encodeFrames([bad], journal.generation, journal.size);
      const frames2 = encodeFrames([packState({ k: 'a', t: Date.now(), alerts: [after] })], journal.generation, journal.size + frames.length);
      appendFileSync(journal.path, Buffer.concat([frames, frames2]));
      const secondPid = pidOf(data, 'monitor')!;
      process.kill(secondPid, 'SIGKILL');
      const restarted = async (previous: number) => waitFor('the monitor back after the kill', async () => {
        const pid = pidOf(data, 'monitor');
        const h = pid !== undefined && pid !== previous ? await healthz() : undefined;
        return h && pid ? { pid, health: h } : undefined;
      }, 60_000, 200);
      const third = await restarted(secondPid);
      await sleep(3000);
      upAlive();

      // Set aside, with where and why, once; the entry after it replayed (its alert written).
      const quarantine = join(state, 'quarantine.jsonl');
      assert.ok(existsSync(quarantine), 'quarantine.jsonl beside the monitor\'s state');
      const setAside = readJsonLines<{ file: string; entry: number; offset: number; reason: string; bytes: string }>(quarantine);
      assert.equal(setAside.length, 1, JSON.stringify(setAside));
      assert.equal(setAside[0]!.file, `journal-${String(journal.generation).padStart(6, '0')}`);
      assert.equal(setAside[0]!.offset, journal.size);
      assert.match(setAside[0]!.reason, /type/);
      assert.deepEqual(Buffer.from(setAside[0]!.bytes, 'base64'), bad, 'the entry\'s bytes, as they were');
      const reports = () => readFileSync(join(data, 'logs', 'monitor.log'), 'utf8').split('\n').filter((l) => l.includes('set aside'));
      await waitFor('the report in the monitor\'s log', () => reports().length > 0 || undefined, 10_000);
      assert.equal(reports().length, 1, reports().join('\n'));
      assert.match(reports()[0]!, /journal-\d+ entry \d+ at byte \d+/);
      await waitFor('the planted good alert written', () => readAlerts(alertsFile).some((a) => a.id === 'planted-good') || undefined, 30_000);
      const health2 = await healthz();
      assert.equal(health2?.status, 503);
      assert.match(health2!.body, /degraded: .*set aside/);
      const metrics2 = samples((await get(`${http}/metrics`))!.body);
      assert.equal(sum(metrics2, 'slowq_monitor_set_aside_total', { where: 'journal' }), 1);

      // Another kill: nothing more to set aside or to say, and healthy again.
      process.kill(third.pid, 'SIGKILL');
      await restarted(third.pid);
      await sleep(3000);
      upAlive();
      assert.equal((await healthz())?.status, 200);
      assert.equal(readJsonLines(quarantine).length, 1);
      assert.equal(reports().length, 1, 'reported once');

      // More real traffic still flows end to end.
      workload.append(1000);
      const want2 = idSet(await oracle([file], 'jsonl', SOURCE));
      want2.add('planted-good');
      await waitFor('every alert after the kills', () => idSet(readAlerts(alertsFile)).size >= want2.size || undefined, 120_000, 250);
      await sleep(1000);
      got = readAlerts(alertsFile);
      assert.deepEqual(duplicateIds(got), []);
      assert.deepEqual(diffIds(idSet(got), want2), { missing: 0, extra: 0 });
      for (const p of procs.slice(1)) assert.equal(await stop(p), 0);
      assert.equal(await stop(up), 0, 'up stops cleanly');
    } catch (err) {
      process.stdout.write(`# --- up output\n${up.output().slice(-6000).replace(/^/gm, '# ')}\n`);
      const log = join(data, 'logs', 'monitor.log');
      if (existsSync(log)) process.stdout.write(`# --- monitor.log\n${readFileSync(log, 'utf8').slice(-4000).replace(/^/gm, '# ')}\n`);
      throw err;
    }
  });
});
