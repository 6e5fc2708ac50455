import type { Alert } from '../../model/record.js';

/** Where notifications go. One interface for every kind (file, stdout; webhook, Slack, Alertmanager later). */
export interface Receiver {
  readonly name: string;
  /** Called once at start with every accepted alert, so a receiver that keeps its own log can catch up. */
  open(accepted: readonly Alert[]): Promise<void>;
  /** Delivers alerts in order; resolves when they are durably delivered (or definitively given up on). */
  deliver(alerts: readonly Alert[]): Promise<void>;
  close(): Promise<void>;
  /** Alerts handed to deliver() and not durably delivered yet (e.g. the disk is full), if the receiver keeps any. */
  pendingAlerts?(): readonly Alert[];
}
