import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig, ConfigError } from '../src/cli/config-file.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { slowq } from '../bench/harness/processes.js';
import { processTestDir } from './support/cluster.js';

// A configuration file with a wrong type, an unknown key or bad syntax is refused with an error that names
// the file and the key, and the command exits non-zero at once: every command that takes --config, and
// `slowq up` before it starts any service (so a typo never becomes a crash loop of children).

interface Case {
  name: string;
  file: string;
  text: string;
  /** what the error must mention */
  mentions: string[];
}

const CASES: Case[] = [
  { name: 'unknown top-level key', file: 'a.yaml', text: 'rulez:\n  finished_ms: 10\n', mentions: ['"rulez"'] },
  { name: 'unknown rules key', file: 'b.yaml', text: 'rules:\n  finished: 10\n', mentions: ['rules', '"finished"'] },
  { name: 'string where a number is needed', file: 'c.yaml', text: 'rules:\n  finished_ms: "1s"\n', mentions: ['rules.finished_ms'] },
  { name: 'negative threshold', file: 'd.yaml', text: 'rules:\n  running_ms: -5\n', mentions: ['rules.running_ms'] },
  { name: 'boolean threshold in JSON', file: 'e.json', text: '{"rules":{"stalled_ms":true}}', mentions: ['rules.stalled_ms'] },
  { name: 'overrides not a list', file: 'f.yaml', text: 'rules:\n  overrides: {db: x}\n', mentions: ['rules.overrides'] },
  { name: 'unknown match key', file: 'g.yaml', text: 'rules:\n  overrides:\n    - match: {dbname: shop}\n      finished_ms: 5\n', mentions: ['rules.overrides[0].match', '"dbname"'] },
  { name: 'match value of the wrong type', file: 'h.yaml', text: 'rules:\n  overrides:\n    - match: {db: [1, 2]}\n', mentions: ['rules.overrides[0].match.db'] },
  { name: 'not a map', file: 'i.yaml', text: '- just\n- a list\n', mentions: ['must be a map'] },
  { name: 'YAML syntax error', file: 'j.yaml', text: 'rules:\n  finished_ms: [1, 2\n', mentions: ['not valid YAML'] },
  { name: 'JSON syntax error', file: 'k.json', text: '{"rules": {"finished_ms": 1,}}', mentions: ['not valid JSON'] },
];

describe('config errors', () => {
  const dir = processTestDir('slowq-config-errors-');
  const input = join(dir, 'in.jsonl');
  writeFileSync(input, '{"ts":1,"state":"finished","id":"q1","duration_ms":5000,"sql":"select 1"}\n');
  for (const c of CASES) writeFileSync(join(dir, c.file), c.text);

  it('parseConfig names the key for each kind of mistake', () => {
    const bad: Array<[unknown, string]> = [
      [{ rules: { finished_ms: '10' } }, 'rules.finished_ms'],
      [{ rules: { critical_ms: Number.NaN } }, 'rules.critical_ms'],
      [{ rules: { done_retention_ms: 'x' } }, 'rules.done_retention_ms'],
      [{ rules: { overrides: [{ match: { source: 1 } }] } }, 'rules.overrides[0].match.source'],
      [{ rules: { overrides: [{ match: {}, colour: 'red' }] } }, '"colour"'],
      [{ rules: { overrides: [{ finished_ms: 3 }] } }, 'rules.overrides[0].match'],
      [{ rules: [] }, 'rules'],
      [{ nonsense: 1 }, '"nonsense"'],
    ];
    for (const [raw, key] of bad) {
      assert.throws(() => parseConfig(raw, 'test.yaml'), (err: unknown) => {
        assert.ok(err instanceof ConfigError, `a ConfigError for ${JSON.stringify(raw)}`);
        assert.ok(err.message.includes(key), `"${err.message}" names ${key}`);
        assert.ok(err.message.includes('test.yaml'), `"${err.message}" names the file`);
        return true;
      });
    }
    // and the good ones still pass
    const ok = parseConfig({ rules: { finished_ms: 5, overrides: [{ match: { db: 'x' }, running_ms: 1 }] } });
    assert.equal(ok.rules.defaults.finishedMs, 5);
  });

  for (const c of CASES) {
    it(`slowq evaluate: ${c.name} → exit ≠ 0, error names it`, async () => {
      const p = slowq('evaluate', ['evaluate', '--config', join(dir, c.file), '--format', 'jsonl', '--source', 's', input]);
      const code = await p.exited;
      assert.notEqual(code, 0, p.output());
      for (const m of c.mentions) assert.ok(p.output().includes(m), `output names ${m}: ${p.output()}`);
      assert.ok(p.output().includes(c.file), `output names the file: ${p.output()}`);
      assert.ok(!p.output().includes('    at '), `a message, not a stack trace: ${p.output()}`);
    });
  }

  it('a missing config file is an error naming it', async () => {
    const p = slowq('evaluate', ['evaluate', '--config', join(dir, 'nope.yaml'), '--format', 'jsonl', '--source', 's', input]);
    assert.notEqual(await p.exited, 0);
    assert.match(p.output(), /nope\.yaml/);
  });

  it('slowq consumer refuses a bad config before touching its state', async () => {
    const data = join(dir, 'consumer-data');
    const p = slowq('consumer', ['consumer', '--name', 'c0', '--data', data, '--config', join(dir, 'c.yaml'),
      '--master', 'tcp://127.0.0.1:1', '--monitor', 'tcp://127.0.0.1:2']);
    assert.notEqual(await p.exited, 0);
    assert.match(p.output(), /rules\.finished_ms/);
    assert.ok(!existsSync(data) || readdirSync(data).length === 0, 'no state written');
  });

  it('slowq client refuses --master-key given neither once nor once per --master, naming both options', async () => {
    const p = slowq('client', ['client', '--master', 'tcp://127.0.0.1:1', '--master', 'tcp://127.0.0.1:2', '--master', 'tcp://127.0.0.1:3',
      '--master-key', join(dir, 'a.pub'), '--master-key', join(dir, 'b.pub'), '--source', 'db', '--format', 'jsonl', '--data', join(dir, 'client-data'), input]);
    assert.notEqual(await p.exited, 0);
    assert.match(p.output(), /--master-key given 2 times for 3 --master endpoints/);
  });

  it('slowq up refuses a bad config at once, starting no service', async () => {
    const base = await freeBasePort();
    const data = join(dir, 'up-data');
    const p = slowq('up', ['up', '--data', data, '--port', String(base), '--consumers', '1', '--config', join(dir, 'g.yaml'), '--quiet']);
    const code = await Promise.race([p.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 20_000))]);
    assert.notEqual(code, 'running', 'up exits instead of running with a bad config');
    assert.notEqual(code, 0);
    assert.match(p.output(), /"dbname"/);
    assert.ok(!existsSync(join(data, 'run')) || readdirSync(join(data, 'run')).length === 0, 'no service was started');
  });

  it('slowq up refuses a bad threshold flag at once', async () => {
    const base = await freeBasePort();
    const p = slowq('up', ['up', '--data', join(dir, 'up-data2'), '--port', String(base), '--consumers', '1', '--finished-ms', 'soon', '--quiet']);
    const code = await Promise.race([p.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 20_000))]);
    assert.notEqual(code, 'running');
    assert.notEqual(code, 0);
    assert.match(p.output(), /--finished-ms/);
  });
});
