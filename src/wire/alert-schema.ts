import { ALERT_TYPES, SEVERITIES, type Alert, type RegressionFacts } from '../model/record.js';
import { detail, duration, fingerprint, fingerprintId, id, labels, name, plan, planFacts, sql } from './fields.js';
import { integer, isoTime, object, oneOf, optional, type Check } from './schema.js';

// An alert in an `alerts` payload (docs/wire.md, "Alerts"): also a line of alerts.jsonl, an entry of the
// monitor's journal and of the consumer's outbox.

const COUNT = integer(0, Number.MAX_SAFE_INTEGER);

/** a regression alert's window against its baseline (src/rules/regression.ts) */
export const regressionFacts: Check<RegressionFacts> = object({
  windowMs: duration,
  windowCount: COUNT,
  windowP95Ms: duration,
  baselineP95Ms: duration,
  baselineCount: COUNT,
  baselineWindows: integer(0, 1000),
});

export const alert: Check<Alert> = object({
  id,
  type: oneOf(ALERT_TYPES),
  source: name,
  queryId: id,
  fingerprint,
  fingerprintId,
  sql,
  durationMs: duration,
  startedAt: isoTime,
  at: isoTime,
  severity: oneOf(SEVERITIES),
  db: optional(detail),
  user: optional(detail),
  host: optional(detail),
  labels: optional(labels),
  plan: optional(plan),
  planFacts: optional(planFacts),
  regression: optional(regressionFacts),
});
