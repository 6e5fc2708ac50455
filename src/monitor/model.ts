import { hexDigest } from '../model/hex-digest.js';
import { isoTimeOf } from '../model/iso-time.js';
import { isClassAlert, isClosing, type Alert, type PlanFacts, type RegressionFacts } from '../model/record.js';

// How the monitor sees alerts once accepted: Alertmanager's model. Labels identify and route; annotations
// describe. A long_running alert and the resolved/stalled alert that closes it share their labels (and so
// their fingerprint): to a receiver they are one problem that fires and then resolves.

export type Labels = Record<string, string>;

export interface LabeledAlert {
  /** the slowq alert id (hash of source, queryId, type) */
  id: string;
  /** identity of the problem: equal labels ⇔ equal fingerprint (Alertmanager's notion) */
  fingerprint: string;
  status: 'firing' | 'resolved';
  labels: Labels;
  annotations: Labels;
  startsAt: string;
  /** set when the problem is over (resolved, stalled) or for a point event (slow_query) */
  endsAt?: string;
  /** the accepted alert as it came from the consumer */
  alert: Alert;
}

export const ALERT_NAMES: Record<Alert['type'], string> = {
  slow_query: 'SlowQuery',
  long_running: 'LongRunningQuery',
  resolved: 'LongRunningQuery',
  stalled: 'LongRunningQuery',
  regression: 'QueryClassRegression',
  regression_resolved: 'QueryClassRegression',
};

/**
 * Labels of an alert. `resolved` and `stalled` carry the labels of the long_running alert they close (its
 * severity included), so pass that alert as `opened` when known; otherwise the closing alert's own are used.
 */
export function labelsOf(a: Alert, opened?: Alert): Labels {
  const src = opened ?? a;
  const labels: Labels = {
    alertname: ALERT_NAMES[a.type],
    source: a.source,
    queryId: a.queryId,
    fingerprintId: a.fingerprintId,
    severity: src.severity,
  };
  if (a.db !== undefined) labels.db = a.db;
  if (a.user !== undefined) labels.user = a.user;
  if (a.host !== undefined) labels.host = a.host;
  if (a.labels) for (const [k, v] of Object.entries(a.labels)) if (!(k in labels)) labels[k] = String(v);
  return labels;
}

export function annotationsOf(a: Alert): Labels {
  if (a.type === 'regression' || a.type === 'regression_resolved') return regressionAnnotations(a);
  const secs = (a.durationMs / 1000).toFixed(a.durationMs < 10_000 ? 2 : 1);
  const what = a.type === 'slow_query' ? `finished after ${secs} s`
    : a.type === 'long_running' ? `running for ${secs} s`
    : a.type === 'resolved' ? `finished after ${secs} s (was long-running)`
    : `no news for a while after ${secs} s of running (stalled)`;
  const annotations: Labels = {
    summary: `${a.source}${a.db ? `/${a.db}` : ''}: query ${what}`,
    type: a.type,
    fingerprint: a.fingerprint,
    sql: a.sql,
    durationMs: String(a.durationMs),
    startedAt: a.startedAt,
  };
  // the plan describes the execution, it does not identify the problem: an annotation, never a label
  if (a.plan !== undefined) annotations.plan = a.plan;
  if (a.planFacts !== undefined) annotations.planFacts = planFactsText(a.planFacts);
  return annotations;
}

/** Plan facts as one annotation: `fullScan=true tmpTable=false mergePasses=0`, in the order the log gave them. */
export function planFactsText(f: PlanFacts): string {
  return Object.entries(f).map(([k, v]) => `${k}=${String(v)}`).join(' ');
}

/** A class regression: what changed (the window against the baseline), the class and an example statement. */
function regressionAnnotations(a: Alert): Labels {
  const r = a.regression;
  const where = `${a.source}${a.db ? `/${a.db}` : ''}`;
  const summary = a.type === 'regression'
    ? `${where}: query class ${a.fingerprintId} slower: ${regressionText(r)}`
    : `${where}: query class ${a.fingerprintId} back to normal${r ? `: ${regressionText(r)}` : ' (no executions in the window, or no longer tracked)'}`;
  const out: Labels = { summary, type: a.type, fingerprint: a.fingerprint, sql: a.sql, durationMs: String(a.durationMs), startedAt: a.startedAt };
  if (r) {
    out.windowCount = String(r.windowCount);
    out.windowP95Ms = String(r.windowP95Ms);
    out.baselineP95Ms = String(r.baselineP95Ms);
    out.baselineCount = String(r.baselineCount);
    out.baselineWindows = String(r.baselineWindows);
  }
  return out;
}

