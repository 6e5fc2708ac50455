import { randomUUID } from 'node:crypto';
import { toLabeled, type LabeledAlert } from '../../src/monitor/model.js';
import { ServiceStatsTable } from '../../src/monitor/service-stats.js';
import type { ActiveAlert, FingerprintSummary, MonitorCounters, MonitorEvent, MonitorView, Silence, SilenceInput } from '../../src/monitor/view.js';
import { parseMatcher, type Matcher } from '../../src/monitor/dispatch/matchers.js';
import type { Alert, AlertType, Severity } from '../../src/model/record.js';

// A MonitorView with everything in memory and set by the test, for the HTTP server's tests.

let n = 0;
export function makeAlert(over: Partial<Alert> & { type?: AlertType; severity?: Severity } = {}): Alert {
  n++;
  const at = new Date(Date.now() - 60_000).toISOString();
  return {
    id: `alert-${n}`,
    type: 'slow_query',
    source: 'db-01',
    queryId: `q-${n}`,
    fingerprint: 'select * from orders where customer_id = ?',
    fingerprintId: '0xDEADBEEF00000001',
    sql: 'SELECT * FROM orders WHERE customer_id = 42',
    durationMs: 12_500,
    startedAt: new Date(Date.parse(at) - 12_500).toISOString(),
    at,
    severity: 'warning',
    db: 'shop',
    user: 'app',
    ...over,
  };
}

export function makeActive(a: Alert, extra: Partial<ActiveAlert> = {}): ActiveAlert {
  return { ...toLabeled(a), silencedBy: [], inhibitedBy: [], receivers: ['file'], receivedAt: Date.now(), ...extra };
}

export class FakeMonitorView implements MonitorView {
  active: ActiveAlert[] = [];
  resolved: LabeledAlert[] = [];
  slowest: FingerprintSummary[] = [];
  readonly stats = new ServiceStatsTable();
  healthyNow = true;
  addCalls: SilenceInput[] = [];
  private readonly silenceList: Silence[] = [];
  private readonly listeners = new Set<(e: MonitorEvent) => void>();
  countersNow: MonitorCounters = {
    messages: 0, received: 0, accepted: 0, duplicates: 0, malformed: 0, commitFailures: 0, statsMessages: 0,
    silenced: 0, inhibited: 0, activeAlerts: 0, groups: 0, activeSilences: 0, receivers: {},
  };

  activeAlerts(): ActiveAlert[] {
    return structuredClone(this.active);
  }
  recentResolved(limit: number): LabeledAlert[] {
    return structuredClone(this.resolved.slice(0, limit));
  }
  silences(): Silence[] {
    return structuredClone(this.silenceList);
  }
  async addSilence(input: SilenceInput): Promise<Silence> {
    this.addCalls.push(structuredClone(input));
    const matchers: Matcher[] = input.matchers.map((m) => (typeof m === 'string' ? parseMatcher(m) : m));
    const now = new Date().toISOString();
    const startsAt = input.startsAt ?? now;
    const endsAt = input.endsAt ?? new Date(Date.parse(startsAt) + (input.durationMs ?? 0)).toISOString();
    const s: Silence = { id: randomUUID(), matchers, startsAt, endsAt, createdBy: input.createdBy ?? '', comment: input.comment, updatedAt: now, status: 'active' };
    this.silenceList.push(s);
    this.emit({ type: 'silence', action: 'add', silence: structuredClone(s) });
    return structuredClone(s);
  }
  async expireSilence(id: string): Promise<Silence | undefined> {
    const s = this.silenceList.find((x) => x.id === id);
    if (!s) return undefined;
    s.status = 'expired';
    s.endsAt = new Date().toISOString();
    this.emit({ type: 'silence', action: 'expire', silence: structuredClone(s) });
    return structuredClone(s);
  }
  slowestFingerprints(_windowMs: number, limit: number): FingerprintSummary[] {
    return structuredClone(this.slowest.slice(0, limit));
  }
  counters(): MonitorCounters {
    return structuredClone(this.countersNow);
  }
  receiverNames(): string[] {
    return Object.keys(this.countersNow.receivers);
  }
  subscribe(listener: (event: MonitorEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  healthy(): boolean {
    return this.healthyNow;
  }
  /** what /healthz and the dashboard's summary show: problems set by a test make it degraded */
  problemsNow: string[] = [];
  health(): { status: 'ok' | 'degraded' | 'unhealthy'; reasons: string[] } {
    if (!this.healthyNow) return { status: 'unhealthy', reasons: [] };
    return this.problemsNow.length > 0 ? { status: 'degraded', reasons: [...this.problemsNow] } : { status: 'ok', reasons: [] };
  }

  get subscribers(): number {
    return this.listeners.size;
  }
  emit(e: MonitorEvent): void {
    for (const l of this.listeners) l(e);
  }
  /** Adds an alert as firing and tells subscribers, as the monitor does when it accepts one. */
  fire(a: Alert, extra: Partial<ActiveAlert> = {}): ActiveAlert {
    const act = makeActive(a, extra);
    this.active.unshift(act);
    this.emit({ type: 'alert', alert: toLabeled(a) });
    return act;
  }
}
