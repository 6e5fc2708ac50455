import { randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../durable/atomic-file.js';
import type { Labels } from './model.js';
import { checkMatcher, matches, matchesAll, parseMatcher, type Matcher } from './dispatch/matchers.js';
import type { Clock } from './dispatch/clock.js';
import type { Silence, SilenceInput } from './view.js';

// Silences: label matchers that mute matching alerts between startsAt and endsAt. Kept in one JSON file,
// rewritten whole (temp file, fsync, rename, fsync of the directory) on every change: there are few of them
// and they change by hand. A change is durable before add()/expire() resolve. Silences that ended more than
// RETENTION_MS ago are dropped at the next write.

export class SilenceError extends Error {
  override readonly name = 'SilenceError';
}

export const RETENTION_MS = 5 * 86_400_000;
const MAX_SILENCES = 10_000;
const MAX_MATCHERS = 50;
const MAX_TEXT = 2000;

type Stored = Omit<Silence, 'status'>;

export class SilenceStore {
  private list: Stored[] = [];
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly path: string, private readonly clock: Clock, private readonly fsync = true) {}

  /** Loads the file (none yet: no silences). A damaged file is an error: silently forgetting silences would page people. */
  async open(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new Error(`${this.path}: silences file is not valid JSON (${(err as Error).message}); fix or move it away`);
    }
    const silences = (raw as { silences?: unknown } | null)?.silences;
    if (!Array.isArray(silences)) throw new Error(`${this.path}: silences file has no "silences" list`);
    this.list = silences.map((s, i) => validStored(s, `${this.path}: silences[${i}]`));
  }

  /** Every silence (expired ones until they are dropped), newest first, with its status now. */
  all(): Silence[] {
    const now = this.clock.now();
    return this.list.map((s) => withStatus(s, now)).sort((a, b) => b.startsAt.localeCompare(a.startsAt) || a.id.localeCompare(b.id));
  }

  get(id: string): Silence | undefined {
    const s = this.list.find((x) => x.id === id);
    return s && withStatus(s, this.clock.now());
  }

  activeCount(): number {
    const now = this.clock.now();
    return this.list.filter((s) => withStatus(s, now).status === 'active').length;
  }

  /** Ids of the silences active now that match these labels. */
  mutes(labels: Labels): string[] {
    const now = this.clock.now();
    const out: string[] = [];
    for (const s of this.list) {
      if (Date.parse(s.startsAt) <= now && now < Date.parse(s.endsAt) && matchesAll(s.matchers, labels)) out.push(s.id);
    }
    return out;
  }

  add(input: SilenceInput): Promise<Silence> {
    return this.serial(async () => {
      const now = this.clock.now();
      const s = this.validInput(input, now);
      if (this.list.length >= MAX_SILENCES) throw new SilenceError(`too many silences (${MAX_SILENCES}); expire some first`);
      await this.save([...this.live(now), s]);
      return withStatus(s, now);
    });
  }

  /** Ends a silence now. undefined when there is no silence with that id; an ended one is returned as it is. */
  expire(id: string): Promise<Silence | undefined> {
    return this.serial(async () => {
      const now = this.clock.now();
      const i = this.list.findIndex((x) => x.id === id);
      if (i === -1) return undefined;
      const old = this.list[i]!;
      if (Date.parse(old.endsAt) <= now) return withStatus(old, now);
      const iso = new Date(now).toISOString();
      const ended: Stored = { ...old, endsAt: iso, updatedAt: iso };
      if (Date.parse(old.startsAt) > now) ended.startsAt = iso;
      await this.save(this.list.map((x) => (x.id === id ? ended : x)));
      return withStatus(ended, now);
    });
  }

  private validInput(input: SilenceInput, now: number): Stored {
    if (input === null || typeof input !== 'object') throw new SilenceError('a silence must be an object');
    if (!Array.isArray(input.matchers) || input.matchers.length === 0) throw new SilenceError('a silence needs at least one matcher, e.g. db=shop');
    if (input.matchers.length > MAX_MATCHERS) throw new SilenceError(`a silence has at most ${MAX_MATCHERS} matchers`);
    const ms: Matcher[] = input.matchers.map((m, i) => (typeof m === 'string' ? parseMatcher(m) : checkMatcher(m, `matchers[${i}]`)));
    // Like Alertmanager: a silence whose every matcher also matches a missing label would mute everything.
    if (ms.every((m) => matches(m, {}))) throw new SilenceError('at least one matcher must not match an empty value (a silence must not mute every alert)');
    const comment = text(input.comment, 'comment', true);
    const createdBy = input.createdBy === undefined ? 'unknown' : text(input.createdBy, 'createdBy', true);
    const startsAt = input.startsAt === undefined ? now : time(input.startsAt, 'startsAt');
    let endsAt: number;
    if (input.endsAt !== undefined) {
      if (input.durationMs !== undefined) throw new SilenceError('give endsAt or durationMs, not both');
      endsAt = time(input.endsAt, 'endsAt');
    } else if (input.durationMs !== undefined) {
      if (typeof input.durationMs !== 'number' || !Number.isFinite(input.durationMs) || input.durationMs <= 0) throw new SilenceError('durationMs must be a number > 0');
      endsAt = Math.max(startsAt, now) + input.durationMs;
    } else {
      throw new SilenceError('a silence needs endsAt or a duration');
    }
    if (endsAt <= startsAt) throw new SilenceError('endsAt must be after startsAt');
    if (endsAt <= now) throw new SilenceError('endsAt is in the past');
    return {
      id: randomUUID(),
      matchers: ms,
      startsAt: new Date(startsAt).toISOString(),
      endsAt: new Date(endsAt).toISOString(),
      createdBy,
      comment,
      updatedAt: new Date(now).toISOString(),
    };
  }

  /** The list without silences that ended long ago. */
  private live(now: number): Stored[] {
    return this.list.filter((s) => now - Date.parse(s.endsAt) < RETENTION_MS);
  }

  private async save(next: Stored[]): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    await writeFileAtomic(this.path, JSON.stringify({ version: 1, silences: next }, null, 1) + '\n', this.fsync);
    this.list = next;
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.chain.then(op);
    this.chain = run.catch(() => undefined);
    return run;
  }
}

