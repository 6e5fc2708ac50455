import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { parseDuration } from '../config/schema.js';
import {
  decodeHeader, decodeSilences, encodeHeader, encodeSilenceBody,
  type SilenceAddBody, type SilenceRecord, type SilenceRequestHeader,
} from '../wire/protocol.js';
import { silenceRequestHeader } from '../wire/headers.js';
import { ask } from './ask.js';
import { DEFAULT_BASE_PORT, tcp } from './common.js';
import { addCurveOptions, clientCurve, type CurveFlags } from './security.js';

// `slowq silence add|ls|expire`: talks to the running monitor on its ZeroMQ port (the one consumers use),
// which keeps silences durably; the dashboard's silences page uses the same store.

interface Common extends CurveFlags {
  monitor: string;
  timeoutMs: string;
  json?: boolean;
}

export function register(program: Command): void {
  const silence = program.command('silence').description('mute alerts by label matchers for a while (kept by the running monitor)');
  const common = (cmd: Command): Command =>
    addCurveOptions(cmd, { server: false, connectsTo: ['monitor'] })
      .option('--monitor <endpoint>', 'the monitor', tcp('127.0.0.1', DEFAULT_BASE_PORT + 2))
      .option('--timeout-ms <ms>', 'how long to wait for the monitor', '5000')
      .option('--json', 'print JSON');

  common(
    silence
      .command('add')
      .description('add a silence, e.g. --match db=shop --for 2h --comment "migration"')
      .requiredOption('--match <matcher>', 'label matcher: name=value, name!=value, name=~regex, name!~regex (repeat for more)', collect, [])
      .option('--for <duration>', 'how long, e.g. 30m, 2h, 1d')
      .option('--until <time>', 'end time (ISO 8601)')
      .option('--start <time>', 'start time (ISO 8601; default now)')
      .requiredOption('--comment <text>', 'why (shown with the silence)')
      .option('--author <name>', 'who (default: your user name)'),
  ).action(async (flags: Common & { match: string[]; for?: string; until?: string; start?: string; comment: string; author?: string }) => {
    if ((flags.for === undefined) === (flags.until === undefined)) throw new Error('give exactly one of --for DURATION or --until TIME');
    const body: SilenceAddBody = { matchers: flags.match, comment: flags.comment, createdBy: flags.author ?? defaultAuthor() };
    if (flags.for !== undefined) {
      const ms = parseDuration(flags.for);
      if (ms === undefined || ms <= 0) throw new Error(`--for: "${flags.for}" is not a duration like 30m, 2h, 1d`);
      body.durationMs = ms;
    }
    if (flags.until !== undefined) body.endsAt = isoTime(flags.until, '--until');
    if (flags.start !== undefined) body.startsAt = isoTime(flags.start, '--start');
    const [s] = await request(flags, 'silence-add', body);
    if (flags.json) process.stdout.write(JSON.stringify(s) + '\n');
    else process.stdout.write(`${s!.id}\n`);
  });

  common(
    silence
      .command('ls')
      .description('list silences (active and pending; --all adds expired ones)')
      .option('--all', 'include expired silences'),
  ).action(async (flags: Common & { all?: boolean }) => {
    const list = (await request(flags, 'silence-ls', {})).filter((s) => flags.all || s.status !== 'expired');
    if (flags.json) {
      for (const s of list) process.stdout.write(JSON.stringify(s) + '\n');
      return;
    }
    process.stdout.write(formatSilences(list));
  });

  common(
    silence
      .command('expire')
      .description('end a silence now')
      .argument('<id>', 'silence id (from `slowq silence ls`)'),
  ).action(async (id: string, flags: Common) => {
    const [s] = await request(flags, 'silence-expire', { id });
    if (flags.json) process.stdout.write(JSON.stringify(s) + '\n');
    else process.stdout.write(`expired ${s!.id}\n`);
  });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function defaultAuthor(): string {
  try {
    return process.env.USER || userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}

function isoTime(v: string, flag: string): string {
  const t = Date.parse(v);
  if (!Number.isFinite(t)) throw new Error(`${flag}: "${v}" is not a time (ISO 8601, e.g. 2026-01-01T10:00:00Z)`);
  return new Date(t).toISOString();
}

export function formatSilences(list: readonly SilenceRecord[]): string {
  if (list.length === 0) return 'no silences\n';
  const rows = list.map((s) => [
    s.id,
    s.status,
    s.startsAt.replace(/\.\d+Z$/, 'Z'),
    s.endsAt.replace(/\.\d+Z$/, 'Z'),
    s.createdBy,
    s.matchers.map((m) => `${m.name}${m.op}${JSON.stringify(m.value)}`).join(','),
    s.comment.replace(/\s+/g, ' '),
  ]);
  const head = ['ID', 'STATUS', 'STARTS', 'ENDS', 'BY', 'MATCHERS', 'COMMENT'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ') + '\n';
  return line(head) + rows.map(line).join('');
}

/** One request to the monitor and its reply; throws with the monitor's message on an error reply. */
async function request(flags: Common, t: SilenceRequestHeader['t'], body: object): Promise<SilenceRecord[]> {
  const rid = Math.floor(Math.random() * 1e9);
  return ask([encodeHeader(silenceRequestHeader(t, rid)), encodeSilenceBody(body as SilenceAddBody)], {
    peer: 'monitor', endpoint: flags.monitor, curve: clientCurve(flags, 'monitor'), timeoutMs: Number(flags.timeoutMs), flag: '--monitor',
    answer: (msg) => {
      const h = decodeHeader(msg[0]);
      if (!('rid' in h) || h.rid !== rid) return undefined; // a late answer to someone else's request: not ours
      if (h.t === 'err') throw new Error(`monitor: ${h.msg}`);
      if (h.t !== 'silence-reply') throw new Error(`monitor answered ${h.t}, expected silence-reply`);
      return decodeSilences(msg[1], h.n);
    },
  });
}
