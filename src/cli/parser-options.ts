import type { Command } from 'commander';
import type { ParserOptions } from '../formats/parsers/index.js';
import { LogTimeZone } from '../formats/time-zones.js';

// Options about the log being read that its lines do not say themselves, shared by every command that parses
// (parse, digest, evaluate, client).

export interface ParserFlags {
  logLinePrefix?: string;
  logTimezone?: string;
}

export function addParserOptions(cmd: Command): Command {
  return cmd
    .option(
      '--log-line-prefix <prefix>',
      "format postgres: the server's log_line_prefix (SHOW log_line_prefix), default '%m [%p] %q%u@%d ' (Debian's)",
    )
    .option(
      '--log-timezone <zone>',
      "the server's time zone, an IANA name (PostgreSQL: SHOW log_timezone; MySQL/MariaDB: its system time zone): " +
        'reads ambiguous abbreviations (CST, IST, …) and local `# Time:` values; without it those are errors (abbreviations) or UTC (`# Time:`)',
    );
}

/** The parser options of the flags; an unknown time zone is an error now, before anything starts. */
export function parserOptionsFrom(flags: ParserFlags): ParserOptions {
  const options: ParserOptions = {};
  if (flags.logLinePrefix !== undefined) options.logLinePrefix = flags.logLinePrefix;
  if (flags.logTimezone !== undefined) {
    LogTimeZone.open(flags.logTimezone);
    options.logTimeZone = flags.logTimezone;
  }
  return options;
}
