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

/** Why a consumer would refuse this record, or undefined when it would take it. */
export function recordProblem(r: WireRecord): string | undefined {
  try {
    wireRecord(r, '');
    return undefined;
  } catch (err) {
    if (err instanceof SchemaError) return err.message;
    throw err;
  }
}
