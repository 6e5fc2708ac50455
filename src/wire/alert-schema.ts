import { ALERT_TYPES, SEVERITIES, type Alert } from '../model/record.js';
import { detail, duration, fingerprint, fingerprintId, id, labels, name, plan, planFacts, sql } from './fields.js';
import { isoTime, object, oneOf, optional, type Check } from './schema.js';

// An alert in an `alerts` payload (docs/wire.md, "Alerts"): also a line of alerts.jsonl, an entry of the
// monitor's journal and of the consumer's outbox.

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
});
