import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Alert } from '../src/model/record.js';
import type { WebhookPayload } from '../src/monitor/notifiers/payload.js';
import { generateLines } from '../src/workload/generator.js';
import { readAlerts } from '../bench/harness/files.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { kill9, slowq, stop, stopAll, type Proc } from '../bench/harness/processes.js';
import { sleep, waitFor } from '../bench/harness/wait.js';
import { diffIds, duplicateIds, idSet, oracle } from './support/cluster.js';

// The monitor killed with SIGKILL, twice, during a burst of alerts, and restarted: every alert is still in
// alerts.jsonl exactly once, and every alert reaches the webhook receiver in exactly one notification
// (firing, and its resolve where one came), none twice. A notification the webhook received just before a
// kill, but whose delivery the monitor had not recorded yet, is sent again with the same Idempotency-Key
// (the notification id): the receiver drops it by that key, as Alertmanager webhook consumers can. Every
// other repeat would be a bug.

const SOURCE = 'db-r';
const LINES = 30_000;
const CHUNK = 500;
const KILL_AT = [15, 38];

interface Received {
  key: string;
  body: WebhookPayload;
}

/** A short CLI command to its end: exit code and output. */
async function run(args: string[]): Promise<{ code: number | null; out: string }> {
  const p = slowq(args[0]!, args);
  const code = await p.exited;
  return { code, out: p.output() };
}

