import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import * as zmq from 'zeromq';
import {
  AllowList,
  checkBindSecurity,
  curveClientOptions,
  fingerprint,
  KeyFileError,
  loadKeyPair,
  loadPublicKey,
  newKeyPair,
  publicKeyOf,
  writeKeyPair,
  z85Decode,
  z85Encode,
  type CurveClientConfig,
} from '../src/security/curve.js';
import { ServerSecurity } from '../src/security/zap.js';
import { readAlerts } from '../bench/harness/files.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { slowq, stop, type Proc } from '../bench/harness/processes.js';
import { waitFor } from '../bench/harness/wait.js';
import { processTestDir } from './support/cluster.js';

// CURVE end to end: key files and their errors, the ZAP allow-list in one process (who is admitted, who is refused
// and how that is logged), a raw NULL-mechanism handshake against a CURVE port, and a whole secured deployment
// (`slowq up --curve-dir` + clients as real processes): alerts flow, the bytes on the wire never show a record's
// text, clients with no key or an unknown key are refused and the master's log names their address, and
// non-loopback binds without CURVE are refused unless --insecure.

const dir = processTestDir('slowq-curve-');

/** A pino logger whose lines land in an array, for checking what a component logged. */
function memoryLogger(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'info' }, sink), lines };
}

