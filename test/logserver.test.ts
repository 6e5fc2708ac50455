import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Push } from 'zeromq';
import { LogServer, serviceFileName } from '../src/logserver/server.js';
import { createLogger, type ServiceLogger } from '../src/logserver/transport.js';
import { FileSink } from '../src/logserver/file-sink.js';
import { redactSecrets, stripUrlCredentials } from '../src/logserver/redact.js';
import { freePort } from '../bench/harness/ports.js';
import { slowq, stop, stopAll, type Proc } from '../bench/harness/processes.js';
import { sleep, waitFor } from '../bench/harness/wait.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/test
const transportUrl = pathToFileURL(path.resolve(here, '../src/logserver/transport.js')).href;

const tempDirs: string[] = [];
const children: ChildProcess[] = [];
const loggers: ServiceLogger[] = [];
const servers: LogServer[] = [];
const sockets: Push[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'slowq-logserver-'));
  tempDirs.push(dir);
  return dir;
}

/** The logserver answers within a few ms: check every 20 ms, for 10 s at most. */
const until = (what: string, condition: () => boolean | Promise<boolean>): Promise<boolean> => waitFor(what, condition, 10_000, 20);

async function readLines(file: string): Promise<Array<Record<string, unknown>>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

async function startServer(options: { maxFileBytes?: number; keepFiles?: number; bind?: string } = {}): Promise<{ server: LogServer; dir: string }> {
  const dir = await tempDir();
  const server = new LogServer({ dataDir: dir, bind: options.bind ?? 'tcp://127.0.0.1:*', stderr: false, ...options });
  servers.push(server);
  await server.start();
  return { server, dir };
}

function logger(service: string, endpoint: string, extra: { maxQueuedLines?: number; dropReportMs?: number } = {}): ServiceLogger {
  const log = createLogger({ service, endpoint, stderr: false, ...extra });
  loggers.push(log);
  return log;
}

after(async () => {
  for (const log of loggers) await log.close();
  for (const socket of sockets) socket.close();
  for (const server of servers) await server.stop();
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await stopAll();
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
});

