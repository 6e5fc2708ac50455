// Private MariaDB and PostgreSQL servers for tests: each in a fresh temp dir, on 127.0.0.1 and a free port,
// as an unprivileged user when the tests run as root (CI), stopped and removed by stop().
// Missing binaries are an error that says to run .ci/install-system.sh, never a silent skip.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../bench/harness/wait.js';
import { freePort } from '../../bench/harness/ports.js';
import mysql from 'mysql2/promise';
import pg from 'pg';

const INSTALL_HINT = 'run `.ci/install-system.sh` as root to install it (CI does this before the tests)';
const START_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 30_000;

export interface MariaDbOptions {
  /** log_output: 'FILE' (default), 'TABLE', 'FILE,TABLE' or 'NONE' */
  logOutput?: string;
  /** extra mariadbd options, e.g. ['--long-query-time=1'] */
  extraArgs?: string[];
  /** extra environment, e.g. { TZ: 'Asia/Shanghai' }: the zone of the slow log's `# Time:` */
  env?: Record<string, string>;
}

export interface MariaDbServer {
  /** mysql://root@127.0.0.1:PORT/ (root without password) */
  url: string;
  host: string;
  port: number;
  slowLogPath: string;
  errorLogPath: string;
  socket: string;
  dir: string;
  /** start the same data dir again after stop({ keepData: true }) or a crash */
  restart(): Promise<void>;
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

export type PgLogDestination = 'stderr' | 'csvlog' | 'jsonlog';

export interface PostgresOptions {
  /** log_destination, default ['stderr']; 'jsonlog' needs PostgreSQL 15+ */
  logDestination?: PgLogDestination[];
  /** extra `-c name=value` settings */
  settings?: Record<string, string>;
}

export interface PostgresServer {
  /** postgres://postgres@127.0.0.1:PORT/postgres (trust auth) */
  url: string;
  host: string;
  port: number;
  logDir: string;
  /** fixed log file names in logDir, one per destination */
  logFiles: { stderr: string; csvlog: string; jsonlog: string };
  dir: string;
  version: number;
  restart(): Promise<void>;
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

// ---- process bookkeeping: nothing may outlive the test process ----

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Last resort when a test fails before its after() hook: 'exit' handlers must be synchronous, so SIGKILL.
    process.once('exit', () => {
      for (const c of live) {
        try {
          c.kill('SIGKILL');
        } catch {
          /* already gone */
        }
      }
    });
  }
}

// ---- users and binaries ----

interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

/** Servers refuse (postgres) or dislike (mariadbd) running as root: pick the package's service user then. */
function serviceUser(preferred: string[]): RunAs | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const passwd = readFileSync('/etc/passwd', 'utf8').split('\n');
  for (const name of [...preferred, 'nobody']) {
    const line = passwd.find((l) => l.startsWith(name + ':'));
    if (!line) continue;
    const f = line.split(':');
    return { name, uid: Number(f[2]), gid: Number(f[3]) };
  }
  throw new Error(`running as root but none of the users ${preferred.join(', ')} exists: ${INSTALL_HINT}`);
}

/**
 * The command that runs `argv` as `user` (when root) and makes the kernel kill it if this process dies
 * (setpriv --pdeathsig), so a crashed test run leaves no server behind.
 */
