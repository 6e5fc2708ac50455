import type { Labels, LabeledAlert, Notification, Notifier } from '../model.js';
import type { AlertmanagerReceiver } from './config.js';
import { postJson } from './http.js';
import { generatorURLOf } from './payload.js';

// Hands alerts to an existing Prometheus Alertmanager (POST /api/v2/alerts), which then does its own
// routing, grouping and silencing. Alertmanager's contract is Prometheus's: an alert without endsAt stays
// active only while it is re-sent (it resolves itself resolve_timeout after the last send, 5 min by default).
// So firing long_running alerts are kept here by fingerprint and re-sent every resendMs until their
// resolved/stalled alert comes, which is sent once with its endsAt and then forgotten. slow_query alerts are
// point events that carry their own endsAt: sent once.

export const DEFAULT_RESEND_MS = 60_000;

/** Alertmanager's postable alert. */
export interface PostableAlert {
  labels: Labels;
  annotations: Labels;
  startsAt: string;
  endsAt?: string;
  generatorURL?: string;
}

export interface AlertmanagerNotifierOptions {
  /** a failed periodic re-send (the next one tries again); never carries the URL's secrets */
  onResendError?: (err: Error) => void;
}

export class AlertmanagerNotifier implements Notifier {
  readonly kind = 'alertmanager';
  private readonly endpoint: string;
  private readonly resendMs: number;
  /** firing alerts without an end, by fingerprint: what the timer re-sends */
  private readonly firing = new Map<string, PostableAlert>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** posts go one at a time, so a re-send never overtakes the resolve of the same alert */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(readonly name: string, cfg: AlertmanagerReceiver, private readonly opts: AlertmanagerNotifierOptions = {}) {
    this.endpoint = `${cfg.url.replace(/\/+$/, '')}/api/v2/alerts`;
    this.resendMs = cfg.resendMs ?? DEFAULT_RESEND_MS;
  }

  /** Starts the re-send timer (also started by the first firing alert). Idempotent. */
  start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => void this.resend(), this.resendMs);
    this.timer.unref(); // the monitor's servers keep the process alive, not this timer
  }

  async send(n: Notification): Promise<void> {
    await this.serial(async () => {
      const batch = n.alerts.map((a) => toPostable(a, n.externalURL));
      // A resolve ends the re-sending at once, even if this post fails and is retried.
      for (const a of n.alerts) if (a.status === 'resolved') this.firing.delete(a.fingerprint);
      await postJson(this.endpoint, batch);
      n.alerts.forEach((a, i) => {
        if (a.status === 'firing' && a.endsAt === undefined) this.firing.set(a.fingerprint, batch[i]!);
      });
    });
    if (this.firing.size > 0) this.start();
  }

  /**
   * Alerts known to be still firing when the monitor starts (e.g. open long_running alerts from its state):
   * re-sent from now on, as if they had just been sent.
   */
  restoreFiring(alerts: readonly LabeledAlert[], externalURL?: string): void {
    for (const a of alerts) if (a.status === 'firing' && a.endsAt === undefined) this.firing.set(a.fingerprint, toPostable(a, externalURL));
    if (this.firing.size > 0) this.start();
  }

  /** Fingerprints being re-sent (for the dashboard and tests). */
  firingFingerprints(): string[] {
    return [...this.firing.keys()];
  }

  /** Re-sends every firing alert now; the timer calls this every resendMs. */
  async resend(): Promise<void> {
    await this.serial(async () => {
      if (this.firing.size === 0 || this.closed) return;
      try {
        await postJson(this.endpoint, [...this.firing.values()]);
      } catch (err) {
        this.opts.onResendError?.(err as Error);
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.chain.catch(() => {});
  }

  private serial<T>(job: () => Promise<T>): Promise<T> {
    const run = this.chain.then(job, job);
    this.chain = run.catch(() => {});
    return run;
  }
}

export function toPostable(a: LabeledAlert, externalURL: string | undefined): PostableAlert {
  const p: PostableAlert = { labels: validNames(a.labels), annotations: validNames(a.annotations), startsAt: a.startsAt };
  if (a.endsAt !== undefined) p.endsAt = a.endsAt;
  const url = generatorURLOf(a, externalURL);
  if (url) p.generatorURL = url;
  return p;
}

/**
 * Alertmanager (before its UTF-8 mode) takes only Prometheus label names, [a-zA-Z_][a-zA-Z0-9_]*, for labels
 * and annotations alike, and rejects the whole post otherwise. slowq's own names are valid; extra labels from
 * a log format (e.g. `app.name`) get their other characters replaced by `_`. An empty value means "no label".
 */
export function validNames(m: Labels): Labels {
  const out: Labels = {};
  for (const [k, v] of Object.entries(m)) {
    if (v === '') continue;
    let name = k.replace(/[^a-zA-Z0-9_]/g, '_');
    if (!/^[a-zA-Z_]/.test(name)) name = '_' + name;
    if (!(name in out)) out[name] = v;
  }
  return out;
}
