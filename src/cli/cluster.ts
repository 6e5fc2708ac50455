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
// Masters that share a ring (--ring-store: etcd) all route by it: given several --master, the change is asked of
// the first that answers, which writes it to etcd, and the master driving it carries it out (another takes over if
// that one dies; the wait goes on through any master that answers). Masters that each keep their own ring
// (ring.json) do not talk to each other, so a change made through one would leave the others routing by the old
// ring: then `status` shows each one's ring and `add-consumer`/`remove-consumer` refuse (a consumer of several
// masters refuses to give up or take a source for a ring that is not shared: src/consumer/consumer.ts).

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
      .option('--master <endpoint>', `the master's consumer endpoint (BASE+1; default ${DEFAULT_MASTER}); repeatable: masters that share a ring store (--ring-store) are asked in turn; otherwise status shows each master's ring and a change refuses`, repeatable)
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
    const answers = await Promise.allSettled(masters.map((m) => askMaster(flags, 'get', '', m)));
    answers.forEach((r, i) => process.stdout.write(`${masters[i]!.endpoint}: ${r.status === 'fulfilled' ? r.value.msg : `no answer (${(r.reason as Error).message})`}\n`));
    if (!sharedRing(answers)) process.stdout.write('each master keeps its own ring: without a shared ring store (--ring-store) ring changes are supported with one master only (docs/delivery.md, "Changing the consumer set")\n');
  });
  change(cluster.command('add-consumer').description('add a consumer to the ring (start it first: slowq consumer --name NAME …)').argument('<name>'))
    .action(async (name: string, flags: Flags) => changeRing(flags, 'add', name));
  change(cluster.command('remove-consumer').description('remove a consumer from the ring; its sources move to the others with their state').argument('<name>'))
    .action(async (name: string, flags: Flags) => changeRing(flags, 'remove', name));
}

/** Every master that answered shares one ring store (and one did answer). */
function sharedRing(answers: Array<PromiseSettledResult<RingHeader>>): boolean {
  return answers.some((a) => a.status === 'fulfilled') && answers.every((a) => a.status === 'rejected' || a.value.shared === 1);
}

async function changeRing(flags: Flags, op: 'add' | 'remove', name: string): Promise<void> {
  let masters = masterEndpoints(flags, DEFAULT_MASTER);
  if (masters.length > 1) {
    const answers = await Promise.allSettled(masters.map((m) => askMaster(flags, 'get', '', m)));
    if (!sharedRing(answers)) {
      const none = answers.every((a) => a.status === 'rejected');
      if (none) throw new Error(`none of the ${masters.length} masters answered: ${(answers[0] as PromiseRejectedResult).reason.message}. Nothing was changed`);
      throw new Error(`${masters.length} masters given: each keeps its own ring (no --ring-store) and they do not coordinate, so a change through one would leave the ` +
        'others routing by the old ring; without a shared ring store ring changes are supported with one master only (docs/delivery.md, "Changing the consumer set"). Nothing was changed');
    }
    masters = masters.filter((_, i) => answers[i]!.status === 'fulfilled');
  }
  const r = await askAny(flags, op, name, masters);
  if (!r.ok) throw new Error(`master: ${r.msg}`);
  process.stdout.write(`${r.msg}\n`);
  if (!flags.wait) return;
  const waitMs = Number(flags.waitMs);
  const until = Date.now() + (Number.isFinite(waitMs) && waitMs > 0 ? waitMs : 300_000);
  let last = r.msg;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    let s: RingHeader;
    try {
      s = await askAny(flags, 'get', '', masters);
    } catch (err) {
      if (Date.now() > until) throw err;
      continue; // every master given is away for now (one restarting): asked again
    }
    if (s.busy === 0 && s.version > r.version) {
      process.stdout.write(`done: ${s.msg}\n`);
      return;
    }
    if (s.msg !== last) process.stdout.write(`${s.msg}\n`);
    last = s.msg;
    if (Date.now() > until) throw new Error(`the change is not done after ${flags.waitMs} ms (it goes on; see slowq cluster status, and the master's log): ${s.msg}`);
  }
}

/** One request to each master in turn until one answers: its answer (the last failure if none does). */
async function askAny(flags: Flags, op: RingRequestHeader['op'], name: string, masters: ServerEndpoint[]): Promise<RingHeader> {
  let last: unknown;
  for (const m of masters) {
    try {
      return await askMaster(flags, op, name, m);
    } catch (err) {
      last = err;
      if (op !== 'get') throw err; // a change asked of a master that may have made it is not asked again elsewhere
    }
  }
  throw last;
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
