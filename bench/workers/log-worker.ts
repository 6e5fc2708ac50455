import { pino, type Logger } from 'pino';
import { RulesEngine } from '../../src/rules/engine.js';
import { DEFAULT_RULES } from '../../src/rules/rules.js';
import type { Alert, QueryRecord } from '../../src/model/record.js';
import { createLogger } from '../../src/logserver/transport.js';
import { sleep } from '../harness/wait.js';
import { sampleRecords } from '../records.js';

// One process of `slowq bench logging`: applies N records to the rules, logging one line per record the
// way each mode says, and prints {"ms": …} for the loop (records in memory before the clock starts).
// Usage: node log-worker.js none|file|file-async|zmq N [FILE|ENDPOINT] [SERVICE]

const [mode, n, target, service] = process.argv.slice(2);
const count = Number(n);
const records: QueryRecord[] = sampleRecords(Math.min(count, 2000)).map((r, i) => ({ ...r, source: 'db', stream: 's', seq: i + 1 }));

let logger: Logger | undefined;
let close: () => Promise<void> = async () => {};
let dropped = () => 0;
if (mode === 'file') {
  const dest = pino.destination({ dest: target!, sync: true, append: true });
  logger = pino({ base: { service } }, dest);
} else if (mode === 'file-async') {
  const dest = pino.destination({ dest: target!, sync: false, append: true, minLength: 4096 });
  await new Promise((resolve) => dest.once('ready', resolve));
  logger = pino({ base: { service } }, dest);
  close = async () => dest.flushSync();
} else if (mode === 'zmq') {
  const l = createLogger({ service: service ?? 'bench', endpoint: target!, stderr: false });
  logger = l.logger;
  close = () => l.close();
  dropped = () => l.stats().dropped;
  await sleep(300); // connected before the clock starts
}

const engine = new RulesEngine(DEFAULT_RULES);
const alerts: Alert[] = [];
const t0 = performance.now();
for (let i = 0; i < count; i++) {
  const base = records[i % records.length]!;
  const rec = { ...base, seq: i + 1, queryId: `${base.queryId}-${i}` };
  engine.applyBatch('db', 's', [rec], alerts);
  logger?.info({ queryId: rec.queryId, fingerprintId: rec.fingerprintId, durationMs: rec.durationMs, alerts: alerts.length }, 'record applied');
  alerts.length = 0;
}
await close();
const ms = performance.now() - t0;
process.stdout.write(JSON.stringify({ ms, records: count, dropped: dropped() }) + '\n');