describe('monitor: SIGKILL and restart during a burst', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slowq-e2e-monitor-'));
  let hook: Server | undefined;
  after(async () => {
    await stopAll();
    await new Promise<void>((r) => (hook ? hook.close(() => r()) : r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('no alert lost, none notified twice', async () => {
    const received: Received[] = [];
    hook = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          received.push({ key: String(req.headers['idempotency-key'] ?? ''), body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as WebhookPayload });
          res.writeHead(200).end('ok');
        } catch {
          res.writeHead(400).end('bad json');
        }
      });
    });
    await new Promise<void>((r) => hook!.listen(0, '127.0.0.1', () => r()));
    const hookPort = (hook.address() as AddressInfo).port;

    const base = await freeBasePort();
    const ep = (k: number) => `tcp://127.0.0.1:${base + k}`;
    const data = join(dir, 'server');
    const cfg = join(dir, 'slowq.yaml');
    writeFileSync(cfg, [
      'route:',
      '  receiver: hook',
      '  group_by: ["..."]      # one group per problem',
      '  group_wait: 100ms',
      '  group_interval: 500ms',
      '  repeat_interval: 1h',
      'receivers:',
      '  - name: hook',
      `    webhook: { url: "http://127.0.0.1:${hookPort}/hook" }`,
      '',
    ].join('\n'));

    const file = join(dir, `${SOURCE}.jsonl`);
    const lines = generateLines(LINES, { seed: 4242, idPrefix: 'r-' });
    writeFileSync(file, lines.join('\n') + '\n');
    const want = await oracle([file], 'jsonl', SOURCE);
    assert.ok(want.length > 2000, `a burst of a few thousand alerts (${want.length})`);
    writeFileSync(file, '');

    const log = ['--logserver', ep(3)];
    const monitor = () => slowq('monitor', ['monitor', '--data', join(data, 'monitor'), '--port', String(base + 2), '--alerts', join(data, 'alerts.jsonl'),
      '--config', cfg, '--quiet', ...log]);
    const procs: Record<string, Proc> = {
      logserver: slowq('logserver', ['logserver', '--data', join(data, 'logs'), '--port', String(base + 3)]),
      monitor: monitor(),
      master: slowq('master', ['master', '--port', String(base), '--consumers', 'c0', '--monitor', 'none', ...log]),
      c0: slowq('c0', ['consumer', '--name', 'c0', '--data', join(data, 'c0'), '--master', ep(1), '--monitor', ep(2), ...log]),
      client: slowq('client', ['client', '--master', ep(0), '--source', SOURCE, '--format', 'jsonl', '--data', join(dir, 'client'), ...log, file]),
    };

    try {
      // A silence made with the CLI before the crashes (matching nothing of the burst) must survive them.
      const silenceArgs = ['--monitor', ep(2)];
      const added = await run(['silence', 'add', '--match', 'db=nowhere', '--match', 'user=~batch|etl', '--for', '2h', '--comment', 'e2e', '--author', 'test', ...silenceArgs]);
      assert.equal(added.code, 0, added.out);
      const silenceId = added.out.trim();

      const kills: number[] = [];
      for (let c = 0; c * CHUNK < LINES; c++) {
        appendFileSync(file, lines.slice(c * CHUNK, (c + 1) * CHUNK).join('\n') + '\n');
        if (KILL_AT.includes(c)) {
          // mid-burst: wait until notifications are flowing, so the kill lands among deliveries in flight
          const before = received.length;
          await waitFor('notifications flowing before the kill', () => received.length >= before + 25, 60_000, 5);
          await kill9(procs.monitor!);
          kills.push(received.length);
          await sleep(300);
          procs.monitor = monitor();
        }
        await sleep(40);
      }

      // Every alert in alerts.jsonl, once.
      let got: Alert[] = [];
      await waitFor('every alert in alerts.jsonl', () => {
        got = readAlerts(join(data, 'alerts.jsonl'));
        return idSet(got).size >= want.length;
      }, 180_000, 250);
      assert.deepEqual(duplicateIds(got), []);
      assert.deepEqual(diffIds(idSet(got), new Set(want.map((a) => a.id))), { missing: 0, extra: 0 });

      // What the webhook must see: each slow_query and each resolve once; each long_running once unless its
      // resolve came within group_wait (then only the resolve stands for the problem).
      const key = (source: string, queryId: string, type: string) => `${source}|${queryId}|${type}`;
      const closed = new Set(want.filter((a) => a.type === 'resolved' || a.type === 'stalled').map((a) => key(a.source, a.queryId, 'long_running')));
      const required = want.filter((a) => a.type !== 'long_running' || !closed.has(key(a.source, a.queryId, a.type)));
      const optional = new Set(want.filter((a) => a.type === 'long_running' && closed.has(key(a.source, a.queryId, a.type))).map((a) => key(a.source, a.queryId, a.type)));

      /** alert key → distinct notification ids (Idempotency-Key) that carried it, and with which status */
      const seenIn = new Map<string, Array<{ id: string; status: string }>>();
      const byNotification = new Map<string, string>();
      let redelivered = 0;
      const tally = () => {
        seenIn.clear();
        byNotification.clear();
        redelivered = 0;
        for (const r of received) {
          const body = JSON.stringify(r.body);
          const prev = byNotification.get(r.key);
          if (prev !== undefined) {
            assert.equal(body, prev, `a notification sent again (${r.key}) is the same notification`);
            redelivered++;
            continue;
          }
          byNotification.set(r.key, body);
          for (const a of r.body.alerts) {
            const k = key(a.labels.source!, a.labels.queryId!, a.annotations.type!);
            let list = seenIn.get(k);
            if (!list) seenIn.set(k, (list = []));
            list.push({ id: r.key, status: a.status });
          }
        }
      };
      await waitFor('every alert notified', () => {
        tally();
        return required.every((a) => seenIn.has(key(a.source, a.queryId, a.type)));
      }, 120_000, 250);
      await sleep(2000); // a few group intervals more: nothing may come twice
      tally();

      assert.ok(received.every((r) => r.key !== ''), 'every notification carries its id');
      const twice: string[] = [];
      for (const [k, list] of seenIn) if (list.length !== 1) twice.push(`${k}: ${list.map((x) => x.id).join(', ')}`);
      assert.deepEqual(twice, [], 'no alert in two different notifications');
      for (const a of required) {
        const [n] = seenIn.get(key(a.source, a.queryId, a.type)) ?? [];
        assert.ok(n, `${a.type} ${a.queryId} notified`);
        assert.equal(n.status, a.type === 'resolved' || a.type === 'stalled' ? 'resolved' : 'firing', `${a.type} ${a.queryId} status`);
      }
      const extra = [...seenIn.keys()].filter((k) => !optional.has(k) && !required.some((a) => key(a.source, a.queryId, a.type) === k));
      assert.deepEqual(extra, [], 'nothing the oracle does not have');
      // Only deliveries in flight at a kill can be repeated (4 per receiver at most).
      assert.ok(redelivered <= 4 * KILL_AT.length, `${redelivered} notifications repeated with their id around the kills`);

      const listed = await run(['silence', 'ls', '--json', ...silenceArgs]);
      assert.equal(listed.code, 0, listed.out);
      const silences = listed.out.trim().split('\n').map((l) => JSON.parse(l) as { id: string; status: string; comment: string; matchers: unknown[] });
      assert.deepEqual(silences.map((x) => [x.id, x.status, x.comment, x.matchers.length]), [[silenceId, 'active', 'e2e', 2]], 'the silence survived the kills');
      const expired = await run(['silence', 'expire', silenceId, ...silenceArgs]);
      assert.equal(expired.code, 0, expired.out);
      assert.equal((await run(['silence', 'ls', ...silenceArgs])).out, 'no silences\n');
      const unknown = await run(['silence', 'expire', 'no-such-silence', ...silenceArgs]);
      assert.notEqual(unknown.code, 0);
      assert.match(unknown.out, /no silence with id no-such-silence/);

      for (const name of ['client', 'master', 'c0', 'monitor', 'logserver']) assert.equal(await stop(procs[name]!), 0, `${name} exits 0`);
      process.stdout.write(`# ${want.length} alerts, ${byNotification.size} notifications, ${redelivered} repeated with their id after the kills at ${kills.join(', ')} received\n`);
    } catch (err) {
      // What the services said (stdout/stderr, and their logs) is what explains a failure here.
      for (const [name, p] of Object.entries(procs)) process.stdout.write(`# --- ${name} output\n${p.output().slice(-3000).replace(/^/gm, '# ')}\n`);
      for (const name of ['monitor', 'consumer-c0', 'c0']) {
        const path = join(data, 'logs', `${name}.log`);
        if (existsSync(path)) process.stdout.write(`# --- ${path}\n${readFileSync(path, 'utf8').slice(-6000).replace(/^/gm, '# ')}\n`);
      }
      throw err;
    }
  });
});
