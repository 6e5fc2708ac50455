import type { Logger } from 'pino';
import { EtcdClient, type EtcdCompare, type EtcdKv, type EtcdWatchEvent } from './etcd-client.js';
import type { RingFile } from './ring-file.js';
import { parseRing, ringText, withoutProgress, type RingEdit, type RingState, type RingStore, type RingStoreListener } from './ring-store.js';

// The ring shared by several masters, in etcd (docs/delivery.md, "Several masters: a ring kept in etcd"). Two keys
// under the prefix: `ring` (ring-store.ts's RingState as JSON) and `driver` (the name of the master that drives the
// change under way, bound to a lease it keeps alive). Every write of the ring is a txn comparing the ring key's
// mod_revision with the one this master read (and, for the driver's progress, the driver key's create_revision with
// the one it created): a write made on a stale read, or by a driver that lost its lease, fails, and is tried again
// on the ring as etcd holds it (or refused). What others write arrives through a watch on the prefix, and a read
// every second besides (which also finds etcd unreachable: the master then routes by the last ring it read, says
// so once and counts it, and refuses changes until etcd answers again).

export interface EtcdRingStoreOptions {
  /** etcd://HOST:PORT[,HOST:PORT…]/PREFIX */
  url: string;
  /** this master's name (written in the driver key) */
  master: string;
  log: Logger;
  /** the driver's lease: another master takes a change over this long after its driver died (default 5 s) */
  leaseSeconds?: number;
  /** how often the keys are read besides the watch (default 1000 ms) */
  pollMs?: number;
  /** the last ring read, kept on disk (without its progress) to start from while etcd cannot be reached */
  cache?: RingFile;
}

