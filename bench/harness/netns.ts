import { execFileSync } from 'node:child_process';

// A small network of hosts for tests and benches (`slowq bench chaos --hosts`) that need real network faults
// between slowq's processes. Each host is a Linux network namespace with one link (a veth pair) to a bridge that lives in a namespace of its own, and an
// address from a private range that exists only inside those namespaces; a process runs on a host through a
// command prefix (`ip netns exec NS`). Faults, both silent (packets lost, no RST, links stay up, as when a switch
// or a cable in between fails):
// - cut(host): the host's bridge port stops forwarding: it reaches no one (its neighbour entries then fail, as on
//   a real LAN);
// - cutBetween(a, b): only the path between two hosts: each is given a neighbour entry for the other that points
//   at a MAC address no one has, so their frames to each other are flooded by the bridge and dropped by everyone.
// - partition(side, other): every path between two groups of hosts cut at once (cutBetween for each pair);
// restore(...), restoreBetween(...) and heal(...) undo them. killHost(host) kills every process on a host at once,
// as when the machine loses power. Everything is named `sq-<pid>-<bed>-…`, removed by destroy(), on process exit, and,
// for beds of test processes that died without cleaning up, by the next bed made on the machine. Needs root and
// iproute2 (`ip`, `bridge`); without them create() fails with a message that says so.

/** Every bed's namespaces start with this, then the pid of the process that made them. */
const PREFIX = 'sq-';
/** a locally administered unicast MAC that no interface has: where cutBetween() sends the frames */
const NOWHERE_MAC = '02:5e:00:00:00:01';
/** the interface a host has towards the bridge */
const HOST_IF = 'eth0';

export interface NetHost {
  /** the name the test gave it, e.g. "db" */
  name: string;
  /** its network namespace */
  ns: string;
  /** its address on the bed's network */
  address: string;
  /** the command prefix that runs a process on it: ['ip', 'netns', 'exec', ns] */
  prefix: string[];
}

export interface NetBedOptions {
  /** the first three octets of the bed's /24 (default 10.213.0): private, and present only inside the bed */
  subnet?: string;
}

let beds = 0;
const live = new Set<NetBed>();
process.once('exit', () => {
  for (const bed of live) bed.destroy();
});

export class NetBed {
  private readonly hosts = new Map<string, NetHost>();
  private readonly bridgeNs: string;
  private destroyed = false;

  private constructor(readonly name: string) {
    this.bridgeNs = `${name}.net`; // no host name has a dot
  }

  /** Makes the namespaces, the bridge and one linked host per name (names: a-z and digits, at most 12). */
  static create(hostNames: string[], opts: NetBedOptions = {}): NetBed {
    checkCanMakeNamespaces();
    removeStaleBeds();
    const bed = new NetBed(`${PREFIX}${process.pid}-${beds++}`);
    live.add(bed);
    try {
      bed.build(hostNames, opts.subnet ?? '10.213.0');
    } catch (err) {
      bed.destroy();
      throw err;
    }
    return bed;
  }

