import type { LabeledAlert, Notification } from '../model.js';

// Words that several receivers put in front of people (Slack, e-mail, PagerDuty): a notification's title, an
// alert's kind and place, a duration, a bounded string.

export const KIND_TITLES: Record<LabeledAlert['alert']['type'], string> = {
  slow_query: 'Slow query',
  long_running: 'Long-running query',
  resolved: 'Long-running query finished',
  stalled: 'Long-running query stalled',
  regression: 'Query class slower',
  regression_resolved: 'Query class back to normal',
};

/** e.g. `[FIRING] Long-running query · db-01/shop · critical` (`[FIRING:3]` for a group of three). */
export function titleOf(n: Notification): string {
  const status = n.status === 'firing' ? 'FIRING' : 'RESOLVED';
  const total = n.alerts.length + (n.truncated ?? 0); // every alert of the group, listed or only counted
  const count = total > 1 ? `:${total}` : '';
  const a = n.alerts[0];
  if (!a) return `[${status}] slowq`;
  const where = whereOf(a);
  return `[${status}${count}] ${KIND_TITLES[a.alert.type]} · ${where} · ${a.labels.severity ?? a.alert.severity}`;
}

export function whereOf(a: LabeledAlert): string {
  return `${a.alert.source}${a.alert.db ? `/${a.alert.db}` : ''}`;
}

export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h} h ${m} min ${sec} s` : `${m} min ${sec} s`;
}

/** `s` in at most `max` characters, the cut marked with an ellipsis. */
export function cut(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - 1) + '…';
}
