import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readJson, readJsonLines } from '../bench/harness/files.js';
import { PipelinePorts } from '../bench/harness/pipeline.js';
import { freeBasePort, freePort, portFree } from '../bench/harness/ports.js';
import { hasExited, kill9, startProcess, stop } from '../bench/harness/processes.js';
import { waitFor } from '../bench/harness/wait.js';
import { processTestDir } from './support/cluster.js';

// The process harness the end-to-end tests and the benches stand on (bench/harness/): what its helpers
// promise, checked on their own.

describe('harness: waitFor', () => {
  it('returns the first value the probe gives, sync or async', async () => {
    let n = 0;
    assert.equal(await waitFor('n to reach 3', () => (++n >= 3 ? n : undefined), 5000, 1), 3);
    assert.equal(await waitFor('a promise', async () => 'yes', 5000, 1), 'yes');
  });

  it('times out naming what it waited for; a probe that throws ends the wait with its error', async () => {
    await assert.rejects(waitFor('the impossible', () => false, 50, 10), /timed out after 50 ms waiting for the impossible/);
    await assert.rejects(waitFor('anything', () => { throw new Error('it died'); }, 5000, 10), /it died/);
  });
});

describe('harness: ports', () => {
  it('freeBasePort gives a base with `count` consecutive free ports, not a busy preferred one; portFree sees a listener', async () => {
    const base = await freeBasePort({ count: 3 });
    for (let k = 0; k < 3; k++) assert.ok(await portFree(base + k), `port ${base + k}`);
    const port = await freePort();
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', () => r()));
    try {
      assert.equal(await portFree(port), false);
      assert.notEqual(await freeBasePort({ preferred: port, count: 1 }), port, 'a busy preferred port is passed over');
    } finally {
      srv.close();
    }
  });

  it('a pipeline lays its endpoints out from the base as slowq up does', () => {
    const p = new PipelinePorts(31_000);
    assert.deepEqual([p.clients, p.consumers, p.monitor, p.logserver], ['tcp://127.0.0.1:31000', 'tcp://127.0.0.1:31001', 'tcp://127.0.0.1:31002', 'tcp://127.0.0.1:31003']);
    const hosts = new PipelinePorts(5555, { master: '10.0.0.2', monitor: '10.0.0.4', logserver: '10.0.0.4' });
    assert.deepEqual([hosts.clients, hosts.consumers, hosts.monitor, hosts.logserver], ['tcp://10.0.0.2:5555', 'tcp://10.0.0.2:5556', 'tcp://10.0.0.4:5557', 'tcp://10.0.0.4:5558']);
  });
});

describe('harness: files', () => {
  const dir = processTestDir('slowq-harness-');

  it('readJsonLines: none while missing; a torn last line is skipped, a complete one read', () => {
    const f = join(dir, 'a.jsonl');
    assert.deepEqual(readJsonLines(f), []);
    writeFileSync(f, '{"a":1}\n{"a":2}\n{"a":');
    assert.deepEqual(readJsonLines(f), [{ a: 1 }, { a: 2 }]);
    writeFileSync(f, '{"a":1}\n{"a":2}');
    assert.deepEqual(readJsonLines(f), [{ a: 1 }, { a: 2 }]);
  });

  it('readJsonLines: a bad line before the last throws (the services never leave one)', () => {
    const f = join(dir, 'b.jsonl');
    writeFileSync(f, '{"a":1}\n{"a":\n{"a":3}\n');
    assert.throws(() => readJsonLines(f), SyntaxError);
  });

  it('readJson: undefined while missing or mid-write', () => {
    const f = join(dir, 'stats.json');
    assert.equal(readJson(f), undefined);
    writeFileSync(f, '{"highWaterTotal": 4');
    assert.equal(readJson(f), undefined);
    writeFileSync(f, '{"highWaterTotal": 4}');
    assert.deepEqual(readJson(f), { highWaterTotal: 4 });
  });
});

describe('harness: processes', () => {
  // the handler before the word: a SIGTERM sent as soon as 'ready' is read must find it installed
  const script = "process.on('SIGTERM', () => process.exit(0)); process.stdout.write('ready\\n'); setInterval(() => {}, 1000);";

  it('waitForOutput, then stop: SIGTERM and the exit code', async () => {
    const p = startProcess('node-ready', process.execPath, ['-e', script]);
    await p.waitForOutput('ready', 10_000);
    assert.equal(await stop(p), 0);
    assert.ok(hasExited(p));
  });

  it('kill9 ends it by signal; waitForOutput rejects once the process is gone', async () => {
    const p = startProcess('node-kill', process.execPath, ['-e', script]);
    await p.waitForOutput('ready', 10_000);
    await kill9(p);
    assert.equal(p.child.signalCode, 'SIGKILL');
    const q = startProcess('node-quits', process.execPath, ['-e', 'process.exit(3)']);
    await assert.rejects(q.waitForOutput('never printed', 10_000), /exited \(3\) before printing "never printed"/);
  });
});
