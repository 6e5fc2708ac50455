import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MySqlSlowLogGenerator, type MySqlSlowFlavor } from '../src/workload/mysql-slow-generator.js';
import { generateLines } from '../src/workload/generator.js';
import { parseFile } from '../src/formats/read-file.js';
import { Pipeline } from '../bench/harness/pipeline.js';
import { readJson } from '../bench/harness/files.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import { expectAlertIds, oracle } from './support/cluster.js';
import { DEFAULT_RULES } from '../src/rules/rules.js';
import { prng } from '../src/workload/prng.js';

// Design B end to end (`slowq client --ship chunks`): the clients ship raw entry-aligned chunks of MySQL and MariaDB
// slow logs and the consumers parse them. While the logs are written, a client, a consumer, the master and the
// other consumer are each SIGKILLed and started again, and one log is rotated (renamed, a new file started at its
// path). The alerts must equal `slowq evaluate`'s on the same files, none written twice, and every record applied
// exactly once: the consumers' durable high-water marks add up to the records the files hold.

const SOURCES: Array<{ source: string; flavor: MySqlSlowFlavor }> = [{ source: 'db-my', flavor: 'mysql' }, { source: 'db-maria', flavor: 'mariadb' }];
const ENTRIES = 12_000;
const APPENDS = 60;
/** after this append, the first source's log is rotated */
const ROTATE_AT = 33;

