import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readAlerts, readJson } from '../bench/harness/files.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { kill9, slowq, type Proc } from '../bench/harness/processes.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import { diffIds, duplicateIds, idSet, processTestDir } from './support/cluster.js';

// What Filebeat's users hit, through the whole pipeline: rotation by rename, copytruncate, a partial last
// line, a file that appears later and matches the glob, and a client killed and restarted. Every record is
// a slow finished query with a unique id, so "delivered once" means: its alert is in alerts.jsonl exactly
// once, and the consumers' high-water marks add up to the number of records written.

const T0 = Date.UTC(2026, 10, 22, 6, 0, 0);
let n = 0;
const written: string[] = [];
function records(count: number, tag: string): string {
  let out = '';
  for (let i = 0; i < count; i++) {
    const id = `${tag}-${++n}`;
    written.push(id);
    out += JSON.stringify({ ts: T0 + n, state: 'finished', id, duration_ms: 1500, sql: `select ${n}` }) + '\n';
  }
  return out;
}

describe('files: rotation, truncation, partial lines, late files, client restart', () => {
  const dir = processTestDir('slowq-e2e-files-');
  const data = join(dir, 'server');
  let base = 0;
  let client: Proc;
  const alertsFile = join(data, 'alerts.jsonl');
  const startClient = () => slowq('client', ['client', '--master', `tcp://127.0.0.1:${base}`, '--source', 'db-f', '--format', 'jsonl',
    '--data', join(dir, 'client'), '--ack-timeout-ms', '1000', join(dir, 'rot.log'), join(dir, 'trunc.log'), join(dir, 'partial.log'), join(dir, 'later-*.log')]);
  const delivered = (count: number) => waitFor(`${count} alerts`, () => readAlerts(alertsFile).length >= count || undefined, 60_000);

  it('delivers every record exactly once', async () => {
    base = await freeBasePort();
    slowq('up', ['up', '--data', data, '--port', String(base), '--consumers', '2', '--quiet']);
    writeFileSync(join(dir, 'rot.log'), records(300, 'rot'));
    writeFileSync(join(dir, 'trunc.log'), records(200, 'trunc'));
    writeFileSync(join(dir, 'partial.log'), records(50, 'partial'));
    client = startClient();
    await delivered(550);

    // rename rotation: more lines reach the old file after the rename, then a new file appears
    renameSync(join(dir, 'rot.log'), join(dir, 'rot.log.1'));
    appendFileSync(join(dir, 'rot.log.1'), records(100, 'rot-late'));
    writeFileSync(join(dir, 'rot.log'), records(300, 'rot-new'));

    // copytruncate: the content is copied away, the file emptied and written again
    copyFileSync(join(dir, 'trunc.log'), join(dir, 'trunc.log.1'));
    truncateSync(join(dir, 'trunc.log'), 0);
    appendFileSync(join(dir, 'trunc.log'), records(120, 'trunc-new'));

    // a partial last line: half now, the rest later
    const line = records(1, 'partial-split');
    appendFileSync(join(dir, 'partial.log'), line.slice(0, 25));
    await sleep(700);
    appendFileSync(join(dir, 'partial.log'), line.slice(25) + records(20, 'partial-after'));

    // a file that appears later and matches the glob
    writeFileSync(join(dir, 'later-1.log'), records(150, 'later'));
    await delivered(written.length);

    // the client killed mid-stream and restarted: it resumes exactly after the last acked record
    appendFileSync(join(dir, 'later-1.log'), records(2000, 'restart'));
    await waitFor('some progress', () => readAlerts(alertsFile).length > written.length - 2000 + 10 || undefined, 30_000, 20);
    await kill9(client);
    appendFileSync(join(dir, 'later-1.log'), records(500, 'after-restart'));
    client = startClient();
    await delivered(written.length);
    await sleep(500);

    const got = readAlerts(alertsFile);
    assert.deepEqual(duplicateIds(got), []);
    assert.deepEqual(diffIds(idSet(got.map((a) => ({ ...a, id: a.queryId }))), new Set(written)), { missing: 0, extra: 0 });
    const applied = await waitFor('high-water marks', () => {
      const total = ['c0', 'c1'].map((c) => readJson<{ highWaterTotal: number }>(join(data, 'consumers', c, 'stats.json'))?.highWaterTotal ?? 0).reduce((x, y) => x + y, 0);
      return total === written.length ? total : undefined;
    }, 10_000);
    assert.equal(applied, written.length, 'each record applied once');
  });
});
