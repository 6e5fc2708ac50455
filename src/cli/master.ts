import type { Command } from 'commander';
import { Master } from '../master/master.js';
import { defaultConsumerNames } from '../master/rendezvous.js';
import { parseRingStoreUrl } from '../master/etcd-ring-store.js';
import { addLogOptions, DEFAULT_BASE_PORT, intOption, holdStopSignals, runUntilSignal, serviceLogger, tcp, type LogFlags } from './common.js';
import { lockDataDir } from './lock-data-dir.js';
import { addCurveOptions, allowListFrom, checkBind, clientCurve, repeatable, serverCurve } from './security.js';

export function consumerNames(value: string): string[] {
  if (/^\d+$/.test(value)) return defaultConsumerNames(intOption(value, '--consumers'));
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

export function register(program: Command): void {
  addLogOptions(addCurveOptions(
    program
      .command('master')
      .description('the router: clients connect on BASE, consumers on BASE+1')
      .option('--port <base>', 'base port', String(DEFAULT_BASE_PORT))
      .option('--host <addr>', 'address to bind', '127.0.0.1')
      .option('--consumers <n|names>', 'the first ring: consumer count (names c0..cN-1) or a comma-separated list of names (the ring kept in --data wins; change it with slowq cluster)', '2')
      .option('--monitor <endpoint>', 'where to report counters (the monitor; "none" to not report)', tcp('127.0.0.1', DEFAULT_BASE_PORT + 2))
      .option('--allow-consumers <dir|file>', 'public keys of the consumers allowed on BASE+1 (repeatable; default: --allow)', repeatable)
      .option('--name <name>', 'what logs and counters call this master: give each of several masters its own (e.g. master, master2)', 'master')
      .option('--data <dir>', 'where the master keeps which process owns each consumer name across its restarts (owners.json); without it a restarted master lets the first claimant win')
      .option('--ring-store <url>', 'etcd://HOST:PORT[,HOST:PORT…]/PREFIX: keep the ring in etcd, shared by every master given the same (needed to change the consumer set with several masters); default: ring.json in --data')
      .option('--ring-lease <seconds>', 'with --ring-store: how long after the master driving a ring change dies another takes it over', '5'),
    { server: true, connectsTo: ['monitor', 'logserver'] },
  )).action(async (flags: LogFlags & { name: string; port: string; host: string; consumers: string; monitor: string; allowConsumers?: string[]; data?: string; ringStore?: string; ringLease: string }) => {
    holdStopSignals();
    const base = intOption(flags.port, '--port');
    const curve = serverCurve(flags);
    const allowConsumers = allowListFrom(flags.allowConsumers);
    if (allowConsumers && !curve) throw new Error('--allow-consumers needs --curve-secret and --allow');
    checkBind('master', tcp(flags.host, base), flags, curve !== undefined);
    const monitorCurve = flags.monitor !== 'none' ? clientCurve(flags, 'monitor') : undefined;
    if (!/^[a-z][a-z0-9-]{0,39}$/.test(flags.name)) throw new Error(`--name ${JSON.stringify(flags.name)}: a-z, digits and -, at most 40, starting with a letter`);
    if (flags.ringStore) parseRingStoreUrl(flags.ringStore); // refused here, before anything starts
    const ringLeaseSeconds = intOption(flags.ringLease, '--ring-lease');
    if (ringLeaseSeconds < 2 || ringLeaseSeconds > 600) throw new Error('--ring-lease: 2 to 600 seconds');
    if (flags.data) lockDataDir(flags.data, flags.name);
    const log = serviceLogger(flags.name, flags);
    const master = new Master({
      clientBind: tcp(flags.host, base),
      consumerBind: tcp(flags.host, base + 1),
      name: flags.name,
      consumers: consumerNames(flags.consumers),
      log: log.logger,
      ...(flags.monitor !== 'none' && { monitor: flags.monitor }),
      extraCounters: () => log.counters(),
      ...(curve && { curve: { ...curve, ...(allowConsumers && { allowConsumers }) } }),
      ...(monitorCurve && { monitorCurve }),
      ...(flags.data && { dataDir: flags.data }),
      ...(flags.ringStore && { ringStore: flags.ringStore, ringLeaseSeconds }),
    });
    await master.start();
    runUntilSignal(async () => {
      await master.stop();
      await log.close();
    });
  });
}
