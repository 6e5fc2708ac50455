import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ServerEndpoint } from '../transport/endpoint.js';
import { StatsFile } from '../service/stats-file.js';
import { StatsReporter } from '../service/stats-reporter.js';
import { inputKey, type InputConfig } from './agent-config.js';
import { Client, type ClientStats } from './client.js';
import { MasterConnection } from './master-connection.js';
import type { ProbeJournal } from './probe-journal.js';
import type { ProbeStats } from './probe/probe.js';

// The agent on a database host (`slowq agent`): any number of inputs, one data directory, one connection to the
// master, one stats file. Each input is a Client (client.ts: tail → parse → number → batch → send, offsets after
// the ack) with its own registry under DATA/inputs/NAME/ and its own window of unacked batches, all of them
// sending over the one MasterConnection; a probe input is a ProbeJournal feeding a jsonl Client. `slowq client`
// is an agent of one input whose files stay directly in its data directory (`flat`), as they always were.
//
// reload() swaps the inputs: an input whose settings are unchanged keeps running untouched, a removed one is
// stopped (its registry stays: added again under the same name, it resumes where it was), a new one is started.

export interface AgentTuning {
  batchSize: number;
  lingerMs: number;
  window: number;
  ackTimeoutMs: number;
  pollMs: number;
  statsIntervalMs?: number;
}

export interface AgentOptions extends AgentTuning {
  /** the masters' client endpoints (one or more, each with its CURVE key): the inputs send through one, and move to another when it fails */
  masters: ServerEndpoint[];
  dataDir: string;
  inputs: InputConfig[];
  log: Logger;
  /** counters added to every input's report (the logger's dropped lines) */
  extraCounters?: () => Record<string, number>;
  /** one input keeping its registry, dead letters and stats.json directly in dataDir (`slowq client`) */
  flat?: boolean;
}

export interface AgentCounters {
  inputs: number;
  configReloads: number;
  configReloadFailures: number;
  /** 1 if the last reload was taken (or none was asked for), 0 if it was refused */
  configLastReloadSuccessful: number;
}

interface RunningInput {
  config: InputConfig;
  key: string;
  client: Client;
  probe?: ProbeJournal;
}

export interface ReloadResult {
  added: string[];
  removed: string[];
  /** same name, other settings: stopped and started again (from its registry) */
  restarted: string[];
  kept: string[];
}

export class Agent {
  private readonly connection: MasterConnection;
  private readonly running = new Map<string, RunningInput>();
  private readonly statsFile: StatsFile | undefined;
  private readonly reporter: StatsReporter;
  private readonly counters: AgentCounters = { inputs: 0, configReloads: 0, configReloadFailures: 0, configLastReloadSuccessful: 1 };
  private started = false;

  constructor(private readonly opts: AgentOptions) {
    if (opts.flat && opts.inputs.length !== 1) throw new Error('an agent keeping its input\'s files in its data directory has exactly one input');
    this.connection = new MasterConnection({ masters: opts.masters, log: opts.log });
    if (!opts.flat) this.statsFile = new StatsFile(join(opts.dataDir, 'stats.json'), () => this.stats());
    this.reporter = new StatsReporter({
      service: `agent-${hostname()}`, kind: 'agent', counters: () => ({ ...this.counters }), extra: opts.extraCounters,
      intervalMs: opts.statsIntervalMs ?? 2000, report: (st) => this.connection.sendStats(st),
    });
  }