/** A TCP forwarder that keeps every byte it passes, both ways: what a capture on the wire would see. */
class RecordingProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  readonly chunks: Buffer[] = [];
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<void> {
    this.server = createServer((inbound) => {
      const outbound = connect(this.targetPort, '127.0.0.1');
      for (const s of [inbound, outbound]) {
        this.sockets.add(s);
        s.on('error', () => s.destroy());
        s.on('close', () => this.sockets.delete(s));
      }
      inbound.on('data', (d: Buffer) => { this.chunks.push(Buffer.from(d)); outbound.write(d); });
      outbound.on('data', (d: Buffer) => { this.chunks.push(Buffer.from(d)); inbound.write(d); });
      inbound.on('close', () => outbound.destroy());
      outbound.on('close', () => inbound.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

describe('CURVE keys and key files', () => {
  const keyDir = join(dir, 'unit');
  before(() => mkdirSync(keyDir, { recursive: true }));

  it('encodes Z85 as ZeroMQ does and derives the public key from the secret', () => {
    for (let i = 0; i < 20; i++) {
      const pair = zmq.curveKeyPair();
      const secret = z85Decode(pair.secretKey);
      assert.ok(Buffer.isBuffer(secret));
      assert.equal(z85Encode(secret), pair.secretKey);
      assert.equal(publicKeyOf(pair.secretKey), pair.publicKey);
    }
    // the test vector of ZeroMQ RFC 32
    assert.equal(z85Encode(Buffer.from([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b])), 'HelloWorld');
    assert.match(String(z85Decode('Hello Worl')), /character 6 is not a Z85 character/);
  });

  it('writes NAME.key with mode 0600 and NAME.pub, loads them back, and never overwrites a key', () => {
    const written = writeKeyPair(keyDir, 'db-01');
    assert.equal(statSync(written.secretFile).mode & 0o777, 0o600);
    const { keys, warnings } = loadKeyPair(written.secretFile, written.publicFile);
    assert.equal(keys.publicKey, written.publicKey);
    assert.equal(loadPublicKey(written.publicFile), written.publicKey);
    assert.deepEqual(warnings, []);
    assert.throws(() => writeKeyPair(keyDir, 'db-01'), (err: Error) => err instanceof KeyFileError && err.message.includes(written.secretFile) && /already exists/.test(err.message));
  });

  it('names the file and the problem for key files with wrong content, without quoting the key', () => {
    const secret = newKeyPair().secretKey;
    const cases: Array<[string, string, RegExp]> = [
      ['short.key', `${secret.slice(0, 37)}\n`, /line 1: .*40-character Z85 CURVE key, found 37 characters/],
      ['badchar.key', `${secret.slice(0, 10)}"${secret.slice(11)}\n`, /line 1: .*character 11 is not a Z85 character/],
      ['empty.key', '# nothing here\n\n', /no CURVE secret key in the file/],
      ['two.key', `${secret}\n${secret}\n`, /expected one CURVE secret key, found 2 key lines/],
    ];
    for (const [name, text, problem] of cases) {
      const file = join(keyDir, name);
      writeFileSync(file, text, { mode: 0o600 });
      assert.throws(() => loadKeyPair(file), (err: Error) => {
        assert.ok(err.message.startsWith(`${file}: `), err.message);
        assert.match(err.message, problem);
        assert.ok(!err.message.includes(secret.slice(0, 10)), 'the key text is not in the message');
        return true;
      });
    }
    assert.throws(() => loadKeyPair(join(keyDir, 'missing.key')), /missing\.key: cannot read the CURVE secret key \(ENOENT\)/);
    // a public key that belongs to another secret key
    const other = writeKeyPair(keyDir, 'other');
    const mine = writeKeyPair(keyDir, 'mine');
    assert.throws(() => loadKeyPair(mine.secretFile, other.publicFile), new RegExp(`${other.publicFile}: this public key does not belong to the secret key in ${mine.secretFile}`));
    // a secret key file others can read: loaded, with a warning naming it
    chmodSync(mine.secretFile, 0o644);
    assert.match(loadKeyPair(mine.secretFile).warnings.join(), /mine\.key: secret key file is readable by others/);
  });

  it('reads allow-lists from directories of .pub files and from key-per-line files', () => {
    const allowDir = join(keyDir, 'allowed');
    const a = writeKeyPair(allowDir, 'a');
    const b = writeKeyPair(allowDir, 'b');
    const c = newKeyPair();
    const listFile = join(keyDir, 'list.txt');
    writeFileSync(listFile, `# ops keys\n\n${c.publicKey}\n`);
    const list = AllowList.load([allowDir, listFile]);
    assert.equal(list.size, 3);
    for (const k of [a.publicKey, b.publicKey, c.publicKey]) assert.ok(list.has(k));
    assert.equal(list.lookup(z85Decode(a.publicKey) as Buffer)?.name, 'a');
    writeFileSync(listFile, `${c.publicKey}\nnot-a-key\n`);
    assert.throws(() => AllowList.load([listFile]), new RegExp(`${listFile}: line 2: not a CURVE public key`));
    const emptyDir = join(keyDir, 'empty');
    mkdirSync(emptyDir);
    assert.throws(() => AllowList.load([emptyDir]), /no public keys found/);
  });

  it('refuses non-loopback binds without CURVE unless insecure', () => {
    for (const ok of ['tcp://127.0.0.1:5555', 'tcp://localhost:5555', 'tcp://[::1]:5555', 'ipc:///tmp/x', 'inproc://x']) {
      assert.doesNotThrow(() => checkBindSecurity('master', ok, false, false), ok);
    }
    for (const bad of ['tcp://0.0.0.0:5555', 'tcp://*:5555', 'tcp://10.1.2.3:5555', 'tcp://[::]:5555', 'tcp://eth0:5555']) {
      assert.throws(() => checkBindSecurity('master', bad, false, false), /refusing to bind .* without CURVE.*--curve-secret.*--insecure/, bad);
      assert.doesNotThrow(() => checkBindSecurity('master', bad, true, false));
      assert.doesNotThrow(() => checkBindSecurity('master', bad, false, true));
    }
  });
});

describe('ZAP allow-list on a CURVE server socket', () => {
  const server = newKeyPair();
  const allowed = newKeyPair();
  const { log, lines } = memoryLogger();
  const security = new ServerSecurity(log, { keys: server, domains: { clients: AllowList.of({ allowed: allowed.publicKey }) } });
  const router = new zmq.Router({ linger: 0, ...security.socketOptions('clients') });
  const clients: zmq.Dealer[] = [];
  let endpoint = '';
  let port = 0;

  before(async () => {
    security.watch(router, 'clients');
    await security.start();
    await router.bind('tcp://127.0.0.1:*');
    endpoint = router.lastEndpoint!;
    port = Number(endpoint.split(':').pop());
    void (async () => {
      try {
        for await (const [id, body] of router) await router.send([id, Buffer.concat([Buffer.from('echo:'), body!])]);
      } catch {
        // closed
      }
    })();
  });

  after(async () => {
    for (const c of clients) c.close();
    router.close();
    await security.stop();
  });

  /** A dealer that sends one message; resolves with its first handshake failure or its reply. */
  function tryClient(config: CurveClientConfig | undefined): Promise<string> {
    const d = new zmq.Dealer({ linger: 0, ...curveClientOptions(config) });
    clients.push(d);
    return new Promise((resolve) => {
      d.events.on('handshake:error:auth', (e) => resolve(`auth:${e.error.status}`));
      d.events.on('handshake:error:protocol', (e) => resolve(`protocol:${e.error.code}`));
      d.connect(endpoint);
      void d.send('hello').catch(() => {});
      d.receive().then((m) => resolve(`reply:${m[0]!.toString()}`), () => {});
    });
  }

  it('admits a key in the allow-list, with encryption end to end', async () => {
    assert.equal(await tryClient({ keys: allowed, serverKey: server.publicKey }), 'reply:echo:hello');
    assert.equal(security.stats().authAccepted, 1);
  });

  it('refuses unknown keys with ZAP 400, counts each, logs the address once per period', async () => {
    for (let i = 0; i < 3; i++) assert.equal(await tryClient({ keys: newKeyPair(), serverKey: server.publicKey }), 'auth:400');
    assert.equal(security.stats().authRefused, 3);
    const refusals = lines.filter((l) => l.msg === 'refused a connection: its CURVE public key is not in the allow-list');
    assert.equal(refusals.length, 1, 'one line per address per minute');
    assert.equal(refusals[0]!.address, '127.0.0.1');
    assert.equal(refusals[0]!.domain, 'clients');
    assert.match(String(refusals[0]!.key), /^[0-9a-f]{16}$/);
  });

  it('refuses a plain (NULL mechanism) ZeroMQ client: it gets nothing', async () => {
    assert.equal(await tryClient(undefined), 'protocol:ERR_ZMTP_MECHANISM_MISMATCH');
    // the server sees the mismatch, or, when the client hangs up first, a handshake cut short: refused either way
    await waitFor('refusal counted', () => security.stats().authRefusedNoCurve! + security.stats().authRefusedHandshake! >= 1, 10_000, 20);
    assert.ok(lines.some((l) => /^refused a peer before authentication/.test(String(l.msg)) && l.endpoint === endpoint));
  });

  it('answers a raw NULL-mechanism greeting with a CURVE greeting and hangs up', async () => {
    // ZMTP 3.0 greeting: signature, version 3.0, mechanism "NULL" padded to 20 bytes, as-server 0, filler
    const greeting = Buffer.alloc(64);
    greeting[0] = 0xff;
    greeting[9] = 0x7f;
    greeting[10] = 3;
    greeting.write('NULL', 12, 'ascii');
    // like a real peer: signature and version first; the rest once the server has shown its own greeting
    let sentRest = false;
    const got = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const s = connect(port, '127.0.0.1', () => s.write(greeting.subarray(0, 11)));
      const timer = setTimeout(() => { s.destroy(); reject(new Error('the server did not hang up')); }, 10_000);
      s.on('data', (d: Buffer) => {
        chunks.push(d);
        if (!sentRest && Buffer.concat(chunks).length >= 64) {
          sentRest = true;
          s.write(greeting.subarray(11));
        }
      });
      s.on('error', () => {});
      s.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks)); });
    });
    assert.ok(sentRest, 'the server showed its whole greeting');
    assert.equal(got.length, 64, 'the server sent its greeting and nothing else');
    assert.equal(got.subarray(12, 32).toString('ascii').replace(/\0+$/, ''), 'CURVE');
  });

  it('shows plain traffic to a capture, and nothing of it once CURVE is on (control for the deployment test)', async () => {
    const sentinel = 'SENTINEL-plaintext-3f9c';
    const plainRouter = new zmq.Router({ linger: 0 });
    await plainRouter.bind('tcp://127.0.0.1:*');
    const plainPort = Number(plainRouter.lastEndpoint!.split(':').pop());
    const plainProxy = new RecordingProxy(plainPort);
    const curveProxy = new RecordingProxy(port);
    await plainProxy.start();
    await curveProxy.start();
    const plain = new zmq.Dealer({ linger: 0 });
    const secure = new zmq.Dealer({ linger: 0, ...curveClientOptions({ keys: allowed, serverKey: server.publicKey }) });
    clients.push(plain, secure);
    plain.connect(`tcp://127.0.0.1:${plainProxy.port}`);
    secure.connect(`tcp://127.0.0.1:${curveProxy.port}`);
    await plain.send(sentinel);
    await plainRouter.receive();
    await secure.send(sentinel);
    assert.equal((await secure.receive())[0]!.toString(), `echo:${sentinel}`);
    assert.ok(plainProxy.bytes.includes(sentinel), 'a capture sees plain ZeroMQ');
    assert.ok(curveProxy.bytes.length > 200, 'the CURVE handshake and message passed the capture');
    assert.ok(!curveProxy.bytes.includes(sentinel), 'the capture never sees the text under CURVE');
    plainRouter.close();
    await plainProxy.stop();
    await curveProxy.stop();
  });
});

