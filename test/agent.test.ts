import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { readAlerts, readJson } from '../bench/harness/files.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { kill9, slowq, type Proc } from '../bench/harness/processes.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import { parseAgentConfig } from '../src/client/agent-config.js';
import { ConfigError } from '../src/config/schema.js';
import type { ParserOptions } from '../src/formats/parsers/index.js';
import type { Alert } from '../src/model/record.js';
import { evaluateFiles } from '../src/rules/evaluate.js';
import { DEFAULT_RULES, type RulesConfig } from '../src/rules/rules.js';
import { MySqlSlowLogGenerator } from '../src/workload/mysql-slow-generator.js';
import { diffIds, duplicateIds, idSet, processTestDir } from './support/cluster.js';
import { startMariaDb, type MariaDbServer } from './support/dbservers.js';
import { PG_PREFIX, pgLines, sleepOnServer as sleepOn } from './support/agent-inputs.js';

// `slowq agent --config`: the file checked before anything starts (errors name the key), and one agent on a
// "database host" feeding a real `slowq up` from three inputs at once — a MariaDB slow log, a directory of
// PostgreSQL stderr logs (a glob, a non-default log_line_prefix) and a probe polling a real MariaDB — through one
// connection to the master: alerts from all three; SIGKILLed mid-stream and started again, the alert ids equal the
// oracle's (`slowq evaluate`'s code over the same files, the probe's journal included), none twice; SIGHUP with a
// broken file changes nothing (refused, counted), with a good one adds an input and removes one while the others
// go on untouched.

const RUNNING_MS = 1000;
const RULES: RulesConfig = { ...DEFAULT_RULES, defaults: { ...DEFAULT_RULES.defaults, runningMs: RUNNING_MS } };

async function oracleOf(files: string[], format: string, source: string, options: ParserOptions = {}): Promise<Alert[]> {
  const out: Alert[] = [];
  await evaluateFiles(files, format, source, RULES, (a) => out.push(...a), () => {}, options);
  return out;
}

