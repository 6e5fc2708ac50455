import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Packr } from 'msgpackr';
import { Batcher, type Batch, type NumberedEvent } from '../src/client/batch.js';
import { encodeSnapshot, decodeSnapshot } from '../src/consumer/state-codec.js';
import { packState } from '../src/durable/codec.js';
import type { SetAside } from '../src/durable/quarantine.js';
import { DurableStore } from '../src/durable/store.js';
import { rejectBadEvents, newParseOutput } from '../src/formats/parsers/types.js';
import { FingerprintCache } from '../src/formats/fingerprint-cache.js';
import { MAX_FINGERPRINT_CHARS, MAX_LABELS } from '../src/model/bounds.js';
import type { Alert, ParsedEvent, WireRecord } from '../src/model/record.js';
import { NotificationLog, type LogPart } from '../src/monitor/notification-log.js';
import { RulesEngine } from '../src/rules/engine.js';
import { labels } from '../src/wire/fields.js';
import { MAX_CHUNK_BYTES } from '../src/wire/limits.js';
import { plainlyValid, wireRecord } from '../src/wire/record-schema.js';
import { prng } from '../src/workload/prng.js';
import * as h from '../src/wire/headers.js';
import {
  PROTOCOL_VERSION, decodeAlerts, decodeChunkBytes, decodeHeader, decodeRecords, decodeSilenceAdd, decodeStats, encodeAlerts, encodeHeader, encodeRecords, encodeSilenceBody, encodeStats,
  ProtocolError, type Header,
} from '../src/wire/protocol.js';

// The wire's schemas, one message type at a time (the process tests, fuzz.test.ts and e2e-hostile-alerts.test.ts,
// send the same through real sockets), the producers' side of the same bounds, and the replay of state that
// sets aside what does not pass.

const plain = new Packr({ useRecords: false });
const records = new Packr({ useRecords: true, moreTypes: false });

function refused(fn: () => unknown, code: string, problem: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof ProtocolError && err.code === code && problem.test(err.message), `expected ${code} matching ${problem}`);
}

const record: WireRecord = { state: 'finished', queryId: 'q1', ts: 1_767_225_600_000, durationMs: 1500, sql: 'select 1', fingerprint: 'select ?', fingerprintId: '0xABC' };
const alert: Alert = {
  id: 'a1', type: 'slow_query', source: 'db', queryId: 'q1', fingerprint: 'select ?', fingerprintId: '0xABC', sql: 'select 1', durationMs: 1500,
  startedAt: '2026-01-01T00:00:00.000Z', at: '2026-01-01T00:00:01.500Z', severity: 'warning',
};

