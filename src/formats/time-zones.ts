import { ABBREVIATIONS, type AbbreviationMeaning } from './time-zone-abbreviations.js';

// Time zones of the times logs print: what a zone abbreviation (`CST`, `IST`) or a wall-clock time without one
// (MySQL's `# Time: 071015 21:43:52`) means, so no time is ever guessed.
//
// Abbreviations name different offsets in different places (CST: US Central, China, Cuba). Like PostgreSQL, which
// reads an abbreviation by the rules of its session time zone first (pg_interpret_timezone_abbrev in datetime.c)
// and only then by its table of unambiguous ones, a time is read:
//  - numeric zones (`+08`, `-0330`, `+05:30`, `Z`) as written;
//  - with the server's zone given (--log-timezone, an IANA name): an abbreviation means the offset that zone has
//    at that instant, among the offsets the abbreviation has meant anywhere. Where two fit (the hour repeated when
//    daylight time ends), the abbreviation says which: a daylight one the zone's higher offset, a standard one
//    the lower. An abbreviation that does not fit the zone at all is read as if no zone were given;
//  - without it: only if the abbreviation has meant one offset, everywhere, in that year (UTC, GMT, CET, MSK in
//    2019 but not in 2012, …). Anything else is a problem, never a guess.
// Offsets come from Intl (Node's own copy of tzdata), abbreviations from a table generated from tzdata and
// PostgreSQL's timezonesets (time-zone-abbreviations.ts): nothing is read from /usr/share/zoneinfo.

const MINUTE = 60_000;
const DAY = 86_400_000;
/** offsets cached per zone (one per minute asked); cleared when full */
const MAX_CACHED_OFFSETS = 4096;

interface Abbreviation {
  /** distinct offsets it has meant (minutes east of UTC), ascending */
  offsets: number[];
  /** per offset: 0 standard, 1 daylight, 2 either */
  kinds: number[];
  meanings: readonly AbbreviationMeaning[];
}

const BY_NAME = new Map<string, Abbreviation>();
for (const [name, meanings] of Object.entries(ABBREVIATIONS)) {
  const offsets: number[] = [];
  const kinds: number[] = [];
  for (const [offset, kind] of meanings) {
    const i = offsets.indexOf(offset);
    if (i === -1) {
      offsets.push(offset);
      kinds.push(kind);
    } else if (kinds[i] !== kind) kinds[i] = 2;
  }
  BY_NAME.set(name, { offsets, kinds, meanings });
}
// not in tzdata's tables, but what ISO 8601 and PostgreSQL mean by them
BY_NAME.set('Z', { offsets: [0], kinds: [2], meanings: [[0, 2, 0, 9999]] });
BY_NAME.set('UT', BY_NAME.get('Z')!);

function abbreviation(text: string): Abbreviation | undefined {
  return BY_NAME.get(text) ?? BY_NAME.get(text.toUpperCase());
}

/** The time zone a server prints its local times in (PostgreSQL's log_timezone, MySQL's system time zone). */
export class LogTimeZone {
  private readonly offsets = new Map<number, number>();

  private constructor(
    readonly name: string,
    private readonly format: Intl.DateTimeFormat,
  ) {}