  host(name: string): NetHost {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no host ${name} in this bed (${[...this.hosts.keys()].join(', ')})`);
    return h;
  }

  /** Cuts the host's link: nothing in or out until restore(host). */
  cut(host: string): void {
    this.setPort(host, 'disabled');
  }

  restore(host: string): void {
    this.setPort(host, 'forwarding');
  }

  /** Cuts the path between two hosts only; each still reaches every other host. */
  cutBetween(a: string, b: string): void {
    const [ha, hb] = [this.host(a), this.host(b)];
    ip('-n', ha.ns, 'neigh', 'replace', hb.address, 'lladdr', NOWHERE_MAC, 'dev', HOST_IF, 'nud', 'permanent');
    ip('-n', hb.ns, 'neigh', 'replace', ha.address, 'lladdr', NOWHERE_MAC, 'dev', HOST_IF, 'nud', 'permanent');
  }

  /** Undoes cutBetween(a, b): the hosts find each other again by ARP. */
  restoreBetween(a: string, b: string): void {
    const [ha, hb] = [this.host(a), this.host(b)];
    ip('-n', ha.ns, 'neigh', 'del', hb.address, 'dev', HOST_IF);
    ip('-n', hb.ns, 'neigh', 'del', ha.address, 'dev', HOST_IF);
  }

  /** Splits the network in two: no host of `side` reaches a host of `other` (each side still reaches its own). */
  partition(side: readonly string[], other: readonly string[]): void {
    for (const a of side) for (const b of other) this.cutBetween(a, b);
  }

  /** Undoes partition(side, other). */
  heal(side: readonly string[], other: readonly string[]): void {
    for (const a of side) for (const b of other) this.restoreBetween(a, b);
  }

  /** Every process on the host dies at once (SIGKILL), as in a power loss; returns their pids. */
  killHost(host: string): number[] {
    const pids = ip('netns', 'pids', this.host(host).ns).split('\n').filter(Boolean).map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    return pids;
  }

  /** Runs a command on a host and returns its output (e.g. `ss -tn` to see its connections). */
  exec(host: string, command: string, args: string[]): string {
    return run('ip', ['netns', 'exec', this.host(host).ns, command, ...args]);
  }

  /** Kills whatever still runs in the bed's namespaces and removes them. Idempotent; never throws. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    for (const h of this.hosts.values()) removeNamespace(h.ns);
    removeNamespace(this.bridgeNs);
  }

  private build(hostNames: string[], subnet: string): void {
    if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(subnet)) throw new Error(`subnet must be three octets, e.g. 10.213.0; got ${subnet}`);
    if (hostNames.length === 0 || hostNames.length > 250) throw new Error('a bed has 1 to 250 hosts');
    addNamespace(this.bridgeNs);
    ip('-n', this.bridgeNs, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', this.bridgeNs, 'link', 'set', 'br0', 'up');
    hostNames.forEach((name, i) => {
      // the bridge's port is p-NAME: interface names are at most 15 characters
      if (!/^[a-z][a-z0-9]{0,11}$/.test(name)) throw new Error(`host name ${JSON.stringify(name)}: a-z and digits, at most 12, starting with a letter`);
      if (this.hosts.has(name)) throw new Error(`host ${name} given twice`);
      const ns = `${this.name}-${name}`;
      const address = `${subnet}.${i + 1}`;
      addNamespace(ns);
      this.hosts.set(name, { name, ns, address, prefix: ['ip', 'netns', 'exec', ns] });
      // both ends are made directly in their namespaces: no name is ever taken in the caller's namespace
      ip('link', 'add', HOST_IF, 'netns', ns, 'type', 'veth', 'peer', 'name', `p-${name}`, 'netns', this.bridgeNs);
      ip('-n', this.bridgeNs, 'link', 'set', `p-${name}`, 'master', 'br0');
      ip('-n', this.bridgeNs, 'link', 'set', `p-${name}`, 'up');
      ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', HOST_IF);
      ip('-n', ns, 'link', 'set', HOST_IF, 'up');
    });
  }

  private setPort(host: string, state: 'disabled' | 'forwarding'): void {
    this.host(host);
    run('bridge', ['-n', this.bridgeNs, 'link', 'set', 'dev', `p-${host}`, 'state', state === 'disabled' ? '0' : '3']);
  }
}

function run(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 10_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

function ip(...args: string[]): string {
  return run('ip', args);
}

function addNamespace(ns: string): void {
  ip('netns', 'add', ns);
  ip('-n', ns, 'link', 'set', 'lo', 'up');
}

/** Kills the processes still in the namespace, then removes it; errors are ignored (clean-up must go on). */
function removeNamespace(ns: string): void {
  try {
    for (const pid of ip('netns', 'pids', ns).split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone already
      }
    }
  } catch {
    // no such namespace
  }
  try {
    ip('netns', 'del', ns);
  } catch {
    // no such namespace
  }
}

/** Beds left by test processes that died without cleaning up (their pid is gone): removed. */
function removeStaleBeds(): void {
  const names = ip('netns', 'list').split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(PREFIX));
  for (const ns of names) {
    const pid = Number(/^sq-(\d+)-/.exec(ns)?.[1]);
    if (!Number.isSafeInteger(pid) || pid === process.pid || pidAlive(pid)) continue;
    removeNamespace(ns);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Fails, saying what is missing, where network namespaces cannot be made (not root, no iproute2). */
function checkCanMakeNamespaces(): void {
  const why = 'the network-namespace test bed (bench/harness/netns.ts) needs root and iproute2 (`ip`, `bridge`): run it as root, e.g. through .ci/run, which installs iproute2';
  if (process.getuid?.() !== 0) throw new Error(`${why}; this process runs as uid ${process.getuid?.()}`);
  for (const tool of ['ip', 'bridge']) {
    try {
      run(tool, ['-V']);
    } catch (err) {
      throw new Error(`${why}; \`${tool} -V\` failed: ${(err as Error).message}`);
    }
  }
}