describe('wire schema: headers', () => {
  it('every header the services build decodes to itself', () => {
    const built: Header[] = [
      h.batchHeader({ rid: 1, src: 's', stream: 't', first: 1, last: 3 }), h.ackHeader({ rid: 1, stream: 't', last: 3, applied: 3, dup: 0 }),
      h.retryHeader(1, 500, 'away'), h.gapHeader(1, 't', 4), h.errorHeader(0, new ProtocolError('BAD_PAYLOAD', 'x')), h.helloHeader('hello', { name: 'c0', sid: 'abc', gen: 2, pid: 7, host: 'h' }),
      h.helloHeader('hb', { name: 'c0', sid: 'abc', gen: 2, pid: 7, host: 'h' }), h.claimHeader('fenced', 'c0', 'another process owns it'), h.alertsHeader(7, 2), h.alertsAckHeader(7, 1, 1), h.statsHeader(), h.silenceRequestHeader('silence-ls', 9),
      h.silenceReplyHeader(9, 0), h.chunkHeader({ rid: 2, src: 's', stream: 't', first: 1, last: 524_288, eof: 0, fmt: 'mysql-slow', tz: '' }),
      h.chunkHeader({ rid: 3, src: 's', stream: 't', first: 524_289, last: 524_300, eof: 1, fmt: 'mysql-slow', tz: 'Europe/Berlin' }),
      h.chunkHeader({ rid: 4, src: 's', stream: 't', first: 1, last: 100, eof: 0, fmt: 'postgres', tz: '', pfx: '%m [%p] ', quiet: 1 }),
    ];
    for (const header of built) assert.deepEqual(decodeHeader(encodeHeader(header)), header);
  });

  it('refuses each field out of its rule, keeps no key it does not know', () => {
    const batch = { v: PROTOCOL_VERSION, t: 'batch', rid: 1, src: 's', stream: 't', first: 1, last: 3 };
    refused(() => decodeHeader(plain.pack({ ...batch, v: PROTOCOL_VERSION + 1 })), 'VERSION', new RegExp(`version ${PROTOCOL_VERSION + 1}`));
    refused(() => decodeHeader(plain.pack({ ...batch, v: 1 })), 'VERSION', /version 1/);
    refused(() => decodeHeader(plain.pack({ ...batch, t: 'constructor' })), 'UNKNOWN_TYPE', /constructor/);
    refused(() => decodeHeader(plain.pack({ ...batch, rid: -1 })), 'BAD_HEADER', /batch header: rid/);
    refused(() => decodeHeader(plain.pack({ ...batch, src: 'x'.repeat(600) })), 'BAD_HEADER', /src: must have at most 512/);
    refused(() => decodeHeader(plain.pack({ ...batch, first: 4 })), 'BAD_HEADER', /first \(4\) is after last \(3\)/);
    refused(() => decodeHeader(plain.pack({ ...batch, last: 200_000 })), 'BAD_HEADER', /over 100000/);
    refused(() => decodeHeader(plain.pack({ ...batch, stream: undefined })), 'BAD_HEADER', /stream: missing/);
    refused(() => decodeHeader(plain.pack({ v: PROTOCOL_VERSION, t: 'retry', rid: 1, after: Number.NaN, reason: '' })), 'BAD_HEADER', /after/);
    const chunk = { v: PROTOCOL_VERSION, t: 'chunk', rid: 1, src: 's', stream: 't', first: 1, last: 1000, eof: 0, fmt: 'mysql-slow', tz: '' };
    refused(() => decodeHeader(plain.pack({ ...chunk, v: 3 })), 'VERSION', /version 3/);
    refused(() => decodeHeader(plain.pack({ ...chunk, last: MAX_CHUNK_BYTES + 1 })), 'BAD_HEADER', new RegExp(`over ${MAX_CHUNK_BYTES}`));
    refused(() => decodeHeader(plain.pack({ ...chunk, first: 0 })), 'BAD_HEADER', /chunk header: first/);
    refused(() => decodeHeader(plain.pack({ ...chunk, fmt: 'mssql' })), 'BAD_HEADER', /fmt: must be one of mysql-slow, jsonl, postgres, postgres-csv, postgres-json/);
    refused(() => decodeHeader(plain.pack({ ...chunk, fmt: 'postgres', pfx: '%m '.repeat(100) })), 'BAD_HEADER', /pfx: must have at most 256/);
    refused(() => decodeHeader(plain.pack({ ...chunk, quiet: 2 })), 'BAD_HEADER', /quiet/);
    refused(() => decodeHeader(plain.pack({ ...chunk, eof: 2 })), 'BAD_HEADER', /eof/);
    refused(() => decodeHeader(plain.pack({ ...chunk, tz: 'x'.repeat(65) })), 'BAD_HEADER', /tz/);
    refused(() => decodeChunkBytes(Buffer.alloc(999), 1, 1000), 'BAD_PAYLOAD', /999 bytes, header says 1000/);
    refused(() => decodeChunkBytes(undefined, 1, 1000), 'BAD_PAYLOAD', /missing chunk frame/);
    const extra = decodeHeader(plain.pack({ ...batch, extra: 1 }));
    assert.deepEqual(Object.keys(extra), ['v', 't', 'rid', 'src', 'stream', 'first', 'last']);
  });
});

