import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { stringify as toYaml } from 'yaml';
import { readAlerts, readJson } from '../bench/harness/files.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { startProcess, stop } from '../bench/harness/processes.js';
import { waitFor } from '../bench/harness/wait.js';
import { MySqlSlowLogGenerator } from '../src/workload/mysql-slow-generator.js';
import { PG_PREFIX, pgLines, sleepOnServer } from './support/agent-inputs.js';
import { startMariaDb } from './support/dbservers.js';

// What a user gets: the repository packed with `npm pack` (of the dist/ already built: no scripts run) and
// installed with `npm install -g` into a temporary prefix, as an operator would. From that prefix's
// bin/slowq: --version, --help, every command's (and sub-command's) --help, found in the help itself so a
// new command is covered without touching this test, and the benches at smoke size. The installed copy
// sits outside the repository, so nothing can resolve to the repository's node_modules (devDependencies
// such as TypeScript are not there). Needs the npm registry for the runtime dependencies. The installed `slowq agent`
// then feeds the installed `slowq up` from a MariaDB slow log, a PostgreSQL log directory and a probe of a real
// MariaDB, as an operator's first deployment would (the agent issue's "done when").

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** the environment of every child: no NODE_PATH or NODE_OPTIONS that could reach back into the repository */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_PATH;
  delete env.NODE_OPTIONS;
  return env;
}

function run(command: string, args: string[], cwd: string, timeoutMs: number): Run {
  const r = spawnSync(command, args, { cwd, env: childEnv(), encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? `\n${r.error.message}` : '') };
}

/** the sub-command names in a commander help text ("Commands:" up to the next blank line), without `help` */
function commandsIn(help: string): string[] {
  const lines = help.split('\n');
  const start = lines.indexOf('Commands:');
  if (start < 0) return [];
  const names: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '') break;
    const m = /^ {2}(\S+)/.exec(line); // a wrapped description continues further indented
    if (m && m[1] !== 'help') names.push(m[1]!);
  }
  return names;
}

/** every file under dir, relative to it */
function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(dir).flatMap((name) => {
    const rel = prefix + name;
    return statSync(join(dir, name)).isDirectory() ? filesUnder(join(dir, name), `${rel}/`) : [rel];
  });
}

