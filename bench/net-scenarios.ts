import { join } from 'node:path';
import { readJson } from './harness/files.js';
import { Forwarder } from './harness/forwarder.js';
import { NetBed } from './harness/netns.js';
import { checkAgainstOracle, type OracleCheck } from './harness/oracle-check.js';
import { Pipeline, type PipelineHost } from './harness/pipeline.js';
import { sleep, waitFor } from './harness/wait.js';
import { WorkloadFile } from './harness/workload-file.js';

// Network faults between slowq's hosts (issue 13), run by test/e2e-network.test.ts, test/e2e-network-masters.test.ts
// and `slowq bench chaos --hosts` alike: a pipeline on a network-namespace bed (harness/netns.ts), CURVE on every
// link, clients writing a bounded load (a fixed number of records every WRITE_EVERY_MS), and the faults, each
// measured the same way: how long it lasted, the records written and acked meanwhile, and from the link's return
// (or the restart) until the flow caught up: the records written by then acked, and the alerts the consumers had
// made by then acked by the monitor. Every wait is bounded (recoveryLimitMs); what a test asserts on top (what a
// process said, which master a client moved to) stays in the test. The oracle check at the end
// (harness/oracle-check.ts) returns its findings rather than asserting them: the bench prints them as rows.

type Stats = Record<string, number>;

export interface NetSource {
  source: string;
  /** the bed host its client runs on */
  host: string;
  /** the generated workload's seed and record id prefix */
  seed: number;
  idPrefix: string;
}

export interface NetScenarioOptions {
  /** working directory: logs, the server side's data, the clients' state, CURVE keys */
  dir: string;
  /** the bed's hosts (a-z and digits); some may carry no service (a spare host for the bed's own check) */
  hosts: string[];
  /** the bed's /24 (three octets) */
  subnet?: string;
  base: number;
  sources: NetSource[];
  /** one host per master: services master, master2, … */
  masters: string[];
  consumers: Array<{ name: string; host: string }>;
  /** the monitor's and the logserver's host */
  alertHost: string;
  /** every server port reached through a forwarder on its host, which can make the link slow and lossy */
  forwarders: boolean;
  /** records per source written before the pipeline starts */
  initialRecords: number;
  /** records per source appended every writeEveryMs while the scenario runs */
  recordsPerWrite: number;
  writeEveryMs: number;
  /** how long any recovery may take before it counts as failed */
  recoveryLimitMs: number;
}

/** How one fault went. Times in ms; `recoveredMs` from the link's return (or the restart) until the flow caught up. */
export interface FaultResult {
  fault: string;
  lengthMs: number;
  recoveredMs: number;
  /** records written, and acked to the clients, while the fault lasted */
  writtenDuring: number;
  ackedDuring: number;
  /** what else was seen (for a test's diagnostics and the bench's notes) */
  notes: string[];
}

/** The network test's finer view of a cut: besides caught up, the first ack and the first alerts ack after the return. */
export interface Outage extends FaultResult {
  /** ms from the return; undefined when it never stopped */
  firstAckMs: number | undefined;
  firstAlertsAckMs: number | undefined;
}

/** A master, by service name, bed host and index. */
export interface MasterRef {
  service: string;
  host: string;
  index: number;
}

/**
 * The bed of a multi-host deployment (issue 13): two database hosts (dba, dbb) with a client each (sources db-a,
 * db-b), two master hosts (m1, m2), two consumer hosts (c0, c1), the alert host (mon: monitor and logserver); every
 * server port behind a forwarder; 500 records per source first.
 */
export function sevenHosts(o: { dir: string; subnet: string; seed: number; recordsPerWrite: number; writeEveryMs: number; recoveryLimitMs: number }): NetScenarioOptions {
  return {
    dir: o.dir,
    hosts: ['dba', 'dbb', 'm1', 'm2', 'c0', 'c1', 'mon'],
    subnet: o.subnet,
    base: 5555,
    sources: [{ source: 'db-a', host: 'dba', seed: o.seed, idPrefix: 'db-a-' }, { source: 'db-b', host: 'dbb', seed: o.seed + 1, idPrefix: 'db-b-' }],
    masters: ['m1', 'm2'],
    consumers: [{ name: 'c0', host: 'c0' }, { name: 'c1', host: 'c1' }],
    alertHost: 'mon',
    forwarders: true,
    initialRecords: 500,
    recordsPerWrite: o.recordsPerWrite,
    writeEveryMs: o.writeEveryMs,
    recoveryLimitMs: o.recoveryLimitMs,
  };
}

