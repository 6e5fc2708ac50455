import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createTransport } from 'nodemailer';
import { DeliveryError, type LabeledAlert, type Notification, type Notifier } from '../model.js';
import type { EmailReceiver } from './config.js';
import { generatorURLOf } from './payload.js';
import { cut, formatDuration, KIND_TITLES, titleOf, whereOf } from './text.js';

// One plain-text e-mail per notification, submitted to a smarthost over SMTP with STARTTLS (or TLS from the
// first byte on port 465) and AUTH. The SMTP conversation is nodemailer's: a maintained client without
// dependencies of its own that gets STARTTLS, AUTH mechanisms, dot-stuffing, header encoding and line
// lengths right, which a client of our own would have to relearn.
//
// The Message-ID is derived from the notification id, so a delivery retried after its first attempt did
// arrive (the answer was lost) is the same message to mail clients and list software; References ties the
// notifications of one group (fired, then resolved) into one thread. The password (or its file) and the CA
// file are read at each send, so they can be rotated without a reload.

const DEFAULT_TIMEOUT_MS = 30_000;
/** alerts shown in full; the rest of a large group get one line each, then a count */
const DETAILED_ALERTS = 20;
const LISTED_ALERTS = 200;
const SUBJECT_CHARS = 200;

// Failures without an SMTP reply that another attempt may not meet (nodemailer's codes and the socket's).
const RETRYABLE_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

export interface EmailMessage {
  from: string;
  to: string[];
  subject: string;
  text: string;
  messageId: string;
  references: string;
}

export class EmailNotifier implements Notifier {
  readonly kind = 'email';

  constructor(readonly name: string, private readonly cfg: EmailReceiver) {}

