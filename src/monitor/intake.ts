import type { Alert } from '../model/record.js';
import { AcceptedIds, type AcceptedIdsOptions, type TimeRuns } from './accepted-ids.js';
import type { WarnOnce } from '../service/warn-once.js';
import type { Clock } from './dispatch/clock.js';
import type { AcceptedEntry, NotificationLog } from './notification-log.js';
import type { AlertOutput } from './outputs/output.js';

// Alert intake: the alerts consumers send, deduplicated by alert id durably. New alerts are journaled before
// the ack (so a restart does not forget them), then written to the outputs (alerts.jsonl, stdout) once per
// journal batch (overlapping the next journal write), and handed on to routing. A message of duplicates is
// acked too, after the writes before it.

export interface AlertIntakeOptions {
  journal: NotificationLog;
  outputs: readonly AlertOutput[];
  clock: Clock;
  /** accepted alerts (live, or replayed from the journal) go on to routing and notification */
  dispatch(alerts: Alert[], receivedAt: number): void;
  warned: WarnOnce;
  /** how long, and how many, accepted ids are remembered for dedup */
  dedup?: AcceptedIdsOptions;
}

export interface IntakeCounters {
  /** alert messages from consumers */
  messages: number;
  /** alerts received (including duplicates) */
  received: number;
  /** alerts accepted (new ids) */
  accepted: number;
  duplicates: number;
  /** journal writes that failed (alerts not acked) */
  commitFailures: number;
  /** output writes that failed */
  deliveryFailures: number;
}

export class AlertIntake {
  readonly counters: IntakeCounters = { messages: 0, received: 0, accepted: 0, duplicates: 0, commitFailures: 0, deliveryFailures: 0 };
  /** alerts accepted since the monitor started, by type */
  readonly alertsByType: Record<string, number> = {};
  /** the accepted ids dedup remembers; `unsettled` are those whose journal write has not completed yet */
  readonly accepted: AcceptedIds;
  private readonly unsettled = new Set<string>();
  /** accepted alerts (durable) still to be written to the outputs */
  private toOutputs: Alert[] = [];
  /** output deliveries in flight (writeOutputs) */
  private readonly delivering = new Set<Promise<void>>();
  /** at start: what the outputs may have missed (from the snapshot and the journal); they skip what they have */
  private catchUp: Alert[] = [];

  constructor(private readonly opts: AlertIntakeOptions) {
    this.accepted = new AcceptedIds(opts.dedup);
  }

  /**
   * From the snapshot: the ids accepted before it with their times (none in a snapshot older than the times:
   * then they count as accepted now), and the alerts the outputs had not written yet.
   */
  restore(ids: readonly string[], unwritten: readonly Alert[] = [], times?: TimeRuns): void {
    this.accepted.restore(ids, times, this.opts.clock.now());
    this.catchUp.push(...unwritten);
  }

  /** A journaled acceptance, replayed at start: remembered for dedup, offered to the outputs, routed again. */
  replay(e: AcceptedEntry): void {
    const t = e.t || this.opts.clock.now();
    for (const a of e.alerts) {
      this.accepted.add(a.id, t);
      this.catchUp.push(a);
    }
    this.opts.dispatch(e.alerts, t);
  }

  /** Opens the outputs with what they may have missed since the last snapshot (one is taken only after they write). */
  async openOutputs(): Promise<void> {
    for (const o of this.opts.outputs) await o.open(this.catchUp);
    this.catchUp = [];
  }

  async closeOutputs(): Promise<void> {
    await Promise.all(this.delivering);
    for (const o of this.opts.outputs) await o.close();
  }

  get outputNames(): string[] {
    return this.opts.outputs.map((o) => o.name);
  }

