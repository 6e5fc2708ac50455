import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { freeBasePort, freePort } from '../bench/harness/ports.js';
import { CLI, slowq, startProcess, stop, type Proc } from '../bench/harness/processes.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import { generateLines } from '../src/workload/generator.js';
import { processTestDir } from './support/cluster.js';

// What an operator installs (deploy/, README "Deploying") is checked with the tools that will read it:
// - the systemd units with `systemd-analyze verify` and `security --offline`, the sysusers file with
//   `systemd-sysusers --dry-run`, and the units' SystemCallFilter= against every system call slowq makes
//   (server side and a client, run under strace);
// - the Prometheus rules with `promtool check rules` and `promtool test rules`, and loaded into a real
//   Prometheus that scrapes a real `slowq up`: they evaluate, a healthy pipeline fires no critical alert, and
//   a consumer that stops answering makes SlowqConsumerAway and SlowqSourceStuck pending or firing.

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SYSTEMD = join(REPO_ROOT, 'deploy', 'systemd');
const RULES = join(REPO_ROOT, 'deploy', 'prometheus', 'slowq-rules.yml');
const RULES_TEST = join(REPO_ROOT, 'deploy', 'prometheus', 'slowq-rules.test.yml');
const UNITS = ['slowq-server.service', 'slowq-agent.service'];
/** Where the units expect `npm install -g --prefix /usr/local` to have put the CLI. */
const INSTALLED_BIN = '/usr/local/bin/slowq';

