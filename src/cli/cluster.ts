import type { Command } from 'commander';
import { decodeHeader, encodeHeader, type RingHeader, type RingRequestHeader } from '../wire/protocol.js';
import { ringRequestHeader } from '../wire/headers.js';
import { openSocket } from '../transport/socket.js';
import { DEFAULT_BASE_PORT, tcp } from './common.js';
import { addCurveOptions, clientCurve, type CurveFlags } from './security.js';

// `slowq cluster status|add-consumer|remove-consumer`: changes the ring of the running master (the consumer names
// sources are hashed over) on its consumer port, as a consumer would connect (with CURVE, a consumer's key). The
// sources whose owner changes move with their state (src/master/rescale.ts); by default the command waits until
// the change is done, printing how it goes.

interface Flags extends CurveFlags {
  master: string;
  timeoutMs: string;
  wait: boolean;
  waitMs: string;
}

export function register(program: Command): void {
  const cluster = program.command('cluster').description('the consumer set (the ring): show it, add a consumer, remove one — while it runs');
  const common = (cmd: Command): Command =>
    addCurveOptions(cmd, { server: false, connectsTo: ['master'] })
      .option('--master <endpoint>', 'the master\'s consumer endpoint (BASE+1)', tcp('127.0.0.1', DEFAULT_BASE_PORT + 1))
      .option('--timeout-ms <ms>', 'how long to wait for each answer of the master', '5000');
  const change = (cmd: Command): Command =>
    common(cmd)
      .option('--no-wait', 'return once the master began the change')
      .option('--wait-ms <ms>', 'how long to wait for the change to end', '300000');

  common(cluster.command('status').description('the ring: its version, its names, and the change under way')).action(async (flags: Flags) => {
    const r = await ask(flags, 'get', '');
    process.stdout.write(`${r.msg}\n`);
  });
  change(cluster.command('add-consumer').description('add a consumer to the ring (start it first: slowq consumer --name NAME …)').argument('<name>'))
    .action(async (name: string, flags: Flags) => changeRing(flags, 'add', name));
  change(cluster.command('remove-consumer').description('remove a consumer from the ring; its sources move to the others with their state').argument('<name>'))
    .action(async (name: string, flags: Flags) => changeRing(flags, 'remove', name));
}

async function changeRing(flags: Flags, op: 'add' | 'remove', name: string): Promise<void> {
  const r = await ask(flags, op, name);
  if (!r.ok) throw new Error(`master: ${r.msg}`);
  process.stdout.write(`${r.msg}\n`);
  if (!flags.wait) return;
  const waitMs = Number(flags.waitMs);
  const until = Date.now() + (Number.isFinite(waitMs) && waitMs > 0 ? waitMs : 300_000);
  let last = r.msg;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const s = await ask(flags, 'get', '');
    if (s.busy === 0 && s.version > r.version) {
      process.stdout.write(`done: ${s.msg}\n`);
      return;
    }
    if (s.msg !== last) process.stdout.write(`${s.msg}\n`);
    last = s.msg;
    if (Date.now() > until) throw new Error(`the change is not done after ${flags.waitMs} ms (it goes on; see slowq cluster status, and the master's log): ${s.msg}`);
  }
}

/** One request to the master and its answer. */
async function ask(flags: Flags, op: RingRequestHeader['op'], name: string): Promise<RingHeader> {
  const timeout = Number(flags.timeoutMs);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new Error('--timeout-ms must be a number > 0');
  const sock = openSocket('dealer', { linger: 0, receiveTimeout: timeout, sendTimeout: timeout }, { peer: 'master', curve: clientCurve(flags, 'master') });
  try {
    sock.connect(flags.master);
    const rid = Math.floor(Math.random() * 1e9);
    try {
      await sock.send([encodeHeader(ringRequestHeader(rid, op, name))]);
    } catch (err) {
      if ((err as { code?: string }).code === 'EAGAIN') throw new Error(`could not reach the master at ${flags.master} within ${timeout} ms (is it running? does it need --curve-secret/--master-key?)`);
      throw err;
    }
    for (;;) {
      let msg: Buffer[];
      try {
        msg = await sock.receive();
      } catch (err) {
        if ((err as { code?: string }).code === 'EAGAIN') throw new Error(`no answer from the master at ${flags.master} within ${timeout} ms`);
        throw err;
      }
      const h = decodeHeader(msg[0]);
      if (h.t !== 'ring' || h.rid !== rid) continue;
      return h;
    }
  } finally {
    sock.close();
  }
}
