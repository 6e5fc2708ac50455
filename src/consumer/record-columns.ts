import type { Labels, PlanFacts, QueryState, RecordKind, WireRecord } from '../model/record.js';

// The records of one chunk as a parse thread hands them to the consumer's main thread (parse-worker.ts →
// parse-ahead.ts): column-wise, so that the main thread, the consumer's limit, builds each record from a few
// array reads instead of decoding it.
//
// - numbers and presence flags in two typed arrays, handed over without a copy;
// - each record's own strings (query id, statement, plan) in one array of strings: a structured clone copies
//   them exactly (lone surrogates too) into strings of their own, so no record keeps a whole chunk's text alive;
// - what many records repeat (fingerprint and id, user, db, host, labels, plan facts) once per chunk in a
//   dictionary the records index. The main thread interns fingerprints and names across chunks (Interner), so the
//   records of a class share one pair of strings as they do when the main thread parses (fingerprint-cache.ts):
//   the rules' per-class maps then compare keys by identity. Records of one chunk with equal labels (or plan facts)
//   share one object: nothing changes a record once it is parsed.
//
// msgpack did this before (packState/unpackState): 3–6 µs a record to pack in the thread, 1–3 to read on the main
// thread, and its strings, fresh per record, made the class lookups after it slower. test/record-columns.test.ts
// holds decode(encode(records)) equal to the records on the corpus, generated logs and random records.

/** Int32 columns per record: flags, then indices into the chunk's dictionaries (-1: absent). */
const INTS = 7;
const I_FLAGS = 0;
const I_CLASS = 1; // into `classes`, as a pair: fingerprint at 2i, id at 2i + 1
const I_USER = 2; // into `names`
const I_DB = 3;
const I_HOST = 4;
const I_LABELS = 5; // into `objects`
const I_FACTS = 6;

/** Float64 columns per record. */
const NUMS = 6;
const N_TS = 0;
const N_DURATION = 1;
const N_LOCK = 2;
const N_ROWS_SENT = 3;
const N_ROWS_EXAMINED = 4;
const N_CALLS = 5;

const F_RUNNING = 1;
const F_LOCK = 2;
const F_ROWS_SENT = 4;
const F_ROWS_EXAMINED = 8;
const F_CALLS = 16;
const F_PLAN = 32;
const F_STATEMENT_STATS = 64;

/** One chunk's records, column-wise (what crosses from a parse thread; `transferables` lists what moves without a copy). */
export interface RecordColumns {
  count: number;
  ints: Int32Array;
  nums: Float64Array;
  /** per record its query id and statement, then its plan if it has one */
  strings: string[];
  /** fingerprint, fingerprint id, fingerprint, fingerprint id, … */
  classes: string[];
  /** users, dbs and hosts */
  names: string[];
  /** labels and plan facts */
  objects: Array<Labels | PlanFacts>;
}

export function transferables(c: RecordColumns): ArrayBuffer[] {
  return [c.ints.buffer as ArrayBuffer, c.nums.buffer as ArrayBuffer];
}

/** Records → columns. Throws for a record it cannot carry exactly (the chunk is then parsed on the main thread). */
export function encodeRecords(recs: readonly WireRecord[]): RecordColumns {
  const count = recs.length;
  const ints = new Int32Array(count * INTS);
  const nums = new Float64Array(count * NUMS);
  const strings: string[] = [];
  const classes: string[] = [];
  const classIndex = new Map<string, number>();
  const names = new Dictionary<string>();
  const objects = new Dictionary<Labels | PlanFacts>();
  for (let i = 0; i < count; i++) {
    const r = recs[i]!;
    const ib = i * INTS;
    const nb = i * NUMS;
    let flags = 0;
    if (r.state === 'running') flags |= F_RUNNING;
    else if (r.state !== 'finished') throw new Error(`record ${i}: state ${String(r.state)}`);
    strings.push(r.queryId, r.sql);
    nums[nb + N_TS] = r.ts;
    nums[nb + N_DURATION] = r.durationMs;
    // the records of a class usually share one pair of strings (fingerprint-cache.ts): found by id, checked by text
    let c = classIndex.get(r.fingerprintId);
    if (c === undefined || classes[2 * c] !== r.fingerprint) {
      c = classes.length / 2;
      classes.push(r.fingerprint, r.fingerprintId);
      if (!classIndex.has(r.fingerprintId)) classIndex.set(r.fingerprintId, c);
    }
    ints[ib + I_CLASS] = c;
    ints[ib + I_USER] = r.user === undefined ? -1 : names.index(r.user, r.user);
    ints[ib + I_DB] = r.db === undefined ? -1 : names.index(r.db, r.db);
    ints[ib + I_HOST] = r.host === undefined ? -1 : names.index(r.host, r.host);
    if (r.lockMs !== undefined) {
      flags |= F_LOCK;
      nums[nb + N_LOCK] = r.lockMs;
    }
    if (r.rowsSent !== undefined) {
      flags |= F_ROWS_SENT;
      nums[nb + N_ROWS_SENT] = r.rowsSent;
    }
    if (r.rowsExamined !== undefined) {
      flags |= F_ROWS_EXAMINED;
      nums[nb + N_ROWS_EXAMINED] = r.rowsExamined;
    }
    ints[ib + I_LABELS] = r.labels === undefined ? -1 : objects.indexObject(r.labels);
    if (r.plan !== undefined) {
      flags |= F_PLAN;
      strings.push(r.plan);
    }
    ints[ib + I_FACTS] = r.planFacts === undefined ? -1 : objects.indexObject(r.planFacts);
    if (r.kind !== undefined) {
      if (r.kind !== 'statement_stats') throw new Error(`record ${i}: kind ${String(r.kind)}`);
      flags |= F_STATEMENT_STATS;
    }
    if (r.calls !== undefined) {
      flags |= F_CALLS;
      nums[nb + N_CALLS] = r.calls;
    }
    ints[ib + I_FLAGS] = flags;
  }
  return { count, ints, nums, strings, classes, names: names.values, objects: objects.values };
}

