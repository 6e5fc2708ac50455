import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { CurveClientConfig } from '../security/curve.js';
import { stampRecords, type Alert, type QueryRecord } from '../model/record.js';
import { Quarantine } from '../durable/quarantine.js';
import type { Frames } from '../transport/send-queue.js';
import { Endpoint, numberedPeer, serverLinkStats, type ServerEndpoint, type ServerLink } from '../transport/endpoint.js';
import { decodeChunkBytes, decodeHeader, decodeNames, decodeRecords, encodeAlerts, encodeHeader, encodeStats, ProtocolError, type ChunkHeader, type Header } from '../wire/protocol.js';
import { ackHeader, alertsHeader, gapHeader, helloHeader, retryHeader, statsHeader } from '../wire/headers.js';
import { MAX_ALERTS_PER_MESSAGE } from '../wire/limits.js';
import { RulesEngine, type BatchResult } from '../rules/engine.js';
import { Outbox } from './outbox.js';
import { DEFAULT_RULES, type RulesConfig } from '../rules/rules.js';
import { decodeEntry, decodeSnapshot, encodeEntry, encodeSnapshot, entryRecords, type JournalEntry } from './state-codec.js';
import { DurableStore } from '../durable/store.js';
import { WarnOnce } from '../service/warn-once.js';
import { StatsFile } from '../service/stats-file.js';
import { StatsReporter } from '../service/stats-reporter.js';
import { PeakMs } from '../service/peak.js';
import { nextGeneration, type ConsumerIdentity } from './identity.js';
import { Handoffs, type HandoffHost } from './handoff.js';
import type { HandoffsSnapshot } from './state-codec.js';
import type { EntryBytes } from '../durable/journal.js';
import { QueryClasses } from './query-classes.js';
import { CLASS_REPORT_LIMIT } from '../model/query-class.js';
import { serviceStats } from '../wire/stats-schema.js';
import type { ServiceStats } from '../wire/protocol.js';
import { chunkRequest, ChunkIntake, type ChunkRequest, type ChunkResult } from './chunk-intake.js';
import { ParseAhead, type AheadTicket } from './parse-ahead.js';
import { OrderedInbox } from './ordered-inbox.js';
import { DeadLetters } from '../service/dead-letter.js';

// A consumer owns the sources the master routes to it. For each request: apply the records in order
// (duplicates by per-stream high-water mark are counted, not applied), make the change durable, then
// ack. Requests that arrive while a commit is in flight are applied in memory and committed together
// in the next one (group commit): one fsync for many requests.
//
// The consumer tells the master which state it carries and which start of it it is (identity.ts); the master
// routes its name to one process only and answers the others "fenced" (src/master/ownership.ts). A fenced
// consumer says so once, reports itself as fenced in its counters, and keeps saying hello: it is routed to as
// soon as the master holds it to be the rightful owner.
//
// With several masters (docs/delivery.md, "Several masters") the consumer connects to each, says hello to each,
// and answers a request through the master that brought it. Requests from all of them go through the one
// per-stream high-water mark and the one group commit, so a batch that comes twice (through two masters) is a
// duplicate, and one that comes ahead of its predecessor is a gap, whichever master brought which. Each master
// decides alone whom it routes a name to; so that two masters that disagree (one holds another process to be
// the owner) cannot both have a process ack batches for the same sources, a process that any master fences off
// answers every request "retry" until none does.

export interface ConsumerOptions {
  name: string;
  /** the masters' consumer endpoints (e.g. tcp://127.0.0.1:5556), one or more, each with its CURVE key */
  masters: ServerEndpoint[];
  /** monitor endpoint, e.g. tcp://127.0.0.1:5557 */
  monitor: string;
  dataDir: string;
  log: Logger;
  rules?: RulesConfig;
  fsync?: boolean;
  heartbeatMs?: number;
  /** journal size that triggers a snapshot (default 64 MiB) */
  compactBytes?: number;
  alertsPerMessage?: number;
  alertAckTimeoutMs?: number;
  statsIntervalMs?: number;
  /** counters to add to the consumer's own (e.g. the logger's dropped lines) */
  extraCounters?: () => Record<string, number>;
  /** CURVE for the connection to the monitor (with its public key) */
  monitorCurve?: CurveClientConfig;
  /** threads that parse raw chunks ahead while the main thread applies the ones before (parse-ahead.ts); 0: none (default) */
  parseThreads?: number;
}