/** The halves of sevenHosts()'s partition: each keeps a database host, a master and a consumer. */
export const WEST = ['dba', 'm1', 'c0'];
export const EAST = ['dbb', 'm2', 'c1', 'mon'];

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export class NetScenario {
  readonly forwarders: Forwarder[] = [];
  private writer: NodeJS.Timeout | undefined;

  private constructor(readonly opts: NetScenarioOptions, readonly bed: NetBed, readonly p: Pipeline, readonly workloads: WorkloadFile[]) {}

  /**
   * Makes the bed and the forwarders, starts the pipeline on it, writes the first records and waits until every
   * client had an ack and the monitor acked alerts; then keeps writing. On failure everything made is removed.
   */
  static async start(opts: NetScenarioOptions): Promise<NetScenario> {
    const bed = NetBed.create(opts.hosts, opts.subnet === undefined ? {} : { subnet: opts.subnet });
    let s: NetScenario | undefined;
    const forwarders: Forwarder[] = [];
    try {
      const h = (name: string): PipelineHost => bed.host(name);
      const hosts: Record<string, PipelineHost> = { monitor: h(opts.alertHost), logserver: h(opts.alertHost) };
      opts.masters.forEach((m, i) => (hosts[i === 0 ? 'master' : `master${i + 1}`] = h(m)));
      for (const c of opts.consumers) hosts[`consumer-${c.name}`] = h(c.host);
      for (const src of opts.sources) hosts[`client-${src.source}`] = h(src.host);
      const clientData = (source: string) => join(opts.dir, `client-${source}`);
      const via: Record<string, string> = {};
      if (opts.forwarders) {
        const at = (host: string, port: number) => `tcp://${bed.host(host).address}:${port}`;
        const ports: Array<[string, number]> = [...opts.masters.flatMap((m) => [[m, opts.base], [m, opts.base + 1]] as Array<[string, number]>), [opts.alertHost, opts.base + 2]];
        for (const [host, port] of ports) {
          forwarders.push(await startForwarder(bed, host, port));
          via[at(host, port)] = at(host, port + VIA);
        }
      }
      // the logs exist, with their first records, before the clients start tailing them
      const workloads = opts.sources.map((src) => new WorkloadFile(join(opts.dir, `${src.source}.jsonl`), { seed: src.seed, idPrefix: src.idPrefix }));
      for (const w of workloads) w.append(opts.initialRecords);
      const p = Pipeline.start({
        data: join(opts.dir, 'server'),
        base: opts.base,
        ...(opts.masters.length > 1 ? { masters: opts.masters.length } : {}),
        consumers: opts.consumers.map((c) => c.name),
        curveDir: join(opts.dir, 'curve'), // CURVE on every link, as a deployment across hosts has it
        ...(opts.forwarders ? { via } : {}),
        clients: opts.sources.map((src, i) => ({ source: src.source, files: [workloads[i]!.path], format: 'jsonl', data: clientData(src.source) })),
        hosts,
      });
      s = new NetScenario(opts, bed, p, workloads);
      s.forwarders.push(...forwarders);
      await p.ready();
      s.writer = setInterval(() => {
        for (const w of s!.workloads) w.append(opts.recordsPerWrite);
      }, opts.writeEveryMs);
      const consumers = opts.consumers.map((c) => c.name);
      await waitFor('the first acks and alerts', () => opts.sources.every((src) => (s!.clientStats(src.source)?.acked ?? 0) > 0) &&
        consumers.some((c) => (p.consumerStats(c)?.alertsAcked ?? 0) > 0), 60_000);
      return s;
    } catch (err) {
      if (s) await s.close();
      else {
        for (const f of forwarders) await f.stop().catch(() => {});
        bed.destroy();
      }
      throw err;
    }
  }

  /** Stops writing, kills every process and removes the bed. Never throws. */
  async close(): Promise<void> {
    this.stopWriting();
    await this.p.kill().catch(() => {});
    for (const f of this.forwarders) await f.stop().catch(() => {});
    this.bed.destroy();
  }

  stopWriting(): void {
    if (this.writer) clearInterval(this.writer);
    this.writer = undefined;
  }

  logFile(source: string): string {
    return join(this.opts.dir, `${source}.jsonl`);
  }

  clientData(source: string): string {
    return join(this.opts.dir, `client-${source}`);
  }

  /** A client's stats.json (rewritten every 0.5 s). */
  clientStats(source: string): Stats | undefined {
    return readJson<Stats>(join(this.clientData(source), 'stats.json'));
  }

  written(): number {
    return this.workloads.reduce((n, w) => n + w.written, 0);
  }

  recordsAcked(): number {
    return this.opts.sources.reduce((n, s) => n + (this.clientStats(s.source)?.recordsAcked ?? 0), 0);
  }

  /** A counter of the consumers' stats, summed. */
  consumersSum(key: string): number {
    return this.opts.consumers.reduce((n, c) => n + (this.p.consumerStats(c.name)?.[key] ?? 0), 0);
  }

  /** The forwarder in front of a server's port on a host. */
  forwarderOf(host: string, port: number): Forwarder | undefined {
    return this.forwarders.find((f) => f.endpoint === `tcp://${this.bed.host(host).address}:${port + VIA}`);
  }

  /**
   * Waits until the records written by `target.written` are acked and each consumer's monitor acks reached its
   * alert count of then; returns ms from `since`.
   */
  async caughtUp(what: string, since: number, target = this.snapshot()): Promise<number> {
    const doneAt = await waitFor(`the flow to catch up after ${what}`, () => {
      if (this.recordsAcked() < target.written) return undefined;
      for (const [c, alerts] of target.alerts) if ((this.p.consumerStats(c)?.alertsAcked ?? 0) < alerts) return undefined;
      return Date.now();
    }, this.opts.recoveryLimitMs, 100);
    return doneAt - since;
  }

  /** What has to be acked for the flow to have caught up with now. */
  private snapshot(): { written: number; alerts: Map<string, number> } {
    return { written: this.written(), alerts: new Map(this.opts.consumers.map((c) => [c.name, this.p.consumerStats(c.name)?.alerts ?? 0])) };
  }

  /**
   * One fault: `begin` it, let `during` run (checks while it lasts), wait out `lengthMs` from the beginning, `end` it,
   * and wait for the flow to catch up.
   */
  async fault(fault: string, lengthMs: number, steps: { begin(): void | Promise<void>; during?(notes: string[], began: number): Promise<void>; end(): void | Promise<void> }): Promise<FaultResult> {
    const notes: string[] = [];
    const [written0, acked0] = [this.written(), this.recordsAcked()];
    const began = Date.now();
    await steps.begin();
    await steps.during?.(notes, began);
    await sleep(Math.max(0, lengthMs - (Date.now() - began)));
    const target = this.snapshot();
    const ackedDuring = this.recordsAcked() - acked0;
    const returned = Date.now();
    await steps.end();
    const recoveredMs = await this.caughtUp(fault, returned, target);
    notes.push(`${fault}: caught up ${seconds(recoveredMs)} after the fault ended (stats files, rewritten every 0.5 s)`);
    return { fault, lengthMs: returned - began, recoveredMs, writtenDuring: target.written - written0, ackedDuring, notes };
  }

  /**
   * A link cut for `lengthMs`, then restored; besides catching up, when the clients' first ack and the monitor's
   * first alerts ack came after the return.
   */
  async outage(fault: string, lengthMs: number, cut: () => void, restore: () => void): Promise<Outage> {
    let restoredAt = 0;
    let firstAck: Promise<number> | undefined;
    let firstAlertsAck: Promise<number> | undefined;
    const r = await this.fault(fault, lengthMs, {
      begin: cut,
      end: () => {
        const acked = new Map(this.opts.sources.map((s) => [s.source, this.clientStats(s.source)?.acked ?? 0]));
        const alertsAcked = this.consumersSum('alertsAcked');
        restoredAt = Date.now();
        restore();
        // watched while the flow catches up (caught, so that a failure is seen where they are awaited)
        firstAck = waitFor('the first ack after the restore', () => {
          for (const s of this.opts.sources) {
            const st = this.clientStats(s.source);
            if (st && st.acked > acked.get(s.source)!) return st.lastAckAt;
          }
          return undefined;
        }, this.opts.recoveryLimitMs);
        firstAlertsAck = waitFor('the monitor\'s first alerts ack after the restore',
          () => (this.consumersSum('alertsAcked') > alertsAcked ? Date.now() : undefined), this.opts.recoveryLimitMs);
        firstAck.catch(() => {});
        firstAlertsAck.catch(() => {});
      },
    });
    const since = (at: number) => (at < restoredAt ? undefined : at - restoredAt);
    const o: Outage = { ...r, firstAckMs: since(await firstAck!), firstAlertsAckMs: since(await firstAlertsAck!) };
    const say = (ms: number | undefined) => (ms === undefined ? 'never stopped' : seconds(ms));
    o.notes.push(`from the network's return: clients' first ack ≤ ${say(o.firstAckMs)}, consumers' first alerts ack ≤ ${say(o.firstAlertsAckMs)}, ` +
      `both caught up ≤ ${seconds(o.recoveredMs)} (read from stats files, rewritten every 0.5 s)`);
    return o;
  }

  /** The master (service, host) the first client sends through now. */
  async activeMaster(): Promise<MasterRef> {
    // the stats file is rewritten every 0.5 s: let it catch up with the last move
    await sleep(1000);
    const index = this.clientStats(this.opts.sources[0]!.source)?.activeMaster ?? 0;
    return { service: index === 0 ? 'master' : `master${index + 1}`, host: this.opts.masters[index]!, index };
  }

  /** Records of the first source written after `began` are acked: its client carries on through another master. */
  async flowsMeanwhile(what: string, began: number, notes: string[], limitMs: number): Promise<void> {
    const source = this.opts.sources[0]!.source;
    const target = this.workloads[0]!.written + this.opts.recordsPerWrite;
    const resumed = await waitFor(`records of ${source} written during ${what} to be acked`,
      () => ((this.clientStats(source)?.recordsAcked ?? 0) >= target ? Date.now() : undefined), limitMs, 100);
    notes.push(`${source}'s records acked again ${seconds(resumed - began)} after ${what} began`);
  }

  /** The first client moved off master `index`: its count of moves went up, and it sends through another. */
  async movedOff(index: number, failoversBefore: number, limitMs: number): Promise<void> {
    const source = this.opts.sources[0]!.source;
    await waitFor(`${source} to move off master ${index + 1}`, () => {
      const st = this.clientStats(source);
      return st !== undefined && st.masterFailovers > failoversBefore && st.activeMaster !== index;
    }, limitMs, 100);
  }

  private failovers(): number {
    return this.clientStats(this.opts.sources[0]!.source)?.masterFailovers ?? 0;
  }

  /** The master the first client sends through, SIGKILLed; the clients carry on through another; started again after `lengthMs`. */
  async masterKilled(lengthMs: number): Promise<FaultResult> {
    const victim = await this.activeMaster();
    const failovers = this.failovers();
    return this.fault(`${victim.service} SIGKILLed`, lengthMs, {
      begin: () => this.p.service(victim.service).kill9(),
      during: async (notes, began) => {
        await this.flowsMeanwhile(`${victim.service}'s death`, began, notes, lengthMs * 4);
        await this.movedOff(victim.index, failovers, lengthMs * 4);
      },
      end: () => void this.p.service(victim.service).start(),
    });
  }

  /** The host of the master the first client sends through cut off, both masters running. */
  async masterHostCut(lengthMs: number): Promise<FaultResult> {
    const victim = await this.activeMaster();
    const failovers = this.failovers();
    return this.fault(`${victim.service}'s host cut off`, lengthMs, {
      begin: () => this.bed.cut(victim.host),
      during: async (notes, began) => {
        await this.flowsMeanwhile(`${victim.service}'s cut`, began, notes, lengthMs * 4);
        await this.movedOff(victim.index, failovers, lengthMs * 4);
      },
      end: () => this.bed.restore(victim.host),
    });
  }

  /**
   * The master the first client sends through stalled (SIGSTOP) and resumed; then how many records it still passed
   * on that the consumers skipped (`again`, 0 when its connections were dropped meanwhile).
   */
  async masterStall(lengthMs: number): Promise<FaultResult & { again: number }> {
    const victim = await this.activeMaster();
    const failovers = this.failovers();
    const before = this.consumersSum('duplicates');
    const pid = this.p.service(victim.service).pid!;
    let resumed = false;
    const resume = () => {
      if (!resumed) process.kill(pid, 'SIGCONT');
      resumed = true;
    };
    let r: FaultResult;
    try {
      r = await this.fault(`${victim.service} stalled`, lengthMs, {
        begin: () => void process.kill(pid, 'SIGSTOP'),
        during: async (notes, began) => {
          await this.flowsMeanwhile(`${victim.service}'s stall`, began, notes, lengthMs * 4);
          await this.movedOff(victim.index, failovers, lengthMs * 4);
        },
        end: resume,
      });
    } finally {
      resume();
    }
    // the batches the stalled master had taken in were sent again through the other one and applied; when it woke
    // up it passed on the copies it still held (unless their connection was dropped meanwhile: with CURVE, a peer
    // silent for seconds is disconnected and what was queued for it goes), and the consumers skipped them
    const again = await waitFor('the stalled master\'s copies to reach the consumers',
      () => (this.consumersSum('duplicates') > before ? this.consumersSum('duplicates') - before : undefined), 15_000, 200).catch(() => 0);
    r.notes.push(again > 0 ? `${again} records reached a consumer a second time, through the master that stalled, and were skipped`
      : 'none of what the stalled master held reached a consumer after it resumed (its connections were dropped)');
    return { ...r, again };
  }

  /**
   * The clients' link to the master the first client sends through works one way (forwarder.holdReplies): batches
   * reach it and are applied, their acks never come back; the client moves to another master and sends them again.
   * `again`: the records the consumers skipped as duplicates meanwhile.
   */
  async lostAcks(): Promise<FaultResult & { again: number }> {
    const victim = await this.activeMaster();
    const failovers = this.failovers();
    const before = this.consumersSum('duplicates');
    const link = this.forwarderOf(victim.host, this.opts.base);
    if (!link) throw new Error(`no forwarder in front of ${victim.service}'s client port`);
    let r: FaultResult;
    try {
      r = await this.fault(`${victim.service}'s acks lost`, 0, {
        begin: () => link.holdReplies(),
        during: async (notes, began) => {
          await this.movedOff(victim.index, failovers, this.opts.recoveryLimitMs);
          await this.flowsMeanwhile(`${victim.service}'s lost acks`, began, notes, this.opts.recoveryLimitMs);
        },
        end: () => link.heal(),
      });
    } finally {
      link.heal();
    }
    const again = this.consumersSum('duplicates') - before;
    r.notes.push(`${again} records reached a consumer a second time, through the other master, and were skipped`);
    return { ...r, again };
  }

  /** The network split into two halves for `lengthMs`, healed while batches are in flight. */
  partition(side: readonly string[], other: readonly string[], lengthMs: number): Promise<FaultResult> {
    return this.fault(`a partition (${side.join(' ')} | ${other.join(' ')})`, lengthMs, {
      begin: () => this.bed.partition(side, other),
      end: () => this.bed.heal(side, other),
    });
  }

  /**
   * Every process of `host` killed at once (power loss), started again after `lengthMs`: its forwarders and its
   * services. `killed`: how many processes died.
   */
  async powerLoss(host: string, lengthMs: number): Promise<FaultResult & { killed: number }> {
    let killed = 0;
    const address = this.bed.host(host).address;
    const r = await this.fault(`every process of host ${host} killed`, lengthMs, {
      begin: () => void (killed = this.bed.killHost(host).length),
      end: async () => {
        for (let i = this.forwarders.length - 1; i >= 0; i--) {
          const f = this.forwarders[i]!;
          if (!f.endpoint.startsWith(`tcp://${address}:`)) continue;
          this.forwarders.splice(i, 1);
          this.forwarders.push(await startForwarder(this.bed, host, Number(f.endpoint.split(':').pop()) - VIA));
        }
        // the logserver first: the others log to it
        const services = [...this.p.services.values()].filter((s) => s.host?.address === address);
        services.sort((a, b) => Number(b.kind === 'logserver') - Number(a.kind === 'logserver'));
        for (const s of services) s.start();
      },
    });
    return { ...r, killed };
  }

  /** 200 ms latency with 5% loss on every forwarded link for `lengthMs` (records acked meanwhile first). */
  latency(lengthMs: number): Promise<FaultResult> {
    return this.fault(`200 ms latency, 5% loss on every link`, lengthMs, {
      begin: () => {
        for (const f of this.forwarders) f.impair();
      },
      during: (notes, began) => this.flowsMeanwhile('the slow, lossy links', began, notes, Math.max(lengthMs * 4, 60_000)),
      end: () => {
        for (const f of this.forwarders) f.heal();
      },
    });
  }

  /** Stops writing, then the oracle check: alerts equal `slowq evaluate`'s, none twice, high-water marks add up. */
  async check(timeoutMs = 120_000): Promise<OracleCheck> {
    this.stopWriting();
    return checkAgainstOracle({
      alertsFile: this.p.alertsFile,
      sources: this.opts.sources.map((s) => ({ source: s.source, files: [this.logFile(s.source)] })),
      written: this.written(),
      highWater: () => this.p.highWaterTotal(),
      timeoutMs,
    });
  }
}

/** a forwarder listens this much above the port it forwards to */
const VIA = 100;

/** A forwarder on `host` in front of the server's `port` there. */
function startForwarder(bed: NetBed, host: string, port: number): Promise<Forwarder> {
  const h = bed.host(host);
  return Forwarder.start(`forwarder-${host}-${port}`, h.prefix, [h.address, port + VIA], [h.address, port]);
}