function wrap(argv: string[], user: RunAs | undefined): string[] {
  const setpriv = findBinary('setpriv', []);
  if (!setpriv) {
    if (user) throw new Error('setpriv (util-linux) not found: cannot drop root privileges for the test database');
    return argv;
  }
  const pre = [setpriv, '--pdeathsig=KILL'];
  if (user) pre.push(`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups');
  return [...pre, '--', ...argv];
}

function findBinary(name: string, extraDirs: string[]): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', ...extraDirs];
  for (const d of dirs) {
    if (!d) continue;
    const p = join(d, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

function requireBinary(names: string[], what: string, extraDirs: string[] = []): string {
  for (const n of names) {
    const p = findBinary(n, extraDirs);
    if (p) return p;
  }
  throw new Error(`${what} not found (looked for ${names.join(' or ')}): ${INSTALL_HINT}`);
}

/** Highest installed /usr/lib/postgresql/N/bin, or SLOWQ_PG_BINDIR. */
function postgresBinDir(): { bin: string; version: number } {
  const fromEnv = process.env.SLOWQ_PG_BINDIR;
  if (fromEnv && existsSync(join(fromEnv, 'postgres'))) return { bin: fromEnv, version: pgVersionOf(join(fromEnv, 'postgres')) };
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'postgres')))
        .map(Number)
        .sort((a, b) => b - a)
    : [];
  if (versions.length > 0) return { bin: join(root, String(versions[0]), 'bin'), version: versions[0] };
  const postgres = findBinary('postgres', []);
  if (postgres && findBinary('initdb', [])) return { bin: postgres.slice(0, postgres.lastIndexOf('/')), version: pgVersionOf(postgres) };
  throw new Error(`PostgreSQL server binaries (postgres, initdb) not found: ${INSTALL_HINT}`);
}

function pgVersionOf(postgres: string): number {
  const out = spawnSync(postgres, ['--version'], { encoding: 'utf8' }).stdout ?? '';
  const m = /(\d+)(?:\.\d+)?/.exec(out);
  return m ? Number(m[1]) : 0;
}

// ---- helpers ----

async function makeDir(prefix: string, user: RunAs | undefined): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  if (user) await chown(dir, user.uid, user.gid);
  return dir;
}

async function mkdirFor(path: string, user: RunAs | undefined): Promise<void> {
  await mkdir(path, { recursive: true });
  if (user) await chown(path, user.uid, user.gid);
}

/** Run a setup command to completion; its output goes to `logPath`, quoted in the error if it fails. */
async function runTool(argv: string[], user: RunAs | undefined, logPath: string, cwd: string): Promise<void> {
  const full = wrap(argv, user);
  const child = spawn(full[0], full.slice(1), { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  track(child);
  const out = createWriteStream(logPath);
  child.stdout?.pipe(out, { end: false });
  child.stderr?.pipe(out, { end: false });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  });
  await new Promise<void>((r) => out.end(r));
  if (code !== 0) {
    const text = await readFile(logPath, 'utf8').catch(() => '');
    throw new Error(`${argv[0]} failed (exit ${code}):\n${text.slice(-2000)}`);
  }
}

interface Daemon {
  child: ChildProcess;
  exited: Promise<void>;
  exitInfo: () => string | undefined;
}

function startDaemon(argv: string[], user: RunAs | undefined, logPath: string, cwd: string, env: Record<string, string> = {}): Daemon {
  const full = wrap(argv, user);
  const child = spawn(full[0], full.slice(1), { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C', ...env } });
  track(child);
  const out = createWriteStream(logPath, { flags: 'a' });
  child.stdout?.pipe(out, { end: false });
  child.stderr?.pipe(out, { end: false });
  let info: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('error', (err) => {
      info = `could not start: ${err.message}`;
      resolve();
    });
    child.once('close', (code, signal) => {
      info ??= `exited with ${signal ?? code}`;
      out.end();
      resolve();
    });
  });
  return { child, exited, exitInfo: () => info };
}

/** Poll `probe` until it succeeds, the daemon dies, or the time runs out. */
async function waitReady(d: Daemon, what: string, logPaths: string[], probe: () => Promise<void>): Promise<void> {
  let last: unknown;
  const answered = await waitFor(`${what} to answer`, async () => {
    if (d.exitInfo() !== undefined) return 'died';
    try {
      await probe();
      return 'ready';
    } catch (err) {
      last = err;
      return undefined;
    }
  }, START_TIMEOUT_MS, 100).catch(() => 'timed out');
  if (answered === 'ready') return;
  const why = d.exitInfo() ?? `not ready after ${START_TIMEOUT_MS} ms (last error: ${(last as Error)?.message})`;
  await stopDaemon(d, 'SIGKILL');
  let logs = '';
  for (const p of logPaths) logs += `\n--- ${p}:\n${(await readFile(p, 'utf8').catch(() => '(none)')).slice(-3000)}`;
  throw new Error(`${what} ${why}${logs}`);
}

async function stopDaemon(d: Daemon, signal: NodeJS.Signals): Promise<void> {
  if (d.exitInfo() !== undefined) return;
  // setpriv execs the server, so the child pid is the server itself.
  d.child.kill(signal);
  const timer = setTimeout(() => d.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await d.exited;
  clearTimeout(timer);
}

interface DaemonSpec {
  what: string;
  argv: string[];
  user: RunAs | undefined;
  /** its data; removed when the first start fails, and by stop() unless keepData */
  dir: string;
  /** where its stdout and stderr go */
  outPath: string;
  /** quoted when it does not become ready */
  logPaths: string[];
  /** resolves once the server answers */
  probe: () => Promise<void>;
  /** the signal of an orderly stop */
  stopSignal: NodeJS.Signals;
  /** extra environment of the server process */
  env?: Record<string, string>;
}

/** Starts a database server and waits until it answers; its restart() and stop() for the server's handle. */
async function serveDaemon(spec: DaemonSpec): Promise<{ restart(): Promise<void>; stop(opts?: { keepData?: boolean }): Promise<void> }> {
  let daemon: Daemon | undefined;
  const launch = async (): Promise<void> => {
    const d = startDaemon(spec.argv, spec.user, spec.outPath, spec.dir, spec.env);
    daemon = d;
    await waitReady(d, spec.what, spec.logPaths, spec.probe);
  };
  try {
    await launch();
  } catch (err) {
    await rm(spec.dir, { recursive: true, force: true });
    throw err;
  }
  return {
    restart: async () => {
      if (daemon) await stopDaemon(daemon, spec.stopSignal);
      await launch();
    },
    stop: async (o) => {
      if (daemon) await stopDaemon(daemon, spec.stopSignal);
      if (!o?.keepData) await rm(spec.dir, { recursive: true, force: true });
    },
  };
}

// ---- MariaDB ----

export async function startMariaDb(opts: MariaDbOptions = {}): Promise<MariaDbServer> {
  const mariadbd = requireBinary(['mariadbd', 'mysqld'], 'MariaDB server binary');
  const installDb = requireBinary(['mariadb-install-db', 'mysql_install_db'], 'MariaDB data-dir initialiser');
  const user = serviceUser(['mysql']);
  const dir = await makeDir('slowq-mariadb-', user);
  const dataDir = join(dir, 'data');
  const socket = join(dir, 'mysqld.sock');
  const slowLogPath = join(dir, 'slow.log');
  const errorLogPath = join(dir, 'error.log');
  const port = await freePort();
  try {
    await mkdirFor(dataDir, user);
    await runTool(
      [
        installDb,
        '--no-defaults',
        `--datadir=${dataDir}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        '--skip-name-resolve',
        ...(user ? [`--user=${user.name}`] : []),
        '--innodb-buffer-pool-size=16M',
        '--innodb-log-file-size=8M',
      ],
      user,
      join(dir, 'install-db.log'),
      dir,
    );
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  const args = [
    mariadbd,
    '--no-defaults',
    `--datadir=${dataDir}`,
    `--socket=${socket}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--pid-file=${join(dir, 'mysqld.pid')}`,
    `--log-error=${errorLogPath}`,
    '--skip-name-resolve',
    '--skip-log-bin',
    '--performance-schema=OFF',
    '--innodb-buffer-pool-size=16M',
    '--innodb-log-file-size=8M',
    '--innodb-flush-log-at-trx-commit=0',
    '--loose-innodb-use-native-aio=0',
    '--slow-query-log=1',
    `--slow-query-log-file=${slowLogPath}`,
    '--long-query-time=0',
    // query_plan and explain exist in every MariaDB 10.x; `loose-` lets a MySQL mysqld start without them
    '--loose-log-slow-verbosity=query_plan,explain',
    `--log-output=${opts.logOutput ?? 'FILE'}`,
    ...(user ? [`--user=${user.name}`] : []),
    ...(opts.extraArgs ?? []),
  ];
  const host = '127.0.0.1';
  const url = `mysql://root@${host}:${port}/`;
  const outPath = join(dir, 'mariadbd.out');
  const handle = await serveDaemon({
    what: 'mariadbd', argv: args, user, dir, outPath, logPaths: [errorLogPath, outPath], stopSignal: 'SIGTERM', ...(opts.env && { env: opts.env }),
    probe: async () => {
      const c = await mysql.createConnection({ host, port, user: 'root', connectTimeout: 2000 });
      await c.end();
    },
  });
  return { url, host, port, slowLogPath, errorLogPath, socket, dir, ...handle };
}