export interface ConsumerStats {
  requests: number;
  applied: number;
  duplicates: number;
  late: number;
  gaps: number;
  malformed: number;
  commits: number;
  commitMsTotal: number;
  commitFailures: number;
  alerts: number;
  alertsAcked: number;
  outbox: number;
  openQueries: number;
  /** query classes tracked for regressions (at most rules.max_classes per source), and those evicted since it started */
  regressionClasses: number;
  regressionClassesEvicted: number;
  /** sum of every stream's high-water mark: records applied exactly once, durable across restarts */
  highWaterTotal: number;
  /** records refused as clock steps (too far ahead of their source's time, not confirmed: rules/source-clock.ts) */
  clockSteps: number;
  /** confirmed jumps of a source's time past the clock step limit (a gap in the log) */
  timeJumps: number;
  /** 1 while the master fences this process off (another process holds its name), else 0 */
  fenced: number;
  /** this start of the state (identity.ts) */
  generation: number;
  /** entries of its state set aside since it started (quarantine.jsonl in its data dir) */
  setAside: number;
  /** configuration reloads (SIGHUP) that changed its thresholds, and reloads refused (bad file, or the snapshot failed) */
  rulesReloads: number;
  rulesReloadFailures: number;
  /** ring-change messages refused because this consumer has several masters that do not share one ring */
  ringChangesRefused: number;
  /** batches refused because the master routed them by an older ring than one this consumer has had (a stale master) */
  staleRoutes: number;
  /** raw chunks received (`--ship chunks`), and their bytes */
  chunks: number;
  chunkBytes: number;
  /** bytes of chunks that were applied already (a chunk sent again, or cut longer after a client's restart) */
  chunkBytesDuplicate: number;
  /** lines and entries of raw chunks that could not be used: in dead-letter.jsonl in its data directory */
  deadLettered: number;
  /** chunks that did not end where an entry ends (a client that cut them wrong): what they held was flushed */
  chunksCutInEntry: number;
}

/** An answer for a client, and the master (an index into the masters) to send it through. */
interface Reply {
  via: number;
  frames: Frames;
}

interface PendingGroup {
  entries: EntryBytes[];
  replies: Reply[];
  alerts: Alert[];
}

export class Consumer {
  private readonly masters: ServerLink[];
  private readonly monitor: Endpoint<'dealer'>;
  private readonly store: DurableStore;
  private engine: RulesEngine;
  /** the rules in force: the options', until a reload changes them (setRules) */
  private rules: RulesConfig;
  private outbox = new Outbox();
  /** sources given up and received when the ring changes (handoff.ts) */
  private handoffs = new Handoffs();
  private pending: PendingGroup = { entries: [], replies: [], alerts: [] };
  private committing = false;
  /** the group being written: its alerts enter the outbox once it is durable */
  private writing: PendingGroup | undefined;
  /** a threshold change waits for the commit in flight: the commit loop stops after it (setRules) */
  private rulesChanging = false;
  /** set after a failed commit: in-memory state is ahead of disk until reloaded */
  private reloading: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private stopping = false;
  private readonly warned: WarnOnce;
  private readonly statsFile: StatsFile;
  /** the dashboard's class view (a view, not state: see query-classes.ts) */
  private readonly classes = new QueryClasses();
  private readonly reporter: StatsReporter;
  private identity: ConsumerIdentity | undefined;
  /** why masters fence this process off (by master index), while they do */
  private readonly fencedBy = new Map<number, string>();
  /** the counters the consumer keeps itself; getStats() adds the rest */
  private readonly quarantine: Quarantine;
  private readonly stats: Omit<ConsumerStats, 'malformed' | 'outbox' | 'openQueries' | 'regressionClasses' | 'regressionClassesEvicted' | 'highWaterTotal' | 'fenced' | 'generation' | 'setAside' | 'deadLettered'> = {
    requests: 0, applied: 0, duplicates: 0, late: 0, gaps: 0, commits: 0, commitMsTotal: 0, commitFailures: 0, alerts: 0, alertsAcked: 0, clockSteps: 0, timeJumps: 0,
    rulesReloads: 0, rulesReloadFailures: 0, ringChangesRefused: 0, staleRoutes: 0, chunks: 0, chunkBytes: 0, chunkBytesDuplicate: 0, chunksCutInEntry: 0,
  };
  /** raw chunks are parsed here (design B) */
  private readonly chunkIntake = new ChunkIntake();
  /** and ahead, in parse threads, while the chunks before them are applied (undefined: parseThreads 0) */
  private readonly parseAhead: ParseAhead | undefined;
  /** requests from the masters, done in the order they came while chunks among them are parsed ahead */
  private readonly inbox: OrderedInbox<{ msg: Buffer[]; via: number }> | undefined;
  private readonly deadLetters: DeadLetters;
  /** the slowest commit since the last stats report */
  private readonly commitPeak = new PeakMs();

