import type { Alert } from '../../model/record.js';

/**
 * Where the monitor writes every accepted alert, exactly once and unrouted: alerts.jsonl, stdout. Not a
 * receiver: receivers are the configuration's notification targets (webhook, Slack, Alertmanager, file),
 * reached through routes, grouping, silences and rate limits (see notifiers/).
 */
export interface AlertOutput {
  readonly name: string;
  /** Called once at start with every accepted alert, so an output that keeps its own log can catch up. */
  open(accepted: readonly Alert[]): Promise<void>;
  /**
   * Writes alerts in order; resolves when they are durably written (or definitively given up on). Calls may
   * overlap (the intake does not wait for one before the next): an output takes its alerts at the call.
   */
  deliver(alerts: readonly Alert[]): Promise<void>;
  close(): Promise<void>;
  /** Alerts handed to deliver() and not durably written yet (e.g. the disk is full), if the output keeps any. */
  pendingAlerts?(): readonly Alert[];
}