/** The endpoints and the key prefix of a --ring-store URL; throws saying what is wrong. */
export function parseRingStoreUrl(url: string): { endpoints: string[]; prefix: string } {
  const m = /^etcd:\/\/([^/]+)\/([A-Za-z0-9._/-]+)$/.exec(url);
  if (!m) throw new Error(`--ring-store ${JSON.stringify(url)}: expected etcd://HOST:PORT[,HOST:PORT…]/PREFIX (e.g. etcd://127.0.0.1:2379/slowq)`);
  const endpoints = m[1]!.split(',');
  for (const e of endpoints) {
    if (!/^[A-Za-z0-9.-]+:\d{1,5}$/.test(e) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(e)) throw new Error(`--ring-store: ${JSON.stringify(e)} is not HOST:PORT`);
  }
  return { endpoints, prefix: `/${m[2]!.replace(/^\/+|\/+$/g, '')}/` };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class EtcdRingStore implements RingStore {
  readonly shared = true;
  readonly where: string;
  private readonly client: EtcdClient;
  private readonly ringKey: string;
  private readonly driverKey: string;
  private readonly leaseSeconds: number;
  private ring: RingState | undefined;
  /** mod_revision of the ring key as last read */
  private ringRev = 0;
  /** the highest store revision seen: the watch goes on from there */
  private seenRev = 0;
  private driver: { name: string; createRevision: number } | undefined;
  private lease: string | undefined;
  /** create_revision of the driver key this master created: its writes as driver compare it */
  private driverRev = 0;
  private lastKeptAlive = 0;
  private campaigning = false;
  private down = false;
  private downSince = 0;
  private closed = false;
  private listener: RingStoreListener | undefined;
  private writing: Promise<unknown> = Promise.resolve();
  /** the watch under way: aborted at close, and when etcd answers again after an outage (its connection may be dead) */
  private watchStop = new AbortController();
  private timers: NodeJS.Timeout[] = [];
  private readonly counters = { ringStoreOutages: 0, ringStoreConflicts: 0, ringStoreBadValues: 0, ringDriverTakeovers: 0 };

  constructor(private readonly opts: EtcdRingStoreOptions) {
    const { endpoints, prefix } = parseRingStoreUrl(opts.url);
    this.client = new EtcdClient(endpoints);
    this.ringKey = `${prefix}ring`;
    this.driverKey = `${prefix}driver`;
    this.leaseSeconds = opts.leaseSeconds ?? 5;
    this.where = `etcd at ${endpoints.join(',')}, key ${this.ringKey}`;
  }

  get driving(): boolean {
    return this.lease !== undefined;
  }

  async open(first: RingState, listener: RingStoreListener): Promise<RingState> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.read();
        if (!this.ring) {
          // the first master: its own ring (ring.json, when it ran alone before) if it has one, else --consumers. Never
          // a version below the one the consumers have had: they would refuse every batch routed by it (the fence).
          const seed = (await this.opts.cache?.load().catch(() => undefined)) ?? first;
          const r = await this.client.txn([{ key: this.ringKey, target: 'CREATE', revision: 0 }], [{ put: { key: this.ringKey, value: ringText(seed) } }], [{ range: { key: this.ringKey } }]);
          if (r.succeeded) this.setRing(seed, r.revision);
          else for (const kv of r.ranges[0] ?? []) this.apply(kv);
          if (r.succeeded) this.opts.log.info({ store: this.where, ring: seed }, `the ring is kept in etcd from now on (version ${seed.version} [${seed.names.join(', ')}], from ${seed === first ? '--consumers' : this.opts.cache!.path})`);
        }
        if (!this.ring) throw new Error(`${this.ringKey} could not be read nor created`);
        break;
      } catch (err) {
        const cached = await this.opts.cache?.load().catch(() => undefined);
        if (cached) {
          this.markDown(err, cached);
          this.ring = cached;
          break;
        }
        if (attempt === 0) this.opts.log.warn({ store: this.where, err: (err as Error).message }, 'cannot read the ring in etcd, and no copy of it is kept in --data: waiting for etcd');
        if (this.closed) throw err;
        await sleep(1000);
      }
    }
    this.listener = listener;
    this.timers.push(setInterval(() => void this.poll(), this.opts.pollMs ?? 1000));
    this.timers.push(setInterval(() => void this.keepAlive(), Math.max(300, (this.leaseSeconds * 1000) / 3)));
    void this.watchLoop();
    void this.campaign();
    return this.ring!;
  }

  update(edit: RingEdit, asDriver: boolean): Promise<RingState | string> {
    const run = this.writing.then(() => this.write(edit, asDriver));
    this.writing = run.catch(() => {});
    return run;
  }

  stats(): Record<string, number> {
    return { ...this.counters, ringStoreDown: this.down ? 1 : 0, ringDriving: this.driving ? 1 : 0 };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.watchStop.abort();
    await this.writing;
    // hand the change over at once rather than when the lease runs out
    if (this.lease) await this.client.revoke(this.lease).catch(() => {});
    this.lease = undefined;
  }

  private async write(edit: RingEdit, asDriver: boolean): Promise<RingState | string> {
    for (let attempt = 0; attempt < 10; attempt++) {
      if (asDriver && !this.driving) return 'this master no longer drives the change';
      const next = edit(this.ring!);
      if (typeof next === 'string') return next;
      const compare: EtcdCompare[] = [{ key: this.ringKey, target: 'MOD', revision: this.ringRev }];
      if (asDriver) compare.push({ key: this.driverKey, target: 'CREATE', revision: this.driverRev });
      let r;
      try {
        r = await this.client.txn(compare, [{ put: { key: this.ringKey, value: ringText(next) } }], [{ range: { key: this.ringKey } }, { range: { key: this.driverKey } }]);
      } catch (err) {
        this.markDown(err);
        return `the ring store (${this.where}) cannot be reached: ${(err as Error).message}`;
      }
      this.markUp();
      if (r.succeeded) {
        this.setRing(next, r.revision);
        return next;
      }
      // someone wrote meanwhile (or the driver key is not ours): read what is there and try again on it
      this.counters.ringStoreConflicts++;
      for (const kv of r.ranges[0] ?? []) this.apply(kv);
      this.setDriver(r.ranges[1]?.[0]);
    }
    return 'the ring in etcd kept changing under this master\'s writes; try again';
  }

  /** Reads both keys (at open, and every pollMs besides the watch). */
  private async read(): Promise<void> {
    const { kvs, revision } = await this.client.range(this.ringKey.slice(0, -'ring'.length), true);
    this.seenRev = Math.max(this.seenRev, revision);
    for (const kv of kvs) if (kv.key === this.ringKey) this.apply(kv);
    this.setDriver(kvs.find((kv) => kv.key === this.driverKey));
  }

  private async poll(): Promise<void> {
    if (this.closed) return;
    try {
      await this.read();
      this.markUp();
    } catch (err) {
      this.markDown(err);
      return;
    }
    await this.campaign();
  }

  private async watchLoop(): Promise<void> {
    const prefix = this.ringKey.slice(0, -'ring'.length);
    while (!this.closed) {
      this.watchStop = new AbortController();
      try {
        await this.client.watch(prefix, this.seenRev + 1, (events, revision) => this.onEvents(events, revision), this.watchStop.signal);
      } catch {
        // the read every second finds an outage and says it; the watch is made again after it
      }
      if (!this.closed) await sleep(1000);
    }
  }

  private onEvents(events: EtcdWatchEvent[], revision: number): void {
    this.seenRev = Math.max(this.seenRev, revision);
    for (const e of events) {
      if (e.kv.key === this.ringKey && e.type === 'PUT') this.apply(e.kv);
      else if (e.kv.key === this.driverKey) this.setDriver(e.type === 'PUT' ? e.kv : undefined);
    }
    void this.campaign();
  }

  /** A ring read from etcd: taken if newer than the one held. */
  private apply(kv: EtcdKv): void {
    if (kv.modRevision <= this.ringRev) return;
    const ring = parseRing(kv.value.toString());
    if (typeof ring === 'string') {
      this.counters.ringStoreBadValues++;
      this.opts.log.error({ store: this.where, problem: ring, revision: kv.modRevision }, `${this.ringKey} in etcd is not a ring (${ring}): ignored; the master routes by the last ring it read`);
      this.ringRev = kv.modRevision;
      return;
    }
    this.setRing(ring, kv.modRevision);
    this.listener?.onRing(ring);
  }

  private setRing(ring: RingState, revision: number): void {
    const before = this.ring;
    this.ring = ring;
    this.ringRev = Math.max(this.ringRev, revision);
    this.seenRev = Math.max(this.seenRev, revision);
    if (!before || before.version !== ring.version || before.next?.version !== ring.next?.version) {
      void this.opts.cache?.save(withoutProgress(ring)).catch((err: unknown) => this.opts.log.warn({ err: (err as Error).message }, 'cannot keep a copy of the ring in --data'));
    }
    if (!ring.next && this.lease) void this.resign();
  }

  private setDriver(kv: EtcdKv | undefined): void {
    this.driver = kv ? { name: kv.value.toString(), createRevision: kv.createRevision } : undefined;
    if (this.lease && this.driver?.createRevision !== this.driverRev) this.lose(this.driver ? `master ${this.driver.name} drives it now` : 'the driver key is gone (the lease expired)');
  }

  /** A change is under way and nobody drives it: try to become its driver. */
  private async campaign(): Promise<void> {
    if (this.closed || this.down || this.campaigning || this.lease || this.driver || !this.ring?.next) return;
    this.campaigning = true;
    let lease: string | undefined;
    try {
      lease = await this.client.grant(this.leaseSeconds);
      const r = await this.client.txn([{ key: this.driverKey, target: 'CREATE', revision: 0 }], [{ put: { key: this.driverKey, value: this.opts.master, lease } }], [{ range: { key: this.driverKey } }]);
      if (r.succeeded && this.ring?.next && !this.closed) {
        this.lease = lease;
        this.driverRev = r.revision;
        this.driver = { name: this.opts.master, createRevision: r.revision };
        this.lastKeptAlive = Date.now();
        this.counters.ringDriverTakeovers++;
        this.opts.log.info({ store: this.where, version: this.ring.next.version }, `this master drives the change to ring version ${this.ring.next.version} (the driver key is its own while its lease lives)`);
        this.listener?.onDriving(true);
        return;
      }
      if (!r.succeeded) this.setDriver(r.ranges[0]?.[0]);
      await this.client.revoke(lease).catch(() => {});
    } catch (err) {
      if (lease) await this.client.revoke(lease).catch(() => {});
      this.markDown(err);
    } finally {
      this.campaigning = false;
    }
  }

  private async keepAlive(): Promise<void> {
    const lease = this.lease;
    if (!lease || this.closed) return;
    try {
      const ttl = await this.client.keepAlive(lease);
      if (this.lease !== lease) return;
      if (ttl > 0) this.lastKeptAlive = Date.now();
      else this.lose('its lease expired');
    } catch (err) {
      this.markDown(err);
      if (this.lease === lease && Date.now() - this.lastKeptAlive >= this.leaseSeconds * 1000) this.lose('its lease could not be kept alive (etcd unreachable)');
    }
  }

  private lose(why: string): void {
    if (!this.lease) return;
    this.lease = undefined;
    this.opts.log.warn({ store: this.where }, `this master no longer drives the ring change: ${why}`);
    this.listener?.onDriving(false);
  }

  /** The change ended: the driver key goes (revoking its lease deletes it). */
  private async resign(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    this.driver = undefined;
    this.listener?.onDriving(false);
    if (lease) await this.client.revoke(lease).catch(() => {});
  }

  private markDown(err: unknown, cached?: RingState): void {
    if (this.down) return;
    this.down = true;
    this.downSince = Date.now();
    this.counters.ringStoreOutages++;
    const ring = cached ?? this.ring;
    this.opts.log.warn({ store: this.where, err: (err as Error).message, ringVersion: ring?.version },
      `the ring store (${this.where}) cannot be reached: routing by the last ring known (version ${ring?.version ?? '?'}${cached ? ', the copy kept in --data' : ''}); ring changes wait or are refused until it is back`);
  }

  private markUp(): void {
    if (!this.down) return;
    this.down = false;
    this.watchStop.abort(); // made again at once, on a fresh connection
    this.opts.log.warn({ store: this.where, seconds: Math.round((Date.now() - this.downSince) / 1000) }, `the ring store (${this.where}) answers again`);
  }
}