describe('logserver in-process', () => {
  test('lines from two services arrive in <service>.log with their fields', async () => {
    const { server, dir } = await startServer();
    const alpha = logger('alpha', server.endpoint);
    const beta = logger('beta', server.endpoint);
    for (let i = 0; i < 50; i++) alpha.logger.info({ n: i }, 'alpha line');
    beta.logger.warn({ password: 'hunter2', url: 'postgres://app:s3cret@db/shop', db: { token: 't' } }, 'beta line');
    beta.logger.debug('below the level, not sent');

    await until('51 lines', () => server.stats().lines >= 51);
    await server.flush();
    const alphaLines = await readLines(path.join(dir, 'alpha.log'));
    const betaLines = await readLines(path.join(dir, 'beta.log'));
    assert.equal(alphaLines.length, 50);
    assert.deepEqual(
      alphaLines.map((l) => l.n),
      Array.from({ length: 50 }, (_, i) => i),
    );
    const first = alphaLines[0]!;
    assert.equal(first.service, 'alpha');
    assert.equal(first.pid, process.pid);
    assert.equal(first.hostname, os.hostname());
    assert.equal(first.level, 30);
    assert.equal(first.msg, 'alpha line');
    assert.equal(typeof first.time, 'number');

    assert.equal(betaLines.length, 1);
    assert.equal(betaLines[0]!.service, 'beta');
    assert.equal(betaLines[0]!.level, 40);
    assert.equal(betaLines[0]!.password, '[Redacted]');
    assert.equal(betaLines[0]!.url, 'postgres://[Redacted]@db/shop');
    assert.deepEqual(betaLines[0]!.db, { token: '[Redacted]' });

    assert.deepEqual(alpha.stats(), { sent: 50, dropped: 0, queued: 0 });
    const own = await readLines(path.join(dir, 'logserver.log'));
    assert.ok(own.some((l) => l.msg === 'logserver listening' && l.service === 'logserver'));
  });

  test('a full queue drops lines, counts them, and reports them once per period', async () => {
    const { server, dir } = await startServer();
    const log = logger('dropper', server.endpoint, { maxQueuedLines: 10, dropReportMs: 50 });
    // all in one tick: the queue only drains on the next turn of the event loop
    for (let i = 0; i < 100; i++) log.logger.info({ i }, 'burst');
    assert.deepEqual(log.stats(), { sent: 0, dropped: 90, queued: 10 });

    await until('the drop report', async () => {
      await server.flush();
      const lines = await readLines(path.join(dir, 'dropper.log'));
      return lines.some((l) => l.dropped === 90);
    });
    // give the timer a few more periods: no further drops means no further reports
    await sleep(200);
    await server.flush();
    const lines = await readLines(path.join(dir, 'dropper.log'));
    assert.equal(lines.filter((l) => l.msg === 'burst').length, 10);
    assert.equal(lines.filter((l) => typeof l.dropped === 'number').length, 1);
  });

  test('logging with no logserver listening neither blocks nor throws; lines arrive once it starts', async () => {
    const port = await freePort();
    const endpoint = `tcp://127.0.0.1:${port}`;
    const log = logger('early', endpoint, { maxQueuedLines: 1000 });
    for (let i = 0; i < 5000; i++) log.logger.info({ i }, 'nobody listening');
    const before = log.stats();
    assert.equal(before.sent + before.dropped + before.queued, 5000);
    assert.ok(before.dropped >= 4000, `the queue holds 1000 lines at most, dropped ${before.dropped}`);
    // the send loop runs against the missing peer: it must neither hang nor throw
    await until('the queue to empty', () => log.stats().queued === 0);
    const idle = log.stats();
    assert.equal(idle.queued, 0);
    assert.equal(idle.sent + idle.dropped, 5000);

    const { server, dir } = await startServer({ bind: endpoint });
    let marker = 0;
    await until('a line logged after the logserver started', async () => {
      log.logger.info({ marker: ++marker }, 'after start');
      await server.flush();
      const lines = await readLines(path.join(dir, 'early.log'));
      return lines.some((l) => l.msg === 'after start');
    });
  });

  test('malformed frames are counted, kept in unknown.log, and the server carries on', async () => {
    const { server, dir } = await startServer();
    const raw = new Push({ linger: 0, sendTimeout: 2000 });
    sockets.push(raw);
    raw.connect(server.endpoint);
    await raw.send(Buffer.from([0xff, 0xfe, 0x00, 0x01]));
    await raw.send('not json at all');
    await raw.send('[1,2,3]\n{"msg":"no service"}\n{"service":42}\n');
    await raw.send(['{"service":"raw","msg":"first frame"}', '{"service":"raw","msg":"second frame"}']);

    await until('all 7 lines', () => server.stats().lines >= 7);
    const stats = server.stats();
    assert.equal(stats.malformed, 5);
    assert.equal(stats.messages, 4);

    const log = logger('after-garbage', server.endpoint);
    log.logger.info('still here');
    await until('a good line after the garbage', () => server.stats().lines >= 8);
    await server.flush();
    const unknown = await readLines(path.join(dir, 'unknown.log'));
    assert.equal(unknown.length, 5);
    assert.ok(unknown.every((l) => l.service === 'unknown' && typeof l.raw === 'string'));
    assert.equal(unknown[1]!.raw, 'not json at all');
    const rawLines = await readLines(path.join(dir, 'raw.log'));
    assert.deepEqual(
      rawLines.map((l) => l.msg),
      ['first frame', 'second frame'],
    );
    assert.equal((await readLines(path.join(dir, 'after-garbage.log'))).length, 1);
  });

  test('rotation at a small maxFileBytes keeps keepFiles generations, newest lines last', async () => {
    const { server, dir } = await startServer({ maxFileBytes: 1000, keepFiles: 2 });
    const log = logger('rot', server.endpoint);
    for (let i = 0; i < 100; i++) log.logger.info({ i }, 'x'.repeat(40));
    await until('100 lines', () => server.stats().lines >= 100);
    await server.flush();

    const files = (await readdir(dir)).filter((f) => f.startsWith('rot.log')).sort();
    assert.deepEqual(files, ['rot.log', 'rot.log.1', 'rot.log.2']);
    const kept: number[] = [];
    for (const file of ['rot.log.2', 'rot.log.1', 'rot.log']) {
      const text = await readFile(path.join(dir, file), 'utf8');
      assert.ok(Buffer.byteLength(text) <= 1000, `${file} is ${Buffer.byteLength(text)} bytes`);
      for (const line of text.split('\n').filter((l) => l.length > 0)) kept.push((JSON.parse(line) as { i: number }).i);
    }
    // the kept lines are the newest ones, in order, ending with the last
    assert.ok(kept.length > 0 && kept.length < 100);
    assert.deepEqual(kept, Array.from({ length: kept.length }, (_, k) => 100 - kept.length + k));
    assert.ok(server.stats().rotations >= 2);
  });
});