describe('raw chunks (--ship chunks): SIGKILL of client, consumers and master mid-stream, and a rotation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slowq-e2e-chunks-'));
  let pipeline: Pipeline | undefined;
  after(async () => {
    await pipeline?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('alerts equal the oracle, none twice, every record applied once', async (t) => {
    try {
      const texts = SOURCES.map(({ flavor }, i) => {
        const g = new MySqlSlowLogGenerator({ seed: 300 + i, flavor, meanGapMs: 2, slowFraction: 0.03 });
        const entries: string[] = [];
        for (let k = 0; k < ENTRIES; k++) entries.push(g.next().text);
        return { banner: g.banner(), entries };
      });
      const files = SOURCES.map((s) => join(dir, `${s.source}.log`));
      SOURCES.forEach((_, i) => writeFileSync(files[i]!, texts[i]!.banner));

      const p = (pipeline = Pipeline.start({
        data: join(dir, 'server'),
        base: await freeBasePort(),
        consumers: ['c0', 'c1'],
        // the chunks are parsed ahead in two parse threads (parse-ahead.ts: chains and guessed starts): the kills
        // must not change what is applied
        consumerArgs: ['--parse-threads', '2'],
        clients: SOURCES.map(({ source }, i) => ({
          source, files: [files[i]!], format: 'mysql-slow', data: join(dir, `client-${source}`), args: ['--ship', 'chunks', '--ack-timeout-ms', '2000'],
        })),
      }));
      // the clients follow the files before anything is written (a file rotated before its client saw it is not read)
      await p.ready();
      await waitFor('the clients to open their files', () => SOURCES.every(({ source }) =>
        (readJson<{ streams: unknown[] }>(join(dir, `client-${source}`, 'registry.json'))?.streams.length ?? 0) > 0), 60_000);

      // kill plan: [after this append, service]
      const plan: Array<[number, string]> = [[10, 'client-db-my'], [20, 'consumer-c0'], [30, 'master'], [40, 'consumer-c1'], [50, 'client-db-maria']];
      const per = ENTRIES / APPENDS;
      const rotated = `${files[0]}.1`;
      for (let a = 0; a < APPENDS; a++) {
        SOURCES.forEach((_, i) => appendFileSync(files[i]!, texts[i]!.entries.slice(a * per, (a + 1) * per).join('')));
        if (a === ROTATE_AT) {
          renameSync(files[0]!, rotated); // the client drains the old file to its end, then starts the new one
          writeFileSync(files[0]!, texts[0]!.banner);
        }
        for (const [at, name] of plan) {
          if (at !== a) continue;
          const s = p.service(name);
          await s.kill9();
          await sleep(300);
          s.start();
        }
        await sleep(40);
      }

      const logs = SOURCES.map((_, i) => (i === 0 ? [rotated, files[0]!] : [files[i]!]));
      const want = new Set<string>();
      let records = 0;
      for (let i = 0; i < SOURCES.length; i++) {
        for (const a of await oracle(logs[i]!, 'mysql-slow', SOURCES[i]!.source)) want.add(a.id);
        for (const f of logs[i]!) records += (await parseFile(f, 'mysql-slow', () => {})).events;
      }
      assert.ok(want.size > 100, `the workload alerts (${want.size})`);

      await expectAlertIds(p.alertsFile, want, 180_000);
      const applied = await waitFor('high-water marks', () => (p.highWaterTotal() === records ? records : undefined), 20_000)
        .catch(() => p.highWaterTotal());
      assert.equal(applied, records, 'the consumers applied every record once');

      // it was the chunk path: the consumers parsed chunks, the clients sent no records
      const chunks = ['c0', 'c1'].reduce((n, c) => n + (p.consumerStats(c)?.chunks ?? 0), 0);
      assert.ok(chunks > 0, 'the consumers received chunks');
      const again = ['c0', 'c1'].reduce((n, c) => n + (p.consumerStats(c)?.chunkBytesDuplicate ?? 0), 0);
      // Whether a kill left acked bytes to be sent again depends on its moment (the registry is written every few
      // hundred ms): said, not asserted. test/chunk-intake.test.ts skips duplicates cut differently, deterministically.
      t.diagnostic(`${again} bytes sent again after the kills were skipped as duplicates`);
      // how many were parsed ahead depends on when each parse thread came online: said (parse-ahead.test.ts asserts it)
      const sum = (k: string) => ['c0', 'c1'].reduce((n, c) => n + (p.consumerStats(c)?.[k] ?? 0), 0);
      t.diagnostic(`chunks parsed ahead in a parse thread ${sum('chunksParsedAhead')} (${sum('chunksGuessed')} from a guessed start), parsed again on the main thread ${sum('chunksParsedAgain')} (${sum('guessesNotHeld')} guesses that did not hold)`);
      for (const { source } of SOURCES) {
        const st = readJson(join(dir, `client-${source}`, 'stats.json'));
        assert.equal(st?.records, 0, `client ${source} sent no records`);
        assert.ok((st?.chunkBytes ?? 0) > 0, `client ${source} sent chunks`);
      }

      const stopped = await p.stop();
      for (const { service, exit } of stopped) assert.equal(exit.code, 0, `${service.name} exits 0; its output:\n${service.output().slice(-2000)}`);
    } catch (err) {
      // what each process said last, for a failure in CI (their logs are in the logserver's directory, removed after)
      const said = pipeline ? [...pipeline.services.values()].map((s) => `--- ${s.name} (exit ${JSON.stringify(s.lastExit ?? null)}):\n${s.output().slice(-800)}`).join('\n') : '';
      const logs = join(dir, 'server', 'logs');
      const warned = existsSync(logs) ? readdirSync(logs).map((f) => `--- ${f}: ${readFileSync(join(logs, f), 'utf8').split('\n').filter((l) => /"level":[456]0/.test(l)).slice(-5).join('\n')}`).join('\n') : '';
      throw new Error(`${(err as Error).message}\n${said}\n${warned}`, { cause: err });
    }
  });

  it('JSON lines and a PostgreSQL log (auto_explain, parameters, multi-line statements) shipped as chunks over two parse threads, a client and both consumers SIGKILLed: alerts equal the oracle, every record applied once', async (t) => {
    const jdir = join(dir, 'jsonl');
    const jsonl = join(jdir, 'app.jsonl');
    const pg = join(jdir, 'postgresql.log');
    mkdirSync(jdir, { recursive: true });
    const lines = generateLines(20_000, { seed: 77 });
    const groups = pgStatementGroups(3000, 78);
    const p = (pipeline = Pipeline.start({
      data: join(jdir, 'server'),
      base: await freeBasePort(),
      consumers: ['c0', 'c1'],
      consumerArgs: ['--parse-threads', '2'],
      clients: [
        { source: 'app', files: [jsonl], format: 'jsonl', data: join(jdir, 'client'), args: ['--ship', 'chunks'] },
        { source: 'pg', files: [pg], format: 'postgres', data: join(jdir, 'client-pg'), args: ['--ship', 'chunks', '--log-line-prefix', PG_PREFIX, '--ack-timeout-ms', '2000'] },
      ],
    }));
    writeFileSync(jsonl, '');
    writeFileSync(pg, '');
    await p.ready();
    const kills = new Map([[7, 'client-pg'], [11, 'consumer-c0'], [15, 'consumer-c1']]);
    for (let a = 0; a < 20; a++) {
      appendFileSync(jsonl, lines.slice(a * 1000, (a + 1) * 1000).join('\n') + '\n');
      // whole statements (a server writes each message at once): a quiet moment never falls inside one
      // (each ending with another kind of statement, where the client's cut before the last line splits its messages)
      const upTo = (k: number) => (k >= 20 ? groups.length : k * 150 + (k % 5));
      appendFileSync(pg, groups.slice(upTo(a), upTo(a + 1)).join(''));
      const kill = kills.get(a);
      if (kill !== undefined) {
        const s = p.service(kill);
        await s.kill9();
        await sleep(300);
        s.start();
      }
      await sleep(30);
    }
    const pgAlerts = (await oracle([pg], 'postgres', 'pg', DEFAULT_RULES, { logLinePrefix: PG_PREFIX })).map((a) => a.id);
    const want = new Set([...(await oracle([jsonl], 'jsonl', 'app')).map((a) => a.id), ...pgAlerts]);
    assert.ok(want.size > 100 && pgAlerts.length > 50, `the workload alerts (${want.size}, of the PostgreSQL log ${pgAlerts.length})`);
    await expectAlertIds(p.alertsFile, want, 120_000);
    const records = (await parseFile(jsonl, 'jsonl', () => {})).events + (await parseFile(pg, 'postgres', () => {}, undefined, { logLinePrefix: PG_PREFIX })).events;
    const applied = await waitFor('high-water marks', () => (p.highWaterTotal() === records ? records : undefined), 20_000).catch(() => p.highWaterTotal());
    assert.equal(applied, records, 'the consumers applied every record once');
    const sum = (k: string) => ['c0', 'c1'].reduce((n, c) => n + (p.consumerStats(c)?.[k] ?? 0), 0);
    assert.ok(sum('chunks') > 0, 'the consumers received chunks');
    for (const c of ['client', 'client-pg']) assert.equal(readJson(join(jdir, c, 'stats.json'))?.records, 0, `${c} sent no records`);
    t.diagnostic(`chunks parsed ahead ${sum('chunksParsedAhead')} (${sum('chunksGuessed')} from a guessed start), on the main thread ${sum('chunksParsedAgain')}`);
    const stopped = await p.stop();
    for (const { service, exit } of stopped) assert.equal(exit.code, 0, `${service.name} exits 0; its output:\n${service.output().slice(-2000)}`);
  });
});