/** the specifiers a compiled module imports or requires ('pino', 'node:fs', './x.js'); `import type` is gone */
function importSpecifiers(js: string): string[] {
  // `from` as a keyword, not the end of a string such as 'from' (a key or a list item in the code)
  return [...js.matchAll(/(?:(?<!['"\w$.])from\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\)\s*\(\s*)'([^']+)'/g)].map((m) => m[1]!);
}

/** the package a bare specifier names ('mysql2/promise' → 'mysql2', '@s/x/y' → '@s/x'); undefined for builtins */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('node:') || builtinModules.includes(specifier.split('/')[0]!)) return undefined;
  return specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');
}

describe(`the packed ${PACKAGE.name}, installed into a temporary prefix`, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'slowq-package-'));
  const prefix = join(tmp, 'prefix');
  const work = join(tmp, 'work');
  const slowq = join(prefix, 'bin', 'slowq');
  const installed = join(prefix, 'lib', 'node_modules', PACKAGE.name);
  let packedFiles: string[] = [];
  after(() => rmSync(tmp, { recursive: true, force: true }));

  before(() => {
    mkdirSync(work);
    const pack = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], REPO_ROOT, 120_000);
    assert.equal(pack.code, 0, pack.stderr);
    const [packed] = JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    packedFiles = packed!.files.map((f) => f.path);
    const install = run('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', join(tmp, packed!.filename)], tmp, 180_000);
    assert.equal(install.code, 0, install.stderr);
    assert.ok(existsSync(slowq), `no ${slowq} after the install:\n${install.stdout}${install.stderr}`);
  });

  it('ships the CLI and the benches, and no tests or TypeScript sources', () => {
    assert.ok(packedFiles.includes('bin/slowq'), 'bin/slowq');
    assert.ok(packedFiles.includes('dist/src/cli/main.js'), 'dist/src/cli/main.js');
    assert.ok(packedFiles.some((f) => f.startsWith('dist/bench/')), 'the benches (slowq bench loads them)');
    const unwanted = packedFiles.filter((f) => /(^|\/)test\/|\.test\.js|\.ts$/.test(f));
    assert.deepEqual(unwanted, [], 'tests or TypeScript sources in the tarball');
  });

  it('needs only what it ships and its dependencies: every module a shipped module imports', () => {
    assert.ok(!existsSync(join(installed, 'node_modules', 'typescript')), 'TypeScript got installed');
    const modules = filesUnder(installed).filter((f) => f.endsWith('.js') && !f.startsWith('node_modules/'));
    const packages = new Set<string>();
    const missing: string[] = [];
    for (const file of modules) {
      for (const specifier of importSpecifiers(readFileSync(join(installed, file), 'utf8'))) {
        if (specifier.startsWith('.')) {
          if (!existsSync(join(installed, dirname(file), specifier))) missing.push(`${file} → ${specifier}`);
        } else {
          const name = packageOf(specifier);
          if (name !== undefined) packages.add(name);
        }
      }
    }
    assert.deepEqual(missing, [], 'imported but not in the package');
    assert.ok(packages.has('commander'), 'the import scan finds the CLI parser');
    const undeclared = [...packages].filter((name) => !(name in PACKAGE.dependencies));
    assert.deepEqual(undeclared, [], 'imported at run time but not in "dependencies"');
  });

  it('--version prints the version in package.json', () => {
    const r = run(slowq, ['--version'], work, 30_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), PACKAGE.version);
  });

  it('--help, and every command\'s --help, sub-commands included', () => {
    const top = run(slowq, ['--help'], work, 30_000);
    assert.equal(top.code, 0, top.stderr);
    const commands = commandsIn(top.stdout);
    assert.ok(commands.length >= 10 && commands.includes('bench'), `commands found in --help: ${commands.join(', ')}`);
    const pending = commands.map((c) => [c]);
    const seen: string[] = [];
    // bounded: the command tree is a few dozen nodes at most
    while (pending.length > 0 && seen.length < 200) {
      const path = pending.shift()!;
      const r = run(slowq, [...path, '--help'], work, 30_000);
      assert.equal(r.code, 0, `slowq ${path.join(' ')} --help:\n${r.stderr}`);
      assert.ok(r.stdout.startsWith(`Usage: slowq ${path.join(' ')} `), `slowq ${path.join(' ')} --help:\n${r.stdout}`);
      seen.push(path.join(' '));
      for (const sub of commandsIn(r.stdout)) pending.push([...path, sub]);
    }
    assert.ok(seen.includes('silence add'), `sub-commands reached: ${seen.join(', ')}`);
  });

  it('the installed slowq agent: check-config, then a slow log, a PostgreSQL log directory and a probe of a real MariaDB feeding an installed slowq up', { timeout: 240_000 }, async () => {
    const base = await freeBasePort();
    const slowLog = join(work, 'mariadb-slow.log');
    const maria = new MySqlSlowLogGenerator({ seed: 5, flavor: 'mariadb' });
    let text = maria.banner();
    for (let i = 0; i < 300; i++) text += maria.next().text;
    writeFileSync(slowLog, text);
    const pgDir = join(work, 'pglog');
    mkdirSync(pgDir);
    writeFileSync(join(pgDir, 'postgresql-1.log'), pgLines(0, 300));
    const db = await startMariaDb();
    const data = join(work, 'agent-data');
    const config = join(work, 'agent.yaml');
    writeFileSync(config, toYaml({
      master: `tcp://127.0.0.1:${base}`, data, inputs: [
        { name: 'slowlog', source: 'db-01', format: 'mysql-slow', paths: [slowLog] },
        { name: 'pg', source: 'pg-01', format: 'postgres', log_line_prefix: PG_PREFIX, paths: [join(pgDir, '*.log')] },
        { name: 'probe', source: 'db-01-live', probe: { mysql: db.url, interval: 200 } },
      ],
    }));
    const check = run(slowq, ['check-config', config], work, 30_000);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /agent configuration OK: .*3 inputs/);
    const server = join(work, 'server');
    const up = startProcess('installed-up', slowq, ['up', '--data', server, '--port', String(base), '--consumers', '1', '--quiet', '--running-ms', '1000'], childEnv());
    const agent = startProcess('installed-agent', slowq, ['agent', '--config', config], childEnv());
    const diagnose = (err: unknown): never => {
      throw new Error(`${(err as Error).message}\n--- agent:\n${agent.output().slice(-2000)}\n--- up:\n${up.output().slice(-2000)}`);
    };
    try {
      await waitFor('the installed agent\'s probe polling', () => {
        const st = readJson<{ inputs: Record<string, { probe?: { polls: number } }> }>(join(data, 'stats.json'));
        return (st?.inputs.probe?.probe?.polls ?? 0) > 0;
      }, 90_000, 100).catch(diagnose);
      await sleepOnServer(db, 2.5);
      await waitFor('alerts from all three inputs', () => {
        const seen = new Set(readAlerts(join(server, 'alerts.jsonl')).map((a) => a.source));
        return seen.has('db-01') && seen.has('pg-01') && seen.has('db-01-live');
      }, 90_000, 250).catch(diagnose);
      assert.equal(await stop(agent), 0, agent.output().slice(-2000));
    } finally {
      await stop(agent);
      await stop(up);
      await db.stop();
    }
  });

  for (const which of ['all', 'burst', 'design']) {
    it(`bench ${which} --smoke runs from the installed package`, () => {
      const r = run(slowq, ['bench', which, '--smoke', '--no-pt', '--dir', work], work, 300_000);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /### .*\n[\s\S]*\n\|.*\|\n\|[-:|]+\|\n/, 'a titled markdown table');
      assert.match(r.stderr, /slowq bench: done/);
    });
  }
});
