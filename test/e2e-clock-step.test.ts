import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { readAlerts, readJson } from '../bench/harness/files.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { slowq, stopAll, type Proc } from '../bench/harness/processes.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import { startMariaDb, type MariaDbServer } from './support/dbservers.js';

// A server clock running ahead for one statement must not silence its source (issue "never silent", item 4).
// A real MariaDB writes its slow log and `slowq probe` watches its processlist, both feeding one source through the
// whole pipeline. One statement runs with the session's clock an hour ahead (`SET timestamp = now + 3600`, what a
// stepped clock or a replica replaying its source's times does to the log). Before the fix, the source's event time
// jumped an hour: the next long statement was dropped as stalled on its first probe record, and gave no alert at
// all. Now the record an hour ahead is a suspected clock step, refused once the records after it disagree, reported
// by the consumer, and the long statement gives long_running then resolved.

const RUNNING_MS = 2000;

describe('a clock step on one source, through the whole pipeline', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'slowq-e2e-clock-'));
  const data = join(dir, 'server');
  const alertsFile = join(data, 'alerts.jsonl');
  const probeFile = join(dir, 'probe.jsonl');
  let maria: MariaDbServer;
  const procs: Proc[] = [];
  const diagnose = (err: unknown): never => {
    const outputs = procs.map((p) => `--- ${p.name}:\n${p.output().slice(-1500)}`).join('\n');
    throw new Error(`${(err as Error).message}\nalerts:\n${readAlerts(alertsFile).map((a) => JSON.stringify(a)).join('\n')}\n${outputs}`);
  };

  before(async () => {
    maria = await startMariaDb();
    const base = await freeBasePort();
    const master = `tcp://127.0.0.1:${base}`;
    procs.push(slowq('up', ['up', '--data', data, '--port', String(base), '--consumers', '1', '--quiet', '--running-ms', String(RUNNING_MS)]));
    const probe = slowq('probe', ['probe', '--mysql', maria.url, '--out', probeFile, '--interval', '200']);
    procs.push(probe);
    const inputs: Array<[format: string, path: string]> = [['jsonl', probeFile], ['mysql-slow', maria.slowLogPath]];
    inputs.forEach(([format, path], i) => {
      procs.push(slowq(`client-${format}`, ['client', '--master', master, '--source', 'db', '--format', format, '--data', join(dir, `client-${i}`), path]));
    });
    await waitFor('the probe to start', () => /probing/.test(probe.output()), 30_000).catch(diagnose);
    for (let i = 0; i < inputs.length; i++) {
      await waitFor(`client ${i} to start`, () => existsSync(join(dir, `client-${i}`, 'stats.json')), 30_000).catch(diagnose);
    }
  });

  after(async () => {
    await stopAll();
    await maria?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('one statement an hour ahead, then a long one: long_running and resolved, and the step is reported', async () => {
    const c = await mysql.createConnection({ host: maria.host, port: maria.port, user: 'root' });
    try {
      // the source's first record sets its time: a statement at the true time first
      await c.query("SELECT 'warm'");
      await c.query('SET timestamp = UNIX_TIMESTAMP() + 3600');
      // under the probe's --min-duration: only the log reports it (the probe would see it at the real time, under
      // another id, as MariaDB's processlist knows nothing of the session's clock)
      await c.query("SELECT 'ahead', SLEEP(0.5)");
      await c.query('SET timestamp = DEFAULT');
      await sleep(500);
      await c.query("SELECT 'long', SLEEP(5)");
      // quick ones (the test server logs every statement): with the long one they are the records at the old time that
      // refuse the step
      for (let i = 0; i < 3; i++) await c.query('SELECT 1');
      // the sentinel: its slow_query comes after the log's records of the statements before it
      await c.query("SELECT 'sentinel', SLEEP(1.2)");
    } finally {
      await c.end();
    }
    const alerts = await waitFor('the sentinel\'s slow_query', () => {
      const a = readAlerts(alertsFile);
      return a.some((x) => x.type === 'slow_query' && x.sql.includes('sentinel')) ? a : undefined;
    }, 60_000, 200).catch(diagnose);
    const about = (word: string) => alerts.filter((a) => a.sql.includes(`'${word}'`)).map((a) => a.type);
    assert.deepEqual(about('long'), ['long_running', 'resolved'], JSON.stringify(alerts));
    assert.deepEqual(about('ahead'), []);

    // the consumer counted the refused step and said so once
    const stats = await waitFor('the consumer to count the clock step', () => {
      const s = readJson<{ clockSteps?: number }>(join(data, 'consumers', 'c0', 'stats.json'));
      return s && (s.clockSteps ?? 0) >= 1 ? s : undefined;
    }, 20_000).catch(diagnose);
    // (one refusal, or two if the log's records ahead reached the consumer in two batches with others between)
    assert.ok(stats.clockSteps! >= 1 && stats.clockSteps! <= 2, `clockSteps ${stats.clockSteps}`);
    const logged = await waitFor('the consumer to log the step', () => {
      const logs = join(data, 'logs');
      if (!existsSync(logs)) return undefined;
      const lines = readdirSync(logs).filter((f) => f.endsWith('.log')).flatMap((f) => readFileSync(join(logs, f), 'utf8').split('\n')).filter((l) => /a clock step/.test(l));
      return lines.length > 0 ? lines : undefined;
    }, 20_000).catch(diagnose);
    assert.equal(logged.length, 1, 'said once');
    assert.match(logged[0]!, /"source":"db"/);
  });
});
