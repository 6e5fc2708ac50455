import { checkMatcher, MatcherError, matchesAll, parseMatcher, type Matcher } from '../dispatch/matchers.js';
import type { SilenceInput } from '../view.js';
import { BadRequest } from './body.js';

// The body of POST /api/silences, checked field by field so a mistake comes back as a 400 that says which
// field and why, before anything reaches the silence store.

const MAX_MATCHERS = 50;
const MAX_DURATION_MS = 366 * 24 * 3600_000;
const FIELDS = new Set(['matchers', 'durationMs', 'startsAt', 'endsAt', 'createdBy', 'comment']);

export function parseSilenceBody(body: Record<string, unknown>, now = Date.now()): SilenceInput {
  for (const k of Object.keys(body)) if (!FIELDS.has(k)) throw new BadRequest(`unknown field "${k}" (expected ${[...FIELDS].join(', ')})`);

  const raw = body.matchers;
  if (!Array.isArray(raw) || raw.length === 0) throw new BadRequest('matchers: a non-empty list is required, e.g. ["db=shop"]');
  if (raw.length > MAX_MATCHERS) throw new BadRequest(`matchers: at most ${MAX_MATCHERS}`);
  const matchers: Matcher[] = raw.map((m, i) => {
    try {
      if (typeof m === 'string') return parseMatcher(m);
      if (m !== null && typeof m === 'object' && !Array.isArray(m)) return checkMatcher(m as Matcher, `matchers[${i}]`);
    } catch (err) {
      if (err instanceof MatcherError) throw new BadRequest(`matchers[${i}]: ${err.message}`);
      throw err;
    }
    throw new BadRequest(`matchers[${i}]: expected a string like "db=shop" or {name, op, value}`);
  });
  // As in Alertmanager: a silence that would also match an alert with no labels at all silences everything.
  if (matchesAll(matchers, {})) throw new BadRequest('matchers: every matcher also matches an empty label; this would silence every alert');

  let startsAt = now;
  if (body.startsAt !== undefined) startsAt = isoTime(body.startsAt, 'startsAt');

  if ((body.durationMs === undefined) === (body.endsAt === undefined)) throw new BadRequest('give exactly one of durationMs and endsAt');
  let endsAt: number;
  if (body.durationMs !== undefined) {
    const d = body.durationMs;
    if (typeof d !== 'number' || !Number.isFinite(d) || d <= 0) throw new BadRequest('durationMs: must be a positive number of milliseconds');
    if (d > MAX_DURATION_MS) throw new BadRequest('durationMs: at most 366 days');
    endsAt = startsAt + d;
  } else {
    endsAt = isoTime(body.endsAt, 'endsAt');
    if (endsAt <= now) throw new BadRequest('endsAt: must be in the future');
    if (endsAt - startsAt > MAX_DURATION_MS) throw new BadRequest('endsAt: at most 366 days after the start');
  }
  if (endsAt <= startsAt) throw new BadRequest('endsAt: must be after startsAt');

  const comment = body.comment;
  if (typeof comment !== 'string' || comment.trim() === '') throw new BadRequest('comment: required (why is this silenced?)');
  if (comment.length > 2000) throw new BadRequest('comment: at most 2000 characters');
  let createdBy = 'http';
  if (body.createdBy !== undefined) {
    if (typeof body.createdBy !== 'string' || body.createdBy.trim() === '') throw new BadRequest('createdBy: must be a non-empty string');
    if (body.createdBy.length > 200) throw new BadRequest('createdBy: at most 200 characters');
    createdBy = body.createdBy.trim();
  }

  return {
    matchers,
    startsAt: new Date(startsAt).toISOString(),
    endsAt: new Date(endsAt).toISOString(),
    createdBy,
    comment: comment.trim(),
  };
}

function isoTime(v: unknown, field: string): number {
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  if (!Number.isFinite(t)) throw new BadRequest(`${field}: expected an ISO 8601 time such as 2026-11-22T06:00:00Z`);
  return t;
}