describe('wire schema: payloads', () => {
  it('records: built anew, every field checked', () => {
    const [r] = decodeRecords(encodeRecords([{ ...record, labels: { a: 1, b: 'x', c: true } }]), 1);
    assert.deepEqual(r, { ...record, labels: { a: 1, b: 'x', c: true } });
    refused(() => decodeRecords(records.pack([{ ...record, state: 'paused' }]), 1), 'BAD_PAYLOAD', /record 0: state: must be one of running, finished/);
    refused(() => decodeRecords(records.pack([{ ...record, durationMs: -1 }]), 1), 'BAD_PAYLOAD', /durationMs/);
    refused(() => decodeRecords(records.pack([{ ...record, ts: 1e16 }]), 1), 'BAD_PAYLOAD', /record 0: ts/);
    refused(() => decodeRecords(records.pack([{ ...record, db: null }]), 1), 'BAD_PAYLOAD', /db: must be a string/);
    refused(() => decodeRecords(records.pack([record, { ...record, labels: { n: { deep: 1 } } }]), 2), 'BAD_PAYLOAD', /record 1: labels: label "n"/);
    refused(() => decodeRecords(records.pack([{ ...record, labels: Object.fromEntries(Array.from({ length: MAX_LABELS + 1 }, (_, i) => [`k${i}`, i])) }]), 1), 'BAD_PAYLOAD', /at most 128 labels/);
  });

  it('a list whose declared length is not the header\'s is refused before it is decoded', () => {
    // array32 declaring 4 billion elements, and nothing else
    refused(() => decodeRecords(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), 1), 'BAD_PAYLOAD', /4294967295 records, header says 1/);
    refused(() => decodeAlerts(encodeAlerts([alert]), 2), 'BAD_PAYLOAD', /1 alerts, header says 2/);
  });

  it('labels: a flat map, no __proto__ key', () => {
    assert.throws(() => labels(JSON.parse('{"__proto__": "x"}'), 'labels'), /__proto__ is not allowed/);
    const l = labels(JSON.parse('{"constructor": "c", "toString": 1}'), 'labels');
    assert.equal(Object.getPrototypeOf(l), Object.prototype);
    assert.deepEqual(Object.keys(l), ['constructor', 'toString']);
  });

  it('alerts: enums, ISO times, at most 1000 in a message', () => {
    assert.deepEqual(decodeAlerts(encodeAlerts([alert]), 1), [alert]);
    refused(() => decodeAlerts(encodeAlerts([{ ...alert, type: 'exploded' as Alert['type'] }]), 1), 'BAD_PAYLOAD', /alert 0: type/);
    refused(() => decodeAlerts(records.pack([{ ...alert, severity: undefined }]), 1), 'BAD_PAYLOAD', /severity: missing/);
    refused(() => decodeAlerts(records.pack([{ ...alert, at: '2026-01-01T25:00:00Z' }]), 1), 'BAD_PAYLOAD', /at: must be an ISO time/);
    refused(() => decodeAlerts(records.pack([{ ...alert, startedAt: 'yesterday' }]), 1), 'BAD_PAYLOAD', /startedAt/);
    assert.equal(decodeAlerts(encodeAlerts([{ ...alert, at: '+275760-09-13T00:00:00.000Z' }]), 1).length, 1, 'the last time a Date holds');
    refused(() => decodeAlerts(encodeAlerts(Array.from({ length: 1001 }, () => alert)), 1001), 'BAD_PAYLOAD', /1001 alerts in one message, over 1000/);
  });

  it('stats: every entry well-formed or the message is refused; names cut, non-finite counters left out', () => {
    const st = { service: `client-${'x'.repeat(300)}`, kind: 'client', at: 1, counters: { a: 1, b: Number.NaN } };
    assert.deepEqual(decodeStats(encodeStats([st])), [{ service: st.service.slice(0, 200), kind: 'client', at: 1, counters: { a: 1 } }]);
    refused(() => decodeStats(records.pack([st, { ...st, at: Number.NaN }])), 'BAD_PAYLOAD', /entry 1: at/);
    refused(() => decodeStats(records.pack([{ ...st, counters: { a: 'x' } }])), 'BAD_PAYLOAD', /counter "a": must be a number/);
  });

  it('silence bodies', () => {
    const body = { matchers: ['db=x'], comment: 'c', durationMs: 60_000 };
    assert.deepEqual(decodeSilenceAdd(encodeSilenceBody(body)), body);
    refused(() => decodeSilenceAdd(encodeSilenceBody({ ...body, durationMs: -5 })), 'BAD_PAYLOAD', /silence-add: durationMs/);
    refused(() => decodeSilenceAdd(encodeSilenceBody({ ...body, endsAt: 'tomorrow' })), 'BAD_PAYLOAD', /endsAt: must be an ISO time/);
  });
});

