import type { LabeledAlert, Notification } from './model.js';
import type { Matcher } from './dispatch/matchers.js';
import type { ServiceStatsTable } from './service-stats.js';

// What the monitor shows to the HTTP side (dashboard, /metrics, the silences API): a read-only view plus
// the silence operations, which go through the same durable store as `slowq silence`. Everything here
// is in-process and cheap to call; nothing returned is live (callers get copies).

/** A silence as stored. `status` is computed when read. */
export interface Silence {
  id: string;
  matchers: Matcher[];
  /** ISO times */
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
  updatedAt: string;
  status: 'pending' | 'active' | 'expired';
}

/** A new silence. Matchers as text (`db=shop`, `type=~slow.*`) or objects; `endsAt` or `durationMs` is required. */
export interface SilenceInput {
  matchers: Array<string | Matcher>;
  startsAt?: string;
  endsAt?: string;
  durationMs?: number;
  createdBy?: string;
  comment: string;
}

/** An alert the monitor considers current, with why it is (not) being notified. */
export interface ActiveAlert extends LabeledAlert {
  /** ids of the silences muting it */
  silencedBy: string[];
  /** fingerprints of the alerts inhibiting it */
  inhibitedBy: string[];
  /** receivers its route sends to */
  receivers: string[];
  /** ms since epoch the monitor accepted it */
  receivedAt: number;
}

export interface FingerprintSummary {
  fingerprintId: string;
  fingerprint: string;
  /** alerts for it in the window */
  count: number;
  maxMs: number;
  totalMs: number;
  sampleSql: string;
  /** sources it was seen on */
  sources: string[];
  /** ms since epoch of the latest alert */
  lastAt: number;
}

export interface ReceiverCounters {
  /** notifications delivered */
  sent: number;
  /** notifications given up on (4xx, or retries exhausted) */
  failed: number;
  /** delivery attempts that were retried */
  retries: number;
  /** notifications held back by the rate limit (summarised into a later one) */
  heldBack: number;
  /** notifications recorded but not yet delivered */
  pending: number;
}

export interface MonitorCounters {
  /** alert messages from consumers */
  messages: number;
  /** alerts received (including duplicates) */
  received: number;
  /** alerts accepted (new ids) */
  accepted: number;
  duplicates: number;
  /**
   * alert ids remembered to drop resent alerts, and those forgotten: older than the retention, or the oldest
   * beyond the count bound (then `dedupWindowMs` is how old the last of them was: a resend after that long is not
   * recognised)
   */
  dedupIds?: number;
  dedupForgottenForAge?: number;
  dedupForgottenForRoom?: number;
  dedupWindowMs?: number;
  /** messages dropped as malformed */
  malformed: number;
  /** those messages by message type (`unreadable`: wrong frames, or a header that could not be read) and error code */
  refused?: Record<string, Record<string, number>>;
  /** entries set aside since start (quarantine.jsonl), by where: journal, snapshot, dispatch */
  setAside?: Record<string, number>;
  /** journal writes that failed (alerts not acked) */
  commitFailures: number;
  /** stats messages received */
  statsMessages: number;
  /** alert × receiver deliveries muted by a silence, and by inhibition */
  silenced: number;
  inhibited: number;
  /** alerts currently firing, aggregation groups, silences active now */
  activeAlerts: number;
  groups: number;
  activeSilences: number;
  receivers: Record<string, ReceiverCounters>;
  /** alerts accepted since the monitor started, by type (slow_query, long_running, resolved, stalled, regression, regression_resolved) */
  alertsByType?: Record<string, number>;
  /** how the latest configuration reload went (SIGHUP, POST /-/reload) */
  config?: ConfigStatus;
}

/** The configuration in force and its reloads (Alertmanager's alertmanager_config_* metrics). */
export interface ConfigStatus {
  /** false after a reload was refused (the previous configuration stays in force) until one succeeds */
  lastReloadSuccessful: boolean;
  /** ms since epoch the configuration in force was loaded (at start, or by the last good reload) */
  lastReloadSuccessAt: number;
  /** reloads refused since the monitor started */
  reloadFailures: number;
  /** reloads applied since the monitor started */
  reloads: number;
}

export type MonitorEvent =
  | { type: 'alert'; alert: LabeledAlert }
  | { type: 'notification'; receiver: string; outcome: 'sent' | 'failed' | 'held'; notification: Notification; error?: string }
  | { type: 'silence'; action: 'add' | 'expire'; silence: Silence };

export interface MonitorView {
  /** firing alerts (a slow_query stays firing for POINT_EVENT_MS after it happened), newest first */
  activeAlerts(): ActiveAlert[];
  /** the latest resolved alerts (resolved/stalled), newest first */
  recentResolved(limit: number): LabeledAlert[];
  silences(): Silence[];
  /** Creates a silence (durable before it resolves). Throws MatcherError / SilenceError on bad input (→ HTTP 400). */
  addSilence(input: SilenceInput): Promise<Silence>;
  /** Expires a silence now; undefined when no silence has that id (→ HTTP 404). */
  expireSilence(id: string): Promise<Silence | undefined>;
  /** per fingerprint over alerts accepted in the last windowMs, slowest (maxMs) first */
  slowestFingerprints(windowMs: number, limit: number): FingerprintSummary[];
  /** the latest counters every service reported (the monitor's own included) */
  readonly stats: ServiceStatsTable;
  counters(): MonitorCounters;
  /** names of the configured receivers */
  receiverNames(): string[];
  /** Calls listener for every event until the returned function is called. Listeners must not throw or block. */
  subscribe(listener: (event: MonitorEvent) => void): () => void;
}