  constructor(private readonly opts: ConsumerOptions) {
    this.warned = new WarnOnce(opts.log);
    this.rules = opts.rules ?? DEFAULT_RULES;
    this.engine = new RulesEngine(this.rules);
    this.store = new DurableStore(opts.dataDir, { fsync: opts.fsync ?? true });
    const log = opts.log;
    this.quarantine = new Quarantine(opts.dataDir, { report: (msg, fields) => log.warn({ dataDir: opts.dataDir, ...fields }, msg) });
    if (opts.masters.length === 0) throw new Error('the consumer needs at least one master');
    // a routing id of this process's own: kept across reconnects, never another process's (see master.ts)
    const routingId = randomBytes(12).toString('hex');
    this.masters = opts.masters.map((m, i) => {
      const peer = numberedPeer('master', i);
      const endpoint = new Endpoint('dealer', {
        log, warned: this.warned, security: { peer, curve: m.curve, log },
        socket: { routingId, linger: 0, sendHighWaterMark: 100_000, receiveHighWaterMark: 100_000 },
        // back: say so at once rather than at the next heartbeat, so the master routes to it again sooner
        link: { onReconnect: () => this.hello('hb', i) },
      });
      return { address: m.endpoint, peer, endpoint };
    });
    // Back: the alerts in flight may have been lost with the old connection; send them again now rather than
    // after the ack timeout (the monitor drops what it already has).
    this.monitor = new Endpoint('dealer', {
      log, warned: this.warned, security: { peer: 'monitor', curve: opts.monitorCurve, log }, maxQueued: 1000,
      socket: { linger: 0, sendHighWaterMark: 10_000 },
      link: {
        backlog: () => `${this.outbox.size} alerts wait in the outbox, sent when it is back`,
        awaitsReply: () => this.outbox.size > 0,
        onReconnect: () => {
          this.outbox.reset();
          this.sendAlerts();
        },
      },
    });
    const threads = opts.parseThreads ?? 0;
    if (threads > 0) {
      const ahead = new ParseAhead({ threads, log, onSettled: () => this.inbox?.drain() });
      this.parseAhead = ahead;
      this.inbox = new OrderedInbox(ahead, {
        markOf: (src, stream) => this.engine.sources.get(src)?.chunks.get(stream),
        run: (r, ticket) => this.onRequest(r.msg, r.via, ticket),
      });
    }
    this.statsFile = new StatsFile(join(opts.dataDir, 'stats.json'), () => this.getStats());
    this.deadLetters = new DeadLetters(join(opts.dataDir, 'dead-letter.jsonl'), (err) => log.error({ err: err.message }, 'cannot write the dead-letter file'));
    this.reporter = new StatsReporter({
      // a fenced process reports under a name of its own: its counters are not the owner's
      service: () => (this.fencedBy.size === 0 ? `consumer-${opts.name}` : `consumer-${opts.name} (fenced, pid ${process.pid})`),
      kind: 'consumer', counters: () => this.getStats(), extra: opts.extraCounters,
      // the slowest commit of the interval: a disk that stalls holds acks and alerts with the event loop idle
      peaks: () => ({ commitMsMax: this.commitPeak.take() }),
      intervalMs: opts.statsIntervalMs ?? 2000,
      // a fenced process's classes are not the owner's: only the owner shows them
      report: (st) => this.monitor.send(statsHeader(), encodeStats([this.withClasses(st)])),
    });
  }

  async start(): Promise<void> {
    try {
      await this.load();
      // after the state loaded (a refused state leaves the directory untouched), before the first hello
      this.identity = await nextGeneration(this.opts.dataDir, { fsync: this.opts.fsync ?? true, warn: (msg) => this.opts.log.warn({ dataDir: this.opts.dataDir }, msg) });
    } catch (err) {
      // unusable state: say why and exit; open sockets would keep the process alive, refusing nothing
      await this.closeMasters();
      await this.monitor.close();
      await this.store.close().catch(() => {});
      throw err;
    }
    this.masters.forEach((m, i) => {
      m.endpoint.connect(m.address);
      m.endpoint.receive((msg) => this.onMessage(msg, i));
    });
    this.parseAhead?.start();
    this.monitor.connect(this.opts.monitor);
    this.monitor.receive((msg) => this.onMonitorReply(msg));
    const { stateId, generation } = this.identity!;
    this.hello('hello');
    this.timers.push(setInterval(() => this.hello('hb'), this.opts.heartbeatMs ?? 1000));
    this.timers.push(setInterval(() => this.sendAlerts(), 100));
    this.reporter.start();
    this.statsFile.start();
    this.opts.log.info({ name: this.opts.name, stateId, generation, sources: this.engine.sources.size, outbox: this.outbox.size }, 'consumer started');
  }

  /** Claims the consumer's name for this process, with every master or one: its state and this start of it (a master fences off any other). */
  private hello(t: 'hello' | 'hb', only?: number): void {
    const id = this.identity;
    if (!id) return;
    const header = helloHeader(t, { name: this.opts.name, sid: id.stateId, gen: id.generation, pid: process.pid, host: hostname() });
    this.masters.forEach((m, i) => {
      if (only === undefined || only === i) m.endpoint.send(header);
    });
  }

  private async closeMasters(): Promise<void> {
    await Promise.all(this.masters.map((m) => m.endpoint.close()));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    this.reporter.stop();
    // let an in-flight commit finish so its requests are acked or safely retried by clients
    while (this.committing) await new Promise((r) => setTimeout(r, 5));
    await Promise.all([this.closeMasters(), this.monitor.close(), this.parseAhead?.stop()]);
    this.inbox?.clear(); // not acked: their clients send them again
    await this.store.close();
    this.statsFile.stop();
    this.opts.log.info(this.getStats(), 'consumer stopped');
  }

