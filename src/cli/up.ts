import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { defaultConsumerNames } from '../master/rendezvous.js';
import { holdReloadSignal, onReloadSignal } from '../supervisor/reload-signal.js';
import { Supervisor, type ChildSpec } from '../supervisor/supervisor.js';
import { curveDeployment } from './curve-deployment.js';
import { DEFAULT_BASE_PORT, intOption, holdStopSignals, runUntilSignal, tcp } from './common.js';
import { addRuleOptions, configFrom, ruleArgs, type ThresholdFlags } from './rule-flags.js';
import { lockDataDir } from './lock-data-dir.js';
import { isLoopbackHost } from '../security/curve.js';

export interface UpOptions extends ThresholdFlags {
  data: string;
  port: string;
  consumers?: string;
  logLevel?: string;
  quiet?: boolean;
  /** CURVE everywhere, with the key pairs in this directory (made if missing) */
  curveDir?: string;
  /** the address the master binds for clients (and consumers): loopback unless agents on other hosts connect */
  host?: string;
  /** allow binding a non-loopback --host without CURVE */
  insecure?: boolean;
  /** the address of the dashboard and /metrics (beyond loopback the monitor needs $SLOWQ_HTTP_TOKEN) */
  httpHost?: string;
  /** each consumer's parse threads (`slowq consumer --parse-threads`) */
  parseThreads?: string;
}

/** The whole server side on this host as child processes; returns the supervisor (already started). */
export function startServerSide(flags: UpOptions, print: (line: string) => void, command = 'up'): { supervisor: Supervisor; base: number; dataDir: string } {
  // A bad config or threshold flag fails here, once, with the key named: the children would only crash-loop on it.
  configFrom(flags);
  const dataDir = resolve(flags.data);
  // One server side per data directory: a second one (another --port) would share every state directory. Each
  // service locks its own directory too; this says at once, and before anything starts, who holds the whole.
  lockDataDir(dataDir, command);
  const base = intOption(flags.port, '--port');
  // Refused here, before anything starts, rather than by a master crash-looping under the supervisor.
  if (flags.host && !isLoopbackHost(flags.host) && flags.curveDir === undefined && flags.insecure !== true) {
    throw new Error(`up: refusing --host ${flags.host} without CURVE: anyone who can reach port ${base} could send records unauthenticated and unencrypted. ` +
      'Give --curve-dir DIR (key pairs for every service, made if missing; agents need DIR/clients/client.key and DIR/master.pub), or --insecure to accept the risk (e.g. on a private network).');
  }
  const n = flags.consumers ? intOption(flags.consumers, '--consumers') : availableParallelism();
  if (n < 1) throw new Error('--consumers must be at least 1');
  const parseThreads = flags.parseThreads !== undefined ? intOption(flags.parseThreads, '--parse-threads') : 0;
  if (flags.httpHost && !isLoopbackHost(flags.httpHost) && !process.env.SLOWQ_HTTP_TOKEN) {
    throw new Error(`up: --http-host ${flags.httpHost} serves the dashboard and its silence API beyond loopback: set SLOWQ_HTTP_TOKEN (at least 16 characters) in the environment; requests must carry it`);
  }
  const runDir = join(dataDir, 'run');
  mkdirSync(runDir, { recursive: true });
  const host = '127.0.0.1';
  const logserver = tcp(host, base + 3);
  const common = ['--logserver', logserver, '--log-level', flags.logLevel ?? 'info'];
  const names = defaultConsumerNames(n);
  const curve = flags.curveDir ? curveDeployment(flags.curveDir, names) : undefined;
  if (curve) {
    process.stderr.write(`slowq up: CURVE on every connection, keys in ${curve.dir}${curve.created.length > 0 ? ` (${curve.created.length} key pairs made)` : ''}; ` +
      `a client needs ${curve.client.join(' ')}; slowq silence needs ${curve.operator.join(' ')}; slowq cluster needs ${curve.cluster.join(' ')}\n`);
  }
  const specs: ChildSpec[] = [
    { name: 'logserver', args: ['logserver', '--data', join(dataDir, 'logs'), '--port', String(base + 3), ...(curve?.logserver ?? [])] },
    {
      name: 'monitor',
      args: ['monitor', '--data', join(dataDir, 'monitor'), '--port', String(base + 2), '--alerts', join(dataDir, 'alerts.jsonl'), ...common, ...(curve?.monitor ?? []),
        '--http-port', String(base + 4), ...(flags.httpHost ? ['--http-host', flags.httpHost] : []), ...(flags.config ? ['--config', resolve(flags.config)] : []), ...(flags.quiet ? ['--quiet'] : [])],
      onStdout: print,
      reloads: true,
    },
    {
      name: 'master',
      args: ['master', '--data', join(dataDir, 'master'), '--port', String(base), '--consumers', names.join(','), '--monitor', tcp(host, base + 2), ...common, ...(curve?.master ?? []),
        ...(flags.host ? ['--host', flags.host] : []), ...(flags.insecure ? ['--insecure'] : [])],
    },
    ...names.map((name): ChildSpec => ({
      name: `consumer-${name}`,
      reloads: true,
      args: ['consumer', '--name', name, '--data', join(dataDir, 'consumers', name), '--master', tcp(host, base + 1), '--monitor', tcp(host, base + 2), ...ruleArgs(flags), ...common, ...(curve?.consumer(name) ?? []),
        ...(parseThreads > 0 ? ['--parse-threads', String(parseThreads)] : [])],
    })),
  ];
  const supervisor = new Supervisor({
    onStderr: (line) => process.stderr.write(line + '\n'),
    onEvent: (msg) => process.stderr.write(`slowq up: ${msg}\n`),
    onSpawn: (name, pid) => writeFileSync(join(runDir, `${name}.pid`), `${pid}\n`),
    // Half a server side is worse than none: stop everything the orderly way and exit non-zero, so the
    // operator (or systemd) sees the failure instead of a system that silently drops alerts.
    onGiveUp: (name) => {
      process.stderr.write(`slowq up: cannot keep ${name} running; stopping every service and exiting with an error\n`);
      process.exitCode = 1;
      process.kill(process.pid, 'SIGTERM');
    },
  });
  supervisor.start(specs);
  return { supervisor, base, dataDir };
}

