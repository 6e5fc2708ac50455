import { MAX_SILENCE_BODY_BYTES } from './limits.js';
import type { SilenceAddBody, SilenceExpireBody, SilenceRecord } from './protocol.js';
import { duration } from './fields.js';
import { isoTime, listOf, object, oneOf, optional, text, type Check } from './schema.js';

// Silence requests of `slowq silence` and the monitor's replies (docs/wire.md, "silence-add, silence-ls,
// silence-expire"). The monitor's silence store checks what a new silence means (matcher syntax, times in order).

const silenceId = text({ min: 1, max: 200 });
const author = text({ max: 256 });
/** text bounded only by the body it came in */
const bodyText = text({ max: MAX_SILENCE_BODY_BYTES });

export const silenceAddBody: Check<SilenceAddBody> = object({
  matchers: listOf(text({ max: 4096 }), { max: 100, what: 'matcher' }),
  startsAt: optional(isoTime),
  endsAt: optional(isoTime),
  durationMs: optional(duration),
  createdBy: optional(author),
  comment: bodyText,
});

export const silenceExpireBody: Check<SilenceExpireBody> = object({ id: silenceId });

export const silenceRecord: Check<SilenceRecord> = object({
  id: silenceId,
  // as stored: made with `slowq silence` (a body of at most 64 KiB) or the dashboard's API (the same)
  matchers: listOf(object({ name: text({ min: 1, max: MAX_SILENCE_BODY_BYTES }), op: oneOf(['=', '!=', '=~', '!~']), value: bodyText }), { max: 1000, what: 'matcher' }),
  startsAt: isoTime,
  endsAt: isoTime,
  createdBy: author,
  comment: bodyText,
  updatedAt: isoTime,
  status: oneOf(['pending', 'active', 'expired']),
});
