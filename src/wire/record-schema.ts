import {
  MAX_FINGERPRINT_CHARS, MAX_FINGERPRINT_ID_CHARS, MAX_ID_CHARS, MAX_LABEL_NAME_CHARS, MAX_LABEL_VALUE_CHARS, MAX_LABELS, MAX_NAME_CHARS,
  MAX_SQL_CHARS, MAX_TIME_MS,
} from '../model/bounds.js';
import { QUERY_STATES, RECORD_KINDS, type WireRecord } from '../model/record.js';
import { amount, detail, duration, eventTime, fingerprint, fingerprintId, id, labels, plan, planFacts, sql } from './fields.js';
import { object, oneOf, optional, SchemaError, type Check } from './schema.js';

// A record in a batch payload (docs/wire.md, "Records"), and the same check for a producer that wants to know
// whether what it made would be taken.

export const wireRecord: Check<WireRecord> = object({
  state: oneOf(QUERY_STATES),
  queryId: id,
  ts: eventTime,
  durationMs: duration,
  sql,
  fingerprint,
  fingerprintId,
  user: optional(detail),
  db: optional(detail),
  host: optional(detail),
  lockMs: optional(amount),
  rowsSent: optional(amount),
  rowsExamined: optional(amount),
  labels: optional(labels),
  plan: optional(plan),
  planFacts: optional(planFacts),
  kind: optional(oneOf(RECORD_KINDS)),
  calls: optional(amount),
});

/**
 * Why a consumer would refuse this record, or undefined when it would take it. Every reader of logs asks this of
 * every event it parses: the usual record is passed by plainlyValid() without wireRecord's copy (that was a tenth
 * of a parse profile); anything else gets wireRecord's verdict and its words.
 */
export function recordProblem(r: WireRecord): string | undefined {
  if (plainlyValid(r)) return undefined;
  try {
    wireRecord(r, '');
    return undefined;
  } catch (err) {
    if (err instanceof SchemaError) return err.message;
    throw err;
  }
}

const isText = (v: unknown, min: number, max: number): boolean => typeof v === 'string' && v.length >= min && v.length <= max;
const isIn = (v: unknown, min: number, max: number): boolean => typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;
const isDetail = (v: unknown): boolean => v === undefined || isText(v, 0, MAX_NAME_CHARS);
const isAmount = (v: unknown): boolean => v === undefined || isIn(v, 0, Number.MAX_VALUE);

/**
 * True only where wireRecord surely takes `r` as it is: the same fields and bounds (fields.ts), read off a plain
 * object without building one. False says nothing (wireRecord decides). test/wire-schema.test.ts holds both to agree.
 */
export function plainlyValid(r: WireRecord): boolean {
  if (r === null || typeof r !== 'object' || Object.getPrototypeOf(r) !== Object.prototype) return false;
  if (!(r.state === QUERY_STATES[0] || r.state === QUERY_STATES[1])) return false;
  if (!isText(r.queryId, 1, MAX_ID_CHARS) || !isIn(r.ts, -MAX_TIME_MS, MAX_TIME_MS) || !isIn(r.durationMs, 0, MAX_TIME_MS)) return false;
  if (!isText(r.sql, 0, MAX_SQL_CHARS) || !isText(r.fingerprint, 0, MAX_FINGERPRINT_CHARS) || !isText(r.fingerprintId, 0, MAX_FINGERPRINT_ID_CHARS)) return false;
  if (!isDetail(r.user) || !isDetail(r.db) || !isDetail(r.host)) return false;
  if (!isAmount(r.lockMs) || !isAmount(r.rowsSent) || !isAmount(r.rowsExamined)) return false;
  // the rarer fields (a plan, a class's statistics) are left to wireRecord
  if (r.plan !== undefined || r.planFacts !== undefined || r.kind !== undefined || r.calls !== undefined) return false;
  const labels: unknown = r.labels;
  if (labels === undefined) return true;
  if (labels === null || typeof labels !== 'object' || Object.getPrototypeOf(labels) !== Object.prototype) return false;
  let n = 0;
  for (const k in labels) {
    if (!Object.hasOwn(labels, k) || ++n > MAX_LABELS || k.length < 1 || k.length > MAX_LABEL_NAME_CHARS || k === '__proto__') return false;
    const v = (labels as Record<string, unknown>)[k];
    if (typeof v === 'string' ? v.length > MAX_LABEL_VALUE_CHARS : !(typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)))) return false;
  }
  return true; // for…in sees what Object.keys() does (and mapOf checks): own enumerable string keys
}
