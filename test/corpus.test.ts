import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CORPUS_DIR, REPOSITORY_CORPUS_DIR, corpusFile, corpusFiles } from './support/corpus.js';

// The corpus tests must fail, never skip nor pass having compared nothing, when their data is not there
// (a fresh clone once "passed" digest-corpus while the corpus lived outside the repository).

describe('corpus helpers fail on missing data, naming it', () => {
  let root = '';
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'slowq-corpus-'));
    mkdirSync(join(root, 'empty'));
    mkdirSync(join(root, 'only-folders', 'sub'), { recursive: true });
    mkdirSync(join(root, 'one'));
    writeFileSync(join(root, 'one', 'b.log'), 'x');
    writeFileSync(join(root, 'one', 'a.log'), '');
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('a missing folder throws', () => {
    assert.throws(() => corpusFiles('absent', root), (err: Error) => err.message.includes(join(root, 'absent')));
  });

  it('an empty folder throws', () => {
    assert.throws(() => corpusFiles('empty', root), (err: Error) => err.message.includes(join(root, 'empty')) && /holds no file/.test(err.message));
  });

  it('a folder holding only folders throws', () => {
    assert.throws(() => corpusFiles('only-folders', root), /holds no file/);
  });

  it('a folder with files lists them sorted (an empty file counts: it is data)', () => {
    assert.deepEqual(corpusFiles('one', root), ['a.log', 'b.log']);
  });

  it('a missing file throws, naming it', () => {
    assert.equal(corpusFile('one', 'a.log', root), join(root, 'one', 'a.log'));
    assert.throws(() => corpusFile('one', 'c.log', root), (err: Error) => err.message.includes(join(root, 'one', 'c.log')));
    assert.throws(() => corpusFile('only-folders', 'sub', root), /is missing/);
  });
});

describe('the corpus is in the repository', () => {
  it('without SLOWQ_CORPUS the tests read test/corpus/ of the repository', (t) => {
    t.diagnostic(`corpus: ${CORPUS_DIR}`);
    if (!process.env.SLOWQ_CORPUS) assert.equal(CORPUS_DIR, REPOSITORY_CORPUS_DIR);
    assert.match(REPOSITORY_CORPUS_DIR, /[/\\]test[/\\]corpus$/);
  });

  it('holds every file its README lists: 72 MySQL slow logs, their 72 pt-query-digest outputs, 22 PostgreSQL logs', () => {
    const logs = corpusFiles('mysql-slow', REPOSITORY_CORPUS_DIR);
    assert.equal(logs.length, 72);
    assert.deepEqual(
      corpusFiles('mysql-slow-expected', REPOSITORY_CORPUS_DIR),
      logs.map((f) => f.replace(/\.gz$/, '') + '.pt-query-digest.json').sort(),
    );
    assert.equal(corpusFiles('postgres', REPOSITORY_CORPUS_DIR).length, 22);
    corpusFile('', 'README.md', REPOSITORY_CORPUS_DIR);
  });
});

function withoutTestContext(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_TEST_CONTEXT: _, ...rest } = env;
  return rest;
}

describe('the corpus tests without their corpus', () => {
  let empty = '';
  before(() => {
    empty = mkdtempSync(join(tmpdir(), 'slowq-no-corpus-'));
  });
  after(() => rmSync(empty, { recursive: true, force: true }));

  it('fail (none skipped, none passing over nothing) when SLOWQ_CORPUS is an empty folder', async () => {
    const tests = ['digest-corpus', 'mysql-slow', 'postgres-parsers'].map((n) => fileURLToPath(new URL(`./${n}.test.js`, import.meta.url)));
    const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--test', '--test-concurrency=1', '--test-reporter=tap', ...tests],
        // without NODE_TEST_CONTEXT, which the runner sets for its children: it would make this run report
        // to the runner instead of running its own
        { env: { ...withoutTestContext(process.env), SLOWQ_CORPUS: empty }, timeout: 300_000, maxBuffer: 64 * 1024 * 1024 },
        (err, stdout) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout }),
      );
    });
    const count = (what: string): number => Number(new RegExp(`^# ${what} (\\d+)$`, 'm').exec(out.stdout)?.[1] ?? NaN);
    assert.notEqual(out.code, 0, 'the run fails');
    assert.equal(count('skipped'), 0, 'nothing skipped');
    // each file's corpus tests fail: the digest comparisons (a failed hook fails every test under it), the
    // MySQL chunking/resume tests (6 files × 2, plus the fingerprint one), every PostgreSQL corpus test
    assert.ok(count('fail') >= 40, `failures: ${count('fail')}`);
    for (const folder of ['mysql-slow', 'postgres']) assert.ok(out.stdout.includes(join(empty, folder)), `a failure names ${join(empty, folder)}`);
  });
});
