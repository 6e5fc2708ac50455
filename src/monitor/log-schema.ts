import { MAX_TIME_MS } from '../model/bounds.js';
import { alert } from '../wire/alert-schema.js';
import { id as alertId } from '../wire/fields.js';
import { unpackState } from '../durable/codec.js';
import { boolean, bytes, fail, integer, isoTime, listOf, mapOf, number, object, oneOf, optional, pair, tagged, text, type Check } from '../wire/schema.js';
import type { DispatchEntry, DispatchState, FlushRecord, LastNotified } from './dispatch/dispatcher.js';
import type { LabeledAlert, Labels, Notification } from './model.js';
import type { AcceptedEntry, LogEntry } from './notification-log.js';
import type { TimeRuns } from './accepted-ids.js';

// The monitor's own durable state, checked when it is read back (notification-log.ts): the alerts it accepted
// (the wire's alert schema), the dispatcher's flush decisions and delivery outcomes, and the snapshot's parts.
// These are written by the monitor itself, so the bounds are loose: they only keep out what could not have
// been written (a group key, made of labels, can be long).

const LOOSE = 1 << 20;
const key = text({ max: LOOSE });
const receiver = text({ min: 1, max: 4096 });
/** ms since the epoch (0 in entries written before the field existed) */
const time = number(0, MAX_TIME_MS);
const labelMap: Check<Labels> = mapOf({ max: 4096, what: 'label', key: text({ min: 1, max: 4096 }), value: text({ max: LOOSE }) });
const idList = listOf(alertId, { max: LOOSE, what: 'id' });

const labeledAlert: Check<LabeledAlert> = object({
  id: alertId,
  fingerprint: key,
  status: oneOf(['firing', 'resolved']),
  labels: labelMap,
  annotations: labelMap,
  startsAt: isoTime,
  endsAt: optional(isoTime),
  alert,
});

export const notification: Check<Notification> = object({
  id: key,
  receiver,
  groupKey: key,
  groupLabels: labelMap,
  commonLabels: labelMap,
  commonAnnotations: labelMap,
  status: oneOf(['firing', 'resolved']),
  alerts: listOf(labeledAlert, { max: LOOSE, what: 'alert' }),
  externalURL: optional(text({ max: 4096 })),
  heldBack: optional(integer(0, Number.MAX_SAFE_INTEGER)),
  truncated: optional(integer(0, Number.MAX_SAFE_INTEGER)),
});

const lastNotified: Check<LastNotified> = object({ firing: idList, resolved: idList, at: time });

const flushRecord: Check<FlushRecord> = object({
  group: key,
  receiver,
  seq: integer(0, Number.MAX_SAFE_INTEGER),
  settled: listOf(pair(key, alertId), { max: LOOSE, what: 'settled alert' }),
  last: optional(lastNotified),
  notification: optional(notification),
});

const alertList = listOf(alert, { max: LOOSE, what: 'alert' });

/** A journal entry (before the dispatcher, an entry was a bare list of accepted alerts). */
export const logEntry: Check<LogEntry> = (v, path) => {
  if (Array.isArray(v)) return { k: 'a', t: 0, alerts: alertList(v, path) } satisfies AcceptedEntry;
  return entryKinds(v, path);
};
/** An acceptance journaled with the alerts' wire payload as it came: the alerts are checked as when they came. */
const acceptedPayload = object({ k: oneOf(['A']), t: time, p: bytes });
const acceptedAsSent: Check<AcceptedEntry> = (v, path) => {
  const { t, p } = acceptedPayload(v, path);
  const where = path ? `${path}: p` : 'p';
  let list: unknown;
  try {
    list = unpackState(p);
  } catch (err) {
    fail(where, `not a msgpack payload (${err instanceof Error ? err.message : String(err)})`);
  }
  return { k: 'a', t, alerts: alertList(list, where) };
};
const entryKinds: Check<LogEntry> = tagged<LogEntry>('k', {
  a: object({ k: oneOf(['a']), t: time, alerts: alertList }),
  A: acceptedAsSent,
  f: object({ k: oneOf(['f']), t: time, rec: flushRecord }) satisfies Check<DispatchEntry>,
  d: object({ k: oneOf(['d']), id: key, ok: boolean }) satisfies Check<DispatchEntry>,
});

// The snapshot's parts, each checked (and set aside) on its own by notification-log.ts.
/** The accepted ids' times in a snapshot: [ms since the epoch, how many ids in a row were accepted then]. */
export const idTimeRuns: Check<TimeRuns> = listOf(pair(time, integer(1, Number.MAX_SAFE_INTEGER)), { max: Number.MAX_SAFE_INTEGER, what: 'run' });
export const dispatchSeq: Check<DispatchState['seq']> = mapOf({ max: LOOSE, what: 'receiver', key: receiver, value: integer(0, Number.MAX_SAFE_INTEGER) });
export const storedGroup: Check<DispatchState['groups'][number]> = object({
  key,
  routeKey: key,
  receiver,
  labels: labelMap,
  alerts: listOf(object({ a: alert, o: optional(alert), r: time }), { max: LOOSE, what: 'alert' }),
  last: optional(lastNotified),
});