describe('producers stay within the bounds the wire checks', () => {
  const event = (fields: Partial<ParsedEvent>): ParsedEvent => ({ ...record, offset: 0, end: 1, ...fields });

  it('an event the consumer would refuse is a parse problem; labels beyond the bounds are cut', () => {
    const out = newParseOutput();
    const manyLabels = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, 'v'.repeat(i === 0 ? 5000 : 1)]));
    out.events.push(event({ queryId: 'q'.repeat(5000) }), event({ rowsSent: -1 }), event({ labels: { ...manyLabels, '': 'empty' } }));
    rejectBadEvents(out, 0, () => 1);
    assert.deepEqual(out.problems.map((p) => p.reason), ['queryId: must have at most 1024 characters, got 5000', 'rowsSent: must be a finite number ≥ 0, got -1']);
    const kept = out.events[0]!.labels!;
    assert.equal(Object.keys(kept).length, MAX_LABELS);
    assert.equal((kept.k0 as string).length, 1024);
    assert.doesNotThrow(() => decodeRecords(encodeRecords([out.events[0]!]), 1));
  });

  it('the quick check (plainlyValid) passes only records the schema takes, and the usual one', () => {
    const rand = prng(5);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const longText = (n: number) => 'x'.repeat(n);
    const strings = ['', 'a', longText(512), longText(513), longText(1024), longText(1025), longText(129)];
    const numbers = [0, -0, 1, -1, 1.5, NaN, Infinity, -Infinity, 8.64e15, 8.64e15 + 2, -8.64e15, Number.MAX_VALUE];
    const anything = [...strings, ...numbers, true, false, null, undefined, {}, [], Buffer.from('x'), Object.create(null) as object];
    const usual: Record<string, unknown> = {
      state: 'finished', queryId: '12-1795327199000', ts: 1795327199500, durationMs: 12.5, sql: 'SELECT 1', fingerprint: 'select ?', fingerprintId: '0xAB',
      user: 'app', db: 'shop', host: 'h', lockMs: 0.1, rowsSent: 1, rowsExamined: 2, labels: { ip: '10.0.0.1', QC_hit: false, Thread_id: 7 }, offset: 0, end: 10,
    };
    assert.equal(plainlyValid(usual as unknown as WireRecord), true);
    let quick = 0;
    for (let k = 0; k < 20_000; k++) {
      const r: Record<string, unknown> = { ...usual, labels: { ...(usual.labels as object) } };
      for (let m = 1 + Math.floor(rand() * 2); m > 0; m--) {
        const key = pick([...Object.keys(usual), 'labels', 'labels', 'labels']);
        if (key === 'labels' && rand() < 0.7 && typeof r.labels === 'object' && r.labels !== null && !Buffer.isBuffer(r.labels)) {
          const l = r.labels as Record<string, unknown>;
          const name = pick(['', 'a', longText(128), longText(129), '__proto__', 'n']);
          if (name === '__proto__') Object.defineProperty(l, name, { value: 1, enumerable: true });
          else l[name] = pick(anything);
          if (rand() < 0.05) for (let i = 0; i < 130; i++) l['k' + i] = i;
        } else if (rand() < 0.1) delete r[key];
        else r[key] = pick(anything);
      }
      let schemaTakes = true;
      try {
        wireRecord(r, '');
      } catch {
        schemaTakes = false;
      }
      const fast = plainlyValid(r as unknown as WireRecord);
      if (fast) quick++;
      assert.ok(!fast || schemaTakes, `plainlyValid passed what the schema refuses: ${JSON.stringify(r, (_k, v: unknown) => (typeof v === 'string' && v.length > 20 ? `<${v.length} chars>` : v))}`);
    }
    assert.ok(quick > 1000, `the quick check passed only ${quick} records`);
  });

  it('a fingerprint longer than the bound is cut, its id that of the whole', () => {
    const sql = (last: string) => `select ${Array.from({ length: 3000 }, (_, i) => `c${i}`).join(', ')}, ${last} from t`;
    const fp = new FingerprintCache().get(sql('alpha'));
    assert.ok(fp.fingerprint.length <= MAX_FINGERPRINT_CHARS && fp.fingerprint.endsWith(' /* …truncated */'));
    assert.notEqual(fp.fingerprintId, new FingerprintCache().get(sql('beta')).fingerprintId);
  });

  it('the client seals a batch before its records could pass the payload bound', () => {
    const sealed: Batch<number>[] = [];
    const batcher = new Batcher<number>(1000, 1000, (b) => sealed.push(b));
    const big = { a: 'x'.repeat(1024) };
    const labelsOf = Object.fromEntries(Array.from({ length: 128 }, (_, i) => [`label_${i}`, big.a]));
    const events: NumberedEvent[] = Array.from({ length: 100 }, (_, i) => ({ ...event({ labels: labelsOf }), seq: i + 1 }));
    batcher.add('s', events, (e) => e.seq, 0);
    batcher.tick(0, true);
    assert.ok(sealed.length > 1, `${sealed.length} batches`);
    for (const b of sealed) assert.ok(encodeRecords(b.records).length <= 8 * 1024 * 1024 + 512 * 1024);
  });
});

