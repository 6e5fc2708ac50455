import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LinkWatch, type ConnectionEvents } from '../src/transport/link-watch.js';
import { PeerWatch } from '../src/transport/peer-watch.js';

// What a connection's outages make a service say and do (src/transport/link-watch.ts, peer-watch.ts), driven
// by hand-made socket events; test/e2e-network.test.ts cuts real links between real processes.

type Listener = (event: { address: string }) => void;

/** Socket events fired by the test. */
class FakeEvents implements ConnectionEvents {
  private readonly listeners = new Map<string, Listener[]>();
  on(type: 'handshake' | 'disconnect', listener: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  fire(type: 'handshake' | 'disconnect'): void {
    for (const l of this.listeners.get(type) ?? []) l({ address: 'tcp://10.0.0.2:5555' });
  }
}

function logged(): { lines: string[]; log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void } } {
  const lines: string[] = [];
  return { lines, log: { warn: (_obj, msg) => lines.push(msg), info: (_obj, msg) => lines.push(msg) } };
}

describe('LinkWatch: one outage, said once when it begins and once when it ends', () => {
  it('a peer not there yet at start is no outage; a lost connection is said once, however many attempts fail', () => {
    const events = new FakeEvents();
    const { lines, log } = logged();
    let t = 1000;
    const link = new LinkWatch(events, { peer: 'master', log, now: () => t, backlog: () => 'resending 3 batches when it is back' });
    events.fire('disconnect'); // e.g. a failed first handshake
    assert.deepEqual(lines, []);
    events.fire('handshake');
    t = 2000;
    events.fire('disconnect');
    events.fire('disconnect');
    assert.equal(link.lost, true);
    assert.deepEqual(lines, ['lost the connection to the master (it closed it, or nothing came from it for 3 s); resending 3 batches when it is back']);
    t = 23_500;
    assert.equal(link.stats().masterConnectionDownMs, 21_500);
    events.fire('handshake');
    assert.equal(link.lost, false);
    assert.equal(lines[1], 'connection to the master is back after 21.5 s');
    assert.deepEqual(link.stats(), { masterConnectionLosses: 1, masterConnectionDownMs: 0, masterConnectionLastOutageMs: 21_500, masterConnectionResumedAt: 23_500 });
  });

  it('waiting for answers: resends what went before the loss at reconnection, and the outage ends with the first answer', () => {
    const events = new FakeEvents();
    const { lines, log } = logged();
    let t = 0;
    const resent: number[] = [];
    const link = new LinkWatch(events, { peer: 'monitor', log, now: () => t, awaitsReply: () => true, onReconnect: (lostAt) => resent.push(lostAt) });
    events.fire('handshake');
    t = 5000;
    events.fire('disconnect');
    t = 9000;
    events.fire('handshake');
    assert.deepEqual(resent, [5000]);
    assert.equal(lines.length, 1, 'reconnected, not yet answered');
    events.fire('disconnect'); // lost again before the first answer: the same outage
    t = 12_000;
    events.fire('handshake');
    link.heard();
    link.heard();
    assert.deepEqual(resent, [5000, 5000]);
    assert.deepEqual(lines.slice(1), ['connection to the monitor is back after 7.0 s; flow resumed']);
    assert.equal(link.stats().monitorConnectionLosses, 1);
  });

  it('an answer before the event that announces the connection ends the outage too; after close() nothing is said', () => {
    const events = new FakeEvents();
    const { lines, log } = logged();
    let reconnects = 0;
    const link = new LinkWatch(events, { peer: 'master', log, awaitsReply: () => true, onReconnect: () => reconnects++ });
    events.fire('handshake');
    events.fire('disconnect');
    link.heard();
    events.fire('handshake');
    assert.equal(reconnects, 1);
    assert.equal(lines.length, 2);
    link.close();
    events.fire('disconnect');
    assert.equal(lines.length, 2);
  });
});

describe('PeerWatch: peers\' closed connections, counted, logged at most once a minute', () => {
  it('says the first, counts the rest, and says how many when the minute is over', () => {
    const events = new FakeEvents();
    const { lines, log } = logged();
    let t = 0;
    const peers = new PeerWatch(events, { peers: 'client', log, now: () => t });
    for (let i = 0; i < 5; i++) events.fire('disconnect');
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^a client's connection closed/);
    t = 61_000;
    events.fire('disconnect');
    assert.equal(lines.length, 2);
    assert.match(lines[1]!, /: 5 since the last report/);
    assert.deepEqual(peers.stats(), { clientDisconnects: 6 });
  });
});