describe('file sink and names', () => {
  test('a line longer than maxFileBytes gets a file of its own', async () => {
    const dir = await tempDir();
    const sink = new FileSink({ path: path.join(dir, 's.log'), maxFileBytes: 10, keepFiles: 3 });
    sink.append(Buffer.from('short\n'));
    sink.append(Buffer.from('a line well over ten bytes\n'));
    sink.append(Buffer.from('tail\n'));
    await sink.close();
    assert.equal(await readFile(path.join(dir, 's.log.2'), 'utf8'), 'short\n');
    assert.equal(await readFile(path.join(dir, 's.log.1'), 'utf8'), 'a line well over ten bytes\n');
    assert.equal(await readFile(path.join(dir, 's.log'), 'utf8'), 'tail\n');
    assert.equal(sink.stats().linesWritten, 3);
  });

  test('service names become safe file names', () => {
    assert.equal(serviceFileName('consumer-2'), 'consumer-2');
    assert.equal(serviceFileName('../../etc/passwd'), '__.._etc_passwd');
    assert.equal(serviceFileName('..'), '_');
    assert.equal(serviceFileName(''), 'unknown');
    assert.equal(serviceFileName('a b/c'), 'a_b_c');
  });

  test('URL credentials are stripped, the rest of the URL kept', () => {
    assert.equal(stripUrlCredentials('mysql://root:pw@db:3306/x'), 'mysql://[Redacted]@db:3306/x');
    assert.equal(stripUrlCredentials('https://hooks.example/abc'), 'https://hooks.example/abc');
  });

  test('secrets are hidden at the top level and one level down, without touching the caller\'s object', () => {
    const plain = { source: 'db-01', seq: 3 };
    assert.equal(redactSecrets(plain), plain, 'no secret: the same object, no copy');
    const input = { token: 'abc', config: { password: 'pw', dsn: 'postgres://u:p@h/db', port: 5432 }, list: [1] };
    assert.deepEqual(redactSecrets(input), {
      token: '[Redacted]',
      config: { password: '[Redacted]', dsn: 'postgres://[Redacted]@h/db', port: 5432 },
      list: [1],
    });
    assert.equal(input.token, 'abc');
    assert.equal(input.config.password, 'pw');
  });
});

describe('logserver as a process', () => {
  let port = 0;
  let dir = '';
  let server: Proc;

  before(async () => {
    port = await freePort();
    dir = await tempDir();
    server = slowq('logserver', ['logserver', '--data', dir, '--port', String(port)]);
    await server.waitForOutput('listening on', 10_000);
  });

  test('lines from a logger in another process arrive; SIGTERM stops the logserver with exit 0', async () => {
    const script = `
      import { createLogger } from ${JSON.stringify(transportUrl)};
      const log = createLogger({ service: 'child-svc', endpoint: 'tcp://127.0.0.1:${port}', stderr: false });
      for (let i = 0; i < 20; i++) log.logger.info({ i }, 'from the child');
      await new Promise((resolve) => setTimeout(resolve, 20));
      await log.close();
      process.stdout.write(JSON.stringify(log.stats()));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    assert.equal(await exitOf(child), 0);
    assert.deepEqual(JSON.parse(out), { sent: 20, dropped: 0, queued: 0 });

    const file = path.join(dir, 'child-svc.log');
    await until('20 lines in child-svc.log', async () => (await readLines(file)).length >= 20);
    const lines = await readLines(file);
    assert.deepEqual(
      lines.map((l) => l.i),
      Array.from({ length: 20 }, (_, i) => i),
    );
    assert.equal(lines[0]!.service, 'child-svc');
    assert.equal(lines[0]!.pid, child.pid);

    assert.equal(await stop(server), 0);
    const own = await readLines(path.join(dir, 'logserver.log'));
    assert.ok(own.some((l) => l.msg === 'logserver stopped'), 'the stop line was flushed before exit');
  });
});
