import { join } from 'node:path';
import { readJson } from './files.js';
import { waitFor } from './wait.js';
import { hasExited, kill9, slowq, stop, type Proc } from './processes.js';
import { numberedPeer } from '../../src/transport/endpoint.js';
import { curveDeployment, type CurveDeployment } from '../../src/cli/curve-deployment.js';

// A whole pipeline as real processes, service by service (logserver, monitor, master, consumers, clients: the
// CLI as `slowq up` and `slowq client` run it), so that a test or bench knows every process and can kill,
// restart and stop each one. The chaos harness (bench/chaos.ts), the fault test (test/e2e-faults.test.ts) and
// the e2e bench's server side all run their pipelines through this, on loopback; the network fault test
// (test/e2e-network.test.ts) places services on hosts of a network-namespace bed instead (`hosts`).

/** Where a service runs when not on this machine's loopback: e.g. a host of bench/harness/netns.ts's bed. */
export interface PipelineHost {
  /** the address it binds (a server) and is reached at */
  address: string;
  /** the command that runs a process there, e.g. ['ip', 'netns', 'exec', NS] */
  prefix: string[];
}

/** The servers' addresses (default loopback). */
export interface ServerAddresses {
  master?: string;
  /** the addresses of the second, third … master (see PipelineOptions.masters) */
  otherMasters?: Array<string | undefined>;
  monitor?: string;
  logserver?: string;
}

/** The endpoints of a pipeline on BASE..BASE+4, laid out as `slowq up --port BASE` lays them out. */
export class PipelinePorts {
  constructor(readonly base: number, private readonly addresses: ServerAddresses = {}) {}

  /** the master's side for clients (BASE) */
  get clients(): string {
    return this.endpoint(0, this.addresses.master);
  }

  /** the master's side for consumers (BASE+1) */
  get consumers(): string {
    return this.endpoint(1, this.addresses.master);
  }

  /**
   * Master i's port for clients (offset 0) or consumers (offset 1): the first master's are BASE and BASE+1; another
   * master on a host of its own uses the same ports, one on loopback is 10·i higher.
   */
  master(i: number, offset: 0 | 1): string {
    if (i === 0) return this.endpoint(offset, this.addresses.master);
    const address = this.addresses.otherMasters?.[i - 1];
    return address === undefined ? this.endpoint(10 * i + offset) : this.endpoint(offset, address);
  }

  /** the monitor (BASE+2) */
  get monitor(): string {
    return this.endpoint(2, this.addresses.monitor);
  }

  /** the logserver (BASE+3) */
  get logserver(): string {
    return this.endpoint(3, this.addresses.logserver);
  }

  /** the monitor's HTTP side: dashboard, /metrics (BASE+4) */
  get http(): number {
    return this.base + 4;
  }

  endpoint(offset: number, address = '127.0.0.1'): string {
    return `tcp://${address}:${this.base + offset}`;
  }
}

export type ServiceKind = 'logserver' | 'monitor' | 'master' | 'consumer' | 'client';

export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

/** One service of the pipeline: a process that can be killed, started again and stopped, knowing which exits it caused. */
export class Service {
  private current: Proc | undefined;
  private expectingExit = false;
  /** when the process now running was started (ms since the epoch) */
  startedAt = 0;
  lastExit: ExitStatus | undefined;

  constructor(
    readonly name: string,
    readonly kind: ServiceKind,
    readonly args: string[],
    private readonly onUnexpectedExit: (service: Service, proc: Proc, exit: ExitStatus) => void,
    /** where it runs (default: here) */
    readonly host?: PipelineHost,
  ) {}

  get proc(): Proc | undefined {
    return this.current;
  }

  get pid(): number | undefined {
    return this.current?.child.pid;
  }

  get running(): boolean {
    return this.current !== undefined && !hasExited(this.current);
  }

  start(): Proc {
    const p = slowq(this.name, this.args, undefined, this.host?.prefix);
    this.current = p;
    this.expectingExit = false;
    this.startedAt = Date.now();
    p.child.once('exit', (code, signal) => {
      this.lastExit = { code, signal };
      if (!this.expectingExit) this.onUnexpectedExit(this, p, this.lastExit);
    });
    return p;
  }

  /** SIGKILL, and wait for the exit. */
  async kill9(): Promise<void> {
    if (!this.current) return;
    this.expectingExit = true;
    await kill9(this.current);
  }

  /** SIGTERM (SIGKILL after graceMs), and wait for the exit: its status, or undefined if it was not running. */
  async stop(graceMs = 10_000): Promise<ExitStatus | undefined> {
    if (!this.running) return undefined;
    this.expectingExit = true;
    await stop(this.current!, graceMs);
    return this.lastExit;
  }

  output(): string {
    return this.current?.output() ?? '';
  }
}

export interface PipelineClient {
  source: string;
  /** the logs it tails */
  files: string[];
  format: string;
  /** its state directory */
  data: string;
  /** more options, e.g. ['--ack-timeout-ms', '1000'] */
  args?: string[];
}