describe('replay sets aside what does not pass, and goes on', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('the monitor\'s journal and snapshot', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slowq-wire-schema-'));
    dirs.push(dir);
    const store = new DurableStore(dir, { fsync: false });
    await store.open();
    const good = { k: 'a', t: 1, alerts: [alert] };
    await store.append([packState(good), packState({ k: 'a', t: 1, alerts: [{ ...alert, severity: 'loud' }] }), packState({ k: 'q' }), packState({ k: 'd', id: 'n1', ok: true })]);
    await store.close();
    const setAside: Array<SetAside & { part: LogPart }> = [];
    const log = new NotificationLog(dir, { fsync: false, setAside: (item, part) => setAside.push({ ...item, part }) });
    const opened = await log.open();
    assert.deepEqual(opened.entries.map((e) => e.entry), [good, { k: 'd', id: 'n1', ok: true }]);
    assert.deepEqual(setAside.map((s) => [s.part, s.file, s.entry, s.reason]), [
      ['journal', 'journal-000000', 1, 'alerts: alert 0: severity: must be one of info, warning, critical, got "loud"'],
      ['journal', 'journal-000000', 2, 'k: unknown kind "q" (known: a, A, f, d)'],
    ]);
    assert.equal(setAside[1]!.offset, opened.entries[0]!.bytes.length + 12 + packState({ k: 'a', t: 1, alerts: [{ ...alert, severity: 'loud' }] }).length + 12);
    await log.close();
  });

  it('an acceptance journaled with its wire payload reads back as the alerts; a bad payload is set aside', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slowq-wire-schema-'));
    dirs.push(dir);
    const first = new NotificationLog(dir, { fsync: false });
    await first.open();
    const other = { ...alert, id: 'a2', queryId: 'q2', extra: 'dropped' } as Alert;
    await first.write({ k: 'a', t: 5, alerts: [alert, other], payload: encodeAlerts([alert, other]) }, () => {});
    await first.close();
    const store = new DurableStore(dir, { fsync: false });
    await store.open();
    await store.append([
      packState({ k: 'A', t: 6, p: encodeAlerts([{ ...alert, severity: 'loud' } as unknown as Alert]) }),
      packState({ k: 'A', t: 7, p: Buffer.from([0x92, 0x01]) }),
      packState({ k: 'A', t: 8, p: 'not bytes' }),
    ]);
    await store.close();
    const setAside: string[] = [];
    const log = new NotificationLog(dir, { fsync: false, setAside: (item) => setAside.push(item.reason) });
    const opened = await log.open();
    // what the monitor accepted from the payload: the schema's fields only, as when it came
    const { extra: _extra, ...checkedOther } = other as Alert & { extra: string };
    assert.deepEqual(opened.entries.map((e) => e.entry), [{ k: 'a', t: 5, alerts: [alert, checkedOther] }]);
    assert.equal(setAside.length, 3);
    assert.equal(setAside[0], 'p: alert 0: severity: must be one of info, warning, critical, got "loud"');
    assert.match(setAside[1]!, /^p: not a msgpack payload/);
    assert.match(setAside[2]!, /^p: must be binary data/);
    await log.close();
  });

  it('the monitor\'s snapshot: accepted ids\' times that do not pass, or no longer line up with the ids, are set aside whole', async () => {
    const cases: Array<{ ids: unknown[]; idTimes: unknown; want: { ids: string[]; idTimes?: unknown }; reason?: RegExp }> = [
      { ids: ['a1', 'a2', 'a3'], idTimes: [[5, 2], [9, 1]], want: { ids: ['a1', 'a2', 'a3'], idTimes: [[5, 2], [9, 1]] } },
      { ids: ['a1', 'a2'], idTimes: [[5, 0]], want: { ids: ['a1', 'a2'] }, reason: /^idTimes: run 0: 1: must be an integer from 1 / },
      { ids: ['a1', 'a2'], idTimes: 'soon', want: { ids: ['a1', 'a2'] }, reason: /^idTimes: must be a list/ },
      { ids: ['a1', 42, 'a3'], idTimes: [[5, 3]], want: { ids: ['a1', 'a3'] }, reason: /^idTimes: ids were set aside, so the runs no longer line up/ },
    ];
    for (const c of cases) {
      const dir = await mkdtemp(join(tmpdir(), 'slowq-wire-schema-'));
      dirs.push(dir);
      const store = new DurableStore(dir, { fsync: false });
      await store.open();
      await store.snapshot(packState({ v: 2, ids: c.ids, idTimes: c.idTimes }));
      await store.close();
      const setAside: string[] = [];
      const log = new NotificationLog(dir, { fsync: false, setAside: (item) => setAside.push(`${item.what}: ${item.reason}`) });
      const opened = await log.open();
      assert.deepEqual(opened.snapshot, { v: 2, ...c.want }, JSON.stringify(c));
      const timesAside = setAside.filter((r) => r.startsWith('idTimes'));
      if (c.reason) {
        assert.equal(timesAside.length, 1, JSON.stringify(setAside));
        assert.match(timesAside[0]!.replace(/^idTimes: /, ''), c.reason);
        assert.match(timesAside[0]!, /the ids count as accepted at this start/);
      } else assert.deepEqual(setAside, []);
      await log.close();
    }
  });

  it('the consumer\'s snapshot: a bad open query or outbox alert is set aside, the rest restored', () => {
    const engine = new RulesEngine();
    const st = engine.source('db');
    st.streams.set('s1', 5);
    st.open.set('q1', { queryId: 'q1', firstTs: 1, lastTs: 2, durationMs: 10, fired: false, sql: 's', fingerprint: 'f', fingerprintId: '0x1' });
    st.open.set('q2', { queryId: 'q2', firstTs: Number.NaN, lastTs: 2, durationMs: 10, fired: false, sql: 's', fingerprint: 'f', fingerprintId: '0x1' });
    const buf = encodeSnapshot(engine, [alert, { ...alert, id: 'a2', type: 'nope' as Alert['type'] }]);
    const restored = new RulesEngine();
    const outbox = new Map<string, Alert>();
    const setAside: string[] = [];
    decodeSnapshot(buf, restored, outbox, (item) => setAside.push(`${item.what}: ${item.reason}`));
    assert.deepEqual(setAside, [
      'source db: open query 1: firstTs: must be a finite number from -8640000000000000 to 8640000000000000, got NaN',
      'outbox: alert 1: type: must be one of slow_query, long_running, resolved, stalled, regression, regression_resolved, got "nope"',
    ]);
    assert.deepEqual([...restored.source('db').open.keys()], ['q1']);
    assert.equal(restored.source('db').streams.get('s1'), 5);
    assert.deepEqual([...outbox.keys()], ['a1']);
  });
});
