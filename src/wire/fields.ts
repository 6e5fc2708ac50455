import {
  MAX_FINGERPRINT_CHARS, MAX_FINGERPRINT_ID_CHARS, MAX_ID_CHARS, MAX_LABEL_NAME_CHARS, MAX_LABEL_VALUE_CHARS, MAX_LABELS, MAX_NAME_CHARS,
  MAX_PLAN_TEXT_CHARS, MAX_SQL_CHARS, MAX_TIME_MS,
} from '../model/bounds.js';
import type { Labels, PlanFacts } from '../model/record.js';
import { boolean, integer, mapOf, number, object, optional, primitive, text, type Check } from './schema.js';

// Checks of single fields, shared by the headers, the payloads and the services' state files.

/** a request id: replies carry it back (0 when the request's own could not be read) */
export const rid = integer(0, Number.MAX_SAFE_INTEGER);
/** a record's number within its stream */
export const seq = integer(1, Number.MAX_SAFE_INTEGER);
/** a source, stream or consumer name */
export const name = text({ min: 1, max: MAX_NAME_CHARS });
/** a record's db, user or host (may be empty) */
export const detail = text({ max: MAX_NAME_CHARS });
/** a query id, an alert id */
export const id = text({ min: 1, max: MAX_ID_CHARS });
/** ms since the epoch, within what a Date holds */
export const eventTime = number(-MAX_TIME_MS, MAX_TIME_MS);
/** ms, from 0 to the longest time a Date spans */
export const duration = number(0, MAX_TIME_MS);
export const sql = text({ max: MAX_SQL_CHARS });
export const fingerprint = text({ max: MAX_FINGERPRINT_CHARS });
export const fingerprintId = text({ max: MAX_FINGERPRINT_ID_CHARS });
/** rows, a lock time: a finite number ≥ 0 */
export const amount = number(0, Number.MAX_VALUE);

/** a flat map of bounded names to strings, finite numbers or booleans */
export const labels: Check<Labels> = mapOf({
  max: MAX_LABELS, what: 'label', key: text({ min: 1, max: MAX_LABEL_NAME_CHARS }), value: primitive(MAX_LABEL_VALUE_CHARS),
});

/** a plan as the server logged it, cut by boundPlan */
export const plan = text({ max: MAX_PLAN_TEXT_CHARS });

/** what the server said about how it ran a statement: flags and counts, each optional */
export const planFacts: Check<PlanFacts> = object({
  fullScan: optional(boolean),
  fullJoin: optional(boolean),
  tmpTable: optional(boolean),
  tmpTableOnDisk: optional(boolean),
  filesort: optional(boolean),
  filesortOnDisk: optional(boolean),
  mergePasses: optional(amount),
  priorityQueue: optional(boolean),
  tmpTables: optional(amount),
  tmpDiskTables: optional(amount),
});
