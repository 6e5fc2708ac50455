import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { Consumer } from '../src/consumer/consumer.js';
import { openSocket } from '../src/transport/socket.js';
import { decodeHeader, encodeHeader, encodeNames, encodeRecords, PROTOCOL_VERSION, type BatchHeader, type Header } from '../src/wire/protocol.js';
import { releaseHeader } from '../src/wire/headers.js';
import type { WireRecord } from '../src/model/record.js';
import { freeBasePort } from '../bench/harness/ports.js';
import { waitFor } from '../bench/harness/wait.js';

// The consumers are the fence against a master whose ring is stale (docs/delivery.md, "When a master's view is
// stale"): a real consumer, two test sockets in the masters' place. Once it has had ring version 2 (a release) it
// answers "retry" to a batch routed by ring 1 — a brand-new source included, whatever the stale ring says of it —
// and goes on applying those routed by 2; the fence survives a restart. A release from a master whose ring is not
// shared is refused by a consumer of two masters; one that says `shared` is taken.

const log = pino({ level: 'silent' });

function records(n: number): WireRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    state: 'finished', queryId: `q${i}`, ts: 1_767_225_600_000 + i * 1000, durationMs: 10, sql: 'select 1', fingerprint: 'select ?', fingerprintId: '0xA',
  }));
}

/** A socket in a master's place: the consumer connects to it, says hello, and gets what the test sends. */
class FakeMaster {
  readonly sock = openSocket('router', { linger: 0, receiveTimeout: 10_000, sendTimeout: 10_000 });
  consumerId: Buffer | undefined;
  private rid = 0;
  private readonly replies: Buffer[][] = [];
  private closed = false;

  async bind(endpoint: string): Promise<void> {
    await this.sock.bind(endpoint);
    void (async () => {
      while (!this.closed) {
        let msg: Buffer[];
        try {
          msg = await this.sock.receive();
        } catch {
          continue;
        }
        this.consumerId = msg[0];
        this.replies.push(msg.slice(1));
      }
    })();
  }

  async send(frames: Buffer[]): Promise<void> {
    const id = await waitFor('the consumer connected', () => this.consumerId, 10_000, 20);
    await this.sock.send([id, ...frames]);
  }

  async batch(src: string, first: number, n: number, ring: number | undefined): Promise<Header> {
    const rid = ++this.rid;
    const h: BatchHeader = { v: PROTOCOL_VERSION, t: 'batch', rid, src, stream: `${src}-s`, first, last: first + n - 1, ...(ring !== undefined && { ring }) };
    await this.send([Buffer.from('client'), encodeHeader(h), encodeRecords(records(n))]);
    return waitFor(`the answer to batch ${rid} of ${src}`, () => {
      for (const r of this.replies) {
        if (r.length !== 2) continue;
        const a = decodeHeader(r[1]);
        if ('rid' in a && a.rid === rid) return a;
      }
      return undefined;
    }, 10_000, 10);
  }

  /** a new consumer process comes: what the old one said is forgotten, and sends wait for its hello */
  forget(): void {
    this.replies.length = 0;
    this.consumerId = undefined;
  }

  /** the consumer's `released` for `ver`, if it said it */
  released(ver: number): boolean {
    return this.replies.some((r) => r.length === 1 && (() => {
      const h = decodeHeader(r[0]);
      return h.t === 'released' && h.ver === ver;
    })());
  }

  close(): void {
    this.closed = true;
    this.sock.close();
  }
}

describe('the consumers fence off a master routing by a stale ring', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slowq-ring-fence-'));
  const running: Array<{ stop(): Promise<void> }> = [];
  const masters: FakeMaster[] = [];
  after(async () => {
    for (const c of running) await c.stop().catch(() => {});
    for (const m of masters) m.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a batch routed by an older ring than one it has had is answered retry, across a restart; a release of a ring not shared is refused with two masters', async () => {
    const base = await freeBasePort();
    const [m1, m2] = [new FakeMaster(), new FakeMaster()];
    masters.push(m1, m2);
    await m1.bind(`tcp://127.0.0.1:${base}`);
    await m2.bind(`tcp://127.0.0.1:${base + 1}`);
    const start = async (): Promise<Consumer> => {
      const c = new Consumer({
        name: 'c0', masters: [{ endpoint: `tcp://127.0.0.1:${base}` }, { endpoint: `tcp://127.0.0.1:${base + 1}` }],
        monitor: `tcp://127.0.0.1:${base + 2}`, dataDir: join(dir, 'c0'), log, fsync: false, statsIntervalMs: 60_000,
      });
      await c.start();
      running.push(c);
      return c;
    };
    let c = await start();
    // before any ring change: batches routed by ring 1 (and an old master's, with no ring) are applied
    assert.equal((await m1.batch('db-a', 1, 5, 1)).t, 'ack');
    assert.equal((await m2.batch('db-a', 6, 5, undefined)).t, 'ack');

    // a release from a master of its own ring (not shared): refused, nothing changes
    await m1.send([encodeHeader(releaseHeader(2, false)), encodeNames(['c0', 'c1'])]);
    await waitFor('the refusal', () => (c.getStats().ringChangesRefused === 1 ? true : undefined), 10_000, 20);
    assert.equal(c.getStats().ringSeen, 0);
    assert.equal((await m2.batch('db-a', 11, 5, 1)).t, 'ack');

    // a release of shared ring 2 (the consumer keeps db-a, gives up what ring 2 gives c1): taken, and said
    await m1.send([encodeHeader(releaseHeader(2, true)), encodeNames(['c0'])]);
    await waitFor('released', () => m1.released(2), 10_000, 20);
    assert.equal(c.getStats().ringSeen, 2);
    // the master that read ring 2 goes on; the stale one (ring 1) gets retry, for a source of its own and a brand-new one
    assert.equal((await m1.batch('db-a', 16, 5, 2)).t, 'ack');
    const stale = await m2.batch('db-a', 21, 5, 1);
    assert.equal(stale.t, 'retry');
    assert.match((stale as Extract<Header, { t: 'retry' }>).reason, /routed by ring version 1, but this consumer has had version 2/);
    assert.equal((await m2.batch('db-new', 1, 5, 1)).t, 'retry', 'a brand-new source routed by the old ring is not applied here');
    assert.equal((await m2.batch('db-new', 1, 5, undefined)).t, 'retry');
    assert.equal(c.getStats().staleRoutes, 3);
    assert.equal(c.getStats().highWaterTotal, 20, 'nothing of the stale routes applied');

    // the fence is durable: a restart (journal replay) keeps it
    await c.stop();
    m1.forget();
    m2.forget();
    c = await start();
    assert.equal(c.getStats().ringSeen, 2);
    assert.equal((await m2.batch('db-a', 21, 5, 1)).t, 'retry');
    assert.equal((await m2.batch('db-a', 21, 5, 2)).t, 'ack', 'once that master reads ring 2 it is heard again');
    assert.equal(c.getStats().highWaterTotal, 25);
  });
});
