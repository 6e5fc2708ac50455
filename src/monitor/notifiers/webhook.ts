import type { Notification, Notifier } from '../model.js';
import type { WebhookReceiver } from './config.js';
import { postJson } from './http.js';
import { webhookPayload } from './payload.js';

// A generic webhook receiving Alertmanager's payload. The notification id goes along as Idempotency-Key:
// a retried delivery whose first attempt did arrive (the answer was lost) can be recognised and dropped.

export class WebhookNotifier implements Notifier {
  readonly kind = 'webhook';

  constructor(readonly name: string, private readonly cfg: WebhookReceiver) {}

  async send(n: Notification): Promise<void> {
    await postJson(this.cfg.url, webhookPayload(n), {
      headers: { ...this.cfg.headers, 'Idempotency-Key': n.id },
      ...(this.cfg.timeoutMs !== undefined ? { timeoutMs: this.cfg.timeoutMs } : {}),
    });
  }
}