// ---- PostgreSQL ----

export async function startPostgres(opts: PostgresOptions = {}): Promise<PostgresServer> {
  const { bin, version } = postgresBinDir();
  const destinations = opts.logDestination ?? ['stderr'];
  if (destinations.includes('jsonlog') && version < 15) throw new Error(`log_destination=jsonlog needs PostgreSQL 15+, found ${version}`);
  const user = serviceUser(['postgres']);
  const dir = await makeDir('slowq-pg-', user);
  const dataDir = join(dir, 'data');
  const logDir = join(dir, 'log');
  const port = await freePort();
  try {
    await mkdirFor(logDir, user);
    await runTool(
      [join(bin, 'initdb'), '-D', dataDir, '--auth=trust', '--username=postgres', '--encoding=UTF8', '--locale=C', '--no-sync'],
      user,
      join(dir, 'initdb.log'),
      dir,
    );
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: dir,
    logging_collector: 'on',
    log_destination: destinations.join(','),
    log_directory: logDir,
    // A fixed name: csvlog/jsonlog replace the ".log" suffix with ".csv"/".json".
    log_filename: 'postgresql.log',
    log_rotation_age: '0',
    log_rotation_size: '0',
    log_min_duration_statement: '0',
    log_line_prefix: '%m [%p] %q%u@%d ',
    // not initdb's pick from the machine's zone: EST or CST would be ambiguous without --log-timezone
    log_timezone: 'UTC',
    lc_messages: 'C',
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    shared_buffers: '16MB',
    max_connections: '30',
    ...opts.settings,
  };
  const args = [join(bin, 'postgres'), '-D', dataDir];
  for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
  const host = '127.0.0.1';
  const url = `postgres://postgres@${host}:${port}/postgres`;
  const outPath = join(dir, 'postgres.out');
  // SIGINT = "fast" shutdown: a smart shutdown (SIGTERM) would wait for every client to leave.
  const handle = await serveDaemon({
    what: 'postgres', argv: args, user, dir, outPath, logPaths: [outPath], stopSignal: 'SIGINT',
    probe: async () => {
      const c = new pg.Client({ host, port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 2000 });
      c.on('error', () => {});
      try {
        await c.connect();
      } finally {
        await c.end().catch(() => {});
      }
    },
  });
  return {
    url,
    host,
    port,
    logDir,
    logFiles: {
      stderr: join(logDir, 'postgresql.log'),
      csvlog: join(logDir, 'postgresql.csv'),
      jsonlog: join(logDir, 'postgresql.json'),
    },
    dir,
    version,
    ...handle,
  };
}