const PG_PREFIX = '%m [%p]: [%l-1] user=%u,db=%d ';

/**
 * `count` statements as a PostgreSQL server with log_min_duration_statement and auto_explain logs them, each a
 * string of whole messages: multi-line statements, plan then statement (simple protocol), execute with its
 * parameters then the plan (extended), a plan alone, an execute alone; nine backends, 3% over a second. Each
 * statement's text is its own, so no two statements' messages pair with each other.
 */
function pgStatementGroups(count: number, seed: number): string[] {
  const r = prng(seed);
  const t0 = Date.UTC(2026, 11, 5, 10, 0, 0);
  const out: string[] = [];
  const seen = new Map<number, number>();
  for (let i = 0; i < count; i++) {
    const pid = 200 + (i % 9);
    const n = (seen.get(pid) ?? 0) + 1;
    const at = (ms: number, k: number): string => `${new Date(t0 + i * 400 + ms).toISOString().replace('T', ' ').replace('Z', ' UTC')} [${pid}]: [${n + k}-1] user=app,db=shop `;
    seen.set(pid, n + 3);
    const ms = r() < 0.03 ? 1000 + r() * 4000 : r() * 900;
    const d = ms.toFixed(3);
    const sql = `SELECT name, total FROM orders_${i % 50} WHERE id = ${i}`;
    const plan = (k: number) => `${at(1, k)}LOG:  duration: ${(ms * 0.99).toFixed(3)} ms  plan:\n\tQuery Text: ${sql}\n\tSeq Scan on orders_${i % 50}  (cost=0.00..25.88 rows=6 width=32)\n\t  Filter: (id = ${i})\n`;
    switch (i % 5) {
      case 0: out.push(`${at(2, 0)}LOG:  duration: ${d} ms  statement: SELECT name, total\n\t  FROM orders_${i % 50}\n\t WHERE id = ${i}\n`); break;
      case 1: out.push(plan(0) + `${at(2, 1)}LOG:  duration: ${d} ms  statement: ${sql}\n`); break;
      case 2: out.push(`${at(2, 0)}LOG:  duration: ${d} ms  execute <unnamed>: ${sql}\n${at(2, 1)}DETAIL:  parameters: $1 = '${i}'\n` + plan(2)); break;
      case 3: out.push(plan(0)); break;
      default: out.push(`${at(2, 0)}LOG:  duration: ${d} ms  execute S_${i % 7}: ${sql}\n${at(2, 1)}DETAIL:  parameters: $1 = '${i}'\n`);
    }
  }
  return out;
}
