import { commonOf, type LabeledAlert, type Notification } from '../../src/monitor/model.js';

// A notification as the dispatcher makes one, for the receivers' tests: a unique id each time, common labels
// and annotations computed, resolved when every alert in it is.

let seq = 0;
export function makeNotification(alerts: LabeledAlert[], over: Partial<Notification> = {}): Notification {
  return {
    id: `team-hook/g1/${++seq}`,
    receiver: 'team-hook',
    groupKey: '{}:{alertname="LongRunningQuery"}',
    groupLabels: { alertname: alerts[0]?.labels.alertname ?? '' },
    commonLabels: commonOf(alerts.map((a) => a.labels)),
    commonAnnotations: commonOf(alerts.map((a) => a.annotations)),
    status: alerts.every((a) => a.status === 'resolved') ? 'resolved' : 'firing',
    alerts,
    ...over,
  };
}