describe('agent configuration: checked before anything starts, errors name the key', () => {
  const good = {
    master: 'tcp://127.0.0.1:5555',
    data: '/var/lib/slowq-agent',
    inputs: [
      { source: 'db-01', format: 'mysql-slow', paths: ['/var/log/mysql/mariadb-slow.log'] },
      { source: 'db-01', probe: { mysql: 'mysql://slowq:secret@127.0.0.1:3306/', interval: 1000 } },
      { source: 'pg-01', format: 'postgres', log_line_prefix: '%m [%p] %q%u@%d ', paths: ['/var/lib/postgresql/15/main/log/*.log'] },
    ],
  };
  const bad = (change: (c: Record<string, unknown> & { inputs: Array<Record<string, unknown>> }) => void): string => {
    const c = structuredClone(good) as Record<string, unknown> & { inputs: Array<Record<string, unknown>> };
    change(c);
    try {
      parseAgentConfig(c, 'agent.yaml');
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.message;
    }
    assert.fail('accepted');
  };

  test('the issue\'s example is taken, with names, defaults and parser options', () => {
    const cfg = parseAgentConfig(good, 'agent.yaml');
    assert.deepEqual(cfg.master, ['tcp://127.0.0.1:5555']);
    assert.deepEqual(cfg.inputs.map((i) => i.kind), ['files', 'probe', 'files']);
    assert.equal(new Set(cfg.inputs.map((i) => i.name)).size, 3);
    const pg = cfg.inputs[2]!;
    assert.ok(pg.kind === 'files' && pg.parserOptions.logLinePrefix === '%m [%p] %q%u@%d ');
    const probe = cfg.inputs[1]!;
    assert.ok(probe.kind === 'probe' && probe.database === 'mysql' && probe.intervalMs === 1000 && probe.minDurationMs === 1000);
    assert.deepEqual(parseAgentConfig({ ...good, master: ['tcp://127.0.0.1:5555'] }).master, ['tcp://127.0.0.1:5555']);
    // several masters: the agent sends through one and moves to another when it fails (docs/delivery.md)
    assert.deepEqual(parseAgentConfig({ ...good, master: ['tcp://a:5555', 'tcp://b:5555'] }).master, ['tcp://a:5555', 'tcp://b:5555']);
    assert.deepEqual(parseAgentConfig({ ...good, curve: { secret: '/k', master_key: ['/a.pub', '/b.pub'] } }).curve.masterKey, ['/a.pub', '/b.pub']);
    // the default name follows what the input reads, so it stays the same across restarts and reloads
    assert.equal(parseAgentConfig(good).inputs[0]!.name, cfg.inputs[0]!.name);
  });

  test('unknown keys and wrong types', () => {
    assert.match(bad((c) => { c.mastr = 'x'; }), /^agent\.yaml: unknown key "mastr"/);
    assert.match(bad((c) => { delete c.master; }), /agent\.yaml: master is missing/);
    assert.match(bad((c) => { c.master = []; }), /agent\.yaml: master: the list is empty/);
    assert.match(bad((c) => { c.master = ['tcp://a:1', 'b:1']; }), /agent\.yaml: master\[1\] must be a ZeroMQ endpoint/);
    assert.match(bad((c) => { c.master = 5555; }), /agent\.yaml: master must be a non-empty string/);
    assert.match(bad((c) => { (c as Record<string, unknown>).inputs = {}; }), /agent\.yaml: inputs must be a list/);
    assert.match(bad((c) => { c.inputs[0]!.path = 'x'; }), /agent\.yaml: inputs\[0\]: unknown key "path"/);
    assert.match(bad((c) => { c.inputs[0]!.format = 'mysql'; }), /inputs\[0\]: format must be one of .*got "mysql"/);
    assert.match(bad((c) => { c.inputs[0]!.paths = '/var/log/x'; }), /inputs\[0\]: paths must be a list/);
    assert.match(bad((c) => { c.inputs[0]!.paths = [7]; }), /inputs\[0\]: paths\[0\] must be a non-empty string/);
    assert.match(bad((c) => { delete c.inputs[2]!.source; }), /inputs\[2\]: source is missing/);
    assert.match(bad((c) => { c.inputs[0]!.log_line_prefix = '%m '; }), /inputs\[0\]: log_line_prefix is for format postgres/);
    assert.match(bad((c) => { c.inputs[2]!.log_timezone = 'Mars/Olympus'; }), /inputs\[2\]: .*Mars\/Olympus/);
    // raw chunks (--ship chunks): every format (a PostgreSQL log too, with its prefix)
    const pgChunks = structuredClone(good);
    (pgChunks.inputs[2] as Record<string, unknown>).ship = 'chunks';
    const pg = parseAgentConfig(pgChunks).inputs[2]!;
    assert.ok(pg.kind === 'files' && pg.ship === 'chunks' && pg.format === 'postgres');
    assert.match(bad((c) => { c.inputs[0]!.ship = 'bytes'; }), /inputs\[0\]: ship must be records or chunks, got "bytes"/);
    const chunked = structuredClone(good);
    (chunked.inputs[0] as Record<string, unknown>).ship = 'chunks';
    const first = parseAgentConfig(chunked).inputs[0]!;
    assert.ok(first.kind === 'files' && first.ship === 'chunks');
    assert.match(bad((c) => { (c.inputs[1]!.probe as Record<string, unknown>).interval = 'often'; }), /inputs\[1\]: probe\.interval must be a duration/);
    assert.match(bad((c) => { (c.inputs[1]!.probe as Record<string, unknown>).postgres = 'postgres://x@h/db'; }), /inputs\[1\]: probe: give exactly one of/);
    assert.match(bad((c) => { (c.inputs[1]!.probe as Record<string, unknown>).intervall = 1; }), /inputs\[1\]: probe: unknown key "intervall"/);
    assert.match(bad((c) => { c.inputs[1]!.format = 'jsonl'; }), /inputs\[1\] \(a probe\): unknown key "format"/);
    assert.match(bad((c) => { c.inputs[0]!.name = 'a'; c.inputs[2]!.name = 'a'; }), /inputs\[2\]: name "a" is already inputs\[0\]'s/);
    assert.match(bad((c) => { c.inputs[0]!.name = '../etc'; }), /inputs\[0\]: name must be letters/);
    assert.match(bad((c) => { c.window = 1.5; }), /agent\.yaml: window must be a whole number/);
    assert.match(bad((c) => { c.curve = { secret: '/k', master: '/m' }; }), /agent\.yaml: curve: unknown key "master"/);
  });

  test('slowq agent refuses a bad file before starting anything; check-config names the key', async () => {
    const dir = processTestDir('slowq-agent-config-');
    const data = join(dir, 'data');
    const file = join(dir, 'agent.yaml');
    writeFileSync(file, toYaml({ ...good, data, inputs: [{ ...good.inputs[0], paht: ['x'] }] }));
    const agent = slowq('agent-bad', ['agent', '--config', file]);
    assert.equal(await agent.exited, 1);
    assert.match(agent.output(), /agent\.yaml: inputs\[0\]: unknown key "paht"/);
    assert.equal(existsSync(data), false, 'nothing started: no data directory');
    const check = slowq('check-config', ['check-config', file]);
    assert.equal(await check.exited, 1);
    assert.match(check.output(), /inputs\[0\]: unknown key "paht"/);
    writeFileSync(file, toYaml({ ...good, data }));
    const ok = slowq('check-config-ok', ['check-config', file]);
    assert.equal(await ok.exited, 0, ok.output());
    assert.match(ok.output(), /agent configuration OK: master tcp:\/\/127\.0\.0\.1:5555, .*3 inputs/);
  });
});

describe('slowq agent: a slow log, a PostgreSQL log directory and a probe into one slowq up', { timeout: 150_000 }, () => {
  const dir = processTestDir('slowq-agent-e2e-');
  const data = join(dir, 'agent');
  const server = join(dir, 'server');
  const alertsFile = join(server, 'alerts.jsonl');
  const slowLog = join(dir, 'mariadb-slow.log');
  const pgDir = join(dir, 'pglog');
  const extraLog = join(dir, 'extra-slow.log');
  const configFile = join(dir, 'agent.yaml');
  const maria = new MySqlSlowLogGenerator({ seed: 7, flavor: 'mariadb' });
  const extra = new MySqlSlowLogGenerator({ seed: 8, flavor: 'mariadb' });
  let db: MariaDbServer;
  let master = '';
  let agent: Proc;
  const procs: Proc[] = [];
  const inputs = () => [
    { name: 'maria-log', source: 'maria-log', format: 'mysql-slow', paths: [slowLog] },
    { name: 'pg', source: 'pg', format: 'postgres', log_line_prefix: PG_PREFIX, paths: [join(pgDir, '*.log')] },
    { name: 'probe', source: 'maria-probe', probe: { mysql: db.url, interval: 200 } },
  ];
  const writeConfig = (list: unknown[]): void => writeFileSync(configFile, toYaml({ master, data, poll_ms: 50, inputs: list }));
  const stats = () => readJson<{ pid: number; agent: Record<string, number>; inputs: Record<string, Record<string, number> & { probe?: Record<string, number> }> }>(join(data, 'stats.json'));
  /** The running agent's probe has polled the server (a statement run before that would go unseen). */
  const probePolling = (): Promise<unknown> => waitFor('the probe polling', () => {
    const s = stats();
    return s !== undefined && s.pid === agent.child.pid && (s.inputs.probe?.probe?.polls ?? 0) > 0;
  }, 60_000, 50).catch(diagnose);
  const startAgent = (name: string): Proc => {
    agent = slowq(name, ['agent', '--config', configFile]);
    procs.push(agent);
    return agent;
  };
  const diagnose = (err: unknown): never => {
    const outputs = procs.map((p) => `--- ${p.name}:\n${p.output().slice(-2000)}`).join('\n');
    throw new Error(`${(err as Error).message}\nstats: ${JSON.stringify(stats())}\n${outputs}`);
  };
  const appendSlow = (g: MySqlSlowLogGenerator, file: string, n: number): void => {
    let text = '';
    for (let i = 0; i < n; i++) text += g.next().text;
    appendFileSync(file, text);
  };
  /** Runs a statement the probe sees running (> its 1 s min_duration, > running_ms). */
  const sleepOnServer = (seconds: number): Promise<void> => sleepOn(db, seconds);
  const probeJournal = () => join(data, 'inputs', 'probe', 'probe.jsonl');
  const want = async (): Promise<Alert[]> => [
    ...(await oracleOf([slowLog], 'mysql-slow', 'maria-log')),
    ...(await oracleOf(['a', 'b', 'c'].map((f) => join(pgDir, `${f}.log`)).filter(existsSync), 'postgres', 'pg', { logLinePrefix: PG_PREFIX })),
    ...(await oracleOf([probeJournal()], 'jsonl', 'maria-probe')),
  ];

  before(async () => {
    mkdirSync(pgDir);
    writeFileSync(slowLog, maria.banner());
    const base = await freeBasePort();
    master = `tcp://127.0.0.1:${base}`;
    procs.push(slowq('up', ['up', '--data', server, '--port', String(base), '--consumers', '2', '--quiet', '--running-ms', String(RUNNING_MS)]));
    db = await startMariaDb();
  });

  after(async () => {
    await db?.stop();
  });

  test('alerts from all three inputs; SIGKILL mid-stream and restart: the oracle\'s ids, none twice', async (t) => {
    writeConfig(inputs());
    appendSlow(maria, slowLog, 3000);
    writeFileSync(join(pgDir, 'a.log'), pgLines(0, 1000));
    startAgent('agent-1');
    await probePolling();
    const running = sleepOnServer(2.5);
    await waitFor('alerts from all three inputs', () => {
      const sources = new Set(readAlerts(alertsFile).map((a) => `${a.source}:${a.type}`));
      return sources.has('maria-log:slow_query') && sources.has('pg:slow_query') && sources.has('maria-probe:long_running');
    }, 60_000).catch(diagnose);
    await running;

    // more of everything, a new file in the directory; the agent is killed while it reads, a statement running
    appendSlow(maria, slowLog, 15_000);
    appendFileSync(join(pgDir, 'a.log'), pgLines(1000, 1000));
    writeFileSync(join(pgDir, 'b.log'), pgLines(2000, 2000));
    const across = sleepOnServer(3);
    const before = stats()?.inputs['maria-log']?.read ?? 0;
    await waitFor('the agent reading the new lines', () => (stats()?.inputs['maria-log']?.read ?? 0) > before, 30_000, 20).catch(diagnose);
    await kill9(agent);
    const atKill = stats()?.inputs['maria-log'];
    t.diagnostic(`killed with ${atKill?.read} of 18000 slow log entries read, ${atKill?.recordsAcked} acked (stats.json is 0.5 s behind)`);
    startAgent('agent-2');
    appendSlow(maria, slowLog, 3000);
    writeFileSync(join(pgDir, 'c.log'), pgLines(4000, 500));
    await across;
    await probePolling();
    await sleepOnServer(2);

    const expected = await want();
    const wantIds = idSet(expected);
    for (const source of ['maria-log', 'pg', 'maria-probe']) assert.ok(expected.some((a) => a.source === source), `the oracle has alerts for ${source}`);
    await waitFor('the oracle\'s alerts', () => idSet(readAlerts(alertsFile)).size >= wantIds.size, 60_000, 250).catch(diagnose);
    await sleep(1000);
    const got = readAlerts(alertsFile);
    assert.deepEqual(duplicateIds(got), []);
    assert.deepEqual(diffIds(idSet(got), idSet(await want())), { missing: 0, extra: 0 });
    // the probe's records went through its journal: long_running, then resolved, for each statement it saw
    const probeTypes = got.filter((a) => a.source === 'maria-probe').map((a) => a.type);
    assert.ok(probeTypes.filter((t) => t === 'resolved').length >= 2, probeTypes.join(','));
  });

  test('SIGHUP: a broken file is refused and counted; a good one adds an input and removes one, the rest untouched', async () => {
    const readBefore = stats()?.inputs['maria-log']?.read ?? 0;
    assert.ok(readBefore > 0);
    writeFileSync(configFile, 'master: [\n');
    agent.child.kill('SIGHUP');
    await waitFor('the refusal counted', () => stats()?.agent.configReloadFailures === 1, 20_000).catch(diagnose);
    assert.equal(stats()?.agent.configLastReloadSuccessful, 0);
    assert.match(agent.output(), /configuration reload refused/);
    assert.deepEqual(Object.keys(stats()?.inputs ?? {}).sort(), ['maria-log', 'pg', 'probe']);

    writeFileSync(extraLog, extra.banner());
    appendSlow(extra, extraLog, 3000);
    writeConfig([...inputs().filter((i) => i.name !== 'pg'), { name: 'extra', source: 'extra', format: 'mysql-slow', paths: [extraLog] }]);
    agent.child.kill('SIGHUP');
    await waitFor('the reload', () => stats()?.agent.configReloads === 1, 20_000).catch(diagnose);
    const s = stats()!;
    assert.equal(s.agent.configLastReloadSuccessful, 1);
    assert.deepEqual(Object.keys(s.inputs).sort(), ['extra', 'maria-log', 'probe']);
    // the slow log's input kept going (a restarted one would count from 0)
    assert.ok((s.inputs['maria-log']?.read ?? 0) >= readBefore);

    // lines for the removed input are not read; the added one's alerts arrive, and the kept ones go on
    writeFileSync(join(pgDir, 'd.log'), pgLines(5000, 500));
    appendSlow(maria, slowLog, 2000);
    const wantExtra = await oracleOf([extraLog], 'mysql-slow', 'extra');
    const wantMaria = await oracleOf([slowLog], 'mysql-slow', 'maria-log');
    assert.ok(wantExtra.length > 0);
    await waitFor('the added input\'s and the kept input\'s alerts', () => {
      const got = idSet(readAlerts(alertsFile));
      return [...wantExtra, ...wantMaria].every((a) => got.has(a.id));
    }, 60_000, 250).catch(diagnose);
    const afterRemoval = await oracleOf([join(pgDir, 'd.log')], 'postgres', 'pg', { logLinePrefix: PG_PREFIX });
    assert.ok(afterRemoval.length > 0);
    const got = readAlerts(alertsFile);
    assert.deepEqual(duplicateIds(got), []);
    const gotIds = idSet(got);
    assert.deepEqual(afterRemoval.filter((a) => gotIds.has(a.id)), [], 'the removed input read nothing more');
  });
});
