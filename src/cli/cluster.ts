import type { Command } from 'commander';
import { decodeHeader, encodeHeader, type RingHeader, type RingRequestHeader } from '../wire/protocol.js';
import { ringRequestHeader } from '../wire/headers.js';
import { ask } from './ask.js';
import { DEFAULT_BASE_PORT, tcp } from './common.js';
import { addCurveOptions, masterEndpoints, repeatable, type CurveFlags } from './security.js';
import type { ServerEndpoint } from '../transport/endpoint.js';

// `slowq cluster status|add-consumer|remove-consumer`: changes the ring of the running master (the consumer names
// sources are hashed over) on its consumer port, as a consumer would connect (with CURVE, a consumer's key). The
// sources whose owner changes move with their state (src/master/rescale.ts); by default the command waits until
// the change is done, printing how it goes.
//
// Each master keeps its own ring (ring.json) and the masters do not talk to each other, so with several masters a
// change made through one would leave the others routing by the old ring: ring changes are supported with one
// master only (a ring shared by several masters would need a coordination service: not built). Given several
// --master, `status` shows each one's ring and `add-consumer`/`remove-consumer` refuse; a consumer of several
// masters refuses to give up or take a source whichever master asks (src/consumer/consumer.ts).

const DEFAULT_MASTER = tcp('127.0.0.1', DEFAULT_BASE_PORT + 1);

interface Flags extends CurveFlags {
  master?: string[];
  timeoutMs: string;
  wait: boolean;
  waitMs: string;
}

export function register(program: Command): void {
  const cluster = program.command('cluster').description('the consumer set (the ring): show it, add a consumer, remove one — while it runs');
  const common = (cmd: Command): Command =>
    addCurveOptions(cmd, { server: false, connectsTo: ['master'] })
      .option('--master <endpoint>', `the master's consumer endpoint (BASE+1; default ${DEFAULT_MASTER}); repeatable: status shows each master's ring, a change refuses (one master only)`, repeatable)
      .option('--timeout-ms <ms>', 'how long to wait for each answer of the master', '5000');
  const change = (cmd: Command): Command =>
    common(cmd)
      .option('--no-wait', 'return once the master began the change')
      .option('--wait-ms <ms>', 'how long to wait for the change to end', '300000');

  common(cluster.command('status').description('the ring: its version, its names, and the change under way')).action(async (flags: Flags) => {
    const masters = masterEndpoints(flags, DEFAULT_MASTER);
    if (masters.length === 1) {
      process.stdout.write(`${(await askMaster(flags, 'get', '')).msg}\n`);
      return;
    }
    const answers = await Promise.all(masters.map((m) => askMaster(flags, 'get', '', m)));
    answers.forEach((r, i) => process.stdout.write(`${masters[i]!.endpoint}: ${r.msg}\n`));
    process.stdout.write('each master keeps its own ring: ring changes are supported with one master only (docs/delivery.md, "Changing the consumer set")\n');
  });
  change(cluster.command('add-consumer').description('add a consumer to the ring (start it first: slowq consumer --name NAME …)').argument('<name>'))
    .action(async (name: string, flags: Flags) => changeRing(flags, 'add', name));
  change(cluster.command('remove-consumer').description('remove a consumer from the ring; its sources move to the others with their state').argument('<name>'))
    .action(async (name: string, flags: Flags) => changeRing(flags, 'remove', name));
}

async function changeRing(flags: Flags, op: 'add' | 'remove', name: string): Promise<void> {
  const masters = masterEndpoints(flags, DEFAULT_MASTER);
  if (masters.length > 1) {
    throw new Error(`${masters.length} masters given: each keeps its own ring and they do not coordinate, so a change through one would leave the ` +
      'others routing by the old ring; ring changes are supported with one master only (docs/delivery.md, "Changing the consumer set"). Nothing was changed');
  }
  const r = await askMaster(flags, op, name);
  if (!r.ok) throw new Error(`master: ${r.msg}`);
  process.stdout.write(`${r.msg}\n`);
  if (!flags.wait) return;
  const waitMs = Number(flags.waitMs);
  const until = Date.now() + (Number.isFinite(waitMs) && waitMs > 0 ? waitMs : 300_000);
  let last = r.msg;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const s = await askMaster(flags, 'get', '');
    if (s.busy === 0 && s.version > r.version) {
      process.stdout.write(`done: ${s.msg}\n`);
      return;
    }
    if (s.msg !== last) process.stdout.write(`${s.msg}\n`);
    last = s.msg;
    if (Date.now() > until) throw new Error(`the change is not done after ${flags.waitMs} ms (it goes on; see slowq cluster status, and the master's log): ${s.msg}`);
  }
}

/** One request to a master (the only one given, by default) and its answer. */
async function askMaster(flags: Flags, op: RingRequestHeader['op'], name: string, master: ServerEndpoint = masterEndpoints(flags, DEFAULT_MASTER)[0]!): Promise<RingHeader> {
  const rid = Math.floor(Math.random() * 1e9);
  return ask([encodeHeader(ringRequestHeader(rid, op, name))], {
    peer: 'master', endpoint: master.endpoint, curve: master.curve, timeoutMs: Number(flags.timeoutMs), flag: '--master',
    answer: (msg) => {
      const h = decodeHeader(msg[0]);
      return h.t === 'ring' && h.rid === rid ? h : undefined;
    },
  });
}
