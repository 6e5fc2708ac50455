import type { Notifier } from '../model.js';
import { AlertmanagerNotifier, type AlertmanagerNotifierOptions } from './alertmanager.js';
import type { ReceiverConfig } from './config.js';
import { EmailNotifier } from './email.js';
import { FileNotifier } from './file.js';
import { PagerDutyNotifier } from './pagerduty.js';
import { SlackNotifier } from './slack.js';
import { WebhookNotifier } from './webhook.js';

// One notifier per configured receiver. Retries are deliverWithRetry's (retry.ts), not the notifiers'.

export { parseReceiverConfig, describeReceiver, redactUrl, receiverKind, type ReceiverConfig, type ReceiverKind } from './config.js';
export { deliverWithRetry, backoffMs, type RetryOptions, type DeliveryResult } from './retry.js';
export { webhookPayload, type WebhookPayload, type WebhookAlert } from './payload.js';
export { AlertmanagerNotifier } from './alertmanager.js';

export interface CreateNotifierOptions {
  alertmanager?: AlertmanagerNotifierOptions;
}

export function createNotifier(cfg: ReceiverConfig, opts: CreateNotifierOptions = {}): Notifier {
  if ('webhook' in cfg) return new WebhookNotifier(cfg.name, cfg.webhook);
  if ('slack' in cfg) return new SlackNotifier(cfg.name, cfg.slack);
  if ('alertmanager' in cfg) return new AlertmanagerNotifier(cfg.name, cfg.alertmanager, opts.alertmanager);
  if ('pagerduty' in cfg) return new PagerDutyNotifier(cfg.name, cfg.pagerduty);
  if ('email' in cfg) return new EmailNotifier(cfg.name, cfg.email);
  return new FileNotifier(cfg.name, cfg.file.path);
}