  getStats(): ConsumerStats & Record<string, number> {
    let open = 0;
    let hwm = 0;
    let classes = 0;
    let evicted = 0;
    for (const s of this.engine.sources.values()) {
      open += s.open.size;
      classes += s.classes.classes.size;
      evicted += s.classes.evicted;
      for (const seq of s.streams.values()) hwm += seq;
    }
    const masters = serverLinkStats(this.masters);
    const malformed = masters.malformed + this.monitor.malformedCount;
    return {
      ...this.stats, malformed, outbox: this.outbox.size, openQueries: open, regressionClasses: classes, regressionClassesEvicted: evicted, highWaterTotal: hwm,
      fenced: this.fencedBy.size === 0 ? 0 : 1, generation: this.identity?.generation ?? 0, setAside: this.quarantine.count, deadLettered: this.deadLetters.count,
      ...this.handoffs.stats(), ...this.parseAhead?.counts,
      ...masters.connections, ...this.monitor.connectionStats(),
    };
  }

  /** Last good state: snapshot, then the journal replayed through the same rules. */
  /**
   * Last good state: snapshot, then the journal replayed through the same rules. What does not pass its check
   * (or cannot be applied) is set aside in quarantine.jsonl, reported and counted, and the replay goes on; a
   * snapshot is then taken, so the next start does not read it again. A batch set aside is not lost for good:
   * its stream's next batch finds a gap, and the client sends the records again from its file.
   */
  private async load(): Promise<void> {
    const { snapshot, snapshotFile, entries, origins, warnings, notes } = await this.store.open();
    for (const w of warnings) this.opts.log.warn({ dataDir: this.opts.dataDir }, w);
    for (const n of notes) this.opts.log.info({ dataDir: this.opts.dataDir }, n);
    this.engine = new RulesEngine(this.rules);
    this.outbox = new Outbox();
    this.handoffs = new Handoffs();
    const setAsideBefore = this.quarantine.count;
    if (snapshot) {
      const handoffs: HandoffsSnapshot = { released: [], outgoing: [], received: [] };
      decodeSnapshot(snapshot, this.engine, this.outbox.alerts, (item) => this.quarantine.setAside({ file: snapshotFile, ...item }), handoffs);
      this.handoffs.restore(handoffs);
    }
    const alerts: Alert[] = [];
    entries.forEach((bytes, i) => {
      const origin = origins[i]!;
      let e: JournalEntry;
      let records: QueryRecord[] = [];
      try {
        e = decodeEntry(bytes);
        if (e.k === 'b') records = entryRecords(e);
      } catch (err) {
        this.quarantine.setAside({ ...origin, reason: (err as Error).message, bytes });
        return;
      }
      try {
        if (e.k === 'b') {
          this.applyAndView(e.src, e.stream, records, alerts);
          this.outbox.add(alerts);
        } else if (e.k === 'c') {
          // parsed again as it was live; its problems were dead-lettered then
          this.applyChunkAndView({ src: e.src, stream: e.stream, first: e.first, last: e.last, eof: e.eof, quiet: e.quiet === true, fmt: e.fmt, tz: e.tz, pfx: e.pfx ?? '', bytes: e.bytes }, alerts);
          this.outbox.add(alerts);
        } else if (e.k === 'a') {
          this.outbox.remove(e.ids);
        } else {
          this.handoffs.apply(e, this.engine, this.outbox);
        }
      } catch (err) {
        this.quarantine.setAside({ ...origin, reason: `could not be applied: ${(err as Error).message}`, bytes });
      } finally {
        alerts.length = 0;
      }
    });
    this.classes.forget((src) => this.handoffs.gaveUp(src));
    this.quarantine.summarise();
    if (this.quarantine.count > setAsideBefore) await this.compact();
  }

  /** A message from master `via`: done in the order they came (a chunk among them may be parsed ahead meanwhile). */
  private onMessage(msg: Buffer[], via: number): void {
    if (!this.inbox) return this.onRequest(msg, via);
    let chunk: ChunkRequest | undefined;
    if (msg.length === 3 && msg[2]) {
      try {
        const h = decodeHeader(msg[1]);
        if (h.t === 'chunk') chunk = chunkRequest(h, decodeChunkBytes(msg[2], h.first, h.last));
      } catch {
        // not parsed ahead: said where the request is done
      }
    }
    this.inbox.push({ msg, via }, chunk);
  }