/** SIGHUP to `up`: the services that read the configuration file (monitor, consumers) re-read it. */
export function passReloadOn(supervisor: Supervisor): void {
  const sent = supervisor.reload();
  process.stderr.write(`slowq up: SIGHUP passed on to ${sent.length > 0 ? sent.join(', ') : 'no running service'} (each re-reads the configuration; one refuses a bad file and keeps its old one)\n`);
}

export function register(program: Command): void {
  addRuleOptions(
    program
      .command('up')
      .description('the whole server side on this host: master, consumers, monitor, logserver')
      .option('--data <dir>', 'data directory (state, logs, alerts.jsonl)', 'slowq-data')
      .option('--port <base>', 'base port: clients BASE, consumers BASE+1, monitor BASE+2, logserver BASE+3, HTTP BASE+4', String(DEFAULT_BASE_PORT))
      .option('--consumers <n>', 'number of consumers (default: number of cores)')
      .option('--parse-threads <n>', 'threads of each consumer that parse raw chunks (agents with --ship chunks) ahead: one big log on more cores than one (default 0; README, Shipping raw chunks)')
      .option('--log-level <level>', 'log level of the services', 'info')
      .option('--quiet', 'do not print alerts on stdout')
      .option('--curve-dir <dir>', 'CURVE with allow-lists on every connection: key pairs for every service in DIR, made if missing')
      .option('--host <addr>', 'address the master binds for agents and clients (BASE; BASE+1 for consumers): beyond loopback it needs --curve-dir or --insecure', '127.0.0.1')
      .option('--insecure', 'allow a non-loopback --host without CURVE (anyone who can reach the port can send records)')
      .option('--http-host <addr>', 'address of the dashboard, /metrics and /healthz (BASE+4); beyond loopback requests must carry the token in $SLOWQ_HTTP_TOKEN'),
  ).action((flags: UpOptions) => {
    holdStopSignals();
    holdReloadSignal();
    const { supervisor, base, dataDir } = startServerSide(flags, (line) => process.stdout.write(line + '\n'));
    onReloadSignal(() => passReloadOn(supervisor));
    process.stderr.write(
      `slowq up: clients connect to ${tcp('127.0.0.1', base)}; alerts in ${join(dataDir, 'alerts.jsonl')}; logs in ${join(dataDir, 'logs')}; dashboard http://127.0.0.1:${base + 4}/\n`,
    );
    runUntilSignal(() => supervisor.stop());
  });
}