export function withStatus(s: Stored, now: number): Silence {
  const status = now < Date.parse(s.startsAt) ? 'pending' : now < Date.parse(s.endsAt) ? 'active' : 'expired';
  return { ...s, matchers: s.matchers.map((m) => ({ ...m })), status };
}

function text(v: unknown, what: string, required: boolean): string {
  if (typeof v !== 'string' || (required && v.trim() === '')) throw new SilenceError(`${what} must be a non-empty string`);
  if (v.length > MAX_TEXT) throw new SilenceError(`${what} is longer than ${MAX_TEXT} characters`);
  return v;
}

function time(v: unknown, what: string): number {
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  if (!Number.isFinite(t)) throw new SilenceError(`${what} must be an ISO time, e.g. 2026-01-01T10:00:00Z`);
  return t;
}

function validStored(v: unknown, at: string): Stored {
  const o = v as Record<string, unknown> | null;
  if (!o || typeof o !== 'object') throw new Error(`${at} is not an object`);
  for (const k of ['id', 'startsAt', 'endsAt', 'createdBy', 'comment', 'updatedAt']) {
    if (typeof o[k] !== 'string') throw new Error(`${at}.${k} must be a string`);
  }
  if (!Array.isArray(o.matchers)) throw new Error(`${at}.matchers must be a list`);
  const matchersList = o.matchers.map((m, i) => checkMatcher(m as Matcher, `${at}.matchers[${i}]`));
  return {
    id: o.id as string,
    matchers: matchersList,
    startsAt: o.startsAt as string,
    endsAt: o.endsAt as string,
    createdBy: o.createdBy as string,
    comment: o.comment as string,
    updatedAt: o.updatedAt as string,
  };
}
