import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { defaultConsumerNames } from '../src/master/rendezvous.js';
import { procSample, readJson, slowqChild, sleep, stopChild, waitUntil, type Child, type ProcSample } from './tools.js';

// The server side as `slowq up` runs it (logserver, monitor, master, M consumers: the real CLI processes on
// loopback), but started service by service so the bench knows every pid and can choose per-run options
// (e.g. a clearly labelled --no-fsync run). Always stopped through stop(), also when the bench fails.

export interface ServerSideOptions {
  data: string;
  base: number;
  consumers: number;
  fsync: boolean;
  logLevel?: string;
}

export class BenchServerSide {
  readonly procs = new Map<string, Child>();
  readonly names: string[];
  private constructor(readonly opts: ServerSideOptions) {
    this.names = defaultConsumerNames(opts.consumers);
  }

  static async start(opts: ServerSideOptions): Promise<BenchServerSide> {
    const s = new BenchServerSide(opts);
    try {
      await s.launch();
    } catch (err) {
      await s.stop();
      throw err;
    }
    return s;
  }

  get clientEndpoint(): string {
    return `tcp://127.0.0.1:${this.opts.base}`;
  }

  get alertsFile(): string {
    return join(this.opts.data, 'alerts.jsonl');
  }

  consumerDir(name: string): string {
    return join(this.opts.data, 'consumers', name);
  }

  private async launch(): Promise<void> {
    const { data, base } = this.opts;
    const logserver = `tcp://127.0.0.1:${base + 3}`;
    const common = ['--logserver', logserver, '--log-level', this.opts.logLevel ?? 'info'];
    this.procs.set('logserver', slowqChild('logserver', ['logserver', '--data', join(data, 'logs'), '--port', String(base + 3)]));
    this.procs.set('monitor', slowqChild('monitor', ['monitor', '--data', join(data, 'monitor'), '--port', String(base + 2), '--alerts', this.alertsFile, '--quiet', ...common]));
    this.procs.set('master', slowqChild('master', ['master', '--port', String(base), '--consumers', this.names.join(','), '--monitor', `tcp://127.0.0.1:${base + 2}`, ...common]));
    for (const name of this.names) {
      this.procs.set(`consumer-${name}`, slowqChild(`consumer-${name}`, [
        'consumer', '--name', name, '--data', this.consumerDir(name), '--master', `tcp://127.0.0.1:${base + 1}`,
        '--monitor', `tcp://127.0.0.1:${base + 2}`, ...(this.opts.fsync ? [] : ['--no-fsync']), ...common,
      ]));
    }
    // ready: every consumer has loaded its state (its stats file appears) and has said hello to the master
    await waitUntil('consumers to start', () => {
      for (const [name, c] of this.procs) if (c.proc.exitCode !== null) throw new Error(`${name} exited: ${c.output().slice(-1500)}`);
      return this.names.every((n) => existsSync(join(this.consumerDir(n), 'stats.json')));
    }, 60_000, 20);
    await sleep(300);
  }

  consumerStats(name: string): Record<string, number> | undefined {
    return readJson<Record<string, number>>(join(this.consumerDir(name), 'stats.json'));
  }

  /** Sum of every consumer's high-water marks: records durably applied. */
  highWaterTotal(): number {
    let n = 0;
    for (const name of this.names) n += this.consumerStats(name)?.highWaterTotal ?? 0;
    return n;
  }

  samples(): Map<string, ProcSample> {
    const m = new Map<string, ProcSample>();
    for (const [name, c] of this.procs) {
      const s = c.proc.pid !== undefined ? procSample(c.proc.pid) : undefined;
      if (s) m.set(name, s);
    }
    return m;
  }

  /** Stops consumers first (they finish their commit), then master, monitor, logserver. */
  async stop(): Promise<void> {
    const order = [...this.names.map((n) => `consumer-${n}`), 'master', 'monitor', 'logserver'];
    for (const name of order) {
      const c = this.procs.get(name);
      if (c) await stopChild(c, 5000);
    }
    this.procs.clear();
  }
}