export interface PipelineOptions {
  /** the server side's data: logs/, monitor/, alerts.jsonl and consumers/NAME/, as `slowq up` lays them out */
  data: string;
  base: number;
  /** the consumers' names */
  consumers: string[];
  /** masters (default 1): services master, master2, …; every client and consumer connects to all of them */
  masters?: number;
  /** endpoints to connect to instead of a server's own, by the server's endpoint (e.g. a forwarder in between) */
  via?: Record<string, string>;
  /** one client per source (none: the caller starts its own against `ports.clients`) */
  clients?: PipelineClient[];
  /** more options for every consumer, e.g. ['--no-fsync'] */
  consumerArgs?: string[];
  /** more options for every master, e.g. ['--ring-store', 'etcd://127.0.0.1:2379/slowq'] */
  masterArgs?: string[];
  /** more options for the monitor, e.g. ['--http-port', '5559'] */
  monitorArgs?: string[];
  /** more options for every service but the logserver, e.g. ['--log-level', 'warn'] */
  serviceArgs?: string[];
  /** a process exited that the pipeline did not stop or kill (default: nothing is done) */
  onUnexpectedExit?: (service: Service, proc: Proc, exit: ExitStatus) => void;
  /**
   * Where services run, by service name (logserver, monitor, master, consumer-NAME, client-SOURCE); the others run
   * here, on loopback. A server on another address binds it with --insecure (unless curveDir is given): these hosts
   * are a test's own.
   */
  hosts?: Record<string, PipelineHost>;
  /**
   * CURVE on every connection, as a deployment across hosts has it: the key layout of `slowq up --curve-dir`
   * (made in this directory, or reused), each service given its keys and allow-lists; servers on a host's address
   * then bind without --insecure
   */
  curveDir?: string;
}

/** The order stop() follows: the senders first, so every service stops with nothing left in flight to it. */
const STOP_ORDER: ServiceKind[] = ['client', 'master', 'consumer', 'monitor', 'logserver'];

export class Pipeline {
  readonly ports: PipelinePorts;
  readonly services = new Map<string, Service>();
  /** the consumers' names: the options', and those added since (addConsumer) */
  private readonly consumerNames: string[];
  /** set once stop() or kill() began: exits from then on are expected */
  private finished = false;

  /** stop() or kill() has begun: nothing is to be started again */
  get stopping(): boolean {
    return this.finished;
  }

  private constructor(readonly opts: PipelineOptions) {
    const address = (name: string) => opts.hosts?.[name]?.address;
    const otherMasters = Array.from({ length: Math.max(0, (opts.masters ?? 1) - 1) }, (_, i) => address(numberedPeer('master', i + 1)));
    this.ports = new PipelinePorts(opts.base, { master: address('master'), otherMasters, monitor: address('monitor'), logserver: address('logserver') });
    this.consumerNames = [...opts.consumers];
  }

  /** Defines and starts one more consumer (for a change of the ring: slowq cluster add-consumer). */
  addConsumer(name: string): Service {
    if (this.consumerNames.includes(name)) throw new Error(`consumer ${name} is in this pipeline already`);
    this.consumerNames.push(name);
    this.defineConsumer(name);
    const s = this.consumer(name);
    s.start();
    return s;
  }

  /** Starts every service (not waiting for any to be ready: see ready()). */
  static start(opts: PipelineOptions): Pipeline {
    const p = new Pipeline(opts);
    p.define();
    for (const s of p.services.values()) s.start();
    return p;
  }

  get alertsFile(): string {
    return join(this.opts.data, 'alerts.jsonl');
  }

  consumerDir(name: string): string {
    return join(this.opts.data, 'consumers', name);
  }

  /** The service by its name: logserver, monitor, master, consumer-NAME, client-SOURCE. */
  service(name: string): Service {
    const s = this.services.get(name);
    if (!s) throw new Error(`no service ${name} in this pipeline (${[...this.services.keys()].join(', ')})`);
    return s;
  }

  consumer(name: string): Service {
    return this.service(`consumer-${name}`);
  }

  client(source: string): Service {
    return this.service(`client-${source}`);
  }

  ofKind(kind: ServiceKind): Service[] {
    return [...this.services.values()].filter((s) => s.kind === kind);
  }

  private defineService(name: string, kind: ServiceKind, args: string[]): void {
    this.services.set(name, new Service(name, kind, args, (s, proc, exit) => {
      if (!this.finished) this.opts.onUnexpectedExit?.(s, proc, exit);
    }, this.opts.hosts?.[name]));
  }

  /** master, master-2, …: one per master (opts.masters) */
  private masterNames(): string[] {
    return Array.from({ length: this.opts.masters ?? 1 }, (_, i) => numberedPeer('master', i));
  }

  /** An endpoint as its connecting side dials it: through a forwarder when opts.via says so. */
  private via(endpoint: string): string {
    return this.opts.via?.[endpoint] ?? endpoint;
  }

  /** `--master` once per master: their client ports (offset 0) or consumer ports (offset 1). */
  private toMasters(offset: 0 | 1): string[] {
    return this.masterNames().flatMap((_, i) => ['--master', this.via(this.ports.master(i, offset))]);
  }