  private onRequest(msg: Buffer[], via: number, ticket?: AheadTicket): void {
    // from a master: [client routing id, header, payload], [header, payload] for the master itself (ring
    // changes), or [header] answering our hello/hb
    if (msg.length === 1) return this.onClaimAnswer(msg[0], via);
    if (msg.length === 2) return this.onRingMessage(msg[0], msg[1], via);
    const master = this.masters[via]!;
    const client = msg[0];
    if (msg.length !== 3 || !client) return master.endpoint.malformed(master.peer, new ProtocolError('FRAMES', `request with ${msg.length} frames`));
    let h: Header;
    try {
      h = decodeHeader(msg[1]);
      if (h.t !== 'batch' && h.t !== 'chunk') throw new ProtocolError('UNEXPECTED', `unexpected ${h.t} request`);
    } catch (err) {
      return master.endpoint.malformed(master.peer, err, { peer: client, rid: 0 });
    }
    this.stats.requests++;
    if (this.reloading) return this.retry(client, h.rid, 'consumer is recovering from a failed write', via);
    if (this.fencedBy.size > 0) {
      const [by, reason] = this.fencedBy.entries().next().value!;
      return this.retry(client, h.rid, `this process is fenced off by the ${this.masters[by]!.peer}: ${reason}`, via);
    }
    // routed by a ring older than one had here: the master's view is stale, and this may not be the owner (the fence)
    if (this.handoffs.staleRoute(h.ring)) {
      this.stats.staleRoutes++;
      this.warned.warn(`stale-route:${via}`, { master: master.address, routedBy: h.ring ?? 0, ringSeen: this.handoffs.ring },
        `the ${master.peer} routes by ring version ${h.ring ?? 0}, older than version ${this.handoffs.ring} had here: its batches are answered retry until it reads the ring again (docs/delivery.md, "When a master's view is stale")`);
      return this.retry(client, h.rid, `routed by ring version ${h.ring ?? 0}, but this consumer has had version ${this.handoffs.ring}: the master's ring is stale`, via);
    }
    // given up when the ring changed: never applied here again (the master routes it to its new owner)
    if (this.handoffs.gaveUp(h.src)) return this.retry(client, h.rid, `source ${h.src} was handed over to another consumer`, via);
    if (h.t === 'chunk') return this.onChunk(h, msg[2], client, via, ticket);
    let records;
    try {
      records = stampRecords(decodeRecords(msg[2], h.last - h.first + 1), h.src, h.stream, h.first);
    } catch (err) {
      return master.endpoint.malformed(`source ${h.src}`, err, { peer: client, rid: h.rid });
    }
    const alerts = this.pending.alerts;
    const r = this.applyAndView(h.src, h.stream, records, alerts);
    if (r.gapExpected !== undefined) {
      this.stats.gaps++;
      // nothing applied: no durability needed to say so
      return void master.endpoint.reply(client, gapHeader(h.rid, h.stream, r.gapExpected));
    }
    this.stats.applied += r.applied + r.late;
    this.stats.late += r.late;
    this.stats.duplicates += r.duplicates;
    if (r.clockSteps || r.timeJumps) this.noteClock(h.src, r);
    if (r.applied + r.late > 0) {
      this.pending.entries.push(encodeEntry({ k: 'b', src: h.src, stream: h.stream, first: h.first, last: h.last, payload: msg[2]! }));
    }
    // Even an all-duplicate batch waits for the commit in flight: the records it repeats may be in it.
    this.pending.replies.push({ via, frames: [client, encodeHeader(ackHeader({ rid: h.rid, stream: h.stream, last: r.last, applied: r.applied + r.late, dup: r.duplicates }))] });
    void this.commit();
  }

  /** A raw chunk of a log (design B): parsed from where its stream's last chunk left off, applied, journaled as bytes. */
  private onChunk(h: ChunkHeader, payload: Buffer | undefined, client: Buffer, via: number, ticket?: AheadTicket): void {
    const master = this.masters[via]!;
    const alerts = this.pending.alerts;
    let r: ChunkResult;
    try {
      const bytes = decodeChunkBytes(payload, h.first, h.last);
      r = this.applyChunkAndView(chunkRequest(h, bytes), alerts, ticket);
    } catch (err) {
      const e = err instanceof ProtocolError ? err : new ProtocolError('BAD_HEADER', `chunk of source ${h.src.slice(0, 64)}: ${(err as Error).message}`);
      return master.endpoint.malformed(`source ${h.src}`, e, { peer: client, rid: h.rid });
    }
    this.stats.chunks++;
    this.stats.chunkBytes += h.last - h.first + 1;
    this.stats.chunkBytesDuplicate += r.dupBytes;
    if (r.gapExpected !== undefined) {
      this.stats.gaps++;
      return void master.endpoint.reply(client, gapHeader(h.rid, h.stream, r.gapExpected));
    }
    this.stats.applied += r.applied + r.late;
    this.stats.late += r.late;
    if (r.clockSteps || r.timeJumps) this.noteClock(h.src, r);
    if (r.cutInEntry) {
      this.stats.chunksCutInEntry++;
      this.warned.warn(`cut-in-entry:${h.src}`, { source: h.src, stream: h.stream, first: h.first, last: h.last },
        'a chunk did not end where an entry ends (its client cut it wrong): the entry it ended in was taken as complete (further ones only counted)');
    }
    if (r.problems.length > 0) {
      const first = this.deadLetters.count === 0;
      this.deadLetters.add(h.stream, r.problems, h.src);
      const p = r.problems[0]!;
      if (first) this.opts.log.warn({ source: h.src, stream: h.stream, offset: p.offset, line: p.line, reason: p.reason }, 'malformed input written to dead-letter.jsonl (further ones are only counted there)');
    }
    if (r.journal) {
      this.pending.entries.push(encodeEntry({
        k: 'c', src: h.src, stream: h.stream, first: r.journal.first, last: h.last, eof: h.eof === 1, fmt: h.fmt, tz: h.tz, ...(h.pfx && { pfx: h.pfx }), ...(h.quiet === 1 && { quiet: true }), bytes: r.journal.bytes,
      }));
    }
    this.pending.replies.push({ via, frames: [client, encodeHeader(ackHeader({ rid: h.rid, stream: h.stream, last: r.last, applied: r.applied + r.late, dup: r.dupBytes }))] });
    void this.commit();
  }