  /**
   * Accepts a message's alerts; `ack(accepted, duplicates)` runs once they are durable. Not durable: no ack, the
   * consumer resends. `payload`: the message's payload the alerts were decoded from, journaled as it is when
   * every alert in it is new.
   */
  accept(alerts: readonly Alert[], ack: (accepted: number, duplicates: number) => void, payload?: Buffer): void {
    const c = this.counters;
    c.messages++;
    c.received += alerts.length;
    const fresh: Alert[] = [];
    const t = this.opts.clock.now();
    const room = this.accepted.forgottenForRoom;
    this.accepted.expire(t);
    if (this.accepted.forgottenForRoom > room) {
      this.opts.warned.warn('dedup-room', { maxIds: this.accepted.maxIds, windowMs: this.accepted.lastRoomWindowMs },
        'alert ids forgotten before their retention to stay within the count bound: an alert resent after windowMs is not recognised as a duplicate (further ones are counted)');
    }
    for (const a of alerts) {
      if (this.accepted.has(a.id)) {
        c.duplicates++;
        continue;
      }
      this.accepted.add(a.id, t);
      this.unsettled.add(a.id);
      fresh.push(a);
    }
    // Even a message of duplicates is acked only after the writes before it: its alerts may be in one of them.
    // Every alert new: the journal keeps the payload as it came rather than encoding the alerts again.
    const entry: AcceptedEntry | undefined = fresh.length === 0 ? undefined
      : payload && fresh.length === alerts.length ? { k: 'a', t, alerts: fresh, payload } : { k: 'a', t, alerts: fresh };
    this.opts.journal.write(entry, () => {
      for (const a of fresh) {
        this.unsettled.delete(a.id);
        this.alertsByType[a.type] = (this.alertsByType[a.type] ?? 0) + 1;
      }
      c.accepted += fresh.length;
      ack(fresh.length, alerts.length - fresh.length);
      if (fresh.length === 0) return;
      this.toOutputs.push(...fresh); // written by writeOutputs once the whole batch is applied
      this.opts.dispatch(fresh, t);
    }).catch((err: unknown) => {
      // Not durable: forget these ids and don't ack; the consumer resends after its ack timeout.
      c.commitFailures++;
      for (const a of fresh) {
        this.accepted.delete(a.id);
        this.unsettled.delete(a.id);
      }
      this.opts.warned.warn(`commit:${(err as NodeJS.ErrnoException).code}`, { err: (err as Error).message }, 'could not record accepted alerts; not acking until writes succeed');
    });
  }

  /**
   * Hands what the last journal batch accepted to the outputs: one write (and fsync) per batch and output, in
   * order. Not waited for: the journal's next write goes on while the file's is in flight (one fsync instead of
   * two in series before the next batch is durable). An alert handed over and not yet written is in its output's
   * pendingAlerts(), so a snapshot taken meanwhile still holds it (unwritten()).
   */
  writeOutputs(): void {
    if (this.toOutputs.length === 0) return;
    const alerts = this.toOutputs;
    this.toOutputs = [];
    for (const o of this.opts.outputs) {
      const delivery = o.deliver(alerts).catch((err: unknown) => {
        this.counters.deliveryFailures++;
        this.opts.warned.warn(`deliver:${o.name}`, { output: o.name, err: (err as Error).message }, 'output delivery failed');
      }).finally(() => this.delivering.delete(delivery));
      this.delivering.add(delivery);
    }
  }

  /** For a snapshot: the ids whose acceptance is durable, and their times. */
  settledIds(): { ids: string[]; times: TimeRuns } {
    return this.accepted.snapshot((id) => !this.unsettled.has(id));
  }

  /**
   * For a snapshot: alerts accepted but not yet in the outputs (waiting for the batch's write, or for disk space).
   * They go into the snapshot whole: their journal entries are about to be compacted away.
   */
  unwritten(): Alert[] {
    const alerts = [...this.toOutputs];
    for (const o of this.opts.outputs) alerts.push(...(o.pendingAlerts?.() ?? []));
    return alerts;
  }
}