  async send(n: Notification): Promise<void> {
    const cfg = this.cfg;
    const where = `smtp ${cfg.host}:${cfg.port}`;
    const password = await this.password(where);
    let ca: Buffer | undefined;
    if (cfg.caFile !== undefined) {
      try {
        ca = await readFile(cfg.caFile);
      } catch (err) {
        throw new DeliveryError(`${where}: cannot read tls_config.ca_file ${cfg.caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, false);
      }
    }
    const timeout = cfg.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const transport = createTransport({
      host: cfg.host,
      port: cfg.port,
      secure: cfg.port === 465,
      requireTLS: cfg.requireTls,
      ...(cfg.hello !== undefined ? { name: cfg.hello } : {}),
      ...(cfg.authUsername !== undefined && password !== undefined ? { auth: { user: cfg.authUsername, pass: password } } : {}),
      // The certificate is checked against serverName, else the smarthost's host (nodemailer's default).
      tls: { minVersion: 'TLSv1.2', ...(cfg.serverName !== undefined ? { servername: cfg.serverName } : {}), ...(ca ? { ca } : {}) },
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
      logger: false,
    });
    try {
      await transport.sendMail(emailMessage(n, cfg));
    } catch (err) {
      throw smtpError(err, where, password);
    } finally {
      transport.close();
    }
  }

  private async password(where: string): Promise<string | undefined> {
    if (this.cfg.authPasswordFile === undefined) return this.cfg.authPassword;
    try {
      // One trailing line break is the file's, not the password's (echo > file).
      return (await readFile(this.cfg.authPasswordFile, 'utf8')).replace(/\r?\n$/, '');
    } catch (err) {
      throw new DeliveryError(`${where}: cannot read auth_password_file ${this.cfg.authPasswordFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, false);
    }
  }
}

/** The message for a notification: subject is its title, body says what fired or resolved, where and how long. */
export function emailMessage(n: Notification, cfg: Pick<EmailReceiver, 'from' | 'to'>): EmailMessage {
  return {
    from: cfg.from,
    to: cfg.to,
    subject: cut(titleOf(n).replace(/[\x00-\x1f\x7f]+/g, ' '), SUBJECT_CHARS),
    text: emailBody(n),
    messageId: `<${hash(n.id)}@slowq>`,
    references: `<${hash(`${n.receiver}\0${n.groupKey}`)}@slowq>`,
  };
}

export function emailBody(n: Notification): string {
  const lines: string[] = [titleOf(n), ''];
  const firing = n.alerts.filter((a) => a.status === 'firing').length;
  const counts = `${firing} firing, ${n.alerts.length - firing} resolved`;
  lines.push(n.truncated ? `${n.alerts.length + n.truncated} alert(s); ${n.alerts.length} listed: ${counts}.` : `${n.alerts.length} alert(s): ${counts}.`, '');
  n.alerts.slice(0, DETAILED_ALERTS).forEach((a, i) => lines.push(...alertLines(a, i + 1, n.externalURL), ''));
  const listed = n.alerts.slice(DETAILED_ALERTS, LISTED_ALERTS);
  listed.forEach((a, i) => lines.push(`${DETAILED_ALERTS + i + 1}. ${a.status.toUpperCase()} ${KIND_TITLES[a.alert.type]} on ${whereOf(a)}, ${formatDuration(a.alert.durationMs)}: ${cut(oneLine(a.alert.fingerprint), 200)}`));
  if (listed.length > 0) lines.push('');
  const more = Math.max(0, n.alerts.length - LISTED_ALERTS) + (n.truncated ?? 0);
  if (more > 0) lines.push(`…and ${more} more alert(s) in this group.`, '');
  if ((n.heldBack ?? 0) > 0) lines.push(`${n.heldBack} more alert(s) were held back by the rate limit; they follow in their groups' next notifications.`, '');
  if (n.externalURL) lines.push(`Dashboard: ${n.externalURL}`, '');
  lines.push('-- ', `slowq, receiver ${n.receiver}, notification ${n.id}`);
  return lines.join('\n') + '\n';
}

function alertLines(a: LabeledAlert, i: number, externalURL: string | undefined): string[] {
  const x = a.alert;
  const out = [
    `${i}. ${a.status.toUpperCase()}: ${KIND_TITLES[x.type]} on ${whereOf(a)}`,
    `   Summary:   ${oneLine(a.annotations.summary ?? '')}`,
    `   Severity:  ${a.labels.severity ?? x.severity}`,
    `   Duration:  ${formatDuration(x.durationMs)}`,
    `   Started:   ${x.startedAt}`,
  ];
  if (a.status === 'resolved' && a.endsAt) out.push(`   Ended:     ${a.endsAt}`);
  if (x.user !== undefined) out.push(`   User:      ${oneLine(x.user)}`);
  if (x.host !== undefined) out.push(`   Client:    ${oneLine(x.host)}`);
  out.push(`   Query id:  ${oneLine(x.queryId)}`);
  out.push(`   Fingerprint ${oneLine(x.fingerprintId)}:`, ...indent(x.fingerprint));
  out.push('   SQL:', ...indent(x.sql));
  const url = generatorURLOf(a, externalURL);
  if (url) out.push(`   On the dashboard: ${url}`);
  return out;
}

function indent(text: string): string[] {
  return text.split(/\r?\n/).map((l) => `     ${l}`);
}

function oneLine(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]+/g, ' ');
}

function hash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 32);
}

/**
 * An SMTP failure as a DeliveryError: a 4xx reply or a connection that failed may pass (retryable); a 5xx
 * reply (bad credentials, a refused address), a TLS failure (no STARTTLS offered, a certificate not trusted)
 * or anything else will not. The password never appears, even if the server echoes it.
 */
export function smtpError(err: unknown, where: string, password: string | undefined): DeliveryError {
  const e = err as { code?: string; responseCode?: number; message?: string; cause?: { code?: string } };
  let msg = `${where}: ${e?.message ?? String(err)}`.replace(/\s+/g, ' ').trim();
  if (password && password.length >= 1) msg = msg.split(password).join('…');
  const status = typeof e?.responseCode === 'number' ? e.responseCode : undefined;
  if (status !== undefined) return new DeliveryError(msg, status >= 400 && status < 500, status);
  const code = e?.cause?.code ?? e?.code;
  return new DeliveryError(msg, code !== undefined && RETRYABLE_CODES.has(code) && !isTlsFailure(e));
}

function isTlsFailure(e: { message?: string; cause?: { code?: string } }): boolean {
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|altnames/i.test(`${e.cause?.code ?? ''} ${e.message ?? ''}`);
}