  /** Parses and applies a chunk, and shows the class view its records. */
  private applyChunkAndView(req: ChunkRequest, alerts: Alert[], ahead?: AheadTicket): ChunkResult {
    const r = this.chunkIntake.apply(this.engine, req, alerts, ahead);
    for (const rec of r.records) this.classes.add(rec);
    return r;
  }

  /**
   * The report with the busiest query classes for the dashboard (not a fenced process's: they are not the owner's).
   * A report the monitor would refuse loses only its classes, said once: the counters must get through.
   */
  private withClasses(st: ServiceStats): ServiceStats {
    if (this.fencedBy.size > 0 || this.classes.size === 0) return st;
    const report = { ...st, classes: this.classes.top(CLASS_REPORT_LIMIT) };
    try {
      serviceStats(report, 'stats');
      return report;
    } catch (err) {
      this.warned.warn('classes-report', { err: (err as Error).message }, 'query classes left out of the stats report: the monitor would refuse it (the counters are sent without them)');
      return st;
    }
  }

  /** Applies a batch, and shows the class view the records that had their effect (not the duplicates). */
  private applyAndView(source: string, stream: string, records: readonly QueryRecord[], alerts: Alert[]): BatchResult {
    const before = this.engine.source(source).streams.get(stream) ?? 0;
    const r = this.engine.applyBatch(source, stream, records, alerts);
    for (const rec of records) if (rec.seq > before && rec.seq <= r.last) this.classes.add(rec);
    return r;
  }

  /** A master says whether it routes our name to this process; a change is said once per master. */
  private onClaimAnswer(frame: Buffer | undefined, via: number): void {
    const master = this.masters[via]!;
    let h: Header;
    try {
      h = decodeHeader(frame);
      if (h.t === 'handoff-done') return this.handoffs.done(this.handoffHost(via), h.ver, h.src);
      if (h.t !== 'owner' && h.t !== 'fenced') throw new ProtocolError('UNEXPECTED', `unexpected ${h.t} from the master`);
    } catch (err) {
      return master.endpoint.malformed(master.peer, err);
    }
    const log = this.opts.log;
    const which = this.masters.length > 1 ? `the ${master.peer} (${master.address})` : 'the master';
    if (h.t === 'fenced' && !this.fencedBy.has(via)) {
      this.fencedBy.set(via, h.reason);
      log.error({ name: this.opts.name, reason: h.reason, master: master.address, ...this.identity },
        `fenced off by ${which}: it routes consumer ${this.opts.name} to another process and ignores this one's answers; ` +
        'this process is not doing its work (a stray or stale consumer: stop it, or give it its own --name)');
    } else if (h.t === 'owner' && this.fencedBy.has(via)) {
      this.fencedBy.delete(via);
      log.warn({ name: this.opts.name, master: master.address, ...this.identity }, `${which} routes consumer ${this.opts.name} to this process now; no longer fenced off`);
    }
  }

  /** What a handoff needs of this consumer; what it sends goes back through master `via` (the one that asked). */
  private handoffHost(via: number): HandoffHost {
    const self = this;
    return {
      name: this.opts.name,
      get engine() { return self.engine; },
      get outbox() { return self.outbox; },
      get staged() { return self.writing ? [self.writing.alerts, self.pending.alerts] : [self.pending.alerts]; },
      stage: (entries, after) => {
        this.pending.entries.push(...entries);
        for (const frames of after) this.pending.replies.push({ via, frames });
        void this.commit();
      },
    };
  }

