import { isClassAlert } from '../../model/record.js';
import { regressionText, type LabeledAlert, type Notification, type Notifier } from '../model.js';
import type { SlackReceiver } from './config.js';
import { postJson } from './http.js';
import { cut, formatDuration, KIND_TITLES, titleOf } from './text.js';

// A Slack incoming-webhook message per notification: Block Kit blocks for people, and a plain `text` that
// Slack shows in notifications and where blocks cannot be shown. Within Slack's limits (a section's text at
// most 3000 characters, a header's 150, 50 blocks a message): long SQL is cut, and only the first alerts of a
// large group are detailed.

const HEADER_CHARS = 150;
const SQL_CHARS = 2500;
const PLAN_CHARS = 2500;
const FINGERPRINT_CHARS = 1000;
const TEXT_SQL_CHARS = 300;
/** alerts shown in full; the rest of a group are counted */
const DETAILED_ALERTS = 5;

export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
  channel?: string;
  username?: string;
}

export type SlackText = { type: 'plain_text' | 'mrkdwn'; text: string };
export type SlackBlock =
  | { type: 'header'; text: SlackText }
  | { type: 'section'; text: SlackText }
  | { type: 'context'; elements: SlackText[] }
  | { type: 'divider' };

export class SlackNotifier implements Notifier {
  readonly kind = 'slack';

  constructor(readonly name: string, private readonly cfg: SlackReceiver) {}

  async send(n: Notification): Promise<void> {
    await postJson(this.cfg.url, slackMessage(n, this.cfg));
  }
}

export function slackMessage(n: Notification, opts: { channel?: string; username?: string } = {}): SlackMessage {
  const title = titleOf(n);
  const blocks: SlackBlock[] = [{ type: 'header', text: { type: 'plain_text', text: cut(title, HEADER_CHARS) } }];
  const shown = n.alerts.slice(0, DETAILED_ALERTS);
  shown.forEach((a, i) => {
    if (i > 0) blocks.push({ type: 'divider' });
    blocks.push(...alertBlocks(a, n.alerts.length > 1));
  });
  const notes: string[] = [];
  const more = n.alerts.length - shown.length + (n.truncated ?? 0);
  if (more > 0) notes.push(`…and ${more} more alert(s) in this group`);
  if ((n.heldBack ?? 0) > 0) notes.push(`${n.heldBack} more alert(s) were held back by the rate limit`);
  if (n.externalURL) notes.push(`<${escapeMrkdwn(n.externalURL)}|Open the slowq dashboard>`);
  if (notes.length) blocks.push({ type: 'context', elements: notes.map((text) => ({ type: 'mrkdwn', text })) });

  const first = n.alerts[0];
  const textLines = [title];
  if (first) {
    textLines.push(`fingerprint ${first.alert.fingerprintId}: ${cut(first.alert.fingerprint, TEXT_SQL_CHARS)}`);
    textLines.push(`SQL: ${cut(first.alert.sql, TEXT_SQL_CHARS)}`);
  }
  if ((n.heldBack ?? 0) > 0) textLines.push(`${n.heldBack} more alert(s) held back by the rate limit`);
  const msg: SlackMessage = { text: escapeMrkdwn(textLines.join('\n')), blocks };
  if (opts.channel) msg.channel = opts.channel;
  if (opts.username) msg.username = opts.username;
  return msg;
}

function alertBlocks(a: LabeledAlert, inGroup: boolean): SlackBlock[] {
  const x = a.alert;
  const facts = [
    inGroup ? `*${KIND_TITLES[x.type]}* (${a.status})` : undefined,
    // a class regression: what changed, not one execution's duration
    x.regression ? `*Changed:* ${escapeMrkdwn(regressionText(x.regression))}` : isClassAlert(x.type) ? undefined : `*Duration:* ${formatDuration(x.durationMs)}`,
    `*Source:* ${escapeMrkdwn(x.source)}`,
    x.db !== undefined ? `*DB:* ${escapeMrkdwn(x.db)}` : undefined,
    x.user !== undefined ? `*User:* ${escapeMrkdwn(x.user)}` : undefined,
    x.host !== undefined ? `*Host:* ${escapeMrkdwn(x.host)}` : undefined,
    `*Severity:* ${escapeMrkdwn(a.labels.severity ?? x.severity)}`,
    `*Started:* ${escapeMrkdwn(x.startedAt)}`,
  ].filter((s): s is string => s !== undefined);
  return [
    { type: 'section', text: { type: 'mrkdwn', text: facts.join('  ·  ') } },
    {
      type: 'section',
      text: { type: 'mrkdwn', text: `*Fingerprint* \`${escapeMrkdwn(x.fingerprintId)}\`\n${codeBlock(x.fingerprint, FINGERPRINT_CHARS)}` },
    },
    { type: 'section', text: { type: 'mrkdwn', text: `*${isClassAlert(x.type) ? 'Example statement' : 'SQL'}*\n${codeBlock(x.sql, SQL_CHARS)}` } },
    ...planBlocks(a),
  ];
}

/** The plan of the execution, when the alert has one, with its facts (the same text as the `planFacts` annotation). */
function planBlocks(a: LabeledAlert): SlackBlock[] {
  const x = a.alert;
  if (x.plan === undefined && x.planFacts === undefined) return [];
  const facts = a.annotations.planFacts ? ` ${escapeMrkdwn(a.annotations.planFacts)}` : '';
  const plan = x.plan !== undefined ? `\n${codeBlock(x.plan, PLAN_CHARS)}` : '';
  return [{ type: 'section', text: { type: 'mrkdwn', text: `*Plan*${facts}${plan}` } }];
}

/**
 * A mrkdwn code block of at most about `max` characters. Slack has no escape for a backtick: a run of them
 * inside the SQL would close the block, so a zero-width space is put between backticks that touch (single
 * backticks, e.g. MySQL's quoted names, stay as they are). The text is bounded before escaping, and the cut is
 * said.
 */
export function codeBlock(text: string, max: number): string {
  let body = '';
  let used = 0;
  let i = 0;
  for (; i < text.length; i++) {
    const piece = escapeMrkdwn(text[i]!) + (text[i] === '`' && text[i + 1] === '`' ? '\u200b' : '');
    if (used + piece.length > max) break;
    body += piece;
    used += piece.length;
  }
  if (i < text.length) body += `\n/* … ${text.length - i} more characters */`;
  return '```\n' + body + '\n```';
}

/** Slack's three control characters in mrkdwn (and plain text sent as mrkdwn). */
export function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