  private defineConsumer(name: string): void {
    const ports = this.ports;
    this.defineService(`consumer-${name}`, 'consumer', ['consumer', '--name', name, '--data', this.consumerDir(name), ...this.toMasters(1),
      '--monitor', this.via(ports.monitor), ...(this.opts.consumerArgs ?? []), '--logserver', ports.logserver, ...(this.opts.serviceArgs ?? []),
      ...(this.curveKeys()?.consumer(name) ?? [])]);
  }

  /** the CURVE keys and arguments of every service (see opts.curveDir), made for the consumers known now */
  private curveKeys(): CurveDeployment | undefined {
    return this.opts.curveDir === undefined ? undefined : curveDeployment(this.opts.curveDir, this.consumerNames);
  }

  private define(): void {
    const { data, consumers } = this.opts;
    const ports = this.ports;
    const common = ['--logserver', ports.logserver, ...(this.opts.serviceArgs ?? [])];
    const hosts = this.opts.hosts ?? {};
    const add = (name: string, kind: ServiceKind, args: string[]) => this.defineService(name, kind, args);
    const curve = this.curveKeys();
    /** a server's bind options: loopback by default, else its host's address (plain, unless with CURVE: see `hosts`) */
    const bindOn = (name: string, offset: number): string[] => {
      const address = hosts[name]?.address;
      if (address === undefined) return name === 'logserver' ? ['--port', String(ports.base + offset)] : [];
      return [...(name === 'logserver' ? ['--bind', ports.endpoint(offset, address)] : ['--host', address]), ...(curve ? [] : ['--insecure'])];
    };
    add('logserver', 'logserver', ['logserver', '--data', join(data, 'logs'), ...bindOn('logserver', 3), ...(curve?.logserver ?? [])]);
    add('monitor', 'monitor', ['monitor', '--data', join(data, 'monitor'), '--port', String(ports.base + 2), ...bindOn('monitor', 2),
      '--alerts', this.alertsFile, '--quiet', ...(this.opts.monitorArgs ?? []), ...common, ...(curve?.monitor ?? [])]);
    this.masterNames().forEach((name, i) => {
      const port = Number(new URL(ports.master(i, 0).replace('tcp:', 'http:')).port);
      add(name, 'master', ['master', ...(i > 0 ? ['--name', name] : []), '--data', join(data, name), '--port', String(port), ...bindOn(name, 0),
        '--consumers', consumers.join(','), '--monitor', ports.monitor, ...(this.opts.masterArgs ?? []), ...common, ...(curve?.master ?? [])]);
    });
    for (const name of consumers) this.defineConsumer(name);
    for (const c of this.opts.clients ?? []) {
      add(`client-${c.source}`, 'client', ['client', ...this.toMasters(0), '--source', c.source, '--format', c.format, '--data', c.data,
        ...(c.args ?? []), ...common, ...(curve?.client ?? []), ...c.files]);
    }
  }

  /** A consumer's stats.json (rewritten by it now and then), if there is one. */
  consumerStats(name: string): Record<string, number> | undefined {
    return readJson<Record<string, number>>(join(this.consumerDir(name), 'stats.json'));
  }

  /** Records durably applied: the sum of the consumers' high-water marks as their stats files say. */
  highWaterTotal(): number {
    let n = 0;
    for (const name of this.consumerNames) n += this.consumerStats(name)?.highWaterTotal ?? 0;
    return n;
  }

  /**
   * The same, from stats files written by the consumer processes running now only: undefined while one is
   * (re)starting, since a killed process's last stats may count records it never made durable.
   */
  liveHighWaterTotal(): number | undefined {
    let n = 0;
    for (const name of this.consumerNames) {
      const st = this.consumerStats(name);
      const pid = this.consumer(name).pid;
      if (st === undefined || pid === undefined || st.pid !== pid || typeof st.highWaterTotal !== 'number') return undefined;
      n += st.highWaterTotal;
    }
    return n;
  }

  /** Waits until every consumer has loaded its state (its stats file appears); throws if a service exits meanwhile. */
  async ready(timeoutMs = 60_000): Promise<void> {
    await waitFor('the consumers to start', () => {
      for (const s of this.services.values()) if (!s.running) throw new Error(`${s.name} exited: ${s.output().slice(-1500)}`);
      return this.consumerNames.every((n) => this.consumerStats(n) !== undefined);
    }, timeoutMs, 20);
  }

  /** SIGTERM to each running service in turn (clients, master, consumers, monitor, logserver): how each exited. */
  async stop(graceMs = 10_000): Promise<Array<{ service: Service; exit: ExitStatus }>> {
    this.finished = true;
    const out: Array<{ service: Service; exit: ExitStatus }> = [];
    for (const kind of STOP_ORDER) {
      for (const s of this.ofKind(kind)) {
        const exit = await s.stop(graceMs);
        if (exit) out.push({ service: s, exit });
      }
    }
    return out;
  }

  /** SIGKILL whatever still runs (a failed run's clean-up). */
  async kill(): Promise<void> {
    this.finished = true;
    for (const s of this.services.values()) if (s.running) await s.kill9();
  }
}
