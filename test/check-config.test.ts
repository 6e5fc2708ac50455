import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { slowq } from '../bench/harness/processes.js';
import { checkConfig, CONFIG_KINDS, detectKind } from '../src/cli/config-kinds.js';
import { processTestDir } from './support/cluster.js';

// `slowq check-config FILE… [--kind server|agent]`: exit 0 and one line per good file; exit 1 naming the file
// and the key of the first problem of each bad one. The kind registry (src/cli/config-kinds.ts) takes another
// kind in one line, and a file with `inputs:` is told to be an agent's.

const GOOD = `receivers:
  - name: pager
    webhook: { url: "http://127.0.0.1:9/hook" }
  - name: archive
    file: { path: /tmp/slowq-archive.jsonl }
route:
  receiver: archive
  routes:
    - matchers: ["severity=critical"]
      receiver: pager
inhibit_rules:
  - source_matchers: ["severity=critical"]
    target_matchers: ["severity=warning"]
rate_limits:
  - receiver: pager
    rate: 10
rules:
  finished_ms: 2000
`;

interface Bad {
  name: string;
  file: string;
  text: string;
  /** the key (and what is wrong) the error must name */
  mentions: string[];
}

const BAD: Bad[] = [
  { name: 'unknown key in a route', file: 'typo.yaml', text: GOOD.replace('  receiver: archive', '  reciever: archive'), mentions: ['route', '"reciever"'] },
  { name: 'unknown top-level key', file: 'top.yaml', text: GOOD + 'rate_limit: []\n', mentions: ['"rate_limit"'] },
  { name: 'wrong type: a word as a number', file: 'type.yaml', text: GOOD.replace('rate: 10', 'rate: ten'), mentions: ['rate_limits[0].rate must be a number'] },
  { name: 'wrong type: a map as a list', file: 'list.yaml', text: GOOD.replace(/^inhibit_rules:\n(.*\n){2}/m, 'inhibit_rules: {a: 1}\n'), mentions: ['inhibit_rules must be a list'] },
  { name: 'wrong type: a threshold as a string', file: 'rules.json', text: '{"rules": {"running_ms": "10s"}}', mentions: ['rules.running_ms'] },
  { name: 'route to a receiver that does not exist', file: 'missing.yaml', text: GOOD.replace('receiver: pager\n', 'receiver: nobody\n'), mentions: ['route.routes[0].receiver', '"nobody"'] },
  { name: 'YAML syntax', file: 'syntax.yaml', text: 'route: [\n', mentions: ['not valid YAML'] },
];

describe('slowq check-config', () => {
  const dir = processTestDir('slowq-check-config-');
  const good = join(dir, 'good.yaml');
  writeFileSync(good, GOOD);
  for (const b of BAD) writeFileSync(join(dir, b.file), b.text);

  it('a good server file: exit 0 and a one-line summary', async () => {
    const p = slowq('check-config', ['check-config', good]);
    assert.equal(await p.exited, 0, p.output());
    const lines = p.output().trim().split('\n');
    assert.equal(lines.length, 1, p.output());
    assert.match(lines[0]!, /good\.yaml: server configuration OK: 2 receivers \(pager, archive\), 2 routes, 1 inhibit rule, 1 rate limit, thresholds finished 2000 ms/);
  });

  for (const b of BAD) {
    it(`${b.name}: exit 1, naming the file and the key`, async () => {
      const p = slowq('check-config', ['check-config', join(dir, b.file)]);
      assert.equal(await p.exited, 1, p.output());
      for (const m of [join(dir, b.file), ...b.mentions]) assert.ok(p.output().includes(m), `names ${m}: ${p.output()}`);
      assert.ok(!p.output().includes('    at '), `a message, not a stack trace: ${p.output()}`);
    });
  }

  it('several files: each is checked, exit 1 if any is bad; a missing file is named', async () => {
    const p = slowq('check-config', ['check-config', good, join(dir, 'typo.yaml'), join(dir, 'nope.yaml')]);
    assert.equal(await p.exited, 1);
    assert.match(p.output(), /good\.yaml: server configuration OK/);
    assert.match(p.output(), /typo\.yaml: route: unknown key "reciever"/);
    assert.match(p.output(), /cannot read .*nope\.yaml/);
  });

  it('--kind: an unknown kind is refused; a file with inputs: is checked as an agent\'s', async () => {
    const agent = join(dir, 'agent.yaml');
    writeFileSync(agent, 'inputs:\n  - path: /var/log/mysql/slow.log\n');
    const unknown = slowq('check-config', ['check-config', '--kind', 'nonsense', good]);
    assert.equal(await unknown.exited, 1);
    assert.match(unknown.output(), /--kind must be one of server/);
    const detected = slowq('check-config', ['check-config', agent]);
    assert.equal(await detected.exited, 1);
    assert.match(detected.output(), /agent\.yaml: master is missing/);
    const asServer = slowq('check-config', ['check-config', '--kind', 'server', agent]);
    assert.equal(await asServer.exited, 1);
    assert.match(asServer.output(), /unknown key "inputs"/);
  });

  it('the registry: one line adds a kind, and detection sends agent files to it', () => {
    assert.equal(detectKind('inputs: []\n', 'a.yaml'), 'agent');
    assert.equal(detectKind('{"inputs": []}', 'a.json'), 'agent');
    assert.equal(detectKind(GOOD, 'g.yaml'), 'server');
    assert.equal(detectKind('route: [', 'broken.yaml'), 'server');
    const agentChecker = CONFIG_KINDS.agent;
    CONFIG_KINDS.agent = (text, file) => (text.includes('path') ? { ok: true, summary: `${file}: agent OK` } : { ok: false, error: `${file}: inputs[0].path is required` });
    try {
      assert.deepEqual(checkConfig('inputs:\n  - path: x\n', 'a.yaml'), { ok: true, summary: 'a.yaml: agent OK' });
      assert.deepEqual(checkConfig('inputs:\n  - {}\n', 'a.yaml'), { ok: false, error: 'a.yaml: inputs[0].path is required' });
      assert.equal(checkConfig(GOOD, 'g.yaml').ok, true);
    } finally {
      if (agentChecker) CONFIG_KINDS.agent = agentChecker;
      else delete CONFIG_KINDS.agent;
    }
  });
});
