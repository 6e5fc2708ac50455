import { JsonLinesParser } from './jsonl.js';
import { MySqlSlowParser } from './mysql-slow.js';
import type { RecordParser } from './types.js';
import { PostgresStderrParser } from './postgres.js';
import { PostgresCsvParser } from './postgres-csv.js';
import { PostgresJsonParser } from './postgres-json.js';

/** Every input format by its CLI name. Each entry makes a fresh parser (parsers hold per-file state). */
const FORMATS: Record<string, () => RecordParser> = {
  jsonl: () => new JsonLinesParser(),
  'mysql-slow': () => new MySqlSlowParser(),
  postgres: () => new PostgresStderrParser(),
  'postgres-csv': () => new PostgresCsvParser(),
  'postgres-json': () => new PostgresJsonParser(),
};

export const FORMAT_NAMES = (): string[] => Object.keys(FORMATS);

export function createParser(format: string): RecordParser {
  const make = FORMATS[format];
  if (!make) throw new Error(`unknown format "${format}" (known: ${FORMAT_NAMES().join(', ')})`);
  return make();
}