  async start(): Promise<void> {
    this.started = true;
    this.connection.start();
    try {
      for (const input of this.opts.inputs) await this.startInput(input);
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.statsFile?.start();
    if (!this.opts.flat) this.reporter.start();
    this.opts.log.info({ masters: this.opts.masters.map((m) => m.endpoint), inputs: [...this.running.keys()] }, 'agent started');
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.reporter.stop();
    for (const name of [...this.running.keys()]) await this.stopInput(name);
    await this.connection.stop();
    this.statsFile?.stop();
  }

  /** The inputs running now, by name. */
  get inputNames(): string[] {
    return [...this.running.keys()];
  }

  /**
   * Takes a new list of inputs: `load` reads and checks the configuration; if it throws, nothing changes, and
   * the refusal is logged and counted. Inputs that stay as they were keep running untouched.
   */
  async reload(load: () => InputConfig[]): Promise<ReloadResult | undefined> {
    let inputs: InputConfig[];
    try {
      inputs = load();
    } catch (err) {
      this.counters.configReloadFailures++;
      this.counters.configLastReloadSuccessful = 0;
      this.opts.log.error({ err: (err as Error).message }, 'configuration reload refused; the inputs running stay as they were');
      return undefined;
    }
    const wanted = new Map(inputs.map((i) => [i.name, i]));
    const result: ReloadResult = { added: [], removed: [], restarted: [], kept: [] };
    const restarting = new Set<string>();
    for (const [name, r] of [...this.running]) {
      const next = wanted.get(name);
      if (next && inputKey(next) === r.key) {
        result.kept.push(name);
        continue;
      }
      await this.stopInput(name);
      if (next) restarting.add(name);
      else result.removed.push(name);
    }
    let failed = false;
    for (const input of inputs) {
      if (this.running.has(input.name)) continue;
      try {
        await this.startInput(input);
        (restarting.has(input.name) ? result.restarted : result.added).push(input.name);
      } catch (err) {
        failed = true;
        this.opts.log.error({ input: input.name, err: (err as Error).message }, 'cannot start an input of the reloaded configuration');
      }
    }
    this.counters.configReloads++;
    if (failed) this.counters.configReloadFailures++;
    this.counters.configLastReloadSuccessful = failed ? 0 : 1;
    this.opts.log.info(result, 'configuration reloaded');
    return result;
  }

  stats(): { agent: AgentCounters; inputs: Record<string, ClientStats & { source: string; probe?: ProbeStats }> } {
    const inputs: Record<string, ClientStats & { source: string; probe?: ProbeStats }> = {};
    for (const [name, r] of this.running) {
      inputs[name] = { source: r.config.source, ...r.client.stats(), ...(r.probe && { probe: r.probe.stats() }) };
    }
    return { agent: { ...this.counters }, inputs };
  }

  private inputDir(name: string): string {
    return this.opts.flat ? this.opts.dataDir : join(this.opts.dataDir, 'inputs', name);
  }

  private async startInput(config: InputConfig): Promise<void> {
    const dir = this.inputDir(config.name);
    const log = this.opts.flat ? this.opts.log : this.opts.log.child({ input: config.name });
    let probe: ProbeJournal | undefined;
    let client: Client | undefined;
    if (config.kind === 'probe') {
      // loaded only by an agent with a probe input: `slowq client` and file-only agents start without the database drivers
      const journal = await import('./probe-journal.js');
      // until the input's client has loaded its registry, every file counts as held (no rotated journal is removed)
      const files = { holds: (dev: string, ino: string) => client?.holdsFile(dev, ino) ?? true };
      probe = new journal.ProbeJournal(config, dir, await journal.activitySource(config), files, log);
      await probe.start();
    }
    const o = this.opts;
    client = new Client({
      masters: o.masters,
      connection: this.connection,
      source: config.source,
      service: o.flat ? `client-${config.source}` : `client-${config.name}`,
      statsFile: o.flat === true,
      format: config.kind === 'files' ? config.format : 'jsonl',
      parserOptions: config.kind === 'files' ? config.parserOptions : {},
      ...(config.kind === 'files' && config.ship && { ship: config.ship }),
      dataDir: dir,
      patterns: config.kind === 'files' ? config.paths : probe ? [probe.path] : [],
      log,
      batchSize: o.batchSize,
      lingerMs: o.lingerMs,
      window: o.window,
      ackTimeoutMs: o.ackTimeoutMs,
      pollIntervalMs: o.pollMs,
      ...(o.statsIntervalMs !== undefined && { statsIntervalMs: o.statsIntervalMs }),
      ...(o.extraCounters && { extraCounters: o.extraCounters }),
    });
    try {
      await client.start();
    } catch (err) {
      await probe?.stop();
      throw err;
    }
    this.running.set(config.name, { config, key: inputKey(config), client, ...(probe && { probe }) });
    this.counters.inputs = this.running.size;
  }

  private async stopInput(name: string): Promise<void> {
    const r = this.running.get(name);
    if (!r) return;
    this.running.delete(name);
    this.counters.inputs = this.running.size;
    await r.probe?.stop();
    await r.client.stop();
  }
}
