import type { Command } from 'commander';
import type { ParserOptions } from '../formats/parsers/index.js';

// Options about the log being read that its lines do not say themselves, shared by every command that parses
// (parse, digest, evaluate, client).

export interface ParserFlags {
  logLinePrefix?: string;
}

export function addParserOptions(cmd: Command): Command {
  return cmd.option(
    '--log-line-prefix <prefix>',
    "format postgres: the server's log_line_prefix (SHOW log_line_prefix), default '%m [%p] %q%u@%d ' (Debian's)",
  );
}

export function parserOptionsFrom(flags: ParserFlags): ParserOptions {
  return flags.logLinePrefix !== undefined ? { logLinePrefix: flags.logLinePrefix } : {};
}
