import type { Alert } from '../model/record.js';

// Alerts waiting for the monitor's ack. Part of the consumer's durable state: an alert enters it in the
// same durable step as the records that caused it, and leaves when the monitor has durably accepted it.

export interface OutboxMessage {
  rid: number;
  ids: string[];
  alerts: Alert[];
  sentAt: number;
}

export class Outbox {
  readonly alerts = new Map<string, Alert>();
  private inFlight: OutboxMessage | undefined;
  private nextRid = 1;

  get size(): number {
    return this.alerts.size;
  }

  add(list: Iterable<Alert>): void {
    for (const a of list) this.alerts.set(a.id, a);
  }

  remove(ids: Iterable<string>): void {
    for (const id of ids) this.alerts.delete(id);
  }

  /** The next message to send: the oldest alerts, or the in-flight one again when its ack is overdue. */
  next(now: number, maxAlerts: number, ackTimeoutMs: number): OutboxMessage | undefined {
    if (this.inFlight) {
      if (now - this.inFlight.sentAt < ackTimeoutMs) return undefined;
      // overdue: resend what is still unacked, under a new request id
      const alerts = this.inFlight.ids.map((id) => this.alerts.get(id)).filter((a): a is Alert => a !== undefined);
      this.inFlight = undefined;
      if (alerts.length > 0) return this.track(alerts, now);
    }
    if (this.alerts.size === 0) return undefined;
    const alerts: Alert[] = [];
    for (const a of this.alerts.values()) {
      alerts.push(a);
      if (alerts.length >= maxAlerts) break;
    }
    return this.track(alerts, now);
  }

  /** The monitor acked `rid`: returns the ids it covered (to remove durably), or undefined for a stale ack. */
  acked(rid: number): string[] | undefined {
    if (!this.inFlight || this.inFlight.rid !== rid) return undefined;
    const ids = this.inFlight.ids;
    this.inFlight = undefined;
    this.remove(ids);
    return ids;
  }

  /** Forget the in-flight message (e.g. the monitor connection was reset): it will be sent again. */
  reset(): void {
    this.inFlight = undefined;
  }

  private track(alerts: Alert[], now: number): OutboxMessage {
    this.inFlight = { rid: this.nextRid++, ids: alerts.map((a) => a.id), alerts, sentAt: now };
    return this.inFlight;
  }
}
