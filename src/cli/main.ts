import '../supervisor/follow-parent.js'; // first: a supervised service stops when its supervisor is gone
import { readFileSync } from 'node:fs';
import { Command } from 'commander';

// The `slowq` command line: one file per command under src/cli/, each exporting register(program).
// Only the module of the command being run is loaded: every service starts with just what it needs
// (loading all of them — pg, mysql2, prom-client, the dashboard… — cost ~0.5 s of every start, which a
// consumer restart pays). Help, or an unknown command, loads them all.

type Register = (program: Command) => void;

const COMMANDS: Record<string, () => Promise<{ register: Register }>> = {
  up: () => import('./up.js'),
  demo: () => import('./demo.js'),
  master: () => import('./master.js'),
  client: () => import('./client.js'),
  agent: () => import('./agent.js'),
  consumer: () => import('./consumer.js'),
  monitor: () => import('./monitor.js'),
  evaluate: () => import('./evaluate.js'),
  parse: () => import('./parse.js'),
  logserver: () => import('./logserver.js'),
  probe: () => import('./probe.js'),
  silence: () => import('./silence.js'),
  cluster: () => import('./cluster.js'),
  digest: () => import('./digest.js'),
  bench: () => import('./bench.js'),
  keys: () => import('./keys.js'),
  'check-config': () => import('./check-config.js'),
};

/** the version in the package.json beside this install (dist/src/cli/main.js → package.json), read at run time */
function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

async function main(): Promise<void> {
  const program = new Command();
  program
    .name('slowq')
    .version(packageVersion(), '-V, --version', 'print the slowq version')
    .description('Real-time slow-query alerting: tail slow logs, route them over ZeroMQ, alert once per problem.')
    .showHelpAfterError();
  const asked = process.argv[2];
  const names = asked !== undefined && asked in COMMANDS ? [asked] : Object.keys(COMMANDS);
  for (const m of await Promise.all(names.map((n) => COMMANDS[n]!()))) m.register(program);
  await program.parseAsync(process.argv);
}

main().catch(async (err: unknown) => {
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`slowq: ${msg}\n`);
  process.exitCode = process.exitCode || 1;
  // a service that failed to start may have made its logger, whose socket would keep the process alive
  const { closeLoggers } = await import('./logserver.js');
  await closeLoggers();
});
