import * as zmq from 'zeromq';
import { RulesEngine } from '../../src/rules/engine.js';
import { DEFAULT_RULES } from '../../src/rules/rules.js';
import { DurableStore } from '../../src/durable/store.js';
import type { QueryRecord } from '../../src/model/record.js';

// The "naive design" baseline's server: one JSON request per record, applied to the same rules and made
// durable (a journal append with fdatasync: the same durability contract) before the JSON reply.
// Usage: node naive-server.js BIND_ENDPOINT DATA_DIR [fsync|nofsync]

const [bind, dir, sync] = process.argv.slice(2);
if (!bind || !dir) throw new Error('usage: naive-server BIND DATA_DIR [fsync|nofsync]');

const store = new DurableStore(dir, { fsync: sync !== 'nofsync' });
await store.open();
const engine = new RulesEngine(DEFAULT_RULES);
const sock = new zmq.Router({ linger: 0 });
await sock.bind(bind);
process.stdout.write('naive server ready\n');
let stopping = false;
const stop = () => {
  stopping = true;
  sock.close();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

const alerts: unknown[] = [];
while (!stopping) {
  let msg: Buffer[];
  try {
    msg = await sock.receive();
  } catch {
    break;
  }
  const body = msg[1]!;
  const rec = JSON.parse(body.toString()) as QueryRecord;
  const r = engine.applyBatch(rec.source, rec.stream, [rec], alerts as never[]);
  alerts.length = 0;
  await store.append([body]);
  await sock.send([msg[0]!, JSON.stringify({ ok: true, last: r.last })]);
}
await store.close();
