import type { Labels, LabeledAlert, Notification } from '../model.js';

// Alertmanager's webhook payload (version 4): what the webhook and file receivers carry, so anything that
// consumes Alertmanager webhooks consumes slowq's.

/** Go's zero time as Alertmanager writes it: the endsAt of an alert that has not ended. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

export interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Labels;
  annotations: Labels;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

export interface WebhookPayload {
  version: '4';
  groupKey: string;
  truncatedAlerts: number;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Labels;
  commonLabels: Labels;
  commonAnnotations: Labels;
  externalURL: string;
  alerts: WebhookAlert[];
}

export function webhookPayload(n: Notification): WebhookPayload {
  return {
    version: '4',
    groupKey: n.groupKey,
    truncatedAlerts: n.truncated ?? 0,
    status: n.status,
    receiver: n.receiver,
    groupLabels: n.groupLabels,
    commonLabels: n.commonLabels,
    commonAnnotations: n.commonAnnotations,
    externalURL: n.externalURL ?? '',
    alerts: n.alerts.map((a) => webhookAlert(a, n.externalURL)),
  };
}

function webhookAlert(a: LabeledAlert, externalURL: string | undefined): WebhookAlert {
  return {
    status: a.status,
    labels: a.labels,
    annotations: a.annotations,
    startsAt: a.startsAt,
    // Like Alertmanager: an alert that is still firing shows no end, even when one is planned (a slow_query's
    // endsAt is only how long the point event stays visible); a resolved one shows when it ended.
    endsAt: a.status === 'resolved' && a.endsAt ? a.endsAt : ZERO_TIME,
    generatorURL: generatorURLOf(a, externalURL),
    fingerprint: a.fingerprint,
  };
}

/** Where a person sees the alert: the dashboard's page for it, when the dashboard's URL is known. */
export function generatorURLOf(a: LabeledAlert, externalURL: string | undefined): string {
  if (!externalURL) return '';
  return `${externalURL.replace(/\/+$/, '')}/alerts/${encodeURIComponent(a.id)}`;
}