  /**
   * [header, payload] from master `via`: give up sources for a new ring (`release`), or take one (`handoff`).
   * A consumer of several masters takes part only when they share one ring (the message says `shared`): a master
   * with its own ring.json would leave the others routing by the old one (docs/delivery.md).
   */
  private onRingMessage(header: Buffer | undefined, payload: Buffer | undefined, via: number): void {
    const master = this.masters[via]!;
    try {
      const h = decodeHeader(header);
      if ((h.t === 'release' || h.t === 'handoff') && this.masters.length > 1 && h.shared !== 1) {
        this.stats.ringChangesRefused++;
        this.warned.warn('ring-several-masters', { master: master.address, masters: this.masters.length, version: h.ver },
          `the ${master.peer} changes the ring (version ${h.ver}), but this consumer has ${this.masters.length} masters and that one keeps its own ring: ` +
          'with several masters the ring must be shared (--ring-store, see docs/delivery.md, "Changing the consumer set"); nothing is given up or taken here, the change waits');
        return;
      }
      // while the state is being reloaded the master asks again (a release) or forwards again (a handoff)
      if (this.reloading) return;
      if (h.t === 'release') {
        const names = decodeNames(payload);
        this.opts.log.info({ version: h.ver, ring: names }, `ring version ${h.ver}: giving up the sources it gives to other consumers`);
        this.handoffs.release(this.handoffHost(via), h.ver, names, (src, bytes) => this.warned.warn(`handoff-too-big:${src}`, { source: src, bytes, version: h.ver },
          `the state of source ${src} (${bytes} bytes) is too big for one handoff: it stays here and the ring change waits (see docs/delivery.md)`));
        // the dashboard's class view shows a source where it is applied
        this.classes.forget((src) => this.handoffs.gaveUp(src));
        return;
      }
      if (h.t === 'handoff') {
        if (!payload) throw new ProtocolError('BAD_PAYLOAD', 'a handoff without the source\'s state');
        try {
          this.handoffs.receive(this.handoffHost(via), h.ver, h.src, payload);
        } catch (err) {
          throw new ProtocolError('BAD_PAYLOAD', `handoff of source ${h.src.slice(0, 64)}: ${(err as Error).message}`);
        }
        return;
      }
      throw new ProtocolError('UNEXPECTED', `unexpected ${h.t} with a payload from the master`);
    } catch (err) {
      master.endpoint.malformed(master.peer, err);
    }
  }

  /** A source's clock misbehaved: counted, and said once per source (the rules went on with its own time). */
  private noteClock(source: string, r: BatchResult): void {
    this.stats.timeJumps += r.timeJumps ?? 0;
    for (const step of r.clockSteps ?? []) {
      this.stats.clockSteps++;
      this.warned.warn(`clock-step:${source}`, {
        source, stream: step.stream, seq: step.seq, recordTime: new Date(step.ts).toISOString(), sourceTime: new Date(step.watermark).toISOString(),
        aheadMs: step.ts - step.watermark, records: step.records,
      }, 'a record far ahead of its source\'s time was not confirmed by the records after it: a clock step (e.g. SET timestamp, a server clock stepped ahead); its time was not taken as the source\'s (further ones of this source are only counted)');
    }
  }

  /** Not now: the client resends the same batch after a second. */
  private retry(client: Buffer, rid: number, reason: string, via: number): void {
    this.masters[via]!.endpoint.reply(client, retryHeader(rid, 1000, reason));
  }

  /** One durable step for everything pending; loops while more arrived during the write. */
  private async commit(): Promise<void> {
    if (this.committing) return;
    this.committing = true;
    try {
      while (!this.rulesChanging && (this.pending.replies.length > 0 || this.pending.entries.length > 0)) {
        const group = this.pending;
        this.pending = { entries: [], replies: [], alerts: [] };
        const t0 = performance.now();
        try {
          this.writing = group;
          if (group.entries.length > 0) await this.store.append(group.entries);
        } catch (err) {
          this.writing = undefined;
          await this.onCommitFailure(err, group).catch(() => {}); // fails only when stopping mid-reload
          return;
        }
        this.writing = undefined;
        this.stats.commits++;
        const ms = performance.now() - t0;
        this.stats.commitMsTotal += ms;
        this.commitPeak.observe(ms);
        this.stats.alerts += group.alerts.length;
        this.outbox.add(group.alerts);
        for (const r of group.replies) this.masters[r.via]!.endpoint.forward(r.frames);
        if (group.alerts.length > 0) this.sendAlerts();
        if (this.store.compactionDue(this.opts.compactBytes ?? 64 << 20)) await this.compactBehind();
      }
    } finally {
      this.committing = false;
    }
  }

  /**
   * New thresholds from a configuration reload (SIGHUP), for the records applied from now on; false when they
   * are the ones in force. Records already applied keep the effect they had: no alert is taken back or made
   * again. To keep a replay of the journal giving what was live, the change is made at a snapshot: every
   * record before it is in the snapshot, and the journal after it holds only records applied with the new
   * thresholds (a restart, or a reload after a failed write, replays it with the thresholds of the file). If
   * the snapshot cannot be written the change is refused: the last durable state is reloaded with the old
   * thresholds, and requests meanwhile are answered "retry", as after a failed commit.
   */
  async setRules(rules: RulesConfig): Promise<boolean> {
    if (JSON.stringify(rules) === JSON.stringify(this.rules)) return false;
    // One durable step at a time: the change waits for the commit in flight, and commits wait for the snapshot.
    if (this.rulesChanging) throw new Error('another threshold change is under way');
    this.rulesChanging = true;
    try {
      for (let i = 0; (this.committing || this.reloading) && !this.stopping; i++) await new Promise((r) => setTimeout(r, Math.min(100, 5 * (i + 1))));
    } finally {
      this.rulesChanging = false;
    }
    if (this.stopping) throw new Error('the consumer is stopping');
    const old = this.rules;
    this.committing = true;
    try {
      this.rules = rules;
      this.engine.setRules(rules);
      try {
        await this.store.snapshot(this.fullSnapshot());
      } catch (err) {
        this.stats.rulesReloadFailures++;
        this.rules = old;
        await this.onCommitFailure(err, { entries: [], replies: [], alerts: [] }).catch(() => {});
        throw new Error(`could not write the snapshot the new thresholds start at (${(err as Error).message}); the old thresholds stay in force`);
      }
      this.stats.rulesReloads++;
      return true;
    } finally {
      this.committing = false;
      void this.commit();
    }
  }

