import { JsonLinesParser } from './jsonl.js';
import { MySqlSlowParser } from './mysql-slow.js';
import type { RecordParser } from './types.js';
import { createPostgresParser } from './postgres.js';
import { PostgresCsvParser } from './postgres-csv.js';
import { PostgresJsonParser } from './postgres-json.js';

/** Settings of the log being read that its lines do not say themselves. */
export interface ParserOptions {
  /** `postgres` only: the server's log_line_prefix (default '%m [%p] %q%u@%d ', Debian's) */
  logLinePrefix?: string;
}

/** Every input format by its CLI name. Each entry makes a fresh parser (parsers hold per-file state). */
const FORMATS: Record<string, (options: ParserOptions) => RecordParser> = {
  jsonl: () => new JsonLinesParser(),
  'mysql-slow': () => new MySqlSlowParser(),
  postgres: (o) => createPostgresParser(o.logLinePrefix !== undefined ? { logLinePrefix: o.logLinePrefix } : {}),
  'postgres-csv': () => new PostgresCsvParser(),
  'postgres-json': () => new PostgresJsonParser(),
};

export const FORMAT_NAMES = (): string[] => Object.keys(FORMATS);

export function createParser(format: string, options: ParserOptions = {}): RecordParser {
  const make = FORMATS[format];
  if (!make) throw new Error(`unknown format "${format}" (known: ${FORMAT_NAMES().join(', ')})`);
  // Said rather than ignored: a prefix given for csvlog/jsonlog is a mistake about what the file is.
  if (options.logLinePrefix !== undefined && format !== 'postgres') {
    throw new Error(`a log_line_prefix applies to format "postgres" only, not "${format}"`);
  }
  return make(options);
}