/** e.g. `p95 1.23 s over the last 10 min (143 executions), baseline p95 118 ms (6 windows, 2400 executions), ×10.4` */
export function regressionText(r: RegressionFacts | undefined): string {
  if (!r) return '';
  const ratio = r.baselineP95Ms > 0 ? `, ×${(r.windowP95Ms / r.baselineP95Ms).toFixed(1)}` : '';
  return `p95 ${msText(r.windowP95Ms)} over the last ${Math.round(r.windowMs / 60_000)} min (${r.windowCount} executions), ` +
    `baseline p95 ${msText(r.baselineP95Ms)} (${r.baselineWindows} windows, ${r.baselineCount} executions)${ratio}`;
}

function msText(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s` : `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
}

/** Alertmanager-style fingerprint of a label set: stable, order-independent. */
export function labelsFingerprint(labels: Labels): string {
  // the whole text hashed at once: the same digest as an update per part (hex-digest.ts)
  let text = '';
  for (const k of sortedInPlace(Object.keys(labels))) text += k + '\0' + labels[k]! + '\0';
  return hexDigest('sha256', text).slice(0, 16);
}

/**
 * A handful of names in code-unit order, as Array.prototype.sort orders strings: an insertion sort, about a
 * fifth of sort()'s cost on the ~8 labels of an alert (it runs for every alert).
 */
function sortedInPlace(keys: string[]): string[] {
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i]!;
    let j = i - 1;
    for (; j >= 0 && keys[j]! > k; j--) keys[j + 1] = keys[j]!;
    keys[j + 1] = k;
  }
  return keys;
}

/** How long a point event (slow_query) stays "firing" for receivers that model time ranges. */
export const POINT_EVENT_MS = 5 * 60_000;

/**
 * The labels matchers see: the alert's labels plus `type` (slow_query; long_running for a query that ran long and
 * its end; regression for a query class that got slower and its end).
 */
export function matchLabels(l: LabeledAlert): Labels {
  const t = l.alert.type;
  // Object.assign, not a spread: a spread copy that then gets one more key costs V8 ~5× as much (a label
  // named __proto__ cannot get here: the wire's schema refuses it)
  const m: Labels = Object.assign({}, l.labels);
  m.type = t === 'slow_query' ? 'slow_query' : isClassAlert(t) ? 'regression' : 'long_running';
  return m;
}

export function toLabeled(a: Alert, opened?: Alert): LabeledAlert {
  const labels = labelsOf(a, opened);
  const closing = isClosing(a.type);
  const l: LabeledAlert = {
    id: a.id,
    fingerprint: labelsFingerprint(labels),
    status: closing ? 'resolved' : 'firing',
    labels,
    annotations: annotationsOf(a),
    startsAt: a.startedAt,
    alert: a,
  };
  if (closing) l.endsAt = a.at;
  else if (a.type === 'slow_query') l.endsAt = pointEventEnd(a.at);
  return l;
}

/**
 * Until when an accepted firing alert counts as firing: a point event (slow_query) for POINT_EVENT_MS after it
 * was received, anything else until its end arrives (Infinity).
 */
export function firingUntil(a: Alert, receivedAt: number): number {
  return a.type === 'slow_query' ? receivedAt + POINT_EVENT_MS : Infinity;
}

/** `at` + POINT_EVENT_MS as toISOString writes it (by arithmetic: a Date and its string were the most of toLabeled). */
export function pointEventEnd(at: string): string {
  return isoTimeOf(Date.parse(at) + POINT_EVENT_MS);
}

/** One message to one receiver: a group of alerts (Alertmanager's notification). */
export interface Notification {
  /** unique and stable: the notification log's key (receiver + group + sequence in the group) */
  id: string;
  receiver: string;
  groupKey: string;
  groupLabels: Labels;
  commonLabels: Labels;
  commonAnnotations: Labels;
  /** resolved when every alert in it is resolved */
  status: 'firing' | 'resolved';
  alerts: LabeledAlert[];
  /** e.g. the dashboard URL, for links in messages */
  externalURL?: string;
  /** alerts held back by a rate limit since the previous notification to this receiver, summarised here */
  heldBack?: number;
  /** alerts of the group this notification is about but does not list (its route's max_alerts) */
  truncated?: number;
}

/** Why a delivery failed: retryable (5xx, network) or not (4xx, bad config). */
export class DeliveryError extends Error {
  constructor(message: string, readonly retryable: boolean, readonly status?: number) {
    super(message);
  }
}

/** A notification sink. Implementations throw DeliveryError; retries and backoff are the dispatcher's. */
export interface Notifier {
  readonly name: string;
  readonly kind: string;
  send(n: Notification): Promise<void>;
  close?(): Promise<void>;
}

export function commonOf(maps: Labels[]): Labels {
  if (maps.length === 0) return {};
  const out: Labels = { ...maps[0] };
  for (const m of maps.slice(1)) for (const k of Object.keys(out)) if (m[k] !== out[k]) delete out[k];
  return out;
}
