import type { LabeledAlert, Notification, Notifier } from '../model.js';
import type { PagerDutyReceiver } from './config.js';
import { postJson } from './http.js';
import { generatorURLOf } from './payload.js';
import { cut, KIND_TITLES, whereOf } from './text.js';

// PagerDuty's Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/). One event per
// alert of a notification, keyed by the problem: the dedup_key is the alert's fingerprint, which a
// long_running alert and the resolved/stalled alert that ends it share, so the end resolves the very incident
// the start opened, whatever group or route (or reload) carried either. A firing alert is a `trigger` (sent
// again at repeat_interval, which PagerDuty folds into the open incident), a resolved one a `resolve`.
// slow_query alerts are point events with no end of their own: their incidents are resolved in PagerDuty
// (by a person or the service's auto-resolve), not by slowq.
//
// The events of a notification go one after another; when one fails, the retry of the notification skips
// the ones PagerDuty already accepted (a trigger sent twice would only add a log entry to the incident, but a
// resolve must not be overtaken by a late trigger).

/** PagerDuty's limit on payload.summary. */
export const SUMMARY_CHARS = 1024;
/** PagerDuty's limit on dedup_key. */
const DEDUP_KEY_CHARS = 255;
/** notifications whose retry may still come, remembered with the events PagerDuty accepted */
const REMEMBERED_NOTIFICATIONS = 1000;

export const PAGERDUTY_SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;
export type PagerDutySeverity = (typeof PAGERDUTY_SEVERITIES)[number];

export interface PagerDutyPayload {
  summary: string;
  source: string;
  severity: PagerDutySeverity;
  timestamp: string;
  component?: string;
  group?: string;
  class?: string;
  custom_details: Record<string, string>;
}

export interface PagerDutyEvent {
  routing_key: string;
  event_action: 'trigger' | 'resolve';
  dedup_key: string;
  payload?: PagerDutyPayload;
  client?: string;
  client_url?: string;
  links?: Array<{ href: string; text: string }>;
}

export class PagerDutyNotifier implements Notifier {
  readonly kind = 'pagerduty';
  /** notification id → dedup keys PagerDuty accepted for it (only while a retry may follow) */
  private readonly accepted = new Map<string, Set<string>>();

  constructor(readonly name: string, private readonly cfg: PagerDutyReceiver) {}

  async send(n: Notification): Promise<void> {
    const done = this.accepted.get(n.id) ?? new Set<string>();
    for (const a of n.alerts) {
      const event = pagerDutyEvent(a, n, this.cfg.routingKey);
      if (done.has(event.dedup_key)) continue;
      try {
        await postJson(this.cfg.url, event, this.cfg.timeoutMs !== undefined ? { timeoutMs: this.cfg.timeoutMs } : {});
      } catch (err) {
        if (done.size > 0) this.remember(n.id, done);
        throw err;
      }
      done.add(event.dedup_key);
    }
    this.accepted.delete(n.id);
  }

  private remember(id: string, done: Set<string>): void {
    this.accepted.delete(id);
    this.accepted.set(id, done);
    // A notification given up for good is never retried: its entry ages out.
    while (this.accepted.size > REMEMBERED_NOTIFICATIONS) this.accepted.delete(this.accepted.keys().next().value!);
  }
}

/** The event for one alert of a notification. */
export function pagerDutyEvent(a: LabeledAlert, n: Notification, routingKey: string): PagerDutyEvent {
  const dedupKey = cut(`slowq/${a.fingerprint}`, DEDUP_KEY_CHARS);
  if (a.status === 'resolved') return { routing_key: routingKey, event_action: 'resolve', dedup_key: dedupKey };
  const x = a.alert;
  const payload: PagerDutyPayload = {
    summary: cut(`${KIND_TITLES[x.type]} on ${whereOf(a)}: ${a.annotations.summary ?? ''} — ${x.fingerprint}`.replace(/\s+/g, ' '), SUMMARY_CHARS),
    source: x.source,
    severity: severityOf(a),
    timestamp: x.at,
    group: x.fingerprintId,
    class: x.type,
    custom_details: { ...a.labels, ...a.annotations, status: a.status, ...(n.heldBack ? { heldBackAlerts: String(n.heldBack) } : {}),
      ...(n.truncated ? { truncatedAlerts: String(n.truncated) } : {}) },
  };
  if (x.db !== undefined) payload.component = x.db;
  const event: PagerDutyEvent = { routing_key: routingKey, event_action: 'trigger', dedup_key: dedupKey, payload, client: 'slowq' };
  const url = generatorURLOf(a, n.externalURL);
  if (url) {
    event.client_url = url;
    event.links = [{ href: url, text: 'This alert on the slowq dashboard' }];
  }
  return event;
}

/** slowq's severities are PagerDuty's (less `error`); a severity label set to something else counts as error. */
function severityOf(a: LabeledAlert): PagerDutySeverity {
  const s = a.labels.severity ?? a.alert.severity;
  return (PAGERDUTY_SEVERITIES as readonly string[]).includes(s) ? (s as PagerDutySeverity) : 'error';
}