  /** The zone of an IANA name (`Asia/Shanghai`, `America/Havana`, `UTC`); throws, saying why, if there is none. */
  static open(name: string): LogTimeZone {
    let format: Intl.DateTimeFormat;
    try {
      format = new Intl.DateTimeFormat('en-US', {
        timeZone: name,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw new Error(`--log-timezone: unknown time zone "${name}": ${zoneNameHint()}`);
    }
    return new LogTimeZone(name, format);
  }

  /** Minutes east of UTC in this zone at `utcMs`. */
  offsetAt(utcMs: number): number {
    const minute = Math.floor(utcMs / MINUTE);
    const cached = this.offsets.get(minute);
    if (cached !== undefined) return cached;
    let y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
    for (const p of this.format.formatToParts(minute * MINUTE)) {
      switch (p.type) {
        case 'year': y = Number(p.value); break;
        case 'month': mo = Number(p.value); break;
        case 'day': d = Number(p.value); break;
        case 'hour': h = Number(p.value); break;
        case 'minute': mi = Number(p.value); break;
        case 'second': s = Number(p.value); break;
        default: break;
      }
    }
    const offset = Math.round((Date.UTC(y, mo - 1, d, h, mi, s) - minute * MINUTE) / MINUTE);
    if (this.offsets.size >= MAX_CACHED_OFFSETS) this.offsets.clear();
    this.offsets.set(minute, offset);
    return offset;
  }

  /**
   * A wall-clock time of this zone (its fields read as if UTC, in ms) → ms since the epoch. In the hour repeated
   * when daylight time ends, the reading nearest `near` (the previous time of the same log; the later one at equal
   * distance) or else the earlier one; a time skipped when it starts is read with the offset before the change (02:30 → 03:30 daylight time).
   */
  fromLocal(localMs: number, near?: number): number {
    const before = this.offsetAt(localMs - 1.5 * DAY);
    const after = this.offsetAt(localMs + 1.5 * DAY);
    const a = this.offsetAt(localMs - before * MINUTE) === before ? localMs - before * MINUTE : undefined;
    const b = after !== before && this.offsetAt(localMs - after * MINUTE) === after ? localMs - after * MINUTE : undefined;
    if (a === undefined) return b ?? localMs - before * MINUTE;
    if (b === undefined) return a;
    const early = Math.min(a, b);
    const late = Math.max(a, b);
    if (near === undefined) return early;
    // a log moves forward: at equal distance, the later reading
    return Math.abs(early - near) < Math.abs(late - near) ? early : late;
  }

  /** Minutes east of UTC an alphabetic abbreviation means in this zone at this wall-clock time; undefined if none. */
  private abbreviationOffset(localMs: number, text: string): number | undefined {
    const abbr = abbreviation(text);
    if (abbr === undefined) return undefined;
    let found: number | undefined;
    let count = 0;
    const { offsets, kinds } = abbr;
    for (const o of offsets) {
      if (this.offsetAt(localMs - o * MINUTE) === o) {
        found = o;
        count++;
      }
    }
    if (count === 1) return found;
    if (count === 0) return fixedOffset(abbr, localMs);
    // The repeated hour: both readings fit; the abbreviation's kind picks one.
    found = undefined;
    count = 0;
    for (let i = 0; i < offsets.length; i++) {
      const o = offsets[i]!;
      if (this.offsetAt(localMs - o * MINUTE) !== o) continue;
      const kind = kinds[i]!;
      if (kind === 2 || (kind === 1) === this.isDaylightAt(localMs - o * MINUTE)) {
        found = o;
        count++;
      }
    }
    return count === 1 ? found : undefined;
  }

  /** A wall-clock time printed with an abbreviation → ms since the epoch, or undefined (see zoneProblem). */
  readAbbreviated(localMs: number, text: string): number | undefined {
    const o = this.abbreviationOffset(localMs, text);
    return o === undefined ? undefined : localMs - o * MINUTE;
  }

  /** Daylight time as Intl shows it: an offset above the lowest the zone has within half a year either side. */
  private isDaylightAt(utcMs: number): boolean {
    const offset = this.offsetAt(utcMs);
    for (let k = -6; k <= 6; k++) if (k !== 0 && this.offsetAt(utcMs + k * 30.5 * DAY) < offset) return true;
    return false;
  }
}

/** The one offset an abbreviation has meant anywhere in that year, or undefined. */
function fixedOffset(abbr: Abbreviation, localMs: number): number | undefined {
  if (abbr.offsets.length === 1) return abbr.offsets[0];
  const year = new Date(localMs).getUTCFullYear();
  let found: number | undefined;
  for (const [offset, , from, to] of abbr.meanings) {
    if (year < from || year > to || offset === found) continue;
    if (found !== undefined) return undefined;
    found = offset;
  }
  return found;
}

const NUMERIC_ZONE = /^[+-]\d\d(?::?\d\d)?$/;

/** Minutes east of UTC of `+08`, `-0330`, `+05:30`, `Z`; undefined for anything else. */
export function numericZoneOffset(text: string): number | undefined {
  if (text === 'Z' || text === 'z') return 0;
  if (!NUMERIC_ZONE.test(text)) return undefined;
  const digits = text.slice(1).replace(':', '');
  const minutes = Number(digits.slice(0, 2)) * 60 + (digits.length > 2 ? Number(digits.slice(2, 4)) : 0);
  return text.charCodeAt(0) === 45 /* - */ ? -minutes : minutes;
}

/**
 * A wall-clock time (its fields read as if UTC, in ms) printed with zone text `zoneText` → ms since the epoch.
 * `zoneText` empty: the zone's local time, or UTC when no zone is given. Undefined when the zone text does not say
 * for certain which offset it is (see zoneProblem).
 */
export function localTimeToUtc(localMs: number, zoneText: string, zone: LogTimeZone | undefined): number | undefined {
  if (zoneText === '') return zone !== undefined ? zone.fromLocal(localMs) : localMs;
  const numeric = numericZoneOffset(zoneText);
  if (numeric !== undefined) return localMs - numeric * MINUTE;
  if (zone !== undefined) return zone.readAbbreviated(localMs, zoneText);
  const abbr = abbreviation(zoneText);
  const o = abbr !== undefined ? fixedOffset(abbr, localMs) : undefined;
  return o === undefined ? undefined : localMs - o * MINUTE;
}

/** Why localTimeToUtc() gave no time for this zone text: a sentence that names what to do. */
export function zoneProblem(localMs: number, zoneText: string, zone: LogTimeZone | undefined): string {
  const abbr = abbreviation(zoneText);
  if (abbr === undefined) {
    return `unknown time zone abbreviation "${zoneText}"${zone ? ` (not one --log-timezone ${zone.name} uses)` : ''}: ${OPTION_HINT}`;
  }
  const meant = abbr.offsets.map(formatOffset).join(', ');
  if (zone === undefined) {
    return `time zone abbreviation "${zoneText}" is ambiguous (it has meant ${meant}): ${OPTION_HINT}`;
  }
  const at = new Date(localMs).toISOString().slice(0, 16).replace('T', ' ');
  return `time zone abbreviation "${zoneText}" (it has meant ${meant}) does not fit --log-timezone ${zone.name} at ${at}: is that the server's time zone?`;
}

const OPTION_HINT = "give the server's time zone with --log-timezone ZONE (an IANA name: PostgreSQL's log_timezone, e.g. America/Chicago)";

function formatOffset(minutes: number): string {
  const a = Math.abs(minutes);
  return `UTC${minutes < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

function zoneNameHint(): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York' });
  } catch {
    return 'this Node.js has no time zone data (it was built without full ICU); use a standard Node.js build';
  }
  return 'give an IANA name such as Asia/Shanghai or Europe/Dublin (PostgreSQL: SHOW log_timezone)';
}