function run(cmd: string, args: string[], timeoutMs = 60_000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message} (sh .ci/install-system.sh installs it)`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A unit as shipped, written to `dir` with its ExecStart binary pointed at this checkout's bin/slowq.
 * `systemd-analyze verify` checks that the binary of every Exec line exists and is executable; slowq is not
 * installed in /usr/local/bin on a test machine, so the check would fail on that alone. Only the path changes:
 * every other line is verified as shipped.
 */
function unitForVerify(name: string, dir: string): string {
  const text = readFileSync(join(SYSTEMD, name), 'utf8');
  assert.ok(text.includes(`ExecStart=${INSTALLED_BIN} `), `${name}: ExecStart runs ${INSTALLED_BIN}`);
  const path = join(dir, name);
  writeFileSync(path, text.replaceAll(INSTALLED_BIN, join(REPO_ROOT, 'bin', 'slowq')));
  return path;
}

/** `Key=value` lines of a unit, in order (comments and sections left out). */
function directives(name: string, key: string): string[] {
  return readFileSync(join(SYSTEMD, name), 'utf8').split('\n')
    .filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1).trim());
}

const groupCache = new Map<string, Set<string>>();
/** The system calls of a `@group` (nested groups expanded), as this systemd knows them. */
function syscallGroup(group: string): Set<string> {
  const cached = groupCache.get(group);
  if (cached) return cached;
  const r = run('systemd-analyze', ['syscall-filter', group]);
  assert.equal(r.status, 0, `systemd-analyze syscall-filter ${group}: ${r.stderr}`);
  const out = new Set<string>();
  const lines = r.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  for (const item of lines.slice(1)) { // the first line is the group's own name
    if (item.startsWith('@')) for (const s of syscallGroup(item)) out.add(s);
    else out.add(item);
  }
  groupCache.set(group, out);
  return out;
}

/** What a unit's SystemCallFilter= lines allow: an allow-list first, then `~` lines take from it, others add. */
function allowedSyscalls(unit: string): Set<string> {
  const allowed = new Set<string>();
  const lines = directives(unit, 'SystemCallFilter');
  assert.ok(lines.length > 0 && !lines[0]!.startsWith('~'), `${unit}: SystemCallFilter= starts with an allow-list`);
  for (const line of lines) {
    const deny = line.startsWith('~');
    for (const item of (deny ? line.slice(1) : line).split(/\s+/).filter(Boolean)) {
      for (const s of item.startsWith('@') ? syscallGroup(item) : [item]) {
        if (deny) allowed.delete(s);
        else allowed.add(s);
      }
    }
  }
  return allowed;
}

/** The system calls in an `strace -c` summary. */
function syscallsIn(summaryFile: string): Set<string> {
  const out = new Set<string>();
  for (const line of readFileSync(summaryFile, 'utf8').split('\n')) {
    const cols = line.trim().split(/\s+/);
    const name = cols[cols.length - 1]!;
    if (cols.length >= 5 && /^\d/.test(cols[0]!) && /^[a-z_0-9]+$/.test(name) && name !== 'total') out.add(name);
  }
  return out;
}

/** Pids whose parent is `pid` (from /proc; strace's child is the traced program). */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Runs `slowq ARGS` under `strace -f -c`; stopTraced() sends SIGTERM to slowq itself (not to strace, which would detach). */
function traced(name: string, args: string[], summary: string): { proc: Proc; stopTraced: () => Promise<number | null> } {
  const proc = startProcess(name, 'strace', ['-f', '-qq', '-c', '-o', summary, '--', process.execPath, CLI, ...args]);
  return {
    proc,
    stopTraced: async () => {
      const pid = await waitFor(`the process strace runs for ${name}`, () => childPids(proc.child.pid!)[0], 10_000, 50);
      process.kill(pid, 'SIGTERM');
      const t = setTimeout(() => proc.child.kill('SIGKILL'), 60_000);
      const code = await proc.exited;
      clearTimeout(t);
      return code;
    },
  };
}

async function httpOk(url: string): Promise<boolean> {
  try {
    return (await fetch(url)).status === 200;
  } catch {
    return false;
  }
}

describe('deploy/systemd: the units', () => {
  const dir = processTestDir('slowq-deploy-systemd-');

  it('pass systemd-analyze verify, with nothing to say', () => {
    for (const name of UNITS) {
      const path = unitForVerify(name, dir);
      const r = run('systemd-analyze', ['verify', path]);
      assert.equal(r.status, 0, `${name}: systemd-analyze verify failed:\n${r.stderr}${r.stdout}`);
      // unknown keys, keys in the wrong section and bad values are warnings with exit status 0
      assert.equal((r.stderr + r.stdout).trim(), '', `${name}: systemd-analyze verify warns:\n${r.stderr}${r.stdout}`);
    }
  });

  it('are sandboxed: systemd-analyze security rates their exposure OK, with JIT-compatible memory settings', () => {
    for (const name of UNITS) {
      const r = run('systemd-analyze', ['security', '--offline=true', '--no-pager', unitForVerify(name, dir)]);
      const level = /Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout);
      assert.ok(level, `${name}: no exposure level in:\n${r.stdout}${r.stderr}`);
      assert.ok(Number(level[1]) <= 2, `${name}: exposure ${level[1]} (over 2.0: sandboxing was loosened)\n${r.stdout}`);
      // V8 compiles code into memory it then makes executable: MemoryDenyWriteExecute=yes would kill Node
      assert.deepEqual(directives(name, 'MemoryDenyWriteExecute'), ['no'], `${name}: MemoryDenyWriteExecute must be off`);
      for (const key of ['NoNewPrivileges', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'LockPersonality', 'ProtectKernelTunables', 'ProtectKernelModules', 'ProtectKernelLogs']) {
        assert.deepEqual(directives(name, key), ['yes'], `${name}: ${key}=yes`);
      }
      assert.deepEqual(directives(name, 'ProtectSystem'), ['strict'], `${name}: ProtectSystem=strict`);
      assert.deepEqual(directives(name, 'RestrictAddressFamilies'), ['AF_UNIX AF_INET AF_INET6'], name);
      assert.deepEqual(directives(name, 'KillMode'), ['mixed'], `${name}: SIGTERM to slowq alone; it stops its children in order`);
      assert.deepEqual(directives(name, 'User'), ['slowq'], name);
    }
    assert.deepEqual(directives('slowq-agent.service', 'SupplementaryGroups'), ['adm'], 'the agent reads the databases\' logs through group adm');
    assert.deepEqual(directives('slowq-server.service', 'SupplementaryGroups'), [], 'the server side does not read the databases\' logs');
  });

  it('the sysusers file makes the user the units run as (systemd-sysusers --dry-run into an empty root)', () => {
    const root = join(dir, 'sysroot');
    mkdirSync(join(root, 'etc'), { recursive: true });
    const r = run('systemd-sysusers', ['--root', root, '--dry-run', join(SYSTEMD, 'slowq.sysusers')]);
    assert.equal(r.status, 0, `systemd-sysusers failed:\n${r.stderr}${r.stdout}`);
    assert.match(r.stderr + r.stdout, /Creating user '?slowq'?/, r.stderr + r.stdout);
  });

  it('run commands and flags this slowq has', () => {
    const server = directives('slowq-server.service', 'ExecStart')[0]!;
    assert.match(server, /^\/usr\/local\/bin\/slowq up --config \/etc\/slowq\/server\.yaml --data \/var\/lib\/slowq$/);
    const help = run(process.execPath, [CLI, 'up', '--help']);
    assert.equal(help.status, 0, help.stderr);
    for (const flag of ['--config <file>', '--data <dir>']) assert.ok(help.stdout.includes(flag), `slowq up --help has no ${flag}:\n${help.stdout}`);
    assert.deepEqual(directives('slowq-server.service', 'StateDirectory'), ['slowq'], '--data /var/lib/slowq is the StateDirectory');
    assert.match(directives('slowq-agent.service', 'ExecStart')[0]!, /^\/usr\/local\/bin\/slowq agent --config \/etc\/slowq\/agent\.yaml$/);
  });

  it('allow every system call slowq makes: `slowq up` and `slowq agent`, under strace, start, work and stop', { timeout: 240_000 }, async () => {
    const base = await freeBasePort();
    const data = join(dir, 'strace-server');
    const file = join(dir, 'strace-db.jsonl');
    writeFileSync(file, generateLines(300, { seed: 5, idPrefix: 's' }).join('\n') + '\n');
    const upSummary = join(dir, 'strace-up.txt');
    const clientSummary = join(dir, 'strace-client.txt');
    const up = traced('up', ['up', '--data', data, '--port', String(base), '--consumers', '1', '--quiet'], upSummary);
    const http = `http://127.0.0.1:${base + 4}`;
    await waitFor(`/healthz of slowq up under strace (output: ${up.proc.output().slice(-1000)})`, () => httpOk(`${http}/healthz`), 120_000, 250);
    // what the agent's unit runs: `slowq agent --config FILE`
    const agentConfig = join(dir, 'strace-agent.yaml');
    writeFileSync(agentConfig, `master: tcp://127.0.0.1:${base}\ndata: ${join(dir, 'strace-agent')}\ninputs:\n  - { source: db, format: jsonl, paths: [${JSON.stringify(file)}] }\n`);
    const client = traced('agent', ['agent', '--config', agentConfig], clientSummary);
    await waitFor('the client\'s records acked', async () => {
      const text = await (await fetch(`${http}/metrics`)).text();
      const m = /slowq_client_records_acked_total\{[^}]*source="db"[^}]*\} (\d+)/.exec(text);
      return m !== null && Number(m[1]) >= 300;
    }, 120_000, 500);
    assert.equal(await client.stopTraced(), 0, `agent under strace: ${client.proc.output().slice(-2000)}`);
    assert.equal(await up.stopTraced(), 0, `slowq up under strace: ${up.proc.output().slice(-2000)}`);

    for (const [unit, summary] of [['slowq-server.service', upSummary], ['slowq-agent.service', clientSummary]] as const) {
      const used = syscallsIn(summary);
      assert.ok(used.size > 30 && (used.has('epoll_wait') || used.has('epoll_pwait')), `${summary}: ${[...used].join(' ')}`);
      const allowed = allowedSyscalls(unit);
      const refused = [...used].filter((s) => !allowed.has(s));
      assert.deepEqual(refused, [], `${unit}: SystemCallFilter= would refuse these calls slowq makes`);
    }
  });
});

