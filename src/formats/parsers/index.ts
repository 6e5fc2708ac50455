import { JsonLinesParser } from './jsonl.js';
import { MySqlSlowParser } from './mysql-slow.js';
import { MySqlSlowByteParser } from './mysql-slow-bytes.js';
import { isGuessingParser, type RecordParser } from './types.js';
import { createPostgresParser } from './postgres.js';
import { PostgresCsvParser } from './postgres-csv.js';
import { PostgresJsonParser } from './postgres-json.js';
import { LogTimeZone } from '../time-zones.js';

/** Settings of the log being read that its lines do not say themselves. */
export interface ParserOptions {
  /** `postgres` only: the server's log_line_prefix (default '%m [%p] %q%u@%d ', Debian's) */
  logLinePrefix?: string;
  /**
   * The time zone the server writes local times in, an IANA name: PostgreSQL's log_timezone, MySQL's system time
   * zone. Needed for ambiguous zone abbreviations (CST, IST, …) and MySQL's `# Time:` without a zone.
   */
  logTimeZone?: string;
}

/** The options a parser is made with: the time zone opened once. */
interface ParserSettings {
  logLinePrefix?: string;
  logTimeZone?: LogTimeZone;
}

/** Every input format by its CLI name. Each entry makes a fresh parser (parsers hold per-file state). */
const FORMATS: Record<string, (settings: ParserSettings) => RecordParser> = {
  jsonl: () => new JsonLinesParser(),
  'mysql-slow': (s) => new MySqlSlowByteParser(s),
  postgres: (s) => createPostgresParser(s),
  'postgres-csv': (s) => new PostgresCsvParser(s),
  'postgres-json': (s) => new PostgresJsonParser(s),
};

/**
 * Today's line-at-a-time parsers where a byte-level one replaced them: the reference the differential test
 * (test/parser-differential.test.ts) and `slowq bench parse` compare the new one with.
 */
const REFERENCE_FORMATS: Record<string, (settings: ParserSettings) => RecordParser> = {
  'mysql-slow': (s) => new MySqlSlowParser(s),
};

/** Formats whose times can be local ones: their zone comes from --log-timezone. */
const ZONED_FORMATS = new Set(['mysql-slow', 'postgres', 'postgres-csv', 'postgres-json']);

export const FORMAT_NAMES = (): string[] => Object.keys(FORMATS);

/** `reference`: the line-at-a-time parser of a format that has a byte-level one (see REFERENCE_FORMATS). */
export function createParser(format: string, options: ParserOptions = {}, reference = false): RecordParser {
  const make = (reference ? REFERENCE_FORMATS[format] : undefined) ?? FORMATS[format];
  if (!make) throw new Error(`unknown format "${format}" (known: ${FORMAT_NAMES().join(', ')})`);
  // Said rather than ignored: a prefix given for csvlog/jsonlog is a mistake about what the file is.
  if (options.logLinePrefix !== undefined && format !== 'postgres') {
    throw new Error(`a log_line_prefix applies to format "postgres" only, not "${format}"`);
  }
  const settings: ParserSettings = {};
  if (options.logLinePrefix !== undefined) settings.logLinePrefix = options.logLinePrefix;
  if (options.logTimeZone !== undefined) {
    if (!ZONED_FORMATS.has(format)) {
      throw new Error(`--log-timezone applies to formats ${[...ZONED_FORMATS].join(', ')}, not "${format}" (its times carry their zone)`);
    }
    settings.logTimeZone = LogTimeZone.open(options.logTimeZone);
  }
  return make(settings);
}

const guessable = new Map<string, boolean>();

/** Whether a chunk of `format` can be parsed from a start not known yet (GuessingParser; false for a format not known). */
export function canGuessStart(format: string): boolean {
  let can = guessable.get(format);
  if (can === undefined) {
    const make = FORMATS[format];
    can = make !== undefined && isGuessingParser(make({}));
    guessable.set(format, can);
  }
  return can;
}