/**
 * Strings kept across chunks so that equal ones are one string (bounded: cleared whole when full, as the
 * fingerprint cache is; the hot ones come straight back).
 */
export class Interner {
  private readonly map = new Map<string, string>();
  constructor(private readonly max = 20_000) {}

  intern(s: string): string {
    const have = this.map.get(s);
    if (have !== undefined) return have;
    if (this.map.size >= this.max) this.map.clear();
    this.map.set(s, s);
    return s;
  }
}

/** Columns → records (the main thread). Throws if the columns do not hold together. */
export function decodeRecords(c: RecordColumns, interner: Interner): WireRecord[] {
  const { count, ints, nums, strings, objects } = c;
  if (!Number.isInteger(count) || count < 0 || ints.length !== count * INTS || nums.length !== count * NUMS) throw new Error(`columns of ${count} records do not match their arrays`);
  const classes = c.classes.map((s) => interner.intern(s));
  const names = c.names.map((s) => interner.intern(s));
  const out = new Array<WireRecord>(count);
  let s = 0;
  for (let i = 0; i < count; i++) {
    const ib = i * INTS;
    const nb = i * NUMS;
    const flags = ints[ib + I_FLAGS]!;
    const cls = ints[ib + I_CLASS]!;
    // in toWire's order of fields, so that these records have the shape the main thread's own parse gives them
    const r: WireRecord = {
      state: (flags & F_RUNNING ? 'running' : 'finished') satisfies QueryState,
      queryId: at(strings, s++),
      ts: nums[nb + N_TS]!,
      durationMs: nums[nb + N_DURATION]!,
      sql: at(strings, s++),
      fingerprint: at(classes, 2 * cls),
      fingerprintId: at(classes, 2 * cls + 1),
    };
    const user = ints[ib + I_USER]!;
    if (user >= 0) r.user = at(names, user);
    const db = ints[ib + I_DB]!;
    if (db >= 0) r.db = at(names, db);
    const host = ints[ib + I_HOST]!;
    if (host >= 0) r.host = at(names, host);
    if (flags & F_LOCK) r.lockMs = nums[nb + N_LOCK]!;
    if (flags & F_ROWS_SENT) r.rowsSent = nums[nb + N_ROWS_SENT]!;
    if (flags & F_ROWS_EXAMINED) r.rowsExamined = nums[nb + N_ROWS_EXAMINED]!;
    const labels = ints[ib + I_LABELS]!;
    if (labels >= 0) r.labels = at(objects, labels) as Labels;
    if (flags & F_PLAN) r.plan = at(strings, s++);
    const facts = ints[ib + I_FACTS]!;
    if (facts >= 0) r.planFacts = at(objects, facts) as PlanFacts;
    if (flags & F_STATEMENT_STATS) r.kind = 'statement_stats' satisfies RecordKind;
    if (flags & F_CALLS) r.calls = nums[nb + N_CALLS]!;
    out[i] = r;
  }
  if (s !== strings.length) throw new Error(`${strings.length} strings for ${count} records, ${s} read`);
  return out;
}

function at<T>(a: readonly T[], i: number): T {
  if (!(i >= 0 && i < a.length)) throw new Error(`index ${i} outside a dictionary of ${a.length}`);
  return a[i]!;
}

/** Values stored once each, by a key (undefined: not shared, stored as it is). */
class Dictionary<T> {
  readonly values: T[] = [];
  private readonly byKey = new Map<string, number>();
  /** objects looked up by objectKey(), and how many were found */
  private tries = 0;
  private found = 0;

  index(key: string | undefined, value: T): number {
    if (key !== undefined) {
      const have = this.byKey.get(key);
      if (have !== undefined) return have;
      this.byKey.set(key, this.values.length);
    }
    return this.values.push(value) - 1;
  }

  /**
   * index() of an object by objectKey(), while that pays: once SHARE_PROBE objects found fewer than one in
   * eight equal to one before, the rest of the chunk's are added as they are (a log whose labels differ from
   * record to record, as MariaDB's Bytes_sent makes them, spent ~1 µs a record building keys for nothing).
   */
  indexObject(value: T & object): number {
    if (this.tries >= SHARE_PROBE && this.found * 8 < this.tries) return this.values.push(value) - 1;
    this.tries++;
    const key = objectKey(value);
    const before = this.values.length;
    const i = this.index(key, value);
    if (i < before) this.found++;
    return i;
  }
}

const SHARE_PROBE = 64;

/**
 * A key equal for two label (or plan-fact) objects exactly when they hold the same fields with the same values in
 * the same order; undefined where one value is not a string, number or boolean (the object is then not shared).
 */
function objectKey(o: object): string | undefined {
  let key = '';
  for (const k in o) {
    if (!Object.hasOwn(o, k)) return undefined;
    const v = (o as Record<string, unknown>)[k];
    let tv: string;
    if (typeof v === 'string') tv = 's' + v;
    else if (typeof v === 'number') tv = Object.is(v, -0) ? 'n-0' : 'n' + String(v);
    else if (typeof v === 'boolean') tv = v ? 't' : 'f';
    else return undefined;
    key += k.length + ':' + k + tv.length + ':' + tv;
  }
  return key;
}