describe('a secured deployment: slowq up --curve-dir and clients (processes)', () => {
  const T0 = Date.UTC(2026, 10, 22, 6, 0, 0);
  const sentinel = 'SENTINEL_wire_7c1e';
  const data = join(dir, 'server');
  const curveDir = join(dir, 'keys');
  const record = (i: number, sql: string) => JSON.stringify({ ts: T0 + i, state: 'finished', id: `q${i}`, duration_ms: 2000 + i, sql, db: 'shop', user: 'app' });
  let base: number;
  let up: Proc;
  let proxy: RecordingProxy;

  before(async () => {
    base = await freeBasePort();
    up = slowq('up', ['up', '--data', data, '--port', String(base), '--consumers', '2', '--quiet', '--curve-dir', curveDir]);
    await waitFor('up with keys', () => /a client needs/.test(up.output()), 30_000);
    proxy = new RecordingProxy(base);
    await proxy.start();
  });

  after(async () => {
    await proxy?.stop();
  });

  const logs = join(data, 'logs');
  const clientKeys = () => ['--curve-secret', join(curveDir, 'clients', 'client.key'), '--server-key', join(curveDir, 'master.pub')];

  it('makes a key pair for every service, secrets readable by the owner only', () => {
    for (const f of ['master', 'monitor', 'logserver', 'consumers/c0', 'consumers/c1', 'clients/client', 'operators/operator']) {
      assert.equal(statSync(join(curveDir, `${f}.key`)).mode & 0o777, 0o600, f);
      loadKeyPair(join(curveDir, `${f}.key`), join(curveDir, `${f}.pub`));
    }
    assert.equal(statSync(curveDir).mode & 0o777, 0o700);
  });

  it('delivers alerts from a client with keys, and the wire never shows the SQL', async () => {
    const file = join(dir, 'good.jsonl');
    writeFileSync(file, [1, 2, 3].map((i) => record(i, `select '${sentinel}' from orders where id = ${i}`)).join('\n') + '\n');
    const client = slowq('client-good', ['client', '--master', `tcp://127.0.0.1:${proxy.port}`, '--source', 'db-good', '--format', 'jsonl',
      '--data', join(dir, 'client-good'), '--logserver', `tcp://127.0.0.1:${base + 3}`, '--logserver-key', join(curveDir, 'logserver.pub'), ...clientKeys(), file]);
    const alerts = await waitFor('alerts of the keyed client', () => {
      const a = readAlerts(join(data, 'alerts.jsonl')).filter((x) => x.source === 'db-good');
      return a.length >= 3 ? a : undefined;
    });
    assert.deepEqual(alerts.map((a) => a.type), ['slow_query', 'slow_query', 'slow_query']);
    assert.ok(alerts.every((a) => a.sql.includes(sentinel)));
    assert.ok(proxy.bytes.length > 500, 'the batches went through the capture');
    assert.ok(!proxy.bytes.includes(sentinel), 'the SQL never crossed the wire in clear');
    assert.ok(!proxy.bytes.includes('db-good'), 'neither did the header (source name)');
    // its logs reached the CURVE logserver too
    await waitFor('client log in the logserver', () => {
      try {
        return readFileSync(join(logs, 'client-db-good.log'), 'utf8').includes('client started');
      } catch {
        return false;
      }
    }, 20_000);
    assert.equal(await stop(client), 0);
  });

  it('refuses a client with an unknown key and one with no key; the master logs the refusals', async () => {
    const intruder = writeKeyPair(join(dir, 'intruder'), 'intruder');
    const file = join(dir, 'bad.jsonl');
    writeFileSync(file, [1, 2].map((i) => record(i, `select ${i}`)).join('\n') + '\n');
    const unknown = slowq('client-unknown', ['client', '--master', `tcp://127.0.0.1:${base}`, '--source', 'db-intruder', '--format', 'jsonl',
      '--data', join(dir, 'client-unknown'), '--curve-secret', intruder.secretFile, '--server-key', join(curveDir, 'master.pub'), file]);
    const plain = slowq('client-plain', ['client', '--master', `tcp://127.0.0.1:${base}`, '--source', 'db-plain', '--format', 'jsonl',
      '--data', join(dir, 'client-plain'), file]);
    const masterLog = () => {
      try {
        return readFileSync(join(logs, 'master.log'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      } catch {
        return [];
      }
    };
    const refusal = await waitFor('the master logs the unknown key', () => masterLog().find((l) => l.msg === 'refused a connection: its CURVE public key is not in the allow-list'), 30_000);
    assert.equal(refusal.address, '127.0.0.1');
    assert.equal(refusal.domain, 'clients');
    assert.equal(refusal.key, fingerprint(intruder.publicKey));
    await waitFor('the master logs the plain client', () => masterLog().find((l) => /^refused a peer before authentication/.test(String(l.msg))), 30_000);
    // each refused client says why in its own log
    await waitFor('the intruder is told', () => /master refused this process's CURVE key/.test(unknown.output()), 30_000);
    await waitFor('the plain client is told', () => /master requires CURVE/.test(plain.output()), 30_000);
    // refused at the handshake: nothing of theirs reached a consumer
    const sources = new Set(readAlerts(join(data, 'alerts.jsonl')).map((a) => a.source));
    assert.ok(!sources.has('db-intruder') && !sources.has('db-plain'), [...sources].join());
    assert.ok(!masterLog().some((l) => l.source === 'db-intruder' || l.source === 'db-plain'));
    // no secret appears in any log line
    const secret = readFileSync(join(curveDir, 'master.key'), 'utf8').split('\n')[1]!;
    assert.ok(!readFileSync(join(logs, 'master.log'), 'utf8').includes(secret));
    assert.ok(!up.output().includes(secret));
    await stop(unknown);
    await stop(plain);
  });

  it('lets an operator key manage silences on the monitor, and no one without it', async () => {
    const monitor = `tcp://127.0.0.1:${base + 2}`;
    const ok = slowq('silence-operator', ['silence', 'ls', '--monitor', monitor, '--json', '--timeout-ms', '20000',
      '--curve-secret', join(curveDir, 'operators', 'operator.key'), '--server-key', join(curveDir, 'monitor.pub')]);
    assert.equal(await ok.exited, 0, ok.output());
    const refused = slowq('silence-plain', ['silence', 'ls', '--monitor', monitor, '--timeout-ms', '2000']);
    assert.notEqual(await refused.exited, 0);
    assert.match(refused.output(), /no answer from the monitor/);
  });

  it('stops cleanly', async () => {
    assert.equal(await stop(up), 0);
  });
});

describe('binding beyond loopback (processes)', () => {
  it('refuses 0.0.0.0 without CURVE with a clear error, for every server', async () => {
    const base = await freeBasePort();
    const runs: Array<[string, string[]]> = [
      ['master', ['master', '--host', '0.0.0.0', '--port', String(base), '--consumers', 'c0', '--monitor', 'none']],
      ['monitor', ['monitor', '--host', '0.0.0.0', '--port', String(base + 2), '--data', join(dir, 'mon-insecure')]],
      ['logserver', ['logserver', '--bind', `tcp://0.0.0.0:${base + 3}`, '--data', join(dir, 'logs-insecure')]],
    ];
    for (const [name, args] of runs) {
      const p = slowq(name, args);
      const code = await p.exited;
      assert.notEqual(code, 0, name);
      assert.match(p.output(), new RegExp(`${name}: refusing to bind tcp://0\\.0\\.0\\.0:\\d+ without CURVE.*--insecure`), name);
    }
    // `slowq up --host` refuses before it starts anything, naming its own remedy
    const up = slowq('up-insecure', ['up', '--host', '0.0.0.0', '--port', String(base), '--consumers', '1', '--data', join(dir, 'up-insecure')]);
    assert.notEqual(await up.exited, 0);
    assert.match(up.output(), /up: refusing --host 0\.0\.0\.0 without CURVE.*--curve-dir DIR.*--insecure/);
  });

  it('binds 0.0.0.0 with --insecure (connections still from loopback only here)', async () => {
    const base = await freeBasePort();
    const p = slowq('master-insecure', ['master', '--host', '0.0.0.0', '--port', String(base), '--consumers', 'c0', '--monitor', 'none', '--insecure']);
    await waitFor('master started', () => p.output().includes('master started') || p.child.exitCode !== null, 30_000);
    assert.ok(p.output().includes('master started'), p.output());
    assert.equal(await stop(p), 0);
  });

  it('names the key file when its content is wrong', async () => {
    const bad = join(dir, 'bad.key');
    writeFileSync(bad, 'this is not a key\n', { mode: 0o600 });
    const good = writeKeyPair(join(dir, 'badkey-test'), 'client');
    const base = await freeBasePort();
    const p = slowq('master-badkey', ['master', '--port', String(base), '--consumers', 'c0', '--monitor', 'none', '--curve-secret', bad, '--allow', good.publicFile]);
    assert.notEqual(await p.exited, 0);
    assert.match(p.output(), new RegExp(`slowq: ${bad}: line 1: not a valid CURVE secret key: expected a 40-character Z85 CURVE key, found 17 characters`));
    const c = slowq('client-badkey', ['client', '--source', 'x', '--format', 'jsonl', '--data', join(dir, 'c-bad'), '--curve-secret', good.secretFile,
      '--server-key', bad, join(dir, 'none.jsonl')]);
    assert.notEqual(await c.exited, 0);
    assert.match(c.output(), new RegExp(`slowq: ${bad}: line 1: not a valid CURVE public key`));
  });

  it('slowq keys writes a pair and refuses to overwrite it', async () => {
    const out = join(dir, 'made');
    const p = slowq('keys', ['keys', '--out', out, '--name', 'db-07']);
    assert.equal(await p.exited, 0, p.output());
    assert.match(p.output(), /secret key: .*db-07\.key.*\npublic key: .*db-07\.pub \(fingerprint [0-9a-f]{16}/);
    assert.equal(statSync(join(out, 'db-07.key')).mode & 0o777, 0o600);
    const { keys } = loadKeyPair(join(out, 'db-07.key'), join(out, 'db-07.pub'));
    assert.ok(!p.output().includes(keys.secretKey));
    const again = slowq('keys-again', ['keys', '--out', out, '--name', 'db-07']);
    assert.notEqual(await again.exited, 0);
    assert.match(again.output(), /db-07\.key: already exists; not overwriting/);
  });
});
