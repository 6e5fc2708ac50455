import { appendFileSync } from 'node:fs';
import type { JsonlRecord } from './generator.js';
import { prng } from './prng.js';

// A workload of query classes in event time, for the regression tests and the chaos run: `classes` statements (one class each,
// on db `shop`), each run about `perMinute` times a minute with log-normal durations around its own median;
// during a slowdown one class runs `factor` times slower. Deterministic from the seed.

export interface Slowdown {
  classIndex: number;
  fromMin: number;
  toMin: number;
  factor: number;
}

export interface ClassWorkloadOptions {
  seed: number;
  classes: number;
  perMinute: number;
  /** spread of the log-normal durations (σ of the log) */
  sigma?: number;
  startTs?: number;
  slowdowns?: Slowdown[];
  idPrefix?: string;
}

export interface Execution {
  ts: number;
  classIndex: number;
  durationMs: number;
  id: string;
}

export const CLASS_START_TS = Date.UTC(2026, 10, 23, 0, 0, 0);

/** The statement of class i (a distinct fingerprint per class: fingerprints replace digits, even in names). */
export function classSql(i: number, literal: number): string {
  return `SELECT * FROM t_${letters(i)} WHERE k = ${literal}`;
}

function letters(i: number): string {
  let s = '';
  do {
    s = String.fromCharCode(97 + (i % 26)) + s;
    i = Math.floor(i / 26);
  } while (i > 0);
  return s;
}

/** The median duration of class i (2 ms to ~60 ms). */
export function classMedianMs(i: number): number {
  return 2 + ((i * 7919) % 59);
}

export class ClassWorkload {
  private readonly rand: () => number;
  private readonly start: number;
  private now: number;
  private n = 0;
  written = 0;

  constructor(private readonly opts: ClassWorkloadOptions) {
    this.rand = prng(opts.seed);
    this.start = opts.startTs ?? CLASS_START_TS;
    this.now = this.start;
  }

  get minutes(): number {
    return (this.now - this.start) / 60_000;
  }

  /** Every execution of the next `minutes` minutes of event time, in time order. */
  *run(minutes: number): Generator<Execution> {
    const o = this.opts;
    const end = this.now + minutes * 60_000;
    const meanGap = 60_000 / (o.perMinute * o.classes);
    while (true) {
      const next = this.now + Math.max(1, Math.round(-Math.log(1 - this.rand()) * meanGap));
      if (next >= end) break;
      this.now = next;
      const classIndex = Math.floor(this.rand() * o.classes);
      const minute = (this.now - this.start) / 60_000;
      let factor = 1;
      for (const s of o.slowdowns ?? []) if (s.classIndex === classIndex && minute >= s.fromMin && minute < s.toMin) factor *= s.factor;
      const durationMs = Math.round(classMedianMs(classIndex) * Math.exp((o.sigma ?? 0.4) * gaussian(this.rand)) * factor * 100) / 100;
      yield { ts: this.now, classIndex, durationMs, id: `${o.idPrefix ?? 'c'}${++this.n}` };
    }
    this.now = end;
  }

  private stream: Generator<Execution> | undefined;
  private streamed = 0;

  /** The next execution as a slowq JSON line's record: an endless stream in time order (for the chaos run). */
  next(): JsonlRecord {
    this.stream ??= this.run(Number.POSITIVE_INFINITY);
    const e = this.stream.next().value as Execution;
    return { ts: e.ts, state: 'finished', id: e.id, duration_ms: e.durationMs, sql: classSql(e.classIndex, this.streamed++ % 100), db: 'shop', user: 'app' };
  }

  /** Appends the next `minutes` minutes as slowq JSON lines; returns how many records. */
  appendJsonl(path: string, minutes: number): number {
    let text = '';
    let n = 0;
    for (const e of this.run(minutes)) {
      const r: JsonlRecord = { ts: e.ts, state: 'finished', id: e.id, duration_ms: e.durationMs, sql: classSql(e.classIndex, n % 100), db: 'shop', user: 'app' };
      text += JSON.stringify(r) + '\n';
      n++;
    }
    appendFileSync(path, text);
    this.written += n;
    return n;
  }
}

/** A standard normal draw (Box–Muller). */
function gaussian(rand: () => number): number {
  const u = 1 - rand();
  const v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