  /** A reload refused before it reached setRules (a bad file): counted. */
  rulesReloadRefused(): void {
    this.stats.rulesReloadFailures++;
  }

  /** A full snapshot; includes alerts of requests applied in memory but not yet journaled (see state-codec.ts). */
  private fullSnapshot(): Buffer {
    return encodeSnapshot(this.engine, [...this.outbox.alerts.values(), ...this.pending.alerts], this.handoffs.snapshot());
  }

  private async compact(): Promise<void> {
    try {
      await this.store.snapshot(this.fullSnapshot());
    } catch (err) {
      this.snapshotFailed(err);
    }
  }

  /**
   * The journal's periodic compaction: commits go on into the next journal while the snapshot is written
   * (store.ts, snapshotBehind). Written in line, a snapshot held every commit up for its encoding and its write:
   * in bench e2e's latency run (0.36 MB) 38–56 ms and 28–51 ms; with 100,000 open queries (20 MiB) the two took
   * 0.45 s (bench snapshot). The encoding still runs in line.
   */
  private async compactBehind(): Promise<void> {
    try {
      const { written } = await this.store.snapshotBehind(this.fullSnapshot());
      written.catch((err: unknown) => this.snapshotFailed(err));
    } catch (err) {
      this.snapshotFailed(err);
    }
  }

  private snapshotFailed(err: unknown): void {
    this.warned.warn(`snapshot:${(err as NodeJS.ErrnoException).code}`, { err: (err as Error).message }, 'snapshot failed; the journal stays current');
  }

  /**
   * The disk refused the write (full, I/O error). Memory is now ahead of disk, so: tell every waiting client to
   * retry, reload the last durable state, and go on; clients resend and nothing acked is lost.
   */
  private async onCommitFailure(err: unknown, group: PendingGroup): Promise<void> {
    this.stats.commitFailures++;
    this.warned.warn(`commit:${(err as NodeJS.ErrnoException).code}`, { err: (err as Error).message, dataDir: this.opts.dataDir },
      'durable commit failed; refusing requests until writes succeed (clients keep their offsets and retry)');
    const waiting = [...group.replies, ...this.pending.replies];
    this.pending = { entries: [], replies: [], alerts: [] };
    this.reloading = (async () => {
      for (const r of waiting) {
        // a handoff's message to a master (no client id): sent again when the master asks again
        if (r.frames.length !== 2) continue;
        const client = r.frames[0] as Buffer;
        const h = decodeHeader(r.frames[1] as Buffer) as { rid: number };
        this.retry(client, h.rid, 'consumer could not write its state', r.via);
      }
      await this.reloadDurableState();
    })();
    try {
      await this.reloading;
    } finally {
      this.reloading = undefined;
    }
  }

  /**
   * Reopens the store and rebuilds memory from what is durable. The store is open (it must be closed before
   * it can be opened again), and reopening can fail too while the disk is in trouble: tried again with
   * backoff until it works or the consumer stops; requests meanwhile are answered "retry".
   */
  private async reloadDurableState(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.store.close();
        await this.load();
        if (attempt > 0) this.opts.log.info({ dataDir: this.opts.dataDir, attempts: attempt + 1 }, 'durable state reloaded');
        return;
      } catch (err) {
        if (this.stopping) throw err;
        this.warned.warn(`reload:${(err as NodeJS.ErrnoException).code}`, { err: (err as Error).message, dataDir: this.opts.dataDir },
          'cannot reload the durable state; trying again (requests are refused meanwhile)');
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** Math.min(attempt, 6))));
      }
    }
  }

  private sendAlerts(): void {
    if (this.stopping || this.monitor.connectionLost) return; // sent again when it is back
    const m = this.outbox.next(Date.now(), Math.min(this.opts.alertsPerMessage ?? 500, MAX_ALERTS_PER_MESSAGE), this.opts.alertAckTimeoutMs ?? 3000);
    if (!m) return;
    this.monitor.send(alertsHeader(m.rid, m.alerts.length), encodeAlerts(m.alerts));
  }

  private onMonitorReply(msg: Buffer[]): void {
    try {
      const h = decodeHeader(msg[0]);
      if (h.t === 'alerts-ack') {
        const ids = this.outbox.acked(h.rid);
        if (ids) {
          this.stats.alertsAcked += ids.length;
          // Removing acked alerts is journaled lazily with the next commit: if it is lost, the monitor
          // simply sees those ids again and drops them as duplicates.
          this.pending.entries.push(encodeEntry({ k: 'a', ids }));
          void this.commit();
          this.sendAlerts();
        }
      } else if (h.t === 'err') {
        this.warned.warn(`monitor-err:${h.code}`, { code: h.code, msg: h.msg }, 'monitor rejected alerts');
        this.outbox.reset();
      }
    } catch (err) {
      this.monitor.malformed('monitor', err);
    }
  }
}