interface RuleDoc {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface RuleTestDoc {
  tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }>;
}

function rulesFromFile(): RuleDoc[] {
  const doc = parseYaml(readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: RuleDoc[] }> };
  return doc.groups.flatMap((g) => g.rules);
}

interface PromRule { name: string; type: string; health: string; lastError?: string; state?: string; lastEvaluation: string; labels?: Record<string, string> }
interface PromAlert { labels: Record<string, string>; state: 'pending' | 'firing' | 'inactive' }

describe('deploy/prometheus: the alerting rules', () => {
  const dir = processTestDir('slowq-deploy-prom-');

  it('pass promtool check rules; every rule has for:, a severity, summary, description and runbook', () => {
    const r = run('promtool', ['check', 'rules', RULES]);
    assert.equal(r.status, 0, `promtool check rules:\n${r.stdout}${r.stderr}`);
    const rules = rulesFromFile();
    assert.ok(rules.length >= 10, `${rules.length} rules`);
    for (const rule of rules) {
      assert.ok(rule.for !== undefined, `${rule.alert}: no for:`);
      assert.ok(['critical', 'warning', 'info'].includes(rule.labels?.severity ?? ''), `${rule.alert}: severity ${rule.labels?.severity}`);
      for (const a of ['summary', 'description', 'runbook']) assert.ok((rule.annotations?.[a] ?? '').length > 10, `${rule.alert}: annotation ${a}`);
    }
  });

  it('pass their unit tests (promtool test rules), which show each rule firing and not firing', () => {
    const r = run('promtool', ['test', 'rules', RULES_TEST]);
    assert.equal(r.status, 0, `promtool test rules:\n${r.stdout}${r.stderr}`);
    const cases = (parseYaml(readFileSync(RULES_TEST, 'utf8')) as RuleTestDoc).tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const rule of rulesFromFile()) {
      const mine = cases.filter((c) => c.alertname === rule.alert);
      assert.ok(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${rule.alert}: no test where it fires`);
      assert.ok(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${rule.alert}: no test where it does not fire`);
    }
  });

  it('load into a real Prometheus scraping a real `slowq up`: they evaluate, a healthy pipeline fires nothing critical, a stopped consumer fires its alerts', { timeout: 300_000 }, async () => {
    const base = await freeBasePort();
    const data = join(dir, 'server');
    const file = join(dir, 'db.jsonl');
    writeFileSync(file, generateLines(2000, { seed: 23, idPrefix: 'p' }).join('\n') + '\n');
    const up = slowq('up', ['up', '--data', data, '--port', String(base), '--consumers', '1', '--quiet']);
    const http = `http://127.0.0.1:${base + 4}`;
    await waitFor(`/healthz of slowq up (output: ${up.output().slice(-1000)})`, () => httpOk(`${http}/healthz`), 90_000, 250);
    const client = slowq('client', ['client', '--master', `tcp://127.0.0.1:${base}`, '--source', 'db', '--format', 'jsonl', '--data', join(dir, 'client'), file]);

    const promPort = await freePort();
    const prom = `http://127.0.0.1:${promPort}`;
    const config = join(dir, 'prometheus.yml');
    writeFileSync(config, [
      'global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }',
      `rule_files: [${JSON.stringify(RULES)}]`,
      'scrape_configs:',
      `  - { job_name: slowq, static_configs: [{ targets: ['127.0.0.1:${base + 4}'] }] }`,
      '',
    ].join('\n'));
    const prometheus = startProcess('prometheus', 'prometheus', [
      `--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn',
    ]);
    after(() => stop(prometheus));
    const api = async <T>(path: string): Promise<T> => {
      const r = await fetch(`${prom}${path}`);
      const body = await r.json() as { status: string; data: T; error?: string };
      assert.equal(body.status, 'success', `${path}: ${body.error}`);
      return body.data;
    };
    await waitFor(`Prometheus ready (output: ${prometheus.output().slice(-1000)})`, () => httpOk(`${prom}/-/ready`), 60_000, 250);
    const rules = async () => (await api<{ groups: Array<{ rules: PromRule[] }> }>('/api/v1/rules')).groups.flatMap((g) => g.rules);
    const alerts = async () => (await api<{ alerts: PromAlert[] }>('/api/v1/alerts')).alerts;
    const query = async (q: string) => (await api<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(`/api/v1/query?query=${encodeURIComponent(q)}`)).result;

    // Healthy: the target is up, the client's records are acked, the consumer is alive; every rule loaded
    // and has been evaluated since, without an error.
    await waitFor('Prometheus to see the pipeline healthy', async () => {
      const [target, acked, away] = await Promise.all([
        query('up{job="slowq"} == 1'), query('slowq_client_records_acked_total{source="db"} >= 2000'),
        query('slowq_master_consumers_alive == slowq_master_consumers_configured'),
      ]);
      return target.length === 1 && acked.length === 1 && away.length === 1;
    }, 120_000, 500);
    const healthyAt = Date.now();
    const loaded = await waitFor('every rule evaluated after the pipeline was healthy', async () => {
      const all = await rules();
      return all.length > 0 && all.every((r) => Date.parse(r.lastEvaluation) > healthyAt) ? all : undefined;
    }, 30_000, 250);
    assert.deepEqual(loaded.map((r) => r.name).sort(), rulesFromFile().map((r) => r.alert).sort(), 'Prometheus loaded every rule of the file');
    for (const r of loaded) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError}`);
    // Several evaluations of a healthy pipeline: no critical alert, not even pending.
    for (let i = 0; i < 5; i++) {
      const critical = (await alerts()).filter((a) => a.labels.severity === 'critical');
      assert.deepEqual(critical, [], 'a healthy pipeline fires no critical alert');
      await sleep(1000);
    }

    // A fault: the only consumer stops answering (SIGSTOP: alive to `up`, silent to the master). The master
    // finds it away after its heartbeat timeout and answers the client's batches "retry"; the client's oldest
    // batch waits.
    const consumerPid = Number(readFileSync(join(data, 'run', 'consumer-c0.pid'), 'utf8').trim());
    process.kill(consumerPid, 'SIGSTOP');
    let stopped = true;
    after(() => {
      if (stopped) process.kill(consumerPid, 'SIGCONT');
    });
    appendFileSync(file, generateLines(200, { seed: 24, idPrefix: 'q' }).join('\n') + '\n');
    const active = async (name: string) => (await alerts()).filter((a) => a.labels.alertname === name && (a.state === 'pending' || a.state === 'firing'));
    const away = await waitFor('SlowqConsumerAway pending or firing', async () => {
      const a = await active('SlowqConsumerAway');
      return a.length > 0 ? a : undefined;
    }, 60_000, 500);
    assert.equal(away[0]!.labels.severity, 'critical');
    const stuck = await waitFor('SlowqSourceStuck pending or firing for source db', async () => {
      const a = (await active('SlowqSourceStuck')).filter((x) => x.labels.source === 'db');
      return a.length > 0 ? a : undefined;
    }, 120_000, 1000);
    assert.equal(stuck[0]!.labels.severity, 'critical');

    // Back: the alerts go.
    process.kill(consumerPid, 'SIGCONT');
    stopped = false;
    await waitFor('SlowqConsumerAway and SlowqSourceStuck inactive again', async () =>
      (await active('SlowqConsumerAway')).length === 0 && (await active('SlowqSourceStuck')).length === 0, 120_000, 1000);
    await stop(client);
    await stop(up, 30_000);
  });
});
