import { MAX_PLAN_CHARS, MAX_SQL_BYTES, PLAN_TRUNCATED_MARK, TRUNCATED_MARK, type Labels } from './record.js';

// How big each field of a record or an alert may be. The producers stay within these (parsers cut statement
// text, fingerprints and labels, and refuse events beyond the rest: formats/parsers/types.ts), and the wire
// refuses anything beyond them (src/wire/record-schema.ts, alert-schema.ts): what a client sends, a consumer
// takes, and what a consumer makes of it, the monitor takes.

/** Largest |time| a Date can hold, in ms: a time or a duration beyond it is nonsense, whatever the input says. */
export const MAX_TIME_MS = 8.64e15;

/** sources, streams, consumer names; a record's db, user and host */
export const MAX_NAME_CHARS = 512;
/** a query id, an alert id */
export const MAX_ID_CHARS = 1024;
/** statement text as boundSql leaves it */
export const MAX_SQL_CHARS = MAX_SQL_BYTES + TRUNCATED_MARK.length;
/** a fingerprint is cut here (its id is still that of the whole fingerprint) */
const FINGERPRINT_CUT_CHARS = 2 * MAX_SQL_BYTES;
export const MAX_FINGERPRINT_CHARS = FINGERPRINT_CUT_CHARS + TRUNCATED_MARK.length;
/** pt-query-digest's ids are `0x` and 32 hex digits */
export const MAX_FINGERPRINT_ID_CHARS = 128;

/** plan text as boundPlan leaves it */
export const MAX_PLAN_TEXT_CHARS = MAX_PLAN_CHARS + PLAN_TRUNCATED_MARK.length;

/** Labels of a record or an alert: a flat map of bounded names and primitive values. */
export const MAX_LABELS = 128;
export const MAX_LABEL_NAME_CHARS = 128;
export const MAX_LABEL_VALUE_CHARS = 1024;

/**
 * A fingerprint's text, cut when longer than any of a statement cut by boundSql can be (a MySQL slow log
 * fingerprints the whole statement, up to megabytes for a giant one); its id is taken before the cut.
 */
export function boundFingerprint(fp: string): string {
  return fp.length <= MAX_FINGERPRINT_CHARS ? fp : fp.slice(0, FINGERPRINT_CUT_CHARS) + TRUNCATED_MARK;
}

/**
 * Labels within the bounds, the way a producer keeps what it can of them: the first MAX_LABELS with a name
 * of 1 to MAX_LABEL_NAME_CHARS characters (other than `__proto__`), long text cut and marked with "…",
 * non-finite numbers left out. Returns the same object when nothing had to change.
 */
export function boundLabels(labels: Labels): Labels {
  let changed = false;
  let n = 0;
  const out: Labels = {};
  for (const k of Object.keys(labels)) {
    const v = labels[k]!;
    const keep = n < MAX_LABELS && k.length >= 1 && k.length <= MAX_LABEL_NAME_CHARS && k !== '__proto__' && (typeof v !== 'number' || Number.isFinite(v));
    if (!keep) {
      changed = true;
      continue;
    }
    n++;
    if (typeof v === 'string' && v.length > MAX_LABEL_VALUE_CHARS) {
      out[k] = v.slice(0, MAX_LABEL_VALUE_CHARS - 1) + '…';
      changed = true;
    } else out[k] = v;
  }
  return changed ? out : labels;
}
