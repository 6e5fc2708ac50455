import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { decodeSnapshot, encodeSnapshot } from '../src/consumer/state-codec.js';
import type { Alert, QueryRecord } from '../src/model/record.js';
import { RulesEngine } from '../src/rules/engine.js';
import { DEFAULT_RULES } from '../src/rules/rules.js';
import type { BenchReport } from './output.js';

// What query classes (src/rules/regression.ts) cost a consumer: memory per class (the JS heap and typed arrays,
// after a full GC, with and without the classes), snapshot bytes per class, and the rate at which records are
// applied. Each class gets `minutes` of history (one record a minute, fingerprints of realistic length), so the
// history and the window are as full as they get; the arrays are fixed-size whatever the traffic.

export interface ClassesOptions {
  classes: number;
  minutes: number;
}

function collect(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

function used(gc: () => void): number {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

export function benchClasses(o: ClassesOptions): BenchReport {
  const gc = collect();
  const base = used(gc);
  const engine = new RulesEngine({ ...structuredClone(DEFAULT_RULES), maxClasses: o.classes });
  const alerts: Alert[] = [];
  const t0 = Date.UTC(2026, 10, 23);
  let seq = 0;
  const started = performance.now();
  for (let m = 0; m < o.minutes; m++) {
    const batch: QueryRecord[] = [];
    for (let c = 0; c < o.classes; c++) {
      const fp = `select o.id, o.total, c.name from orders_${c} o join customers c on c.id = o.customer_id where o.status = ? and o.created_at > ? order by o.created_at desc limit ?`;
      batch.push({
        source: 'db-bench', stream: 'f', seq: ++seq, state: 'finished', queryId: `q${seq}`, ts: t0 + m * 60_000 + c, durationMs: 5 + (c % 50),
        sql: fp.replace(/\?/g, '1'), fingerprint: fp, fingerprintId: `0x${c.toString(16).padStart(32, '0')}`, db: 'shop', user: 'app',
      });
    }
    engine.applyBatch('db-bench', 'f', batch, alerts);
    alerts.length = 0;
  }
  const seconds = (performance.now() - started) / 1000;
  const withClasses = used(gc);
  const perClass = (withClasses - base) / o.classes;
  const snapshot = encodeSnapshot(engine, []);
  const restoreStart = performance.now();
  decodeSnapshot(snapshot, new RulesEngine(DEFAULT_RULES), new Map());
  const restoreMs = performance.now() - restoreStart;
  const classes = engine.source('db-bench').classes.classes.size;
  return {
    bench: 'classes',
    tables: [{
      title: `Query classes in a consumer: ${classes} classes of one source, ${o.minutes} min of history each`,
      columns: ['classes', 'memory MiB', 'bytes per class', 'per 10,000 classes MiB', 'snapshot MiB', 'snapshot bytes per class', 'restore ms', 'records/s applied'],
      rows: [[classes, (withClasses - base) / (1 << 20), Math.round(perClass), (perClass * 10_000) / (1 << 20), snapshot.length / (1 << 20),
        Math.round(snapshot.length / classes), Math.round(restoreMs), Math.round(seq / seconds)]],
      notes: [
        'memory: heapUsed + arrayBuffers after full GCs, with the classes minus before them (the engine\'s other state is empty)',
        'a class holds 10 one-minute slices of 40 counts (Uint32), the window\'s 40 counts, ≤ 12 past windows, its ids; an open regression adds its example statement (≤ 4 KiB)',
      ],
    }],
    charts: [],
    data: { classes, minutes: o.minutes, bytesPerClass: perClass, snapshotBytes: snapshot.length, restoreMs, recordsPerSecond: seq / seconds },
  };
}
